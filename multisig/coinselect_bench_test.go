package multisig

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// reserveCoins draws n coins as a reserve fed by deposits holds them
// (fixed seed): 85% small deposits of 5,000 sat to 0.005 BTC, 13% of
// 0.005 to 0.2 BTC, 2% large transfers of 0.2 to 10 BTC, all log-uniform.
// It also returns each coin's previous transaction size: most deposits
// come from ordinary 1-in-2-out payments (200–400 bytes), some from
// larger ones (to 2,000 bytes), 5% from exchanges' batched withdrawals
// (5,000–50,000 bytes).
func reserveCoins(n int, seed uint64) ([]reserve.Input, map[chainhash.Hash]int64) {
	rng := rand.New(rand.NewPCG(seed, 15))
	logUniform := func(lo, hi float64) int64 { return int64(lo * math.Pow(hi/lo, rng.Float64())) }
	coins := make([]reserve.Input, n)
	sizes := make(map[chainhash.Hash]int64, n)
	for i := range coins {
		var amount int64
		switch r := rng.IntN(100); {
		case r < 85:
			amount = logUniform(5_000, 500_000)
		case r < 98:
			amount = logUniform(500_000, 20_000_000)
		default:
			amount = logUniform(20_000_000, 1_000_000_000)
		}
		coins[i] = testCoin(fmt.Sprintf("reserve %d/%d", seed, i), amount)
		var size int64
		switch r := rng.IntN(100); {
		case r < 70:
			size = 200 + rng.Int64N(200)
		case r < 95:
			size = 400 + rng.Int64N(1_600)
		default:
			size = 5_000 + rng.Int64N(45_000)
		}
		sizes[coins[i].OutPoint.Hash] = size
	}
	return coins, sizes
}

// benchPSBTBudget is the bound the daemon passes: MaxPSBTBytes less its
// reserve for the rest of the PSBT (64 KiB + MaxWitnessBytes), with a
// 2-of-3 input's bytes.
func benchPSBTBudget(sizes map[chainhash.Hash]int64) PSBTBudget {
	return PSBTBudget{MaxBytes: MaxPSBTBytes - (64<<10 + MaxWitnessBytes), InputBytes: 722, PrevTxBytes: sizes}
}

// BenchmarkSelectCoinsScale proposes payments over a reserve of 1,000,
// 10,000 and 50,000 coins (reserveCoins), as the daemon calls SelectCoins
// (2-of-3, PSBT bound, 12 sat/vB):
//
//   - "payment": 2.3 BTC to two payees, which a few large coins pay;
//   - "many-inputs": up to 0.3 BTC from the deposits of at most 100,000 sat, so
//     hundreds of them must pay (branch and bound searches deep);
//   - "exhaust": whole-million coins at 1 sat/vB, where no subset lands
//     in the changeless window: branch and bound spends its 100,000
//     tries and largest-first takes over;
//   - "baseline": sorting the coins' amounts once (slices.SortFunc), the
//     same-run yardstick the figures are reported against: a busy machine
//     slows both alike.
func BenchmarkSelectCoinsScale(b *testing.B) {
	outputs := []*wire.TxOut{payTo("payee", 200_000_000), wire.NewTxOut(30_000_000, fakeP2TR("payee 2"))}
	for _, n := range []int{1_000, 10_000, 50_000} {
		coins, sizes := reserveCoins(n, 7)
		small := slices.DeleteFunc(slices.Clone(coins), func(c reserve.Input) bool { return c.AmountSat > 100_000 })
		var smallSum int64
		for _, c := range small {
			smallSum += c.AmountSat
		}
		// Whole millions at 1 sat/vB: no subset lands within the 148 sat
		// window, so branch and bound spends all its tries.
		millions := make([]reserve.Input, n)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range millions {
			millions[i] = testCoin(fmt.Sprintf("millions %d", i), 1_000_000*(1+rng.Int64N(50)))
		}
		cases := []struct {
			name string
			p    SelectParams
		}{
			{name: "payment", p: SelectParams{Coins: coins, Outputs: outputs, ChangeScript: testChange, FeeRate: 12, M: 2, N: 3, PSBT: benchPSBTBudget(sizes)}},
			// A third of what the small deposits hold, at most 0.3 BTC:
			// hundreds of inputs at every size.
			{name: "many-inputs", p: SelectParams{Coins: small, Outputs: []*wire.TxOut{payTo("payee", min(smallSum/3, 30_000_000))},
				ChangeScript: testChange, FeeRate: 12, M: 2, N: 3, PSBT: benchPSBTBudget(sizes)}},
			{name: "exhaust", p: SelectParams{Coins: millions, Outputs: []*wire.TxOut{payTo("payee", 123_456_789), wire.NewTxOut(98_765_432, fakeP2TR("payee 2"))},
				ChangeScript: testChange, FeeRate: 1, M: 2, N: 3}},
		}
		for _, tc := range cases {
			b.Run(fmt.Sprintf("coins=%d/%s", n, tc.name), func(b *testing.B) {
				var sel Selection
				for b.Loop() {
					var err error
					if sel, err = SelectCoins(tc.p); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(sel.Inputs)), "inputs")
			})
		}
		b.Run(fmt.Sprintf("coins=%d/baseline", n), func(b *testing.B) {
			amounts := make([]int64, len(coins))
			for b.Loop() {
				for i, c := range coins {
					amounts[i] = c.AmountSat
				}
				slices.SortFunc(amounts, func(x, y int64) int { return cmp.Compare(y, x) })
			}
		})
	}
}
