package reserve

import (
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// State is where a spend proposal is in its life. The numbers are
// persisted and on the wire: never reorder or reuse them.
type State uint8

const (
	StateUnspecified     State = 0
	StatePendingApproval State = 1
	StateApproved        State = 2
	StateSigning         State = 3
	StateFinalized       State = 4
	StateBroadcast       State = 5
	StateConfirmed       State = 6
	StateRejected        State = 7
	StateCancelled       State = 8
	StateExpired         State = 9
	StateFailed          State = 10
	StateReplaced        State = 11
)

var stateNames = map[State]string{
	StateUnspecified:     "UNSPECIFIED",
	StatePendingApproval: "PENDING_APPROVAL",
	StateApproved:        "APPROVED",
	StateSigning:         "SIGNING",
	StateFinalized:       "FINALIZED",
	StateBroadcast:       "BROADCAST",
	StateConfirmed:       "CONFIRMED",
	StateRejected:        "REJECTED",
	StateCancelled:       "CANCELLED",
	StateExpired:         "EXPIRED",
	StateFailed:          "FAILED",
	StateReplaced:        "REPLACED",
}

// String is the state's name as the CLI shows it ("SIGNING").
func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("STATE(%d)", uint8(s))
}

// ParseState reads a state name, case-sensitively as String writes it.
func ParseState(s string) (State, error) {
	for st, n := range stateNames {
		if n == s && st != StateUnspecified {
			return st, nil
		}
	}
	return StateUnspecified, fmt.Errorf("unknown proposal state %q", s)
}

// transitions lists every allowed state change. Anything else is refused.
var transitions = map[State][]State{
	StatePendingApproval: {StateApproved, StateRejected, StateCancelled, StateExpired},
	StateApproved:        {StateSigning, StateRejected, StateCancelled, StateExpired},
	StateSigning:         {StateFinalized, StateCancelled, StateExpired, StateFailed},
	StateFinalized:       {StateBroadcast, StateFailed},
	StateBroadcast:       {StateConfirmed, StateFailed, StateReplaced},
	StateConfirmed:       {StateBroadcast}, // a reorg can unconfirm it
}

// CanMove reports whether a proposal may go from s to next.
func (s State) CanMove(next State) bool {
	for _, t := range transitions[s] {
		if t == next {
			return true
		}
	}
	return false
}

// Final reports whether no transition leaves s.
func (s State) Final() bool { return len(transitions[s]) == 0 }

// HoldsCoins reports whether a proposal in state s keeps its inputs
// reserved. Reservations are released on every end state except
// BROADCAST and CONFIRMED (DESIGN.md): a broadcast transaction may still be
// evicted or reorganised out and sent again, and no other proposal may
// take its coins meanwhile. A proposal that ends after collecting its
// signatures (Proposal.MaySpend) keeps them too, until one of its inputs
// is spent by a confirmed transaction at the confirmation depth.
func (s State) HoldsCoins() bool {
	switch s {
	case StatePendingApproval, StateApproved, StateSigning, StateFinalized, StateBroadcast, StateConfirmed:
		return true
	case StateUnspecified, StateRejected, StateCancelled, StateExpired, StateFailed, StateReplaced:
	}
	return false
}

// Initial reports whether a new proposal may start in state s: waiting for
// approvals, or (without an approval policy) for signatures.
func (s State) Initial() bool {
	return s == StatePendingApproval || s == StateSigning
}

// Payee is one external output of a proposal.
type Payee struct {
	Address   string
	Script    []byte
	AmountSat int64
}

// Input is a wallet output a proposal spends.
type Input struct {
	OutPoint  wire.OutPoint
	AmountSat int64
	Branch    Branch
	Index     uint32
}

// Change is the proposal's change output, on the change branch.
type Change struct {
	Index     uint32
	AmountSat int64
	// Vout is the output's position in the transaction.
	Vout uint32
}

// Signature records that a cosigner's partial signatures were accepted.
type Signature struct {
	// Cosigner is the position of the key in the wallet's cosigner list.
	Cosigner    int
	Fingerprint uint32
	At          time.Time
}

// Transition is one entry of a proposal's history.
type Transition struct {
	State State
	At    time.Time
	// Actor is who caused it: a client identity's name, "daemon", or
	// "node" for what the chain did.
	Actor string
	Note  string
}

