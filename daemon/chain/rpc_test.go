package chain

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// mustSilentNode listens on loopback, accepts every connection, reads
// what comes and never answers: a node wedged behind a lock. It returns
// the address.
func mustSilentNode(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = c.Read(make([]byte, 1<<20)) }()
		}
	}()
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// returnsWithin runs call and fails the test if it has not returned after
// limit: a guard against hanging the test, not a speed assertion.
func returnsWithin(t *testing.T, limit time.Duration, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		require.FailNow(t, "the call did not return from a node that never answers")
		return nil
	}
}

// TestNodeRPCTimeout: every RPC to a node that accepts the connection and
// never answers returns ErrRPCTimeout naming the method, instead of
// hanging its caller (the follower, the broadcast path).
func TestNodeRPCTimeout(t *testing.T) {
	node, err := DialNode(NodeConfig{Kind: KindBitcoind, Host: mustSilentNode(t), User: "u", Pass: "p", RPCTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(node.Close)
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&wire.OutPoint{}, nil, nil))
	tx.AddTxOut(wire.NewTxOut(1000, []byte{0x51}))
	hashes := []chainhash.Hash{{1}}
	ctx := context.Background()
	tests := []struct {
		name   string
		method string
		call   func() error
	}{
		{name: "ChainInfo", method: "getblockchaininfo", call: func() error { _, err := node.ChainInfo(ctx); return err }},
		{name: "BlockHash", method: "getblockhash", call: func() error { _, err := node.BlockHash(ctx, 1); return err }},
		{name: "BlockHashes", method: "getblockhash batch", call: func() error { _, err := node.BlockHashes(ctx, 1, 3); return err }},
		{name: "Blocks", method: "getblock batch", call: func() error { _, err := node.Blocks(ctx, hashes); return err }},
		{name: "MempoolTxids", method: "getrawmempool", call: func() error { _, err := node.MempoolTxids(ctx); return err }},
		{name: "MempoolTxs", method: "getrawtransaction batch", call: func() error { _, err := node.MempoolTxs(ctx, hashes); return err }},
		{name: "TestMempoolAccept", method: "testmempoolaccept", call: func() error { _, err := node.TestMempoolAccept(ctx, tx); return err }},
		{name: "SendRawTransaction", method: "sendrawtransaction", call: func() error { return node.SendRawTransaction(ctx, tx) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := returnsWithin(t, 20*time.Second, tc.call)
			require.ErrorIs(t, err, ErrRPCTimeout)
			require.Contains(t, err.Error(), tc.method)
			var rpcErr *btcjson.RPCError
			require.False(t, errors.As(err, &rpcErr), "a timeout is no refusal by the node")
		})
	}
}

// TestNodeRPCCallerContext: the caller's context bounds a call too, and
// Close ends a call under way; neither waits for RPCTimeout.
func TestNodeRPCCallerContext(t *testing.T) {
	t.Run("caller's deadline", func(t *testing.T) {
		node, err := DialNode(NodeConfig{Kind: KindBtcd, Host: mustSilentNode(t), RPCTimeout: time.Hour})
		require.NoError(t, err)
		t.Cleanup(node.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err = returnsWithin(t, 20*time.Second, func() error { _, err := node.ChainInfo(ctx); return err })
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, ErrRPCTimeout)
		require.Contains(t, err.Error(), "getblockchaininfo")
	})
	t.Run("Close", func(t *testing.T) {
		node, err := DialNode(NodeConfig{Kind: KindBtcd, Host: mustSilentNode(t), RPCTimeout: time.Hour})
		require.NoError(t, err)
		go func() {
			time.Sleep(100 * time.Millisecond)
			node.Close()
		}()
		err = returnsWithin(t, 20*time.Second, func() error { _, err := node.ChainInfo(context.Background()); return err })
		require.ErrorIs(t, err, errClosed)
		_, err = node.ChainInfo(context.Background())
		require.ErrorIs(t, err, errClosed, "after Close")
	})
}

// TestDialNodeConfig: the timeout has a default and may not be negative.
func TestDialNodeConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  NodeConfig
		want time.Duration
		err  string
	}{
		{name: "default", cfg: NodeConfig{Host: "127.0.0.1:1"}, want: DefaultRPCTimeout},
		{name: "set", cfg: NodeConfig{Host: "127.0.0.1:1", RPCTimeout: time.Second}, want: time.Second},
		{name: "negative", cfg: NodeConfig{Host: "127.0.0.1:1", RPCTimeout: -time.Second}, err: "must not be negative"},
		{name: "no host", cfg: NodeConfig{}, err: "host is not set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := DialNode(tc.cfg)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			defer n.Close()
			require.Equal(t, tc.want, n.rpc.timeout)
		})
	}
}
