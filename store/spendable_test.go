package store_test

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// TestSpendable: the coins a proposal may use are the confirmed, mature,
// unspent and unreserved ones, oldest first, each with its previous
// transaction's size; a reserved coin, one spent in the mempool, an
// unconfirmed one and an immature coinbase are left out, and the coinbase
// comes in once it matures.
func TestSpendable(t *testing.T) {
	ctx := context.Background()
	db := MustFunded(t)
	funded := fundingUTXOs()
	MustCreate(t, db, testProposal(funded[0]))

	coinbase := testTx(200, wireOut(50*btc, testScript(recv, 4)))
	cb := credit(coinbase, 0, recv, 4)
	cb.Coinbase, cb.Height = true, 2
	require.NoError(t, db.ApplyBlock(ctx, reserve.BlockUpdate{
		Height: 2, Hash: blockHash(2, "a"), Prev: blockHash(1, "a"),
		Credits: []reserve.UTXO{cb}, Txs: []*wire.MsgTx{coinbase},
	}))
	spender := testTx(300, wireOut(btc, testScript(recv, 4)))
	require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{
		Credits: []reserve.UTXO{credit(spender, 0, recv, 4)},
		Debits:  []reserve.Debit{{OutPoint: funded[1].OutPoint, SpentBy: spender.TxHash()}},
		Txs:     []*wire.MsgTx{spender},
	}))

	size := func(tx *wire.MsgTx) int64 { return int64(tx.SerializeSize()) }
	outpoints := func(us []reserve.UTXO) []wire.OutPoint {
		var out []wire.OutPoint
		for _, u := range us {
			out = append(out, u.OutPoint)
		}
		return out
	}
	tests := []struct {
		name      string
		mature    bool
		wantTip   int32
		wantCoins []wire.OutPoint
		wantSizes map[chainhash.Hash]int64
	}{
		{
			name: "reserved, mempool-spent, unconfirmed and immature coins left out", wantTip: 2,
			wantCoins: []wire.OutPoint{funded[2].OutPoint, funded[3].OutPoint},
			wantSizes: map[chainhash.Hash]int64{fundingTx.TxHash(): size(fundingTx)},
		},
		{
			name: "the coinbase comes in once mature", mature: true, wantTip: 2 + reserve.CoinbaseMaturity - 1,
			wantCoins: []wire.OutPoint{funded[2].OutPoint, funded[3].OutPoint, cb.OutPoint},
			wantSizes: map[chainhash.Hash]int64{fundingTx.TxHash(): size(fundingTx), coinbase.TxHash(): size(coinbase)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mature {
				for h := int32(3); h <= tt.wantTip; h++ {
					require.NoError(t, db.ApplyBlock(ctx, reserve.BlockUpdate{Height: h, Hash: blockHash(h, "a"), Prev: blockHash(h-1, "a")}))
				}
			}
			coins, sizes, tip, err := db.Spendable(ctx)
			require.NoError(t, err)
			require.Equal(t, tt.wantTip, tip)
			require.Equal(t, tt.wantCoins, outpoints(coins))
			require.Equal(t, tt.wantSizes, sizes)
			for _, c := range coins {
				require.Positive(t, c.Height)
				require.False(t, c.Spent)
			}
		})
	}
}
