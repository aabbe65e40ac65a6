package daemon_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// waitHealth polls the daemon's health until it is want.
func waitHealth(t *testing.T, conn *grpc.ClientConn, want healthpb.HealthCheckResponse_ServingStatus, why string) {
	t.Helper()
	h := healthpb.NewHealthClient(conn)
	var last healthpb.HealthCheckResponse_ServingStatus
	waitFor(t, 30*time.Second, why+": health "+want.String(), func() bool {
		r, err := h.Check(callCtx(t), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		last = r.Status
		return last == want
	})
}

// TestHealthFollowsNode: gRPC health is SERVING while the node answers,
// NOT_SERVING once it has been unreachable past the grace, SERVING again
// when it is back; a daemon whose node address is dead goes NOT_SERVING
// after the grace.
func TestHealthFollowsNode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dead bool
	}{
		{"a node that goes down and comes back", false},
		{"a dead node address", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			od := mustStartObserved(t, func(c *daemon.Config) {
				c.CAKey = daemon.CAKey{AllowPlain: true}
				c.NodeGrace = 300 * time.Millisecond
				if tc.dead {
					c.Node.Host = MustDeadNodeHost(t)
				}
			})
			conn := MustDialAs(t, od.testDaemon, daemon.RoleSigner)
			if tc.dead {
				waitHealth(t, conn, healthpb.HealthCheckResponse_NOT_SERVING, "dead node address past the grace")
				return
			}
			waitHealth(t, conn, healthpb.HealthCheckResponse_SERVING, "node up")
			waitFor(t, 10*time.Second, "the follower reached the node", func() bool {
				return scrape(t, od.d)["custos_node_reachable"] == 1
			})
			od.node.setDown(true)
			waitHealth(t, conn, healthpb.HealthCheckResponse_NOT_SERVING, "node down past the grace")
			require.Zero(t, scrape(t, od.d)["custos_node_reachable"])
			od.node.setDown(false)
			waitHealth(t, conn, healthpb.HealthCheckResponse_SERVING, "node back")
		})
	}
}

// failingStore is a store.DB whose reads of the sync tip fail while fail
// is set, as a store on a failing disk would.
type failingStore struct {
	*store.DB
	fail atomic.Bool
}

func (s *failingStore) SyncTip(ctx context.Context) (int32, chainhash.Hash, bool, error) {
	if s.fail.Load() {
		return 0, chainhash.Hash{}, false, reserve.Errorf(reserve.CodeInternal, "read failed: input/output error")
	}
	return s.DB.SyncTip(ctx)
}

// TestHealthFollowsStore: gRPC health is NOT_SERVING while the store
// fails a read and SERVING again once it reads.
func TestHealthFollowsStore(t *testing.T) {
	t.Parallel()
	var fs *failingStore
	od := mustStartObserved(t, func(c *daemon.Config) {
		c.CAKey = daemon.CAKey{AllowPlain: true}
		fs = &failingStore{DB: c.Store.(*store.DB)}
		c.Store = fs
	})
	conn := MustDialAs(t, od.testDaemon, daemon.RoleSigner)
	waitHealth(t, conn, healthpb.HealthCheckResponse_SERVING, "store reads")
	fs.fail.Store(true)
	waitHealth(t, conn, healthpb.HealthCheckResponse_NOT_SERVING, "store fails")
	fs.fail.Store(false)
	waitHealth(t, conn, healthpb.HealthCheckResponse_SERVING, "store reads again")
	require.Contains(t, od.logs.String(), "store read failed")
}
