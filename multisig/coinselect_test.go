package multisig

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// testCoin is a coin whose txid is the hash of its label.
func testCoin(label string, amount int64) reserve.Input {
	return reserve.Input{
		OutPoint:  wire.OutPoint{Hash: chainhash.Hash(sha256.Sum256([]byte(label))), Index: 0},
		AmountSat: amount,
	}
}

// testCoins makes count coins of amount, labelled prefix0, prefix1, ….
func testCoins(prefix string, count int, amount int64) []reserve.Input {
	out := make([]reserve.Input, count)
	for i := range out {
		out[i] = testCoin(fmt.Sprintf("%s%d", prefix, i), amount)
	}
	return out
}

// sortedCoins returns coins in Selection order.
func sortedCoins(coins []reserve.Input) []reserve.Input {
	out := slices.Clone(coins)
	slices.SortFunc(out, compareInputs)
	return out
}

var testChange = fakeP2WSH("change")

// payTo is one P2WPKH payee output.
func payTo(label string, amount int64) *wire.TxOut {
	return wire.NewTxOut(amount, fakeP2WPKH(label))
}

// The sizes behind the table below, for 2-of-3 (InputWeight 420 = 105 vB)
// and one P2WPKH payee (31 bytes), change P2WSH (43 bytes):
//
//	no change: (8 + 1 + 1 + 31)×4 + 2 = 166 WU (target 42 vB); k inputs: ceil((166 + 420k)/4)
//	           1 → 147 vB, 2 → 252 vB
//	change:    (8 + 1 + 1 + 31 + 43)×4 + 2 = 338 WU; 1 → 190 vB
//	costOfChange = FeeRate × (43 + 105)
func TestSelectCoins(t *testing.T) {
	exact := testCoin("exact", 100_000+147*10)
	tests := []struct {
		name    string
		coins   []reserve.Input
		outputs []*wire.TxOut
		feeRate int64
		m, n    int
		inputs  []reserve.Input
		change  int64
		fee     int64
		vsize   int64
	}{
		{
			name:    "exact match, no change",
			coins:   []reserve.Input{testCoin("big", 500_000), exact, testCoin("small", 50_000)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 10,
			inputs:  []reserve.Input{exact},
			fee:     1470, vsize: 147,
		},
		{
			name:    "slightly above target, within cost of change: excess to fee",
			coins:   []reserve.Input{testCoin("big", 500_000), testCoin("near", 101_470+1000), testCoin("small", 30_000)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 10,
			inputs:  []reserve.Input{testCoin("near", 102_470)},
			fee:     2470, vsize: 147,
		},
		{
			name: "least excess wins over the first solution",
			// 102,050 has effective value 101,000 (excess 580);
			// 61,050 + 41,470 have 60,000 + 40,420 = the target.
			coins:   []reserve.Input{testCoin("a", 102_050), testCoin("b", 61_050), testCoin("c", 41_470)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 10,
			inputs:  []reserve.Input{testCoin("b", 61_050), testCoin("c", 41_470)},
			fee:     2520, vsize: 252,
		},
		{
			name:    "needs change",
			coins:   []reserve.Input{testCoin("small", 20_000), testCoin("big", 300_000)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 10,
			inputs:  []reserve.Input{testCoin("big", 300_000)},
			change:  300_000 - 100_000 - 1900, fee: 1900, vsize: 190,
		},
		{
			name: "change would be dust: folded into the fee",
			// At 1 sat/vB costOfChange is 148; excess 200 is outside the
			// window and change 100,347 − 100,000 − 190 = 157 < 330.
			coins:   []reserve.Input{testCoin("only", 100_347)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 1,
			inputs:  []reserve.Input{testCoin("only", 100_347)},
			fee:     347, vsize: 147,
		},
		{
			name: "change of exactly the dust threshold is kept",
			// 100,520 − 100,000 − 190 = 330.
			coins:   []reserve.Input{testCoin("only", 100_520)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 1,
			inputs:  []reserve.Input{testCoin("only", 100_520)},
			change:  330, fee: 190, vsize: 190,
		},
		{
			name: "many small coins, changeless",
			// Effective value 895 each; 56 × 895 = 50,120 is within
			// 50,042 + 148; ties go by txid.
			coins:   testCoins("dust-ish ", 200, 1000),
			outputs: []*wire.TxOut{payTo("payee", 50_000)},
			feeRate: 1,
			inputs:  sortedCoins(testCoins("dust-ish ", 200, 1000))[:56],
			fee:     6000, vsize: 5922, // ceil((166 + 56×420)/4)
		},
		{
			name: "over 252 inputs: 3-byte input count",
			// 336 × 895 = 300,720 overshoots 300,044 + 148; with change
			// the 336 inputs weigh (8 + 3 + 75)×4 + 2 + 336×420 = 141,466.
			coins:   testCoins("coin ", 400, 1000),
			outputs: []*wire.TxOut{payTo("payee", 300_000)},
			feeRate: 1,
			inputs:  sortedCoins(testCoins("coin ", 400, 1000))[:336],
			change:  633, fee: 35_367, vsize: 35_367,
		},
		{
			name:    "fee rate 1, exact",
			coins:   []reserve.Input{testCoin("exact at 1", 100_147), testCoin("other", 1_000_000)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 1,
			inputs:  []reserve.Input{testCoin("exact at 1", 100_147)},
			fee:     147, vsize: 147,
		},
		{
			name:    "fee rate 1000 with change",
			coins:   []reserve.Input{testCoin("one btc", 100_000_000)},
			outputs: []*wire.TxOut{payTo("payee", 50_000_000)},
			feeRate: 1000,
			inputs:  []reserve.Input{testCoin("one btc", 100_000_000)},
			change:  50_000_000 - 190_000, fee: 190_000, vsize: 190,
		},
		{
			name:  "coins worth less than their fee are skipped",
			coins: []reserve.Input{testCoin("uneconomic", 1050), testCoin("big", 300_000)},
			// 1,050 sat is exactly one input's fee at 10 sat/vB.
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 10,
			inputs:  []reserve.Input{testCoin("big", 300_000)},
			change:  198_100, fee: 1900, vsize: 190,
		},
		{
			name:  "3-of-5, two payees, change",
			coins: []reserve.Input{testCoin("a", 1_000_000), testCoin("b", 900_000), testCoin("c", 5000)},
			// Inputs 562 WU; outputs 1 + 31 + 43 + 43; with change
			// (8 + 1 + 118)×4 + 2 + 2×562 = 1634 WU = 409 vB.
			outputs: []*wire.TxOut{payTo("payee", 1_200_000), wire.NewTxOut(400_000, fakeP2TR("payee 2"))},
			feeRate: 5,
			m:       3, n: 5,
			inputs: []reserve.Input{testCoin("a", 1_000_000), testCoin("b", 900_000)},
			change: 1_900_000 - 1_600_000 - 2045, fee: 2045, vsize: 409,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, n := 2, 3
			if tc.m != 0 {
				m, n = tc.m, tc.n
			}
			p := SelectParams{Coins: tc.coins, Outputs: tc.outputs, ChangeScript: testChange, FeeRate: tc.feeRate, M: m, N: n}
			got, err := SelectCoins(p)
			require.NoError(t, err)
			require.Equal(t, tc.inputs, got.Inputs)
			require.Equal(t, tc.change, got.ChangeSat, "change")
			require.Equal(t, tc.fee, got.FeeSat, "fee")
			require.Equal(t, tc.vsize, got.VSize, "vsize")
			RequireSelectionSound(t, p, got)
		})
	}
}

// TestSelectCoinsFailures covers what cannot be paid: not enough money,
// or only with a transaction too heavy to relay.
func TestSelectCoinsFailures(t *testing.T) {
	tests := []struct {
		name    string
		coins   []reserve.Input
		outputs []*wire.TxOut
		feeRate int64
		msg     string
		funds   bool // ErrInsufficientFunds
	}{
		{
			name:    "insufficient funds",
			coins:   []reserve.Input{testCoin("a", 50_000), testCoin("b", 30_000)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 10,
			msg:     "insufficient funds: need 102520 sat (payments 100000 + fee 2520 at 10 sat/vB), spendable 80000 sat in 2 coins",
			funds:   true,
		},
		{
			name:    "insufficient funds, uneconomic coins named",
			coins:   []reserve.Input{testCoin("a", 50_000), testCoin("tiny", 1000)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 10,
			msg:     "insufficient funds: need 101470 sat (payments 100000 + fee 1470 at 10 sat/vB), spendable 50000 sat in 1 coins; 1 more coins are worth less than the 1050 sat fee to spend each at this rate",
			funds:   true,
		},
		{
			name:    "no coins",
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 10,
			msg:     "insufficient funds: need 101470 sat (payments 100000 + fee 1470 at 10 sat/vB), spendable 0 sat in 0 coins",
			funds:   true,
		},
		{
			name: "enough for the payment but not the fee",
			// Without change 100,146 pays 146 sat for 147 vB.
			coins:   []reserve.Input{testCoin("a", 100_146)},
			outputs: []*wire.TxOut{payTo("payee", 100_000)},
			feeRate: 1,
			msg:     "insufficient funds: need 100147 sat",
			funds:   true,
		},
		{
			name:    "only with more inputs than a standard transaction holds",
			coins:   testCoins("small ", 2000, 10_000),
			outputs: []*wire.TxOut{payTo("payee", 9_600_000)},
			feeRate: 1,
			msg:     "paying 9600000 sat at 1 sat/vB needs more than 951 inputs, over the standard transaction weight of 400000: consolidate the wallet's coins first",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SelectCoins(SelectParams{Coins: tc.coins, Outputs: tc.outputs, ChangeScript: testChange, FeeRate: tc.feeRate, M: 2, N: 3})
			require.Error(t, err)
			require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
			require.Contains(t, err.Error(), tc.msg)
			require.Equal(t, tc.funds, errors.Is(err, ErrInsufficientFunds))
		})
	}
}

// TestSelectCoinsRefusals checks every CodeInvalid refusal names its field.
func TestSelectCoinsRefusals(t *testing.T) {
	valid := func() SelectParams {
		return SelectParams{
			Coins:        []reserve.Input{testCoin("a", 1_000_000)},
			Outputs:      []*wire.TxOut{payTo("payee", 100_000)},
			ChangeScript: testChange,
			FeeRate:      10,
			M:            2, N: 3,
		}
	}
	_, err := SelectCoins(valid())
	require.NoError(t, err)
	tests := []struct {
		name   string
		change func(*SelectParams)
		field  string
		msg    string
	}{
		{name: "fee rate 0", change: func(p *SelectParams) { p.FeeRate = 0 }, field: "fee_rate", msg: "fee rate 0 sat/vB is outside 1..100000"},
		{name: "fee rate negative", change: func(p *SelectParams) { p.FeeRate = -1 }, field: "fee_rate", msg: "outside 1..100000"},
		{name: "fee rate too high", change: func(p *SelectParams) { p.FeeRate = 100_001 }, field: "fee_rate", msg: "fee rate 100001 sat/vB"},
		{name: "no outputs", change: func(p *SelectParams) { p.Outputs = nil }, field: "outputs", msg: "no outputs to pay"},
		{name: "nil output", change: func(p *SelectParams) { p.Outputs = append(p.Outputs, nil) }, field: "output[1]", msg: "output is missing"},
		{name: "zero amount", change: func(p *SelectParams) { p.Outputs[0].Value = 0 }, field: "output[0]", msg: "amount 0 sat is not positive"},
		{name: "negative amount", change: func(p *SelectParams) { p.Outputs[0].Value = -5 }, field: "output[0]", msg: "amount -5 sat is not positive"},
		{name: "amount above 21M BTC", change: func(p *SelectParams) { p.Outputs[0].Value = reserve.MaxSat + 1 }, field: "output[0]", msg: "more than 21,000,000 BTC"},
		{
			name:   "outputs total above 21M BTC",
			change: func(p *SelectParams) { p.Outputs = []*wire.TxOut{payTo("x", reserve.MaxSat), payTo("y", 1000)} },
			field:  "outputs", msg: "outputs total more than 21,000,000 BTC",
		},
		{
			name:   "payee below dust",
			change: func(p *SelectParams) { p.Outputs = append(p.Outputs, payTo("tiny", 293)) },
			field:  "output[1]", msg: "amount 293 is below the dust threshold 294 for this script",
		},
		{
			name:   "P2WSH payee below dust",
			change: func(p *SelectParams) { p.Outputs[0] = wire.NewTxOut(329, fakeP2WSH("x")) },
			field:  "output[0]", msg: "amount 329 is below the dust threshold 330 for this script",
		},
		{
			name:   "OP_RETURN payee",
			change: func(p *SelectParams) { p.Outputs[0] = wire.NewTxOut(100_000, []byte{0x6a, 0x01, 0x00}) },
			field:  "output[0]", msg: "would be burned",
		},
		{
			name: "too many outputs for a standard transaction",
			change: func(p *SelectParams) {
				p.Outputs = slices.Repeat([]*wire.TxOut{payTo("many", 1000)}, 3300)
			},
			field: "outputs", msg: "3300 outputs do not fit in a standard transaction",
		},
		{name: "n zero", change: func(p *SelectParams) { p.N = 0 }, field: "n", msg: "0 keys is outside 1..20"},
		{name: "n above 20", change: func(p *SelectParams) { p.N = 21 }, field: "n", msg: "21 keys is outside 1..20"},
		{name: "m zero", change: func(p *SelectParams) { p.M = 0 }, field: "m", msg: "threshold 0 is outside 1..3"},
		{name: "m above n", change: func(p *SelectParams) { p.M = 4 }, field: "m", msg: "threshold 4 is outside 1..3"},
		{name: "change not P2WSH", change: func(p *SelectParams) { p.ChangeScript = fakeP2WPKH("change") }, field: "change_script", msg: "is not P2WSH"},
		{name: "no change script", change: func(p *SelectParams) { p.ChangeScript = nil }, field: "change_script", msg: "is not P2WSH"},
		{name: "coin of 0 sat", change: func(p *SelectParams) { p.Coins = append(p.Coins, testCoin("zero", 0)) }, field: "coin[1]", msg: "amount 0 sat is outside 1..2100000000000000"},
		{name: "coin above 21M BTC", change: func(p *SelectParams) { p.Coins[0].AmountSat = reserve.MaxSat + 1 }, field: "coin[0]", msg: "outside 1.."},
		{
			name:   "same outpoint twice",
			change: func(p *SelectParams) { p.Coins = append(p.Coins, testCoin("b", 5), testCoin("a", 7)) },
			field:  "coin[2]", msg: "is also coin[0]",
		},
		{
			name:   "coins total above 21M BTC",
			change: func(p *SelectParams) { p.Coins = testCoins("huge ", 5000, reserve.MaxSat) },
			field:  "coins", msg: "coins total more than 21,000,000 BTC",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := valid()
			tc.change(&p)
			_, err := SelectCoins(p)
			RequireInvalid(t, err, tc.field, tc.msg)
		})
	}
}

// RequireSelectionSound checks what every Selection must satisfy.
func RequireSelectionSound(tb testing.TB, p SelectParams, s Selection) {
	tb.Helper()
	var in, out int64
	for _, c := range s.Inputs {
		in += c.AmountSat
		require.Contains(tb, p.Coins, c)
	}
	require.True(tb, slices.IsSortedFunc(s.Inputs, compareInputs), "inputs out of order")
	require.Len(tb, slices.CompactFunc(slices.Clone(s.Inputs), func(a, b reserve.Input) bool { return a.OutPoint == b.OutPoint }), len(s.Inputs), "an input twice")
	scripts := make([][]byte, 0, len(p.Outputs)+1)
	for _, o := range p.Outputs {
		out += o.Value
		scripts = append(scripts, o.PkScript)
	}
	if s.ChangeSat != 0 {
		require.GreaterOrEqual(tb, s.ChangeSat, DustThreshold(p.ChangeScript), "dust change")
		scripts = append(scripts, p.ChangeScript)
		// With change, the change takes everything above the fee.
		require.Equal(tb, p.FeeRate*s.VSize, s.FeeSat, "fee with change")
	}
	require.Equal(tb, in, out+s.ChangeSat+s.FeeSat, "money in = money out")
	require.Equal(tb, EstimateVSize(p.M, p.N, len(s.Inputs), scripts), s.VSize)
	require.GreaterOrEqual(tb, s.FeeSat, p.FeeRate*s.VSize, "fee below the fee rate")
	// A changeless selection overpays by at most the cost of change, a
	// dropped dust change and the per-input rounding of effective values.
	overpay := p.FeeRate*(OutputSize(p.ChangeScript)+vsize(InputWeight(p.M, p.N))+int64(len(s.Inputs))+1) + DustThreshold(p.ChangeScript)
	require.LessOrEqual(tb, s.FeeSat-p.FeeRate*s.VSize, overpay, "overpaid fee")
}

// TestSelectCoinsProperties runs random wallets, coins and payments (fixed
// seed) and checks every result, its independence from the coins' order,
// and that "insufficient funds" is true.
func TestSelectCoinsProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	outcomes := map[string]int{}
	for iter := range 400 {
		p := randomSelectParams(rng, iter)
		got, err := SelectCoins(p)
		if err != nil {
			require.ErrorIs(t, err, ErrInsufficientFunds, "iteration %d", iter)
			requireCannotPay(t, p)
			outcomes["insufficient"]++
			continue
		}
		RequireSelectionSound(t, p, got)
		shuffled := p
		shuffled.Coins = slices.Clone(p.Coins)
		rng.Shuffle(len(shuffled.Coins), func(i, j int) { shuffled.Coins[i], shuffled.Coins[j] = shuffled.Coins[j], shuffled.Coins[i] })
		again, err := SelectCoins(shuffled)
		require.NoError(t, err)
		require.Equal(t, got, again, "iteration %d depends on coin order", iter)
		if got.ChangeSat > 0 {
			outcomes["change"]++
		} else {
			outcomes["changeless"]++
		}
	}
	t.Logf("outcomes: %v", outcomes)
	for _, k := range []string{"insufficient", "change", "changeless"} {
		require.Greater(t, outcomes[k], 10, "too few %s cases to mean much", k)
	}
}

// randomSelectParams draws a wallet shape, fee rate, 0 to 60 coins from
// 500 sat to 1 BTC (log-uniform, with repeats) and 1 to 4 payees.
func randomSelectParams(rng *rand.Rand, iter int) SelectParams {
	n := 1 + rng.IntN(reserve.MaxCosigners)
	m := 1 + rng.IntN(n)
	feeRates := []int64{1, 2, 3, 7, 10, 25, 100, 333, 1000}
	p := SelectParams{M: m, N: n, FeeRate: feeRates[rng.IntN(len(feeRates))], ChangeScript: testChange}
	var total int64
	for i := range rng.IntN(61) {
		amount := int64(500 * math.Pow(2e5, rng.Float64()))
		if i > 0 && rng.IntN(4) == 0 {
			amount = p.Coins[rng.IntN(i)].AmountSat // equal amounts exercise the BnB shortcut
		}
		p.Coins = append(p.Coins, testCoin(fmt.Sprintf("%d/%d", iter, i), amount))
		total += amount
	}
	scripts := [][]byte{fakeP2WPKH("p"), fakeP2TR("t"), fakeP2WSH("w"), fakeP2PKH("k"), fakeP2SH("s")}
	for j := range 1 + rng.IntN(4) {
		script := scripts[rng.IntN(len(scripts))]
		share := max(total/int64(1+rng.IntN(6)), 1000)
		amount := max(DustThreshold(script), rng.Int64N(share)/int64(j+1))
		p.Outputs = append(p.Outputs, wire.NewTxOut(amount, script))
	}
	return p
}

// requireCannotPay checks that spending every coin without change pays
// less than the outputs and the fee at the fee rate.
func requireCannotPay(tb testing.TB, p SelectParams) {
	tb.Helper()
	var total, out int64
	k := 0
	for _, c := range p.Coins {
		if c.AmountSat > p.FeeRate*vsize(InputWeight(p.M, p.N)) {
			total += c.AmountSat
			k++
		}
	}
	scripts := [][]byte{}
	for _, o := range p.Outputs {
		out += o.Value
		scripts = append(scripts, o.PkScript)
	}
	require.Less(tb, total-out, p.FeeRate*EstimateVSize(p.M, p.N, max(k, 1), scripts))
}

// BenchmarkSelectCoins selects from 5,000 coins. "changeless": random
// amounts, where branch and bound finds changeless selections but none
// without excess, so it spends all its 100,000 tries looking for a better
// one. "change": whole-million amounts at 1 sat/vB, where no subset lands
// within the 148 sat window (it would take over 6,000 inputs), so branch
// and bound fails after its 100,000 tries and largest-first takes over.
func BenchmarkSelectCoins(b *testing.B) {
	outputs := []*wire.TxOut{payTo("payee", 1_234_567_891), wire.NewTxOut(98_765_432, fakeP2TR("payee 2"))}
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]reserve.Input, 5000)
	millions := make([]reserve.Input, 5000)
	for i := range random {
		random[i] = testCoin(fmt.Sprintf("bench %d", i), 10_000+rng.Int64N(50_000_000))
		millions[i] = testCoin(fmt.Sprintf("bench %d", i), 1_000_000*(1+rng.Int64N(50)))
	}
	tests := []struct {
		name   string
		p      SelectParams
		change bool
	}{
		{name: "changeless", p: SelectParams{Coins: random, Outputs: outputs, ChangeScript: testChange, FeeRate: 12, M: 3, N: 5}},
		{name: "change", p: SelectParams{Coins: millions, Outputs: outputs, ChangeScript: testChange, FeeRate: 1, M: 2, N: 3}, change: true},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				s, err := SelectCoins(tc.p)
				if err != nil {
					b.Fatal(err)
				}
				if (s.ChangeSat > 0) != tc.change {
					b.Fatalf("change %d sat, want change: %v", s.ChangeSat, tc.change)
				}
			}
		})
	}
}
