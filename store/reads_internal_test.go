package store

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// scanBalance is the balance the landed code computed: every coin of the
// utxos bucket through reserve.BalanceOf at the stored tip.
func scanBalance(t *testing.T, tx *bolt.Tx) reserve.Balance {
	t.Helper()
	var coins []reserve.UTXO
	require.NoError(t, tx.Bucket(bucketUTXOs).ForEach(func(k, v []byte) error {
		u, err := decodeUTXO(v)
		require.NoError(t, err)
		coins = append(coins, u)
		return nil
	}))
	tip, _, ok, err := readTip(tx)
	require.NoError(t, err)
	if !ok {
		tip = -1
	}
	return reserve.BalanceOf(coins, tip)
}

// checkDerived compares the maintained records of an open store with full
// scans: balance, the UTXO and proposal walks, the proposal counts.
func checkDerived(t *testing.T, db *DB, want reserve.Balance) {
	t.Helper()
	ctx := context.Background()
	got, _, err := db.Balance(ctx)
	require.NoError(t, err)
	require.Equal(t, want, got)

	unspent, err := db.UTXOs(ctx, false)
	require.NoError(t, err)
	page, next, _, err := db.UTXOPage(ctx, nil, reserve.MaxPageSize)
	require.NoError(t, err)
	require.Nil(t, next)
	require.ElementsMatch(t, unspent, page)
	for i := 1; i < len(page); i++ {
		a, b := page[i-1], page[i]
		if a.Height != 0 && b.Height != 0 {
			require.LessOrEqual(t, a.Height, b.Height, "oldest first")
		}
		require.False(t, a.Height == 0 && b.Height != 0, "unconfirmed last")
	}

	all, err := db.Proposals(ctx, reserve.StateUnspecified)
	require.NoError(t, err)
	newest, next, err := db.ProposalPage(ctx, reserve.StateUnspecified, nil, reserve.MaxPageSize)
	require.NoError(t, err)
	require.Nil(t, next)
	slices.Reverse(all)
	require.Equal(t, all, newest)
	counts, err := db.ProposalCounts(ctx)
	require.NoError(t, err)
	byState := map[reserve.State]int{}
	for _, p := range all {
		byState[p.State]++
	}
	require.Equal(t, byState, counts)

	key, err := db.PageKey(ctx)
	require.NoError(t, err)
	require.Len(t, key, pageKeyLen)
}

// TestReleaseStoreReads opens each released store fixture: migration 8
// computes the totals and indexes once, and the balance is the one the
// landed code computed by scanning every coin; the page token key
// survives a reopen, so tokens outlive a restart.
func TestReleaseStoreReads(t *testing.T) {
	for _, manifest := range releaseFixtures(t) {
		t.Run(filepath.Base(manifest), func(t *testing.T) {
			path, fx := MustReleaseStore(t, manifest)
			var before reserve.Balance
			inspect(t, path, func(tx *bolt.Tx) { before = scanBalance(t, tx) })
			require.Positive(t, before.ConfirmedSat, "the fixture holds coins")

			db, err := Open(path, Options{})
			require.NoError(t, err)
			checkDerived(t, db, before)
			utxos, _, _, err := db.UTXOPage(context.Background(), nil, reserve.MaxPageSize)
			require.NoError(t, err)
			require.Len(t, utxos, fx.UTXOs)
			key, err := db.PageKey(context.Background())
			require.NoError(t, err)
			require.NoError(t, db.Close())

			db, err = Open(path, Options{})
			require.NoError(t, err)
			defer db.Close()
			again, err := db.PageKey(context.Background())
			require.NoError(t, err)
			require.Equal(t, key, again)
			checkDerived(t, db, before)
		})
	}
}

// TestMigrateReadsRebuilds strips the records of migration 8 from a store
// with coinbase, unconfirmed and spent coins and proposals, and checks
// that reopening rebuilds them to the values kept up to date.
func TestMigrateReadsRebuilds(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custos.db")
	db, err := Open(path, Options{Now: func() time.Time { return testTime }})
	require.NoError(t, err)
	w := reserve.Wallet{ID: "w", Name: "w", Network: reserve.Regtest, Threshold: 1, CreatedAt: testTime}
	var look []reserve.Address
	for i := range uint32(3) {
		look = append(look, reserve.Address{Branch: reserve.BranchReceive, Index: i, Address: "a", Script: []byte{0x51, byte(i)}})
	}
	require.NoError(t, db.CreateWallet(ctx, w, look))
	coin := func(n byte, amount int64, coinbase bool) reserve.UTXO {
		return reserve.UTXO{OutPoint: wire.OutPoint{Hash: chainhash.Hash{n}}, AmountSat: amount, Script: []byte{0x51, n % 3},
			Branch: reserve.BranchReceive, Index: uint32(n % 3), Coinbase: coinbase}
	}
	var prev chainhash.Hash
	for h := int32(1); h <= 120; h++ {
		b := reserve.BlockUpdate{Height: h, Prev: prev, Hash: chainhash.Hash{0xbb, byte(h)}}
		switch h {
		case 1:
			b.Credits = []reserve.UTXO{coin(1, 1000, true), coin(2, 2000, false), coin(3, 3000, false)}
		case 30:
			b.Credits = []reserve.UTXO{coin(4, 4000, true)}
			b.Debits = []reserve.Debit{{OutPoint: coin(3, 0, false).OutPoint, SpentBy: chainhash.Hash{9}}}
		}
		require.NoError(t, db.ApplyBlock(ctx, b))
		prev = b.Hash
	}
	require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{Credits: []reserve.UTXO{coin(5, 500, false)}}))
	var want reserve.Balance
	require.NoError(t, db.bolt.View(func(tx *bolt.Tx) error { want = scanBalance(t, tx); return nil }))
	require.Equal(t, reserve.Balance{ConfirmedSat: 3000, UnconfirmedSat: 500, ImmatureSat: 4000}, want)
	checkDerived(t, db, want)

	require.NoError(t, db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range bucketsV8 {
			require.NoError(t, tx.DeleteBucket(name))
		}
		require.NoError(t, tx.Bucket(bucketMeta).Delete(keyPageKey))
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint32(nil, 7))
	}))
	require.NoError(t, db.Close())

	db, err = Open(path, Options{})
	require.NoError(t, err)
	defer db.Close()
	checkDerived(t, db, want)
}
