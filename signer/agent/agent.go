// Package agent is a ministry's online signer: the loop behind
// `custos-signer serve`. It connects to custosd over mTLS with the
// ministry's signer identity, receives the signing requests for its own
// cosigner (SignerService.SigningRequests), runs on each exactly the checks
// of `custos-signer sign` through the same code path (signer.CheckRequest
// and Request.Sign: same ledger, same state record, same directory lock),
// and submits the signature (SpendService.ImportPSBT) or the refusal and
// its reason (SignerService.RefuseRequest). Without Auto a request that
// passes the checks waits in a queue in the data directory (queue.go)
// until the operator approves or refuses it.
//
// It trusts nothing the daemon says: a request is only a PSBT, checked
// against what the signer pinned. It reconnects with capped, jittered
// backoff; it never signs a transaction twice (the ledger records it, and
// signing it again only writes the same signatures out); it logs every
// decision with the proposal id, never a PSBT, a key or a passphrase. It
// never imports the daemon or the store: proto types stop here.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/signer"
)

// Defaults of Config.
const (
	DefaultMinBackoff   = 500 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
	DefaultPollInterval = time.Second
)

// Config wires an Agent. DataDir, Key and Conn are required.
type Config struct {
	// DataDir is the signer's data directory (key file, pinned wallet and
	// policy, ledger, state record, queue).
	DataDir string
	// Key is the signer's unlocked key; the caller zeroes it after Run.
	Key *signer.Key
	// Conn is the connection to custosd, made with the signer identity.
	Conn grpc.ClientConnInterface
	// Auto signs every request that passes the checks; without it they
	// wait in the queue for the operator.
	Auto bool
	// Limits are the signer's own fee ceilings, as sign's --max-fee and
	// --max-feerate; the zero value is signer.DefaultLimits.
	Limits signer.Limits
	// MinBackoff and MaxBackoff bound the wait before reconnecting; it
	// doubles from MinBackoff after each failure, capped at MaxBackoff,
	// and is drawn at random in its upper half (jitter).
	MinBackoff, MaxBackoff time.Duration
	// PollInterval is how often the queue is read for the operator's
	// decisions, and local failures retried.
	PollInterval time.Duration
	// CallOptions go with every call (the message size limits).
	CallOptions []grpc.CallOption

	Logger *slog.Logger
	Now    func() time.Time
	// Jitter returns a duration in [0, d); nil draws from math/rand/v2.
	Jitter func(d time.Duration) time.Duration
}

// Agent is a running online signer.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	signers custosv1.SignerServiceClient
	spend   custosv1.SpendServiceClient

	// signMu serialises everything that takes the data directory's lock
	// in this process: a second LockDir in the same process would fail.
	signMu sync.Mutex

	mu sync.Mutex
	// submitted are the transactions whose signatures the daemon took,
	// by proposal id: a repeat of one is skipped.
	submitted map[string]chainhash.Hash
	// retry are requests a local failure (the directory locked by a
	// sign in progress, say) kept from being checked; retried each poll.
	retry map[string]*custosv1.SigningRequest
}

// New checks cfg and makes an Agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if cfg.DataDir == "" || cfg.Key == nil || cfg.Conn == nil {
		return nil, errors.New("agent needs a data directory, an unlocked key and a connection")
	}
	if cfg.Limits == (signer.Limits{}) {
		cfg.Limits = signer.DefaultLimits()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		}
	}
	return &Agent{
		cfg: cfg, log: cfg.Logger,
		signers: custosv1.NewSignerServiceClient(cfg.Conn), spend: custosv1.NewSpendServiceClient(cfg.Conn),
		submitted: map[string]chainhash.Hash{}, retry: map[string]*custosv1.SigningRequest{},
	}, nil
}

// Run receives and handles requests until ctx ends, reconnecting after
// every failure; it returns nil when ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.pollQueue(ctx)
	}()
	defer wg.Wait()
	wait := a.cfg.MinBackoff
	for {
		received, err := a.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if received {
			// The connection worked: the next failure starts over.
			wait = a.cfg.MinBackoff
		}
		d := wait/2 + a.cfg.Jitter(wait/2+1)
		a.log.Warn("connection to custosd lost; reconnecting", "in", d.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
		wait = min(2*wait, a.cfg.MaxBackoff)
	}
}

