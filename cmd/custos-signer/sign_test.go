package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
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

// signFixture is a signer data dir with the "abandon … art" key, a
// 2-of-3 wallet registered and the test policy pinned
// (signertest.PolicyYAML, the payee allowlisted), and a PSBT file
// spending two of its coins, approved by alice and bob.
type signFixture struct {
	dir    string
	desc   *multisig.Descriptor
	policy *reserve.Policy
	in     string // the unsigned PSBT, binary
	pkt    *psbt.Packet
	intent *reserve.Intent
	inputs []reserve.Input
	payee  string
}

func newSignFixture(t *testing.T) *signFixture {
	t.Helper()
	f := &signFixture{dir: filepath.Join(t.TempDir(), "signer")}
	MustRestore(t, f.dir)
	key, err := signer.Unlock(f.dir, []byte(testPassphrase))
	require.NoError(t, err)
	defer key.Zero()
	f.desc = MustDescriptor(t, 2, MustCosigner(t, 1), key.Record(), MustCosigner(t, 2))
	_, err = signer.Register(f.dir, key, f.desc.String(), false)
	require.NoError(t, err)

	derive := func(b reserve.Branch, i uint32) multisig.Derived {
		der, err := f.desc.Derive(b, i)
		require.NoError(t, err)
		return der
	}
	prev := wire.NewMsgTx(2)
	prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{1}}, nil, nil))
	prev.AddTxOut(wire.NewTxOut(60_000_000, derive(reserve.BranchReceive, 0).PkScript))
	prev.AddTxOut(wire.NewTxOut(40_000_000, derive(reserve.BranchChange, 2).PkScript))
	f.inputs = []reserve.Input{
		{OutPoint: wire.OutPoint{Hash: prev.TxHash(), Index: 0}, AmountSat: 60_000_000, Branch: reserve.BranchReceive, Index: 0},
		{OutPoint: wire.OutPoint{Hash: prev.TxHash(), Index: 1}, AmountSat: 40_000_000, Branch: reserve.BranchChange, Index: 2},
	}
	_, pub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{0x42}, 32))
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	f.payee = addr.EncodeAddress()
	payScript, err := txscript.PayToAddrScript(addr)
	require.NoError(t, err)
	idx := uint32(3)
	f.pkt, err = multisig.CreatePSBT(multisig.CreateParams{
		Descriptor: f.desc,
		Inputs:     f.inputs,
		PrevTxs:    map[chainhash.Hash]*wire.MsgTx{prev.TxHash(): prev},
		Outputs: []multisig.Output{
			{Script: payScript, AmountSat: 70_000_000},
			{Script: derive(reserve.BranchChange, 3).PkScript, AmountSat: 29_985_000, ChangeIndex: &idx},
		},
	})
	require.NoError(t, err)
	pin, err := signer.PinPolicy(f.dir, key, signertest.PolicyYAML(signertest.Officers(), f.payee), nil)
	require.NoError(t, err)
	f.policy = pin.Policy
	f.intent = signertest.MustApprove(t, f.pkt, f.desc, f.policy.Hash(), signertest.Alice(), signertest.Bob())
	f.in = f.write(t, "unsigned.psbt", f.bytes(t))
	return f
}

func (f *signFixture) bytes(t *testing.T) []byte {
	t.Helper()
	b, err := multisig.SerializePSBT(f.pkt)
	require.NoError(t, err)
	return b
}

func (f *signFixture) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

func (f *signFixture) out(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "signed.psbt")
}

// runSign runs "custos-signer sign" with the passphrase in the
// environment and stdin as the only place an answer can come from (no
// terminal).
func runSign(t *testing.T, passphrase, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errOut,
		lookupEnv: func(k string) (string, bool) {
			if k == signer.EnvPassphrase && passphrase != "" {
				return passphrase, true
			}
			return "", false
		},
		homeDir: func() (string, error) { return "", os.ErrNotExist },
		now:     signertest.Now,
	}
	err := c.run(context.Background(), append([]string{"sign"}, args...))
	code := exitCode(err, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), err: err, code: code}
}

