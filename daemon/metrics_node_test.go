package daemon_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// nodeDouble is a regtest JSON-RPC node double: the calls the follower
// and the broadcast make, over a chain the test mines. It checks the RPC
// password, accepts every transaction it is sent into its mempool, and
// puts the mempool into the next block mined. down makes every call fail
// as a node shutting down would.
type nodeDouble struct {
	user, pass string

	mu      sync.Mutex
	blocks  []*wire.MsgBlock
	mempool []*wire.MsgTx
	down    bool
}

// mustNodeDouble serves a chain of height blocks above genesis on
// loopback and returns its host:port.
func mustNodeDouble(tb testing.TB, height int32, user, pass string) (*nodeDouble, string) {
	tb.Helper()
	n := &nodeDouble{user: user, pass: pass}
	for range height + 1 {
		n.mine()
	}
	srv := httptest.NewServer(http.HandlerFunc(n.serve))
	tb.Cleanup(srv.Close)
	return n, strings.TrimPrefix(srv.URL, "http://")
}

// mine appends a block holding txs and the mempool.
func (n *nodeDouble) mine(txs ...*wire.MsgTx) {
	n.mu.Lock()
	defer n.mu.Unlock()
	height := int32(len(n.blocks))
	var prev chainhash.Hash
	if height > 0 {
		prev = n.blocks[height-1].BlockHash()
	}
	cb := wire.NewMsgTx(1)
	cb.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex}, SignatureScript: []byte{4, byte(height), byte(height >> 8), 0, 0, 0x51}})
	cb.AddTxOut(wire.NewTxOut(50_0000_0000, []byte{0x51}))
	root := cb.TxHash()
	b := wire.NewMsgBlock(wire.NewBlockHeader(1, &prev, &root, 0x207fffff, uint32(height)))
	b.Header.Timestamp = time.Unix(1700000000+int64(height)*600, 0)
	b.AddTransaction(cb)
	for _, tx := range append(txs, n.mempool...) {
		b.AddTransaction(tx)
	}
	n.mempool = nil
	n.blocks = append(n.blocks, b)
}

func (n *nodeDouble) setDown(down bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.down = down
}

// tip is the height of the best block.
func (n *nodeDouble) tip() int32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return int32(len(n.blocks) - 1)
}

type doubleRequest struct {
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
	ID     json.RawMessage   `json:"id"`
}

type doubleResponse struct {
	Result any               `json:"result"`
	Error  *btcjson.RPCError `json:"error"`
	ID     json.RawMessage   `json:"id"`
}

func (n *nodeDouble) serve(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	down := n.down
	n.mu.Unlock()
	if down {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != n.user || p != n.pass {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body = bytes.TrimSpace(body)
	w.Header().Set("Content-Type", "application/json")
	if len(body) > 0 && body[0] == '[' {
		var reqs []doubleRequest
		if err := json.Unmarshal(body, &reqs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resps := make([]doubleResponse, len(reqs))
		for i, req := range reqs {
			resps[i] = n.answer(req)
		}
		_ = json.NewEncoder(w).Encode(resps)
		return
	}
	var req doubleRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_ = json.NewEncoder(w).Encode(n.answer(req))
}

func serialize(tx *wire.MsgTx) string {
	var buf bytes.Buffer
	_ = tx.Serialize(&buf)
	return hex.EncodeToString(buf.Bytes())
}

func decodeParamTx(raw json.RawMessage) (*wire.MsgTx, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var ss []string
		if json.Unmarshal(raw, &ss) != nil || len(ss) != 1 {
			return nil, false
		}
		s = ss[0]
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, false
	}
	var tx wire.MsgTx
	if tx.Deserialize(bytes.NewReader(b)) != nil {
		return nil, false
	}
	return &tx, true
}

func (n *nodeDouble) answer(req doubleRequest) doubleResponse {
	n.mu.Lock()
	defer n.mu.Unlock()
	resp := doubleResponse{ID: req.ID}
	tip := len(n.blocks) - 1
	param := func(i int) json.RawMessage {
		if i < len(req.Params) {
			return req.Params[i]
		}
		return nil
	}
	switch req.Method {
	case "getblockchaininfo":
		resp.Result = map[string]any{"chain": "regtest", "blocks": tip, "bestblockhash": n.blocks[tip].BlockHash().String()}
	case "getblockhash":
		var h int
		if json.Unmarshal(param(0), &h) != nil || h < 0 || h > tip {
			resp.Error = &btcjson.RPCError{Code: btcjson.ErrRPCOutOfRange, Message: "Block number out of range"}
			break
		}
		resp.Result = n.blocks[h].BlockHash().String()
	case "getblock":
		var s string
		_ = json.Unmarshal(param(0), &s)
		resp.Error = &btcjson.RPCError{Code: btcjson.ErrRPCBlockNotFound, Message: "Block not found"}
		for _, b := range n.blocks {
			if b.BlockHash().String() == s {
				var buf bytes.Buffer
				_ = b.Serialize(&buf)
				resp.Result, resp.Error = hex.EncodeToString(buf.Bytes()), nil
			}
		}
	case "getrawmempool":
		ids := []string{}
		for _, tx := range n.mempool {
			ids = append(ids, tx.TxHash().String())
		}
		resp.Result = ids
	case "getrawtransaction":
		var s string
		_ = json.Unmarshal(param(0), &s)
		resp.Error = &btcjson.RPCError{Code: btcjson.ErrRPCInvalidAddressOrKey, Message: "No such mempool or blockchain transaction"}
		for _, tx := range n.mempool {
			if tx.TxHash().String() == s {
				resp.Result, resp.Error = serialize(tx), nil
			}
		}
	case "testmempoolaccept":
		tx, ok := decodeParamTx(param(0))
		if !ok {
			resp.Error = &btcjson.RPCError{Code: btcjson.ErrRPCDeserialization, Message: "TX decode failed"}
			break
		}
		resp.Result = []map[string]any{{"txid": tx.TxHash().String(), "allowed": true}}
	case "sendrawtransaction":
		tx, ok := decodeParamTx(param(0))
		if !ok {
			resp.Error = &btcjson.RPCError{Code: btcjson.ErrRPCDeserialization, Message: "TX decode failed"}
			break
		}
		known := false
		for _, m := range n.mempool {
			known = known || m.TxHash() == tx.TxHash()
		}
		if !known {
			n.mempool = append(n.mempool, tx)
		}
		resp.Result = tx.TxHash().String()
	default:
		resp.Error = &btcjson.RPCError{Code: btcjson.ErrRPCMethodNotFound.Code, Message: "Method not found"}
	}
	return resp
}
