package daemon

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// links is what a new proposal supersedes (docs/approvals.md, "One
// payment, paid once"): the proposal ids its intent names, and coins it
// must spend so that it conflicts with every transaction that may have
// been signed for them.
type links struct {
	ids      []string
	required []reserve.Input
}

// supersedeLinks resolves `--replaces target`: the new intent supersedes
// the target's payment (the proposal id its intent names: a fee bump
// carries its original's) and everything that one superseded. The new
// transaction must spend an input of each proposal for those payments
// whose transaction may still confirm (it holds coins or is signed), and
// of the target itself whenever one of its coins can still be spent (its
// signatures may exist outside the daemon: a restored backup, a withheld
// PSBT). It picks one coin per proposal, the largest, preferring a coin
// that already covers another; the store checks the rule again. It reads
// the proposals of those payments and their own coins and reservations,
// never the whole history.
func (d *Daemon) supersedeLinks(ctx context.Context, threshold int, target string) (links, error) {
	t, err := d.cfg.Store.Proposal(ctx, target)
	if reserve.CodeOf(err) == reserve.CodeNotFound {
		return links{}, reserve.Invalid("replaces", "proposal %q does not exist", target)
	}
	if err != nil {
		return links{}, err
	}
	if t.Intent == nil {
		return links{}, reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s was made without a policy; there is no approved payment to replace", t.ID)
	}
	ids := append([]string{t.Intent.ProposalID}, t.Intent.Supersedes...)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > reserve.MaxIntentSupersedes {
		return links{}, reserve.Invalid("replaces", "proposal %s ends a chain of %d replaced proposals, more than the %d an intent may name; cancel them with spend cancel --conflict first",
			t.ID, len(ids), reserve.MaxIntentSupersedes)
	}
	linked, err := d.cfg.Store.PaymentProposals(ctx, ids)
	if err != nil {
		return links{}, err
	}
	var olds []reserve.Proposal
	txids := map[chainhash.Hash]bool{}
	holders := map[string]bool{}
	var ops []wire.OutPoint
	for _, q := range linked {
		if q.Intent == nil || !slices.Contains(ids, q.Intent.ProposalID) {
			continue
		}
		if q.State == reserve.StateConfirmed {
			return links{}, reserve.Errorf(reserve.CodeFailedPrecondition,
				"proposal %s is CONFIRMED (txid %s): the payment it was for is made, there is nothing to replace", q.ID, q.Txid)
		}
		olds = append(olds, q)
		txids[q.Txid] = true
		holders[q.ID] = true
		for _, in := range q.Inputs {
			ops = append(ops, in.OutPoint)
		}
	}
	// Only the superseded proposals' own coins are ever asked about.
	coins, err := d.cfg.Store.Coins(ctx, ops)
	if err != nil {
		return links{}, err
	}
	held, err := d.cfg.Store.Holders(ctx, ops)
	if err != nil {
		return links{}, err
	}
	// usable reports whether the new transaction may spend op: a
	// confirmed wallet output, unspent or spent only in the mempool by a
	// superseded transaction, free or held by a superseded proposal.
	usable := func(op wire.OutPoint) bool {
		u, ok := coins[op]
		h, isHeld := held[op]
		switch {
		case !ok || u.Height == 0:
			return false
		case u.Spent && (u.SpentHeight > 0 || !txids[u.SpentBy]):
			return false
		case u.Spent && !isHeld:
			return false
		}
		return !isHeld || holders[h]
	}
	// Fewest inputs first: a fee bump spends a part of its original's,
	// so its coin covers both.
	slices.SortStableFunc(olds, func(a, b reserve.Proposal) int { return len(a.Inputs) - len(b.Inputs) })
	var ln links
	ln.ids = ids
	taken := map[wire.OutPoint]bool{}
	for _, q := range olds {
		must := q.State.HoldsCoins() || q.MaySpend(threshold)
		if !must && q.ID != t.ID {
			continue
		}
		if slices.ContainsFunc(q.Inputs, func(in reserve.Input) bool { return taken[in.OutPoint] }) {
			continue
		}
		best := -1
		for i, in := range q.Inputs {
			if usable(in.OutPoint) && (best < 0 || in.AmountSat > q.Inputs[best].AmountSat) {
				best = i
			}
		}
		switch {
		case best >= 0:
			ln.required = append(ln.required, q.Inputs[best])
			taken[q.Inputs[best].OutPoint] = true
		case must:
			return links{}, reserve.Errorf(reserve.CodeFailedPrecondition,
				"no input of proposal %s (%s) can be spent by a replacement: each is spent on chain or held by a proposal it does not replace", q.ID, q.State)
		}
	}
	return ln, nil
}