// requireSigned checks that path holds the fixture's transaction with this
// signer's signature on every input.
func (f *signFixture) requireSigned(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	p, err := signer.ReadPSBT(path)
	require.NoError(t, err)
	require.Equal(t, f.pkt.UnsignedTx.TxHash(), p.UnsignedTx.TxHash())
	for i, in := range p.Inputs {
		der, err := f.desc.Derive(f.inputs[i].Branch, f.inputs[i].Index)
		require.NoError(t, err)
		require.Len(t, in.PartialSigs, 1, "input %d", i)
		require.Equal(t, der.PubKeys[1], in.PartialSigs[0].PubKey, "input %d: cosigner 2's key", i)
	}
	// The coordinator takes it into (a copy of) its canonical PSBT.
	canonical, err := multisig.ParsePSBT(f.bytes(t))
	require.NoError(t, err)
	refs, err := multisig.CombinePSBT(canonical, p, f.desc, 1)
	require.NoError(t, err)
	require.Len(t, refs, len(f.inputs))
}

func TestSignYes(t *testing.T) {
	f := newSignFixture(t)
	out := f.out(t)
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes")
	require.NoError(t, r.err, r.stderr)
	f.requireSigned(t, out)

	// The summary: who approved under which policy, every payee, the
	// change and its index, the fee, the inputs.
	policyHash := f.policy.Hash()
	for _, want := range []string{
		"Wallet:      " + f.desc.WalletID() + " (2-of-3), as pinned by this signer",
		"Transaction: " + f.pkt.UnsignedTx.TxHash().String(),
		"Proposal:    P000001\n",
		"Policy:      " + hex.EncodeToString(policyHash[:]) + " (pinned by this signer)\n",
		"Expires:     2026-12-08T12:00:00Z\n",
		"Fee cap:     0.00050000 BTC\n",
		"Approved by 2 officer(s), 2 needed:\n  alice  Alice Moreau\n  bob    Bob Okafor\n",
		"Pays 0.70000000 BTC to 1 payee(s) outside the wallet:",
		"output 0   " + f.payee,
		"0.70000000 BTC",
		"Change back to this wallet (recomputed from the pinned descriptor):",
		"0.29985000 BTC  change index 3",
		"Fee:         0.00015000 BTC  (",
		"Spends 2 input(s) of this wallet, 1.00000000 BTC:",
		f.inputs[0].OutPoint.String(), "0.60000000 BTC  receive/0",
		f.inputs[1].OutPoint.String(), "0.40000000 BTC  change/2",
		"Signed as cosigner 2 of 3: 2 signature(s) added.",
		"Wrote " + out + " (binary PSBT)",
	} {
		require.Contains(t, r.stdout, want)
	}
	require.NotContains(t, r.stderr, "Sign this transaction?")
	// The ledger as the state record seals it, to be written down off the
	// machine.
	require.Contains(t, r.stdout, "\nLedger: 1 entries, head "+stateValue(t, f.dir, "ledger_head")+"\n")
	require.Equal(t, "1", stateValue(t, f.dir, "ledger_entries"))

	// Signing the signed file again adds nothing.
	out2 := f.out(t)
	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", out, "--out", out2, "--yes")
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "Nothing to add: this signer (cosigner 2 of 3) had already signed every input.")
	a, err := os.ReadFile(out)
	require.NoError(t, err)
	b, err := os.ReadFile(out2)
	require.NoError(t, err)
	require.Equal(t, a, b)
}

