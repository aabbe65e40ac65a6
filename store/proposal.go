package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// proposalIDFormat makes a proposal id from the proposals bucket's
// sequence: "P000001", "P000002", ...
const proposalIDFormat = "P%06d"

// CreateProposal records a new spend proposal in one transaction: it
// assigns the id ("P" and the creation sequence, zero-padded to six
// digits), reserves every input for it, marks its change address issued,
// writes the proposal and a proposal.create audit entry. It returns the
// proposal as stored. A zero CreatedAt is set from the store's clock.
//
// The caller leaves p.ID empty and gives a proposal of a sane shape (at
// least one input and one payee, amounts above zero and at most
// reserve.MaxSat, no input twice, a state that holds coins, a history
// whose last entry is that state, the unsigned transaction), for the
// store's wallet: CodeInvalid otherwise, naming the field. Each input must
// be a confirmed (and, for coinbase outputs, mature) wallet output that no
// transaction spends, not even one in the mempool, recorded with the
// amount, branch and index the proposal says, and reserved by no other
// proposal; the change address, if any, must be derived and neither issued
// nor paid. Anything else is CodeConflict naming the outpoint (and the
// proposal holding it) or the address, and changes nothing; so two
// proposals can never reserve one outpoint nor share a change address.
func (db *DB) CreateProposal(ctx context.Context, p reserve.Proposal) (reserve.Proposal, error) {
	if err := validateNewProposal(&p); err != nil {
		return reserve.Proposal{}, err
	}
	var out reserve.Proposal
	err := db.update(ctx, "create proposal", func(tx *bolt.Tx) error {
		w, err := readWallet(tx)
		switch {
		case reserve.CodeOf(err) == reserve.CodeNotFound:
			return reserve.Errorf(reserve.CodeFailedPrecondition, "cannot create a proposal before the wallet is created")
		case err != nil:
			return err
		case p.WalletID != w.ID:
			return reserve.Invalid("wallet_id", "proposal is for wallet %q, but the store holds wallet %q", p.WalletID, w.ID)
		}

		seq, err := tx.Bucket(bucketProposals).NextSequence()
		if err != nil {
			return fmt.Errorf("unable to number proposal: %w", err)
		}
		p.ID = fmt.Sprintf(proposalIDFormat, seq)
		if p.CreatedAt.IsZero() {
			p.CreatedAt = db.now()
		}

		change := "none"
		if p.Replaces == "" {
			if p.Intent != nil {
				// A copy: the caller's intent is not the store's to
				// change, least of all when this transaction rolls back.
				in := *p.Intent
				in.ProposalID = p.ID
				p.Intent = &in
			}
			if p.Intent != nil && len(p.Intent.Supersedes) > 0 {
				if err := db.supersede(tx, &p); err != nil {
					return err
				}
			} else if err := reserveInputs(tx, &p); err != nil {
				return err
			}
			if p.Change != nil {
				if err := issueChange(tx, &p); err != nil {
					return err
				}
				change = fmt.Sprintf("%s/%d", reserve.BranchChange, p.Change.Index)
			}
		} else {
			if err := takeOverInputs(tx, &p); err != nil {
				return err
			}
			if p.Change != nil {
				change = fmt.Sprintf("%s/%d (of %s)", reserve.BranchChange, p.Change.Index, p.Replaces)
			}
		}
		if out, err = putProposal(tx, &p); err != nil {
			return err
		}
		if err := linkProposal(tx, &p); err != nil { // live.go
			return err
		}
		ids := proposalIDs(&p)
		if p.Intent != nil {
			ids["policy"] = hex.EncodeToString(p.Intent.PolicyHash[:])
		}
		if p.Replaces != "" {
			ids["replaces"] = p.Replaces
		}
		return db.appendAudit(tx, AuditProposalCreate, ids, fmt.Sprintf(
			"id=%s payees=%d total_sat=%d fee_sat=%d inputs=%d change=%s state=%s by=%q",
			p.ID, len(p.Payees), payeeTotal(p.Payees), p.FeeSat, len(p.Inputs), change, p.State,
			reserve.Clip(p.CreatedBy, maxAuditFieldLen)))
	})
	if err != nil {
		return reserve.Proposal{}, err
	}
	return out, nil
}

