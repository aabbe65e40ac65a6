package daemon

import (
	"sync/atomic"

	"github.com/custos-reserve/custos/daemon/chain"
)

// chainWake turns what the follower reports (chain.Config.Changed) into
// wake-ups of the reconcile and health loops, so a block is reflected as
// soon as the follower records it rather than at the next --poll tick,
// which stays as the fallback. Wake-ups coalesce: a loop busy with a pass
// runs once more after it, not once per block.
type chainWake struct {
	reconcile chan struct{}
	health    chan struct{}
	// confirmedFresh is false until a reconcile pass has checked every
	// CONFIRMED proposal since the daemon started and since the follower
	// last undid a block: only a disconnected block can take a
	// confirmation away, so passes in between visit the live proposals
	// only.
	confirmedFresh atomic.Bool
}

func newChainWake() *chainWake {
	return &chainWake{reconcile: make(chan struct{}, 1), health: make(chan struct{}, 1)}
}

// changed is the follower's chain.Config.Changed.
func (w *chainWake) changed(c chain.Change) {
	switch c.Kind {
	case chain.ChangeDisconnect:
		w.confirmedFresh.Store(false)
		poke(w.reconcile)
	case chain.ChangeBlock, chain.ChangeMempool:
		poke(w.reconcile)
	case chain.ChangePoll:
	}
	poke(w.health)
}

// recheckConfirmed reports whether the next reconcile pass must visit the
// CONFIRMED proposals, and counts it as done; a pass that fails calls
// confirmedStale. Without a wake (a daemon built by a test) every pass
// does, as before.
func (w *chainWake) recheckConfirmed() bool {
	return w == nil || !w.confirmedFresh.Swap(true)
}

func (w *chainWake) confirmedStale() {
	if w != nil {
		w.confirmedFresh.Store(false)
	}
}

func (w *chainWake) reconcileC() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.reconcile
}

func (w *chainWake) healthC() <-chan struct{} {
	if w == nil {
		return nil
	}
	return w.health
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
