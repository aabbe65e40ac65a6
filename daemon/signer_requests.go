package daemon

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// Online signer agents (custos-signer serve) hold a signer identity bound
// to one cosigner fingerprint. followSigningRequests hands each the
// SIGNING proposals its cosigner has not signed, as ExportPSBT would; the
// signatures come back through ImportPSBT like any file. refuseRequest
// records a cosigner's refusal: an audit leaf is the record, and
// GetProposal shows it as a note in the proposal's history.

// AuditSignerRefuse is a signer agent's refusal to sign a proposal: ids
// name the proposal, its txid and the cosigner; the detail holds the
// reason. Persisted: never rename it.
const AuditSignerRefuse = "proposal.signer_refuse"

// signerRescanEvery bounds how long a request stream goes without reading
// the proposals again when nothing is appended to the audit log (every
// state change appends a leaf, which wakes the streams at once).
const signerRescanEvery = 30 * time.Second

// signingRequest is a proposal for one cosigner to sign.
type signingRequest struct {
	ID       string
	Txid     chainhash.Hash
	PSBT     []byte
	Cosigner int
}

// signingWithdrawal says a request sent before no longer needs signing.
type signingWithdrawal struct {
	ID     string
	State  reserve.State
	Reason string
}

// signerEvent is one message of a request stream: a request or a
// withdrawal.
type signerEvent struct {
	Request    *signingRequest
	Withdrawal *signingWithdrawal
}

// signerRefusal is a cosigner's recorded refusal of a proposal.
type signerRefusal struct {
	Fingerprint uint32
	Actor       string
	At          time.Time
	Reason      string
}

// signerCosigner is the position in the wallet's descriptor of the
// cosigner a signer identity is bound to.
func (d *Daemon) signerCosigner(ctx context.Context, caller Caller) (int, error) {
	if caller.Role != RoleSigner || !caller.HasFingerprint {
		return 0, reserve.Errorf(reserve.CodeDenied,
			"identity %s is not a signer bound to a cosigner: issue it again with --fingerprint", caller.Name)
	}
	_, desc, err := d.wallet(ctx)
	if err != nil {
		return 0, err
	}
	for i, c := range desc.Cosigners() {
		if c.Fingerprint == caller.Fingerprint {
			return i, nil
		}
	}
	return 0, reserve.Errorf(reserve.CodeDenied,
		"signer identity %s is bound to cosigner %08x, which is not in the wallet's descriptor", caller.Name, caller.Fingerprint)
}

// followSigningRequests sends caller's cosigner every SIGNING proposal it
// has neither signed nor refused, each exported as ExportPSBT exports it
// (with its export leaf), then new ones as they come, and a withdrawal
// for each one sent that leaves SIGNING, is signed or refused. It returns
// when ctx ends, the daemon stops, or send fails. opened is called once
// the caller is known to be the wallet's cosigner, before anything is
// sent: the stream's headers go out then, so an agent knows it is
// connected when no request waits (and a refused one gets only the error).
func (d *Daemon) followSigningRequests(ctx context.Context, caller Caller, opened func() error, send func(signerEvent) error) error {
	pos, err := d.signerCosigner(ctx, caller)
	if err != nil {
		return err
	}
	if err := opened(); err != nil {
		return err
	}
	d.log.Info("signer agent connected", "by", caller.Name, "cosigner", pos)
	defer d.log.Info("signer agent disconnected", "by", caller.Name, "cosigner", pos)
	sent := map[string]bool{}
	timer := time.NewTimer(signerRescanEvery)
	defer timer.Stop()
	for {
		// Taken before the read: a change committed after it closes
		// this channel, so none is missed.
		changed := d.audit.AuditChanged()
		if err := d.sendSigningRound(ctx, caller, pos, sent, send); err != nil {
			return err
		}
		timer.Reset(signerRescanEvery)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.quit:
			return reserve.Errorf(reserve.CodeUnavailable, "custosd is stopping; reconnect")
		case <-changed:
		case <-timer.C:
		}
	}
}

// sendSigningRound reads the SIGNING proposals once: it sends those not
// sent yet that caller's cosigner still has to sign, and withdraws those
// sent before that it no longer has to.
func (d *Daemon) sendSigningRound(ctx context.Context, caller Caller, pos int, sent map[string]bool, send func(signerEvent) error) error {
	if err := d.checkRestored(ctx); err != nil { // backup.go: nothing goes out before ack-restore
		return err
	}
	ps, err := d.cfg.Store.Proposals(ctx, reserve.StateSigning)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, p := range ps {
		why, err := d.needsSigner(ctx, p, caller, pos)
		if err != nil {
			return err
		}
		if why != "" {
			if sent[p.ID] {
				if err := d.withdraw(p, why, sent, send); err != nil {
					return err
				}
			}
			continue
		}
		live[p.ID] = true
		if sent[p.ID] {
			continue
		}
		raw, err := d.exportPSBT(ctx, p) // audit_events.go: witness fields, then the export's leaf
		if err != nil {
			return err
		}
		if err := send(signerEvent{Request: &signingRequest{ID: p.ID, Txid: p.Txid, PSBT: raw, Cosigner: pos}}); err != nil {
			return err
		}
		sent[p.ID] = true
		d.log.Info("signing request sent", "proposal", p.ID, "txid", p.Txid.String(), "to", caller.Name)
	}
	// Sent before, and no longer SIGNING.
	for _, id := range slices.Sorted(maps.Keys(sent)) {
		if live[id] {
			continue
		}
		p, err := d.cfg.Store.Proposal(ctx, id)
		if err != nil {
			return err
		}
		if err := d.withdraw(p, fmt.Sprintf("proposal is %s", p.State), sent, send); err != nil {
			return err
		}
	}
	return nil
}