// validateNewProposal checks what CreateProposal can check without the
// store: the shape of the proposal.
func validateNewProposal(p *reserve.Proposal) error {
	switch {
	case p.ID != "":
		return reserve.Invalid("id", "is assigned by the store; leave it empty (got %q)", p.ID)
	case p.WalletID == "":
		return reserve.Invalid("wallet_id", "is empty")
	case !p.State.Initial():
		return reserve.Invalid("state", "a new proposal must start PENDING_APPROVAL or SIGNING, not %s", p.State)
	case len(p.History) == 0:
		return reserve.Invalid("history", "a new proposal needs at least one transition")
	case p.History[len(p.History)-1].State != p.State:
		return reserve.Invalid("history", "the last transition is to %s, but the proposal is %s",
			p.History[len(p.History)-1].State, p.State)
	case len(p.UnsignedTx) == 0:
		return reserve.Invalid("unsigned_tx", "is empty")
	case p.FeeSat < 0:
		return reserve.Invalid("fee_sat", "%d is negative", p.FeeSat)
	case p.FeeRate < 0:
		return reserve.Invalid("fee_rate", "%d is negative", p.FeeRate)
	case p.VSize < 0:
		return reserve.Invalid("vsize", "%d is negative", p.VSize)
	case len(p.Payees) == 0 && (p.Intent == nil || !p.Intent.Cancels() && !p.Intent.Consolidate):
		return reserve.Invalid("payees", "a proposal pays at least one payee, unless it only cancels proposals it supersedes or consolidates coins")
	case len(p.Inputs) == 0:
		return reserve.Invalid("inputs", "a proposal spends at least one input")
	}

	var total int64
	for i := range p.Payees {
		py := &p.Payees[i]
		f := fmt.Sprintf("payees[%d]", i)
		if err := positiveAmount(f+".amount_sat", py.AmountSat); err != nil {
			return err
		}
		if len(py.Script) == 0 {
			return reserve.Invalid(f+".script", "payee %q has no script", py.Address)
		}
		// Each amount is at most MaxSat and so is the running total, so
		// the sum cannot overflow.
		if total += py.AmountSat; total > reserve.MaxSat {
			return reserve.Invalid("payees", "pay more than %d sat in total", reserve.MaxSat)
		}
	}

	seen := make(map[wire.OutPoint]int, len(p.Inputs))
	for i, in := range p.Inputs {
		f := fmt.Sprintf("inputs[%d]", i)
		if j, dup := seen[in.OutPoint]; dup {
			return reserve.Invalid(f, "spends %s, which inputs[%d] already spends", in.OutPoint, j)
		}
		seen[in.OutPoint] = i
		if err := positiveAmount(f+".amount_sat", in.AmountSat); err != nil {
			return err
		}
		if !validBranch(in.Branch) {
			return reserve.Invalid(f+".branch", "unknown branch %d", in.Branch)
		}
	}

	if p.Change != nil {
		if err := positiveAmount("change.amount_sat", p.Change.AmountSat); err != nil {
			return err
		}
	}
	return nil
}

func positiveAmount(field string, sat int64) error {
	if sat <= 0 || sat > reserve.MaxSat {
		return reserve.Invalid(field, "%d is not between 1 and %d", sat, reserve.MaxSat)
	}
	return nil
}

func payeeTotal(payees []reserve.Payee) int64 {
	var total int64
	for i := range payees {
		total += payees[i].AmountSat
	}
	return total
}

// reserveInputs checks that every input of p is a spendable wallet output
// that no proposal holds, and reserves it for p.
func reserveInputs(tx *bolt.Tx, p *reserve.Proposal) error {
	ub, rb := tx.Bucket(bucketUTXOs), tx.Bucket(bucketReservations)
	tip, _, _, err := readTip(tx)
	if err != nil {
		return err
	}
	for i, in := range p.Inputs {
		f := fmt.Sprintf("inputs[%d]", i)
		key := utxoKey(in.OutPoint)
		if err := checkCoin(ub, f, in, tip, nil); err != nil {
			return err
		}
		if holder := rb.Get(key); holder != nil {
			return reserve.Errorf(reserve.CodeConflict, "%s: output %s is reserved by proposal %s", f, in.OutPoint, string(holder))
		}
		if err := rb.Put(key, []byte(p.ID)); err != nil {
			return fmt.Errorf("unable to reserve output %s: %w", in.OutPoint, err)
		}
	}
	return nil
}

// checkCoin checks that input in (field f) is a confirmed, mature wallet
// output recorded as in says, unspent — or spent only in the mempool by
// one of the transactions mempoolOK lists.
func checkCoin(ub *bolt.Bucket, f string, in reserve.Input, tip int32, mempoolOK map[chainhash.Hash]string) error {
	u, found, err := getUTXO(ub, utxoKey(in.OutPoint))
	switch {
	case err != nil:
		return err
	case !found:
		return reserve.Errorf(reserve.CodeConflict, "%s: output %s is not a wallet output the store knows", f, in.OutPoint)
	case u.Spent && u.SpentHeight == 0 && mempoolOK[u.SpentBy] == "":
		return reserve.Errorf(reserve.CodeConflict, "%s: output %s is already spent by %s in the mempool", f, in.OutPoint, u.SpentBy)
	case u.Spent && u.SpentHeight > 0:
		return reserve.Errorf(reserve.CodeConflict, "%s: output %s is already spent by %s at height %d", f, in.OutPoint, u.SpentBy, u.SpentHeight)
	case u.Height == 0:
		return reserve.Errorf(reserve.CodeConflict, "%s: output %s is not confirmed yet", f, in.OutPoint)
	case !u.Mature(tip):
		return reserve.Errorf(reserve.CodeConflict, "%s: output %s is a coinbase output that is not mature yet", f, in.OutPoint)
	case u.AmountSat != in.AmountSat || u.Branch != in.Branch || u.Index != in.Index:
		return reserve.Errorf(reserve.CodeConflict, "%s: output %s is %d sat to address %s/%d, not %d sat to %s/%d",
			f, in.OutPoint, u.AmountSat, u.Branch, u.Index, in.AmountSat, in.Branch, in.Index)
	}
	return nil
}

