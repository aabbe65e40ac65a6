package daemon

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// maxPolicyBytes bounds a policy document (docs/policy.md: 1 MiB).
const maxPolicyBytes = reserve.MaxPolicyBytes

// errNoPolicy is the refusal of anything that needs a policy before the
// admin set one.
func errNoPolicy() error {
	return reserve.Errorf(reserve.CodeFailedPrecondition,
		"no spending policy is set: the admin sets one with 'custosctl policy set FILE'")
}

// errFrozen is the refusal of spending while the reserve is frozen.
func errFrozen(f reserve.Freeze) error {
	return reserve.Errorf(reserve.CodeFailedPrecondition,
		"the reserve is frozen (freeze %d by officer %s at %s: %q); spending resumes when officers unfreeze it",
		f.Epoch, f.By.Officer, f.By.At.UTC().Format(time.RFC3339), f.Reason)
}

// governed is the governance with its policy parsed, and the wallet it
// governs with its parsed descriptor.
type governed struct {
	reserve.Governance
	// policy is the policy in force, nil before the first.
	policy *reserve.Policy
	wallet reserve.Wallet
	desc   *multisig.Descriptor
}

// governance reads the wallet and the governance, and parses the policy
// in force. The wallet must exist.
func (d *Daemon) governance(ctx context.Context) (governed, error) {
	w, desc, err := d.wallet(ctx)
	if err != nil {
		return governed{}, err
	}
	g, err := d.cfg.Store.Governance(ctx)
	if err != nil {
		return governed{}, err
	}
	return d.govern(g, w, desc)
}

// govern pairs g with its wallet and its policy in force, parsed.
func (d *Daemon) govern(g reserve.Governance, w reserve.Wallet, desc *multisig.Descriptor) (governed, error) {
	p, err := d.policies.parse(g.Policy)
	if err != nil {
		return governed{}, err
	}
	return governed{Governance: g, policy: p, wallet: w, desc: desc}, nil
}

// policyCache keeps the last stored policy it parsed. The policy in force
// rarely changes, and the reconcile loop and every proposal rendered or
// decided read it: parsing its YAML each time is wasted. The zero value
// is ready to use and safe for concurrent use; the *reserve.Policy it
// hands out is shared and must not be modified.
type policyCache struct {
	mu   sync.Mutex
	text []byte
	p    *reserve.Policy
}

// parse returns rec's policy, parsed once per text; nil for a nil rec.
func (c *policyCache) parse(rec *reserve.PolicyRecord) (*reserve.Policy, error) {
	if rec == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p != nil && bytes.Equal(c.text, rec.Text) {
		return c.p, nil
	}
	p, err := reserve.ParsePolicy(rec.Text)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInternal, "stored policy %d does not parse: %v", rec.Seq, err)
	}
	c.text, c.p = bytes.Clone(rec.Text), p
	return p, nil
}

// parsePolicy reads a policy document and checks what the policy parser
// cannot: that every allowlisted address is one of this daemon's network,
// written in its canonical form (the form payees are compared in).
func (d *Daemon) parsePolicy(text []byte) (*reserve.Policy, error) {
	if len(text) > maxPolicyBytes {
		return nil, reserve.Invalid("text", "policy is %d bytes, more than the %d allowed", len(text), maxPolicyBytes)
	}
	p, err := reserve.ParsePolicy(text)
	if err != nil {
		return nil, err
	}
	params, err := multisig.NetParams(d.cfg.Network)
	if err != nil {
		return nil, err
	}
	for i, e := range p.Allowlist.Entries {
		field := fmt.Sprintf("allowlist.entries[%d].address", i)
		a, err := btcutil.DecodeAddress(e.Address, params)
		if err != nil || !a.IsForNet(params) {
			return nil, reserve.Invalid(field, "%q is not an address of %s", e.Address, d.cfg.Network)
		}
		if a.EncodeAddress() != e.Address {
			return nil, reserve.Invalid(field, "%q is not in canonical form; write %s", e.Address, a.EncodeAddress())
		}
	}
	return p, nil
}

