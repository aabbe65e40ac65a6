// Package spendtest makes the largest spend a ministry signer is asked to
// sign, for the benchmarks of package signer and of the online agent
// (signer/agent), so both measure the same request: a signer data
// directory with a 2-of-3 wallet registered and the test policy pinned,
// and a 950-input spend of that wallet approved by the officers of
// package signertest. It is imported by tests only; its keys come from
// fixed mnemonics with cheap key-file parameters.
//
// It is a package of its own, not part of signertest, because it imports
// signer: signertest stays importable by signer's internal tests and by
// tests of binaries that do not link the signer.
package spendtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// Inputs is the size of the spend, as in multisig's benchmarks: 950 2-of-3
// inputs and two outputs weigh about 99,900 vB, just under the 100,000 vB
// (400,000 weight) standardness limit.
const Inputs = 950

// FeeRate is the spend's fee rate in sat/vB, as in multisig's benchmarks:
// about 0.0099 BTC, just within the default fee ceiling.
const FeeRate = 10

// Figures of the spend.
const (
	// PayeeSat is paid to the allowlisted payee (PayeeScript).
	PayeeSat int64 = 70_000_000
	// ChangeIndex is the change output's index on the change branch;
	// the coins sit above it.
	ChangeIndex = uint32(3)
	// ProposalID is the proposal the officers approved.
	ProposalID = "P000001"
)

// Passphrase is the ministries' key-file passphrase.
var Passphrase = []byte("correct horse battery")

// mnemonics are the three ministries' fixed mnemonics: the first is the
// signer under test (BIP-39 test vectors: entropy 00…00 with 24 words,
// 00…00 with 12, 7f…7f with 12), as in package signer's wallet fixture.
var mnemonics = []string{
	strings.Repeat("abandon ", 23) + "art",
	strings.Repeat("abandon ", 11) + "about",
	"legal winner thank year wave sausage worth useful legal winner thank yellow",
}

// Spend is the fixture: the signer under test's data directory and key,
// what it pinned, and the approved PSBT.
type Spend struct {
	// Dir is the signer under test's data directory: key file, wallet
	// and policy pinned, the first DerivedWindow addresses of each branch
	// derived; no ledger. Copy it (MustCopyDir) before signing into it.
	Dir string
	// Key is Dir's unlocked key, zeroed when the test ends.
	Key        *signer.Key
	Descriptor *multisig.Descriptor
	Policy     *reserve.Policy
	// PSBT is the approved, unsigned PSBT, serialized: each signing
	// parses its own copy.
	PSBT []byte
}

// MustApprovedSpend builds the fixture: three ministries restored from
// fixed mnemonics, each with the 2-of-3 wallet of their keys registered
// and signertest.PolicyYAML pinned (the payee allowlisted); 950 coins of
// 0.01 BTC or so, each in its own previous transaction (so each input has
// its own non_witness_utxo), alternating between the receive and change
// branches at indexes 4 to 478; 0.7 BTC to the payee, the rest less a fee
// of FeeRate to change index 3. The intent's fee cap is that fee; alice,
// bob and carol approve it (two would do).
func MustApprovedSpend(tb testing.TB) *Spend {
	tb.Helper()
	s := &Spend{}
	cfg := signer.Config{Network: reserve.Regtest, KDF: signer.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}}
	dirs := make([]string, len(mnemonics))
	keys := make([]*signer.Key, len(mnemonics))
	recs := make([]reserve.Cosigner, len(mnemonics))
	for i, mn := range mnemonics {
		dirs[i] = tb.TempDir()
		rec, err := signer.Restore(dirs[i], cfg, mn, Passphrase)
		require.NoError(tb, err)
		key, err := signer.Unlock(dirs[i], Passphrase)
		require.NoError(tb, err)
		tb.Cleanup(key.Zero)
		keys[i], recs[i] = key, rec
	}
	desc := mustDescriptor(tb, recs)
	policy := signertest.PolicyYAML(signertest.Officers(), PayeeAddress(tb))
	for i := range dirs {
		reg, err := signer.Register(dirs[i], keys[i], desc, false)
		require.NoError(tb, err)
		pin, err := signer.PinPolicy(dirs[i], keys[i], policy, nil)
		require.NoError(tb, err)
		s.Descriptor, s.Policy = reg.Descriptor, pin.Policy
	}
	s.Dir, s.Key = dirs[0], keys[0]

	p := s.mustCreate(tb)
	in := signertest.MustIntent(tb, p, s.Descriptor, s.Policy.Hash())
	in.FeeCapSat = s.fee(tb)
	require.NoError(tb, in.Validate())
	require.Equal(tb, ProposalID, in.ProposalID)
	signertest.MustSetApprovals(tb, p, in, signertest.Officers()...)
	var err error
	s.PSBT, err = multisig.SerializePSBT(p)
	require.NoError(tb, err)
	return s
}

