package store

import (
	"context"
	"encoding/binary"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// MustVersion1Store makes, at path, a store as Custos left it at schema
// version 1 (only the first migration run) holding sampleWallet, and
// closes it.
func MustVersion1Store(tb testing.TB, path string) {
	tb.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(tb, err)
	v1 := &DB{bolt: bdb, path: path, now: func() time.Time { return testTime }, log: slog.New(slog.DiscardHandler)}
	require.NoError(tb, v1.migrateTo(1))
	// Written as version 1 code did (audit record version 1): today's
	// CreateWallet appends a leaf, which needs the buckets of migration 4.
	putVersion1Wallet(tb, bdb, sampleWallet())
	require.NoError(tb, bdb.Close())
}

// inspect runs fn in a read-only transaction on the closed store at path.
func inspect(tb testing.TB, path string, fn func(tx *bolt.Tx)) {
	tb.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	require.NoError(tb, err)
	defer func() { require.NoError(tb, bdb.Close()) }()
	require.NoError(tb, bdb.View(func(tx *bolt.Tx) error { fn(tx); return nil }))
}

func storedVersion(tb testing.TB, tx *bolt.Tx) uint32 {
	tb.Helper()
	v := tx.Bucket(bucketMeta).Get(keySchemaVersion)
	require.Len(tb, v, 4)
	return binary.BigEndian.Uint32(v)
}

func TestMigrateVersion1ToCurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custos.db")
	MustVersion1Store(t, path)

	// The version 1 store has its buckets and none of version 2.
	inspect(t, path, func(tx *bolt.Tx) {
		require.Equal(t, uint32(1), storedVersion(t, tx))
		for _, name := range bucketsV1 {
			require.NotNil(t, tx.Bucket(name), "bucket %s", name)
		}
		for _, name := range bucketsV2 {
			require.Nil(t, tx.Bucket(name), "bucket %s", name)
		}
	})

	// Open upgrades it, keeping what it held.
	db, err := Open(path, Options{})
	require.NoError(t, err)
	w, err := db.Wallet(ctx)
	require.NoError(t, err)
	require.Equal(t, sampleWallet(), w)
	ps, err := db.Proposals(ctx, reserve.StateUnspecified)
	require.NoError(t, err)
	require.Empty(t, ps)
	res, err := db.Reservations(ctx)
	require.NoError(t, err)
	require.Empty(t, res)
	log, err := db.AuditLog(ctx)
	require.NoError(t, err)
	require.Len(t, log, 1, "a migration writes no audit entry")
	require.NoError(t, db.Close())

	inspect(t, path, func(tx *bolt.Tx) {
		require.Equal(t, uint32(10), storedVersion(t, tx))
		require.Equal(t, schemaVersion(), storedVersion(t, tx))
		for _, name := range allBuckets {
			require.NotNil(t, tx.Bucket(name), "bucket %s", name)
		}
	})

	// Opening again changes nothing.
	db, err = Open(path, Options{})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	inspect(t, path, func(tx *bolt.Tx) { require.Equal(t, uint32(10), storedVersion(t, tx)) })
}

// TestMigrationBuckets pins what each shipped migration creates: editing
// migration 1's bucket list would change what old stores look like.
func TestMigrationBuckets(t *testing.T) {
	names := func(bs [][]byte) []string {
		var out []string
		for _, b := range bs {
			out = append(out, string(b))
		}
		return out
	}
	require.Equal(t, []string{"meta", "wallet", "addresses", "scripts", "utxos", "txs", "blocks", "audit"}, names(bucketsV1))
	require.Equal(t, []string{"proposals", "reservations"}, names(bucketsV2))
	require.Equal(t, []string{"governance", "policies"}, names(bucketsV3))
	require.Equal(t, []string{"identities"}, names(bucketsV5))
	require.Subset(t, names(allBuckets), names(bucketsV5))
	require.Equal(t, append(append(names(bucketsV1), names(bucketsV2)...), names(bucketsV3)...), names(allBuckets)[:12])
	require.Equal(t, "proposals and reservations", migrations[1].name)
	require.Equal(t, "governance, policies, proposal approvals", migrations[2].name)
}

// TestMigrateProposalsToVersion2 checks that migration 3 rewrites the
// proposals a version 2 store holds (records of layout 1) with an empty
// approval section, keeping every field.
func TestMigrateProposalsToVersion2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custos.db")
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	v2 := &DB{bolt: bdb, path: path, now: func() time.Time { return testTime }, log: slog.New(slog.DiscardHandler)}
	require.NoError(t, v2.migrateTo(2))

	p := sampleProposal()
	cur, err := encodeProposal(&p)
	require.NoError(t, err)
	// Layout 1 is layout 2 without the approval section (11 bytes when
	// empty) and with version byte 1.
	v1 := append([]byte(nil), cur[:len(cur)-11]...)
	v1[0] = 1
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketProposals).Put([]byte(p.ID), v1)
	}))
	require.NoError(t, bdb.Close())

	db, err := Open(path, Options{})
	require.NoError(t, err)
	got, err := db.Proposal(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, p, got)
	require.NoError(t, db.Close())
	inspect(t, path, func(tx *bolt.Tx) {
		require.Equal(t, cur, tx.Bucket(bucketProposals).Get([]byte(p.ID)))
	})
}