// setPolicy sets the first policy, or proposes a change to the one in
// force; a proposed change replaces an earlier proposal and its approvals.
func (d *Daemon) setPolicy(ctx context.Context, caller Caller, text []byte) (governed, bool, error) {
	p, err := d.parsePolicy(text)
	if err != nil {
		return governed{}, false, err
	}
	now := d.cfg.Now().UTC()
	rec := &reserve.PolicyRecord{Text: text, Hash: p.Hash(), By: caller.Name, At: now}
	applied := false
	g, err := d.updateGoverned(ctx, func(g *governed) error {
		switch {
		case g.Policy == nil:
			rec.Seq, g.Policy, applied = 1, rec, true
		case g.Policy.Hash == rec.Hash:
			return reserve.Invalid("text", "this policy (%x) is already in force", rec.Hash)
		case g.Pending != nil && g.Pending.Hash == rec.Hash:
			return reserve.Invalid("text", "this policy (%x) is already proposed, with %d approvals", rec.Hash, len(g.Pending.Approvals))
		default:
			if err := checkNewEntries(g.policy, p, now); err != nil {
				return err
			}
			g.Pending = rec
		}
		return nil
	})
	if err != nil {
		return governed{}, false, err
	}
	d.log.Info("policy set", "hash", fmt.Sprintf("%x", rec.Hash), "applied", applied, "by", caller.Name)
	return g, applied, nil
}

// addedSlack is how far before a policy change is proposed a new
// allowlist entry may be dated: the time it takes to write and review
// the document, and clocks that differ.
const addedSlack = 24 * time.Hour

// checkNewEntries refuses a change that backdates a new allowlist entry:
// an address added by the change takes effect add_delay after its added
// time, so that time must be when it is added, not one chosen to make it
// effective at once. Entries already on the list in force keep theirs.
func checkNewEntries(cur, next *reserve.Policy, now time.Time) error {
	known := make(map[string]bool, len(cur.Allowlist.Entries))
	for _, e := range cur.Allowlist.Entries {
		known[e.Address] = true
	}
	earliest := now.Add(-addedSlack)
	for i, e := range next.Allowlist.Entries {
		if !known[e.Address] && e.Added.Before(earliest) {
			return reserve.Invalid(fmt.Sprintf("allowlist.entries[%d].added", i),
				"%s is new to the allowlist but dated %s: date a new entry when it is added (not before %s), so that add_delay runs from then",
				e.Address, e.Added.Format(time.RFC3339), earliest.Format(time.RFC3339))
		}
	}
	return nil
}

// control is the statement an officer signs for action under governance g.
func (g governed) control(a reserve.Action) reserve.Control {
	c := reserve.Control{Action: a, Network: g.wallet.Network, WalletID: g.wallet.ID}
	if g.Policy != nil {
		c.PolicyHash = g.Policy.Hash
	}
	return c
}

// approvePolicy records an officer's approval of the proposed change and
// applies it at the current policy's top-tier quorum.
func (d *Daemon) approvePolicy(ctx context.Context, newHash [32]byte, a reserve.Approval) (governed, bool, error) {
	applied := false
	g, err := d.updateGoverned(ctx, func(g *governed) error {
		if g.policy == nil {
			return errNoPolicy()
		}
		if g.Pending == nil {
			return reserve.Errorf(reserve.CodeFailedPrecondition, "no policy change is proposed")
		}
		if g.Pending.Hash != newHash {
			return reserve.Invalid("new_hash", "the proposed policy is %x, not %x", g.Pending.Hash, newHash)
		}
		c := g.control(reserve.ActionPolicyChange)
		c.Epoch, c.NewPolicy = g.Policy.Seq, newHash
		sig, err := d.verifyControl(ctx, g.policy, &c, a, g.Pending.Approvals)
		if err != nil {
			return err
		}
		g.Pending.Approvals = append(g.Pending.Approvals, sig)
		if len(g.Pending.Approvals) < g.policy.ChangeApprovals() {
			return nil
		}
		next := *g.Pending
		next.Seq = g.Policy.Seq + 1
		g.Policy, g.Pending, applied = &next, nil, true
		// Approvals to lift a freeze were given under the old policy,
		// perhaps by officers the new one removed: they start again.
		g.Freeze.Unfreeze = nil
		return nil
	})
	if err != nil {
		return governed{}, false, err
	}
	if applied {
		d.log.Info("policy changed", "seq", g.Policy.Seq, "hash", fmt.Sprintf("%x", g.Policy.Hash))
	}
	return g, applied, nil
}

