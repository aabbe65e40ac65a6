package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

var identityNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testIdentity(serial, name, role string) reserve.Identity {
	return reserve.Identity{
		Serial: serial, Name: name, Role: role,
		IssuedAt: identityNow, ExpiresAt: identityNow.AddDate(1, 0, 0),
	}
}

// TestAddIdentity checks that names are unique among active identities and
// serials unique for ever, and that a refusal changes nothing.
func TestAddIdentity(t *testing.T) {
	expired := testIdentity("0e", "erin", "officer")
	expired.IssuedAt, expired.ExpiresAt = identityNow.AddDate(-2, 0, 0), identityNow.AddDate(-1, 0, 0)
	signer := testIdentity("0f", "ministry-a", "signer")
	signer.Fingerprint, signer.HasFingerprint = 0xdeadbeef, true
	tests := []struct {
		name string
		id   reserve.Identity
		code reserve.Code // 0: allowed
	}{
		{"new name", testIdentity("02", "bob", "officer"), 0},
		{"signer with fingerprint", signer, 0},
		{"name of an active identity", testIdentity("03", "alice", "auditor"), reserve.CodeConflict},
		{"serial already recorded", testIdentity("01", "carol", "officer"), reserve.CodeConflict},
		{"name of an expired identity", testIdentity("04", "erin", "officer"), 0},
		{"empty serial", testIdentity("", "dave", "officer"), reserve.CodeInvalid},
		{"name too long", testIdentity("05", string(make([]byte, 65)), "officer"), reserve.CodeInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := MustOpen(t)
			ctx := t.Context()
			require.NoError(t, db.AddIdentity(ctx, testIdentity("01", "alice", "officer"), identityNow))
			require.NoError(t, db.AddIdentity(ctx, expired, identityNow))
			before, err := db.Identities(ctx)
			require.NoError(t, err)
			err = db.AddIdentity(ctx, tc.id, identityNow)
			after, lerr := db.Identities(ctx)
			require.NoError(t, lerr)
			if tc.code != 0 {
				requireCode(t, err, tc.code)
				require.Equal(t, before, after)
				return
			}
			require.NoError(t, err)
			require.Len(t, after, len(before)+1)
			require.Contains(t, after, tc.id)
		})
	}
}

// TestRevokeIdentity revokes by serial and by name; a revoked name can be
// issued again, a revoked serial stays revoked across a reopen.
func TestRevokeIdentity(t *testing.T) {
	path := t.TempDir() + "/custos.db"
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, db.AddIdentity(ctx, testIdentity("01", "alice", "officer"), identityNow))
	require.NoError(t, db.AddIdentity(ctx, testIdentity("02", "bob", "auditor"), identityNow))

	tests := []struct {
		name, target, reason string
		code                 reserve.Code
		serial               string
	}{
		{"by name", "alice", "laptop stolen", 0, "01"},
		{"by serial", "02", "left", 0, "02"},
		{"again", "01", "twice", reserve.CodeFailedPrecondition, ""},
		{"unknown", "mallory", "who", reserve.CodeNotFound, ""},
		{"no reason", "01", "", reserve.CodeInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, err := db.Identities(ctx)
			require.NoError(t, err)
			got, err := db.RevokeIdentity(ctx, tc.target, tc.reason, identityNow.Add(time.Hour))
			if tc.code != 0 {
				requireCode(t, err, tc.code)
				after, err := db.Identities(ctx)
				require.NoError(t, err)
				require.Equal(t, before, after)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.serial, got.Serial)
			require.True(t, got.Revoked())
			require.Equal(t, tc.reason, got.RevokedReason)
		})
	}
	// The name is free again once revoked.
	require.NoError(t, db.AddIdentity(ctx, testIdentity("03", "alice", "officer"), identityNow.Add(2*time.Hour)))
	require.NoError(t, db.TouchIdentities(ctx, map[string]time.Time{"03": identityNow.Add(3 * time.Hour), "99": identityNow}))
	require.NoError(t, db.Close())

	db = MustOpenPath(t, path)
	all, err := db.Identities(ctx)
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.True(t, all[0].Revoked())
	require.Equal(t, "laptop stolen", all[0].RevokedReason)
	require.Equal(t, identityNow.Add(3*time.Hour), all[2].LastSeen)
	require.False(t, all[2].Revoked())
}
