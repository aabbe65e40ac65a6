package signer

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

var (
	// ErrNotApproved is returned for a PSBT that does not carry the
	// approvals its payment needs under the pinned policy: none at all,
	// or fewer officers than the policy requires.
	ErrNotApproved = errors.New("not approved by enough officers")

	// ErrSignedOther is returned when this signer already signed another
	// transaction for the same intent that the new one does not
	// conflict with: both could confirm and pay twice.
	ErrSignedOther = errors.New("already signed another transaction for this intent")

	// ErrPaysAgain is returned when this signer already signed a
	// transaction, under other approvals, for the payment the new one
	// makes (the same proposal, one the intent supersedes, or the same
	// payee and amount without Repeat) and the new one spends none of its
	// inputs: both could confirm and pay twice (docs/approvals.md, "One
	// payment, paid once").
	ErrPaysAgain = errors.New("pays an approved payment again")
)

// Rules are what Check and Sign hold a PSBT to besides the pinned wallet:
// the policy this signer pinned, its own ledger of what it signed, its fee
// ceilings and its clock.
type Rules struct {
	// Policy is the pinned policy (LoadPolicy); without one nothing is
	// signed.
	Policy *reserve.Policy
	// Ledger is this signer's ledger (OpenLedger); without one nothing is
	// signed.
	Ledger *Ledger
	// Limits are this signer's own fee ceilings.
	Limits Limits
	// Now is the clock that approvals expire and velocity windows end by;
	// nil means time.Now.
	Now func() time.Time
	// Fingerprint is this signer's master fingerprint (KeyFile.Record),
	// whose consistency proof Check reads from the PSBT when the signer
	// witnesses the audit log; Sign uses the unlocked key's instead.
	Fingerprint uint32
}

// LoadRules reads the policy pinned in dir and opens dir's ledger, with
// the fee ceilings lim and the clock now (nil for time.Now). It fails with
// ErrNoPolicy when no policy is pinned.
func LoadRules(dir string, lim Limits, now func() time.Time) (Rules, error) {
	p, err := LoadPolicy(dir)
	if err != nil {
		return Rules{}, err
	}
	l, err := OpenLedger(dir)
	if err != nil {
		return Rules{}, err
	}
	return Rules{Policy: p, Ledger: l, Limits: lim, Now: now}, nil
}

func (r Rules) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Approved is what the officers approved and who they were, as this
// signer checked it against its pinned policy and its ledger.
type Approved struct {
	// PolicyHash is the pinned policy's hash, the one the intent names.
	PolicyHash [32]byte
	// Intent is the approved payment: proposal, payees, fee cap, expiry.
	Intent reserve.Intent
	// Digest is the intent's approve digest, the key of the ledger.
	Digest [32]byte
	// Officers approved, each once, in policy order; Needed is how many
	// the pinned policy requires for this payment.
	Officers []reserve.Officer
	Needed   int
	// Replaces are the other transactions for this intent that this
	// signer already signed; this one spends an input of each (a fee
	// bump), so at most one of them can confirm.
	Replaces []chainhash.Hash
	// Conflicts are the transactions this signer signed under other
	// approvals for the same payment (the same proposal, one the intent
	// supersedes, or the same payee and amount), in ledger order; this
	// one spends an input of each, so at most one of them can confirm.
	Conflicts []Conflict
	// recorded is set when the ledger already holds this transaction.
	recorded bool
}

