//go:build itest

package itest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// node is a regtest node run for one test: btcd by default, bitcoind when
// the BITCOIND environment variable names its binary.
type node struct {
	t       testing.TB
	kind    string
	dir     string
	rpcPort int
	p2pPort int
	user    string
	pass    string
	// mineTo receives block rewards: btcd needs it at start
	// (--miningaddr); bitcoind takes it per generatetoaddress call.
	mineTo btcutil.Address
	// filters is bitcoind with -blockfilterindex (BITCOIND_BLOCKFILTERINDEX=1),
	// serving BIP-158 filters as btcd does by default.
	filters bool
	cmd     *exec.Cmd
	rpc     *rpcclient.Client
	logf    *os.File
}

// startNode starts a fresh regtest node whose block rewards go to mineTo.
func startNode(t testing.TB, mineTo btcutil.Address) *node {
	t.Helper()
	n := newNode(t)
	n.mineTo = mineTo
	n.start()
	return n
}

// newNode prepares a node (ports, data dir) without starting it.
func newNode(t testing.TB) *node {
	n := &node{
		t: t, kind: "btcd", dir: t.TempDir(), user: "custos", pass: "itest-" + strconv.Itoa(os.Getpid()),
		rpcPort: freePort(t), p2pPort: freePort(t),
	}
	if os.Getenv("BITCOIND") != "" {
		n.kind = "bitcoind"
		n.filters = os.Getenv("BITCOIND_BLOCKFILTERINDEX") == "1"
	}
	t.Cleanup(n.stop)
	return n
}

func (n *node) host() string { return fmt.Sprintf("127.0.0.1:%d", n.rpcPort) }

func (n *node) start() {
	t := n.t
	t.Helper()
	var args []string
	bin := os.Getenv("BITCOIND")
	switch n.kind {
	case "bitcoind":
		args = []string{
			"-regtest", "-datadir=" + n.dir, "-server=1", "-listen=0",
			"-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1", "-rpcport=" + strconv.Itoa(n.rpcPort),
			"-rpcuser=" + n.user, "-rpcpassword=" + n.pass, "-disablewallet=1",
			"-printtoconsole=0", "-dnsseed=0", "-fixedseeds=0", "-discover=0",
		}
		if n.filters {
			args = append(args, "-blockfilterindex=1")
		}
	default:
		bin = os.Getenv("BTCD")
		if bin == "" {
			bin = "btcd"
		}
		args = []string{
			"--regtest", "--datadir=" + filepath.Join(n.dir, "data"), "--logdir=" + filepath.Join(n.dir, "log"),
			"--notls", "--rpclisten=" + n.host(), "--listen=127.0.0.1:" + strconv.Itoa(n.p2pPort),
			"--rpcuser=" + n.user, "--rpcpass=" + n.pass, "--nodnsseed", "--nolisten",
			"--miningaddr=" + n.mineTo.EncodeAddress(), "--debuglevel=info",
		}
	}
	logf, err := os.Create(filepath.Join(n.dir, n.kind+".out"))
	require.NoError(t, err)
	n.logf = logf
	n.cmd = exec.Command(bin, args...)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	require.NoError(t, n.cmd.Start(), "starting %s (%s)", n.kind, bin)

	rpc, err := rpcclient.New(&rpcclient.ConnConfig{
		Host: n.host(), User: n.user, Pass: n.pass, HTTPPostMode: true, DisableTLS: true,
	}, nil)
	require.NoError(t, err)
	n.rpc = rpc
	waitFor(t, 30*time.Second, "node RPC up", func() bool {
		conn, err := net.DialTimeout("tcp", n.host(), 200*time.Millisecond)
		if err != nil {
			return false
		}
		conn.Close()
		_, err = n.call("getblockcount")
		return err == nil
	})
}

// stop ends the node process this test started, by its pid.
func (n *node) stop() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.rpc.Shutdown()
	_ = n.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-done
	}
	n.cmd = nil
	n.logf.Close()
}

// call makes a raw JSON-RPC call with JSON-encodable params.
func (n *node) call(method string, params ...any) (json.RawMessage, error) {
	raw := make([]json.RawMessage, len(params))
	for i, p := range params {
		b, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		raw[i] = b
	}
	return n.rpc.RawRequest(method, raw)
}

// mine makes count blocks paying mineTo and returns their hashes.
func (n *node) mine(count int) []chainhash.Hash {
	n.t.Helper()
	var raw json.RawMessage
	var err error
	if n.kind == "bitcoind" {
		raw, err = n.call("generatetoaddress", count, n.mineTo.EncodeAddress())
	} else {
		raw, err = n.call("generate", count)
	}
	require.NoError(n.t, err, "mining %d blocks", count)
	var hexes []string
	require.NoError(n.t, json.Unmarshal(raw, &hexes))
	out := make([]chainhash.Hash, len(hexes))
	for i, h := range hexes {
		hash, err := chainhash.NewHashFromStr(h)
		require.NoError(n.t, err)
		out[i] = *hash
	}
	return out
}

func (n *node) height() int32 {
	n.t.Helper()
	c, err := n.rpc.GetBlockCount()
	require.NoError(n.t, err)
	return int32(c)
}

func (n *node) bestHash() chainhash.Hash {
	n.t.Helper()
	h, err := n.rpc.GetBestBlockHash()
	require.NoError(n.t, err)
	return *h
}

func (n *node) block(hash chainhash.Hash) *wire.MsgBlock {
	n.t.Helper()
	b, err := n.rpc.GetBlock(&hash)
	require.NoError(n.t, err)
	return b
}

// send broadcasts tx and returns its id.
func (n *node) send(tx *wire.MsgTx) chainhash.Hash {
	n.t.Helper()
	var buf bytes.Buffer
	require.NoError(n.t, tx.Serialize(&buf))
	raw, err := n.call("sendrawtransaction", hex.EncodeToString(buf.Bytes()))
	require.NoError(n.t, err, "sendrawtransaction")
	var id string
	require.NoError(n.t, json.Unmarshal(raw, &id))
	h, err := chainhash.NewHashFromStr(id)
	require.NoError(n.t, err)
	return *h
}

func (n *node) invalidate(hash chainhash.Hash) {
	n.t.Helper()
	_, err := n.call("invalidateblock", hash.String())
	require.NoError(n.t, err, "invalidateblock %s", hash)
}

func (n *node) mempool() []string {
	n.t.Helper()
	raw, err := n.call("getrawmempool")
	require.NoError(n.t, err)
	var ids []string
	require.NoError(n.t, json.Unmarshal(raw, &ids))
	return ids
}

// freePort asks the kernel for an unused loopback port.
func itoa(i int) string { return strconv.Itoa(i) }

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// blockHeight asks the node for a block's height.
func (n *node) blockHeight(hash chainhash.Hash) int32 {
	n.t.Helper()
	raw, err := n.call("getblockheader", hash.String(), true)
	require.NoError(n.t, err)
	var hdr struct {
		Height int32 `json:"height"`
	}
	require.NoError(n.t, json.Unmarshal(raw, &hdr))
	return hdr.Height
}

// findTx finds a confirmed transaction in the last blocks (neither node
// keeps a transaction index here).
func (n *node) findTx(txid string) *wire.MsgTx {
	n.t.Helper()
	hash := n.bestHash()
	for i := 0; i < 20; i++ {
		b := n.block(hash)
		for _, tx := range b.Transactions {
			if tx.TxHash().String() == txid {
				return tx
			}
		}
		hash = b.Header.PrevBlock
	}
	n.t.Fatalf("transaction %s not in the last 20 blocks", txid)
	return nil
}
