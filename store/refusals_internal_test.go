package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// refusalIDs are the ids of a refusal of proposal id by cosigner fp.
func refusalIDs(id, fp string) map[string]string {
	return map[string]string{"proposal": id, "txid": strings.Repeat("ab", 32), "cosigner": fp}
}

// refusalDetails parses leaves and returns each one's detail, checking it
// is a refusal of id.
func refusalDetails(t *testing.T, id string, leaves [][]byte) []string {
	t.Helper()
	var out []string
	for _, raw := range leaves {
		l, err := audit.ParseLeaf(raw)
		require.NoError(t, err)
		require.Equal(t, AuditSignerRefuse, l.Kind)
		require.Equal(t, id, l.IDs["proposal"])
		out = append(out, l.Detail)
	}
	return out
}

// TestSignerRefusals: a proposal's refusals come back in the order
// appended, and only its refusals: not another proposal's, not another
// kind of leaf naming it; a proposal id no leaf could hold is refused.
func TestSignerRefusals(t *testing.T) {
	ctx := context.Background()
	db := mustOpenAudit(t)
	events := []struct {
		kind   string
		id     string
		detail string
	}{
		{AuditSignerRefuse, "P000002", "two, first"},
		{AuditSignerRefuse, "P000001", "one"},
		{"psbt.export", "P000002", "an export, not a refusal"},
		{AuditSignerRefuse, "P00000", "a prefix of another id"},
		{AuditSignerRefuse, "P0000020", "an id the other is a prefix of"},
		{AuditSignerRefuse, "P000002", "two, second"},
	}
	for _, e := range events {
		require.NoError(t, db.AppendEvent(ctx, e.kind, refusalIDs(e.id, "0a0b0c0d"), e.detail))
	}
	tests := []struct {
		name    string
		id      string
		want    []string
		refused bool
	}{
		{name: "two refusals in order", id: "P000002", want: []string{"two, first", "two, second"}},
		{name: "one refusal", id: "P000001", want: []string{"one"}},
		{name: "a shorter id", id: "P00000", want: []string{"a prefix of another id"}},
		{name: "none", id: "P000003"},
		{name: "an id too long for a leaf", id: strings.Repeat("P", audit.MaxIDLen+1), refused: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			leaves, err := db.SignerRefusals(ctx, tc.id)
			if tc.refused {
				require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
				require.ErrorContains(t, err, "proposal_id")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, refusalDetails(t, tc.id, leaves))
		})
	}
}

// TestMigrateRefusalsReleaseStore: a released store whose log holds
// refusals (appended to the old file as its custosd would have) has them
// filed by migration 10, and refusals appended after the upgrade are
// filed beside them.
func TestMigrateRefusalsReleaseStore(t *testing.T) {
	for _, manifest := range releaseFixtures(t) {
		t.Run(filepath.Base(manifest), func(t *testing.T) {
			ctx := context.Background()
			path, fx := MustReleaseStore(t, manifest)
			bdb, err := bolt.Open(path, 0o600, nil)
			require.NoError(t, err)
			require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
				require.Nil(t, tx.Bucket(bucketAuditRefusals), "the release has no refusal index")
				for _, e := range []struct{ id, detail string }{
					{"P000002", "old, first"}, {"P000001", "old, other"}, {"P000002", "old, second"},
				} {
					l := audit.Leaf{Time: testTime, Actor: reserve.Actor{Name: "ministry-0", Role: "signer"},
						Kind: AuditSignerRefuse, IDs: refusalIDs(e.id, "0a0b0c0d"), Detail: e.detail}
					if err := writeLeaf(tx, l); err != nil {
						return err
					}
				}
				return nil
			}))
			require.NoError(t, bdb.Close())

			db, err := Open(path, Options{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			leaves, err := db.SignerRefusals(ctx, "P000002")
			require.NoError(t, err)
			require.Equal(t, []string{"old, first", "old, second"}, refusalDetails(t, "P000002", leaves))
			l, err := audit.ParseLeaf(leaves[0])
			require.NoError(t, err)
			require.Equal(t, fx.AuditSize+1, l.Seq, "the first leaf appended to the release's log")

			require.NoError(t, db.AppendEvent(ctx, AuditSignerRefuse, refusalIDs("P000002", "01020304"), "new"))
			leaves, err = db.SignerRefusals(ctx, "P000002")
			require.NoError(t, err)
			require.Equal(t, []string{"old, first", "old, second", "new"}, refusalDetails(t, "P000002", leaves))
			leaves, err = db.SignerRefusals(ctx, "P000001")
			require.NoError(t, err)
			require.Equal(t, []string{"old, other"}, refusalDetails(t, "P000001", leaves))
		})
	}
}
