package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// TestIdentityEncoding round-trips an identity record and refuses
// non-canonical and truncated ones.
func TestIdentityEncoding(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	id := reserve.Identity{
		Serial: "1f", Name: "ministry-a", Role: "signer", Fingerprint: 0x01020304, HasFingerprint: true,
		IssuedAt: at, ExpiresAt: at.AddDate(1, 0, 0), Offline: true, LastSeen: at.Add(time.Minute),
		RevokedAt: at.Add(time.Hour), RevokedReason: "key lost",
	}
	v, err := encodeIdentity(&id)
	require.NoError(t, err)
	got, err := decodeIdentity(v)
	require.NoError(t, err)
	require.Equal(t, id, got)

	fpOffset := 1 + 1 + len(id.Serial) + 1 + len(id.Name) + 1 + len(id.Role)
	tests := []struct {
		name   string
		mutate func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"trailing byte", func(b []byte) []byte { return append(b, 0) }},
		{"boolean 2", func(b []byte) []byte { b[fpOffset] = 2; return b }},
		{"fingerprint without flag", func(b []byte) []byte { b[fpOffset] = 0; return b }},
		{"unknown version", func(b []byte) []byte { b[0] = 9; return b }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeIdentity(tc.mutate(append([]byte(nil), v...)))
			require.Error(t, err)
		})
	}
	bad := id
	bad.HasFingerprint = false
	_, err = encodeIdentity(&bad)
	require.Error(t, err)
}

// TestIdentityLoginKeyEncoding: an auditor's console login key follows the
// fields every earlier record has, so a record without one reads as
// before; with one it round-trips; a key cut short, a byte past it, or a
// key without its flag is refused.
func TestIdentityLoginKeyEncoding(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	plain := reserve.Identity{Serial: "2a", Name: "carol", Role: "auditor", IssuedAt: at, ExpiresAt: at.AddDate(1, 0, 0)}
	old, err := encodeIdentity(&plain)
	require.NoError(t, err)
	withKey := plain
	withKey.HasLoginKey = true
	for i := range withKey.LoginKey {
		withKey.LoginKey[i] = byte(i + 1)
	}
	v, err := encodeIdentity(&withKey)
	require.NoError(t, err)
	require.Equal(t, old, v[:len(old)], "the key is appended after the fields of every earlier record")
	require.Len(t, v, len(old)+32)

	got, err := decodeIdentity(old)
	require.NoError(t, err)
	require.Equal(t, plain, got)
	got, err = decodeIdentity(v)
	require.NoError(t, err)
	require.Equal(t, withKey, got)

	_, err = decodeIdentity(v[:len(v)-1])
	require.ErrorContains(t, err, "login_key")
	_, err = decodeIdentity(append(append([]byte(nil), v...), 0))
	require.ErrorContains(t, err, "after the last field")
	bad := withKey
	bad.HasLoginKey = false
	_, err = encodeIdentity(&bad)
	require.ErrorContains(t, err, "login_key")
}