// session opens the request stream and handles what it sends until it
// fails. received says whether anything came, so the backoff restarts.
func (a *Agent) session(ctx context.Context) (received bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := a.signers.SigningRequests(ctx, &custosv1.SigningRequestsRequest{}, a.cfg.CallOptions...)
	if err != nil {
		return false, err
	}
	// The stream is open once its headers came: that is a working
	// connection, even before any request.
	if _, err := stream.Header(); err != nil {
		return false, err
	}
	a.log.Info("connected to custosd; waiting for signing requests")
	for {
		msg, err := stream.Recv()
		if err != nil {
			return true, err
		}
		switch ev := msg.GetEvent().(type) {
		case *custosv1.SigningRequestsResponse_Request:
			a.handle(ctx, ev.Request)
		case *custosv1.SigningRequestsResponse_Withdrawal:
			a.withdrawn(ev.Withdrawal)
		default:
			a.log.Warn("unknown event from custosd ignored")
		}
	}
}

// handle decides one request: skipped when already submitted, refused
// when it fails the checks, signed and submitted with Auto (or when the
// ledger records it already), queued for the operator otherwise.
func (a *Agent) handle(ctx context.Context, r *custosv1.SigningRequest) {
	id := r.GetProposalId()
	if err := CheckID(id); err != nil {
		a.log.Warn("signing request with an invalid proposal id ignored", "err", err)
		return
	}
	log := a.log.With("proposal", id)
	pkt, err := multisig.ParsePSBT(r.GetPsbt())
	if err != nil {
		a.refuse(ctx, log, id, fmt.Sprintf("the PSBT does not parse: %v", err))
		return
	}
	txid := pkt.UnsignedTx.TxHash()
	a.mu.Lock()
	done := a.submitted[id] == txid
	delete(a.retry, id)
	a.mu.Unlock()
	if done {
		log.Info("signing request skipped: its signature was submitted already", "txid", txid.String())
		return
	}
	a.signMu.Lock()
	defer a.signMu.Unlock()
	lock, err := signer.LockDir(a.cfg.DataDir)
	if err != nil {
		a.keepForRetry(log, r, err)
		return
	}
	req, err := a.check(id, pkt)
	if err != nil {
		lock.Unlock()
		if local(err) {
			a.keepForRetry(log, r, err)
			return
		}
		a.refuse(ctx, log, id, err.Error())
		return
	}
	if req.Earlier == nil && !a.cfg.Auto {
		err := enqueue(a.cfg.DataDir, id, r.GetPsbt())
		lock.Unlock()
		if err != nil {
			a.keepForRetry(log, r, err)
			return
		}
		log.Info("signing request passed the checks; waits for the operator (custos-signer pending)", "txid", txid.String())
		return
	}
	a.signLocked(ctx, log, lock, req)
}

