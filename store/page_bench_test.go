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

// mustCoins opens a store whose wallet holds n confirmed coins, 1,000 per
// block over 100 addresses, written through ApplyBlock.
func mustCoins(tb testing.TB, n int) *store.DB {
	tb.Helper()
	ctx := context.Background()
	db := MustOpen(tb)
	require.NoError(tb, db.CreateWallet(ctx, testWallet(), receiveRange(100)))
	var prev chainhash.Hash
	for height := int32(1); n > 0; height++ {
		u := reserve.BlockUpdate{Height: height, Hash: blockHash(height, "scale"), Prev: prev}
		for i := range min(n, 1000) {
			txid := chainhash.HashH(binary.BigEndian.AppendUint64(nil, uint64(height)<<32|uint64(i)))
			u.Credits = append(u.Credits, reserve.UTXO{
				OutPoint:  wire.OutPoint{Hash: txid, Index: uint32(i % 3)},
				AmountSat: 100_000 + int64(i),
				Script:    testScript(reserve.BranchReceive, uint32(i%100)),
				Branch:    reserve.BranchReceive,
				Index:     uint32(i % 100),
			})
		}
		require.NoError(tb, db.ApplyBlock(ctx, u))
		n -= len(u.Credits)
		prev = u.Hash
	}
	return db
}

// BenchmarkListUtxosPage reads one 100-coin page from the middle of the
// listing, and the balance, at 10^3, 10^4 and 10^5 coins: both must stay
// flat (issue 15: one Seek and a page of steps, never a scan).
func BenchmarkListUtxosPage(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 10_000, 100_000} {
		db := mustCoins(b, n)
		// The cursor of the coin in the middle of the listing.
		var mid []byte
		for range n / 2 / reserve.MaxPageSize {
			_, next, _, err := db.UTXOPage(ctx, mid, reserve.MaxPageSize)
			require.NoError(b, err)
			mid = next
		}
		b.Run(fmt.Sprintf("coins=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, _, _, err := db.UTXOPage(ctx, mid, reserve.DefaultPageSize)
				if err != nil || len(page) != reserve.DefaultPageSize {
					b.Fatalf("page of %d: %v", len(page), err)
				}
			}
		})
		b.Run(fmt.Sprintf("balance/coins=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := db.Balance(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