// Proposal is a payment from the reserve on its way to the chain.
type Proposal struct {
	ID       string
	WalletID string
	State    State
	Payees   []Payee
	Memo     string
	// FeeRate is the requested fee rate in sat/vB; FeeSat and VSize are
	// the fee and the virtual size with the largest possible signatures.
	FeeRate int64
	FeeSat  int64
	VSize   int64
	Inputs  []Input
	// Change is nil when the selection needed none.
	Change *Change
	// UnsignedTx is the serialized transaction without witnesses; every
	// imported PSBT must carry exactly these bytes.
	UnsignedTx []byte
	// PSBT is the canonical PSBT with every accepted partial signature.
	PSBT       []byte
	Signatures []Signature
	// Txid of the transaction (the same before and after signing).
	Txid chainhash.Hash
	// FinalTx is the finalized, extracted transaction once FINALIZED.
	FinalTx []byte
	// ConfirmedHeight is the block that confirmed it, 0 otherwise.
	ConfirmedHeight int32
	FailReason      string
	CreatedBy       string
	CreatedAt       time.Time
	ExpiresAt       time.Time
	History         []Transition

	// Intent is what the officers approve; the store fills its ProposalID
	// when it numbers the proposal. A fee bump carries the intent (and the
	// approvals) of the proposal it replaces.
	Intent *Intent
	// Decisions are the officers' signed approvals and vetoes, in the
	// order they arrived: each officer approves at most once, and may
	// veto after approving.
	Decisions []OfficerDecision
	// ReleaseAt is when an APPROVED proposal goes to the signers: quorum
	// plus the tier's cool-off. Zero before quorum.
	ReleaseAt time.Time
	// Replaces is the id of the broadcast proposal whose transaction this
	// one replaces (a BIP-125 fee bump); empty otherwise.
	Replaces string
}

// OfficerDecision is one officer's signed decision on a proposal's intent.
type OfficerDecision struct {
	// Officer is the officer's id in the policy the intent names.
	Officer  string
	Decision Decision
	// Approval holds the key and the signature over
	// Intent.Digest(Decision).
	Approval Approval
	At       time.Time
}

// Approvals returns the approvals among the decisions, in order.
func (p *Proposal) Approvals() []Approval {
	var out []Approval
	for _, d := range p.Decisions {
		if d.Decision == DecisionApprove {
			out = append(out, d.Approval)
		}
	}
	return out
}

// Decided returns the latest decision of the officer with key k, if any.
func (p *Proposal) Decided(k [32]byte) (OfficerDecision, bool) {
	for i := len(p.Decisions) - 1; i >= 0; i-- {
		if p.Decisions[i].Approval.OfficerKey == k {
			return p.Decisions[i], true
		}
	}
	return OfficerDecision{}, false
}

// Signed reports whether cosigner position i has signed.
func (p *Proposal) Signed(i int) bool {
	for _, s := range p.Signatures {
		if s.Cosigner == i {
			return true
		}
	}
	return false
}

// MaySpend reports whether the proposal's transaction could be put on
// the network by whoever holds its signatures: it has its final
// transaction, or at least threshold cosigners signed every input. Such a
// proposal keeps its inputs reserved after it ends (DESIGN.md) until one
// of them is spent by a confirmed transaction buried to the wallet's
// confirmation depth; the caller passes the wallet's threshold m.
func (p *Proposal) MaySpend(threshold int) bool {
	if len(p.FinalTx) > 0 {
		return true
	}
	if threshold <= 0 {
		return false
	}
	seen := make(map[int]bool, len(p.Signatures))
	for _, s := range p.Signatures {
		seen[s.Cosigner] = true
	}
	return len(seen) >= threshold
}

// Move changes the proposal's state and records the transition, refusing
// one the state machine does not allow.
func (p *Proposal) Move(next State, at time.Time, actor, note string) error {
	if !p.State.CanMove(next) {
		return Errorf(CodeFailedPrecondition, "proposal %s is %s and cannot become %s", p.ID, p.State, next)
	}
	p.State = next
	p.History = append(p.History, Transition{State: next, At: at, Actor: actor, Note: note})
	return nil
}

// CheckProposalID refuses what cannot be a proposal id, before any
// lookup or any use as a file name: 1 to 32 letters, digits and '-'.
func CheckProposalID(id string) error {
	if id == "" || len(id) > 32 {
		return Invalid("id", "proposal id must be 1 to 32 characters")
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-') {
			return Invalid("id", "proposal id %q has a character other than letters, digits and '-'", id)
		}
	}
	return nil
}