// needsSigner says why p is not for caller's cosigner now, or "" when it
// is: signed by it, refused by it, or not spendable (frozen, another
// policy in force).
func (d *Daemon) needsSigner(ctx context.Context, p reserve.Proposal, caller Caller, pos int) (string, error) {
	if p.State != reserve.StateSigning {
		return fmt.Sprintf("proposal is %s", p.State), nil
	}
	if p.Signed(pos) {
		return "signed by this cosigner", nil
	}
	refused, err := d.refusalsOf(ctx, p.ID)
	if err != nil {
		return "", err
	}
	for _, r := range refused {
		if r.Fingerprint == caller.Fingerprint {
			return "refused by this cosigner", nil
		}
	}
	if err := d.checkSpendable(ctx, p); err != nil {
		if reserve.CodeOf(err) == reserve.CodeInternal {
			return "", err
		}
		return err.Error(), nil
	}
	return "", nil
}

func (d *Daemon) withdraw(p reserve.Proposal, why string, sent map[string]bool, send func(signerEvent) error) error {
	if err := send(signerEvent{Withdrawal: &signingWithdrawal{ID: p.ID, State: p.State, Reason: why}}); err != nil {
		return err
	}
	delete(sent, p.ID)
	d.log.Info("signing request withdrawn", "proposal", p.ID, "why", why)
	return nil
}

// refuseRequest records that caller's cosigner refuses to sign SIGNING
// proposal id, and why: an audit leaf, shown by GetProposal in the
// proposal's history. A cosigner that signed it already cannot refuse it.
func (d *Daemon) refuseRequest(ctx context.Context, caller Caller, id, reason string) (reserve.Proposal, error) {
	if err := checkID(id); err != nil {
		return reserve.Proposal{}, reserve.Invalid("proposal_id", "%v", err)
	}
	if reason == "" {
		return reserve.Proposal{}, reserve.Invalid("reason", "is empty: say why the request is refused")
	}
	if err := checkText("reason", reason, maxReasonText); err != nil {
		return reserve.Proposal{}, err
	}
	pos, err := d.signerCosigner(ctx, caller)
	if err != nil {
		return reserve.Proposal{}, err
	}
	p, err := d.cfg.Store.Proposal(ctx, id)
	if err != nil {
		return reserve.Proposal{}, err
	}
	switch {
	case p.State != reserve.StateSigning:
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is %s; only a SIGNING proposal is refused", p.ID, p.State)
	case p.Signed(pos):
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is signed by cosigner %08x already", p.ID, caller.Fingerprint)
	}
	fp := fmt.Sprintf("%08x", caller.Fingerprint)
	ids := map[string]string{"proposal": p.ID, "txid": p.Txid.String(), "cosigner": fp}
	detail := reserve.Clip(reason, audit.MaxDetailLen)
	if err := d.audit.AppendEvent(context.WithoutCancel(ctx), AuditSignerRefuse, ids, detail); err != nil {
		return reserve.Proposal{}, fmt.Errorf("unable to record the refusal of proposal %s: %w", p.ID, err)
	}
	d.log.Warn("signing request refused by a signer", "proposal", p.ID, "by", caller.Name, "cosigner", fp)
	return p, nil
}

// refusalsOf returns the refusals recorded for proposal id: its refusal
// leaves, which the audit log files by proposal.
func (d *Daemon) refusalsOf(ctx context.Context, id string) ([]signerRefusal, error) {
	leaves, err := d.audit.SignerRefusals(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]signerRefusal, 0, len(leaves))
	for _, raw := range leaves {
		l, err := audit.ParseLeaf(raw)
		if err != nil {
			return nil, reserve.Errorf(reserve.CodeInternal, "a refusal leaf of proposal %s does not parse: %w", id, err)
		}
		if l.Kind != AuditSignerRefuse || l.IDs["proposal"] != id {
			return nil, reserve.Errorf(reserve.CodeInternal, "refusal leaf %d is a %s leaf of proposal %q, not a refusal of %s", l.Seq, l.Kind, l.IDs["proposal"], id)
		}
		fp, err := audit.ParseFingerprint(l.IDs["cosigner"])
		if err != nil {
			return nil, reserve.Errorf(reserve.CodeInternal, "refusal leaf %d: %w", l.Seq, err)
		}
		out = append(out, signerRefusal{Fingerprint: fp, Actor: l.Actor.Name, At: l.Time, Reason: l.Detail})
	}
	return out, nil
}

// refusalNotes are p's refusals as history notes, for GetProposal.
func (d *Daemon) refusalNotes(ctx context.Context, id string) ([]reserve.Transition, error) {
	rs, err := d.refusalsOf(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]reserve.Transition, 0, len(rs))
	for _, r := range rs {
		out = append(out, reserve.Transition{
			State: reserve.StateSigning, At: r.At, Actor: r.Actor,
			Note: fmt.Sprintf("refused by the signer of cosigner %08x: %s", r.Fingerprint, r.Reason),
		})
	}
	return out, nil
}
