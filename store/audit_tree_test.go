package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// putVersion1Wallet writes w and its audit entry as a version 1 store
// held them: the wallet record and a version 1 audit record.
func putVersion1Wallet(tb testing.TB, bdb *bolt.DB, w reserve.Wallet) {
	tb.Helper()
	require.NoError(tb, bdb.Update(func(tx *bolt.Tx) error {
		require.NoError(tb, tx.Bucket(bucketMeta).Put(keyNetwork, []byte{byte(w.Network)}))
		v, err := encodeWallet(&w)
		require.NoError(tb, err)
		require.NoError(tb, tx.Bucket(bucketWallet).Put(keyWallet, v))
		return putVersion1Audit(tx, AuditWalletCreate, fmt.Sprintf("name=%q id=%q network=%s", w.Name, w.ID, w.Network))
	}))
}

func putVersion1Audit(tx *bolt.Tx, kind, detail string) error {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := encodeAudit(&AuditEntry{Time: testTime, Kind: kind, Detail: detail})
	if err != nil {
		return err
	}
	return b.Put(binary.BigEndian.AppendUint64(nil, seq), v)
}

// MustAuditExport exports db's whole log signed by a fixed test key and
// returns the file and the verifier.
func MustAuditExport(tb testing.TB, db *DB) ([]byte, note.Verifier) {
	tb.Helper()
	ctx := context.Background()
	origin := audit.OriginPrefix + "0123456789abcdef0123456789abcdef"
	skey, vkey, err := audit.NewLogKey(bytes.NewReader(bytes.Repeat([]byte{7}, 32)), origin)
	require.NoError(tb, err)
	s, err := note.NewSigner(skey)
	require.NoError(tb, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(tb, err)
	size, root, err := db.AuditTree(ctx)
	require.NoError(tb, err)
	signed, err := audit.SignCheckpoint(audit.Checkpoint{Origin: origin, Size: size, Root: root}, s)
	require.NoError(tb, err)
	var buf bytes.Buffer
	require.NoError(tb, audit.WriteExportHeader(&buf, signed))
	leaves, err := db.AuditLeaves(ctx, 1, 0, 1000)
	require.NoError(tb, err)
	require.Len(tb, leaves, int(size))
	for _, l := range leaves {
		require.NoError(tb, audit.WriteExportLeaf(&buf, l))
	}
	return buf.Bytes(), v
}

func mustOpenAudit(tb testing.TB) *DB {
	tb.Helper()
	db, err := Open(filepath.Join(tb.TempDir(), "custos.db"), Options{Now: func() time.Time { return testTime }})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, db.Close()) })
	return db
}

func TestMigrateAuditToVersion4(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custos.db")
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	v3 := &DB{bolt: bdb, path: path, now: func() time.Time { return testTime }, log: slog.New(slog.DiscardHandler)}
	require.NoError(t, v3.migrateTo(3))
	putVersion1Wallet(t, bdb, sampleWallet())
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error { return putVersion1Audit(tx, "address.issue", `label="x"`) }))
	require.NoError(t, bdb.Close())

	db, err := Open(path, Options{})
	require.NoError(t, err)
	defer db.Close()
	log, err := db.AuditLog(ctx)
	require.NoError(t, err)
	require.Len(t, log, 2)
	require.Equal(t, AuditWalletCreate, log[0].Kind)
	require.Equal(t, unrecordedActor, log[0].Actor)
	require.Equal(t, uint64(2), log[1].Seq)
	require.Equal(t, `label="x"`, log[1].Detail)

	// The migrated leaves form the tree, and the log carries on from them.
	require.NoError(t, db.AppendEvent(reserve.WithActor(ctx, reserve.Actor{Name: "eve", Role: "unauthenticated"}), "auth.failed", nil, "no client certificate"))
	file, v := MustAuditExport(t, db)
	cp, err := audit.VerifyExport(bytes.NewReader(file), v)
	require.NoError(t, err)
	require.Equal(t, int64(3), cp.Size)
}