func TestSignConfirmation(t *testing.T) {
	tests := []struct {
		answer string
		signed bool
	}{
		{answer: "y\n", signed: true},
		{answer: "YES\n", signed: true},
		{answer: " yes \n", signed: true},
		{answer: "y", signed: true},
		{answer: "n\n"},
		{answer: "\n"},
		{answer: ""},
		{answer: "yes please\n"},
		{answer: "no\ny\n"},
	}
	f := newSignFixture(t)
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.answer), func(t *testing.T) {
			out := f.out(t)
			r := runSign(t, testPassphrase, tt.answer, "--datadir", f.dir, "--in", f.in, "--out", out)
			require.Contains(t, r.stdout, "Pays 0.70000000 BTC to 1 payee(s)")
			require.Contains(t, r.stderr, "Sign this transaction? [y/N] ")
			// The question comes after the whole summary.
			if tt.signed {
				require.NoError(t, r.err, r.stderr)
				f.requireSigned(t, out)
				return
			}
			require.Equal(t, 1, r.code)
			require.True(t, strings.HasSuffix(r.stderr, "custos-signer: not signed: declined by the operator\n"), r.stderr)
			require.NoFileExists(t, out)
			require.NotContains(t, r.stdout, "Signed")
		})
	}
}

func TestSignJSON(t *testing.T) {
	f := newSignFixture(t)
	out := f.out(t)
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes", "--json")
	require.NoError(t, r.err, r.stderr)
	o := decode[signOutput](t, r.stdout)
	require.Equal(t, f.desc.WalletID(), o.WalletID)
	require.Equal(t, 2, o.Threshold)
	require.Equal(t, 3, o.Total)
	require.Equal(t, f.pkt.UnsignedTx.TxHash().String(), o.TxID)
	require.Equal(t, []signPayee{{Vout: 0, Address: f.payee, AmountSat: 70_000_000}}, o.Payees)
	require.Len(t, o.Change, 1)
	require.Equal(t, uint32(3), o.Change[0].Index)
	require.Equal(t, 1, o.Change[0].Vout)
	require.Equal(t, int64(29_985_000), o.Change[0].AmountSat)
	require.Equal(t, []signInput{
		{OutPoint: f.inputs[0].OutPoint.String(), AmountSat: 60_000_000, Branch: "receive", Index: 0},
		{OutPoint: f.inputs[1].OutPoint.String(), AmountSat: 40_000_000, Branch: "change", Index: 2},
	}, o.Inputs)
	require.Equal(t, int64(15_000), o.FeeSat)
	require.Equal(t, int64(100_000_000), o.InputSat)
	require.Positive(t, o.VSize)
	require.Regexp(t, `^\d+\.\d$`, o.FeeRate.String())
	policyHash := f.policy.Hash()
	require.Equal(t, signApproval{
		PolicyHash: hex.EncodeToString(policyHash[:]),
		ProposalID: "P000001",
		ExpiresAt:  "2026-12-08T12:00:00Z",
		FeeCapSat:  signertest.FeeCapSat,
		ApprovedBy: []signOfficer{{ID: "alice", Name: "Alice Moreau"}, {ID: "bob", Name: "Bob Okafor"}},
		Needed:     2,
		Replaces:   []string{},
		Supersedes: []string{},
		Conflicts:  []signConflict{},
	}, o.Approval)
	require.Equal(t, 2, o.SignaturesAdded)
	require.Equal(t, out, o.Out)
	require.Equal(t, uint64(1), o.LedgerEntries)
	require.Equal(t, stateValue(t, f.dir, "ledger_head"), o.LedgerHead)
	f.requireSigned(t, out)

	// Without --yes the summary goes where the question is asked, and
	// stdout stays pure JSON.
	out = f.out(t)
	r = runSign(t, testPassphrase, "y\n", "--datadir", f.dir, "--in", f.in, "--out", out, "--json")
	require.NoError(t, r.err, r.stderr)
	decode[signOutput](t, r.stdout)
	require.Contains(t, r.stderr, "Pays 0.70000000 BTC")
	require.Contains(t, r.stderr, "Sign this transaction? [y/N] ")
}

