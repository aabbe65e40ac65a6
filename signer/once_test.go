package signer_test

import (
	"bytes"
	"os"
	"strings"
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
)

// oldLedgerLine1 is a ledger line as commit 109048b (before ledger
// entries recorded their payees) wrote it with the "abandon … art" key
// (MustKey): entryFor(5a…, 0x51, 0.7 BTC, Now, 61…:3) for P000001.
const oldLedgerLine1 = `{"prev":"0000000000000000000000000000000000000000000000000000000000000000",` +
	`"intent_digest":"5a00000000000000000000000000000000000000000000000000000000000000","proposal_id":"P000001",` +
	`"policy_hash":"aa00000000000000000000000000000000000000000000000000000000000000",` +
	`"txid":"0000000000000000000000000000000000000000000000000000000000000051",` +
	`"inputs":["0000000000000000000000000000000000000000000000000000000000000061:3"],"amount_sat":70000000,` +
	`"signed_at":"2026-12-01T12:00:00Z","mac":"db2ef200d7619d8d1783636c7e8908492ad84033a2b9b9b36a4a3d0eee4b06b1"}` + "\n"

// oldEntry1 is the entry of oldLedgerLine1.
func oldEntry1() signer.LedgerEntry {
	e := entryFor([32]byte{0x5a}, 0x51, 70_000_000, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{0x61}, Index: 3})
	e.ProposalID = "P000001"
	return e
}

// TestLedgerOldLinesRead: a line written before entries recorded their
// payees reads and authenticates as it is, an entry without payees is
// still written byte for byte as it was, and entries with payees (and a
// cancel's, of 0 sat) are appended after it and read back.
func TestLedgerOldLinesRead(t *testing.T) {
	key := MustKey(t)
	l := MustLedgerWith(t, []byte(oldLedgerLine1))
	require.Equal(t, []signer.LedgerEntry{oldEntry1()}, MustEntries(t, l))

	// The same entry appended today is the same line.
	fresh := MustLedgerWith(t, nil)
	require.NoError(t, fresh.Append(key, oldEntry1()))
	require.Equal(t, oldLedgerLine1, string(MustRead(t, fresh.Path())))

	paid := entryFor([32]byte{0x5b}, 0x52, 70_000_001, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{0x62}})
	paid.Payees = []reserve.IntentPayee{{Script: []byte{0x00, 0x14, 0xab}, AmountSat: 70_000_000}, {Script: []byte{0x51}, AmountSat: 1}}
	paid.Supersedes = []string{"P000000", "P000001"}
	cancel := entryFor([32]byte{0x5c}, 0x53, 0, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{0x61}, Index: 3})
	require.NoError(t, l.Append(key, paid))
	require.NoError(t, l.Append(key, cancel))
	// Append read every line under key: the old line authenticates.
	require.Equal(t, []signer.LedgerEntry{oldEntry1(), paid, cancel}, MustEntries(t, l))
	data := string(MustRead(t, l.Path()))
	require.True(t, strings.HasPrefix(data, oldLedgerLine1))
	require.Contains(t, data, `"amount_sat":70000001,"payees":[{"script":"0014ab","amount_sat":70000000},{"script":"51","amount_sat":1}],"supersedes":["P000000","P000001"],"signed_at":`)
	require.Contains(t, data, `"amount_sat":0,"signed_at":`)
}

