package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/failpoint"
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

// nodeClient is what the daemon asks of the node: *chain.Node in
// production; the tests replay responses recorded from btcd and bitcoind.
type nodeClient interface {
	Kind() chain.Kind
	Probe(ctx context.Context) error
	ChainInfo(ctx context.Context) (chain.ChainInfo, error)
	TestMempoolAccept(ctx context.Context, tx *wire.MsgTx) (chain.Acceptance, error)
	SendRawTransaction(ctx context.Context, tx *wire.MsgTx) error
	Close()
}

var _ nodeClient = (*chain.Node)(nil)

// refusal is what a node's refusal says about a transaction.
type refusal int

const (
	// refusalRetry says nothing final: not now, the node's policy, a
	// conflict only in the mempool, or a refusal nobody classified. The
	// proposal stays FINALIZED and is sent again.
	refusalRetry refusal = iota
	// refusalKnown: the node has the transaction already, in its mempool
	// or its chain; the broadcast has happened, maybe before a crash.
	refusalKnown
	// refusalInputs: an input is spent or unknown to the node. Candidate
	// final only: it is also what the node says when this very
	// transaction confirmed, or when a conflicting spend is in a block the
	// next reorganisation drops. The chain view decides.
	refusalInputs
)

// codeAccept stands for testmempoolaccept's answer, which has a
// reject-reason and no error code. No node sends 0 as the code of a
// sendrawtransaction refusal; broadcast does not read one that does.
const codeAccept btcjson.RPCErrorCode = 0

// JSON-RPC codes of sendrawtransaction refusals. Both nodes use the same
// numbers (btcd maps its rule errors onto bitcoind's, rpcserver.go
// handleSendRawTransaction):
//   - -25: bitcoind RPC_TRANSACTION_ERROR (missing or spent inputs, fee
//     over maxfeerate); btcd ErrRPCTxError (an orphan, a consensus rule
//     error such as a bad signature, an internal error).
//   - -26: bitcoind RPC_TRANSACTION_REJECTED (mempool policy, conflicts);
//     btcd ErrRPCTxRejected (every other mempool rule error, "already have
//     transaction in mempool" included).
//   - -27: bitcoind RPC_VERIFY_ALREADY_IN_CHAIN ("Transaction outputs
//     already in utxo set"); btcd ErrRPCTxAlreadyInChain ("transaction
//     already exists in blockchain").
const (
	codeTxError        = btcjson.ErrRPCVerify               // -25
	codeTxRejected     = btcjson.ErrRPCVerifyRejected       // -26
	codeAlreadyInChain = btcjson.ErrRPCVerifyAlreadyInChain // -27
)

// refusalRule reads one kind of refusal. The code decides first: a rule
// applies only to the codes it lists (codeAccept for testmempoolaccept's
// reject-reason). token, when set, then subdivides within the code: it
// starts the node's reason once btcd's "TX rejected: " is cut (bitcoind's
// reject reasons are stable tokens; btcd's are its RuleError texts,
// recorded in testdata/broadcast). A token under a code the rule does not
// list means nothing.
type refusalRule struct {
	codes []btcjson.RPCErrorCode
	token string
	class refusal
	// why is what the log says about a refusal that keeps the proposal
	// FINALIZED.
	why string
}

