package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// oldLine is e as the previous release (commit ca00284) wrote a ledger
// line: these fields in this order, and no "prev".
func oldLine(e signer.LedgerEntry) string {
	ins := make([]string, len(e.Inputs))
	for i, op := range e.Inputs {
		ins[i] = fmt.Sprintf("%q", op.String())
	}
	return fmt.Sprintf(`{"intent_digest":"%x","proposal_id":%q,"policy_hash":"%x","txid":"%s","inputs":[%s],"amount_sat":%d,"signed_at":"%s"}`,
		e.IntentDigest, e.ProposalID, e.PolicyHash, e.TxID, strings.Join(ins, ","), e.AmountSat, e.SignedAt.UTC().Format(time.RFC3339)) + "\n"
}

// oldFixture is a data directory as the previous release left it for the
// sign fixture's signer, written by hand in that release's formats: the
// key, the fixture's descriptor and policy, the policy's number (2) in
// policy.seq, and a ledger without "prev" holding another intent's
// payment and a payment of the fixture's intent that spends one of the
// fixture PSBT's coins; no signer.state, no signer.lock.
type oldFixture struct {
	*signFixture
	old     string
	entries []signer.LedgerEntry
}

func newOldFixture(t *testing.T) *oldFixture {
	t.Helper()
	f := &oldFixture{signFixture: newSignFixture(t)}
	digest, err := f.intent.Digest(reserve.DecisionApprove)
	require.NoError(t, err)
	f.entries = []signer.LedgerEntry{
		{IntentDigest: [32]byte{0x11}, ProposalID: "P000000", PolicyHash: f.policy.Hash(), TxID: chainhash.Hash{0x21},
			Inputs:    []wire.OutPoint{{Hash: chainhash.Hash{0x31}, Index: 3}},
			AmountSat: 2_000_000, SignedAt: signertest.Now().Add(-72 * time.Hour)},
		{IntentDigest: digest, ProposalID: "P000001", PolicyHash: f.policy.Hash(), TxID: chainhash.Hash{0x22},
			Inputs:    []wire.OutPoint{f.inputs[1].OutPoint},
			AmountSat: 70_000_000, SignedAt: signertest.Now().Add(-2 * time.Hour)},
	}
	for _, e := range f.entries {
		f.old += oldLine(e)
	}
	return f
}

// dir writes the old data directory with ledger as its ledger.jsonl.
func (f *oldFixture) dir(t *testing.T, ledger string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "old")
	MustRestore(t, dir)
	policy, err := os.ReadFile(filepath.Join(f.signFixture.dir, signer.PolicyFileName))
	require.NoError(t, err)
	for name, data := range map[string]string{
		signer.DescriptorFileName: f.desc.String() + "\n",
		signer.PolicyFileName:     string(policy),
		signer.PolicySeqFileName:  "2\n",
		signer.LedgerFileName:     ledger,
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600))
	}
	return dir
}

// runUpgrade runs "custos-signer ledger upgrade" with the passphrase in
// the environment ("": none anywhere) and stdin as the only place an
// answer can come from.
func runUpgrade(t *testing.T, passphrase, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		lookupEnv: func(k string) (string, bool) {
			if k == signer.EnvPassphrase && passphrase != "" {
				return passphrase, true
			}
			return "", false
		},
		homeDir: func() (string, error) { return "", os.ErrNotExist },
		now:     signertest.Now,
	}
	err := c.run(context.Background(), append([]string{"ledger", "upgrade"}, args...))
	code := exitCode(err, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), err: err, code: code}
}

// TestLedgerUpgrade: ledger upgrade shows what the old files hold, asks,
// and turns the directory into one that signs, remembering what the old
// release signed (the fixture PSBT is a fee bump of the old payment).
func TestLedgerUpgrade(t *testing.T) {
	f := newOldFixture(t)
	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{name: "answered yes", stdin: "y\n"},
		{name: "--yes", args: []string{"--yes"}},
		{name: "--json --yes", args: []string{"--json", "--yes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := f.dir(t, f.old)
			r := runSign(t, testPassphrase, "", "--datadir", dir, "--in", f.in, "--out", f.out(t), "--yes")
			require.Equal(t, 1, r.code)
			require.Contains(t, r.stderr, signer.StateFileName+" is missing", "the old directory does not sign")

			r = runUpgrade(t, testPassphrase, tt.stdin, append([]string{"--datadir", dir}, tt.args...)...)
			require.NoError(t, r.err, r.stderr)
			if slices.Contains(tt.args, "--json") {
				o := decode[upgradeOutput](t, r.stdout)
				require.Equal(t, uint64(2), o.Entries)
				require.Equal(t, uint64(2), o.PolicySeq)
				require.Equal(t, hashHex(f.policy), o.PolicyHash)
				require.Equal(t, f.desc.WalletID(), o.WalletID)
			} else {
				require.Contains(t, r.stdout, "Ledger:   2 entries, signed from 2026-11-28T12:00:00Z to 2026-12-01T10:00:00Z")
				require.Contains(t, r.stdout, "Policy:   "+hashHex(f.policy)+", number 2 in the reserve's history")
				require.Contains(t, r.stdout, "These files are not authenticated")
				require.Contains(t, r.stdout, "Upgraded "+dir+": 2 ledger entries chained")
			}
			require.NoFileExists(t, filepath.Join(dir, signer.PolicySeqFileName))

			r = runSign(t, testPassphrase, "", "--datadir", dir, "--in", f.in, "--out", f.out(t), "--yes")
			require.NoError(t, r.err, r.stderr)
			require.Contains(t, r.stdout, "Replaces:    "+f.entries[1].TxID.String())
			l, err := signer.OpenLedger(dir)
			require.NoError(t, err)
			entries, err := l.Entries()
			require.NoError(t, err)
			require.Len(t, entries, 3)
			require.Equal(t, f.entries, entries[:2])
			state, err := os.ReadFile(filepath.Join(dir, signer.StateFileName))
			require.NoError(t, err)
			require.Contains(t, string(state), "\npolicy_seq 2\nledger_entries 3\n")
		})
	}
}

