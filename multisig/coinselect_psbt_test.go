package multisig

import (
	"errors"
	"strconv"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// testInputBytes is the PSBT bytes a test input costs besides its previous
// transaction.
const testInputBytes = 500

// prevSizes gives every coin's previous transaction size bytes.
func prevSizes(size int64, coins ...reserve.Input) map[chainhash.Hash]int64 {
	out := make(map[chainhash.Hash]int64, len(coins))
	for _, c := range coins {
		out[c.OutPoint.Hash] = size
	}
	return out
}

// coinCost is what a test coin with a previous transaction of size bytes
// takes of the budget.
func coinCost(size int64) int64 { return testInputBytes + PrevTxPSBTBytes(size) }

// TestSelectCoinsPSBTBudget checks that selection keeps the inputs' PSBT
// bytes, each input counting its own previous transaction, within the
// bound, and refuses with the largest payment that fits.
func TestSelectCoinsPSBTBudget(t *testing.T) {
	big := testCoin("big prev", 500_000)
	small1, small2 := testCoin("small prev 1", 300_000), testCoin("small prev 2", 300_000)
	sizes := prevSizes(1_000, small1, small2)
	sizes[big.OutPoint.Hash] = 1_000_000

	// Two outputs of one previous transaction: each input carries a copy.
	same0, same1 := testCoin("same prev", 100_000), testCoin("same prev", 100_000)
	same1.OutPoint.Index = 1

	three := testCoins("three ", 3, 100_000)
	// 2-of-3, 1 sat/vB, one P2WPKH payee: two inputs without change are
	// 252 vB, so two coins pay 200,000 − 252.
	const largestOfTwo = 2*100_000 - 252

	huge := testCoin("huge prev", 1_000_000)
	fives := testCoins("five ", 5, 400_000)
	densitySizes := prevSizes(1_000, fives...)
	densitySizes[huge.OutPoint.Hash] = 100_000

	tests := []struct {
		name    string
		coins   []reserve.Input
		pay     int64
		budget  PSBTBudget
		inputs  []reserve.Input // nil: refused
		largest int64           // the refusal's largest payment
	}{
		{
			name:   "the coin of a large previous transaction is passed over",
			coins:  []reserve.Input{big, small1, small2},
			pay:    400_000,
			budget: PSBTBudget{MaxBytes: 10_000, InputBytes: testInputBytes, PrevTxBytes: sizes},
			inputs: sortedCoins([]reserve.Input{small1, small2}),
		},
		{
			name:   "without a bound the large coin pays",
			coins:  []reserve.Input{big, small1, small2},
			pay:    400_000,
			inputs: []reserve.Input{big},
		},
		{
			name:   "two outputs of one transaction fit when both copies do",
			coins:  []reserve.Input{same0, same1},
			pay:    150_000,
			budget: PSBTBudget{MaxBytes: 2 * coinCost(4_000), InputBytes: testInputBytes, PrevTxBytes: prevSizes(4_000, same0)},
			inputs: sortedCoins([]reserve.Input{same0, same1}),
		},
		{
			name:    "two outputs of one transaction count its size twice",
			coins:   []reserve.Input{same0, same1},
			pay:     150_000,
			budget:  PSBTBudget{MaxBytes: 2*coinCost(4_000) - 1, InputBytes: testInputBytes, PrevTxBytes: prevSizes(4_000, same0)},
			largest: 100_000 - 147,
		},
		{
			name:   "the largest payment that fits is allowed",
			coins:  three,
			pay:    largestOfTwo,
			budget: PSBTBudget{MaxBytes: 2 * coinCost(10_000), InputBytes: testInputBytes, PrevTxBytes: prevSizes(10_000, three...)},
			inputs: sortedCoins(three)[:2],
		},
		{
			name:    "one satoshi more is refused, naming the largest",
			coins:   three,
			pay:     largestOfTwo + 1,
			budget:  PSBTBudget{MaxBytes: 2 * coinCost(10_000), InputBytes: testInputBytes, PrevTxBytes: prevSizes(10_000, three...)},
			largest: largestOfTwo,
		},
		{
			name: "coins of small previous transactions when the largest coin's fills the PSBT",
			// By value: huge and one five fit (1.4M); by value per
			// byte: four fives pay with change.
			coins:  append([]reserve.Input{huge}, fives...),
			pay:    1_500_000,
			budget: PSBTBudget{MaxBytes: coinCost(100_000) + coinCost(1_000) + 100, InputBytes: testInputBytes, PrevTxBytes: densitySizes},
			inputs: sortedCoins(fives)[:4],
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := SelectParams{Coins: tc.coins, Outputs: []*wire.TxOut{payTo("payee", tc.pay)}, ChangeScript: testChange,
				FeeRate: 1, M: 2, N: 3, PSBT: tc.budget}
			sel, err := SelectCoins(p)
			if tc.inputs == nil {
				require.Error(t, err)
				require.True(t, errors.Is(err, ErrPSBTTooLarge), "%v", err)
				require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
				require.Contains(t, err.Error(), "every input carries its whole previous transaction")
				require.Contains(t, err.Error(), "the largest payment that fits is "+strconv.FormatInt(tc.largest, 10)+" sat")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.inputs, sel.Inputs)
			RequireSelectionSound(t, p, sel)
			if tc.budget.MaxBytes > 0 {
				var used int64
				for _, in := range sel.Inputs {
					used += tc.budget.InputBytes + PrevTxPSBTBytes(tc.budget.PrevTxBytes[in.OutPoint.Hash])
				}
				require.LessOrEqual(t, used, tc.budget.MaxBytes)
			}
		})
	}
}

