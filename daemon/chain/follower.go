package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// Config wires a Follower.
type Config struct {
	Node    *Node
	Store   Store
	Network reserve.Network
	// PollInterval is how often the node is asked for news (default 1s).
	PollInterval time.Duration
	// BatchSize is how many blocks one batched request fetches (default
	// 32). The next batch is fetched while the current one is scanned.
	BatchSize int
	// MaxBackoff caps the wait between attempts while the node is down
	// (default 30s).
	MaxBackoff time.Duration
	// StatusTimeout bounds how long Observe waits for the node's tip
	// (default 2s). A status call must answer even when the node accepts
	// the connection and never replies: past the bound it returns the last
	// status, not synced, instead of waiting for the node.
	StatusTimeout time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
	// Descriptors parses the wallet's descriptor; sharing it with the rest
	// of the daemon shares the addresses the follower derives. Nil means
	// the follower keeps its own.
	Descriptors *multisig.Descriptors
	// Changed, when set, is called after the follower records a block,
	// undoes one or records mempool transactions, and after each poll of
	// the node (its status may have changed): the daemon runs its
	// reconcile and health checks then, instead of waiting for its own
	// tick. It runs on the follower's goroutine and must not block.
	Changed func(Change)
}

// ChangeKind says what a Change reports.
type ChangeKind int

const (
	// ChangeBlock: a block at Height was recorded.
	ChangeBlock ChangeKind = iota + 1
	// ChangeDisconnect: the block at Height was undone (a reorganisation):
	// confirmations at or above it may be gone.
	ChangeDisconnect
	// ChangeMempool: mempool transactions were recorded or forgotten.
	ChangeMempool
	// ChangePoll: a poll of the node ended, well or not; Status says how.
	ChangePoll
)

// Change is what the follower reports through Config.Changed.
type Change struct {
	Kind   ChangeKind
	Height int32
}

// changed reports c to Config.Changed, if any.
func (f *Follower) changed(c Change) {
	if f.cfg.Changed != nil {
		f.cfg.Changed(c)
	}
}

// Status is a snapshot of what the follower knows of the node and how far
// the wallet is synced. Synced is true only when SyncedHash is NodeHash,
// the node's best block as last seen: every observation of the node's tip
// and the verdict on it are published together (see observe).
type Status struct {
	NodeReachable bool
	NodeErr       string
	NodeHeight    int32
	NodeHash      chainhash.Hash
	// SyncedHeight is -1 before the first block is processed.
	SyncedHeight int32
	SyncedHash   chainhash.Hash
	Synced       bool
	WalletLoaded bool
	LastPoll     time.Time
}

// Follower keeps the store's view of the wallet in step with the node.
type Follower struct {
	cfg Config
	log *slog.Logger

	kick chan struct{}

	statusMu sync.Mutex
	status   Status
	// polls numbers observations of the node's tip in the order they are
	// asked; shown (under statusMu) is the latest one published, so an
	// answer that arrives late never overwrites a newer one.
	polls atomic.Uint64
	shown uint64

	// obsMu guards obs, the one request for the node's tip in flight.
	// Callers that come while it runs share its answer rather than send
	// more requests to a node that may never answer; the request itself
	// gives up after StatusTimeout.
	obsMu sync.Mutex
	obs   *observation

	// watchMu guards the wallet's derivation state: scans read it, the
	// lookahead extends it.
	watchMu sync.RWMutex
	desc    *multisig.Descriptor
	born    int32
	gap     uint32
	derived [2]uint32
	watch   watchSet

	// seen holds mempool txids already fetched, so a poll only fetches
	// transactions that are new to the mempool. Only the Run goroutine
	// touches it.
	seen map[chainhash.Hash]struct{}
	// warming is set once Run has started deriving the stored addresses
	// into the descriptor (Run goroutine only).
	warming bool

	// notifiers wake the follower when the node announces a block or a
	// transaction (notify.go); none when notifications are off.
	notifiers []*notifier
	downPoll  time.Duration
}