// refusalRules is the one table of node refusals, first match wins. A
// refusal matching none (an unknown code, or a token no rule lists under
// its code) is retried, never failed.
var refusalRules = []refusalRule{
	// -27 alone says the node has it in its chain: both nodes use it for
	// nothing else.
	{codes: []btcjson.RPCErrorCode{codeAlreadyInChain}, class: refusalKnown},
	// Already known: bitcoind's testmempoolaccept tokens (-26 from
	// sendrawtransaction in a race), btcd's texts (its testmempoolaccept
	// reason; "already have" is -26 from sendrawtransaction).
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "txn-already-in-mempool", class: refusalKnown},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "txn-already-known", class: refusalKnown},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "already have transaction", class: refusalKnown},
	{codes: []btcjson.RPCErrorCode{codeAccept}, token: "transaction already exists", class: refusalKnown},
	// Missing or spent inputs: testmempoolaccept's "missing-inputs" from
	// both, -25 from sendrawtransaction with each node's words.
	{codes: []btcjson.RPCErrorCode{codeAccept}, token: "missing-inputs", class: refusalInputs},
	{codes: []btcjson.RPCErrorCode{codeTxError}, token: "bad-txns-inputs-missingorspent", class: refusalInputs},
	{codes: []btcjson.RPCErrorCode{codeTxError}, token: "orphan transaction", class: refusalInputs},
	// Policy and mempool conflicts: retried, with the reason in the log.
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "txn-mempool-conflict", why: "a conflicting transaction is in the node's mempool"},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "insufficient fee", why: "a conflicting transaction is in the node's mempool and this one does not pay enough to replace it"},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "output already spent in mempool", why: "a conflicting transaction is in the node's mempool"},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "min relay fee not met", why: "the fee is below the node's minimum relay fee"},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "mempool min fee not met", why: "the fee is below the node's mempool minimum"},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "mempool full", why: "the node's mempool is full"},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "too-long-mempool-chain", why: "too many unconfirmed ancestors"},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "non-final", why: "the locktime is not reached"},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "non-bip68-final", why: "a relative locktime is not reached"},
	{codes: []btcjson.RPCErrorCode{codeAccept, codeTxRejected}, token: "dust", why: "the node's policy refuses a dust output"},
}

// classify reads a refusal: code is sendrawtransaction's error code,
// codeAccept for testmempoolaccept's reject reason. The code selects the
// rules; the reason only chooses among them.
func classify(code btcjson.RPCErrorCode, reason string) refusalRule {
	r := strings.ToLower(strings.TrimPrefix(reason, "TX rejected: "))
	known := false
	for _, rule := range refusalRules {
		if !slices.Contains(rule.codes, code) {
			continue
		}
		known = true
		if strings.HasPrefix(r, rule.token) {
			return rule
		}
	}
	if !known {
		return refusalRule{class: refusalRetry, why: fmt.Sprintf("the node refused it with error code %d, which the daemon does not classify", code)}
	}
	return refusalRule{class: refusalRetry, why: "the node refused it for a reason the daemon does not classify"}
}

// broadcast sends a FINALIZED proposal's transaction. The node first tests
// it. Only a transaction that can never confirm ends FAILED and frees its
// coins: the node says an input is missing or spent and the chain view
// shows the spend confirmed in another transaction. Anything else (no
// answer, a policy refusal, a conflict only in the mempool, a refusal
// nobody classified) leaves it FINALIZED for the next reconcile pass with
// the node's words in the log, since marking a valid signed payment FAILED
// could get it paid twice. The caller holds spendMu.
func (d *Daemon) broadcast(ctx context.Context, p reserve.Proposal) reserve.Proposal {
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(p.FinalTx)); err != nil {
		d.log.Error("stored final transaction does not decode", "proposal", p.ID, "err", err)
		return p
	}
	acc, err := d.node.TestMempoolAccept(ctx, &tx)
	if err != nil {
		d.log.Warn("cannot test transaction with the node; will retry", "proposal", p.ID, "err", err)
		d.waiting.set(p.ID, d.cfg.Now(), "the node did not answer testmempoolaccept; retried")
		return p
	}
	if !acc.Allowed {
		return d.refused(ctx, p, codeAccept, acc.Reason)
	}
	failpoint.Inject(failpoint.DaemonBroadcastBefore)
	err = d.node.SendRawTransaction(ctx, &tx)
	var rpcErr *btcjson.RPCError
	switch {
	case err == nil:
		failpoint.Inject(failpoint.DaemonBroadcastAccepted)
		return d.markBroadcast(ctx, p, "accepted by the node; txid "+p.Txid.String())
	case errors.As(err, &rpcErr) && rpcErr.Code != codeAccept:
		return d.refused(ctx, p, rpcErr.Code, rpcErr.Message)
	default:
		d.log.Warn("broadcast not confirmed by the node; will retry", "proposal", p.ID, "err", err)
		d.waiting.set(p.ID, d.cfg.Now(), "the node did not confirm sendrawtransaction; retried")
		return p
	}
}

