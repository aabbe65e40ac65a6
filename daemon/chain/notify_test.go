package chain

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// fakeWS is btcd's websocket endpoint (/ws) as the follower sees it:
// Basic auth on the upgrade, answers to notifyblocks and
// notifynewtransactions, then notifications the test sends. Each accepted
// connection is handed to the test on conns.
type fakeWS struct {
	user, pass string
	// refuse, when set, is the error btcd answers notifyblocks with.
	refuse atomic.Pointer[string]
	// deaf stops answering pings (the connection stays open).
	deaf  atomic.Bool
	conns chan *websocket.Conn
	// requests records the methods asked, in order.
	mu       sync.Mutex
	requests []string
}

func (ws *fakeWS) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != ws.user || pass != ws.pass {
		http.Error(w, `{"result":null,"error":{"code":-1,"message":"401 Unauthorized."},"id":null}`, http.StatusUnauthorized)
		return
	}
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	if ws.deaf.Load() {
		conn.SetPingHandler(func(string) error { return nil })
	}
	for range 2 {
		var req jsonRequest
		if err := conn.ReadJSON(&req); err != nil {
			conn.Close()
			return
		}
		ws.mu.Lock()
		ws.requests = append(ws.requests, req.Method)
		ws.mu.Unlock()
		answer := map[string]any{"result": nil, "error": nil, "id": req.ID}
		msg := ws.refuse.Load()
		if msg != nil && req.Method == "notifyblocks" {
			answer["error"] = map[string]any{"code": -32601, "message": *msg}
		}
		if err := conn.WriteJSON(answer); err != nil || answer["error"] != nil {
			conn.Close()
			return
		}
	}
	ws.conns <- conn
	// The server reads (and so answers pings, unless deaf) until the
	// connection ends.
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

// notify sends a btcd notification on conn, as btcjson.MarshalCmd writes
// it.
func notify(tb testing.TB, conn *websocket.Conn, method string, params ...any) {
	tb.Helper()
	b, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "method": method, "params": params, "id": nil})
	require.NoError(tb, err)
	require.NoError(tb, conn.WriteMessage(websocket.TextMessage, b))
}

// mustFakeBtcd serves the JSON-RPC node fn and its websocket endpoint on
// one address, as btcd does, and dials it with notifications cfg.
func mustFakeBtcd(tb testing.TB, height int32, cfg NotifyConfig) (*fakeNode, *fakeWS, *Node) {
	tb.Helper()
	fn := &fakeNode{}
	fn.mine(height + 1)
	ws := &fakeWS{user: "u", pass: "p", conns: make(chan *websocket.Conn, 8)}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", ws.serve)
	mux.HandleFunc("/", fn.serve)
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	node, err := DialNode(NodeConfig{Kind: KindBtcd, Host: strings.TrimPrefix(srv.URL, "http://"), User: "u", Pass: "p", Notify: cfg})
	require.NoError(tb, err)
	tb.Cleanup(node.Close)
	return fn, ws, node
}

// nextConn waits for the follower's next websocket connection.
func (ws *fakeWS) nextConn(tb testing.TB) *websocket.Conn {
	tb.Helper()
	select {
	case c := <-ws.conns:
		tb.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		tb.Fatal("the follower did not connect to the websocket")
		return nil
	}
}

