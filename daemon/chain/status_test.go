package chain

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// fakeNode is a regtest JSON-RPC node double serving the calls the
// follower makes, over a chain of empty blocks the test mines. hold, when
// set, pauses every getblock batch until the test receives from it: a
// follower caught in the middle of catching up.
type fakeNode struct {
	mu     sync.Mutex
	blocks []*wire.MsgBlock
	hold   chan chan struct{}
	// down makes every call fail as a node shutting down would.
	down bool
}

// mustFakeNode serves a chain of height blocks above genesis and dials it.
func mustFakeNode(tb testing.TB, height int32) (*fakeNode, *Node) {
	tb.Helper()
	fn := &fakeNode{}
	fn.mine(height + 1)
	srv := httptest.NewServer(http.HandlerFunc(fn.serve))
	tb.Cleanup(srv.Close)
	node, err := DialNode(NodeConfig{Kind: KindBtcd, Host: strings.TrimPrefix(srv.URL, "http://"), User: "u", Pass: "p"})
	require.NoError(tb, err)
	tb.Cleanup(node.Close)
	return fn, node
}

// mine appends n empty blocks to the node's chain.
func (fn *fakeNode) mine(n int32) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	for range n {
		height := int32(len(fn.blocks))
		var prev chainhash.Hash
		if height > 0 {
			prev = fn.blocks[height-1].BlockHash()
		}
		cb := coinbaseTx(height, out(50, foreignScript(uint32(height))))
		b := wire.NewMsgBlock(wire.NewBlockHeader(1, &prev, ptr(cb.TxHash()), 0x207fffff, uint32(height)))
		b.Header.Timestamp = time.Unix(1700000000+int64(height), 0)
		b.AddTransaction(cb)
		fn.blocks = append(fn.blocks, b)
	}
}

func ptr[T any](v T) *T { return &v }

// tip is the node's best block.
func (fn *fakeNode) tip() (int32, chainhash.Hash) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return int32(len(fn.blocks) - 1), fn.blocks[len(fn.blocks)-1].BlockHash()
}

type rpcRequest struct {
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	ID     json.RawMessage   `json:"id"`
}

type rpcResponse struct {
	Result any               `json:"result"`
	Error  *btcjson.RPCError `json:"error"`
	ID     json.RawMessage   `json:"id"`
}

func (fn *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body = bytes.TrimSpace(body)
	fn.mu.Lock()
	down := fn.down
	fn.mu.Unlock()
	if down {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if len(body) > 0 && body[0] == '[' {
		var reqs []rpcRequest
		if err := json.Unmarshal(body, &reqs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(reqs) > 0 && reqs[0].Method == "getblock" {
			fn.pause()
		}
		resps := make([]rpcResponse, len(reqs))
		for i, req := range reqs {
			resps[i] = fn.answer(req)
		}
		_ = json.NewEncoder(w).Encode(resps)
		return
	}
	var req rpcRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_ = json.NewEncoder(w).Encode(fn.answer(req))
}

func (fn *fakeNode) setHold(hold chan chan struct{}) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	fn.hold = hold
}

func (fn *fakeNode) setDown(down bool) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	fn.down = down
}

// pause waits, when the test holds the node, until the test lets the
// request go on.
func (fn *fakeNode) pause() {
	fn.mu.Lock()
	hold := fn.hold
	fn.mu.Unlock()
	if hold == nil {
		return
	}
	release := make(chan struct{})
	hold <- release
	<-release
}

func (fn *fakeNode) answer(req rpcRequest) rpcResponse {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	resp := rpcResponse{ID: req.ID}
	tip := len(fn.blocks) - 1
	switch req.Method {
	case "getblockchaininfo":
		resp.Result = map[string]any{"chain": "regtest", "blocks": tip, "bestblockhash": fn.blocks[tip].BlockHash().String()}
	case "getblockhash":
		var h int
		if len(req.Params) == 0 || json.Unmarshal(req.Params[0], &h) != nil || h < 0 || h > tip {
			resp.Error = &btcjson.RPCError{Code: btcjson.ErrRPCOutOfRange, Message: "Block number out of range"}
			break
		}
		resp.Result = fn.blocks[h].BlockHash().String()
	case "getblock":
		var s string
		_ = json.Unmarshal(req.Params[0], &s)
		resp.Error = &btcjson.RPCError{Code: btcjson.ErrRPCBlockNotFound, Message: "Block not found"}
		for _, b := range fn.blocks {
			if b.BlockHash().String() == s {
				var buf bytes.Buffer
				_ = b.Serialize(&buf)
				resp.Result, resp.Error = hex.EncodeToString(buf.Bytes()), nil
			}
		}
	case "getrawmempool":
		resp.Result = []string{}
	default:
		resp.Error = &btcjson.RPCError{Code: btcjson.ErrRPCMethodNotFound.Code, Message: "Method not found"}
	}
	return resp
}

// mustFollowerOf makes a follower of a fresh regtest wallet (birthday 0)
// on a real store, polling node.
func mustFollowerOf(tb testing.TB, node *Node) *Follower {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(filepath.Join(tb.TempDir(), "custos.db"), store.Options{})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, db.Close()) })
	require.NoError(tb, db.EnsureNetwork(ctx, reserve.Regtest))
	d := MustDescriptor(tb)
	w := reserve.Wallet{
		ID: d.WalletID(), Name: "test", Network: reserve.Regtest, Threshold: d.Threshold(),
		Cosigners: d.Cosigners(), Descriptor: d.String(), GapLimit: 3,
	}
	require.NoError(tb, db.CreateWallet(ctx, w, nil))
	f, err := NewFollower(Config{Node: node, Store: db, Network: reserve.Regtest, BatchSize: 8})
	require.NoError(tb, err)
	return f
}