// TestLedgerPayeesRefused: a line whose payees are not as the signer
// writes them is damage, named by its line; a negative amount still is.
func TestLedgerPayeesRefused(t *testing.T) {
	key := MustKey(t)
	l := MustLedgerWith(t, nil)
	e := oldEntry1()
	e.Payees = []reserve.IntentPayee{{Script: []byte{0x00, 0x14, 0xab}, AmountSat: 70_000_000}}
	require.NoError(t, l.Append(key, e))
	line := string(MustRead(t, l.Path()))
	const payees = `"payees":[{"script":"0014ab","amount_sat":70000000}]`
	require.Contains(t, line, payees)

	tests := []struct {
		name string
		old  string
		new  string
		want string
	}{
		{name: "no payees listed", old: payees, new: `"payees":[]`, want: "payees lists 0 payees"},
		{name: "upper-case script", old: `"0014ab"`, new: `"0014AB"`, want: "payees[0].script is not 1 to 10000 bytes of lowercase hex"},
		{name: "empty script", old: `"0014ab"`, new: `""`, want: "payees[0].script is not"},
		{name: "a payee of 0 sat", old: payees, new: `"payees":[{"script":"0014ab","amount_sat":0}]`, want: "payees[0].amount_sat 0 is outside"},
		{name: "payees that do not add up", old: payees, new: `"payees":[{"script":"0014ab","amount_sat":69999999}]`,
			want: "the payees total 69999999 sat, and amount_sat is 70000000"},
		{name: "a negative amount", old: `"amount_sat":70000000,"payees"`, new: `"amount_sat":-1,"payees"`, want: "amount_sat -1 is outside 0 sat"},
		{name: "no proposals superseded listed", old: payees, new: payees + `,"supersedes":[]`, want: "supersedes lists 0 proposals"},
		{name: "an empty superseded id", old: payees, new: payees + `,"supersedes":[""]`, want: "supersedes[0] is not a proposal id"},
		{name: "an unknown payee field", old: `"amount_sat":70000000}]`, new: `"amount_sat":70000000,"memo":"x"}]`, want: `not a ledger entry: json: unknown field "memo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Contains(t, line, tt.old)
			bad := MustLedgerWith(t, []byte(strings.Replace(line, tt.old, tt.new, 1)))
			_, err := bad.Entries()
			require.ErrorIs(t, err, signer.ErrLedgerCorrupt)
			require.ErrorContains(t, err, "line 1: "+tt.want)
		})
	}
}

// paysOnce is the signer under test and what it signed before: P000001,
// paying the fixture's payee 0.7 BTC.
type paysOnce struct {
	f  *walletFixture
	sp *spend
}

// psbtFor is a PSBT spending ins, paying pays (script, amount) and the
// rest less normalFee to change index 3, with in (made by edit from the
// coordinator's intent for it) approved by alice and bob.
func (o paysOnce) psbtFor(t *testing.T, ins []reserve.Input, pays []reserve.IntentPayee, edit func(*reserve.Intent)) (*psbt.Packet, *reserve.Intent) {
	t.Helper()
	change := -normalFee
	for _, in := range ins {
		change += in.AmountSat
	}
	var outs []multisig.Output
	for _, p := range pays {
		outs = append(outs, multisig.Output{Script: p.Script, AmountSat: p.AmountSat})
		change -= p.AmountSat
	}
	idx := changeIndex
	outs = append(outs, multisig.Output{Script: MustDerive(t, o.f.desc, reserve.BranchChange, changeIndex).PkScript, AmountSat: change, ChangeIndex: &idx})
	p, err := multisig.CreatePSBT(multisig.CreateParams{Descriptor: o.f.desc, Inputs: ins, PrevTxs: o.sp.prevs, Outputs: outs})
	require.NoError(t, err)
	in := &reserve.Intent{
		Network:    o.f.desc.Network(),
		WalletID:   o.f.desc.WalletID(),
		ProposalID: "P000002",
		PolicyHash: o.f.policy.Hash(),
		Payees:     pays,
		FeeCapSat:  signertest.FeeCapSat,
		ExpiresAt:  signertest.Now().Add(7 * 24 * time.Hour),
	}
	if edit != nil {
		edit(in)
	}
	signertest.MustSetApprovals(t, p, in, signertest.Alice(), signertest.Bob())
	return p, in
}

// TestSignPaysOnce: the signer holds a payment against the transactions
// it signed under other approvals for the same payment (the same
// proposal, one the intent supersedes, the same payee and amount unless
// the officers approved a repeat): the new transaction must spend one of
// each one's inputs.
func TestSignPaysOnce(t *testing.T) {
	f := newWalletFixture(t)
	o := paysOnce{f: f, sp: newSpend(t, f.desc)}
	now := signertest.Now()
	payee := reserve.IntentPayee{Script: payeeScript(t), AmountSat: payeeSat}
	stranger, strangerAddr := otherScript(t, 0x43)
	elsewhere := wire.OutPoint{Hash: chainhash.Hash{0x99}, Index: 1}
	in0, in1, in2 := o.sp.inputs[0], o.sp.inputs[1], o.sp.inputs[2]
	signedAt := now.Add(-2 * time.Hour)
	// p1 is P000001's transaction 0x01, signed under other approvals
	// (digest 77…), paying pays from ins.
	p1 := func(txSeed byte, pays []reserve.IntentPayee, ins ...wire.OutPoint) signer.LedgerEntry {
		e := entryFor([32]byte{0x77}, txSeed, 0, signedAt, ins...)
		e.ProposalID, e.Payees = "P000001", pays
		for _, p := range pays {
			e.AmountSat += p.AmountSat
		}
		return e
	}
	tx1 := chainhash.Hash{0x01}
	supersedes := func(in *reserve.Intent) { in.Supersedes = []string{"P000001"} }

	tests := []struct {
		name    string
		ledger  []signer.LedgerEntry
		ins     []reserve.Input
		pays    []reserve.IntentPayee
		edit    func(*reserve.Intent)
		want    []signer.Conflict // when signed
		refused []string          // when refused: ErrPaysAgain naming these
		// velocity: refused for the velocity caps instead.
		velocity bool
	}{
		// Allowed.
		{
			name:   "supersedes P000001 and spends an input of its transaction",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, elsewhere, in1.OutPoint)},
			ins:    []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee}, edit: supersedes,
			want: []signer.Conflict{{ProposalID: "P000001", TxID: tx1, SignedAt: signedAt, Input: in1.OutPoint, Why: signer.WhySupersedes}},
		},
		{
			name:   "the same payee and amount, spending an input of the earlier transaction",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, in2.OutPoint)},
			ins:    []reserve.Input{in0, in2}, pays: []reserve.IntentPayee{payee},
			want: []signer.Conflict{{ProposalID: "P000001", TxID: tx1, SignedAt: signedAt, Input: in2.OutPoint, Why: signer.WhySamePayee}},
		},
		{
			// 1.3 BTC of another payment today: 1.3 + 0.7 is the 2 BTC
			// cap, allowed only if P000001's 0.7 BTC, which cannot
			// confirm beside this one, is not counted as well.
			name: "a replacement counts once toward velocity",
			ledger: []signer.LedgerEntry{entryFor([32]byte{0x33}, 0x07, 130_000_000, now.Add(-time.Minute), elsewhere),
				p1(0x01, []reserve.IntentPayee{payee}, in1.OutPoint)},
			ins: []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee}, edit: supersedes,
			want: []signer.Conflict{{ProposalID: "P000001", TxID: tx1, SignedAt: signedAt, Input: in1.OutPoint, Why: signer.WhySupersedes}},
		},
		{
			name: "a replacement paying less than what it replaces counts both toward velocity",
			ledger: []signer.LedgerEntry{entryFor([32]byte{0x33}, 0x07, 130_000_000, now.Add(-time.Minute), elsewhere),
				p1(0x01, []reserve.IntentPayee{payee, {Script: stranger, AmountSat: 1}}, in1.OutPoint)},
			ins: []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee}, edit: supersedes,
			velocity: true,
		},
		{
			name:   "a repeat the officers approved",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, elsewhere)},
			ins:    []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee},
			edit: func(in *reserve.Intent) { in.Repeat = true },
		},
		{
			name:   "another payee",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{{Script: stranger, AmountSat: payeeSat}}, elsewhere)},
			ins:    []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee},
		},
		{
			name:   "another amount",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{{Script: payee.Script, AmountSat: payeeSat + 1}}, elsewhere)},
			ins:    []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee},
		},
		{
			name:   "an older entry without payees is matched by proposal only",
			ledger: []signer.LedgerEntry{p1(0x01, nil, elsewhere)},
			ins:    []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee},
		},
		{
			name:   "a cancel that spends an input of the superseded transaction",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, in0.OutPoint, elsewhere)},
			ins:    []reserve.Input{in0}, edit: supersedes,
			want: []signer.Conflict{{ProposalID: "P000001", TxID: tx1, SignedAt: signedAt, Input: in0.OutPoint, Why: signer.WhySupersedes}},
		},
		{
			name: "P000001 again under new approvals, spending an input of what was signed for it",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, in1.OutPoint),
				p1(0x02, []reserve.IntentPayee{payee}, in0.OutPoint)},
			ins: []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee},
			edit: func(in *reserve.Intent) { in.ProposalID = "P000001" },
			want: []signer.Conflict{
				{ProposalID: "P000001", TxID: tx1, SignedAt: signedAt, Input: in1.OutPoint, Why: signer.WhySameProposal},
				{ProposalID: "P000001", TxID: chainhash.Hash{0x02}, SignedAt: signedAt, Input: in0.OutPoint, Why: signer.WhySameProposal},
			},
		},

		{
			name: "P000001 after the proposal that superseded it, spending an input of its transaction",
			ledger: []signer.LedgerEntry{func() signer.LedgerEntry {
				e := p1(0x01, []reserve.IntentPayee{{Script: stranger, AmountSat: 5_000_000}}, in1.OutPoint)
				e.ProposalID, e.Supersedes = "P000002", []string{"P000001"}
				return e
			}()},
			ins: []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee},
			edit: func(in *reserve.Intent) { in.ProposalID = "P000001" },
			want: []signer.Conflict{{ProposalID: "P000002", TxID: tx1, SignedAt: signedAt, Input: in1.OutPoint, Why: signer.WhySupersededBy}},
		},

		// Refused.
		{
			name: "P000001 after the proposal that superseded it, from other coins",
			ledger: []signer.LedgerEntry{func() signer.LedgerEntry {
				e := p1(0x01, nil, elsewhere)
				e.ProposalID, e.Supersedes = "P000002", []string{"P000000", "P000001"}
				return e
			}()},
			ins: []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee},
			edit: func(in *reserve.Intent) { in.ProposalID = "P000001" },
			refused: []string{"proposal P000001 was superseded by P000002: this signer signed transaction " + tx1.String() +
				" for proposal P000002", "(custosctl spend propose --replaces P000002)"},
		},
		{
			name:   "the same payee and amount from other coins, no link",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, elsewhere)},
			ins:    []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee},
			refused: []string{"pays an approved payment again: proposal P000002 pays 0.70000000 BTC to " + payeeAddress(t) + " again: this signer signed transaction " +
				tx1.String() + " for proposal P000001 at 2026-12-01T10:00:00Z, and this transaction spends none of its inputs, so both could confirm; " +
				"if that transaction can never confirm, the replacement must spend one of its inputs (custosctl spend propose --replaces P000001); " +
				"if this is a deliberate second payment, the officers approve it as one (--repeat)"},
		},
		{
			name:   "one of two payees paid before",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, elsewhere)},
			ins:    []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{{Script: payee.Script, AmountSat: 1_000_000}, payee},
			refused: []string{"proposal P000002 pays 0.70000000 BTC to " + payeeAddress(t) + " again"},
		},
		{
			name:   "supersedes P000001 and spends none of its inputs",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{{Script: stranger, AmountSat: 5_000_000}}, elsewhere)},
			ins:    []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee}, edit: supersedes,
			refused: []string{"proposal P000002 supersedes P000001: this signer signed transaction " + tx1.String() +
				" for proposal P000001 at 2026-12-01T10:00:00Z, paying 0.05000000 BTC to " + strangerAddr + ", and this transaction spends none of its inputs",
				"a proposal that supersedes another must spend one of the inputs of every transaction signed for it"},
		},
		{
			name:   "P000001 again under new approvals, from other coins",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, elsewhere)},
			ins:    []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee},
			edit:    func(in *reserve.Intent) { in.ProposalID = "P000001" },
			refused: []string{"proposal P000001 is approved again under other approvals: this signer signed transaction " + tx1.String(), "--replaces P000001"},
		},
		{
			name:   "a repeat that supersedes P000001 and spends none of its inputs",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, elsewhere)},
			ins:    []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee},
			edit:    func(in *reserve.Intent) { in.Supersedes, in.Repeat = []string{"P000001"}, true },
			refused: []string{"proposal P000002 supersedes P000001", "(--repeat does not lift that)"},
		},
		{
			name:   "a cancel that spends none of the superseded transaction's inputs",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, elsewhere)},
			ins:    []reserve.Input{in0}, edit: supersedes,
			refused: []string{"proposal P000002 supersedes P000001"},
		},
		{
			name: "spends an input of one of two transactions signed for the payment",
			ledger: []signer.LedgerEntry{p1(0x01, []reserve.IntentPayee{payee}, in0.OutPoint),
				p1(0x02, []reserve.IntentPayee{payee}, elsewhere)},
			ins: []reserve.Input{in0, in1}, pays: []reserve.IntentPayee{payee}, edit: supersedes,
			refused: []string{"signed transaction " + chainhash.Hash{0x02}.String() + " for proposal P000001"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := o.psbtFor(t, tt.ins, tt.pays, tt.edit)
			rules := freshRules(t, f)
			for _, e := range tt.ledger {
				require.NoError(t, rules.Ledger.Append(f.us().key, e))
			}
			before, ledgerBefore := MustSerialize(t, p), ledgerBytes(t, rules.Ledger)
			s, n, err := signer.Sign(p, f.us().pinned, f.us().key, rules)
			if tt.velocity {
				require.ErrorIs(t, err, reserve.ErrVelocityExceeded)
				require.ErrorContains(t, err, "2.00000001 BTC already paid in 24 hours")
				return
			}
			if tt.refused == nil {
				require.NoError(t, err)
				require.Equal(t, len(tt.ins), n)
				require.Equal(t, tt.want, s.Approved.Conflicts)
				require.Len(t, MustEntries(t, rules.Ledger), len(tt.ledger)+1)
				return
			}
			require.ErrorIs(t, err, signer.ErrPaysAgain)
			require.Equal(t, reserve.CodeConflict, reserve.CodeOf(err), "%v", err)
			for _, w := range tt.refused {
				require.ErrorContains(t, err, w)
			}
			require.Zero(t, n)
			require.Equal(t, before, MustSerialize(t, p), "a refused PSBT is left as it was")
			require.Equal(t, ledgerBefore, ledgerBytes(t, rules.Ledger), "a refusal records nothing")
			_, err = signer.Check(p, f.desc, rules)
			require.ErrorIs(t, err, signer.ErrPaysAgain)
		})
	}
}

// TestSignPaysOnceScenario: the four steps of issue 10 with real
// signatures: P000001 signed; P000002 paying the same from other coins
// refused; a repeat the officers approved signed; P000001's transaction
// signed again (its signed PSBT wanted once more) is not refused for the
// repeat signed after it, and records nothing.
func TestSignPaysOnceScenario(t *testing.T) {
	f := newWalletFixture(t)
	o := paysOnce{f: f, sp: newSpend(t, f.desc)}
	rules := freshRules(t, f)
	payee := []reserve.IntentPayee{{Script: payeeScript(t), AmountSat: 20_000_000}}
	first, _ := o.psbtFor(t, o.sp.inputs[:1], payee, func(in *reserve.Intent) { in.ProposalID = "P000001" })
	again := MustClone(t, first)
	_, _, err := signer.Sign(first, f.us().pinned, f.us().key, rules)
	require.NoError(t, err)

	second, _ := o.psbtFor(t, o.sp.inputs[1:], payee, nil)
	_, _, err = signer.Sign(second, f.us().pinned, f.us().key, rules)
	require.ErrorIs(t, err, signer.ErrPaysAgain)

	repeat, _ := o.psbtFor(t, o.sp.inputs[1:], payee, func(in *reserve.Intent) { in.Repeat = true })
	_, _, err = signer.Sign(repeat, f.us().pinned, f.us().key, rules)
	require.NoError(t, err)
	ledger := ledgerBytes(t, rules.Ledger)

	s, n, err := signer.Sign(again, f.us().pinned, f.us().key, rules)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.True(t, s.Approved.Recorded())
	require.Equal(t, ledger, ledgerBytes(t, rules.Ledger))
	require.True(t, bytes.Equal(ledger, MustRead(t, rules.Ledger.Path())))
	_, err = os.Stat(rules.Ledger.Path())
	require.NoError(t, err)
}
