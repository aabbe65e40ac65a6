package signer_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
	"github.com/custos-reserve/custos/signer/signertest/spendtest"
)

// What the officer-approval checks and the ledger add to a ministry
// signer's work on the largest spend, against multisig's
// BenchmarkSignerAnalyzeAndSign950 (Analyze and SignPSBT alone), which
// BenchmarkAnalyzeAndSign950 repeats here on this package's spend.

// benchInputs is the size of the benchmark spend (spendtest.Inputs).
const benchInputs = spendtest.Inputs

// benchLedgerEntries is how many earlier signatures the ledger of the
// Ledger1000 benchmarks holds.
const benchLedgerEntries = 1000

// approvedSpend is the signer benchmarks' fixture, spendtest's: the
// signer under test's data directory with the wallet and policy pinned,
// and a 950-input spend of it approved by all three officers (the same
// request the agent's benchmarks sign).
type approvedSpend struct {
	*spendtest.Spend
}

// MustApprovedSpend builds the fixture (spendtest.MustApprovedSpend).
func MustApprovedSpend(tb testing.TB) *approvedSpend {
	tb.Helper()
	return &approvedSpend{Spend: spendtest.MustApprovedSpend(tb)}
}

// packet is a fresh copy of the approved PSBT.
func (a *approvedSpend) packet(tb testing.TB) *psbt.Packet {
	tb.Helper()
	p, err := multisig.ParsePSBT(a.PSBT)
	require.NoError(tb, err)
	return p
}

// pinned is the signer under test's wallet as custos-signer sign loads it.
// warm: the pinned descriptor with the derived-address file that register
// wrote (the first DerivedWindow addresses of each branch, which hold
// every input and the change), verified under the key; cold: the pinned
// descriptor alone, which has derived nothing.
func (a *approvedSpend) pinned(tb testing.TB, warm bool) *signer.Pinned {
	tb.Helper()
	d, err := signer.LoadDescriptor(a.Dir, reserve.Regtest)
	require.NoError(tb, err)
	if warm {
		derived, err := signer.LoadDerived(a.Dir, d)
		require.NoError(tb, err)
		require.Equal(tb, 2*signer.DerivedWindow, derived.Count())
		require.NoError(tb, derived.Verify(a.Key))
	}
	p, err := signer.Place(d, a.Key)
	require.NoError(tb, err)
	return p
}

// rules are the pinned policy, the test clock, the default fee ceilings
// and a ledger in a new directory holding ledger, the bytes of a ledger
// file (nil: no file, an empty ledger).
func (a *approvedSpend) rules(tb testing.TB, ledger []byte) signer.Rules {
	tb.Helper()
	l, err := signer.OpenLedger(MustStateDir(tb, a.Dir, ledger))
	require.NoError(tb, err)
	return signer.Rules{Policy: a.Policy, Ledger: l, Now: signertest.Now}
}

// MustLedgerWith opens a ledger in a new directory whose file holds data;
// nil data writes no file. Its state record records an empty ledger and
// is not authenticated: enough for Entries and Append, not for Sign.
func MustLedgerWith(tb testing.TB, data []byte) *signer.Ledger {
	tb.Helper()
	dir := tb.TempDir()
	require.NoError(tb, os.WriteFile(filepath.Join(dir, signer.StateFileName), []byte(unauthenticatedState), 0o600))
	if data != nil {
		require.NoError(tb, os.WriteFile(filepath.Join(dir, signer.LedgerFileName), data, 0o600))
	}
	l, err := signer.OpenLedger(dir)
	require.NoError(tb, err)
	return l
}

// earlierEntries are n signatures for other intents, one every 40 minutes
// back from the test clock: for n = 1,000, 35 in the last day and all
// within 30 days, so every one is read into the velocity figures. Each
// paid 0.001 BTC (1 BTC in all, well within the policy's caps) and spent
// three coins, a line of 537 bytes.
func earlierEntries(n int) []signer.LedgerEntry {
	entries := make([]signer.LedgerEntry, n)
	for i := range entries {
		digest := sha256.Sum256(fmt.Appendf(nil, "earlier intent %d", i))
		coins := chainhash.Hash(sha256.Sum256(digest[:]))
		e := entryFor(digest, 0, 100_000, signertest.Now().Add(-time.Duration(i+1)*40*time.Minute),
			wire.OutPoint{Hash: coins, Index: 0}, wire.OutPoint{Hash: coins, Index: 1}, wire.OutPoint{Hash: coins, Index: 2})
		e.TxID = chainhash.DoubleHashH(digest[:])
		e.ProposalID = fmt.Sprintf("P%06d", i+2)
		entries[i] = e
	}
	return entries
}