// TestSelectCoinsPSBTBudgetRefusals checks the bound's own refusals.
func TestSelectCoinsPSBTBudgetRefusals(t *testing.T) {
	coins := testCoins("c", 2, 100_000)
	tests := []struct {
		name   string
		budget PSBTBudget
		field  string
	}{
		{name: "no size for a coin's previous transaction", budget: PSBTBudget{MaxBytes: 1 << 20, PrevTxBytes: prevSizes(100, coins[0])}, field: "coin[1]"},
		{name: "negative bound", budget: PSBTBudget{MaxBytes: -1}, field: "psbt"},
		{name: "negative input size", budget: PSBTBudget{InputBytes: -1}, field: "psbt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SelectCoins(SelectParams{Coins: coins, Outputs: []*wire.TxOut{payTo("payee", 50_000)}, ChangeScript: testChange,
				FeeRate: 1, M: 2, N: 3, PSBT: tc.budget})
			RequireInvalid(t, err, tc.field, "")
		})
	}
}

// TestInputPSBTBytes checks the bound against real PSBTs signed by every
// cosigner: the bytes a second input adds, less its previous transaction,
// are at most InputPSBTBytes and short of it only by the signatures' DER
// lengths (71 to 73 bytes, counted as 73).
func TestInputPSBTBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		m, n int
	}{
		{name: "2 of 3", m: 2, n: 3},
		{name: "3 of 5", m: 3, n: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := MustPSBTWallet(t, "psbt size", tc.m, tc.n)
			one := []coin{{path: keyPath{reserve.BranchReceive, 0}, amount: 1_000_000}}
			two := append(one, coin{path: keyPath{reserve.BranchChange, 3}, amount: 2_000_000, before: 300})
			signed := func(coins []coin) int64 {
				pkt, err := CreatePSBT(w.MustSpendParams(t, coins, 500_000, 0, 0))
				require.NoError(t, err)
				for i := range tc.n {
					pkt = w.MustSigned(t, pkt, i)
				}
				return int64(len(MustSerialize(t, pkt)))
			}
			params := w.MustSpendParams(t, two, 500_000, 0, 0)
			prev := int64(len(MustSerializeTx(t, params.PrevTxs[params.Inputs[1].OutPoint.Hash])))
			added := signed(two) - signed(one) - PrevTxPSBTBytes(prev)
			bound := w.d.InputPSBTBytes()
			require.LessOrEqual(t, added, bound)
			require.LessOrEqual(t, bound-added, int64(2*tc.n))
		})
	}
}
