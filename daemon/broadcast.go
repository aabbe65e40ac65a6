package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// Actors the daemon records for what it does on its own and for what the
// chain did.
const (
	actorDaemon = "custosd"
	actorChain  = "chain"
)

// rebroadcastAfter is how long a broadcast transaction may stay unseen by
// the follower before the daemon sends it again.
const rebroadcastAfter = 30 * time.Second

// alreadyKnown recognises the node saying it has the transaction already:
// then the broadcast has happened, maybe before a crash.
func alreadyKnown(reason string) bool {
	return reasonHas(reason, "already in mempool", "already-in-mempool", "txn-already-known",
		"already have transaction", "already in block chain", "transaction already exists",
		"outputs already in utxo set")
}

// transient recognises refusals that say nothing final about the
// transaction: a full or choosy mempool, a locktime not yet reached after a
// reorg, or inputs the node cannot see — which is also what it says when
// this very transaction confirmed while the daemon was down. The proposal
// stays FINALIZED; reconcile retries, and the chain view decides between
// "it confirmed" and "a conflicting spend confirmed".
func transient(reason string) bool {
	return reasonHas(reason, "mempool min fee not met", "mempool full", "too-long-mempool-chain",
		"non-final", "non-bip68-final", "missing-inputs", "missingorspent", "orphan")
}

