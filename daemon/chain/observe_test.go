package chain

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hangingNode serves fn until hang is set; then it accepts every request
// and answers none, like a node wedged behind a lock, until the test calls
// release (or ends): the held requests are then answered, late, with what
// the node knew when they came.
type hangingNode struct {
	fn      *fakeNode
	hang    atomic.Bool
	stop    chan struct{}
	once    sync.Once
	tipAsks atomic.Int32 // getblockchaininfo requests received while hanging
}

func (hn *hangingNode) release() {
	hn.hang.Store(false)
	hn.once.Do(func() { close(hn.stop) })
}

// mustHangingNode serves a chain of height blocks above genesis and dials it.
func mustHangingNode(tb testing.TB, height int32) (*hangingNode, *Node) {
	tb.Helper()
	hn := &hangingNode{fn: &fakeNode{}, stop: make(chan struct{})}
	hn.fn.mine(height + 1)
	srv := httptest.NewServer(http.HandlerFunc(hn.serve))
	tb.Cleanup(srv.Close)
	node, err := DialNode(NodeConfig{Kind: KindBtcd, Host: strings.TrimPrefix(srv.URL, "http://"), User: "u", Pass: "p"})
	require.NoError(tb, err)
	tb.Cleanup(node.Close)
	// Runs first: lets the held handlers return so srv.Close does not wait.
	tb.Cleanup(hn.release)
	return hn, node
}

func (hn *hangingNode) serve(w http.ResponseWriter, r *http.Request) {
	if !hn.hang.Load() {
		hn.fn.serve(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if bytes.Contains(body, []byte(`"getblockchaininfo"`)) {
		hn.tipAsks.Add(1)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	hn.fn.serve(rec, r)
	<-hn.stop
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// observeWithin runs Observe and fails the test unless it returns within
// limit.
func observeWithin(t *testing.T, f *Follower, ctx context.Context, limit time.Duration) Status {
	t.Helper()
	done := make(chan Status, 1)
	go func() { done <- f.Observe(ctx) }()
	select {
	case st := <-done:
		return st
	case <-time.After(limit):
		require.FailNow(t, "Observe blocked on a node that does not answer", "still waiting after %s", limit)
		return Status{}
	}
}

// requireNotObserved checks a status returned while the node does not
// answer: the last one seen, not synced, the node not reachable and why.
func requireNotObserved(t *testing.T, fn *fakeNode, st Status) {
	t.Helper()
	height, hash := fn.tip()
	require.False(t, st.Synced, "%+v", st)
	require.False(t, st.NodeReachable, "%+v", st)
	require.NotEmpty(t, st.NodeErr)
	require.Equal(t, height, st.SyncedHeight, "the wallet's tip is still reported")
	require.Equal(t, hash, st.SyncedHash)
	requireTruthful(t, st)
}

// TestObserveNodeDoesNotAnswer checks that a status call returns within the
// caller's context and within StatusTimeout when the node accepts the
// request and never answers, that concurrent calls share one request to
// the node, and that the node answering again is observed.
func TestObserveNodeDoesNotAnswer(t *testing.T) {
	const bound = 300 * time.Millisecond
	tests := []struct {
		name string
		run  func(t *testing.T, hn *hangingNode, f *Follower)
	}{
		{name: "the caller's deadline comes first: returns by it", run: func(t *testing.T, hn *hangingNode, f *Follower) {
			f.cfg.StatusTimeout = time.Minute
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			requireNotObserved(t, hn.fn, observeWithin(t, f, ctx, 2*time.Second))
		}},
		{name: "no caller deadline: returns by StatusTimeout and the status says so", run: func(t *testing.T, hn *hangingNode, f *Follower) {
			start := time.Now()
			st := observeWithin(t, f, context.Background(), 2*time.Second)
			require.GreaterOrEqual(t, time.Since(start), bound)
			requireNotObserved(t, hn.fn, st)
			requireNotObserved(t, hn.fn, f.Status())
		}},
		{name: "concurrent calls share one request to the node", run: func(t *testing.T, hn *hangingNode, f *Follower) {
			// A bound the twenty calls all start within, even on a busy
			// machine: a call that starts after the shared request was
			// dropped asks again, rightly, and is not what this checks.
			long := 1500 * time.Millisecond
			f.cfg.StatusTimeout = long
			before := runtime.NumGoroutine()
			var wg sync.WaitGroup
			sts := make([]Status, 20)
			for i := range sts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sts[i] = f.Observe(context.Background())
				}()
			}
			all := make(chan struct{})
			go func() { wg.Wait(); close(all) }()
			select {
			case <-all:
			case <-time.After(4 * time.Second):
				require.FailNow(t, "concurrent Observe calls blocked on a node that does not answer")
			}
			for _, st := range sts {
				requireNotObserved(t, hn.fn, st)
			}
			require.Equal(t, int32(1), hn.tipAsks.Load(), "one request for all the calls")
			// That request is dropped at the bound (every RPC honours its
			// context): a later call joins it if it is still being torn
			// down or asks again, once, and returns by the bound too.
			requireNotObserved(t, hn.fn, observeWithin(t, f, context.Background(), 2*long))
			require.LessOrEqual(t, hn.tipAsks.Load(), int32(2))
			// No goroutine per call is left blocked on the node: only the
			// one request (and the HTTP machinery under it).
			require.Less(t, runtime.NumGoroutine()-before, len(sts)/2)
		}},
		{name: "the node answers late: reachable, synced only after a poll", run: func(t *testing.T, hn *hangingNode, f *Follower) {
			requireNotObserved(t, hn.fn, observeWithin(t, f, context.Background(), 2*time.Second))
			hn.fn.mine(1)
			hn.release()
			// The late answer is published; the next call asks again.
			require.Eventually(t, func() bool {
				return observeWithin(t, f, context.Background(), 2*time.Second).NodeReachable
			}, 5*time.Second, 20*time.Millisecond)
			require.Equal(t, int32(1), hn.tipAsks.Load())
			st := f.Observe(context.Background())
			require.True(t, st.NodeReachable)
			require.Equal(t, int32(6), st.NodeHeight)
			require.False(t, st.Synced, "only a poll says synced again: %+v", st)
			require.NoError(t, f.cycle(context.Background()))
			requireSyncedAt(t, hn.fn, f.Observe(context.Background()))
		}},
		{name: "a request sent before the call does not answer it", run: func(t *testing.T, hn *hangingNode, f *Follower) {
			f.cfg.StatusTimeout = 5 * time.Second
			polled := make(chan error, 1)
			go func() {
				_, err := f.observe(context.Background(), false)
				polled <- err
			}()
			require.Eventually(t, func() bool { return hn.tipAsks.Load() == 1 }, 2*time.Second, 5*time.Millisecond)
			hn.fn.mine(1)
			got := make(chan Status, 1)
			go func() { got <- f.Observe(context.Background()) }()
			time.Sleep(50 * time.Millisecond) // Observe joins the request in flight
			hn.release()
			require.NoError(t, <-polled)
			st := <-got
			require.True(t, st.NodeReachable, "%+v", st)
			require.Equal(t, int32(6), st.NodeHeight, "judged against the tip before the call")
			require.False(t, st.Synced, "%+v", st)
			requireTruthful(t, st)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hn, node := mustHangingNode(t, 5)
			f := mustFollowerOf(t, node)
			f.cfg.StatusTimeout = bound
			require.NoError(t, f.cycle(context.Background()))
			requireSyncedAt(t, hn.fn, f.Status())
			hn.hang.Store(true)
			tt.run(t, hn, f)
		})
	}
}