// refused acts on the node's refusal of a FINALIZED proposal's
// transaction.
func (d *Daemon) refused(ctx context.Context, p reserve.Proposal, code btcjson.RPCErrorCode, reason string) reserve.Proposal {
	rule := classify(code, reason)
	switch rule.class {
	case refusalKnown:
		return d.markBroadcast(ctx, p, "already known to the node; txid "+p.Txid.String())
	case refusalInputs:
		v, err := d.inputsView(ctx, p)
		switch {
		case err != nil:
			d.log.Error("unable to read the chain view", "proposal", p.ID, "err", err)
			return p
		case v.seen:
			return d.markBroadcast(ctx, p, "found on the network; txid "+p.Txid.String())
		case v.conflict != "":
			tip, _, ok, err := d.cfg.Store.SyncTip(ctx)
			if err != nil {
				d.log.Error("unable to read the synced tip", "proposal", p.ID, "err", err)
				return p
			}
			if ok && v.conflictBuried(tip, d.cfg.ConfirmDepth) {
				return d.fail(ctx, p, v.conflict+"; node refused the transaction: "+reason)
			}
			rule.why = v.conflict + ", not yet buried to the confirmation depth: a reorganisation could still let this transaction confirm"
		default:
			rule.why = "the node does not see an input, and no confirmed spend of it is known: it may be in a block not yet followed, or reorganised away"
		}
	case refusalRetry:
	}
	d.log.Warn("node refused the transaction; it stays FINALIZED and is retried",
		"proposal", p.ID, "txid", p.Txid.String(), "code", int(code), "reason", reason, "why", rule.why)
	d.waiting.set(p.ID, d.cfg.Now(), fmt.Sprintf("the node refused it (code %d: %q): %s; retried", int(code), reserve.Clip(reason, maxReasonText), rule.why))
	return p
}

// waitingNotes hold, in memory, why each FINALIZED proposal is not yet
// broadcast: the node's last refusal or silence and the daemon's reading
// of it. After a restart a note is back with the next try.
type waitingNotes struct {
	mu    sync.Mutex
	notes map[string]string
}

func (w *waitingNotes) set(id string, at time.Time, why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.notes == nil {
		w.notes = make(map[string]string)
	}
	w.notes[id] = at.UTC().Format(time.RFC3339) + ": " + why
}

func (w *waitingNotes) get(id string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.notes[id]
}

func (w *waitingNotes) clear(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.notes, id)
}

// inputsView is the follower's view of p's inputs and whether p still
// holds reservations.
func (d *Daemon) inputsView(ctx context.Context, p reserve.Proposal) (spendView, error) {
	ops := make([]wire.OutPoint, 0, len(p.Inputs))
	for _, in := range p.Inputs {
		ops = append(ops, in.OutPoint)
	}
	coins, err := d.cfg.Store.Coins(ctx, ops)
	if err != nil {
		return spendView{}, err
	}
	res, err := d.cfg.Store.Reservations(ctx)
	if err != nil {
		return spendView{}, err
	}
	v := chainView(p, coins)
	v.held = holds(p, res)
	return v, nil
}

// holds reports whether p holds the reservation of any of its inputs.
func holds(p reserve.Proposal, res map[wire.OutPoint]string) bool {
	for _, in := range p.Inputs {
		if res[in.OutPoint] == p.ID {
			return true
		}
	}
	return false
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
	d.waiting.clear(p.ID)
	d.log.Info("transaction broadcast", "proposal", p.ID, "txid", p.Txid.String())
	d.follower.Kick()
	return out
}

