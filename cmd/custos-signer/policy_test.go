package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/passphrase"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// runNoPassphrase runs the program where no passphrase can be had: the
// test fails if a command asks for one.
func runNoPassphrase(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		lookupEnv: func(string) (string, bool) { return "", false },
		prompt: func(context.Context, string) ([]byte, error) {
			t.Error("asked for a passphrase")
			return nil, passphrase.ErrNoTerminal
		},
		homeDir: func() (string, error) { return "", os.ErrNotExist },
		now:     signertest.Now,
	}
	err := c.run(context.Background(), args)
	code := exitCode(err, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), err: err, code: code}
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

func hashHex(p *reserve.Policy) string {
	h := p.Hash()
	return hex.EncodeToString(h[:])
}

// MustRegisterWallet registers a 2-of-3 regtest wallet holding the key
// in dir and returns its id.
func MustRegisterWallet(t *testing.T, dir string) string {
	t.Helper()
	key, err := signer.Unlock(dir, []byte(testPassphrase))
	require.NoError(t, err)
	defer key.Zero()
	d := MustDescriptor(t, 2, MustCosigner(t, 1), key.Record(), MustCosigner(t, 2))
	_, err = signer.Register(dir, key, d.String(), false)
	require.NoError(t, err)
	return d.WalletID()
}

// TestRegisterPolicy: register --policy pins the file byte for byte
// and prints the hash and the officers; the same
// policy is unchanged, another replaces it only with --chain, and a
// malformed one is refused with its line and field, leaving the pinned
// one.
func TestRegisterPolicy(t *testing.T) {
	// Pinning a policy seals it into the state record under the key.
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	dir := t.TempDir()
	MustRestore(t, dir)
	walletID := MustRegisterWallet(t, dir)
	pinned := filepath.Join(dir, signer.PolicyFileName)
	text := signertest.PolicyYAML(signertest.Officers())
	policy := signertest.MustParsePolicy(t, text)
	file := writeFile(t, "policy.yaml", text)

	r := runCLI(t, "", "register", "--datadir", dir, "--policy", file)
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "Pinned the spending policy in "+pinned+".\n")
	require.Contains(t, r.stdout, "\npolicy "+hashHex(policy)+"\n")
	for _, o := range signertest.Officers() {
		k := o.PublicKey()
		require.Regexp(t, "\n  "+o.ID+` +`+regexp.QuoteMeta(o.Name)+` +ed25519:`+hex.EncodeToString(k[:])+"\n", r.stdout)
	}
	require.Contains(t, r.stdout, "Velocity caps, counted from this signer's own ledger: 2.00000000 BTC per 24 hours, 5.00000000 BTC per 30 days.")
	require.Contains(t, r.stdout, "Proofs of reserves: requested by officer; 1 officer approval(s) of the message.\n")
	require.NotContains(t, r.stdout, "Wallet:", "no descriptor was registered")
	requireFileIs(t, pinned, text)

	r = runCLI(t, "", "register", "--datadir", dir, "--policy", file)
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "The pinned spending policy is unchanged")
	require.Contains(t, r.stdout, "policy "+hashHex(policy))

	// Another policy does not replace it without the officers' approval
	// of the change.
	otherText := signertest.PolicyYAML([]signertest.Officer{signertest.Alice(), signertest.Dave()})
	other := signertest.MustParsePolicy(t, otherText)
	otherFile := writeFile(t, "new.yaml", otherText)
	r = runCLI(t, "", "register", "--datadir", dir, "--policy", otherFile)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "custos-signer: the officers' approvals of the policy change are needed: replacing the pinned policy "+
		hashHex(policy)+" with "+hashHex(other)+" takes the reserve's policy history with the officers' signatures (--chain FILE,")
	require.Empty(t, r.stdout)
	requireFileIs(t, pinned, text)

	// With the chain of the change, it replaces it; JSON gives both hashes.
	chain := signertest.NewChain(t, reserve.Regtest, walletID, text).
		Add(t, otherText, signertest.Alice(), signertest.Bob(), signertest.Carol())
	r = runCLI(t, "", "register", "--datadir", dir, "--policy", otherFile,
		"--chain", writeFile(t, "chain.json", chain.MustJSON(t)), "--json")
	require.NoError(t, r.err, r.stderr)
	out := decode[registerOutput](t, r.stdout)
	require.Empty(t, out.Status, "no descriptor was registered")
	require.Equal(t, &policyOutput{
		Status:   "replaced",
		File:     pinned,
		Hash:     hashHex(other),
		Replaced: hashHex(policy),
		Officers: []officerEntry{
			{ID: "alice", Name: "Alice Moreau", Key: "ed25519:8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"},
			{ID: "dave", Name: "Dave Nakamura", Key: "ed25519:ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c"},
		},
		Per24hSat:       signertest.Per24hSat,
		Per30dSat:       signertest.Per30dSat,
		ProofRequesters: []string{"officer"},
		ProofApprovals:  1,
	}, out.Policy)
	requireFileIs(t, pinned, otherText)

	// As text, a replacement prints the old hash and the new. Going back
	// is a change like any other: alice and dave approve it.
	chain.Add(t, text, signertest.Alice(), signertest.Dave())
	r = runCLI(t, "", "register", "--datadir", dir, "--policy", file, "--chain", writeFile(t, "chain.json", chain.MustJSON(t)))
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "Replaced the pinned spending policy in "+pinned+".\nold policy "+hashHex(other)+"\npolicy "+hashHex(policy)+"\n")

	// Malformed: refused with the line and the field; the pinned policy
	// stays.
	bad := bytes.Replace(text, []byte(`max_fee: "0.01"`), []byte("max_fee: 0.01"), 1)
	r = runCLI(t, "", "register", "--datadir", dir, "--policy", writeFile(t, "bad.yaml", bad))
	require.Equal(t, 1, r.code)
	require.Equal(t, "custos-signer: policy line 28: fees.max_fee: write BTC amounts in quotes (\"0.01\"), not as YAML numbers, so they are never read as floating point\n", r.stderr)
	require.Empty(t, r.stdout)
	requireFileIs(t, pinned, text)

	r = runCLI(t, "", "register", "--datadir", dir, "--policy", filepath.Join(t.TempDir(), "missing.yaml"))
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "unable to open the policy")
	requireFileIs(t, pinned, text)

	// Only into a signer's data directory.
	empty := t.TempDir()
	r = runCLI(t, "", "register", "--datadir", empty, "--policy", file)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "no key file")
	require.NoFileExists(t, filepath.Join(empty, signer.PolicyFileName))
}