// fee is the spend's fee: FeeRate on its estimated size.
func (s *Spend) fee(tb testing.TB) int64 {
	tb.Helper()
	return multisig.EstimateVSize(2, 3, Inputs, [][]byte{PayeeScript(tb), s.change(tb).PkScript}) * FeeRate
}

// change is the change output's address.
func (s *Spend) change(tb testing.TB) multisig.Derived {
	tb.Helper()
	d, err := s.Descriptor.Derive(reserve.BranchChange, ChangeIndex)
	require.NoError(tb, err)
	return d
}

// mustCreate builds the unsigned PSBT as the coordinator would.
func (s *Spend) mustCreate(tb testing.TB) *psbt.Packet {
	tb.Helper()
	prevs := make(map[chainhash.Hash]*wire.MsgTx, Inputs)
	inputs := make([]reserve.Input, 0, Inputs)
	var total int64
	for i := range Inputs {
		b, idx := reserve.Branch(i%2), ChangeIndex+1+uint32(i/2)
		der, err := s.Descriptor.Derive(b, idx)
		require.NoError(tb, err)
		amount := 1_000_000 + int64(i)
		prev := wire.NewMsgTx(2)
		prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{byte(i)}, Index: 7}, nil, nil))
		prev.AddTxOut(wire.NewTxOut(amount, der.PkScript))
		prevs[prev.TxHash()] = prev
		inputs = append(inputs, reserve.Input{
			OutPoint:  wire.OutPoint{Hash: prev.TxHash(), Index: 0},
			AmountSat: amount, Branch: b, Index: idx,
		})
		total += amount
	}
	require.Len(tb, prevs, Inputs, "every coin has its own previous transaction")
	fee := s.fee(tb)
	idx := ChangeIndex
	p, err := multisig.CreatePSBT(multisig.CreateParams{
		Descriptor: s.Descriptor,
		Inputs:     inputs,
		PrevTxs:    prevs,
		Outputs: []multisig.Output{
			{Script: PayeeScript(tb), AmountSat: PayeeSat},
			{Script: s.change(tb).PkScript, AmountSat: total - PayeeSat - fee, ChangeIndex: &idx},
		},
	})
	require.NoError(tb, err)
	return p
}

// MustCopyDir copies Dir into a new directory (its files, not its lock
// file): a data directory in which a signature starts a new ledger.
func (s *Spend) MustCopyDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	files, err := os.ReadDir(s.Dir)
	require.NoError(tb, err)
	for _, e := range files {
		if e.Name() == signer.LockFileName {
			continue
		}
		require.True(tb, e.Type().IsRegular(), "%s in the data directory is not a file", e.Name())
		data, err := os.ReadFile(filepath.Join(s.Dir, e.Name()))
		require.NoError(tb, err)
		require.NoError(tb, os.WriteFile(filepath.Join(dir, e.Name()), data, 0o600))
	}
	return dir
}

// PayeeScript is the payee's output script: P2WPKH of a fixed key.
func PayeeScript(tb testing.TB) []byte {
	tb.Helper()
	_, pub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{0x42}, 32))
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), &chaincfg.RegressionNetParams)
	require.NoError(tb, err)
	script, err := txscript.PayToAddrScript(addr)
	require.NoError(tb, err)
	return script
}

// PayeeAddress is PayeeScript's regtest address, as the policy lists it.
func PayeeAddress(tb testing.TB) string {
	tb.Helper()
	_, addrs, _, err := txscript.ExtractPkScriptAddrs(PayeeScript(tb), &chaincfg.RegressionNetParams)
	require.NoError(tb, err)
	return addrs[0].EncodeAddress()
}

// mustDescriptor is wsh(sortedmulti(2, …)) of recs with its checksum.
func mustDescriptor(tb testing.TB, recs []reserve.Cosigner) string {
	tb.Helper()
	parts := make([]string, len(recs))
	for i, k := range recs {
		parts[i] = multisig.FormatKeyRecord(k) + "/<0;1>/*"
	}
	body := "wsh(sortedmulti(2," + strings.Join(parts, ",") + "))"
	sum, err := multisig.DescriptorChecksum(body)
	require.NoError(tb, err)
	return body + "#" + sum
}
