package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/custos-reserve/custos/failpoint"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// decide records an officer's signed decision on a proposal's intent. An
// approval that completes the quorum makes the proposal APPROVED, to be
// released to the signers after the tier's cool-off; a veto rejects it.
// Refused, changing nothing: a proposal past APPROVED (or, for an
// approval, already APPROVED), an intent under a policy no longer in
// force, a signature that does not verify or by a key that is not an
// officer's, an officer giving the same decision twice. An officer who
// approved may veto.
func (d *Daemon) decide(ctx context.Context, caller Caller, id string, dec reserve.Decision, a reserve.Approval) (reserve.Proposal, error) {
	if dec != reserve.DecisionApprove && dec != reserve.DecisionReject {
		return reserve.Proposal{}, reserve.Invalid("decision", "must be approve or reject")
	}
	d.spendMu.Lock()
	defer d.spendMu.Unlock()
	g, err := d.governance(ctx)
	if err != nil {
		return reserve.Proposal{}, err
	}
	if g.policy == nil {
		return reserve.Proposal{}, errNoPolicy()
	}
	spent, err := d.spentOf(ctx, id)
	if err != nil {
		return reserve.Proposal{}, err
	}
	now := d.cfg.Now().UTC()
	p, err := d.cfg.Store.UpdateProposal(ctx, id, func(p *reserve.Proposal) error {
		switch {
		case p.Intent == nil:
			return reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s was made without a policy and takes no approvals", p.ID)
		case p.State == reserve.StateApproved && dec == reserve.DecisionApprove:
			return reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is already APPROVED; it goes to the signers at %s",
				p.ID, p.ReleaseAt.Format(time.RFC3339))
		case p.State != reserve.StatePendingApproval && p.State != reserve.StateApproved:
			return reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is %s and takes no more decisions", p.ID, p.State)
		case p.Intent.PolicyHash != g.Policy.Hash:
			return reserve.Errorf(reserve.CodeFailedPrecondition,
				"proposal %s was made under policy %x, and policy %x is now in force: propose its replacement (custosctl spend propose --replaces %s, which cancels it)",
				p.ID, p.Intent.PolicyHash[:8], g.Policy.Hash[:8], p.ID)
		}
		officer, ok := g.policy.OfficerByKey(a.OfficerKey)
		if !ok {
			return reserve.Invalid("signature.officer_key", "key %x is not an officer of the policy in force", a.OfficerKey)
		}
		if err := checkOfficer(caller, officer.ID); err != nil {
			return err
		}
		if err := reserve.VerifyApproval(p.Intent, dec, a); err != nil {
			return reserve.Invalid("signature", "officer %s: %v", officer.ID, err)
		}
		// An officer who approved may still veto (they changed their
		// mind during the cool-off); nobody decides the same twice.
		if prev, ok := p.Decided(a.OfficerKey); ok && prev.Decision == dec {
			return reserve.Errorf(reserve.CodeConflict, "officer %s already decided (%s) on proposal %s", officer.ID, prev.Decision, p.ID)
		}
		p.Decisions = append(p.Decisions, reserve.OfficerDecision{Officer: officer.ID, Decision: dec, Approval: a, At: now})
		if dec == reserve.DecisionReject {
			return p.Move(reserve.StateRejected, now, caller.Name, "vetoed by officer "+officer.ID)
		}
		q, err := d.quorum(g.policy, p, spent, now)
		if err != nil || !q.Met() || p.State != reserve.StatePendingApproval {
			return err
		}
		p.ReleaseAt = now.Add(q.Requirement.CoolOff)
		if !p.ReleaseAt.Before(p.ExpiresAt) {
			return reserve.Errorf(reserve.CodeFailedPrecondition,
				"proposal %s expires at %s, before its tier's cool-off of %s would end: it could never go to the signers",
				p.ID, p.ExpiresAt.Format(time.RFC3339), q.Requirement.CoolOff)
		}
		return p.Move(reserve.StateApproved, now, caller.Name, fmt.Sprintf("approved by %d of %d needed (%v); goes to the signers when the cool-off ends at %s",
			len(q.Officers), q.Requirement.Approvals, q.Officers, p.ReleaseAt.Format(time.RFC3339)))
	})
	if err != nil {
		return reserve.Proposal{}, err
	}
	d.log.Info("officer decision", "proposal", p.ID, "decision", dec.String(), "state", p.State.String())
	if p.State == reserve.StateApproved {
		p = d.release(ctx, g, p)
	}
	return p, nil
}

// quorum counts the proposal's approvals under policy pol.
func (d *Daemon) quorum(pol *reserve.Policy, p *reserve.Proposal, spent reserve.Spent, now time.Time) (reserve.Quorum, error) {
	pays, _ := payments(p.Payees)
	return reserve.CountApprovals(pol, p.Intent, p.Approvals(), pays, p.FeeSat, p.VSize, spent, now)
}