// requireTruthful checks the invariant a status must keep at every
// instant: synced only when the wallet's tip is the node's tip as seen.
func requireTruthful(tb testing.TB, st Status) {
	tb.Helper()
	if st.Synced {
		require.True(tb, st.NodeReachable, "synced with the node unreachable: %+v", st)
		require.Equal(tb, st.NodeHash, st.SyncedHash, "synced to %d while the node is at %d", st.SyncedHeight, st.NodeHeight)
		require.Equal(tb, st.NodeHeight, st.SyncedHeight)
	}
}

// requireSyncedAt checks that the status says synced at the node's tip.
func requireSyncedAt(tb testing.TB, fn *fakeNode, st Status) {
	tb.Helper()
	height, hash := fn.tip()
	require.True(tb, st.Synced, "%+v", st)
	require.Equal(tb, height, st.NodeHeight)
	require.Equal(tb, height, st.SyncedHeight)
	require.Equal(tb, hash, st.NodeHash)
	require.Equal(tb, hash, st.SyncedHash)
}

// TestStatusDuringCatchUp reproduces issue 10: right after blocks were
// mined, a poll that has seen the new tip but not yet processed it must
// not leave "synced" standing from the previous poll.
func TestStatusDuringCatchUp(t *testing.T) {
	ctx := context.Background()
	fn, node := mustFakeNode(t, 5)
	f := mustFollowerOf(t, node)
	require.NoError(t, f.cycle(ctx))
	requireSyncedAt(t, fn, f.Status())

	fn.mine(30)
	hold := make(chan chan struct{})
	done := make(chan error, 1)
	fn.setHold(hold)
	go func() { done <- f.cycle(ctx) }()

	// The poll has seen height 35 and fetches batches: what a status
	// call sees meanwhile is checked once the poll is over, so that a
	// failed check does not leave the node held.
	var seen []Status
	for {
		select {
		case release := <-hold:
			seen = append(seen, f.Status())
			close(release)
			continue
		case err := <-done:
			require.NoError(t, err)
		}
		break
	}
	require.NotEmpty(t, seen)
	require.Equal(t, int32(35), seen[0].NodeHeight)
	require.False(t, seen[0].Synced, "synced mid-catch-up: %+v", seen[0])
	for _, st := range seen {
		requireTruthful(t, st)
	}
	requireSyncedAt(t, fn, f.Status())
}

// TestObserve checks that a status call judges "synced" against the node's
// tip as of the call, and that a poll which caught up with a tip the node
// has since moved past does not claim it is synced.
func TestObserve(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, fn *fakeNode, f *Follower)
	}{
		{name: "nothing moved: synced", run: func(t *testing.T, fn *fakeNode, f *Follower) {
			requireSyncedAt(t, fn, f.Observe(ctx))
		}},
		{name: "blocks mined since the last poll: not synced until a poll processes them", run: func(t *testing.T, fn *fakeNode, f *Follower) {
			fn.mine(30)
			st := f.Observe(ctx)
			require.False(t, st.Synced, "%+v", st)
			require.Equal(t, int32(35), st.NodeHeight)
			require.Equal(t, int32(5), st.SyncedHeight)
			requireTruthful(t, st)
			require.NoError(t, f.cycle(ctx))
			requireSyncedAt(t, fn, f.Observe(ctx))
		}},
		{name: "the tip moves while a poll catches up: that poll ends not synced", run: func(t *testing.T, fn *fakeNode, f *Follower) {
			fn.mine(30)
			hold := make(chan chan struct{})
			fn.setHold(hold)
			done := make(chan error, 1)
			go func() { done <- f.cycle(ctx) }()
			release := <-hold
			fn.setHold(nil)
			fn.mine(10)
			// A status call sees height 45 while the poll works on 35.
			mid := f.Observe(ctx)
			close(release)
			require.NoError(t, <-done)
			require.Equal(t, int32(45), mid.NodeHeight)
			require.False(t, mid.Synced)

			st := f.Status()
			require.Equal(t, int32(35), st.SyncedHeight)
			require.Equal(t, int32(45), st.NodeHeight)
			require.False(t, st.Synced, "synced at 35 while the node was seen at 45: %+v", st)
			require.NoError(t, f.cycle(ctx))
			requireSyncedAt(t, fn, f.Status())
		}},
		{name: "the node stops answering: not synced", run: func(t *testing.T, fn *fakeNode, f *Follower) {
			fn.setDown(true)
			st := f.Observe(ctx)
			require.False(t, st.NodeReachable)
			require.NotEmpty(t, st.NodeErr)
			require.False(t, st.Synced)
			fn.setDown(false)
			st = f.Observe(ctx)
			require.True(t, st.NodeReachable)
			require.False(t, st.Synced, "only a poll says synced again")
			require.NoError(t, f.cycle(ctx))
			requireSyncedAt(t, fn, f.Observe(ctx))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn, node := mustFakeNode(t, 5)
			f := mustFollowerOf(t, node)
			require.NoError(t, f.cycle(ctx))
			requireSyncedAt(t, fn, f.Status())
			tt.run(t, fn, f)
		})
	}
}
