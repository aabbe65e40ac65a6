package multisig

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// millionCoins are n coins of whole millions of satoshis (fixed seed).
// At 1 sat/vB each has an effective value of k × 1,000,000 − 105, so j
// of them sum to 105·j short of a whole million: landing within the
// 148 sat changeless window of a target 222,274 sat above a whole
// million takes j = 7,406 coins, far over the 951 a standard
// transaction holds. No selection exists without change, and every
// subset of up to 951 coins is a branch to rule out.
func millionCoins(n int) []reserve.Input {
	rng := rand.New(rand.NewPCG(3, 4))
	out := make([]reserve.Input, n)
	for i := range out {
		out[i] = testCoin(fmt.Sprintf("millions %d", i), 1_000_000*(1+rng.Int64N(50)))
	}
	return out
}

// millionOutputs pay 222,222,221 sat to two payees: the target (with the
// 53 vB of the transaction without inputs) is 222,222,274 sat.
func millionOutputs() []*wire.TxOut {
	return []*wire.TxOut{payTo("payee", 123_456_789), wire.NewTxOut(98_765_432, fakeP2TR("payee 2"))}
}

// TestSelectCoinsBnBBound: where branch and bound would explode, it stops
// after bnbMaxTries steps, as Core's SelectCoinsBnB does, finds nothing,
// and largest-first pays with a valid change.
func TestSelectCoinsBnBBound(t *testing.T) {
	tests := []struct {
		name     string
		coins    []reserve.Input
		outputs  []*wire.TxOut
		feeRate  int64
		exhausts bool // spends every try
		found    bool // a changeless selection
	}{
		{name: "no changeless subset among 5,000 coins", coins: millionCoins(5_000), outputs: millionOutputs(), feeRate: 1, exhausts: true},
		{name: "no changeless subset among 50,000 coins", coins: millionCoins(50_000), outputs: millionOutputs(), feeRate: 1, exhausts: true},
		{
			// The whole tree is small: the search ends before the bound.
			name: "few coins, whole tree searched", coins: millionCoins(12), outputs: []*wire.TxOut{payTo("payee", 3_000_000)}, feeRate: 1,
		},
		{
			name: "an exact match ends the search at once", coins: []reserve.Input{testCoin("big", 500_000), testCoin("exact", 101_470)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)}, feeRate: 10, found: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := SelectParams{Coins: tc.coins, Outputs: tc.outputs, ChangeScript: testChange, FeeRate: tc.feeRate, M: 2, N: 3}
			s, err := newSelector(p)
			require.NoError(t, err)
			_, found := s.branchAndBound()
			require.Equal(t, tc.found, found)
			require.LessOrEqual(t, s.tries, bnbMaxTries)
			if tc.exhausts {
				require.Equal(t, bnbMaxTries, s.tries, "the search stops at the bound")
			} else {
				require.Less(t, s.tries, bnbMaxTries)
			}
			sel, err := SelectCoins(p)
			require.NoError(t, err)
			RequireSelectionSound(t, p, sel)
			if !tc.found {
				require.GreaterOrEqual(t, sel.ChangeSat, DustThreshold(testChange), "the fallback pays a change, not dust")
				require.Equal(t, tc.feeRate*sel.VSize, sel.FeeSat, "with change the fee is the rate's, to the satoshi")
			}
		})
	}
}

// TestSelectCoinsReserveScale proposes payments over 50,000 coins of a
// reserve (reserveCoins) with the daemon's PSBT bound, at low and high
// fee rates: each result is sound, within the bound, and the same when
// the coins come in another order.
func TestSelectCoinsReserveScale(t *testing.T) {
	coins, sizes := reserveCoins(50_000, 7)
	budget := benchPSBTBudget(sizes)
	small := slices.DeleteFunc(slices.Clone(coins), func(c reserve.Input) bool { return c.AmountSat > 100_000 })
	tests := []struct {
		name    string
		coins   []reserve.Input
		outputs []*wire.TxOut
		feeRate int64
	}{
		{name: "payment at 1 sat/vB", coins: coins, outputs: []*wire.TxOut{payTo("payee", 200_000_000)}, feeRate: 1},
		{name: "payment at 12 sat/vB", coins: coins, outputs: []*wire.TxOut{payTo("payee", 200_000_000), wire.NewTxOut(30_000_000, fakeP2TR("payee 2"))}, feeRate: 12},
		{name: "payment at 300 sat/vB", coins: coins, outputs: []*wire.TxOut{payTo("payee", 777_777_777)}, feeRate: 300},
		{name: "hundreds of small deposits", coins: small, outputs: []*wire.TxOut{payTo("payee", 30_000_000)}, feeRate: 12},
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := SelectParams{Coins: tc.coins, Outputs: tc.outputs, ChangeScript: testChange, FeeRate: tc.feeRate, M: 2, N: 3, PSBT: budget}
			sel, err := SelectCoins(p)
			require.NoError(t, err)
			RequireSelectionSound(t, p, sel)
			var used int64
			for _, in := range sel.Inputs {
				used += budget.InputBytes + PrevTxPSBTBytes(sizes[in.OutPoint.Hash])
			}
			require.LessOrEqual(t, used, budget.MaxBytes)
			shuffled := p
			shuffled.Coins = slices.Clone(p.Coins)
			rng.Shuffle(len(shuffled.Coins), func(i, j int) { shuffled.Coins[i], shuffled.Coins[j] = shuffled.Coins[j], shuffled.Coins[i] })
			again, err := SelectCoins(shuffled)
			require.NoError(t, err)
			require.Equal(t, sel, again)
		})
	}
}