// checkApprovals checks the PSBT's intent and approvals, a being its
// analysis against d and txid its transaction's id: the intent is for d's
// wallet, the outputs are exactly its payees within its fee cap, the
// officers' approvals meet the pinned policy at now with velocity counted
// from the ledger, and the ledger holds no transaction for the intent that
// this one does not conflict with.
func checkApprovals(pkt *psbt.Packet, d *multisig.Descriptor, a multisig.Analysis, txid chainhash.Hash, r Rules, now time.Time) (Approved, error) {
	if r.Policy == nil {
		return Approved{}, reserve.Errorf(reserve.CodeFailedPrecondition, "%w: run register --policy FILE first", ErrNoPolicy)
	}
	if r.Ledger == nil {
		return Approved{}, reserve.Errorf(reserve.CodeFailedPrecondition, "no signing ledger: nothing is signed without one")
	}
	in, approvals, err := multisig.ReadApprovals(pkt)
	if err != nil {
		return Approved{}, err
	}
	if in == nil {
		return Approved{}, refuse(reserve.CodeFailedPrecondition, ErrNotApproved,
			"%s: this PSBT carries no officer approvals (no custos intent); the coordinator must release it with them", ErrNotApproved)
	}
	if in.Network != d.Network() || in.WalletID != d.WalletID() {
		return Approved{}, reserve.Invalid("intent", "the approvals are for wallet %s on %s, this signer's wallet is %s on %s",
			in.WalletID, in.Network, d.WalletID(), d.Network())
	}
	if err := multisig.CheckIntentOutputs(a, in); err != nil {
		return Approved{}, reserve.Errorf(reserve.CodeOf(err), "the transaction is not the payment the officers approved for proposal %s: %w", in.ProposalID, err)
	}
	digest, err := in.Digest(reserve.DecisionApprove)
	if err != nil {
		return Approved{}, err
	}
	entries, err := r.Ledger.Entries()
	if err != nil {
		return Approved{}, err
	}
	// Proofs of reserves move nothing: neither velocity nor the pay-once
	// rule counts them.
	entries = payments(entries)
	ins := make([]wire.OutPoint, len(a.Inputs))
	for i, in := range a.Inputs {
		ins[i] = in.OutPoint
	}
	spends := make(map[wire.OutPoint]bool, len(pkt.UnsignedTx.TxIn))
	for _, txIn := range pkt.UnsignedTx.TxIn {
		spends[txIn.PreviousOutPoint] = true
	}
	v, err := view(entries, digest, txid, ins, replaced(in, digest, entries, spends), now)
	if err != nil {
		return Approved{}, err
	}

	q, err := count(r.Policy, in, approvals, d.Network(), a, v.spent, now)
	if err != nil {
		return Approved{}, err
	}
	ok := Approved{PolicyHash: in.PolicyHash, Intent: *in, Digest: digest, Needed: q.Requirement.Approvals, recorded: v.signed}
	for _, id := range q.Officers {
		o, _ := r.Policy.Officer(id)
		ok.Officers = append(ok.Officers, o)
	}
	if !q.Met() {
		who := "nobody"
		if len(q.Officers) > 0 {
			who = strings.Join(q.Officers, ", ")
		}
		return Approved{}, refuse(reserve.CodeFailedPrecondition, ErrNotApproved, "%d of %d approvals needed for proposal %s under the pinned policy: approved by %s",
			len(q.Officers), q.Requirement.Approvals, in.ProposalID, who)
	}

	// A payment signed under other approvals is paid again only by a
	// transaction that conflicts with it.
	if ok.Conflicts, err = payOnce(in, digest, entries, spends, v.signed); err != nil {
		return Approved{}, err
	}

	// A second transaction for one intent is a fee bump only if it
	// conflicts with every one signed before: then at most one confirms.
	for _, e := range v.others {
		if !sharesInput(e, spends) {
			return Approved{}, refuse(reserve.CodeConflict, ErrSignedOther,
				"already signed transaction %s for this intent (proposal %s) at %s; a second one spending other coins could pay twice",
				e.TxID, e.ProposalID, e.SignedAt.UTC().Format(time.RFC3339))
		}
		ok.Replaces = append(ok.Replaces, e.TxID)
	}
	return ok, nil
}

// count runs reserve.CountApprovals on the pinned policy p with the
// transaction's own fee and size, and says in its refusals that the
// policy is the pinned one and the velocity figures this signer's.
func count(p *reserve.Policy, in *reserve.Intent, approvals []reserve.Approval, n reserve.Network, a multisig.Analysis,
	spent reserve.Spent, now time.Time) (reserve.Quorum, error) {
	pays, err := multisig.IntentPayments(in, n)
	if err != nil {
		return reserve.Quorum{}, err
	}
	q, err := reserve.CountApprovals(p, in, approvals, pays, a.FeeSat, a.VSize, spent, now)
	if err != nil {
		h := p.Hash()
		msg := fmt.Sprintf("under the pinned policy %x: %s", h[:8], err)
		if errors.Is(err, reserve.ErrVelocityExceeded) {
			msg += " (what was already paid is counted from this signer's own ledger)"
		}
		return reserve.Quorum{}, &reserve.Error{Code: reserve.CodeOf(err), Msg: msg, Err: err}
	}
	return q, nil
}

// refuse is an error of the given code with the whole message given and
// cause kept for errors.Is (reserve.Errorf would append the cause's
// text). The signer's refusals all go through it.
func refuse(code reserve.Code, cause error, format string, args ...any) *reserve.Error {
	return &reserve.Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// ledgerEntry is the record of signing s's transaction at now.
func ledgerEntry(s Summary, now time.Time) LedgerEntry {
	e := LedgerEntry{
		IntentDigest: s.Approved.Digest,
		ProposalID:   s.Approved.Intent.ProposalID,
		PolicyHash:   s.Approved.PolicyHash,
		TxID:         s.TxID,
		AmountSat:    s.Approved.Intent.TotalSat(),
		SignedAt:     now.UTC().Truncate(time.Second),
	}
	e.Supersedes = slices.Clone(s.Approved.Intent.Supersedes)
	for _, p := range s.Approved.Intent.Payees {
		e.Payees = append(e.Payees, reserve.IntentPayee{Script: bytes.Clone(p.Script), AmountSat: p.AmountSat})
	}
	for _, in := range s.Inputs {
		e.Inputs = append(e.Inputs, in.OutPoint)
	}
	return e
}
