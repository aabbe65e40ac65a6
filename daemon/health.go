package daemon

import (
	"context"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// DefaultNodeGrace is how long the node may stay unreachable before the
// daemon's gRPC health says NOT_SERVING: long enough for a node restart,
// short enough for an alert within minutes.
const DefaultNodeGrace = time.Minute

// healthReadTimeout bounds the health loop's read of the store.
const healthReadTimeout = 5 * time.Second

// healthState is what the health loop last published.
type healthState struct {
	serving bool
	// why says what is wrong when not serving.
	why string
}

// healthLoop keeps the gRPC health status (the empty service name: the
// whole daemon) in line with the node and the store until ctx ends:
// NOT_SERVING while the follower has not reached the node for longer than
// Config.NodeGrace, or while the store fails a read; SERVING again as
// soon as both are fine. It checks after each poll of the follower
// (chain.ChangePoll), every PollInterval, and when the grace of an
// unreachable node runs out; the follower's own view of the node (no
// extra request to it) decides reachability, so a node that comes back is
// seen at the follower's next poll.
func (d *Daemon) healthLoop(ctx context.Context, ready chan<- struct{}) {
	// Run waits for the first status, even when ctx ends before it.
	defer func() {
		if ready != nil {
			close(ready)
		}
	}()
	// The node counts as reached at start: the grace runs from there.
	lastUp := d.cfg.Now()
	var shown *healthState
	ticker := time.NewTicker(d.cfg.PollInterval)
	defer ticker.Stop()
	for {
		now := d.cfg.Now()
		if d.follower.Status().NodeReachable {
			lastUp = now
		}
		st := d.checkHealth(ctx, now.Sub(lastUp))
		if ctx.Err() != nil {
			return
		}
		if shown == nil || *shown != st {
			d.publishHealth(st, shown == nil)
			shown = &st
		}
		if ready != nil {
			close(ready)
			ready = nil
		}
		// An unreachable node turns the status at the end of its grace,
		// not at the next tick.
		grace := time.NewTimer(d.cfg.PollInterval)
		if down := now.Sub(lastUp); down <= d.cfg.NodeGrace && !d.follower.Status().NodeReachable {
			grace.Reset(d.cfg.NodeGrace - down + time.Millisecond)
		}
		select {
		case <-ctx.Done():
			grace.Stop()
			return
		case <-ticker.C:
		case <-grace.C:
		case <-d.wake.healthC():
		}
		grace.Stop()
	}
}

// checkHealth judges the daemon's health: the node unreachable for down,
// and a read of the store now.
func (d *Daemon) checkHealth(ctx context.Context, down time.Duration) healthState {
	rctx, cancel := context.WithTimeout(ctx, healthReadTimeout)
	defer cancel()
	if _, _, _, err := d.cfg.Store.SyncTip(rctx); err != nil {
		return healthState{why: "store read failed: " + err.Error()}
	}
	if down > d.cfg.NodeGrace {
		return healthState{why: "node unreachable for more than " + d.cfg.NodeGrace.String()}
	}
	return healthState{serving: true}
}

// publishHealth sets the health status and logs the change.
func (d *Daemon) publishHealth(st healthState, first bool) {
	if st.serving {
		d.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		if !first {
			d.log.Info("health: serving again")
		}
		return
	}
	d.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	d.log.Warn("health: not serving", "why", st.why)
}