func TestSignBase64(t *testing.T) {
	f := newSignFixture(t)
	in := f.write(t, "unsigned.txt", []byte(base64.StdEncoding.EncodeToString(f.bytes(t))+"\n"))
	out := f.out(t)
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", in, "--out", out, "--yes", "--base64")
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "(base64 PSBT)")
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(data), "cHNidP8"))
	f.requireSigned(t, out)
}

func TestSignRefusals(t *testing.T) {
	f := newSignFixture(t)
	good := f.bytes(t)
	nonePSBT := func() []byte {
		p, err := multisig.ParsePSBT(good)
		require.NoError(t, err)
		p.Inputs[1].SighashType = txscript.SigHashNone
		b, err := multisig.SerializePSBT(p)
		require.NoError(t, err)
		return b
	}()

	tests := []struct {
		name string
		in   []byte
		big  int // the file is truncated (grown) to this many bytes when set
		args []string
		want string
	}{
		{name: "truncated file", in: good[:len(good)/2], want: "unsigned.psbt: malformed PSBT: "},
		{name: "not a PSBT", in: []byte("hello, ministry\n"), want: "malformed PSBT: neither binary"},
		{name: "empty file", in: []byte{}, want: "is empty, not a PSBT"},
		{name: "over the size limit", big: multisig.MaxPSBTBytes + 1, want: "33554433 bytes is more than the 33554432 allowed"},
		{name: "over the file size limit", big: multisig.MaxPSBTFileBytes + 1, want: fmt.Sprintf("a PSBT file may have at most %d bytes", multisig.MaxPSBTFileBytes)},
		{name: "sighash NONE", in: nonePSBT, want: "custos-signer: input[1]: sighash type NONE (0x2) is not allowed, only ALL\n"},
		{name: "fee over --max-fee", in: good, args: []string{"--max-fee", "0.0001"},
			want: "custos-signer: fee 0.00015000 BTC is over this signer's ceiling of 0.00010000 BTC\n"},
		{name: "fee rate over --max-feerate", in: good, args: []string{"--max-feerate", "2"},
			want: "is over this signer's ceiling of 2 sat/vB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := f.write(t, "unsigned.psbt", tt.in)
			if tt.big > 0 {
				require.NoError(t, os.WriteFile(in, good, 0o600))
				require.NoError(t, os.Truncate(in, int64(tt.big)))
			}
			out := f.out(t)
			// "y" on stdin: a refusal must come before any question.
			r := runSign(t, testPassphrase, "y\n", append([]string{"--datadir", f.dir, "--in", in, "--out", out}, tt.args...)...)
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
			require.True(t, strings.HasPrefix(r.stderr, "custos-signer: "), r.stderr)
			require.NotContains(t, r.stderr, "Sign this transaction?")
			require.Empty(t, r.stdout)
			require.NoFileExists(t, out)
		})
	}
}

func TestSignNotRegistered(t *testing.T) {
	f := newSignFixture(t)
	require.NoError(t, os.Remove(filepath.Join(f.dir, signer.DescriptorFileName)))
	out := f.out(t)
	r := runSign(t, testPassphrase, "y\n", "--datadir", f.dir, "--in", f.in, "--out", out)
	require.Equal(t, 1, r.code)
	require.Equal(t, "custos-signer: no wallet descriptor registered in "+f.dir+": run 'custos-signer register --descriptor DESC' first\n", r.stderr)
	require.NoFileExists(t, out)
}

func TestSignNoKey(t *testing.T) {
	f := newSignFixture(t)
	out := f.out(t)
	r := runSign(t, testPassphrase, "y\n", "--datadir", t.TempDir(), "--in", f.in, "--out", out)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "no key file")
	require.NoFileExists(t, out)
}

func TestSignWrongPassphrase(t *testing.T) {
	f := newSignFixture(t)
	out := f.out(t)
	r := runSign(t, "not the passphrase", "", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "custos-signer: unable to unlock "+filepath.Join(f.dir, signer.KeyFileName)+": wrong passphrase or corrupted key file\n")
	require.NoFileExists(t, out)

	// No passphrase source at all.
	r = runSign(t, "", "", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "no passphrase available")
	require.NoFileExists(t, out)
}

