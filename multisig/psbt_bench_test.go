package multisig

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// benchInputs is the largest spend the benchmarks build: 950 2-of-3
// inputs and two outputs weigh about 99,900 vB, just under the 100,000 vB
// (400,000 weight) standardness limit.
const benchInputs = 950

// psbtBench is the shared benchmark spend, built once.
type psbtBench struct {
	w        *psbtWallet
	params   CreateParams
	unsigned []byte // the proposal's PSBT
	signed   [2][]byte
	combined []byte // with both signers' signatures
}

var (
	benchOnce    sync.Once
	benchFixture psbtBench
	benchSmall   = map[int]*psbt.Packet{}
	benchSmallMu sync.Mutex
)

// benchCoins are n wallet coins, each in its own previous transaction of
// one output, alternating between the receive and change branches so that
// every input has its own script.
func benchCoins(n int) []coin {
	coins := make([]coin, n)
	for i := range coins {
		coins[i] = coin{path: keyPath{reserve.Branch(i % 2), uint32(i / 2)}, amount: 1_000_000 + int64(i)}
	}
	return coins
}

// MustBenchSpend builds (once) the 950-input spend, its two signed copies
// and the combined PSBT.
func MustBenchSpend(tb testing.TB) *psbtBench {
	tb.Helper()
	benchOnce.Do(func() {
		fx := &benchFixture
		fx.w = MustPSBTWallet(tb, "bench", 2, 3)
		coins := benchCoins(benchInputs)
		var in int64
		for _, c := range coins {
			in += c.amount
		}
		fee := EstimateVSize(2, 3, benchInputs, [][]byte{psbtPayee("treasury bill"), fakeChange}) * 10
		fx.params = fx.w.MustSpendParams(tb, coins, 900_000_000, in-900_000_000-fee, 5_000)
		p, err := CreatePSBT(fx.params)
		require.NoError(tb, err)
		fx.unsigned = MustSerialize(tb, p)
		canonical := MustParse(tb, fx.unsigned)
		for k := range fx.signed {
			s := fx.w.MustSigned(tb, MustParse(tb, fx.unsigned), k)
			fx.signed[k] = MustSerialize(tb, s)
			_, err := CombinePSBT(canonical, s, fx.w.d, 0)
			require.NoError(tb, err)
		}
		fx.combined = MustSerialize(tb, canonical)
	})
	require.NotNil(tb, benchFixture.w, "fixture failed to build")
	return &benchFixture
}

// fakeChange stands for the change script when estimating the fixture's
// fee: every P2WSH script has the same size.
var fakeChange = make([]byte, 34)

// BenchmarkCreatePSBT950 is the daemon building the proposal's PSBT.
// warm: the addresses spent were derived before, as the daemon's follower
// derived them when it started watching them; cold: a descriptor that has
// derived nothing yet, as for the first spend after a restart.
func BenchmarkCreatePSBT950(b *testing.B) {
	fx := MustBenchSpend(b)
	for _, warm := range []bool{true, false} {
		b.Run(cacheName(warm), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				params := fx.params
				if !warm {
					b.StopTimer()
					params.Descriptor = coldDescriptor(b, fx)
					b.StartTimer()
				}
				_, err := CreatePSBT(params)
				require.NoError(b, err)
			}
		})
	}
}

// cacheName names a warm or cold sub-benchmark.
func cacheName(warm bool) string {
	if warm {
		return "cache=warm"
	}
	return "cache=cold"
}

// coldDescriptor is the fixture's descriptor parsed again: nothing derived.
func coldDescriptor(tb testing.TB, fx *psbtBench) *Descriptor {
	tb.Helper()
	d, err := ParseDescriptor(fx.w.d.String(), fx.w.d.Network())
	require.NoError(tb, err)
	return d
}

// BenchmarkParsePSBT950 is reading the signed PSBT a signer returns.
func BenchmarkParsePSBT950(b *testing.B) {
	fx := MustBenchSpend(b)
	b.SetBytes(int64(len(fx.signed[0])))
	for b.Loop() {
		_, err := ParsePSBT(fx.signed[0])
		require.NoError(b, err)
	}
}

// BenchmarkSignerAnalyzeAndSign950 is one signer's work on a parsed PSBT:
// Analyze, then SignPSBT. warm: the signer derived these addresses before
// (custos-signer keeps them in an authenticated file, filled at register
// and after each signing); cold: it has derived none of them.
func BenchmarkSignerAnalyzeAndSign950(b *testing.B) {
	fx := MustBenchSpend(b)
	for _, warm := range []bool{true, false} {
		b.Run(cacheName(warm), func(b *testing.B) {
			var analyze, sign time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				p := MustParse(b, fx.unsigned)
				d := fx.w.d
				if !warm {
					d = coldDescriptor(b, fx)
				}
				b.StartTimer()
				start := time.Now()
				_, err := Analyze(p, d)
				require.NoError(b, err)
				mid := time.Now()
				n, err := SignPSBT(p, d, fx.w.xprvs[0])
				require.NoError(b, err)
				require.Equal(b, benchInputs, n)
				analyze += mid.Sub(start)
				sign += time.Since(mid)
			}
			b.ReportMetric(float64(analyze.Nanoseconds())/float64(b.N), "ns-analyze/op")
			b.ReportMetric(float64(sign.Nanoseconds())/float64(b.N), "ns-sign/op")
		})
	}
}