func reasonHas(reason string, parts ...string) bool {
	r := strings.ToLower(reason)
	for _, s := range parts {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

// broadcast sends a FINALIZED proposal's transaction. The node first tests
// it. A definite refusal ends the proposal FAILED with the node's reason and
// frees its coins; anything that may only mean "not now" (no answer, a
// transient refusal) leaves it FINALIZED for the next reconcile pass, since
// marking a valid signed payment FAILED could get it paid twice. The caller
// holds spendMu.
func (d *Daemon) broadcast(ctx context.Context, p reserve.Proposal) reserve.Proposal {
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(p.FinalTx)); err != nil {
		d.log.Error("stored final transaction does not decode", "proposal", p.ID, "err", err)
		return p
	}
	acc, err := d.node.TestMempoolAccept(&tx)
	if err != nil {
		d.log.Warn("cannot test transaction with the node; will retry", "proposal", p.ID, "err", err)
		return p
	}
	note := "accepted by the node"
	switch {
	case acc.Allowed:
		err := d.node.SendRawTransaction(&tx)
		var rpcErr *btcjson.RPCError
		switch {
		case err == nil, alreadyKnown(err.Error()):
		case errors.As(err, &rpcErr) && !transient(rpcErr.Message):
			return d.fail(ctx, p, "node refused the broadcast: "+rpcErr.Message)
		default:
			d.log.Warn("broadcast not confirmed by the node; will retry", "proposal", p.ID, "err", err)
			return p
		}
	case alreadyKnown(acc.Reason):
		note = "already known to the node"
	case transient(acc.Reason):
		d.log.Warn("node cannot take the transaction now; will retry", "proposal", p.ID, "reason", acc.Reason)
		return p
	default:
		return d.fail(ctx, p, "node refused the transaction: "+acc.Reason)
	}
	return d.markBroadcast(ctx, p, note+"; txid "+p.Txid.String())
}

// markBroadcast records that the transaction is out.
func (d *Daemon) markBroadcast(ctx context.Context, p reserve.Proposal, note string) reserve.Proposal {
	out, err := d.cfg.Store.UpdateProposal(ctx, p.ID, func(p *reserve.Proposal) error {
		return p.Move(reserve.StateBroadcast, d.cfg.Now().UTC(), actorDaemon, note)
	})
	if err != nil {
		d.log.Error("broadcast but not recorded; the next pass will find it", "proposal", p.ID, "err", err)
		return p
	}
	d.log.Info("transaction broadcast", "proposal", p.ID, "txid", p.Txid.String())
	d.follower.Kick()
	return out
}

// fail ends a proposal FAILED with reason.
func (d *Daemon) fail(ctx context.Context, p reserve.Proposal, reason string) reserve.Proposal {
	if len(reason) > maxReasonText*4 {
		reason = reason[:maxReasonText*4]
	}
	out, err := d.cfg.Store.UpdateProposal(ctx, p.ID, func(p *reserve.Proposal) error {
		p.FailReason = reason
		return p.Move(reserve.StateFailed, d.cfg.Now().UTC(), actorDaemon, reason)
	})
	if err != nil {
		d.log.Error("unable to record failure", "proposal", p.ID, "err", err)
		return p
	}
	d.log.Warn("proposal failed", "proposal", p.ID, "reason", reason)
	return out
}

// reconcile brings live proposals in line with the chain and the clock:
// broadcasts FINALIZED ones (after a crash too), confirms, notices double
// spends and reorgs, rebroadcasts, and expires stale proposals.
func (d *Daemon) reconcile(ctx context.Context) error {
	d.spendMu.Lock()
	defer d.spendMu.Unlock()
	proposals, err := d.cfg.Store.Proposals(ctx, reserve.StateUnspecified)
	if err != nil || len(proposals) == 0 {
		// No proposal, perhaps no wallet yet: nothing to reconcile.
		return err
	}
	utxos, err := d.cfg.Store.UTXOs(ctx, true)
	if err != nil {
		return err
	}
	tip, _, _, err := d.cfg.Store.SyncTip(ctx)
	if err != nil {
		return err
	}
	byOutpoint := make(map[wire.OutPoint]reserve.UTXO, len(utxos))
	for _, u := range utxos {
		byOutpoint[u.OutPoint] = u
	}
	g, err := d.governance(ctx)
	if err != nil {
		return err
	}
	byTxid := make(map[chainhash.Hash]reserve.Proposal, len(proposals))
	// bumped are the proposals a fee bump on the network replaces: their
	// own transaction is not sent again.
	bumped := make(map[string]bool)
	for _, p := range proposals {
		byTxid[p.Txid] = p
		switch p.State {
		case reserve.StateBroadcast, reserve.StateConfirmed:
			if p.Replaces != "" {
				bumped[p.Replaces] = true
			}
		default:
		}
	}
	for _, p := range proposals {
		if err := ctx.Err(); err != nil {
			return err
		}
		v := chainView(p, byOutpoint)
		if r, ok := byTxid[v.conflictTx]; ok && v.conflict != "" && sameIntent(p, r) {
			v.replacedBy = r.ID
		}
		v.bumped = bumped[p.ID]
		d.reconcileOne(ctx, g, p, v, tip)
	}
	return nil
}

// sameIntent reports whether a and b carry out one approved intent: a
// proposal and its fee bumps.
func sameIntent(a, b reserve.Proposal) bool {
	return a.Intent != nil && b.Intent != nil && a.ID != b.ID && a.Intent.ProposalID == b.Intent.ProposalID
}

// spendView is what the follower knows of a proposal's inputs.
type spendView struct {
	// seen: every input is spent by the proposal's transaction.
	seen bool
	// height: the lowest height confirming those spends, 0 if any is in
	// the mempool.
	height int32
	// conflict describes an input spent by another, confirmed
	// transaction, conflictTx; empty when there is none.
	conflict   string
	conflictTx chainhash.Hash
	// replacedBy is the proposal whose transaction is conflictTx when it
	// carries out the same intent (a fee bump).
	replacedBy string
	// bumped: a fee bump of this proposal is on the network.
	bumped bool
}

func chainView(p reserve.Proposal, utxos map[wire.OutPoint]reserve.UTXO) spendView {
	v := spendView{seen: true}
	for _, in := range p.Inputs {
		u, ok := utxos[in.OutPoint]
		switch {
		case !ok || !u.Spent:
			v.seen = false
		case u.SpentBy != p.Txid:
			v.seen = false
			if u.SpentHeight > 0 {
				v.conflictTx = u.SpentBy
				v.conflict = fmt.Sprintf("input %s was spent by transaction %s, confirmed at height %d (double spend)", in.OutPoint, u.SpentBy, u.SpentHeight)
			}
		case u.SpentHeight == 0:
			v.height = 0
		case v.height == 0 || u.SpentHeight < v.height:
			v.height = u.SpentHeight
		}
	}
	if !v.seen {
		v.height = 0
	}
	return v
}

func (d *Daemon) reconcileOne(ctx context.Context, g governed, p reserve.Proposal, v spendView, tip int32) {
	now := d.cfg.Now().UTC()
	move := func(next reserve.State, actor, note string) {
		_, err := d.cfg.Store.UpdateProposal(ctx, p.ID, func(p *reserve.Proposal) error {
			if next == reserve.StateConfirmed {
				p.ConfirmedHeight = v.height
			}
			if next == reserve.StateBroadcast {
				p.ConfirmedHeight = 0
			}
			return p.Move(next, now, actor, note)
		})
		if err != nil {
			d.log.Error("unable to record proposal change", "proposal", p.ID, "state", next.String(), "err", err)
			return
		}
		d.log.Info("proposal changed", "proposal", p.ID, "state", next.String(), "note", note)
	}
	switch p.State {
	case reserve.StatePendingApproval, reserve.StateApproved, reserve.StateSigning:
		switch {
		case v.conflict != "":
			d.fail(ctx, p, v.conflict)
		case now.After(p.ExpiresAt):
			move(reserve.StateExpired, actorDaemon, "expired at "+p.ExpiresAt.Format(time.RFC3339))
		case p.State == reserve.StateApproved:
			d.release(ctx, g, p)
		}
	case reserve.StateFinalized:
		switch {
		case v.conflict != "":
			d.fail(ctx, p, v.conflict)
		case v.seen:
			// Sent before a crash: the follower has seen it.
			d.markBroadcast(ctx, p, "found on the network; txid "+p.Txid.String())
		case g.Freeze.Frozen:
			// Nothing leaves a frozen reserve.
		default:
			if err := inForce(g.Governance, &p); err != nil {
				d.fail(ctx, p, err.Error())
				return
			}
			d.broadcast(ctx, p)
		}
	case reserve.StateBroadcast:
		switch {
		case v.replacedBy != "":
			move(reserve.StateReplaced, actorChain, fmt.Sprintf("replaced by proposal %s (fee bump), txid %s, confirmed", v.replacedBy, v.conflictTx))
		case v.conflict != "":
			d.fail(ctx, p, v.conflict)
		case v.seen && v.height > 0 && tip-v.height+1 >= d.cfg.ConfirmDepth:
			move(reserve.StateConfirmed, actorChain, fmt.Sprintf("confirmed at height %d, %d confirmations", v.height, tip-v.height+1))
		case !v.seen && !v.bumped && now.Sub(lastChange(p)) > rebroadcastAfter:
			d.rebroadcast(p)
		}
	case reserve.StateConfirmed:
		if !v.seen || v.height == 0 {
			move(reserve.StateBroadcast, actorChain, "confirmation lost in a reorganisation")
		}
	case reserve.StateUnspecified, reserve.StateRejected, reserve.StateCancelled,
		reserve.StateExpired, reserve.StateFailed, reserve.StateReplaced:
	}
}

func lastChange(p reserve.Proposal) time.Time {
	if len(p.History) == 0 {
		return p.CreatedAt
	}
	return p.History[len(p.History)-1].At
}

// rebroadcast sends a broadcast transaction again when the follower has
// not seen it (evicted, or lost in a reorg).
func (d *Daemon) rebroadcast(p reserve.Proposal) {
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(p.FinalTx)); err != nil {
		d.log.Error("stored final transaction does not decode", "proposal", p.ID, "err", err)
		return
	}
	if err := d.node.SendRawTransaction(&tx); err != nil && !alreadyKnown(err.Error()) {
		d.log.Warn("rebroadcast refused", "proposal", p.ID, "txid", p.Txid.String(), "err", err)
	}
}

// cancel ends a proposal that has not been broadcast and frees its coins.
func (d *Daemon) cancel(ctx context.Context, caller Caller, id, reason string) (reserve.Proposal, error) {
	if err := checkText("reason", reason, maxReasonText); err != nil {
		return reserve.Proposal{}, err
	}
	d.spendMu.Lock()
	defer d.spendMu.Unlock()
	note := "cancelled"
	if reason != "" {
		note += ": " + reason
	}
	p, err := d.cfg.Store.UpdateProposal(ctx, id, func(p *reserve.Proposal) error {
		return p.Move(reserve.StateCancelled, d.cfg.Now().UTC(), caller.Name, note)
	})
	if err != nil {
		return reserve.Proposal{}, err
	}
	d.log.Info("proposal cancelled", "proposal", p.ID, "by", caller.Name)
	return p, nil
}
