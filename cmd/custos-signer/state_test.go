package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// dirFiles is every file of dir and its bytes.
func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		files[path] = string(data)
		return err
	}))
	return files
}

// variant is the fixture's spend rebuilt with change at index change,
// approved by officers under the pinned policy, for descriptor d (nil:
// the fixture's).
func (f *signFixture) variant(t *testing.T, change uint32, d *multisig.Descriptor, officers ...signertest.Officer) []byte {
	t.Helper()
	p, err := multisig.ParsePSBT(f.bytes(t))
	require.NoError(t, err)
	prevs := map[chainhash.Hash]*wire.MsgTx{}
	for _, in := range p.Inputs {
		prevs[in.NonWitnessUtxo.TxHash()] = in.NonWitnessUtxo
	}
	der, err := f.desc.Derive(reserve.BranchChange, change)
	require.NoError(t, err)
	q, err := multisig.CreatePSBT(multisig.CreateParams{
		Descriptor: f.desc,
		Inputs:     f.inputs,
		PrevTxs:    prevs,
		Outputs: []multisig.Output{
			{Script: p.UnsignedTx.TxOut[0].PkScript, AmountSat: 70_000_000},
			{Script: der.PkScript, AmountSat: 29_985_000, ChangeIndex: &change},
		},
	})
	require.NoError(t, err)
	if d == nil {
		d = f.desc
	}
	signertest.MustApprove(t, q, d, f.policy.Hash(), officers...)
	return MustSerializeCLI(t, q)
}

func MustSerializeCLI(t *testing.T, p *psbt.Packet) []byte {
	t.Helper()
	b, err := multisig.SerializePSBT(p)
	require.NoError(t, err)
	return b
}

// TestSignRefusalsChangeNothing: every refusal, before or after the
// passphrase, exits non-zero, writes no signed PSBT and leaves every file
// of the data directory byte for byte as it was.
func TestSignRefusalsChangeNothing(t *testing.T) {
	f := newSignFixture(t)
	good := f.bytes(t)
	alice, bob := signertest.Alice(), signertest.Bob()
	testnet, err := multisig.ParseDescriptor(f.desc.String(), reserve.Testnet)
	require.NoError(t, err)

	tests := []struct {
		name       string
		in         []byte
		args       []string
		passphrase string
		stdin      string
		want       string
	}{
		{name: "bad PSBT", in: good[:len(good)/2], want: "malformed PSBT"},
		{name: "approvals for another network", in: f.variant(t, 3, testnet, alice, bob), want: "intent: the approvals are for wallet"},
		{name: "fee over the cap", in: good, args: []string{"--max-fee", "0.0001"}, want: "over this signer's ceiling"},
		{name: "one approval of two", in: f.variant(t, 3, nil, alice), want: "1 of 2 approvals needed"},
		{name: "an approval by someone not in the policy", in: f.variant(t, 3, nil, alice, signertest.Dave()), want: "pinned policy"},
		{name: "change beyond the window", in: f.variant(t, signer.IndexWindow+3, nil, alice, bob), want: "output[1]: change index 1003 is beyond this signer's window"},
		{name: "change at 2^31-1", in: f.variant(t, 1<<31-1, nil, alice, bob), want: "output[1]: change index 2147483647 is beyond"},
		{name: "declined", in: good, stdin: "n\n", want: "declined by the operator"},
		{name: "wrong passphrase", in: good, passphrase: "wrong horse", want: "passphrase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := f.write(t, "unsigned.psbt", tt.in)
			out := f.out(t)
			args := []string{"--datadir", f.dir, "--in", in, "--out", out}
			if tt.stdin == "" {
				args = append(args, "--yes")
			}
			pass := tt.passphrase
			if pass == "" {
				pass = testPassphrase
			}
			before := dirFiles(t, f.dir)
			r := runSign(t, pass, tt.stdin, append(args, tt.args...)...)
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
			require.NoFileExists(t, out)
			require.Equal(t, before, dirFiles(t, f.dir), "the data directory is unchanged")
		})
	}
	// The fixture itself signs.
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", f.out(t), "--yes")
	require.NoError(t, r.err, r.stderr)
}