// check runs the checks of custos-signer sign, and that the approvals are
// for the proposal the daemon says they are.
func (a *Agent) check(id string, pkt *psbt.Packet) (*signer.Request, error) {
	kf, err := signer.ReadKeyFile(a.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if multisig.IsProof(pkt) {
		// A proof of reserves is signed from a file, where the operator
		// reads its message (docs/signer.md, "Proofs of reserves").
		return nil, fmt.Errorf("%w: the agent signs payments only; sign a proof with custos-signer sign --in FILE", signer.ErrIsProof)
	}
	req, err := signer.CheckRequest(a.cfg.DataDir, kf, pkt, a.cfg.Limits, a.cfg.Now)
	if err != nil {
		return nil, err
	}
	if got := req.Summary.Approved.Intent.ProposalID; got != id {
		return nil, fmt.Errorf("the officers' approvals in the PSBT are for proposal %q, not %s", got, id)
	}
	return req, nil
}

// signLocked signs req under lock (which it releases) and submits the
// signed PSBT.
func (a *Agent) signLocked(ctx context.Context, log *slog.Logger, lock *signer.DirLock, req *signer.Request) {
	id := req.Summary.Approved.Intent.ProposalID
	again := req.Earlier
	_, n, err := req.Sign(a.cfg.Key)
	if err != nil {
		lock.Unlock()
		if local(err) {
			log.Error("unable to sign", "err", err)
			return
		}
		a.refuse(ctx, log, id, err.Error())
		return
	}
	if err := req.SaveDerived(a.cfg.Key); err != nil {
		log.Warn("unable to cache derived addresses", "err", err)
	}
	lock.Unlock()
	entries, head := req.Rules.Ledger.Head()
	if again != nil {
		log.Info("signed again a transaction the ledger records already; no ledger entry added",
			"txid", req.Summary.TxID.String(), "ledger_entry", again.Entry, "signed_at", again.SignedAt.UTC().Format(time.RFC3339))
	} else {
		log.Info("signed", "txid", req.Summary.TxID.String(), "signatures", n, "ledger_entry", req.Entry(),
			"ledger_entries", entries, "ledger_head", fmt.Sprintf("%x", head))
	}
	a.submit(ctx, log, id, req)
}

// submit hands the signed PSBT to the daemon (ImportPSBT, with the checks
// of any import).
func (a *Agent) submit(ctx context.Context, log *slog.Logger, id string, req *signer.Request) {
	raw, err := multisig.SerializePSBT(req.Packet)
	if err != nil {
		log.Error("unable to serialize the signed PSBT", "err", err)
		return
	}
	resp, err := a.spend.ImportPSBT(ctx, &custosv1.ImportPSBTRequest{Id: id, Psbt: raw}, a.cfg.CallOptions...)
	if err != nil {
		// The ledger records the signature: when the daemon sends the
		// request again, it is signed again with no new ledger entry.
		log.Warn("unable to submit the signature; it is sent again when the daemon asks again", "err", err)
		return
	}
	a.mu.Lock()
	a.submitted[id] = req.Summary.TxID
	a.mu.Unlock()
	log.Info("signature submitted", "txid", req.Summary.TxID.String(), "signatures_added", resp.GetSignaturesAdded(),
		"state", resp.GetProposal().GetState().String())
}

// refuse reports a refusal and its reason to the daemon.
func (a *Agent) refuse(ctx context.Context, log *slog.Logger, id, why string) {
	reason := reasonOf(why)
	log.Warn("signing request refused", "reason", reason)
	if _, err := a.signers.RefuseRequest(ctx, &custosv1.RefuseRequestRequest{ProposalId: id, Reason: reason}, a.cfg.CallOptions...); err != nil {
		log.Warn("unable to report the refusal; the daemon sends the request again and it is checked again", "err", err)
		return
	}
	log.Info("refusal reported")
}

// withdrawn drops a request the daemon no longer needs signed.
func (a *Agent) withdrawn(w *custosv1.SigningWithdrawal) {
	id := w.GetProposalId()
	if CheckID(id) != nil {
		return
	}
	log := a.log.With("proposal", id)
	a.mu.Lock()
	delete(a.retry, id)
	a.mu.Unlock()
	a.signMu.Lock()
	defer a.signMu.Unlock()
	lock, err := lockWaiting(a.cfg.DataDir, a.cfg.PollInterval)
	if err != nil {
		log.Warn("unable to drop a withdrawn request from the queue", "err", err)
		return
	}
	defer lock.Unlock()
	if err := dequeue(a.cfg.DataDir, id); err != nil {
		log.Warn("unable to drop a withdrawn request from the queue", "err", err)
		return
	}
	log.Info("signing request withdrawn by custosd", "state", w.GetState().String(), "reason", reasonOf(w.GetReason()))
}

func (a *Agent) keepForRetry(log *slog.Logger, r *custosv1.SigningRequest, err error) {
	a.mu.Lock()
	a.retry[r.GetProposalId()] = r
	a.mu.Unlock()
	log.Warn("signing request not checked yet; retrying", "err", err)
}

// local says whether err is this signer's own trouble (its directory
// locked, damaged or not set up, the queue not writable) rather than
// the request's: such a request is retried, not refused.
func local(err error) bool {
	for _, e := range []error{signer.ErrDirInUse, signer.ErrStateBroken, signer.ErrLedgerCorrupt, signer.ErrNotRegistered,
		signer.ErrNoPolicy, signer.ErrDerivedTampered, signer.ErrKeyNotInDescriptor} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// pollQueue acts on the operator's decisions and retries, every
// PollInterval, until ctx ends.
func (a *Agent) pollQueue(ctx context.Context) {
	t := time.NewTicker(a.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.actOnQueue(ctx)
		a.mu.Lock()
		var again []*custosv1.SigningRequest
		for _, r := range a.retry {
			again = append(again, r)
		}
		a.mu.Unlock()
		for _, r := range again {
			a.handle(ctx, r)
		}
	}
}

// actOnQueue signs what the operator approved and reports what they
// refused.
func (a *Agent) actOnQueue(ctx context.Context) {
	a.signMu.Lock()
	defer a.signMu.Unlock()
	lock, err := signer.LockDir(a.cfg.DataDir)
	if err != nil {
		return // a sign or a queue command holds it: next time
	}
	queued, err := readQueue(a.cfg.DataDir)
	if err != nil {
		lock.Unlock()
		a.log.Warn("unable to read the request queue", "err", err)
		return
	}
	for _, q := range queued {
		if q.Decided == "" {
			continue
		}
		log := a.log.With("proposal", q.ID)
		switch q.Decided {
		case "refused":
			log.Info("the operator refused the request")
			if a.reportRefusal(ctx, log, q.ID, q.Reason) {
				a.drop(log, q.ID)
			}
		case "approved":
			a.signApproved(ctx, log, lock, q)
			// signApproved released the lock to submit: take it again.
			if lock, err = lockWaiting(a.cfg.DataDir, a.cfg.PollInterval); err != nil {
				return
			}
		}
	}
	lock.Unlock()
}

// signApproved verifies the operator's approval (a MAC under the key:
// they held the passphrase), checks the request again (time has passed),
// signs and submits it; lock is released. It leaves the queue once
// submitted. An approval that does not verify is removed: the request
// waits for the operator again.
func (a *Agent) signApproved(ctx context.Context, log *slog.Logger, lock *signer.DirLock, q Queued) {
	if err := signer.VerifyOperatorApproval(a.cfg.Key, q.ID, q.PSBT, q.ApprovalMAC); err != nil {
		if err := dropApproval(a.cfg.DataDir, q.ID); err != nil {
			log.Warn("unable to remove an approval that does not verify", "err", err)
		}
		lock.Unlock()
		log.Warn("approval ignored and removed: not made with this signer's key (custos-signer approve asks the passphrase); the request waits for the operator", "err", err)
		return
	}
	log.Info("the operator approved the request")
	pkt, err := multisig.ParsePSBT(q.PSBT)
	if err != nil {
		lock.Unlock()
		a.refuse(ctx, log, q.ID, fmt.Sprintf("the PSBT does not parse: %v", err))
		a.dropLocked(log, q.ID)
		return
	}
	req, err := a.check(q.ID, pkt)
	if err != nil {
		if local(err) {
			lock.Unlock()
			log.Warn("approved request not checked yet; retrying", "err", err)
			return
		}
		_ = dequeue(a.cfg.DataDir, q.ID)
		lock.Unlock()
		a.refuse(ctx, log, q.ID, err.Error())
		return
	}
	a.signLocked(ctx, log, lock, req)
	a.mu.Lock()
	_, ok := a.submitted[q.ID]
	a.mu.Unlock()
	if ok {
		a.dropLocked(log, q.ID)
	}
}

// reportRefusal reports the operator's refusal; true when the daemon
// took it or the proposal no longer waits for signatures.
func (a *Agent) reportRefusal(ctx context.Context, log *slog.Logger, id, reason string) bool {
	_, err := a.signers.RefuseRequest(ctx, &custosv1.RefuseRequestRequest{ProposalId: id, Reason: reasonOf(reason)}, a.cfg.CallOptions...)
	switch status.Code(err) {
	case codes.OK:
		log.Info("refusal reported")
		return true
	case codes.FailedPrecondition, codes.NotFound:
		log.Info("refusal not reported: the proposal no longer waits for this signer", "err", err)
		return true
	}
	log.Warn("unable to report the refusal; retrying", "err", err)
	return false
}

// drop removes a request from the queue; the caller holds the lock.
func (a *Agent) drop(log *slog.Logger, id string) {
	if err := dequeue(a.cfg.DataDir, id); err != nil {
		log.Warn("unable to drop a request from the queue", "err", err)
	}
}

// dropLocked takes the lock and drops a request from the queue.
func (a *Agent) dropLocked(log *slog.Logger, id string) {
	lock, err := lockWaiting(a.cfg.DataDir, a.cfg.PollInterval)
	if err != nil {
		log.Warn("unable to drop a request from the queue", "err", err)
		return
	}
	defer lock.Unlock()
	a.drop(log, id)
}