// freeze stops all spending on one officer's signature.
func (d *Daemon) freeze(ctx context.Context, epoch uint64, a reserve.Approval, reason string) (governed, error) {
	if err := checkText("reason", reason, maxReasonText); err != nil {
		return governed{}, err
	}
	g, err := d.updateGoverned(ctx, func(g *governed) error {
		if g.policy == nil {
			return errNoPolicy()
		}
		if g.Freeze.Frozen {
			return reserve.Errorf(reserve.CodeFailedPrecondition, "the reserve is already frozen (freeze %d by %s)", g.Freeze.Epoch, g.Freeze.By.Officer)
		}
		if epoch != g.Freeze.Epoch+1 {
			return reserve.Invalid("epoch", "the next freeze is epoch %d, not %d", g.Freeze.Epoch+1, epoch)
		}
		c := g.control(reserve.ActionFreeze)
		c.Epoch = epoch
		sig, err := d.verifyControl(ctx, g.policy, &c, a, nil)
		if err != nil {
			return err
		}
		g.Freeze = reserve.Freeze{Epoch: epoch, Frozen: true, By: sig, Reason: reason}
		return nil
	})
	if err != nil {
		return governed{}, err
	}
	d.log.Warn("reserve frozen", "epoch", epoch, "officer", g.Freeze.By.Officer)
	return g, nil
}

// unfreeze records an officer's approval to lift the freeze and lifts it
// at the policy's unfreeze_approvals.
func (d *Daemon) unfreeze(ctx context.Context, epoch uint64, a reserve.Approval) (governed, error) {
	lifted := false
	g, err := d.updateGoverned(ctx, func(g *governed) error {
		if g.policy == nil {
			return errNoPolicy()
		}
		if !g.Freeze.Frozen {
			return reserve.Errorf(reserve.CodeFailedPrecondition, "the reserve is not frozen")
		}
		if epoch != g.Freeze.Epoch {
			return reserve.Invalid("epoch", "the freeze in force is epoch %d, not %d", g.Freeze.Epoch, epoch)
		}
		c := g.control(reserve.ActionUnfreeze)
		c.Epoch = epoch
		sig, err := d.verifyControl(ctx, g.policy, &c, a, g.Freeze.Unfreeze)
		if err != nil {
			return err
		}
		g.Freeze.Unfreeze = append(g.Freeze.Unfreeze, sig)
		if len(g.Freeze.Unfreeze) >= g.policy.UnfreezeApprovals {
			g.Freeze.Frozen, lifted = false, true
		}
		return nil
	})
	if err != nil {
		return governed{}, err
	}
	if lifted {
		d.log.Info("reserve unfrozen", "epoch", epoch)
	}
	return g, nil
}

// updateGoverned runs fn on the governance with its policy parsed, in
// one store transaction, and returns the governance as written. It holds
// spendMu, so that a proposal's approvals are counted, and its release
// decided, under one policy and freeze.
func (d *Daemon) updateGoverned(ctx context.Context, fn func(g *governed) error) (governed, error) {
	d.spendMu.Lock()
	defer d.spendMu.Unlock()
	w, desc, err := d.wallet(ctx)
	if err != nil {
		return governed{}, err
	}
	g, err := d.cfg.Store.UpdateGovernance(ctx, func(g *reserve.Governance) error {
		gv, err := d.govern(*g, w, desc)
		if err != nil {
			return err
		}
		if err := fn(&gv); err != nil {
			return err
		}
		*g = gv.Governance
		return nil
	})
	if err != nil {
		return governed{}, err
	}
	// fn may have put a new policy in force: parse what was written.
	return d.govern(g, w, desc)
}

// verifyControl checks an officer's signature over c under policy p,
// that the caller in ctx is that officer's identity, and that the officer
// is not among those who already signed.
func (d *Daemon) verifyControl(ctx context.Context, p *reserve.Policy, c *reserve.Control, a reserve.Approval, already []reserve.ControlSignature) (reserve.ControlSignature, error) {
	id, err := reserve.VerifyControl(p, c, a)
	if err != nil {
		return reserve.ControlSignature{}, err
	}
	caller, _ := CallerFrom(ctx)
	if err := checkOfficer(caller, id); err != nil {
		return reserve.ControlSignature{}, err
	}
	if slices.ContainsFunc(already, func(s reserve.ControlSignature) bool { return s.Officer == id }) {
		return reserve.ControlSignature{}, reserve.Errorf(reserve.CodeConflict, "officer %s already signed this %s", id, c.Action)
	}
	return reserve.ControlSignature{Officer: id, Approval: a, At: d.cfg.Now().UTC()}, nil
}

// checkPayment says what paying payees would need now under the policy
// it returns (the one in force when it read it), with the fee and size of
// a typical transaction left out: the fee caps are checked when the
// proposal is built.
func (d *Daemon) checkPayment(ctx context.Context, payees []payeeSpec) (reserve.Requirement, *reserve.Policy, int64, error) {
	g, err := d.governance(ctx)
	if err != nil {
		return reserve.Requirement{}, nil, 0, err
	}
	if g.policy == nil {
		return reserve.Requirement{}, nil, 0, errNoPolicy()
	}
	ps, _, err := d.checkPayees(payees)
	if err != nil {
		return reserve.Requirement{}, nil, 0, err
	}
	spent, err := d.spent(ctx, "")
	if err != nil {
		return reserve.Requirement{}, nil, 0, err
	}
	pays, total := payments(ps)
	req, err := g.policy.Require(pays, 0, 1, spent, d.cfg.Now().UTC())
	return req, g.policy, total, err
}