// superseded returns every proposal whose intent is one of ids (the
// proposals themselves and their fee bumps, which carry their intent),
// in creation order, and refuses an id no proposal has.
func superseded(tx *bolt.Tx, ids []string) ([]reserve.Proposal, error) {
	for i, id := range ids {
		if _, err := readProposal(tx, id); reserve.CodeOf(err) == reserve.CodeNotFound {
			return nil, reserve.Invalid(fmt.Sprintf("supersedes[%d]", i), "proposal %q does not exist", id)
		} else if err != nil {
			return nil, err
		}
	}
	return scanProposals(tx, func(q *reserve.Proposal) bool {
		return q.Intent != nil && slices.Contains(ids, q.Intent.ProposalID)
	})
}

// scanProposals returns the proposals keep accepts, in creation order.
func scanProposals(tx *bolt.Tx, keep func(p *reserve.Proposal) bool) ([]reserve.Proposal, error) {
	var out []reserve.Proposal
	err := tx.Bucket(bucketProposals).ForEach(func(k, v []byte) error {
		p, err := decodeProposalAt(k, v)
		if err != nil {
			return err
		}
		if keep(&p) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Ids are "P" and a zero-padded sequence that grows a digit past
	// P999999: shorter ids are older.
	slices.SortFunc(out, func(a, b reserve.Proposal) int {
		if c := cmp.Compare(len(a.ID), len(b.ID)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// supersede reserves the inputs of a proposal whose intent supersedes
// earlier ones (reserve.Intent.Supersedes: the same payment, or its
// cancel). Its inputs are free coins, as reserveInputs checks them, or
// coins held by a proposal it supersedes (also when that one's
// transaction spends them in the mempool), which it takes over. It must
// spend an input of every superseded proposal that may still confirm
// (holds coins, or is signed: reserve.Proposal.MaySpend), so that at most
// one of them does; none may be CONFIRMED. Superseded proposals not yet
// FINALIZED end CANCELLED in the same transaction, their other coins
// released unless they are signed; a FINALIZED or BROADCAST one stays,
// and fails once this one's spend is buried. When this proposal ends,
// releaseInputs hands the coins it took back to the proposals that still
// hold or may spend them.
func (db *DB) supersede(tx *bolt.Tx, p *reserve.Proposal) error {
	w, err := readWallet(tx)
	if err != nil {
		return err
	}
	tip, _, _, err := readTip(tx)
	if err != nil {
		return err
	}
	olds, err := superseded(tx, p.Intent.Supersedes)
	if err != nil {
		return err
	}
	txids := make(map[chainhash.Hash]string, len(olds))
	holders := make(map[string]bool, len(olds))
	for _, q := range olds {
		if q.State == reserve.StateConfirmed {
			return reserve.Errorf(reserve.CodeFailedPrecondition,
				"proposal %s is CONFIRMED: the payment it supersedes is made (txid %s)", q.ID, q.Txid)
		}
		txids[q.Txid] = q.ID
		holders[q.ID] = true
	}
	ub, rb := tx.Bucket(bucketUTXOs), tx.Bucket(bucketReservations)
	mine := make(map[wire.OutPoint]bool, len(p.Inputs))
	for i, in := range p.Inputs {
		f := fmt.Sprintf("inputs[%d]", i)
		key := utxoKey(in.OutPoint)
		holder := rb.Get(key)
		ok := txids
		if holder == nil {
			ok = nil // a free coin must be unspent, even in the mempool
		} else if !holders[string(holder)] {
			return reserve.Errorf(reserve.CodeConflict, "%s: output %s is reserved by proposal %s, which this one does not supersede", f, in.OutPoint, string(holder))
		}
		if err := checkCoin(ub, f, in, tip, ok); err != nil {
			return err
		}
		if err := rb.Put(key, []byte(p.ID)); err != nil {
			return fmt.Errorf("unable to reserve output %s: %w", in.OutPoint, err)
		}
		mine[in.OutPoint] = true
	}
	now := p.CreatedAt
	for _, q := range olds {
		if !q.State.HoldsCoins() && !q.MaySpend(w.Threshold) {
			continue // ended unsigned: its transaction can never confirm
		}
		if !slices.ContainsFunc(q.Inputs, func(in reserve.Input) bool { return mine[in.OutPoint] }) {
			return reserve.Invalid("inputs", "proposal %s spends none of the inputs of proposal %s, which it supersedes: both could confirm", p.ID, q.ID)
		}
		if q.State != reserve.StatePendingApproval && q.State != reserve.StateApproved && q.State != reserve.StateSigning {
			continue
		}
		old := q
		if err := q.Move(reserve.StateCancelled, now, p.CreatedBy, "superseded by proposal "+p.ID); err != nil {
			return err
		}
		released, kept, err := releaseInputs(tx, &q, w.Threshold)
		if err != nil {
			return err
		}
		if _, err := putProposal(tx, &q); err != nil {
			return err
		}
		for _, l := range auditProposalUpdate(&old, &q, released, kept) {
			if err := db.appendLeaf(tx, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// takeOverInputs checks a replacement (a fee bump) against the proposal it
// replaces and moves the reservations of its inputs to it. The replaced
// proposal must be BROADCAST with the same intent and payees; the
// replacement spends only its inputs, at least one of them (so at most one
// of the two transactions can confirm), and keeps its change address or
// has none. The replaced proposal's transaction may be in the mempool, so
// the inputs are not checked for being unspent: they are checked for
// being reserved by it.
func takeOverInputs(tx *bolt.Tx, p *reserve.Proposal) error {
	old, err := readProposal(tx, p.Replaces)
	if reserve.CodeOf(err) == reserve.CodeNotFound {
		return reserve.Invalid("replaces", "proposal %q does not exist", p.Replaces)
	}
	if err != nil {
		return err
	}
	switch {
	case old.State != reserve.StateBroadcast:
		return reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is %s; only a BROADCAST proposal can be replaced", old.ID, old.State)
	case old.Intent == nil || p.Intent == nil || !old.Intent.Equal(p.Intent):
		return reserve.Invalid("intent", "a replacement carries the intent of proposal %s unchanged", old.ID)
	case !slices.EqualFunc(old.Payees, p.Payees, payeeEqual):
		return reserve.Invalid("payees", "a replacement pays what proposal %s pays", old.ID)
	case p.Change != nil && (old.Change == nil || old.Change.Index != p.Change.Index):
		return reserve.Invalid("change", "a replacement keeps the change address of proposal %s", old.ID)
	}
	rb := tx.Bucket(bucketReservations)
	for i, in := range p.Inputs {
		key := utxoKey(in.OutPoint)
		holder := string(rb.Get(key))
		if holder != old.ID {
			return reserve.Errorf(reserve.CodeConflict, "inputs[%d]: output %s is not an input of proposal %s", i, in.OutPoint, old.ID)
		}
		if !slices.Contains(old.Inputs, in) {
			return reserve.Invalid(fmt.Sprintf("inputs[%d]", i), "output %s is not recorded as proposal %s records it", in.OutPoint, old.ID)
		}
		if err := rb.Put(key, []byte(p.ID)); err != nil {
			return fmt.Errorf("unable to reserve output %s: %w", in.OutPoint, err)
		}
	}
	return nil
}

// issueChange marks p's change address issued, so that no other proposal
// and no `address new` ever hands it out again.
func issueChange(tx *bolt.Tx, p *reserve.Proposal) error {
	ab := tx.Bucket(bucketAddresses)
	key := addressKey(reserve.BranchChange, p.Change.Index)
	v := ab.Get(key)
	if v == nil {
		return reserve.Errorf(reserve.CodeConflict, "change: change address %d is not derived yet: extend the lookahead first", p.Change.Index)
	}
	a, err := decodeAddress(v)
	if err != nil {
		return corrupt("address", key, err)
	}
	switch {
	case a.Issued:
		return reserve.Errorf(reserve.CodeConflict, "change: change address %d (%s) is already issued (%q)", a.Index, a.Address.Address, a.Label)
	case a.Used:
		return reserve.Errorf(reserve.CodeConflict, "change: change address %d (%s) has already been paid", a.Index, a.Address.Address)
	}
	a.Issued, a.Label = true, "change of proposal "+p.ID
	if v, err = encodeAddress(&a); err != nil {
		return fmt.Errorf("unable to encode address %s/%d: %w", a.Branch, a.Index, err)
	}
	if err := ab.Put(key, v); err != nil {
		return fmt.Errorf("unable to write address %s/%d: %w", a.Branch, a.Index, err)
	}
	return nil
}

// putProposal writes p under its id and returns it as a later read will:
// decoded from the bytes written.
func putProposal(tx *bolt.Tx, p *reserve.Proposal) (reserve.Proposal, error) {
	v, err := encodeProposal(p)
	if err != nil {
		return reserve.Proposal{}, inputError("", err)
	}
	if err := tx.Bucket(bucketProposals).Put([]byte(p.ID), v); err != nil {
		return reserve.Proposal{}, fmt.Errorf("unable to write proposal %s: %w", p.ID, err)
	}
	if err := indexProposal(tx, p.ID, p.State); err != nil {
		return reserve.Proposal{}, err
	}
	stored, err := decodeProposal(v)
	if err != nil {
		return reserve.Proposal{}, fmt.Errorf("unable to read back proposal %s: %w", p.ID, err)
	}
	return stored, nil
}

// Proposal returns one proposal, CodeNotFound for an id the store never
// assigned.
func (db *DB) Proposal(ctx context.Context, id string) (reserve.Proposal, error) {
	var p reserve.Proposal
	err := db.view(ctx, "read proposal "+id, func(tx *bolt.Tx) error {
		var err error
		p, err = readProposal(tx, id)
		return err
	})
	if err != nil {
		return reserve.Proposal{}, err
	}
	return p, nil
}

func readProposal(tx *bolt.Tx, id string) (reserve.Proposal, error) {
	var v []byte
	if id != "" {
		v = tx.Bucket(bucketProposals).Get([]byte(id))
	}
	if v == nil {
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeNotFound, "proposal %q does not exist", id)
	}
	return decodeProposalAt([]byte(id), v)
}

// decodeProposalAt decodes the record stored under key and checks that it
// is filed under its own id.
func decodeProposalAt(key, v []byte) (reserve.Proposal, error) {
	p, err := decodeProposal(v)
	if err != nil {
		return reserve.Proposal{}, corrupt("proposal", key, err)
	}
	if p.ID != string(key) {
		return reserve.Proposal{}, corrupt("proposal", key, fmt.Errorf("record is for proposal %q", p.ID))
	}
	return p, nil
}

// Proposals returns the proposals in state, or all of them for
// reserve.StateUnspecified, in creation order. An unknown state is
// CodeInvalid.
func (db *DB) Proposals(ctx context.Context, state reserve.State) ([]reserve.Proposal, error) {
	if state != reserve.StateUnspecified && !knownState(state) {
		return nil, reserve.Invalid("state", "unknown proposal state %d", state)
	}
	var out []reserve.Proposal
	err := db.view(ctx, "list proposals", func(tx *bolt.Tx) error {
		var err error
		out, err = scanProposals(tx, func(p *reserve.Proposal) bool {
			return state == reserve.StateUnspecified || p.State == state
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateProposal changes one proposal in one transaction: it reads the
// proposal (CodeNotFound for an unknown id), calls fn with a copy, checks
// what fn did, releases the reservations if the proposal no longer holds
// coins, writes it back with an audit entry and returns it as stored.
//
// fn runs inside the store's write transaction: it must be quick and must
// not call the store. An error from fn aborts everything and is returned
// as is. fn may change the state only with one call of Proposal.Move, so
// that the history grows by exactly that transition (CodeFailedPrecondition
// for a transition the state machine refuses, a state set by hand, history
// rewritten or grown without a state change). It may not change what was
// fixed at creation: id, wallet, payees, inputs, change, unsigned
// transaction, creator and creation time (CodeInvalid, naming the field).
//
// The audit entry's kind is AuditProposalKind(new state) for a transition
// and AuditProposalUpdate otherwise. When the new state does not hold coins
// the inputs' reservations held by this proposal are deleted, unless its
// transaction may still be broadcast (reserve.Proposal.MaySpend with the
// wallet's threshold): then they are kept, the audit detail says so and
// why, and ReleaseSpent frees them once an input is spent deep enough. The change
// address stays issued whatever the end state, even for a proposal
// cancelled, expired, rejected or failed before its transaction was
// broadcast: signers and officers may have seen the address with this
// payment, so handing it out again would link the two and is never done.
func (db *DB) UpdateProposal(ctx context.Context, id string, fn func(p *reserve.Proposal) error) (reserve.Proposal, error) {
	return db.updateProposal(ctx, id, fn, nil)
}

// updateProposal is UpdateProposal; also, when fn succeeds, it runs also
// inside the same transaction, whether or not fn changed the proposal.
func (db *DB) updateProposal(ctx context.Context, id string, fn func(p *reserve.Proposal) error, also func(tx *bolt.Tx) error) (reserve.Proposal, error) {
	if fn == nil {
		return reserve.Proposal{}, reserve.Invalid("fn", "is nil")
	}
	var (
		out   reserve.Proposal
		fnErr error
	)
	err := db.update(ctx, "update proposal "+id, func(tx *bolt.Tx) error {
		// Two decodings give fn a deep copy to change and keep the
		// original to check it against.
		old, err := readProposal(tx, id)
		if err != nil {
			return err
		}
		cur, err := readProposal(tx, id)
		if err != nil {
			return err
		}
		if err := fn(&cur); err != nil {
			fnErr = err
			return err
		}
		if err := checkFixedFields(&old, &cur); err != nil {
			return err
		}
		if err := checkTransition(&old, &cur); err != nil {
			return err
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}

		released, kept := 0, 0
		switch hold, held := cur.State.HoldsCoins(), old.State.HoldsCoins(); {
		case held && !hold:
			w, err := readWallet(tx)
			if err != nil {
				return err
			}
			if released, kept, err = releaseInputs(tx, &cur, w.Threshold); err != nil {
				return err
			}
		case hold && !held:
			// No transition leads back to a state that holds coins;
			// reserving again could collide with a newer proposal.
			return reserve.Errorf(reserve.CodeInternal, "proposal %s cannot go from %s back to %s, which holds coins", id, old.State, cur.State)
		}

		if unchanged, err := sameProposal(&old, &cur); err != nil || unchanged {
			// Nothing to write and nothing happened: no leaf (an import
			// that added no signature leaves none).
			out = old
			return err
		}
		if out, err = putProposal(tx, &cur); err != nil {
			return err
		}
		for _, l := range auditProposalUpdate(&old, &cur, released, kept) {
			if err := db.appendLeaf(tx, l); err != nil {
				return err
			}
		}
		return nil
	})
	if fnErr != nil {
		return reserve.Proposal{}, fnErr
	}
	if err != nil {
		return reserve.Proposal{}, err
	}
	return out, nil
}

// checkFixedFields refuses a change to what a proposal was created with.
func checkFixedFields(old, cur *reserve.Proposal) error {
	var field string
	switch {
	case cur.ID != old.ID:
		field = "id"
	case cur.WalletID != old.WalletID:
		field = "wallet_id"
	case !slices.EqualFunc(cur.Payees, old.Payees, payeeEqual):
		field = "payees"
	case !slices.Equal(cur.Inputs, old.Inputs):
		field = "inputs"
	case (cur.Change == nil) != (old.Change == nil) || (cur.Change != nil && *cur.Change != *old.Change):
		field = "change"
	case !bytes.Equal(cur.UnsignedTx, old.UnsignedTx):
		field = "unsigned_tx"
	case cur.CreatedBy != old.CreatedBy:
		field = "created_by"
	case (cur.Intent == nil) != (old.Intent == nil) || (cur.Intent != nil && !old.Intent.Equal(cur.Intent)):
		field = "intent"
	case cur.Replaces != old.Replaces:
		field = "replaces"
	case len(cur.Decisions) < len(old.Decisions) || !slices.EqualFunc(cur.Decisions[:len(old.Decisions)], old.Decisions, decisionEqual):
		field = "decisions"
	case !cur.CreatedAt.Equal(old.CreatedAt):
		field = "created_at"
	default:
		return nil
	}
	return reserve.Invalid(field, "cannot change after proposal %s was created", old.ID)
}

func decisionEqual(a, b reserve.OfficerDecision) bool {
	return a.Officer == b.Officer && a.Decision == b.Decision && a.Approval == b.Approval && a.At.Equal(b.At)
}

func payeeEqual(a, b reserve.Payee) bool {
	return a.Address == b.Address && bytes.Equal(a.Script, b.Script) && a.AmountSat == b.AmountSat
}

// checkTransition checks that the history only grew, and only by the one
// entry Proposal.Move appends for a transition the state machine allows.
func checkTransition(old, cur *reserve.Proposal) error {
	n := len(old.History)
	if len(cur.History) < n || !slices.EqualFunc(cur.History[:n], old.History, transitionEqual) {
		return reserve.Errorf(reserve.CodeFailedPrecondition,
			"proposal %s: recorded transitions cannot be changed or removed", old.ID)
	}
	added := len(cur.History) - n
	if cur.State == old.State {
		if added != 0 {
			return reserve.Errorf(reserve.CodeFailedPrecondition,
				"proposal %s: history grew by %d transitions while the state stayed %s", old.ID, added, old.State)
		}
		return nil
	}
	switch {
	case !old.State.CanMove(cur.State):
		return reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is %s and cannot become %s", old.ID, old.State, cur.State)
	case added != 1:
		return reserve.Errorf(reserve.CodeFailedPrecondition,
			"proposal %s went from %s to %s with %d new transitions; change the state with one Proposal.Move",
			old.ID, old.State, cur.State, added)
	case cur.History[n].State != cur.State:
		return reserve.Errorf(reserve.CodeFailedPrecondition,
			"proposal %s is %s but its new transition is to %s", old.ID, cur.State, cur.History[n].State)
	}
	return nil
}

func transitionEqual(a, b reserve.Transition) bool {
	return a.State == b.State && a.At.Equal(b.At) && a.Actor == b.Actor && a.Note == b.Note
}

// releaseInputs ends p's hold on the reservations of its inputs that it
// holds and returns how many it released and how many it kept. A proposal
// whose transaction may still be broadcast (p.MaySpend(threshold): it has
// its signatures) keeps them all; ReleaseSpent frees them once an input is
// spent deep enough. Otherwise they are deleted, except that a replacement
// that ends while the proposal it replaced still holds coins, or has ended
// with its signatures (MaySpend: its transaction may yet confirm), hands
// them back to it; ReleaseSpent frees them with its other inputs.
func releaseInputs(tx *bolt.Tx, p *reserve.Proposal, threshold int) (released, kept int, err error) {
	rb := tx.Bucket(bucketReservations)
	if p.MaySpend(threshold) {
		for _, in := range p.Inputs {
			if string(rb.Get(utxoKey(in.OutPoint))) == p.ID {
				kept++
			}
		}
		return 0, kept, nil
	}
	var back []byte
	if p.Replaces != "" {
		old, err := readProposal(tx, p.Replaces)
		if err != nil {
			return 0, 0, err
		}
		if old.State.HoldsCoins() || old.MaySpend(threshold) {
			back = []byte(old.ID)
		}
	}
	backTo, err := supersededHolders(tx, p, threshold)
	if err != nil {
		return 0, 0, err
	}
	for _, in := range p.Inputs {
		key := utxoKey(in.OutPoint)
		if string(rb.Get(key)) != p.ID {
			continue
		}
		switch h, ok := backTo[in.OutPoint]; {
		case back != nil:
			err = rb.Put(key, back)
		case ok:
			err = rb.Put(key, []byte(h))
		default:
			err = rb.Delete(key)
		}
		if err != nil {
			return released, 0, fmt.Errorf("unable to release output %s: %w", in.OutPoint, err)
		}
		released++
	}
	return released, 0, nil
}

// supersededHolders maps each input of p, a proposal that supersedes
// others, to the superseded proposal it goes back to when p ends: one
// that spends it too and still holds coins or may still confirm (a live
// one first). Nil for a proposal that supersedes nothing.
func supersededHolders(tx *bolt.Tx, p *reserve.Proposal, threshold int) (map[wire.OutPoint]string, error) {
	if p.Intent == nil || len(p.Intent.Supersedes) == 0 || p.Replaces != "" {
		return nil, nil
	}
	olds, err := superseded(tx, p.Intent.Supersedes)
	if err != nil {
		return nil, err
	}
	out := make(map[wire.OutPoint]string)
	for _, live := range []bool{true, false} {
		for _, q := range olds {
			if q.ID == p.ID || q.State.HoldsCoins() != live || (!live && !q.MaySpend(threshold)) {
				continue
			}
			for _, in := range q.Inputs {
				if _, set := out[in.OutPoint]; !set {
					out[in.OutPoint] = q.ID
				}
			}
		}
	}
	return out, nil
}

// keptWhy is the audit detail's reason for reservations an ended
// proposal keeps.
const keptWhy = "signed: the transaction may still be broadcast; held until an input is spent at the confirmation depth"

// ReleaseSpent frees the reservations an ended proposal kept because its
// transaction could still be broadcast (reserve.Proposal.MaySpend), once
// one of its inputs is spent by a confirmed transaction (a conflicting
// one or its own) with at least depth confirmations: then that
// transaction can never confirm short of a reorganisation deeper than the
// wallet's confirmation depth. It checks the spend against the UTXOs the
// follower recorded, in the same transaction that deletes the
// reservations and appends a proposal.release audit entry naming the
// spend and note, so a reorganisation recorded before it releases
// nothing. It returns how many reservations it deleted; 0, without an
// audit entry, when the proposal holds none (already released).
//
// A proposal in a state that holds coins is CodeFailedPrecondition (its
// transitions release them), as is one none of whose inputs is spent
// deep enough, naming the input; depth below 1 is CodeInvalid;
// an unknown id CodeNotFound.
func (db *DB) ReleaseSpent(ctx context.Context, id string, depth int32, note string) (int, error) {
	if depth < 1 {
		return 0, reserve.Invalid("depth", "%d is below 1", depth)
	}
	n := 0
	err := db.update(ctx, "release spent inputs of proposal "+id, func(tx *bolt.Tx) error {
		p, err := readProposal(tx, id)
		if err != nil {
			return err
		}
		if p.State.HoldsCoins() {
			return reserve.Errorf(reserve.CodeFailedPrecondition,
				"proposal %s is %s: its reservations end with its state, not with a spend", p.ID, p.State)
		}
		rb := tx.Bucket(bucketReservations)
		var held [][]byte
		for _, in := range p.Inputs {
			if key := utxoKey(in.OutPoint); string(rb.Get(key)) == p.ID {
				held = append(held, key)
			}
		}
		if len(held) == 0 {
			return nil
		}
		tip, _, _, err := readTip(tx)
		if err != nil {
			return err
		}
		spend, err := buriedSpend(tx, &p, tip, depth)
		if err != nil {
			return err
		}
		for _, key := range held {
			if err := rb.Delete(key); err != nil {
				return fmt.Errorf("unable to release reservation of proposal %s: %w", p.ID, err)
			}
		}
		n = len(held)
		return db.appendAudit(tx, AuditProposalRelease, proposalIDs(&p), fmt.Sprintf("id=%s state=%s released=%d spend=%q note=%q",
			p.ID, p.State, n, spend, reserve.Clip(note, maxAuditFieldLen)))
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// buriedSpend finds an input of p spent by a transaction confirmed with at
// least depth confirmations at tip and describes it.
func buriedSpend(tx *bolt.Tx, p *reserve.Proposal, tip, depth int32) (string, error) {
	ub := tx.Bucket(bucketUTXOs)
	var why []string
	for i, in := range p.Inputs {
		u, found, err := getUTXO(ub, utxoKey(in.OutPoint))
		switch {
		case err != nil:
			return "", err
		case !found || !u.Spent:
			why = append(why, fmt.Sprintf("input[%d]: output %s is not spent", i, in.OutPoint))
		case u.SpentHeight <= 0 || tip < u.SpentHeight:
			why = append(why, fmt.Sprintf("input[%d]: output %s is spent by %s, not confirmed", i, in.OutPoint, u.SpentBy))
		case tip-u.SpentHeight+1 < depth:
			why = append(why, fmt.Sprintf("input[%d]: output %s is spent by %s with %d of %d confirmations",
				i, in.OutPoint, u.SpentBy, tip-u.SpentHeight+1, depth))
		default:
			return fmt.Sprintf("input[%d] %s spent by %s at height %d", i, in.OutPoint, u.SpentBy, u.SpentHeight), nil
		}
	}
	return "", reserve.Errorf(reserve.CodeFailedPrecondition,
		"proposal %s keeps its reservations: no input is spent %d blocks deep (%s)", p.ID, depth, strings.Join(why, "; "))
}

// maxAuditFieldLen bounds each free-text field quoted in an audit detail,
// so that the detail stays under maxAuditDetailLen even when %q spells
// every byte as a four-character escape.
const maxAuditFieldLen = 256

// sameProposal reports whether fn left the proposal exactly as stored.
func sameProposal(old, cur *reserve.Proposal) (bool, error) {
	a, err := encodeProposal(old)
	if err != nil {
		return false, fmt.Errorf("unable to encode proposal %s: %w", old.ID, err)
	}
	b, err := encodeProposal(cur)
	if err != nil {
		return false, inputError("", err)
	}
	return bytes.Equal(a, b), nil
}

// auditProposalUpdate is the leaves of UpdateProposal: one per officer
// decision added (proposal.approve, proposal.reject), then the transition
// (AuditProposalKind of the new state) or, with the state unchanged,
// proposal.sign for signatures added or proposal.update for anything
// else. Signatures added are named in the leaf that records them.
func auditProposalUpdate(old, cur *reserve.Proposal, released, kept int) []audit.Leaf {
	var out []audit.Leaf
	for _, d := range cur.Decisions[min(len(old.Decisions), len(cur.Decisions)):] {
		out = append(out, decisionLeaf(cur, d))
	}
	var actor, note string
	if len(cur.History) > 0 {
		last := cur.History[len(cur.History)-1]
		actor, note = reserve.Clip(last.Actor, maxAuditFieldLen), reserve.Clip(last.Note, maxAuditFieldLen)
	}
	ids := proposalIDs(cur)
	var signers []string
	for _, s := range cur.Signatures {
		if !old.Signed(s.Cosigner) {
			signers = append(signers, fmt.Sprintf("%d:%08x", s.Cosigner, s.Fingerprint))
		}
	}
	if len(signers) > 0 {
		ids["signers"] = reserve.Clip(strings.Join(signers, ","), audit.MaxIDLen)
		ids["finalized"] = strconv.FormatBool(cur.State == reserve.StateFinalized && old.State != reserve.StateFinalized)
	}
	switch {
	case cur.State != old.State:
		detail := fmt.Sprintf("id=%s from=%s to=%s actor=%q note=%q released=%d",
			cur.ID, old.State, cur.State, actor, note, released)
		if kept > 0 {
			detail += fmt.Sprintf(" kept=%d kept_why=%q", kept, keptWhy)
		}
		return append(out, audit.Leaf{Kind: AuditProposalKind(cur.State), IDs: ids, Detail: detail})
	case len(signers) > 0:
		return append(out, audit.Leaf{Kind: AuditProposalSign, IDs: ids,
			Detail: fmt.Sprintf("id=%s state=%s signatures of cosigners %s added by %q", cur.ID, cur.State, ids["signers"], actor)})
	case len(out) > 0:
		// The decisions are the change.
		return out
	}
	return append(out, audit.Leaf{Kind: AuditProposalUpdate, IDs: ids,
		Detail: fmt.Sprintf("id=%s state=%s actor=%q note=%q", cur.ID, cur.State, actor, note)})
}

// decisionLeaf records officer decision d on p: the officer, the key
// that signed and the intent digest it signed, so an auditor can check
// the approval against the intent without the daemon.
func decisionLeaf(p *reserve.Proposal, d reserve.OfficerDecision) audit.Leaf {
	kind, verb := AuditProposalApprove, "approved"
	if d.Decision == reserve.DecisionReject {
		kind, verb = AuditProposalReject, "vetoed"
	}
	ids := proposalIDs(p)
	ids["officer"] = reserve.Clip(d.Officer, audit.MaxIDLen-4)
	ids["officer_key"] = hex.EncodeToString(d.Approval.OfficerKey[:])
	if p.Intent != nil {
		if digest, err := p.Intent.Digest(d.Decision); err == nil {
			ids["intent"] = hex.EncodeToString(digest[:])
		}
		ids["policy"] = hex.EncodeToString(p.Intent.PolicyHash[:])
	}
	return audit.Leaf{Kind: kind, IDs: ids, Detail: fmt.Sprintf("officer %s %s proposal %s", ids["officer"], verb, p.ID)}
}

// Reservations returns every reserved output with the id of the live
// proposal holding it.
func (db *DB) Reservations(ctx context.Context) (map[wire.OutPoint]string, error) {
	out := make(map[wire.OutPoint]string)
	err := db.view(ctx, "list reservations", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketReservations).ForEach(func(k, v []byte) error {
			if len(k) != chainhash.HashSize+4 {
				return corrupt("reservation", k, fmt.Errorf("key is %d bytes, want %d", len(k), chainhash.HashSize+4))
			}
			var op wire.OutPoint
			copy(op.Hash[:], k)
			op.Index = binary.BigEndian.Uint32(k[chainhash.HashSize:])
			out[op] = string(v)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