// TestSignBrokenStateChangesNothing: a data directory whose ledger or
// state record was removed or altered is refused, naming the file and the
// recovery, and stays as it is.
func TestSignBrokenStateChangesNothing(t *testing.T) {
	tests := []struct {
		name  string
		alter func(t *testing.T, dir string)
		want  string
	}{
		{name: "state deleted", alter: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, signer.StateFileName)))
		}, want: signer.StateFileName + " is missing"},
		{name: "ledger deleted", alter: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, signer.LedgerFileName)))
		}, want: signer.LedgerFileName + " is missing"},
		{name: "state edited", alter: func(t *testing.T, dir string) {
			path := filepath.Join(dir, signer.StateFileName)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(data), "change_next 4", "change_next 9", 1)), 0o600))
		}, want: "does not authenticate under this signer's key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSignFixture(t)
			r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", f.out(t), "--yes")
			require.NoError(t, r.err, r.stderr)
			tt.alter(t, f.dir)
			before := dirFiles(t, f.dir)
			out := f.out(t)
			r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes")
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
			require.Contains(t, r.stderr, "ledger import --in FILE")
			require.NoFileExists(t, out)
			require.Equal(t, before, dirFiles(t, f.dir))
		})
	}
}

// TestSignLockedDir: while another custos-signer holds the data
// directory, sign is refused at once and changes nothing.
func TestSignLockedDir(t *testing.T) {
	f := newSignFixture(t)
	lock, err := signer.LockDir(f.dir)
	require.NoError(t, err)
	before := dirFiles(t, f.dir)
	out := f.out(t)
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "another custos-signer is using the data directory "+f.dir)
	require.NoFileExists(t, out)
	require.Equal(t, before, dirFiles(t, f.dir))
	lock.Unlock()

	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes")
	require.NoError(t, r.err, r.stderr)
}

// TestLedgerMoveToNewHardware: ledger export on the old machine, init
// --restore and register on the new one (the descriptor only with its
// checksum), ledger import; the new machine remembers what the old one
// signed. An edited export is refused.
func TestLedgerMoveToNewHardware(t *testing.T) {
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	f := newSignFixture(t)
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", f.out(t), "--yes")
	require.NoError(t, r.err, r.stderr)

	export := filepath.Join(t.TempDir(), "ledger.export")
	r = runCLI(t, "", "ledger", "export", "--datadir", f.dir, "--out", export, "--json")
	require.NoError(t, r.err, r.stderr)
	x := decode[ledgerOutput](t, r.stdout)
	require.Equal(t, uint64(1), x.Entries)
	r = runCLI(t, "", "ledger", "export", "--datadir", f.dir, "--out", export)
	require.Equal(t, 1, r.code, "never overwrites")

	dir := filepath.Join(t.TempDir(), "new")
	MustRestore(t, dir)
	body, _, _ := strings.Cut(f.desc.String(), "#")
	r = runCLI(t, "", "register", "--datadir", dir, "--descriptor", body)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "descriptor: the descriptor has no #checksum (BIP-380)")
	require.NoFileExists(t, filepath.Join(dir, signer.DescriptorFileName))
	r = runCLI(t, "", "register", "--datadir", dir, "--descriptor", f.desc.String())
	require.NoError(t, r.err, r.stderr)

	data, err := os.ReadFile(export)
	require.NoError(t, err)
	edited := filepath.Join(t.TempDir(), "edited")
	require.NoError(t, os.WriteFile(edited, []byte(strings.Replace(string(data), "ledger_entries 1", "ledger_entries 0", 1)), 0o600))
	before := dirFiles(t, dir)
	r = runCLI(t, "", "ledger", "import", "--datadir", dir, "--in", edited)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "the ledger export cannot be imported")
	require.Equal(t, before, dirFiles(t, dir))

	r = runCLI(t, "", "ledger", "import", "--datadir", dir, "--in", export)
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "Imported 1 ledger entries (head "+x.Head+")")
	for _, name := range []string{signer.LedgerFileName, signer.PolicyFileName} {
		a, err := os.ReadFile(filepath.Join(f.dir, name))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		require.Equal(t, string(a), string(b), name)
	}
	// The new machine knows the transaction: signing it again records
	// nothing new.
	r = runSign(t, testPassphrase, "", "--datadir", dir, "--in", f.in, "--out", f.out(t), "--yes")
	require.NoError(t, r.err, r.stderr)
	state, err := os.ReadFile(filepath.Join(dir, signer.StateFileName))
	require.NoError(t, err)
	require.Contains(t, string(state), "\nledger_entries 1\n")
}