// fail ends a proposal FAILED with reason.
func (d *Daemon) fail(ctx context.Context, p reserve.Proposal, reason string) reserve.Proposal {
	reason = reserve.Clip(reason, maxReasonText*4)
	d.waiting.clear(p.ID)
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
//
// A pass reads what the live proposals need, not the history: the
// proposals before CONFIRMED and those holding coins (the state index and
// the reservations), their own inputs' coins by point lookups, and the
// proposals of one payment only where a conflict or a rebroadcast asks
// whether a fee bump is involved. CONFIRMED proposals are read at start
// and after the follower undoes a block, the only event that can take a
// confirmation away (wake.go).
func (d *Daemon) reconcile(ctx context.Context) error {
	d.spendMu.Lock()
	defer d.spendMu.Unlock()
	var also []reserve.State
	if d.wake.recheckConfirmed() {
		also = append(also, reserve.StateConfirmed)
	}
	err := d.reconcileLive(ctx, also)
	if err != nil && len(also) > 0 {
		d.wake.confirmedStale()
	}
	return err
}

func (d *Daemon) reconcileLive(ctx context.Context, also []reserve.State) error {
	proposals, res, err := d.cfg.Store.LiveProposals(ctx, also...)
	if err != nil || len(proposals) == 0 {
		// No proposal, perhaps no wallet yet: nothing to reconcile.
		return err
	}
	var ops []wire.OutPoint
	for _, p := range proposals {
		for _, in := range p.Inputs {
			ops = append(ops, in.OutPoint)
		}
	}
	coins, err := d.cfg.Store.Coins(ctx, ops)
	if err != nil {
		return err
	}
	tip, _, _, err := d.cfg.Store.SyncTip(ctx)
	if err != nil {
		return err
	}
	g, err := d.governance(ctx)
	if err != nil {
		return err
	}
	payments := paymentCache{d: d, byID: map[string][]reserve.Proposal{}}
	for _, p := range proposals {
		if err := ctx.Err(); err != nil {
			return err
		}
		v := chainView(p, coins)
		if v.conflict != "" {
			chain, err := payments.of(ctx, p)
			if err != nil {
				return err
			}
			if i := slices.IndexFunc(chain, func(r reserve.Proposal) bool { return r.Txid == v.conflictTx }); i >= 0 && sameIntent(p, chain[i]) {
				v.replacedBy = chain[i].ID
			}
		}
		if p.State == reserve.StateBroadcast && !v.seen {
			chain, err := payments.of(ctx, p)
			if err != nil {
				return err
			}
			v.bumped = slices.ContainsFunc(chain, func(r reserve.Proposal) bool {
				return r.Replaces == p.ID && (r.State == reserve.StateBroadcast || r.State == reserve.StateConfirmed)
			})
		}
		v.held = holds(p, res)
		d.reconcileOne(ctx, g, p, v, tip)
	}
	return nil
}

// paymentCache reads, once per pass, the proposals of a payment: the
// proposal itself, and the fee bumps that carry its intent.
type paymentCache struct {
	d    *Daemon
	byID map[string][]reserve.Proposal
}

func (c paymentCache) of(ctx context.Context, p reserve.Proposal) ([]reserve.Proposal, error) {
	if p.Intent == nil {
		return nil, nil
	}
	id := p.Intent.ProposalID
	if chain, ok := c.byID[id]; ok {
		return chain, nil
	}
	chain, err := c.d.cfg.Store.PaymentProposals(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	c.byID[id] = chain
	return chain, nil
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
	// conflictHeight is the height that confirmed conflictTx.
	conflictHeight int32
	// replacedBy is the proposal whose transaction is conflictTx when it
	// carries out the same intent (a fee bump).
	replacedBy string
	// bumped: a fee bump of this proposal is on the network.
	bumped bool
	// spentAt is the lowest height at which a confirmed transaction,
	// this one or another, spends one of the inputs; 0 when none does.
	spentAt int32
	// held: the proposal still holds the reservation of an input.
	held bool
}

// conflictBuried reports whether v's conflicting spend has depth
// confirmations at tip: only then can a signed transaction be called
// failed, since a shallower conflict may be reorganised away and the
// transaction confirm after all.
func (v spendView) conflictBuried(tip, depth int32) bool {
	return v.conflict != "" && v.conflictHeight > 0 && tip-v.conflictHeight+1 >= depth
}

func chainView(p reserve.Proposal, utxos map[wire.OutPoint]reserve.UTXO) spendView {
	v := spendView{seen: true}
	for _, in := range p.Inputs {
		u, ok := utxos[in.OutPoint]
		if ok && u.Spent && u.SpentHeight > 0 && (v.spentAt == 0 || u.SpentHeight < v.spentAt) {
			v.spentAt = u.SpentHeight
		}
		switch {
		case !ok || !u.Spent:
			v.seen = false
		case u.SpentBy != p.Txid:
			v.seen = false
			if u.SpentHeight > 0 {
				v.conflictTx, v.conflictHeight = u.SpentBy, u.SpentHeight
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
		case v.conflictBuried(tip, d.cfg.ConfirmDepth):
			d.fail(ctx, p, v.conflict)
		case v.conflict != "":
			// A conflicting spend not yet buried: this transaction can
			// still confirm if it is reorganised away; wait.
		case v.seen:
			// Sent before a crash: the follower has seen it.
			d.markBroadcast(ctx, p, "found on the network; txid "+p.Txid.String())
		case g.Freeze.Frozen:
			// Nothing leaves a frozen reserve.
		default:
			if err := inForce(g.Governance, &p); err != nil {
				// Signed under a policy since replaced: not sent, but
				// not failed either — the transaction is valid and can
				// still confirm if anyone who holds it sends it, so its
				// coins stay with it until an input is spent.
				d.log.Warn("signed transaction not broadcast: its approvals are not under the policy in force",
					"proposal", p.ID, "txid", p.Txid.String(), "reason", err.Error())
				return
			}
			d.broadcast(ctx, p)
		}
	case reserve.StateBroadcast:
		switch {
		case v.replacedBy != "":
			move(reserve.StateReplaced, actorChain, fmt.Sprintf("replaced by proposal %s (fee bump), txid %s, confirmed", v.replacedBy, v.conflictTx))
		case v.conflictBuried(tip, d.cfg.ConfirmDepth):
			d.fail(ctx, p, v.conflict)
		case v.conflict != "":
			// Not yet buried: wait for the depth.
		case v.seen && v.height > 0 && tip-v.height+1 >= d.cfg.ConfirmDepth:
			move(reserve.StateConfirmed, actorChain, fmt.Sprintf("confirmed at height %d, %d confirmations", v.height, tip-v.height+1))
		case !v.seen && !v.bumped && now.Sub(lastChange(p)) > rebroadcastAfter:
			d.rebroadcast(ctx, p)
		}
	case reserve.StateConfirmed:
		if !v.seen || v.height == 0 {
			move(reserve.StateBroadcast, actorChain, "confirmation lost in a reorganisation")
		}
	case reserve.StateRejected, reserve.StateCancelled, reserve.StateExpired, reserve.StateFailed, reserve.StateReplaced:
		// An ended proposal still holding coins has its signatures: its
		// transaction may be broadcast by whoever holds them, until an
		// input is spent by a transaction buried to the confirmation
		// depth. The store checks the spend again in the transaction
		// that releases, so a reorganisation it already recorded
		// releases nothing.
		if v.held && v.spentAt > 0 && tip-v.spentAt+1 >= d.cfg.ConfirmDepth {
			d.releaseSpent(ctx, p, tip-v.spentAt+1)
		}
	case reserve.StateUnspecified:
	}
}

// releaseSpent frees the reservations an ended, signed proposal kept,
// now that one of its inputs is spent deep enough.
func (d *Daemon) releaseSpent(ctx context.Context, p reserve.Proposal, confirmations int32) {
	note := fmt.Sprintf("an input is spent by a transaction with %d confirmations: the signed transaction can no longer confirm", confirmations)
	n, err := d.cfg.Store.ReleaseSpent(ctx, p.ID, d.cfg.ConfirmDepth, note)
	if err != nil {
		d.log.Error("unable to release the coins of an ended proposal", "proposal", p.ID, "err", err)
		return
	}
	d.log.Info("coins of an ended proposal released", "proposal", p.ID, "state", p.State.String(), "released", n)
}

func lastChange(p reserve.Proposal) time.Time {
	if len(p.History) == 0 {
		return p.CreatedAt
	}
	return p.History[len(p.History)-1].At
}

// rebroadcast sends a broadcast transaction again when the follower has
// not seen it (evicted, or lost in a reorg).
func (d *Daemon) rebroadcast(ctx context.Context, p reserve.Proposal) {
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(p.FinalTx)); err != nil {
		d.log.Error("stored final transaction does not decode", "proposal", p.ID, "err", err)
		return
	}
	err := d.node.SendRawTransaction(ctx, &tx)
	var rpcErr *btcjson.RPCError
	switch {
	case err == nil:
	case errors.As(err, &rpcErr) && rpcErr.Code != codeAccept && classify(rpcErr.Code, rpcErr.Message).class == refusalKnown:
	default:
		d.log.Warn("rebroadcast refused", "proposal", p.ID, "txid", p.Txid.String(), "err", err)
	}
}

// SignedCancelNote is what the history of a proposal cancelled after
// collecting its signatures says: cancelling does not stop its
// transaction.
const SignedCancelNote = "the signed transaction can still be broadcast by whoever holds the signatures; " +
	"its coins stay reserved until one of its inputs is spent by a confirmed transaction; " +
	"the only way to make it unconfirmable is to spend one of its inputs: custosctl spend cancel --conflict " + idMark + " --feerate N"

// ExportedCancelNote is what the history of a proposal cancelled while
// SIGNING says: its PSBT went to the ministries, and signatures the daemon
// has not seen may exist.
const ExportedCancelNote = "its PSBT went to the ministries: signed copies the daemon has not seen may exist, and with enough of them " +
	"the transaction can still be broadcast; the only way to make it unconfirmable is to spend one of its inputs: custosctl spend cancel --conflict " + idMark + " --feerate N"

// idMark stands for the proposal's id in the cancel notes; CancelNote
// puts the id in.
const idMark = "ID"

// CancelNote is note (SignedCancelNote or ExportedCancelNote) for
// proposal id.
func CancelNote(note, id string) string {
	return strings.ReplaceAll(note, "--conflict "+idMark, "--conflict "+id)
}

// cancel ends a proposal that has not been broadcast. Its coins are freed
// unless it has its signatures (reserve.Proposal.MaySpend): then the note
// says so (SignedCancelNote) and they stay reserved until an input is
// spent deep enough.
func (d *Daemon) cancel(ctx context.Context, caller Caller, id, reason string) (reserve.Proposal, error) {
	if err := checkText("reason", reason, maxReasonText); err != nil {
		return reserve.Proposal{}, err
	}
	w, err := d.cfg.Store.Wallet(ctx)
	if err != nil {
		return reserve.Proposal{}, err
	}
	d.spendMu.Lock()
	defer d.spendMu.Unlock()
	note := "cancelled"
	if reason != "" {
		note += ": " + reason
	}
	p, err := d.cfg.Store.UpdateProposal(ctx, id, func(p *reserve.Proposal) error {
		if p.State == reserve.StateFinalized || p.State == reserve.StateBroadcast {
			return reserve.Errorf(reserve.CodeFailedPrecondition,
				"proposal %s is %s: its transaction is signed, and cancelling cannot stop it; the only way to make it unconfirmable is to spend one of its inputs: custosctl spend cancel --conflict %s --feerate N",
				p.ID, p.State, p.ID)
		}
		n := note
		switch {
		case p.MaySpend(w.Threshold):
			n += "; " + CancelNote(SignedCancelNote, p.ID)
		case p.State == reserve.StateSigning:
			n += "; " + CancelNote(ExportedCancelNote, p.ID)
		}
		return p.Move(reserve.StateCancelled, d.cfg.Now().UTC(), caller.Name, n)
	})
	if err != nil {
		return reserve.Proposal{}, err
	}
	d.log.Info("proposal cancelled", "proposal", p.ID, "by", caller.Name)
	return p, nil
}
