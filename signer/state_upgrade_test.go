package signer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// oldLedgerLine is e as the previous release (commit ca00284) wrote a
// ledger line: these fields in this order, and no "prev".
func oldLedgerLine(e signer.LedgerEntry) string {
	ins := make([]string, len(e.Inputs))
	for i, op := range e.Inputs {
		ins[i] = fmt.Sprintf("%q", op.String())
	}
	return fmt.Sprintf(`{"intent_digest":"%x","proposal_id":%q,"policy_hash":"%x","txid":"%s","inputs":[%s],"amount_sat":%d,"signed_at":"%s"}`,
		e.IntentDigest, e.ProposalID, e.PolicyHash, e.TxID, strings.Join(ins, ","), e.AmountSat, e.SignedAt.UTC().Format(time.RFC3339)) + "\n"
}

// MustOldDir is a data directory as the previous release left it, its
// files written by hand in that release's formats: the "abandon … art"
// key, desc pinned in wallet.descriptor, policy in policy.yaml (nil: none)
// and seq in policy.seq ("": none), ledger in ledger.jsonl (""; none),
// and no signer.state nor signer.lock.
func MustOldDir(tb testing.TB, desc *multisig.Descriptor, policy []byte, seq, ledger string) string {
	tb.Helper()
	dir := tb.TempDir()
	_, err := signer.Restore(dir, testConfig(), mnemonicArt, testPassphrase)
	require.NoError(tb, err)
	files := map[string]string{signer.DescriptorFileName: desc.String() + "\n"}
	if policy != nil {
		files[signer.PolicyFileName] = string(policy)
	}
	if seq != "" {
		files[signer.PolicySeqFileName] = seq
	}
	if ledger != "" {
		files[signer.LedgerFileName] = ledger
	}
	for name, data := range files {
		require.NoError(tb, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600))
	}
	require.NoFileExists(tb, filepath.Join(dir, signer.StateFileName))
	return dir
}

// upgradeFixture is the wallet fixture and the old ledger of its signer
// under test: another intent paid two days ago, and the fixture's intent
// paid an hour ago by a transaction that spends one of the fixture
// spend's coins (receive/0) and a coin elsewhere.
type upgradeFixture struct {
	f       *walletFixture
	entries []signer.LedgerEntry
	ledger  string
}

func newUpgradeFixture(t *testing.T) *upgradeFixture {
	t.Helper()
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	paid := MustDigest(t, f.approve(t, sp.create(t, normalFee)))
	u := &upgradeFixture{f: f, entries: []signer.LedgerEntry{
		{IntentDigest: [32]byte{0x11}, ProposalID: "P000000", PolicyHash: f.policy.Hash(), TxID: chainhash.Hash{0x21},
			Inputs:    []wire.OutPoint{{Hash: chainhash.Hash{0x31}, Index: 0}, {Hash: chainhash.Hash{0x32}, Index: 7}},
			AmountSat: 1_500_000, SignedAt: signertest.Now().Add(-48 * time.Hour)},
		{IntentDigest: paid, ProposalID: "P000001", PolicyHash: f.policy.Hash(), TxID: chainhash.Hash{0x22},
			Inputs:    []wire.OutPoint{sp.inputs[0].OutPoint, {Hash: chainhash.Hash{0x33}, Index: 1}},
			AmountSat: payeeSat, SignedAt: signertest.Now().Add(-time.Hour)},
	}}
	for _, e := range u.entries {
		u.ledger += oldLedgerLine(e)
	}
	return u
}

// dir is an old data directory of the fixture's signer with its policy
// pinned as number 4 and ledger ledger.
func (u *upgradeFixture) dir(t *testing.T, ledger string) string {
	t.Helper()
	return MustOldDir(t, u.f.desc, signertest.PolicyYAML(signertest.Officers(), payeeAddress(t)), "4\n", ledger)
}

