package proof

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// chainFixture is a chain of 10 blocks above genesis: block 1 funds
// coins a[0..2]; block 3 spends a[1]; block 5 spends a[3] (funded at 2);
// block 7 funds b; block 8 spends a[2].
type chainFixture struct {
	c *memChain
	a []multisig.ProofCoin
	b multisig.ProofCoin
}

func newChainFixture(t testing.TB) chainFixture {
	w := mustWallet(t)
	c := newMemChain()
	fa, a := w.fund(t, 1, 1e8, 2e8, 3e8)
	c.mine(fa) // 1
	fa3, a3 := w.fund(t, 10, 4e8)
	c.mine(fa3)                          // 2
	c.mine(spendTx(a[1].UTXO.OutPoint))  // 3
	c.mine()                             // 4
	c.mine(spendTx(a3[0].UTXO.OutPoint)) // 5
	c.mine()                             // 6
	fb, b := w.fund(t, 20, 5e8)
	c.mine(fb)                          // 7
	c.mine(spendTx(a[2].UTXO.OutPoint)) // 8
	c.mine()                            // 9
	c.mine()                            // 10
	return chainFixture{c: c, a: append(a, a3[0]), b: b[0]}
}

func coinsOf(pcs ...multisig.ProofCoin) []Coin {
	out := make([]Coin, len(pcs))
	for i, pc := range pcs {
		out[i] = Coin{OutPoint: pc.UTXO.OutPoint, TxOut: wire.TxOut{Value: pc.UTXO.AmountSat, PkScript: pc.UTXO.Script}}
	}
	return out
}

func TestCheckUnspent(t *testing.T) {
	fx := newChainFixture(t)
	hashAt := func(h int32) chainhash.Hash { return fx.c.blocks[h].BlockHash() }
	a, b := fx.a, fx.b
	wrongValue := coinsOf(a[0])
	wrongValue[0].TxOut.Value++
	tests := []struct {
		name    string
		height  int32
		hash    *chainhash.Hash
		coins   []Coin
		noCF    bool
		field   string
		wantErr string
		unspent []bool
	}{
		{name: "unspent at height and now", height: 2, coins: coinsOf(a[0]), unspent: []bool{true}},
		{name: "spent after height: still proven", height: 7, coins: coinsOf(a[0], a[2], b), unspent: []bool{true, false, true}},
		{name: "spent after height, no filters", height: 7, noCF: true, coins: coinsOf(a[0], a[2]), unspent: []bool{true, false}},
		{name: "spent before height", height: 6, coins: coinsOf(a[0], a[1]), field: "input[2]",
			wantErr: "was spent at height 3, before the proof's height 6"},
		{name: "spent before height, no filters", height: 6, noCF: true, coins: coinsOf(a[1]), field: "input[1]",
			wantErr: "was spent at height 3, before the proof's height 6"},
		{name: "spent in the proof's block", height: 5, coins: coinsOf(a[3]), field: "input[1]",
			wantErr: "was spent at height 5, in the proof's block"},
		{name: "created after height", height: 6, coins: coinsOf(a[0], b), field: "input[2]",
			wantErr: "was created at height 7, after the proof's height 6"},
		{name: "created after height and spent since", height: 0, coins: coinsOf(a[2]), field: "input[1]",
			wantErr: "was not created in blocks 0 to 0"},
		{name: "unknown coin", height: 9, coins: []Coin{{OutPoint: wire.OutPoint{Index: 7}, TxOut: wire.TxOut{Value: 1, PkScript: a[0].UTXO.Script}}},
			field: "input[1]", wantErr: "is not unspent on the node and was not created"},
		{name: "other output than the chain's", height: 9, coins: wrongValue, field: "input[1]",
			wantErr: "on the chain is 100000000 sat"},
		{name: "block hash mismatch", height: 4, hash: ptr(hashAt(3)), coins: coinsOf(a[0]), field: "block_hash",
			wantErr: "block hash at 4 is " + hashAt(4).String() + ", the proof says " + hashAt(3).String()},
		{name: "height above the tip", height: 11, coins: coinsOf(a[0]), field: "height",
			wantErr: "best block is at height 10, below the proof's height 11"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fx.c.noCF = tc.noCF
			hash := hashAt(min(tc.height, 10))
			if tc.hash != nil {
				hash = *tc.hash
			}
			states, err := CheckUnspent(context.Background(), fx.c, CheckParams{Height: tc.height, BlockHash: hash, Coins: tc.coins})
			if tc.wantErr != "" {
				requireInvalid(t, err, tc.field, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, states, len(tc.unspent))
			for i, s := range states {
				require.Equal(t, tc.unspent[i], s.UnspentNow, "coin %d", i)
				require.LessOrEqual(t, s.Created, tc.height)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// requireInvalid checks err is a CodeInvalid *reserve.Error for field whose
// message holds substr.
func requireInvalid(tb testing.TB, err error, field, substr string) {
	tb.Helper()
	require.Error(tb, err)
	var e *reserve.Error
	require.ErrorAs(tb, err, &e, "%v", err)
	require.Equal(tb, reserve.CodeInvalid, e.Code, "%v", err)
	require.Equal(tb, field, e.Field, "%v", err)
	require.Contains(tb, err.Error(), substr)
}

// TestCheckUnspentFetchesOnlyMatchingBlocks checks the filters spare the
// scan: a coin spent after the height makes the check read only the blocks
// whose filter matches its script.
func TestCheckUnspentFetchesOnlyMatchingBlocks(t *testing.T) {
	fx := newChainFixture(t)
	_, err := CheckUnspent(context.Background(), fx.c, CheckParams{Height: 7, BlockHash: fx.c.blocks[7].BlockHash(), Coins: coinsOf(fx.a[2])})
	require.NoError(t, err)
	require.Equal(t, 1, fx.c.calls["Blocks"], "one batch: the creating block only")
}