func TestSignRefusesToOverwrite(t *testing.T) {
	f := newSignFixture(t)
	out := f.write(t, "signed.psbt", []byte("keep me"))
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes")
	require.Equal(t, 1, r.code)
	require.Equal(t, "custos-signer: refusing to overwrite "+out+": it already exists\n", r.stderr)
	data, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, "keep me", string(data))

	// Nor the input itself.
	before, err := os.ReadFile(f.in)
	require.NoError(t, err)
	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", f.in, "--yes")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "refusing to overwrite")
	after, err := os.ReadFile(f.in)
	require.NoError(t, err)
	require.Equal(t, before, after)
}

func TestSignUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no --in", args: []string{"--out", "x"}, want: "--in and --out are required"},
		{name: "no --out", args: []string{"--in", "x"}, want: "--in and --out are required"},
		{name: "bad --max-fee", args: []string{"--in", "x", "--out", "y", "--max-fee", "1e-3"}, want: "--max-fee: amount \"1e-3\" is not a decimal number of BTC"},
		{name: "zero --max-fee", args: []string{"--in", "x", "--out", "y", "--max-fee", "0"}, want: "sign: --max-fee: must be more than 0"},
		{name: "zero --max-feerate", args: []string{"--in", "x", "--out", "y", "--max-feerate", "0"}, want: "sign: --max-feerate: must be more than 0"},
		{name: "extra argument", args: []string{"--in", "x", "--out", "y", "now"}, want: `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runSign(t, testPassphrase, "", append([]string{"--datadir", t.TempDir()}, tt.args...)...)
			require.Equal(t, 2, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
		})
	}
	r := runCLI(t, "", "sign", "-h")
	require.Equal(t, 0, r.code)
	for _, flag := range []string{"-in", "-out", "-yes", "-base64", "-max-fee", "-max-feerate", "-json", "-passphrase-file"} {
		require.Contains(t, r.stdout, flag)
	}
	r = runCLI(t, "", "help")
	require.Contains(t, r.stdout, "sign      check a PSBT")
}

// TestSignDerivedFile: signing keeps the derived-address file
// authenticated and extends it; a file changed by anyone else stops the
// signing with nothing written, and removing it lets signing go on.
func TestSignDerivedFile(t *testing.T) {
	f := newSignFixture(t)
	path := filepath.Join(f.dir, signer.DerivedFileName)
	before, err := os.ReadFile(path)
	require.NoError(t, err, "register writes it")

	out := f.out(t)
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes")
	require.NoError(t, r.err, r.stderr)
	f.requireSigned(t, out)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	// The fixture spends receive/0 and pays change/3: the windows moved
	// to 1+1000 and 4+1000 addresses, 1 and 4 more.
	require.Equal(t, len(before)+5*(5+3*33), len(after))

	// One byte of one key changed: refused after the passphrase, nothing
	// written.
	tampered := append([]byte(nil), after...)
	tampered[len(tampered)/2] ^= 0x01
	require.NoError(t, os.WriteFile(path, tampered, 0o600))
	out2 := f.out(t)
	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out2, "--yes")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "the derived-address file does not authenticate under this signer's key: "+path+
		" was changed outside custos-signer; nothing was signed. Remove it (it is rebuilt) and sign again")
	require.NoFileExists(t, out2)

	require.NoError(t, os.Remove(path))
	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out2, "--yes")
	require.NoError(t, r.err, r.stderr)
	f.requireSigned(t, out2)
	require.FileExists(t, path)
}

// stateValue is the value of key in dir's state record.
func stateValue(t *testing.T, dir, key string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, signer.StateFileName))
	require.NoError(t, err)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			return v
		}
	}
	t.Fatalf("%s has no %s", signer.StateFileName, key)
	return ""
}