// TestLedgerUpgradeRefusalsChangeNothing: every refusal exits non-zero,
// says why (naming the file and line), and leaves every file of the data
// directory byte for byte as it was; no lock file is created.
func TestLedgerUpgradeRefusalsChangeNothing(t *testing.T) {
	f := newOldFixture(t)
	// A line as this release writes it: the fixture's signer signs once.
	current := filepath.Join(t.TempDir(), "current")
	require.NoError(t, os.CopyFS(current, os.DirFS(f.signFixture.dir)))
	r := runSign(t, testPassphrase, "", "--datadir", current, "--in", f.in, "--out", f.out(t), "--yes")
	require.NoError(t, r.err, r.stderr)
	chained, err := os.ReadFile(filepath.Join(current, signer.LedgerFileName))
	require.NoError(t, err)
	bad := f.entries[1]
	bad.TxID = chainhash.Hash{}
	damaged := strings.Replace(oldLine(bad), `"txid":"`+bad.TxID.String()+`"`, `"txid":"22"`, 1)

	tests := []struct {
		name       string
		dir        func(t *testing.T) string
		args       []string
		passphrase string
		stdin      string
		code       int
		want       string
	}{
		{name: "a directory of this release", dir: func(*testing.T) string { return current },
			want: signer.StateFileName + " is there"},
		{name: "a line in this release's format", dir: func(t *testing.T) string { return f.dir(t, oldLine(f.entries[0])+string(chained)) },
			want: "ledger.jsonl line 2 is in this release's format (it has \"prev\"): the directory's signer.state was deleted"},
		{name: "a damaged line", dir: func(t *testing.T) string { return f.dir(t, oldLine(f.entries[0])+damaged) },
			want: `ledger.jsonl line 2: txid "22" is not a transaction id`},
		{name: "a descriptor without this key", dir: func(t *testing.T) string {
			dir := f.dir(t, f.old)
			d := MustDescriptor(t, 2, MustCosigner(t, 1), MustCosigner(t, 2), MustCosigner(t, 3))
			require.NoError(t, os.WriteFile(filepath.Join(dir, signer.DescriptorFileName), []byte(d.String()+"\n"), 0o600))
			return dir
		}, args: []string{"--yes"}, want: "this signer's key " + recordArt + " is not in the descriptor"},
		{name: "no passphrase", dir: func(t *testing.T) string { return f.dir(t, f.old) }, args: []string{"--yes"},
			passphrase: "-", want: "passphrase"},
		{name: "wrong passphrase", dir: func(t *testing.T) string { return f.dir(t, f.old) }, args: []string{"--yes"},
			passphrase: "wrong horse", want: "passphrase"},
		{name: "declined", dir: func(t *testing.T) string { return f.dir(t, f.old) }, stdin: "n\n",
			want: "not upgraded: declined by the operator"},
		{name: "no answer", dir: func(t *testing.T) string { return f.dir(t, f.old) },
			want: "not upgraded: declined by the operator"},
		{name: "--json without --yes", dir: func(t *testing.T) string { return f.dir(t, f.old) }, args: []string{"--json"},
			stdin: "y\n", code: 2, want: "ledger upgrade: --json needs --yes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			pass := tt.passphrase
			switch pass {
			case "":
				pass = testPassphrase
			case "-":
				pass = ""
			}
			before := dirFiles(t, dir)
			r := runUpgrade(t, pass, tt.stdin, append([]string{"--datadir", dir}, tt.args...)...)
			code := tt.code
			if code == 0 {
				code = 1
			}
			require.Equal(t, code, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
			require.Equal(t, before, dirFiles(t, dir), "the data directory is unchanged")
		})
	}
}
