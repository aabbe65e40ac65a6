package store_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// prevTxPad makes every funding transaction about 1 KB, as a deposit from
// an exchange's batch payout is: the 50,000-coin figure of issue 15 (51 MB
// of previous transactions) came from such a wallet.
const prevTxPad = 900

// mustDeposits opens a store whose wallet holds n confirmed coins, each
// from a transaction of its own of about 1 KB, 1,000 per block, and
// (after them) 100 spent coins' worth of history per 1,000: the reads
// must not grow with it.
func mustDeposits(tb testing.TB, n int) *store.DB {
	tb.Helper()
	ctx := context.Background()
	db := MustOpen(tb)
	require.NoError(tb, db.CreateWallet(ctx, testWallet(), receiveRange(100)))
	var prev chainhash.Hash
	for height := int32(1); n > 0; height++ {
		u := reserve.BlockUpdate{Height: height, Hash: blockHash(height, "deposits"), Prev: prev}
		for i := range min(n, 1000) {
			tx := wire.NewMsgTx(2)
			in := chainhash.HashH(binary.BigEndian.AppendUint64(nil, uint64(height)<<32|uint64(i)))
			tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&in, 0), nil, [][]byte{make([]byte, prevTxPad)}))
			tx.AddTxOut(wire.NewTxOut(10_000+int64(i)*997%5_000_000, testScript(reserve.BranchReceive, uint32(i%100))))
			u.Txs = append(u.Txs, tx)
			u.Credits = append(u.Credits, credit(tx, 0, reserve.BranchReceive, uint32(i%100)))
		}
		require.NoError(tb, db.ApplyBlock(ctx, u))
		n -= len(u.Credits)
		prev = u.Hash
	}
	return db
}

// landedSpendable is what daemon.spendable and daemon.prevTxSizes read
// before store.Spendable (commit 3ca1d5b): every coin ever recorded, the
// reservations, the tip, then one read transaction per coin copying its
// previous transaction to take its length. It is the same-run baseline.
func landedSpendable(ctx context.Context, db *store.DB) (int, error) {
	utxos, err := db.UTXOs(ctx, false)
	if err != nil {
		return 0, err
	}
	held, err := db.Reservations(ctx)
	if err != nil {
		return 0, err
	}
	tip, _, _, err := db.SyncTip(ctx)
	if err != nil {
		return 0, err
	}
	sizes := make(map[chainhash.Hash]int64)
	n := 0
	for _, u := range utxos {
		if _, taken := held[u.OutPoint]; taken || u.Height == 0 || !u.Mature(tip) {
			continue
		}
		n++
		if _, ok := sizes[u.OutPoint.Hash]; ok {
			continue
		}
		raw, err := db.RawTx(ctx, u.OutPoint.Hash)
		if err != nil {
			return 0, err
		}
		sizes[u.OutPoint.Hash] = int64(len(raw))
	}
	return n, nil
}

// BenchmarkSpendable reads what a proposal selects from — the spendable
// coins and their previous transactions' sizes — at 10^3, 10^4 and
// 5·10^4 coins of about 1 KB previous transactions each: landed is the
// read of commit 3ca1d5b (the same-run baseline), spendable is
// store.Spendable. scripts/bench-pipeline.sh does not run it; run with
// -bench Spendable -benchtime 5x.
func BenchmarkSpendable(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 10_000, 50_000} {
		db := mustDeposits(b, n)
		b.Run(fmt.Sprintf("landed/coins=%d", n), func(b *testing.B) {
			for b.Loop() {
				if got, err := landedSpendable(ctx, db); err != nil || got != n {
					b.Fatalf("%d coins: %v", got, err)
				}
			}
		})
		b.Run(fmt.Sprintf("spendable/coins=%d", n), func(b *testing.B) {
			for b.Loop() {
				if coins, _, _, err := db.Spendable(ctx); err != nil || len(coins) != n {
					b.Fatalf("%d coins: %v", len(coins), err)
				}
			}
		})
		require.NoError(b, db.Close())
	}
}
