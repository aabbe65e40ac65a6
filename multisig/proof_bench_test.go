package multisig

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// proofBenchCoins is the size of the proof the issue sets goals for:
// 10,000 coins, built in under 1 s and verified in under 5 s on 2 cores.
const proofBenchCoins = 10_000

// proofBench is a 2-of-3 wallet's proof over n coins, each at its own
// address in its own previous transaction, built, signed by two
// cosigners and finalized once.
type proofBench struct {
	s         *proofSet
	challenge []byte
	final     *wire.MsgTx
}

var (
	proofBenchMu       sync.Mutex
	proofBenchFixtures = map[int]*proofBench{}
)

// MustProofBench returns the fixture of n coins, making it the first time.
func MustProofBench(tb testing.TB, n int) *proofBench {
	tb.Helper()
	proofBenchMu.Lock()
	defer proofBenchMu.Unlock()
	if fx, ok := proofBenchFixtures[n]; ok {
		return fx
	}
	s := MustProofSet(tb, MustPSBTWallet(tb, "bench proof", 2, 3), benchCoins(n))
	fx := &proofBench{s: s, challenge: s.MustChallenge(tb), final: s.MustFinal(tb, testProofMessage)}
	proofBenchFixtures[n] = fx
	return fx
}

// BenchmarkBuildProof10k is the daemon building the proof PSBT over
// 10,000 coins. warm: the descriptor has derived the addresses, as the
// daemon's has once it watches them; cold: nothing derived yet (30,000
// child keys to derive). coins=1 is the same-run baseline.
func BenchmarkBuildProof10k(b *testing.B) {
	for _, n := range []int{1, proofBenchCoins} {
		fx := MustProofBench(b, n)
		for _, warm := range []bool{true, false} {
			b.Run(fmt.Sprintf("coins=%d/%s", n, cacheName(warm)), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					d := fx.s.w.d
					if !warm {
						b.StopTimer()
						var err error
						d, err = ParseDescriptor(d.String(), d.Network())
						require.NoError(b, err)
						b.StartTimer()
					}
					_, err := d.BuildProof([]byte(testProofMessage), fx.s.coins)
					require.NoError(b, err)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/coin")
			})
		}
	}
}

// BenchmarkVerifyProof10k is the public verifier checking the finalized
// proof over 10,000 coins: one script execution (two ECDSA verifications)
// per coin, over every core (GOMAXPROCS) and, for the ratio, over one.
// coins=1 is the same-run baseline.
func BenchmarkVerifyProof10k(b *testing.B) {
	for _, n := range []int{1, proofBenchCoins} {
		fx := MustProofBench(b, n)
		for _, workers := range []int{runtime.GOMAXPROCS(0), 1} {
			b.Run(fmt.Sprintf("coins=%d/workers=%d", n, workers), func(b *testing.B) {
				for b.Loop() {
					total, err := VerifyProof(fx.final, []byte(testProofMessage), fx.challenge, fx.s.prevOuts, workers)
					require.NoError(b, err)
					require.Equal(b, fx.s.total, total)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/coin")
			})
		}
	}
}

// BenchmarkCheckProof10k is a signer's check of the 10,000-coin proof
// PSBT with a warm descriptor, before it shows and signs it.
func BenchmarkCheckProof10k(b *testing.B) {
	fx := MustProofBench(b, proofBenchCoins)
	p := fx.s.MustBuild(b, testProofMessage)
	for b.Loop() {
		_, err := CheckProof(p, fx.s.w.d)
		require.NoError(b, err)
	}
}
