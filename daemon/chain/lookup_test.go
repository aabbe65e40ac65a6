package chain

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil/gcs"
	"github.com/btcsuite/btcd/btcutil/gcs/builder"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// replayNode answers JSON-RPC requests, single or batched, with the
// answers a real node gave to the same method and parameters
// (testdata/lookup, recorded by TestRecordLookup). A request nobody
// recorded fails the test; a method the node did not know is refused for
// any parameters, as the node refused it.
type replayNode struct {
	tb       testing.TB
	answers  map[string]json.RawMessage // method + " " + params → envelope
	notFound map[string]json.RawMessage // method → "Method not found" envelope
	mu       sync.Mutex
	posts    map[string]int // HTTP requests per method
}

// mustReplayNode serves the recordings named (where two answer the same
// request, the first named) and dials the server as kind
// ("" leaves the node's kind to detection).
func mustReplayNode(tb testing.TB, kind Kind, files ...string) (*replayNode, *Node) {
	tb.Helper()
	rn := &replayNode{tb: tb, answers: map[string]json.RawMessage{}, notFound: map[string]json.RawMessage{}, posts: map[string]int{}}
	for _, f := range files {
		for _, c := range mustRecording(tb, f) {
			key := c.Method + " " + string(c.Params)
			if _, ok := rn.answers[key]; ok {
				continue // the first file named wins
			}
			rn.answers[key] = c.Response
			var env struct {
				Error *btcjson.RPCError `json:"error"`
			}
			require.NoError(tb, json.Unmarshal(c.Response, &env))
			if env.Error != nil && env.Error.Code == btcjson.ErrRPCMethodNotFound.Code {
				rn.notFound[c.Method] = c.Response
			}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(rn.serve))
	tb.Cleanup(srv.Close)
	node, err := DialNode(NodeConfig{Kind: kind, Host: strings.TrimPrefix(srv.URL, "http://"), User: "u", Pass: "p"})
	require.NoError(tb, err)
	tb.Cleanup(node.Close)
	return rn, node
}

func mustRecording(tb testing.TB, name string) []recordedCall {
	tb.Helper()
	var calls []recordedCall
	require.NoError(tb, json.Unmarshal(MustReadTestdata(tb, filepath.Join("lookup", name)), &calls))
	require.NotEmpty(tb, calls)
	return calls
}

func (rn *replayNode) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body = bytes.TrimSpace(body)
	batch := len(body) > 0 && body[0] == '['
	var reqs []rpcRequest
	if !batch {
		body = append(append([]byte{'['}, body...), ']')
	}
	if err := json.Unmarshal(body, &reqs); err != nil || len(reqs) == 0 {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	rn.mu.Lock()
	rn.posts[reqs[0].Method]++
	rn.mu.Unlock()
	resps := make([]json.RawMessage, len(reqs))
	for i, req := range reqs {
		resps[i] = rn.answer(req)
		if resps[i] == nil {
			http.Error(w, "not recorded", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if batch {
		_ = json.NewEncoder(w).Encode(resps)
		return
	}
	_, _ = w.Write(resps[0])
}

// answer is the recorded envelope for req with req's id.
func (rn *replayNode) answer(req rpcRequest) json.RawMessage {
	var params bytes.Buffer
	p, _ := json.Marshal(req.Params)
	_ = json.Compact(&params, p)
	env, ok := rn.answers[req.Method+" "+params.String()]
	if !ok {
		env, ok = rn.notFound[req.Method]
	}
	if !ok {
		rn.tb.Errorf("no recorded answer to %s %s", req.Method, params.String())
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(env, &m); err != nil {
		rn.tb.Errorf("recorded answer to %s: %v", req.Method, err)
		return nil
	}
	m["id"] = req.ID
	out, _ := json.Marshal(m)
	return out
}

func (rn *replayNode) postsOf(method string) int {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return rn.posts[method]
}

// recordedChain is the chain a recording holds: its blocks by height.
func recordedChain(tb testing.TB, ctx context.Context, node *Node) []*wire.MsgBlock {
	tb.Helper()
	best, err := node.BestHeight(ctx)
	require.NoError(tb, err)
	hashes, err := node.BlockHashes(ctx, 0, int(best)+1)
	require.NoError(tb, err)
	blocks, err := node.Blocks(ctx, hashes)
	require.NoError(tb, err)
	return blocks
}

// TestLookupFiltersMatchBtcd checks the BIP-158 filters btcd (getcfilter)
// and bitcoind (getblockfilter) served for every block of the recorded
// chain are, byte for byte, btcd's gcs/builder.BuildBasicFilter of the
// same block and the scripts its inputs spend: the verifier's filter
// matching reads the real nodes' filters right. Each comes in one batch.
func TestLookupFiltersMatchBtcd(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		kind   Kind
		file   string
		method string
	}{
		{name: "btcd", kind: KindBtcd, file: "btcd.json", method: "getcfilter"},
		{name: "btcd, kind detected", file: "btcd.json", method: "getcfilter"},
		{name: "bitcoind", kind: KindBitcoind, file: "bitcoind.json", method: "getblockfilter"},
		{name: "bitcoind, kind detected", file: "bitcoind.json", method: "getblockfilter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rn, node := mustReplayNode(t, tc.kind, tc.file)
			blocks := recordedChain(t, ctx, node)
			require.Len(t, blocks, 106)
			hashes := make([]chainhash.Hash, len(blocks))
			outputs := map[wire.OutPoint][]byte{}
			want := make([][]byte, len(blocks))
			for h, b := range blocks {
				hashes[h] = b.BlockHash()
				var spent [][]byte
				for _, tx := range b.Transactions {
					for _, in := range tx.TxIn {
						if s, ok := outputs[in.PreviousOutPoint]; ok {
							spent = append(spent, s)
						}
					}
					for i, o := range tx.TxOut {
						outputs[wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}] = o.PkScript
					}
				}
				f, err := builder.BuildBasicFilter(b, spent)
				require.NoError(t, err)
				want[h], err = f.NBytes()
				require.NoError(t, err)
			}
			before := rn.postsOf(tc.method)
			got, err := node.BlockFilters(ctx, hashes)
			require.NoError(t, err)
			require.Equal(t, want, got)
			require.LessOrEqual(t, rn.postsOf(tc.method)-before, 2, "one batch (after one probe when the kind is detected)")
			// F (102) pays the wallet's receive/2 and S (104) spends it:
			// both filters match that script, 103's does not.
			script := MustScript(t, MustDescriptor(t), reserve.BranchReceive, 2)
			for h, match := range map[int]bool{102: true, 103: false, 104: true} {
				f, err := gcs.FromNBytes(builder.DefaultP, builder.DefaultM, got[h])
				require.NoError(t, err)
				ok, err := f.Match(builder.DeriveKey(&hashes[h]), script)
				require.NoError(t, err)
				require.Equal(t, match, ok, "block %d", h)
			}
		})
	}
}

// TestLookupNoFilters checks a node that serves no filters says so with
// ErrNoBlockFilters, whichever method it refuses and how.
func TestLookupNoFilters(t *testing.T) {
	ctx := context.Background()
	genesis := chainhash.Hash(*mustHashPtr(t, "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"))
	for _, tc := range []struct {
		name  string
		kind  Kind
		files []string
	}{
		{name: "bitcoind without -blockfilterindex", kind: KindBitcoind, files: []string{"bitcoind_noindex.json"}},
		{name: "bitcoind without the index, kind detected", files: []string{"bitcoind_noindex.json", "bitcoind.json"}},
		{name: "btcd --nocfilters", kind: KindBtcd, files: []string{"btcd_nocfilters.json"}},
		{name: "btcd --nocfilters, kind detected", files: []string{"btcd_nocfilters.json", "btcd.json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, node := mustReplayNode(t, tc.kind, tc.files...)
			_, err := node.BlockFilters(ctx, []chainhash.Hash{genesis})
			require.ErrorIs(t, err, ErrNoBlockFilters)
		})
	}
}

func mustHashPtr(tb testing.TB, s string) *chainhash.Hash {
	tb.Helper()
	h, err := chainhash.NewHashFromStr(s)
	require.NoError(tb, err)
	return h
}

// TestLookupUnspentOutputs reads the recorded UTXO set: F:0 and F:2
// (created at 102) and S:0 (104) unspent, F:1 (spent at 104), the spent
// coinbase and an unknown outpoint absent; in one gettxout batch and one
// getblockheader for the best block.
func TestLookupUnspentOutputs(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		kind Kind
		file string
	}{
		{name: "btcd", kind: KindBtcd, file: "btcd.json"},
		{name: "bitcoind", kind: KindBitcoind, file: "bitcoind.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rn, node := mustReplayNode(t, tc.kind, tc.file)
			best, err := node.BestHeight(ctx)
			require.NoError(t, err)
			require.Equal(t, int32(105), best)
			blocks := recordedChain(t, ctx, node)
			f, s := blocks[102].Transactions[1], blocks[104].Transactions[1]
			var unknown chainhash.Hash
			unknown[0] = 1
			ops := []wire.OutPoint{op(f, 0), op(f, 1), op(f, 2), op(s, 0), f.TxIn[0].PreviousOutPoint, {Hash: unknown}}
			got, err := node.UnspentOutputs(ctx, ops)
			require.NoError(t, err)
			want := []Unspent{
				{Found: true, TxOut: *f.TxOut[0], Height: 102},
				{},
				{Found: true, TxOut: *f.TxOut[2], Height: 102},
				{Found: true, TxOut: *s.TxOut[0], Height: 104},
				{},
				{},
			}
			require.Equal(t, want, got)
			require.Equal(t, MustScript(t, MustDescriptor(t), reserve.BranchReceive, 1), got[0].TxOut.PkScript)
			require.Equal(t, 1, rn.postsOf("gettxout"))
			require.Equal(t, 1, rn.postsOf("getblockheader"))
		})
	}
}