func TestAuditLeavesCarryTheActor(t *testing.T) {
	ctx := context.Background()
	db := mustOpenAudit(t)
	alice := reserve.Actor{Name: "alice", Role: "admin", Serial: "01ab"}
	require.NoError(t, db.CreateWallet(reserve.WithActor(ctx, alice), sampleWallet(), nil))
	require.NoError(t, db.AppendEvent(ctx, "auth.denied", map[string]string{"method": "x"}, "role auditor may not call x"))
	log, err := db.AuditLog(ctx)
	require.NoError(t, err)
	require.Len(t, log, 2)
	require.Equal(t, alice, log[0].Actor)
	require.Equal(t, UnknownActor, log[1].Actor, "a ctx without an actor is recorded as unknown")
	require.Equal(t, map[string]string{"method": "x"}, log[1].IDs)
}

func TestAuditTreeAndProofs(t *testing.T) {
	ctx := context.Background()
	db := mustOpenAudit(t)
	for i := range 9 {
		require.NoError(t, db.AppendEvent(ctx, "test.event", nil, fmt.Sprintf("event %d", i)))
	}
	size, root, err := db.AuditTree(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(9), size)

	// The store's tree is the tree of its leaves.
	leaves, err := db.AuditLeaves(ctx, 1, 0, 100)
	require.NoError(t, err)
	var f audit.Frontier
	for _, l := range leaves {
		f.Add(audit.LeafHash(l))
	}
	require.Equal(t, root, f.Root())

	page, err := db.AuditLeaves(ctx, 4, 6, 100)
	require.NoError(t, err)
	require.Equal(t, leaves[3:6], page)
	page, err = db.AuditLeaves(ctx, 4, 0, 2)
	require.NoError(t, err)
	require.Equal(t, leaves[3:5], page)

	for s := int64(1); s <= size; s++ {
		cp := audit.Checkpoint{Origin: "o", Size: s}
		cp.Root, err = db.AuditRoot(ctx, s)
		require.NoError(t, err)
		for seq := int64(1); seq <= s; seq++ {
			p, err := db.ProveAuditInclusion(ctx, seq, s)
			require.NoError(t, err)
			require.NoError(t, p.Check(leaves[seq-1], cp))
			c, err := db.ProveAuditConsistency(ctx, seq, s)
			require.NoError(t, err)
			old := audit.Checkpoint{Origin: "o", Size: seq}
			old.Root, err = db.AuditRoot(ctx, seq)
			require.NoError(t, err)
			require.NoError(t, c.Check(old, cp))
		}
	}

	refused := []struct {
		name  string
		run   func() error
		field string
	}{
		{name: "inclusion of a seq past the size", run: func() error { _, err := db.ProveAuditInclusion(ctx, 10, 0); return err }, field: "seq"},
		{name: "inclusion in a tree past the log", run: func() error { _, err := db.ProveAuditInclusion(ctx, 1, 10); return err }, field: "size"},
		{name: "consistency past the log", run: func() error { _, err := db.ProveAuditConsistency(ctx, 1, 10); return err }, field: "new"},
		{name: "consistency old after new", run: func() error { _, err := db.ProveAuditConsistency(ctx, 5, 4); return err }, field: "old"},
		{name: "root past the log", run: func() error { _, err := db.AuditRoot(ctx, 10); return err }, field: "size"},
		{name: "leaves from seq 0", run: func() error { _, err := db.AuditLeaves(ctx, 0, 0, 10); return err }, field: "from"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "%v", err)
			var re *reserve.Error
			require.ErrorAs(t, err, &re)
			require.Equal(t, tc.field, re.Field)
		})
	}
}

// TestAuditAppendRollsBack checks a leaf commits or rolls back with its
// change: a failed transaction leaves neither the leaf nor its hashes.
func TestAuditAppendRollsBack(t *testing.T) {
	ctx := context.Background()
	db := mustOpenAudit(t)
	require.NoError(t, db.AppendEvent(ctx, "test.event", nil, "one"))
	changed := db.AuditChanged()
	err := db.update(ctx, "fail", func(tx *bolt.Tx) error {
		require.NoError(t, db.appendAudit(tx, "test.event", nil, "rolled back"))
		return reserve.Errorf(reserve.CodeConflict, "no")
	})
	require.Error(t, err)
	select {
	case <-changed:
		t.Fatal("a rolled-back append woke the followers")
	default:
	}
	size, _, err := db.AuditTree(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), size)
	require.NoError(t, db.view(ctx, "count", func(tx *bolt.Tx) error {
		require.Equal(t, tlog.StoredHashCount(1), int64(tx.Bucket(bucketAuditHashes).Stats().KeyN))
		return nil
	}))
	require.NoError(t, db.AppendEvent(ctx, "test.event", nil, "two"))
	<-changed
}