// TestUpgradeState: a data directory of the previous release is upgraded
// to one the signer signs from, with the same ledger entries, chained,
// the policy's number in the state record and policy.seq gone; the
// upgraded signer remembers the old payment.
func TestUpgradeState(t *testing.T) {
	u := newUpgradeFixture(t)
	f, us := u.f, u.f.us()
	dir := u.dir(t, u.ledger)
	_, err := signer.OpenLedger(dir)
	require.ErrorIs(t, err, signer.ErrStateBroken, "the previous release's directory does not sign")

	plan, err := signer.PlanUpgrade(dir, reserve.Regtest)
	require.NoError(t, err)
	lock, err := signer.LockDir(dir)
	require.NoError(t, err)
	defer lock.Unlock()
	rep, err := signer.UpgradeState(dir, us.key, &plan)
	require.NoError(t, err)
	require.Equal(t, plan, rep)
	require.Equal(t, f.desc.WalletID(), rep.WalletID)
	require.Equal(t, uint64(2), rep.Entries)
	require.Equal(t, f.policy.Hash(), rep.PolicyHash)
	require.Equal(t, uint64(4), rep.PolicySeq)
	require.Equal(t, u.entries[0].SignedAt, rep.FirstSignedAt)
	require.Equal(t, u.entries[1].SignedAt, rep.LastSignedAt)
	require.False(t, rep.Resumed)
	require.NoFileExists(t, filepath.Join(dir, signer.PolicySeqFileName))
	requireStateLine(t, dir, "policy_seq 4")
	requireStateLine(t, dir, "ledger_entries 2")
	requireStateLine(t, dir, fmt.Sprintf("ledger_head %x", rep.Head))
	requireStateLine(t, dir, "receive_next 0")
	requireStateLine(t, dir, "change_next 0")

	l, err := signer.OpenLedger(dir)
	require.NoError(t, err)
	require.NoError(t, l.Verify(us.key))
	require.Equal(t, u.entries, MustEntries(t, l), "the same entries")
	data, err := os.ReadFile(filepath.Join(dir, signer.LedgerFileName))
	require.NoError(t, err)
	require.Contains(t, string(data), `{"prev":"`+strings.Repeat("0", 64)+`","intent_digest":"11`)

	// The upgraded signer remembers the old payment: a transaction for the
	// same intent spending other coins is refused, a fee bump of the old
	// one (it spends receive/0 too) is signed.
	rules, err := signer.LoadRules(dir, signer.Limits{}, signertest.Now)
	require.NoError(t, err)
	pinned, err := signer.LoadPinned(dir, us.key)
	require.NoError(t, err)
	_, _, err = signer.Sign(spendAt(t, f, 1, 3), pinned, us.key, rules)
	require.ErrorIs(t, err, signer.ErrSignedOther)
	bump := f.approved(t, newSpend(t, f.desc), normalFee)
	_, err = signer.Check(bump, f.desc, rules)
	require.NoError(t, err)
	sum, n, err := signer.Sign(bump, pinned, us.key, rules)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Equal(t, []chainhash.Hash{u.entries[1].TxID}, sum.Approved.Replaces)
	got := MustEntries(t, rules.Ledger)
	require.Len(t, got, 3)
	require.Equal(t, u.entries, got[:2])
	requireStateLine(t, dir, "change_next 4")

	// Done once: a second upgrade is refused.
	before := snapshot(t, dir)
	_, err = signer.UpgradeState(dir, us.key, nil)
	require.ErrorIs(t, err, signer.ErrUpgradeRefused)
	require.ErrorContains(t, err, signer.StateFileName+" is there")
	require.Equal(t, before, snapshot(t, dir))
}

// TestUpgradeEmptyDirectory: a signer of the previous release that never
// signed (no ledger file, no policy number) is upgraded too.
func TestUpgradeEmptyDirectory(t *testing.T) {
	f := newWalletFixture(t)
	dir := MustOldDir(t, f.desc, signertest.PolicyYAML(signertest.Officers(), payeeAddress(t)), "", "")
	rep, err := signer.UpgradeState(dir, f.us().key, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(0), rep.Entries)
	require.Equal(t, uint64(0), rep.PolicySeq)
	require.Equal(t, [32]byte{}, rep.OldLedger)
	require.NoFileExists(t, filepath.Join(dir, signer.LedgerFileName))
	_, _, err = signer.Sign(f.approved(t, newSpend(t, f.desc), normalFee), f.us().pinned, f.us().key, MustRules(t, dir))
	require.NoError(t, err)
}

// MustRules is dir's rules at the test clock.
func MustRules(tb testing.TB, dir string) signer.Rules {
	tb.Helper()
	r, err := signer.LoadRules(dir, signer.Limits{}, signertest.Now)
	require.NoError(tb, err)
	return r
}