func TestParseNotifyMode(t *testing.T) {
	tests := []struct {
		name, in string
		want     NotifyMode
		err      string
	}{
		{name: "auto", in: "auto", want: NotifyAuto},
		{name: "off", in: "off", want: NotifyOff},
		{name: "empty", in: "", err: `unknown notification mode ""`},
		{name: "other", in: "zmq", err: `unknown notification mode "zmq"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNotifyMode(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNotifyConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		cfg  NotifyConfig
		err  string
	}{
		{name: "zero value: off", kind: KindBtcd},
		{name: "btcd auto: websocket", kind: KindBtcd, cfg: NotifyConfig{Mode: NotifyAuto}},
		{name: "bitcoind auto without ZMQ: polling", kind: KindBitcoind, cfg: NotifyConfig{Mode: NotifyAuto}},
		{name: "bitcoind ZMQ block and tx", kind: KindBitcoind, cfg: NotifyConfig{Mode: NotifyAuto, ZMQBlock: "tcp://127.0.0.1:28332", ZMQTx: "tcp://127.0.0.1:28333"}},
		{name: "unknown mode", kind: KindBtcd, cfg: NotifyConfig{Mode: "push"}, err: `unknown notification mode "push"`},
		{name: "ZMQ for btcd", kind: KindBtcd, cfg: NotifyConfig{Mode: NotifyAuto, ZMQBlock: "tcp://127.0.0.1:28332"}, err: "ZMQ notifications are bitcoind's"},
		{name: "ZMQ while off", kind: KindBitcoind, cfg: NotifyConfig{Mode: NotifyOff, ZMQBlock: "tcp://127.0.0.1:28332"}, err: "notifications are off"},
		{name: "tx without block", kind: KindBitcoind, cfg: NotifyConfig{Mode: NotifyAuto, ZMQTx: "tcp://127.0.0.1:28333"}, err: "needs the block address"},
		{name: "no scheme", kind: KindBitcoind, cfg: NotifyConfig{Mode: NotifyAuto, ZMQBlock: "127.0.0.1:28332"}, err: "is not tcp://host:port"},
		{name: "no port", kind: KindBitcoind, cfg: NotifyConfig{Mode: NotifyAuto, ZMQBlock: "tcp://127.0.0.1"}, err: "is not tcp://host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DialNode(NodeConfig{Kind: tt.kind, Host: "127.0.0.1:1", Notify: tt.cfg})
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
		})
	}
}

func TestWebsocketSubscription(t *testing.T) {
	ctx := context.Background()
	t.Run("subscribes to blocks and transactions, reads what btcd sends", func(t *testing.T) {
		_, ws, node := mustFakeBtcd(t, 1, NotifyConfig{})
		sub, err := dialWebsocket(ctx, node, time.Minute)
		require.NoError(t, err)
		defer sub.close()
		conn := ws.nextConn(t)
		require.Equal(t, []string{"notifyblocks", "notifynewtransactions"}, ws.requests)
		tests := []struct {
			method string
			params []any
			want   event
		}{
			{"blockconnected", []any{"00" + strings.Repeat("ab", 31), 2, 1700000002}, eventBlock},
			{"filteredblockconnected", []any{2, strings.Repeat("00", 80), nil}, eventBlock},
			{"blockdisconnected", []any{"00" + strings.Repeat("ab", 31), 2, 1700000002}, eventBlock},
			{"txaccepted", []any{strings.Repeat("cd", 32), 0.5}, eventTx},
			{"relevanttxaccepted", []any{"00"}, eventNone},
		}
		for _, tt := range tests {
			notify(t, conn, tt.method, tt.params...)
			ev, err := sub.receive()
			require.NoError(t, err, tt.method)
			require.Equal(t, tt.want, ev, tt.method)
		}
		// The node goes away: receive fails.
		conn.Close()
		_, err = sub.receive()
		require.Error(t, err)
	})
	t.Run("wrong credentials are refused", func(t *testing.T) {
		_, ws, node := mustFakeBtcd(t, 1, NotifyConfig{})
		ws.pass = "other"
		_, err := dialWebsocket(ctx, node, time.Minute)
		require.ErrorContains(t, err, "status 401")
	})
	t.Run("a node refusing notifyblocks is refused", func(t *testing.T) {
		_, ws, node := mustFakeBtcd(t, 1, NotifyConfig{})
		msg := "Method not found"
		ws.refuse.Store(&msg)
		_, err := dialWebsocket(ctx, node, time.Minute)
		require.ErrorContains(t, err, "notifyblocks: -32601: Method not found")
	})
	t.Run("a node that stops answering pings is dropped", func(t *testing.T) {
		_, ws, node := mustFakeBtcd(t, 1, NotifyConfig{})
		ws.deaf.Store(true)
		sub, err := dialWebsocket(ctx, node, 50*time.Millisecond)
		require.NoError(t, err)
		defer sub.close()
		ws.nextConn(t)
		done := make(chan error, 1)
		go func() { _, err := sub.receive(); done <- err }()
		select {
		case err := <-done:
			require.Error(t, err)
		case <-time.After(3 * time.Second):
			t.Fatal("a silent connection was kept")
		}
	})
	t.Run("a node that answers pings is kept", func(t *testing.T) {
		_, ws, node := mustFakeBtcd(t, 1, NotifyConfig{})
		sub, err := dialWebsocket(ctx, node, 50*time.Millisecond)
		require.NoError(t, err)
		defer sub.close()
		conn := ws.nextConn(t)
		type got struct {
			ev  event
			err error
		}
		done := make(chan got, 1)
		go func() { ev, err := sub.receive(); done <- got{ev, err} }()
		time.Sleep(300 * time.Millisecond) // six ping intervals, no message
		notify(t, conn, "blockconnected", "00", 2, 0)
		r := <-done
		require.NoError(t, r.err)
		require.Equal(t, eventBlock, r.ev)
	})
}

// zmqPub is bitcoind's ZMQ publisher as a SUB socket sees it: the ZMTP
// 3.0 greeting, READY as a PUB, the subscriptions, then multipart messages
// [topic, body, sequence].
type zmqPub struct {
	lis   net.Listener
	conns chan *zmqPeer

	mu    sync.Mutex
	peers []*zmqPeer
}

type zmqPeer struct {
	conn   net.Conn
	topics []string
	seq    uint32
}

func mustZMQPub(tb testing.TB, topics int) *zmqPub {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	tb.Cleanup(func() { lis.Close() })
	p := &zmqPub{lis: lis, conns: make(chan *zmqPeer, 8)}
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				peer, err := zmqHandshake(c, topics)
				if err != nil {
					c.Close()
					return
				}
				p.mu.Lock()
				p.peers = append(p.peers, peer)
				p.mu.Unlock()
				p.conns <- peer
			}()
		}
	}()
	return p
}

func (p *zmqPub) addr() string { return "tcp://" + p.lis.Addr().String() }

func (p *zmqPub) next(tb testing.TB) *zmqPeer {
	tb.Helper()
	select {
	case c := <-p.conns:
		tb.Cleanup(func() { c.conn.Close() })
		return c
	case <-time.After(5 * time.Second):
		tb.Fatal("nothing subscribed to the ZMQ publisher")
		return nil
	}
}

func zmqHandshake(c net.Conn, topics int) (*zmqPeer, error) {
	greet := make([]byte, 64)
	if _, err := io.ReadFull(c, greet); err != nil {
		return nil, err
	}
	mine := make([]byte, 64)
	mine[0], mine[9], mine[10] = 0xff, 0x7f, 3
	copy(mine[12:], "NULL")
	if _, err := c.Write(mine); err != nil {
		return nil, err
	}
	if _, _, err := zmqReadFrame(c); err != nil { // READY from the SUB
		return nil, err
	}
	ready := append([]byte{5}, "READY"...)
	ready = append(ready, 11)
	ready = append(ready, "Socket-Type"...)
	ready = append(ready, 0, 0, 0, 3)
	ready = append(ready, "PUB"...)
	if err := zmqWriteFrame(c, 4, ready); err != nil {
		return nil, err
	}
	peer := &zmqPeer{conn: c}
	for range topics {
		_, body, err := zmqReadFrame(c)
		if err != nil {
			return nil, err
		}
		if len(body) == 0 || body[0] != 1 {
			return nil, fmt.Errorf("not a subscription: %x", body)
		}
		peer.topics = append(peer.topics, string(body[1:]))
	}
	return peer, nil
}

func zmqReadFrame(r io.Reader) (byte, []byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	if hdr[0]&2 != 0 {
		return 0, nil, fmt.Errorf("long frame in a test")
	}
	body := make([]byte, hdr[1])
	_, err := io.ReadFull(r, body)
	return hdr[0], body, err
}

func zmqWriteFrame(w io.Writer, flag byte, body []byte) error {
	if len(body) > 255 {
		return fmt.Errorf("long frame in a test")
	}
	_, err := w.Write(append([]byte{flag, byte(len(body))}, body...))
	return err
}

// publish sends [topic, body, sequence] as bitcoind does.
func (p *zmqPeer) publish(tb testing.TB, topic string, body []byte) {
	tb.Helper()
	seq := binary.LittleEndian.AppendUint32(nil, p.seq)
	p.seq++
	require.NoError(tb, zmqWriteFrame(p.conn, 1, []byte(topic)))
	require.NoError(tb, zmqWriteFrame(p.conn, 1, body))
	require.NoError(tb, zmqWriteFrame(p.conn, 0, seq))
}

// publishAll sends to every subscriber still connected, as a PUB socket
// does.
func (p *zmqPub) publishAll(topic string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	live := p.peers[:0]
	for _, peer := range p.peers {
		seq := binary.LittleEndian.AppendUint32(nil, peer.seq)
		peer.seq++
		msg := append([]byte{1, byte(len(topic))}, topic...)
		msg = append(msg, 1, 32)
		msg = append(msg, make([]byte, 32)...)
		msg = append(msg, 0, 4)
		msg = append(msg, seq...)
		if _, err := peer.conn.Write(msg); err == nil {
			live = append(live, peer)
		}
	}
	p.peers = live
}

func TestZMQSubscription(t *testing.T) {
	ctx := context.Background()
	pub := mustZMQPub(t, 2)
	sub, err := dialZMQ(ctx, pub.addr(), []string{zmqHashBlock, zmqHashTx})
	require.NoError(t, err)
	defer sub.close()
	peer := pub.next(t)
	require.Equal(t, []string{zmqHashBlock, zmqHashTx}, peer.topics)
	tests := []struct {
		topic string
		want  event
	}{
		{zmqHashBlock, eventBlock},
		{zmqHashTx, eventTx},
		{"rawblock", eventNone},
	}
	for _, tt := range tests {
		peer.publish(t, tt.topic, make([]byte, 32))
		ev, err := sub.receive()
		require.NoError(t, err, tt.topic)
		require.Equal(t, tt.want, ev, tt.topic)
	}
	// The publisher goes away: receive fails (gozmq's own reconnection
	// attempt is reported as an error the notifier redials on).
	peer.conn.Close()
	pub.lis.Close()
	_, err = sub.receive()
	require.Error(t, err)
}

func TestZMQDialNobodyListens(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := "tcp://" + lis.Addr().String()
	lis.Close()
	_, err = dialZMQ(context.Background(), addr, []string{zmqHashBlock})
	require.ErrorContains(t, err, "connection refused")
}

// mustNotifiedFollower makes a follower of a fresh regtest wallet on node
// that polls every hour: what it learns within a test, it learns by
// notification (or by DownPoll while they are down).
func mustNotifiedFollower(tb testing.TB, node *Node) *Follower {
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
	f, err := NewFollower(Config{Node: node, Store: db, Network: reserve.Regtest, PollInterval: time.Hour, MaxBackoff: 100 * time.Millisecond})
	require.NoError(tb, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx) }()
	tb.Cleanup(func() {
		cancel()
		require.NoError(tb, <-done)
	})
	return f
}

// waitSyncedAt waits until the follower's status says synced at height.
func waitSyncedAt(tb testing.TB, f *Follower, height int32, within time.Duration) {
	tb.Helper()
	require.Eventually(tb, func() bool {
		st := f.Status()
		return st.Synced && st.SyncedHeight == height
	}, within, 5*time.Millisecond, "not synced at %d within %s: %+v", height, within, f.Status())
}

// waitQuiet waits until the follower has asked the node nothing for
// 100ms: the poll a connection (or its drop) woke is over, and whatever
// happens next is the test's doing.
func waitQuiet(tb testing.TB, f *Follower) {
	tb.Helper()
	last := f.polls.Load()
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		now := f.polls.Load()
		if now == last {
			return
		}
		last = now
	}
	tb.Fatal("the follower kept polling")
}

// requireStaysAt checks that the follower's synced height stays at height
// for d: nothing but a notification would move it.
func requireStaysAt(tb testing.TB, f *Follower, height int32, d time.Duration) {
	tb.Helper()
	require.Never(tb, func() bool { return f.Status().SyncedHeight != height }, d, 10*time.Millisecond)
}

func TestFollowerWokenByWebsocket(t *testing.T) {
	notifyCfg := NotifyConfig{Mode: NotifyAuto, DownPoll: 50 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	t.Run("a block notification is followed at once with --poll 1h", func(t *testing.T) {
		fn, ws, node := mustFakeBtcd(t, 5, notifyCfg)
		f := mustNotifiedFollower(t, node)
		conn := ws.nextConn(t)
		waitSyncedAt(t, f, 5, 5*time.Second)
		require.Eventually(t, f.Notifying, time.Second, 5*time.Millisecond)
		waitQuiet(t, f)

		fn.mine(1)
		requireStaysAt(t, f, 5, 200*time.Millisecond)
		start := time.Now()
		notify(t, conn, "blockconnected", "00", 6, 0)
		waitSyncedAt(t, f, 6, time.Second)
		t.Logf("block followed %s after its notification", time.Since(start))

		// A transaction notification wakes it too (throttled).
		fn.mine(1)
		notify(t, conn, "txaccepted", strings.Repeat("cd", 32), 0.1)
		waitSyncedAt(t, f, 7, time.Second)
	})
	t.Run("the connection drops: polling meanwhile, reconnected, woken again", func(t *testing.T) {
		fn, ws, node := mustFakeBtcd(t, 5, notifyCfg)
		f := mustNotifiedFollower(t, node)
		conn := ws.nextConn(t)
		waitSyncedAt(t, f, 5, 5*time.Second)

		// The node refuses new subscriptions while the channel is down.
		msg := "down for the test"
		ws.refuse.Store(&msg)
		conn.Close()
		require.Eventually(t, func() bool { return !f.Notifying() }, time.Second, 5*time.Millisecond)
		fn.mine(1)
		// No notification can come: DownPoll finds the block.
		waitSyncedAt(t, f, 6, time.Second)
		fn.mine(1)
		waitSyncedAt(t, f, 7, time.Second)

		ws.refuse.Store(nil)
		conn = ws.nextConn(t)
		require.Eventually(t, f.Notifying, time.Second, 5*time.Millisecond)
		waitQuiet(t, f)
		fn.mine(1)
		requireStaysAt(t, f, 7, 200*time.Millisecond)
		notify(t, conn, "blockconnected", "00", 8, 0)
		waitSyncedAt(t, f, 8, time.Second)
	})
	t.Run("off: no websocket, polling only", func(t *testing.T) {
		cfg := notifyCfg
		cfg.Mode = NotifyOff
		fn, ws, node := mustFakeBtcd(t, 5, cfg)
		f := mustNotifiedFollower(t, node)
		f.Kick()
		waitSyncedAt(t, f, 5, 5*time.Second)
		waitQuiet(t, f)
		fn.mine(1)
		requireStaysAt(t, f, 5, 200*time.Millisecond)
		require.Empty(t, ws.conns)
		require.False(t, f.Notifying())
	})
}

func TestFollowerWokenByZMQ(t *testing.T) {
	pub := mustZMQPub(t, 1)
	fn := &fakeNode{}
	fn.mine(6)
	srv := httptest.NewServer(http.HandlerFunc(fn.serve))
	t.Cleanup(srv.Close)
	node, err := DialNode(NodeConfig{
		Kind: KindBitcoind, Host: strings.TrimPrefix(srv.URL, "http://"), User: "u", Pass: "p",
		Notify: NotifyConfig{Mode: NotifyAuto, ZMQBlock: pub.addr(), DownPoll: 50 * time.Millisecond, MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
	})
	require.NoError(t, err)
	t.Cleanup(node.Close)
	f := mustNotifiedFollower(t, node)
	peer := pub.next(t)
	require.Equal(t, []string{zmqHashBlock}, peer.topics)
	waitSyncedAt(t, f, 5, 5*time.Second)
	require.Eventually(t, f.Notifying, time.Second, 5*time.Millisecond)
	waitQuiet(t, f)

	fn.mine(1)
	requireStaysAt(t, f, 5, 200*time.Millisecond)
	peer.publish(t, zmqHashBlock, make([]byte, 32))
	waitSyncedAt(t, f, 6, time.Second)

	// The publisher drops the connection: polled meanwhile, resubscribed.
	peer.conn.Close()
	require.Eventually(t, func() bool { return !f.Notifying() }, 2*time.Second, 5*time.Millisecond)
	fn.mine(1)
	waitSyncedAt(t, f, 7, time.Second)
	pub.next(t)
	require.Eventually(t, f.Notifying, 2*time.Second, 5*time.Millisecond)
	waitQuiet(t, f)
	fn.mine(1)
	requireStaysAt(t, f, 7, 200*time.Millisecond)
	pub.publishAll(zmqHashBlock)
	waitSyncedAt(t, f, 8, time.Second)
}

func TestThrottleCoalesces(t *testing.T) {
	var wakes atomic.Int32
	th := &throttle{every: 100 * time.Millisecond, wake: func() { wakes.Add(1) }}
	for range 1000 {
		th.fire()
	}
	require.Equal(t, int32(1), wakes.Load(), "the first fires at once")
	require.Eventually(t, func() bool { return wakes.Load() == 2 }, time.Second, 5*time.Millisecond, "the rest coalesce into one")
	require.Never(t, func() bool { return wakes.Load() > 2 }, 250*time.Millisecond, 10*time.Millisecond)
}

// TestCycleAsksAfterTheWake: a poll woken by a notification must judge
// against a tip asked after it began. A status call's getblockchaininfo
// already in flight was answered before the block: joining it, the poll
// would stop one block short and, with --poll 1h, stay there.
func TestCycleAsksAfterTheWake(t *testing.T) {
	ctx := context.Background()
	fn := &fakeNode{}
	fn.mine(6)
	gate := make(chan struct{})
	var gated atomic.Bool
	gated.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		var req rpcRequest
		if json.Unmarshal(body, &req) == nil && req.Method == "getblockchaininfo" && gated.Load() {
			// The node answers with the tip it has now, late.
			resp := fn.answer(req)
			<-gate
			_ = json.NewEncoder(w).Encode(resp)
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		fn.serve(w, r)
	}))
	t.Cleanup(srv.Close)
	node, err := DialNode(NodeConfig{Kind: KindBtcd, Host: strings.TrimPrefix(srv.URL, "http://"), User: "u", Pass: "p"})
	require.NoError(t, err)
	t.Cleanup(node.Close)
	f := mustFollowerOf(t, node)

	observed := make(chan Status, 1)
	go func() { observed <- f.Observe(ctx) }()
	require.Eventually(t, func() bool {
		f.obsMu.Lock()
		defer f.obsMu.Unlock()
		return f.obs != nil
	}, time.Second, time.Millisecond)
	// The status call's request has its answer (height 5); then a block
	// comes and wakes a poll.
	time.Sleep(50 * time.Millisecond)
	fn.mine(1)
	done := make(chan error, 1)
	go func() { done <- f.cycle(ctx) }()
	time.Sleep(50 * time.Millisecond) // the poll is waiting on the node
	gated.Store(false)
	close(gate)
	require.NoError(t, <-done)
	require.Equal(t, int32(5), (<-observed).NodeHeight)
	st := f.Status()
	require.Equal(t, int32(6), st.SyncedHeight, "%+v", st)
	requireSyncedAt(t, fn, st)
}