// TestRegisterDescriptorAndPolicy: both at once; a bad policy is refused
// before the key is unlocked, so nothing is registered.
func TestRegisterDescriptorAndPolicy(t *testing.T) {
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	dir := t.TempDir()
	MustRestore(t, dir)
	own, err := multisig.ParseKeyRecord(recordArt, reserve.Regtest)
	require.NoError(t, err)
	wallet := MustDescriptor(t, 2, MustCosigner(t, 1), own, MustCosigner(t, 2))
	text := signertest.PolicyYAML(signertest.Officers())

	bad := writeFile(t, "bad.yaml", []byte("version: 1\n"))
	r := runCLI(t, "", "register", "--datadir", dir, "--descriptor", wallet.String(), "--policy", bad)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "custos-signer: policy line 1: officers: missing")
	require.NoFileExists(t, filepath.Join(dir, signer.DescriptorFileName))

	r = runCLI(t, "", "register", "--datadir", dir, "--descriptor", wallet.String(), "--policy", writeFile(t, "p.yaml", text), "--json")
	require.NoError(t, r.err, r.stderr)
	out := decode[registerOutput](t, r.stdout)
	require.Equal(t, "registered", out.Status)
	require.Equal(t, wallet.WalletID(), out.WalletID)
	require.Equal(t, "registered", out.Policy.Status)
	require.Equal(t, hashHex(signertest.MustParsePolicy(t, text)), out.Policy.Hash)
	require.Len(t, out.Policy.Officers, 3)

	r = runCLI(t, "", "register", "--datadir", dir, "--descriptor", wallet.String(), "--policy", writeFile(t, "p.yaml", text))
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "Already registered; nothing changed.")
	require.Contains(t, r.stdout, "The pinned spending policy is unchanged")
}