// BenchmarkCombine950 is the daemon importing both signers' PSBTs: 2 ×
// 950 partial signatures verified over GOMAXPROCS workers (warm: the
// daemon derived the addresses when it built the PSBT).
func BenchmarkCombine950(b *testing.B) {
	fx := MustBenchSpend(b)
	for _, warm := range []bool{true, false} {
		b.Run(cacheName(warm), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				canonical := MustParse(b, fx.unsigned)
				incoming := [2]*psbt.Packet{MustParse(b, fx.signed[0]), MustParse(b, fx.signed[1])}
				d := fx.w.d
				if !warm {
					d = coldDescriptor(b, fx)
				}
				b.StartTimer()
				for _, in := range incoming {
					refs, err := CombinePSBT(canonical, in, d, 0)
					require.NoError(b, err)
					require.Len(b, refs, benchInputs)
				}
			}
			b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "workers")
		})
	}
}

// BenchmarkFinalize950 is the daemon finalizing the combined PSBT.
func BenchmarkFinalize950(b *testing.B) {
	fx := MustBenchSpend(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := MustParse(b, fx.combined)
		b.StartTimer()
		_, err := FinalizePSBT(p, fx.w.d)
		require.NoError(b, err)
	}
}

// benchKeys are the raw crypto benchmarks' key and message hashes.
func benchKeys(n int) (*btcec.PrivateKey, [][]byte) {
	priv, _ := btcec.PrivKeyFromBytes(psbtSeed("raw crypto")[:32])
	hashes := make([][]byte, n)
	for i := range hashes {
		h := sha256.Sum256([]byte(fmt.Sprint("message ", i)))
		hashes[i] = h[:]
	}
	return priv, hashes
}

// BenchmarkECDSASign is the raw cost the signer cannot avoid: one op is
// 950 signatures, on one core and spread over GOMAXPROCS goroutines as
// SignPSBT spreads them.
func BenchmarkECDSASign(b *testing.B) {
	priv, hashes := benchKeys(benchInputs)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				_ = forEach(len(hashes), workers, func(i int) error {
					ecdsa.Sign(priv, hashes[i])
					return nil
				})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchInputs), "ns/sig")
		})
	}
}

// BenchmarkECDSAVerify is the raw cost the daemon cannot avoid: one op is
// 2 × 950 verifications spread over GOMAXPROCS goroutines, as
// CombinePSBT spreads them.
func BenchmarkECDSAVerify(b *testing.B) {
	priv, hashes := benchKeys(2 * benchInputs)
	pub := priv.PubKey()
	sigs := make([]*ecdsa.Signature, len(hashes))
	for i, h := range hashes {
		sigs[i] = ecdsa.Sign(priv, h)
	}
	for b.Loop() {
		err := forEach(len(hashes), 0, func(i int) error {
			if !sigs[i].Verify(hashes[i], pub) {
				return fmt.Errorf("signature %d does not verify", i)
			}
			return nil
		})
		require.NoError(b, err)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(hashes)), "ns/verify")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "workers")
}

// BenchmarkSighash950 is BIP-143 with the midstate computed once per
// transaction: the cost per input must not grow with the input count.
func BenchmarkSighash950(b *testing.B) {
	fx := MustBenchSpend(b)
	for _, n := range []int{95, benchInputs} {
		p := smallBenchSpend(b, fx, n)
		b.Run(fmt.Sprintf("inputs=%d", n), func(b *testing.B) {
			for b.Loop() {
				hashes := txscript.NewTxSigHashes(p.UnsignedTx, prevOutFetcher(p))
				for i, in := range p.Inputs {
					_, err := txscript.CalcWitnessSigHash(in.WitnessScript, hashes, txscript.SigHashAll, p.UnsignedTx, i, in.WitnessUtxo.Value)
					require.NoError(b, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/input")
		})
	}
}

// smallBenchSpend is the fixture's first n inputs with the same outputs.
func smallBenchSpend(tb testing.TB, fx *psbtBench, n int) *psbt.Packet {
	tb.Helper()
	benchSmallMu.Lock()
	defer benchSmallMu.Unlock()
	if p, ok := benchSmall[n]; ok {
		return p
	}
	p := MustParse(tb, fx.unsigned)
	p.UnsignedTx.TxIn = p.UnsignedTx.TxIn[:n]
	p.Inputs = p.Inputs[:n]
	benchSmall[n] = p
	return p
}