// MustLedgerFile is the ledger file that appending entries under key
// writes (a signer reads it only when key is its own); it
// checks that the file reads back as entries.
func MustLedgerFile(tb testing.TB, key *signer.Key, entries []signer.LedgerEntry) []byte {
	tb.Helper()
	l := MustLedgerWith(tb, nil)
	for _, e := range entries {
		require.NoError(tb, l.Append(key, e))
	}
	got, err := l.Entries()
	require.NoError(tb, err)
	require.Equal(tb, entries, got)
	data, err := os.ReadFile(l.Path())
	require.NoError(tb, err)
	return data
}

// cacheName names a warm or cold sub-benchmark, as multisig's benchmarks
// do.
func cacheName(warm bool) string {
	if warm {
		return "cache=warm"
	}
	return "cache=cold"
}

// BenchmarkCheck950 is signer.Check on the approved spend with an empty
// ledger (no file): Analyze and the fee ceilings, then the approvals —
// the intent read from the PSBT, its outputs matched, its digest, three
// Ed25519 approvals verified, the policy's tiers, fees and velocity.
func BenchmarkCheck950(b *testing.B) {
	a := MustApprovedSpend(b)
	for _, warm := range []bool{true, false} {
		b.Run(cacheName(warm), func(b *testing.B) { benchCheck(b, a, warm, nil) })
	}
}

// BenchmarkCheck950Ledger1000 is BenchmarkCheck950 with 1,000 earlier
// signatures for other intents in the ledger, all within 30 days: Check
// reads and parses the whole file for the velocity figures.
func BenchmarkCheck950Ledger1000(b *testing.B) {
	a := MustApprovedSpend(b)
	ledger := MustLedgerFile(b, a.Key, earlierEntries(benchLedgerEntries))
	for _, warm := range []bool{true, false} {
		b.Run(cacheName(warm), func(b *testing.B) { benchCheck(b, a, warm, ledger) })
	}
}

// benchCheck runs Check on one copy of the spend (Check never changes
// it) with a ledger holding ledger; cold gives each iteration a
// descriptor that has derived nothing.
func benchCheck(b *testing.B, a *approvedSpend, warm bool, ledger []byte) {
	p, rules := a.packet(b), a.rules(b, ledger)
	var d *multisig.Descriptor
	if warm {
		d = a.pinned(b, true).Descriptor
	}
	for b.Loop() {
		if !warm {
			b.StopTimer()
			d = a.pinned(b, false).Descriptor
			b.StartTimer()
		}
		s, err := signer.Check(p, d, rules)
		require.NoError(b, err)
		require.Len(b, s.Approved.Officers, 3)
	}
}

// BenchmarkSign950 is signer.Sign on the approved spend with an empty
// ledger: everything Check does, then the key's 950 signatures, then the
// transaction's entry (its 950 inputs) appended to the ledger and synced
// to disk with its directory. Each iteration signs a fresh copy of the
// PSBT into a ledger in a new directory.
func BenchmarkSign950(b *testing.B) {
	a := MustApprovedSpend(b)
	for _, warm := range []bool{true, false} {
		b.Run(cacheName(warm), func(b *testing.B) { benchSign(b, a, warm, nil) })
	}
}

// BenchmarkSign950Ledger1000 is BenchmarkSign950 with the 1,000 earlier
// signatures of BenchmarkCheck950Ledger1000 in each iteration's ledger.
func BenchmarkSign950Ledger1000(b *testing.B) {
	a := MustApprovedSpend(b)
	ledger := MustLedgerFile(b, a.Key, earlierEntries(benchLedgerEntries))
	for _, warm := range []bool{true, false} {
		b.Run(cacheName(warm), func(b *testing.B) { benchSign(b, a, warm, ledger) })
	}
}

