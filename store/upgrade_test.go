package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// releaseFixture is testdata/store-REV.json: what scripts/store-fixture.sh
// made the custosd of release REV write into testdata/store-REV.db.gz.
type releaseFixture struct {
	Revision    string            `json:"revision"`
	Network     string            `json:"network"`
	LogKey      string            `json:"log_key"`
	AuditSize   int64             `json:"audit_size"`
	WitnessKeys []string          `json:"witness_keys"`
	Proposals   map[string]string `json:"proposals"`
	Identities  []string          `json:"identities"`
	UTXOs       int               `json:"utxos"`
}

// releaseFixtures lists every store fixture in testdata, oldest first by
// name; each release adds its own (docs/operating.md, "Upgrading").
func releaseFixtures(tb testing.TB) []string {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "store-*.json"))
	require.NoError(tb, err)
	require.NotEmpty(tb, names, "no store fixture in testdata: scripts/store-fixture.sh writes one")
	return names
}

// MustReleaseStore unpacks the fixture described by manifest into a fresh
// temporary file and returns its path and the manifest.
func MustReleaseStore(tb testing.TB, manifest string) (string, releaseFixture) {
	tb.Helper()
	raw, err := os.ReadFile(manifest)
	require.NoError(tb, err)
	var fx releaseFixture
	require.NoError(tb, json.Unmarshal(raw, &fx))
	require.NotEmpty(tb, fx.Revision)

	f, err := os.Open(strings.TrimSuffix(manifest, ".json") + ".db.gz")
	require.NoError(tb, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(tb, err)
	path := filepath.Join(tb.TempDir(), "custos.db")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	require.NoError(tb, err)
	_, err = io.Copy(out, zr)
	require.NoError(tb, err)
	require.NoError(tb, zr.Close())
	require.NoError(tb, out.Close())
	return path, fx
}

// TestOpenReleaseStore opens each store a released custosd wrote with the
// current code: the migrations since that release run, every record
// reads, the audit log verifies (every leaf chains to the one before, the
// stored tree is the tree of the leaves, and each witness's cosigned
// checkpoint opens under the log key and the witness's key and is the
// root of the leaves it covers), and the upgraded store takes a new
// proposal whose leaf extends the old log.
func TestOpenReleaseStore(t *testing.T) {
	for _, manifest := range releaseFixtures(t) {
		t.Run(filepath.Base(manifest), func(t *testing.T) {
			ctx := context.Background()
			path, fx := MustReleaseStore(t, manifest)
			var before uint32
			inspect(t, path, func(tx *bolt.Tx) { before = storedVersion(t, tx) })
			require.LessOrEqual(t, before, schemaVersion())

			db, err := Open(path, Options{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			require.NoError(t, db.bolt.View(func(tx *bolt.Tx) error {
				require.Equal(t, schemaVersion(), storedVersion(t, tx), "migrations ran from version %d", before)
				return nil
			}))

			w := checkReleaseRecords(ctx, t, db, fx)
			verifier, origin := checkReleaseAudit(ctx, t, db, fx)
			checkReleaseWitnesses(ctx, t, db, fx, verifier, origin)
			checkReleaseProposes(ctx, t, db, w, fx, origin)
		})
	}
}

// checkReleaseRecords reads every kind of record the fixture holds and
// compares it with what the manifest says the flow made.
func checkReleaseRecords(ctx context.Context, t *testing.T, db *DB, fx releaseFixture) reserve.Wallet {
	t.Helper()
	w, err := db.Wallet(ctx)
	require.NoError(t, err)
	require.Equal(t, fx.Network, w.Network.String())
	require.NoError(t, db.EnsureNetwork(ctx, w.Network))
	require.Len(t, w.Cosigners, len(fx.WitnessKeys))
	require.NotEmpty(t, w.Descriptor)

	for _, branch := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		addrs, err := db.Addresses(ctx, branch)
		require.NoError(t, err)
		require.NotEmpty(t, addrs, "branch %s", branch)
	}
	tip, _, ok, err := db.SyncTip(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Positive(t, tip)
	utxos, err := db.UTXOs(ctx, false)
	require.NoError(t, err)
	require.Len(t, utxos, fx.UTXOs)

	ps, err := db.Proposals(ctx, reserve.StateUnspecified)
	require.NoError(t, err)
	got := map[string]string{}
	for _, p := range ps {
		got[p.ID] = p.State.String()
		if p.State == reserve.StateConfirmed {
			raw, err := db.RawTx(ctx, p.Txid)
			require.NoError(t, err, "the transaction of %s", p.ID)
			var tx wire.MsgTx
			require.NoError(t, tx.Deserialize(bytes.NewReader(raw)))
			require.Equal(t, p.Txid, tx.TxHash())
		}
	}
	require.Equal(t, fx.Proposals, got)
	_, err = db.Reservations(ctx)
	require.NoError(t, err)

	g, err := db.Governance(ctx)
	require.NoError(t, err)
	require.NotNil(t, g.Policy)
	require.False(t, g.Freeze.Frozen)
	pols, err := db.Policies(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, pols)
	require.Equal(t, g.Policy.Hash, pols[len(pols)-1].Hash)

	ids, err := db.Identities(ctx)
	require.NoError(t, err)
	var names []string
	revoked := 0
	for _, id := range ids {
		names = append(names, id.Name)
		if id.Revoked() {
			revoked++
		}
	}
	require.ElementsMatch(t, fx.Identities, names)
	require.Positive(t, revoked, "the fixture revokes an identity")

	_, restored, err := db.Restored(ctx)
	require.NoError(t, err)
	require.False(t, restored)
	return w
}

// checkReleaseAudit verifies the whole audit log as stored: each leaf
// parses, is numbered in order and commits (Prev) to the tree before it,
// and the store's tree is the tree of the leaves. It returns the log's
// verifier and origin.
func checkReleaseAudit(ctx context.Context, t *testing.T, db *DB, fx releaseFixture) (note.Verifier, string) {
	t.Helper()
	v, err := audit.ParseLogKey(fx.LogKey)
	require.NoError(t, err)
	leaves, err := db.AuditLeaves(ctx, 1, 0, int(fx.AuditSize)+1)
	require.NoError(t, err)
	require.Len(t, leaves, int(fx.AuditSize))
	entries, err := db.AuditLog(ctx)
	require.NoError(t, err)
	require.Len(t, entries, len(leaves))

	var m audit.Memory
	for i, b := range leaves {
		l, err := audit.ParseLeaf(b)
		require.NoError(t, err, "leaf %d", i+1)
		// Memory numbers the leaf and links it to the tree before it: the
		// same bytes back means Seq and Prev were what the log holds.
		again, err := m.Append(l)
		require.NoError(t, err)
		require.Equal(t, string(b), string(again), "leaf %d: its seq or prev is not the log's tree before it (it or an earlier leaf changed)", i+1)
	}
	size, root, err := db.AuditTree(ctx)
	require.NoError(t, err)
	require.Equal(t, fx.AuditSize, size)
	cp, err := m.Checkpoint(size)
	require.NoError(t, err)
	require.Equal(t, cp.Root, root)
	return v, v.Name()
}

// checkReleaseWitnesses checks each witness record: its key is the one
// the ministry's signer gave, its cosigned checkpoint opens under the log
// key and that witness key, and an export of the leaves it covers under
// that checkpoint passes audit.VerifyExport (custosctl audit verify).
func checkReleaseWitnesses(ctx context.Context, t *testing.T, db *DB, fx releaseFixture, v note.Verifier, origin string) {
	t.Helper()
	ws, err := db.Witnesses(ctx, origin)
	require.NoError(t, err)
	require.NotEmpty(t, ws)
	for fp, r := range ws {
		require.Contains(t, fx.WitnessKeys, r.Key, "witness %08x", fp)
		cp, err := audit.OpenCosignature(audit.Cosignature{Fingerprint: fp, Key: r.Key, Note: r.Cosigned}, v)
		require.NoError(t, err, "witness %08x", fp)
		require.Equal(t, r.Checkpoint, cp)

		var export bytes.Buffer
		require.NoError(t, audit.WriteExportHeader(&export, r.Cosigned))
		leaves, err := db.AuditLeaves(ctx, 1, cp.Size, int(cp.Size))
		require.NoError(t, err)
		for _, b := range leaves {
			require.NoError(t, audit.WriteExportLeaf(&export, b))
		}
		got, err := audit.VerifyExport(&export, v)
		require.NoError(t, err, "witness %08x at size %d", fp, cp.Size)
		require.Equal(t, cp, got)
	}
}

// checkReleaseProposes makes a new proposal on the upgraded store, from a
// mature coin no proposal holds, and checks that its leaf extends the log
// the old release wrote.
func checkReleaseProposes(ctx context.Context, t *testing.T, db *DB, w reserve.Wallet, fx releaseFixture, origin string) {
	t.Helper()
	tip, _, _, err := db.SyncTip(ctx)
	require.NoError(t, err)
	held, err := db.Reservations(ctx)
	require.NoError(t, err)
	utxos, err := db.UTXOs(ctx, false)
	require.NoError(t, err)
	i := slices.IndexFunc(utxos, func(u reserve.UTXO) bool {
		_, taken := held[u.OutPoint]
		return !taken && u.Height > 0 && u.Mature(tip)
	})
	require.GreaterOrEqual(t, i, 0, "a free mature coin")
	u := utxos[i]

	const fee = 1_000
	payee := reserve.Payee{Address: "bcrt1qupgradepayee", Script: append([]byte{0x00, 0x14}, bytes.Repeat([]byte{7}, 20)...), AmountSat: u.AmountSat - fee}
	unsigned := wire.NewMsgTx(2)
	unsigned.AddTxIn(wire.NewTxIn(&u.OutPoint, nil, nil))
	unsigned.AddTxOut(wire.NewTxOut(payee.AmountSat, payee.Script))
	var raw bytes.Buffer
	require.NoError(t, unsigned.Serialize(&raw))
	now := time.Now().UTC().Truncate(time.Second)
	p, err := db.CreateProposal(ctx, reserve.Proposal{
		WalletID:   w.ID,
		State:      reserve.StatePendingApproval,
		Payees:     []reserve.Payee{payee},
		FeeRate:    4,
		FeeSat:     fee,
		VSize:      250,
		Inputs:     []reserve.Input{{OutPoint: u.OutPoint, AmountSat: u.AmountSat, Branch: u.Branch, Index: u.Index}},
		UnsignedTx: raw.Bytes(),
		CreatedBy:  "upgrade-test",
		ExpiresAt:  now.Add(time.Hour),
		History:    []reserve.Transition{{State: reserve.StatePendingApproval, At: now, Actor: "upgrade-test", Note: "proposed"}},
	})
	require.NoError(t, err)
	require.NotContains(t, fx.Proposals, p.ID, "a new id after the release's proposals")
	got, err := db.Proposal(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, reserve.StatePendingApproval, got.State)

	size, root, err := db.AuditTree(ctx)
	require.NoError(t, err)
	require.Equal(t, fx.AuditSize+1, size)
	oldRoot, err := db.AuditRoot(ctx, fx.AuditSize)
	require.NoError(t, err)
	proof, err := db.ProveAuditConsistency(ctx, fx.AuditSize, size)
	require.NoError(t, err)
	require.NoError(t, proof.Check(
		audit.Checkpoint{Origin: origin, Size: fx.AuditSize, Root: oldRoot},
		audit.Checkpoint{Origin: origin, Size: size, Root: root}))
}