func TestSignWithoutPolicy(t *testing.T) {
	f := newSignFixture(t)
	require.NoError(t, os.Remove(filepath.Join(f.dir, signer.PolicyFileName)))
	out := f.out(t)
	r := runSign(t, testPassphrase, "y\n", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes")
	require.Equal(t, 1, r.code)
	require.Equal(t, "custos-signer: no spending policy registered in "+f.dir+
		": run 'custos-signer register --policy FILE' first; nothing is signed without one\n", r.stderr)
	require.Empty(t, r.stdout)
	require.NoFileExists(t, out)
	require.NoFileExists(t, filepath.Join(f.dir, signer.LedgerFileName))
}

// TestSignApprovalRefusalsCLI: what the library refuses, the command
// refuses before any question, with nothing written.
func TestSignApprovalRefusalsCLI(t *testing.T) {
	f := newSignFixture(t)
	tests := []struct {
		name   string
		tamper func(t *testing.T, p *psbt.Packet)
		want   string
	}{
		{
			name:   "no approvals",
			tamper: func(_ *testing.T, p *psbt.Packet) { p.Unknowns = nil },
			want:   "custos-signer: not approved by enough officers: this PSBT carries no officer approvals (no custos intent)",
		},
		{
			name: "one short of quorum",
			tamper: func(t *testing.T, p *psbt.Packet) {
				signertest.MustSetApprovals(t, p, f.intent, signertest.Bob())
			},
			want: "custos-signer: 1 of 2 approvals needed for proposal P000001 under the pinned policy: approved by bob\n",
		},
		{
			name: "payee changed after approval",
			tamper: func(_ *testing.T, p *psbt.Packet) {
				p.UnsignedTx.TxOut[0].Value -= 5_000
				p.UnsignedTx.TxOut[1].Value += 5_000
			},
			want: "output[0]: pays 0.69995000 BTC to " + f.payee + ", which the approved intent does not",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := multisig.ParsePSBT(f.bytes(t))
			require.NoError(t, err)
			tt.tamper(t, p)
			data, err := multisig.SerializePSBT(p)
			require.NoError(t, err)
			out := f.out(t)
			r := runSign(t, testPassphrase, "y\n", "--datadir", f.dir, "--in", f.write(t, "unsigned.psbt", data), "--out", out)
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
			require.NotContains(t, r.stderr, "Sign this transaction?")
			require.Empty(t, r.stdout)
			require.NoFileExists(t, out)
			require.NoFileExists(t, filepath.Join(f.dir, signer.LedgerFileName))
		})
	}
}

// TestSignRecordsInLedger: a signature is recorded in the ledger before
// the PSBT is written, once per transaction; after the operator moves to
// another policy, with the officers' approval of the change, approvals
// under the old one sign nothing.
func TestSignRecordsInLedger(t *testing.T) {
	// Pinning a policy seals it into the state record under the key.
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	f := newSignFixture(t)
	ledger := filepath.Join(f.dir, signer.LedgerFileName)
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", f.out(t), "--yes")
	require.NoError(t, r.err, r.stderr)
	first, err := os.ReadFile(ledger)
	require.NoError(t, err)
	require.Equal(t, 1, bytes.Count(first, []byte("\n")))
	require.Contains(t, string(first), `"txid":"`+f.pkt.UnsignedTx.TxHash().String()+`"`)
	require.Contains(t, string(first), `"proposal_id":"P000001"`)

	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", f.out(t), "--yes")
	require.NoError(t, r.err, r.stderr)
	again, err := os.ReadFile(ledger)
	require.NoError(t, err)
	require.Equal(t, first, again, "the same transaction is recorded once")

	// Without the officers' approval of the change the operator cannot
	// move: the old approvals still sign, and nothing more is recorded.
	other := signertest.PolicyYAML([]signertest.Officer{signertest.Alice(), signertest.Bob()}, f.payee)
	r = runCLI(t, "", "register", "--datadir", f.dir, "--policy", writeFile(t, "new.yaml", other))
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "--chain FILE")
	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", f.out(t), "--yes")
	require.NoError(t, r.err, r.stderr)
	again, err = os.ReadFile(ledger)
	require.NoError(t, err)
	require.Equal(t, first, again)

	chain := signertest.NewChain(t, reserve.Regtest, f.desc.WalletID(), signertest.PolicyYAML(signertest.Officers(), f.payee)).
		Add(t, other, signertest.Alice(), signertest.Bob(), signertest.Carol())
	r = runCLI(t, "", "register", "--datadir", f.dir, "--policy", writeFile(t, "new.yaml", other),
		"--chain", writeFile(t, "chain.json", chain.MustJSON(t)))
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "Replaced the pinned spending policy")
	out := f.out(t)
	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out, "--yes")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "intent.policy_hash: approvals are under policy "+hashHex(f.policy))
	require.NoFileExists(t, out)
}

func requireFileIs(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}