// selectCoinsDigest is the SHA-256 of every result of selectionCases as
// commit 7b1f687 computed them: the work bounds and the faster loading of
// the coins change no selection.
const selectCoinsDigest = "9f16aeafe87407a7530c4bc00458be12e75f59abfc0d8fbf92953af64c11b10f"

// TestSelectCoinsUnchanged runs SelectCoins on 3,000 random cases (with
// and without a PSBT bound, with required coins) and on reserves of 10,000
// coins, and compares a digest of all results, errors included, with the
// one the landed code gave.
func TestSelectCoinsUnchanged(t *testing.T) {
	d := sha256.New()
	for _, p := range selectionCases() {
		writeSelection(d, p)
	}
	require.Equal(t, selectCoinsDigest, hex.EncodeToString(d.Sum(nil)))
}

// selectionCases are TestSelectCoinsUnchanged's parameters (fixed seeds).
func selectionCases() []SelectParams {
	rng := rand.New(rand.NewPCG(15, 2))
	var out []SelectParams
	for iter := range 3_000 {
		p := randomSelectParams(rng, iter)
		if rng.IntN(3) == 0 && len(p.Coins) > 0 {
			// A PSBT bound that passes some coins over.
			sizes := make(map[chainhash.Hash]int64, len(p.Coins))
			var all int64
			for _, c := range p.Coins {
				sizes[c.OutPoint.Hash] = 150 + rng.Int64N(60_000)
				all += 722 + PrevTxPSBTBytes(sizes[c.OutPoint.Hash])
			}
			p.PSBT = PSBTBudget{MaxBytes: 1 + rng.Int64N(all), InputBytes: 722, PrevTxBytes: sizes}
		}
		if rng.IntN(5) == 0 && len(p.Coins) > 1 {
			// One or two of the coins required, as a replacement has.
			k := 1 + rng.IntN(2)
			p.Required, p.Coins = p.Coins[:k], p.Coins[k:]
			if rng.IntN(3) == 0 {
				p.Outputs = nil // a cancel
			}
		}
		out = append(out, p)
	}
	for _, seed := range []uint64{7, 8} {
		coins, sizes := reserveCoins(10_000, seed)
		for _, rate := range []int64{1, 12, 100} {
			for _, amount := range []int64{50_000, 3_000_000, 200_000_000, 5_000_000_000} {
				out = append(out, SelectParams{Coins: coins, Outputs: []*wire.TxOut{payTo("payee", amount)}, ChangeScript: testChange,
					FeeRate: rate, M: 2, N: 3, PSBT: benchPSBTBudget(sizes)})
			}
		}
	}
	out = append(out, SelectParams{Coins: millionCoins(5_000), Outputs: millionOutputs(), ChangeScript: testChange, FeeRate: 1, M: 2, N: 3})
	return out
}

// writeSelection writes SelectCoins' result for p to d.
func writeSelection(d hash.Hash, p SelectParams) {
	sel, err := SelectCoins(p)
	if err != nil {
		fmt.Fprintf(d, "error %d %s\n", reserve.CodeOf(err), err)
		return
	}
	fmt.Fprintf(d, "change %d fee %d vsize %d:", sel.ChangeSat, sel.FeeSat, sel.VSize)
	for _, in := range sel.Inputs {
		fmt.Fprintf(d, " %s", in.OutPoint)
	}
	fmt.Fprintln(d)
}