// payments are the payees as the policy sees them, and their total.
func payments(ps []reserve.Payee) ([]reserve.Payment, int64) {
	out := make([]reserve.Payment, len(ps))
	var total int64
	for i, p := range ps {
		out[i] = reserve.Payment{Address: p.Address, AmountSat: p.AmountSat}
		total += p.AmountSat
	}
	return out, total
}

// spent is what the reserve has paid, or committed to pay, to external
// addresses in the policy's rolling windows ending now: every proposal
// approved and not ended unpaid, counted once per intent (a fee bump
// shares its original's), at the time its quorum was reached. A proposal
// that ended FAILED, CANCELLED or EXPIRED with its signatures
// (reserve.Proposal.MaySpend) and still holding its reservations counts
// too: whoever holds its signed transaction can still make it pay.
// exclude names an intent not to count: the one being evaluated.
func (d *Daemon) spent(ctx context.Context, exclude string) (reserve.Spent, error) {
	return d.spentFor(ctx, &reserve.Intent{ProposalID: exclude})
}

// spentFor is spent for the payment of intent in: it leaves out in's own
// proposal, and the payments in supersedes that pay no more than it, for
// it conflicts with each of them and at most one of them can confirm (the
// signers count their ledgers the same way).
func (d *Daemon) spentFor(ctx context.Context, in *reserve.Intent) (reserve.Spent, error) {
	skip := func(q *reserve.Intent) bool {
		return q.ProposalID == in.ProposalID ||
			(slices.Contains(in.Supersedes, q.ProposalID) && q.TotalSat() <= in.TotalSat())
	}
	ps, err := d.cfg.Store.Proposals(ctx, reserve.StateUnspecified)
	if err != nil {
		return reserve.Spent{}, err
	}
	now := d.cfg.Now()
	seen := make(map[string]bool)
	var s reserve.Spent
	// mayPay reports whether an ended proposal can still pay; the
	// wallet and reservations are read once, and only if one is asked.
	var (
		loaded    bool
		threshold int
		res       map[wire.OutPoint]string
	)
	mayPay := func(p reserve.Proposal) (bool, error) {
		if !endedHolding(p.State) {
			return false, nil
		}
		if !loaded {
			w, err := d.cfg.Store.Wallet(ctx)
			if err != nil {
				return false, err
			}
			if res, err = d.cfg.Store.Reservations(ctx); err != nil {
				return false, err
			}
			threshold, loaded = w.Threshold, true
		}
		return p.MaySpend(threshold) && holds(p, res), nil
	}
	for _, p := range ps {
		if p.Intent == nil || skip(p.Intent) || seen[p.Intent.ProposalID] {
			continue
		}
		if !committed(p.State) {
			ok, err := mayPay(p)
			if err != nil {
				return reserve.Spent{}, err
			}
			if !ok {
				continue
			}
		}
		seen[p.Intent.ProposalID] = true
		s.Add(approvedAt(p), now, p.Intent.TotalSat())
	}
	return s, nil
}

// approvedAt is when a proposal's quorum was reached: its move to
// APPROVED, or its creation for one that never passed through it (a fee
// bump, whose original is counted instead, or one made before policies).
func approvedAt(p reserve.Proposal) time.Time {
	for _, h := range p.History {
		if h.State == reserve.StateApproved {
			return h.At
		}
	}
	return p.CreatedAt
}

// committed reports whether a proposal in state s counts toward velocity:
// approved and not ended without paying.
func committed(s reserve.State) bool {
	switch s {
	case reserve.StateApproved, reserve.StateSigning, reserve.StateFinalized,
		reserve.StateBroadcast, reserve.StateConfirmed, reserve.StateReplaced:
		return true
	case reserve.StateUnspecified, reserve.StatePendingApproval, reserve.StateRejected,
		reserve.StateCancelled, reserve.StateExpired, reserve.StateFailed:
	}
	return false
}

// endedHolding reports whether a proposal that ended in state s may still
// hold its reservations (its signed transaction can pay): spent counts
// such a one when it does.
func endedHolding(s reserve.State) bool {
	return s == reserve.StateCancelled || s == reserve.StateExpired || s == reserve.StateFailed
}
