package proof

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
)

// BenchmarkVerify10k verifies a proof over 10,000 coins (two per funding
// transaction, 50 transactions a block, 20 of them spent after the proof's height)
// against the in-memory chain: the budget is 5 s on 2 cores. Its parts,
// measured in the same run: the whole without the descriptor (no
// ownership check), multisig.VerifyProof alone, the ownership check alone
// and the chain check alone.
func BenchmarkVerify10k(b *testing.B) {
	w := mustWallet(b)
	c := newMemChain()
	var coins []multisig.ProofCoin
	for i := 0; i < 100; i++ {
		var txs []*wire.MsgTx
		for j := 0; j < 50; j++ {
			first := uint32(1 + i*100 + j*2)
			tx, cs := w.fund(b, first, int64(10_000+first), int64(10_001+first))
			txs = append(txs, tx)
			coins = append(coins, cs...)
		}
		c.mine(txs...)
	}
	height := int32(len(c.blocks) - 1)
	f := w.mustProofFile(b, c, height, "Reserve audit: 10,000 coins", coins)
	for i := 0; i < 20; i++ {
		c.mine(spendTx(coins[i*500].UTXO.OutPoint))
	}
	coinsIn, prevOuts, err := spentOutputs(f)
	require.NoError(b, err)
	withheld := *f
	withheld.Descriptor, withheld.Derivations = "", nil
	b.ResetTimer()
	b.Run("verify", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r, err := Verify(context.Background(), f, c, Options{})
			require.NoError(b, err)
			require.Equal(b, 10_000, r.Coins)
		}
	})
	b.Run("verify, descriptor withheld", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r, err := Verify(context.Background(), &withheld, c, Options{})
			require.NoError(b, err)
			require.False(b, r.Ownership.Checked)
		}
	})
	b.Run("scripts", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, err := multisig.VerifyProof(f.Tx, []byte(f.Message), f.Challenge, prevOuts, 0)
			require.NoError(b, err)
		}
	})
	b.Run("ownership, without the engine's signature cache", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, err := checkOwnership(f, prevOuts, 0, nil)
			require.NoError(b, err)
		}
	})
	b.Run("chain", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, err := CheckUnspent(context.Background(), c, CheckParams{Height: f.Height, BlockHash: f.BlockHash, Coins: coinsIn})
			require.NoError(b, err)
		}
	})
}
