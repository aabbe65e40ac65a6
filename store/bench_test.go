package store_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// BenchmarkApplyBlock measures one block paying the wallet 500 times, the
// shape of a busy deposit day, including the fsync of its transaction.
func BenchmarkApplyBlock(b *testing.B) {
	const credits = 500
	ctx := context.Background()
	db := MustOpen(b)
	require.NoError(b, db.CreateWallet(ctx, testWallet(), receiveRange(credits)))

	var (
		prev   chainhash.Hash
		height int32
	)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		height++
		u := reserve.BlockUpdate{Height: height, Hash: blockHash(height, "bench"), Prev: prev}
		u.Credits = make([]reserve.UTXO, credits)
		for i := range u.Credits {
			txid := chainhash.HashH(binary.BigEndian.AppendUint64(nil, uint64(height)<<32|uint64(i)))
			u.Credits[i] = reserve.UTXO{
				OutPoint:  wire.OutPoint{Hash: txid, Index: uint32(i % 3)},
				AmountSat: 100_000 + int64(i),
				Script:    testScript(reserve.BranchReceive, uint32(i)),
				Branch:    reserve.BranchReceive,
				Index:     uint32(i),
			}
		}
		if err := db.ApplyBlock(ctx, u); err != nil {
			b.Fatal(err)
		}
		prev = u.Hash
	}
}

// receiveRange is receive addresses 0 to n-1.
func receiveRange(n uint32) []reserve.Address {
	out := make([]reserve.Address, n)
	for i := range out {
		out[i] = testAddress(reserve.BranchReceive, uint32(i))
	}
	return out
}