// TestUpgradeKeepsThePolicyNumber: the number policy.seq held is the one
// the state record holds, so a history cut short still cannot take the
// upgraded signer back to a policy the officers replaced since (as in
// TestPinPolicyRemembersItsNumber).
func TestUpgradeKeepsThePolicyNumber(t *testing.T) {
	alice, bob, carol := signertest.Alice(), signertest.Bob(), signertest.Carol()
	a := signertest.PolicyYAML(signertest.Officers())
	b := signertest.PolicyYAML([]signertest.Officer{alice, bob, carol, signertest.Dave()})
	f := newWalletFixture(t)
	// The officers changed a to b (number 2) and back to a (number 3),
	// which the previous release pinned with its number.
	full := signertest.NewChain(t, reserve.Regtest, f.desc.WalletID(), a).Add(t, b, alice, bob, carol).
		Add(t, a, alice, bob, carol, signertest.Dave())
	dir := MustOldDir(t, f.desc, a, "3\n", "")
	rep, err := signer.UpgradeState(dir, f.us().key, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(3), rep.PolicySeq)
	requireStateLine(t, dir, "policy_seq 3")

	_, err = signer.PinPolicy(dir, f.us().key, b, full.Links[:2])
	require.ErrorIs(t, err, signer.ErrChangeUnapproved)
	require.ErrorContains(t, err, "(number 3) is not in the reserve's history")
	requireFile(t, filepath.Join(dir, signer.PolicyFileName), a)
}

// TestUpgradeResumes: an upgrade cut short after its state record was
// written (the ledger not yet chained, policy.seq still there) is
// finished by running it again; a state record that does not bind the
// old ledger is refused.
func TestUpgradeResumes(t *testing.T) {
	u := newUpgradeFixture(t)
	key := u.f.us().key
	done := u.dir(t, u.ledger)
	want, err := signer.UpgradeState(done, key, nil)
	require.NoError(t, err)
	state, err := os.ReadFile(filepath.Join(done, signer.StateFileName))
	require.NoError(t, err)

	cut := u.dir(t, u.ledger)
	require.NoError(t, os.WriteFile(filepath.Join(cut, signer.StateFileName), state, 0o600))
	rep, err := signer.UpgradeState(cut, key, nil)
	require.NoError(t, err)
	require.True(t, rep.Resumed)
	want.Resumed = true
	require.Equal(t, want, rep)
	files := snapshotNames(t, done)
	delete(files, signer.LockFileName) // the caller's LockDir makes it
	require.Equal(t, files, snapshotNames(t, cut))
	require.NoFileExists(t, filepath.Join(cut, signer.PolicySeqFileName))

	// The same record beside a ledger it does not bind.
	other := u.dir(t, oldLedgerLine(u.entries[0]))
	require.NoError(t, os.WriteFile(filepath.Join(other, signer.StateFileName), state, 0o600))
	before := snapshot(t, other)
	_, err = signer.UpgradeState(other, key, nil)
	require.ErrorIs(t, err, signer.ErrUpgradeRefused)
	require.ErrorContains(t, err, signer.StateFileName+" is there")
	require.Equal(t, before, snapshot(t, other))
}

// snapshotNames is every file of dir by name (not path) and its bytes.
func snapshotNames(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	files := map[string]string{}
	for path, data := range snapshot(tb, dir) {
		files[filepath.Base(path)] = data
	}
	return files
}