// NewFollower checks cfg and makes a follower; Run starts it.
func NewFollower(cfg Config) (*Follower, error) {
	if cfg.Node == nil || cfg.Store == nil {
		return nil, errors.New("follower needs a node and a store")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 32
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.StatusTimeout <= 0 {
		cfg.StatusTimeout = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Descriptors == nil {
		cfg.Descriptors = &multisig.Descriptors{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Follower{
		cfg:    cfg,
		log:    log,
		kick:   make(chan struct{}, 1),
		status: Status{SyncedHeight: -1},
		seen:   make(map[chainhash.Hash]struct{}),
	}
	notify := cfg.Node.cfg.Notify
	notify.defaults()
	f.downPoll = min(notify.DownPoll, cfg.PollInterval)
	var err error
	f.notifiers, err = newNotifiers(cfg.Node, notify, log, f.Kick, f.Kick)
	if err != nil {
		return nil, fmt.Errorf("node notifications: %w", err)
	}
	return f, nil
}

// Status returns the latest snapshot.
func (f *Follower) Status() Status {
	f.statusMu.Lock()
	defer f.statusMu.Unlock()
	return f.status
}

func (f *Follower) setStatus(update func(*Status)) {
	f.statusMu.Lock()
	defer f.statusMu.Unlock()
	update(&f.status)
}

// Kick asks for a poll now instead of at the next interval: after a
// wallet is created or an address issued.
func (f *Follower) Kick() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Notifying reports whether every notification channel to the node is
// connected; false when there is none.
func (f *Follower) Notifying() bool {
	for _, n := range f.notifiers {
		if !n.up.Load() {
			return false
		}
	}
	return len(f.notifiers) > 0
}

// pollWait is the wait until the next poll: PollInterval, or DownPoll
// while a notification channel is configured but down.
func (f *Follower) pollWait() time.Duration {
	for _, n := range f.notifiers {
		if !n.up.Load() {
			return f.downPoll
		}
	}
	return f.cfg.PollInterval
}

// Run polls the node until ctx ends, and at once whenever a notification
// of the node wakes it (notify.go). A node that is down or misbehaving is
// retried with exponential backoff; Run itself returns only when ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, n := range f.notifiers {
		wg.Go(func() { n.run(ctx) })
	}
	var backoff time.Duration
	for {
		err := f.cycle(ctx)
		f.startWarming(ctx)
		wait := f.pollWait()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			backoff = min(max(2*backoff, time.Second), f.cfg.MaxBackoff)
			wait = backoff
			f.log.Warn("node poll failed", "err", err, "retry_in", wait)
			f.setStatus(func(s *Status) {
				s.NodeReachable = false
				s.NodeErr = err.Error()
				s.Synced = false
			})
		default:
			backoff = 0
		}
		f.changed(Change{Kind: ChangePoll})
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-f.kick:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// cycle is one poll: check the node, catch up with its chain, then mirror
// its mempool. The tip is asked after the poll began, never taken from a
// request already in flight: a poll woken by a block notification must see
// that block.
func (f *Follower) cycle(ctx context.Context) error {
	info, err := f.observe(ctx, true)
	if err != nil {
		return err
	}
	loaded, err := f.loadWallet(ctx)
	if err != nil || !loaded {
		return err
	}
	if err := f.syncBlocks(ctx, info.Blocks); err != nil {
		return err
	}
	if err := f.syncMempool(ctx, info.BestHash); err != nil {
		return err
	}
	return f.refreshSynced(ctx)
}

// Observe asks the node for its tip now and returns the status judged
// against it: Synced means synced to the node's best block as of this
// call, not as of the follower's last poll. When the wallet is behind it
// asks the follower to poll at once. A node that cannot be asked is
// reported as unreachable.
//
// Observe returns when ctx ends or StatusTimeout after the request for the
// tip began, whatever the node does: it then returns the last status, not
// synced and the node not reachable, with the reason in NodeErr. Only one
// request for the tip is in flight; a call made while one runs shares it.
func (f *Follower) Observe(ctx context.Context) Status {
	_, err := f.observe(ctx, true)
	st := f.Status()
	if err != nil {
		st.NodeReachable = false
		st.NodeErr = err.Error()
		st.Synced = false
	}
	if !st.Synced {
		f.Kick()
	}
	return st
}

// observation is one request for the node's tip, shared by every caller
// that asks while it is in flight.
type observation struct {
	seq uint64
	// done is closed once the node answered or the request failed; info
	// and err are set before.
	done chan struct{}
	info ChainInfo
	err  error
	// late is closed when the request has run for StatusTimeout without an
	// answer, after the status was marked with lateErr.
	late    chan struct{}
	lateErr error
	// settled is set (under statusMu) when the answer is published, so a
	// deadline that fires just after it does not overwrite it.
	settled bool
}

// observe asks the node for its tip, or joins the request in flight, and
// waits for the answer until ctx ends. The request goes on without the
// caller and publishes its answer whenever it comes.
//
// A fresh observation (Observe) wants the answer to a request sent after
// it was called, so that "synced" is judged against the tip as of the
// call: having joined a request already under way, it waits for the next
// one. It gives up StatusTimeout after the call, or as soon as the request
// it waits for has run that long unanswered.
func (f *Follower) observe(ctx context.Context, fresh bool) (ChainInfo, error) {
	after := f.polls.Load()
	var bound <-chan time.Time
	if fresh {
		t := time.NewTimer(f.cfg.StatusTimeout)
		defer t.Stop()
		bound = t.C
	}
	for {
		o := f.observation(ctx)
		answered := func() bool {
			select {
			case <-o.done:
				return true
			default:
				return false
			}
		}
		var late <-chan struct{}
		if fresh {
			late = o.late
		}
		timedOut := false
		select {
		case <-o.done:
		case <-late:
		case <-bound:
			timedOut = true
		case <-ctx.Done():
		}
		if answered() && (!fresh || o.seq > after) {
			return o.info, o.err
		}
		if err := ctx.Err(); err != nil {
			return ChainInfo{}, fmt.Errorf("node's tip not observed: %w", err)
		}
		if timedOut || !answered() {
			f.giveUp(o)
			return ChainInfo{}, o.lateErr
		}
		// o answered a request sent before this call: ask again.
	}
}

// giveUp publishes that o got no answer in time, unless it has one, and
// reports whether it did. A later answer still replaces it.
func (f *Follower) giveUp(o *observation) bool {
	f.statusMu.Lock()
	defer f.statusMu.Unlock()
	if o.settled {
		return false
	}
	f.publishLocked(o.seq, ChainInfo{}, o.lateErr, 0, time.Time{})
	return true
}

// observation returns the request for the node's tip in flight, starting
// one if there is none. Its answer and the synced flag judged against it
// are published in one update: the new tip keeps the previous poll's
// "synced" only if the wallet's tip is that very block. A request still
// unanswered after StatusTimeout marks the node unreachable and the wallet
// not synced until the answer comes.
func (f *Follower) observation(ctx context.Context) *observation {
	f.obsMu.Lock()
	defer f.obsMu.Unlock()
	if f.obs != nil {
		return f.obs
	}
	bound := f.cfg.StatusTimeout
	o := &observation{
		seq:     f.polls.Add(1),
		done:    make(chan struct{}),
		late:    make(chan struct{}),
		lateErr: fmt.Errorf("node did not answer getblockchaininfo within %s", bound),
	}
	f.obs = o
	deadline := time.AfterFunc(bound, func() {
		if f.giveUp(o) {
			close(o.late)
		}
	})
	// The request outlives the caller that started it: others share it.
	rctx := context.WithoutCancel(ctx)
	go func() {
		pctx, cancel := context.WithTimeout(rctx, bound)
		info, err := f.chainInfo(pctx)
		cancel()
		deadline.Stop()
		born := f.birthday()
		now := f.cfg.Now()
		f.statusMu.Lock()
		o.settled = true
		f.publishLocked(o.seq, info, err, born, now)
		f.statusMu.Unlock()
		o.info, o.err = info, err
		f.obsMu.Lock()
		f.obs = nil
		f.obsMu.Unlock()
		close(o.done)
	}()
	return o
}

// publishLocked records the answer of observation seq unless a later one
// is already shown. The caller holds statusMu.
func (f *Follower) publishLocked(seq uint64, info ChainInfo, err error, born int32, now time.Time) {
	if seq < f.shown {
		return
	}
	f.shown = seq
	s := &f.status
	if err != nil {
		s.NodeReachable = false
		s.NodeErr = err.Error()
		s.Synced = false
		return
	}
	s.NodeReachable = true
	s.NodeErr = ""
	s.NodeHeight = info.Blocks
	s.NodeHash = info.BestHash
	s.LastPoll = now
	s.Synced = s.Synced && s.atTip(born)
}

// chainInfo is getblockchaininfo, after a quick check that the node
// listens, refused when the node follows another network.
func (f *Follower) chainInfo(ctx context.Context) (ChainInfo, error) {
	if err := f.cfg.Node.Probe(ctx); err != nil {
		return ChainInfo{}, err
	}
	info, err := f.cfg.Node.ChainInfo(ctx)
	if err != nil {
		return ChainInfo{}, err
	}
	if info.Network != f.cfg.Network {
		return ChainInfo{}, fmt.Errorf("node follows %s (chain %q), this daemon is for %s", info.Network, info.Chain, f.cfg.Network)
	}
	return info, nil
}

// refreshSynced records how far the wallet is, judged against the node's
// tip as last seen: if the tip moved while this poll caught up with an
// older one, the wallet is not synced, and the next poll goes on.
func (f *Follower) refreshSynced(ctx context.Context) error {
	height, hash, ok, err := f.cfg.Store.SyncTip(ctx)
	if err != nil {
		return err
	}
	born := f.birthday()
	f.setStatus(func(s *Status) {
		s.SyncedHeight = -1
		s.SyncedHash = chainhash.Hash{}
		if ok {
			s.SyncedHeight, s.SyncedHash = height, hash
		}
		s.Synced = s.NodeReachable && s.atTip(born)
	})
	return nil
}

// atTip reports whether the wallet's synced tip is the node's tip as last
// seen, or, before the first block, whether the wallet (born at height
// born) has nothing to scan below the node's tip.
func (s *Status) atTip(born int32) bool {
	if s.SyncedHeight < 0 {
		return s.WalletLoaded && born > s.NodeHeight
	}
	return s.SyncedHash == s.NodeHash && s.SyncedHeight == s.NodeHeight
}