// checkRepeat refuses a payment that repeats, payee and amount, one that
// went to the signers before (or was paid), unless the officers are asked
// to approve it as a deliberate repeat or it supersedes that one: the
// signers would refuse it (docs/approvals.md, "One payment, paid once"),
// and the officers should see why before they approve.
//
// A payee that such a proposal paid another amount is no repeat the
// signers recognise; it is returned as a warning the officers read in the
// new proposal's history (docs/approvals.md, "Limits").
//
// It reads only the proposals whose intents pay one of the payees'
// scripts (store: PayeeProposals), never the whole history.
func (d *Daemon) checkRepeat(ctx context.Context, payees []reserve.Payee, superseded []string, repeat bool) ([]string, error) {
	if len(payees) == 0 {
		return nil, nil
	}
	scripts := make([][]byte, len(payees))
	for i, py := range payees {
		scripts[i] = py.Script
	}
	paid, err := d.cfg.Store.PayeeProposals(ctx, scripts)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, q := range paid {
		if q.Intent == nil || slices.Contains(superseded, q.Intent.ProposalID) || !wentToSigners(q) {
			continue
		}
		for _, py := range payees {
			for _, qp := range q.Intent.Payees {
				if !bytes.Equal(qp.Script, py.Script) {
					continue
				}
				if qp.AmountSat != py.AmountSat || repeat {
					warnings = append(warnings, fmt.Sprintf("payee %s was also paid %s BTC by proposal %s (%s)",
						py.Address, reserve.FormatBTC(qp.AmountSat), q.ID, q.State))
					continue
				}
				return nil, reserve.Errorf(reserve.CodeFailedPrecondition,
					"%s BTC to %s is what proposal %s (%s) pays, and its transaction went to the signers: they refuse to sign the same payment again "+
						"unless the new transaction spends one of its inputs. To replace that payment: spend propose --replaces %s. "+
						"To pay it a second time on purpose, have the officers approve it as such: spend propose --repeat",
					reserve.FormatBTC(py.AmountSat), py.Address, q.ID, q.State, q.ID)
			}
		}
	}
	return warnings, nil
}

// wentToSigners reports whether signers may have signed q's transaction:
// it reached SIGNING, or carries signatures.
func wentToSigners(q reserve.Proposal) bool {
	if len(q.Signatures) > 0 || len(q.FinalTx) > 0 {
		return true
	}
	for _, h := range q.History {
		if h.State == reserve.StateSigning {
			return true
		}
	}
	return false
}

// cancelConflict is `spend cancel --conflict`: it cancels the proposal if
// it is still open, then proposes a transaction that spends one input of
// its transaction (and of everything it superseded) back to the reserve
// at feeRate, paying no one: once that confirms, the cancelled
// transaction can never confirm, whoever holds its signatures. The
// conflict goes through the approval flow like any proposal; its intent
// supersedes the cancelled payment.
func (d *Daemon) cancelConflict(ctx context.Context, caller Caller, id, reason string, feeRate int64) (cancelled, conflict reserve.Proposal, err error) {
	if feeRate < 1 || feeRate > maxFeeRate {
		return reserve.Proposal{}, reserve.Proposal{}, reserve.Invalid("fee_rate", "must be 1 to %d sat/vB, got %d", maxFeeRate, feeRate)
	}
	if err := checkText("reason", reason, maxReasonText); err != nil {
		return reserve.Proposal{}, reserve.Proposal{}, err
	}
	t, err := d.cfg.Store.Proposal(ctx, id)
	if err != nil {
		return reserve.Proposal{}, reserve.Proposal{}, err
	}
	switch t.State {
	case reserve.StateConfirmed:
		return reserve.Proposal{}, reserve.Proposal{}, reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is CONFIRMED: its payment is made", t.ID)
	case reserve.StatePendingApproval, reserve.StateApproved, reserve.StateSigning:
		if t, err = d.cancel(ctx, caller, id, reason); err != nil {
			return reserve.Proposal{}, reserve.Proposal{}, err
		}
	}
	spec := spendSpec{FeeRate: feeRate, Replaces: id,
		Memo: fmt.Sprintf("cancels proposal %s: spends its input back to the reserve", id)}
	conflict, err = d.proposeLinked(ctx, caller, spec, nil, nil)
	if err != nil {
		return t, reserve.Proposal{}, fmt.Errorf("proposal %s is %s, but the conflicting transaction could not be proposed: %w", t.ID, t.State, err)
	}
	return t, conflict, nil
}