// release sends an APPROVED proposal to the signers once its cool-off is
// over and the reserve is not frozen: its approvals are counted again
// under the policy in force and written into its PSBT with the intent, so
// an air-gapped signer needs only the file. A proposal whose approvals no
// longer meet the policy (the policy changed) is cancelled. It returns
// the proposal as it now is. The caller holds spendMu.
func (d *Daemon) release(ctx context.Context, g governed, p reserve.Proposal) reserve.Proposal {
	now := d.cfg.Now().UTC()
	if p.State != reserve.StateApproved || now.Before(p.ReleaseAt) || g.Freeze.Frozen || g.policy == nil {
		return p
	}
	spent, err := d.spentFor(ctx, intentOrID(p))
	if err != nil {
		d.log.Error("unable to count velocity for release", "proposal", p.ID, "err", err)
		return p
	}
	failpoint.Inject(failpoint.DaemonReleaseBefore)
	updated, err := d.cfg.Store.UpdateProposal(ctx, p.ID, func(p *reserve.Proposal) error {
		q, err := d.quorum(g.policy, p, spent, now)
		if err == nil && !q.Met() {
			err = fmt.Errorf("%d approvals, %d needed", len(q.Officers), q.Requirement.Approvals)
		}
		if err != nil {
			return p.Move(reserve.StateCancelled, now, actorDaemon, "approvals no longer meet the policy in force: "+err.Error())
		}
		raw, err := approvedPSBT(p)
		if err != nil {
			// Trying again would fail again, and no signer has seen
			// the proposal: end it, saying why, and free its coins.
			return p.Move(reserve.StateCancelled, now, actorDaemon, "unable to go to the signers: "+err.Error()+"; propose its replacement: custosctl spend propose --replaces "+p.ID)
		}
		p.PSBT = raw
		return p.Move(reserve.StateSigning, now, actorDaemon, "cool-off over; released to the signers")
	})
	if err != nil {
		d.log.Error("unable to release proposal", "proposal", p.ID, "err", err)
		return p
	}
	failpoint.Inject(failpoint.DaemonReleaseRecorded)
	d.log.Info("proposal released", "proposal", updated.ID, "state", updated.State.String())
	return updated
}

// approvedPSBT is the proposal's PSBT with its intent and approvals, as
// the signers get it; it refuses a PSBT over multisig.MaxPSBTBytes, which
// no transfer path would carry (propose keeps proposals well within it).
func approvedPSBT(p *reserve.Proposal) ([]byte, error) {
	pkt, err := storedPSBT(p)
	if err != nil {
		return nil, err
	}
	if err := multisig.SetApprovals(pkt, p.Intent, p.Approvals()); err != nil {
		return nil, err
	}
	raw, err := multisig.SerializePSBT(pkt)
	if err != nil {
		return nil, err
	}
	if len(raw) > multisig.MaxPSBTBytes {
		return nil, reserve.Errorf(reserve.CodeInternal, "its PSBT with the approvals would be %d bytes, more than the %d the signers' transfer paths carry",
			len(raw), multisig.MaxPSBTBytes)
	}
	return raw, nil
}

// inForce refuses work on a proposal's transaction while the reserve is
// frozen, or when the policy its approvals were given under has been
// replaced (the change may have removed an officer whose approval counts).
func inForce(g reserve.Governance, p *reserve.Proposal) error {
	if g.Freeze.Frozen {
		return errFrozen(g.Freeze)
	}
	if p.Intent != nil && g.Policy != nil && p.Intent.PolicyHash != g.Policy.Hash {
		return reserve.Errorf(reserve.CodeFailedPrecondition,
			"proposal %s was approved under policy %x, and policy %x is now in force: propose its replacement (custosctl spend propose --replaces %s, which cancels it)",
			p.ID, p.Intent.PolicyHash[:8], g.Policy.Hash[:8], p.ID)
	}
	return nil
}

// checkSpendable refuses work on a proposal's transaction that inForce
// refuses, and exports before the officers' approvals and cool-off
// released it.
func (d *Daemon) checkSpendable(ctx context.Context, p reserve.Proposal) error {
	g, err := d.cfg.Store.Governance(ctx)
	if err != nil {
		return err
	}
	if err := inForce(g, &p); err != nil {
		return err
	}
	switch p.State {
	case reserve.StatePendingApproval:
		return reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is PENDING_APPROVAL: officers approve it before it goes to the signers", p.ID)
	case reserve.StateApproved:
		return reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is APPROVED and in its cool-off until %s; it goes to the signers then",
			p.ID, p.ReleaseAt.Format(time.RFC3339))
	}
	return nil
}

// intentOrID is p's intent, or one naming only p's id when it has none.
func intentOrID(p reserve.Proposal) *reserve.Intent {
	if p.Intent != nil {
		return p.Intent
	}
	return &reserve.Intent{ProposalID: p.ID}
}

// spentOf is spentFor the intent of proposal id; an unknown id counts
// as spent does (the caller's update then refuses it).
func (d *Daemon) spentOf(ctx context.Context, id string) (reserve.Spent, error) {
	p, err := d.cfg.Store.Proposal(ctx, id)
	if reserve.CodeOf(err) == reserve.CodeNotFound {
		return d.spent(ctx, id)
	}
	if err != nil {
		return reserve.Spent{}, err
	}
	return d.spentFor(ctx, intentOrID(p))
}