// TestUpgradeRefusals: every refusal names the file (and the line) and
// leaves the directory byte for byte as it was.
func TestUpgradeRefusals(t *testing.T) {
	u := newUpgradeFixture(t)
	f := u.f
	policy := signertest.PolicyYAML(signertest.Officers(), payeeAddress(t))
	// A line as this release writes it, chained.
	l := MustLedgerWith(t, nil)
	require.NoError(t, l.Append(f.us().key, u.entries[0]))
	current, err := os.ReadFile(l.Path())
	require.NoError(t, err)
	bad := u.entries[1]
	bad.AmountSat = 0
	other := MustDescriptor(t, reserve.Regtest, 2, f.m[1].rec, f.m[2].rec, MustCosigner(t, 9, reserve.Regtest))
	otherDesc, err := multisig.ParseDescriptor(other, reserve.Regtest)
	require.NoError(t, err)
	var plan signer.UpgradeReport

	tests := []struct {
		name string
		dir  func(t *testing.T) string
		// confirmed is what the operator confirmed; nil: nothing.
		confirmed *signer.UpgradeReport
		want      string
		is        error
		code      reserve.Code
	}{
		{name: "a directory of this release", dir: func(t *testing.T) string { return copyDir(t, f.us().dir) },
			want: signer.StateFileName + " is there", code: reserve.CodeFailedPrecondition},
		{name: "a state record beside the old files", dir: func(t *testing.T) string {
			dir := u.dir(t, u.ledger)
			data, err := os.ReadFile(filepath.Join(f.us().dir, signer.StateFileName))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, signer.StateFileName), data, 0o600))
			return dir
		}, want: signer.StateFileName + " is there", code: reserve.CodeFailedPrecondition},
		{name: "a line in this release's format", dir: func(t *testing.T) string {
			return u.dir(t, oldLedgerLine(u.entries[1])+string(current))
		}, want: "line 2 is in this release's format (it has \"prev\"): the directory's signer.state was deleted", code: reserve.CodeFailedPrecondition},
		{name: "only lines in this release's format", dir: func(t *testing.T) string {
			return u.dir(t, string(current))
		}, want: "line 1 is in this release's format", code: reserve.CodeFailedPrecondition},
		{name: "a damaged line", dir: func(t *testing.T) string {
			return u.dir(t, oldLedgerLine(u.entries[0])+oldLedgerLine(bad))
		}, want: "line 2: amount_sat 0 is outside", is: signer.ErrLedgerCorrupt, code: reserve.CodeFailedPrecondition},
		{name: "a field the previous release did not write", dir: func(t *testing.T) string {
			return u.dir(t, strings.Replace(u.ledger, `{"intent_digest"`, `{"memo":"x","intent_digest"`, 1))
		}, want: `line 1: not a ledger entry: json: unknown field "memo"`, is: signer.ErrLedgerCorrupt, code: reserve.CodeFailedPrecondition},
		{name: "a last line cut short", dir: func(t *testing.T) string {
			return u.dir(t, strings.TrimSuffix(u.ledger, "\n"))
		}, want: "line 2: the line is incomplete", is: signer.ErrLedgerCorrupt, code: reserve.CodeFailedPrecondition},
		{name: "a descriptor without this key", dir: func(t *testing.T) string {
			return MustOldDir(t, otherDesc, policy, "4\n", u.ledger)
		}, want: "this signer's key " + recordArt + " is not in the descriptor", is: signer.ErrKeyNotInDescriptor, code: reserve.CodeInvalid},
		{name: "no descriptor", dir: func(t *testing.T) string {
			dir := u.dir(t, u.ledger)
			require.NoError(t, os.Remove(filepath.Join(dir, signer.DescriptorFileName)))
			return dir
		}, want: "no wallet descriptor registered", is: signer.ErrNotRegistered, code: reserve.CodeFailedPrecondition},
		{name: "a policy that does not parse", dir: func(t *testing.T) string {
			return MustOldDir(t, f.desc, []byte("officers: [\n"), "4\n", u.ledger)
		}, want: signer.PolicyFileName + " is not valid", code: reserve.CodeFailedPrecondition},
		{name: "a policy number that is not one", dir: func(t *testing.T) string {
			return MustOldDir(t, f.desc, policy, "four\n", u.ledger)
		}, want: signer.PolicySeqFileName + ` does not hold a policy number ("four\n")`, code: reserve.CodeFailedPrecondition},
		{name: "a policy number without a policy", dir: func(t *testing.T) string {
			return MustOldDir(t, f.desc, nil, "4\n", u.ledger)
		}, want: "holds policy number 4 but no policy is pinned", code: reserve.CodeFailedPrecondition},
		{name: "changed since the summary", dir: func(t *testing.T) string {
			dir := u.dir(t, u.ledger)
			var err error
			plan, err = signer.PlanUpgrade(dir, reserve.Regtest)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, signer.LedgerFileName), []byte(oldLedgerLine(u.entries[1])), 0o600))
			return dir
		}, confirmed: &plan, want: "changed since its summary was shown", code: reserve.CodeConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			before := snapshot(t, dir)
			_, err := signer.UpgradeState(dir, f.us().key, tt.confirmed)
			require.ErrorIs(t, err, signer.ErrUpgradeRefused)
			require.ErrorContains(t, err, tt.want)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			require.Equal(t, tt.code, reserve.CodeOf(err), "%v", err)
			require.Equal(t, before, snapshot(t, dir), "a refusal writes nothing")
		})
	}
}