// benchSign runs Sign on a fresh copy of the spend into a ledger in a new
// directory holding ledger, so the ledger never grows across iterations;
// cold gives each iteration a descriptor that has derived nothing.
func benchSign(b *testing.B, a *approvedSpend, warm bool, ledger []byte) {
	key := a.Key
	var pinned *signer.Pinned
	if warm {
		pinned = a.pinned(b, true)
	}
	var rules signer.Rules
	for b.Loop() {
		b.StopTimer()
		p := a.packet(b)
		rules = a.rules(b, ledger)
		if !warm {
			pinned = a.pinned(b, false)
		}
		b.StartTimer()
		_, n, err := signer.Sign(p, pinned, key, rules)
		require.NoError(b, err)
		require.Equal(b, benchInputs, n)
	}
	// The last iteration's ledger: what it held, and this signature.
	want := 1
	if ledger != nil {
		want += benchLedgerEntries
	}
	entries, err := rules.Ledger.Entries()
	require.NoError(b, err)
	require.Len(b, entries, want)
}

// BenchmarkAnalyzeAndSign950 is multisig's BenchmarkSignerAnalyzeAndSign950
// on this package's approved spend and pinned wallet: Analyze, then the
// key's account key and SignPSBT, with none of the approval checks or the
// ledger. Its figures are the base the Check and Sign benchmarks are
// compared with.
func BenchmarkAnalyzeAndSign950(b *testing.B) {
	a := MustApprovedSpend(b)
	key := a.Key
	for _, warm := range []bool{true, false} {
		b.Run(cacheName(warm), func(b *testing.B) {
			var analyze, sign time.Duration
			var d *multisig.Descriptor
			if warm {
				d = a.pinned(b, true).Descriptor
			}
			for b.Loop() {
				b.StopTimer()
				p := a.packet(b)
				if !warm {
					d = a.pinned(b, false).Descriptor
				}
				b.StartTimer()
				start := time.Now()
				_, err := multisig.Analyze(p, d)
				require.NoError(b, err)
				mid := time.Now()
				account, err := key.AccountKey()
				require.NoError(b, err)
				n, err := multisig.SignPSBT(p, d, account)
				account.Zero()
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

// BenchmarkLedgerEntries1000 is Ledger.Entries reading the 1,000-line
// ledger of BenchmarkCheck950Ledger1000, as Check and Sign do before
// every signature.
func BenchmarkLedgerEntries1000(b *testing.B) {
	data := MustLedgerFile(b, newWalletFixture(b).us().key, earlierEntries(benchLedgerEntries))
	l := MustLedgerWith(b, data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		entries, err := l.Entries()
		require.NoError(b, err)
		require.Len(b, entries, benchLedgerEntries)
	}
}

// BenchmarkLedgerAppend950 is Ledger.Append of the entry Sign writes for
// a 950-input transaction (a line of about 66 KB), encoded, checked,
// written and synced to disk with its directory, into an empty ledger
// (the file is created) and into one of 1,000 earlier entries. Each
// iteration appends to a ledger in a new directory.
func BenchmarkLedgerAppend950(b *testing.B) {
	ins := make([]wire.OutPoint, benchInputs)
	for i := range ins {
		ins[i] = wire.OutPoint{Hash: chainhash.Hash(sha256.Sum256(fmt.Appendf(nil, "coin %d", i)))}
	}
	e := entryFor([32]byte{0x01}, 0x01, payeeSat, signertest.Now(), ins...)
	key := newWalletFixture(b).us().key
	earlier := MustLedgerFile(b, key, earlierEntries(benchLedgerEntries))
	for _, ledger := range []struct {
		name string
		data []byte
	}{
		{name: "ledger=0", data: nil},
		{name: fmt.Sprintf("ledger=%d", benchLedgerEntries), data: earlier},
	} {
		b.Run(ledger.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				l := MustLedgerWith(b, ledger.data)
				b.StartTimer()
				require.NoError(b, l.Append(key, e))
			}
		})
	}
}
