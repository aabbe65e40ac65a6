package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// This file records testdata/lookup/*.json from a real regtest node (see
// testdata/lookup/README.md for the commands). It runs only when
// CUSTOS_LOOKUP_RECORD names what to record:
//
//	address           log the miner's address (btcd needs it at start)
//	btcd | bitcoind   make the chain below on a fresh node and record it
//	bitcoind-noindex  record getblockfilter's refusal without the index
//	btcd-nocfilters   record getcfilter's refusal under --nocfilters
//
// with CUSTOS_LOOKUP_HOST, CUSTOS_LOOKUP_USER, CUSTOS_LOOKUP_PASS and
// CUSTOS_LOOKUP_OUT (the file to write).
//
// The chain: 101 blocks paying the miner; at 102 transaction F pays the
// wallet of MustDescriptor 1 BTC at receive/1 (F:0) and 2 BTC at
// receive/2 (F:1), the rest back to the miner (F:2); 103 empty; at 104
// transaction S spends F:1 (cosigners A and B) back to the miner; 105
// empty.

// recordMinerKey is the miner's key: SHA-256 of a fixed label.
func recordMinerKey() (*btcec.PrivateKey, btcutil.Address, []byte) {
	seed := sha256.Sum256([]byte("custos lookup recording: miner"))
	priv, pub := btcec.PrivKeyFromBytes(seed[:])
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), &chaincfg.RegressionNetParams)
	if err != nil {
		panic(err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		panic(err)
	}
	return priv, addr, script
}

// recordedCall is one request and the node's whole answer to it.
type recordedCall struct {
	Method   string          `json:"method"`
	Params   json.RawMessage `json:"params"`
	Response json.RawMessage `json:"response"`
}

// recorder posts single JSON-RPC requests and keeps their answers.
type recorder struct {
	tb               testing.TB
	host, user, pass string
	calls            []recordedCall
	id               int
}

// do sends one request and returns its result, failing on a refusal
// unless keep is set; keep also records the answer.
func (r *recorder) do(keep bool, method string, params ...any) json.RawMessage {
	r.tb.Helper()
	if params == nil {
		params = []any{}
	}
	r.id++
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": r.id, "method": method, "params": params})
	require.NoError(r.tb, err)
	req, err := http.NewRequest(http.MethodPost, "http://"+r.host, bytes.NewReader(body))
	require.NoError(r.tb, err)
	req.SetBasicAuth(r.user, r.pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.tb, err)
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(r.tb, err)
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	require.NoError(r.tb, json.Unmarshal(raw, &env), "%s: %s", method, raw)
	if keep {
		p, err := json.Marshal(params)
		require.NoError(r.tb, err)
		r.calls = append(r.calls, recordedCall{Method: method, Params: p, Response: bytes.TrimSpace(raw)})
	} else {
		require.True(r.tb, len(env.Error) == 0 || string(env.Error) == "null", "%s: %s", method, raw)
	}
	return env.Result
}

func (r *recorder) write(path string) {
	r.tb.Helper()
	var b strings.Builder
	b.WriteString("[\n")
	for i, c := range r.calls {
		line, err := json.Marshal(c)
		require.NoError(r.tb, err)
		b.Write(line)
		if i < len(r.calls)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	require.NoError(r.tb, os.WriteFile(path, []byte(b.String()), 0o644))
}

func TestRecordLookup(t *testing.T) {
	what := os.Getenv("CUSTOS_LOOKUP_RECORD")
	if what == "" {
		t.Skip("records testdata/lookup from a real node: set CUSTOS_LOOKUP_RECORD (see testdata/lookup/README.md)")
	}
	_, minerAddr, _ := recordMinerKey()
	if what == "address" {
		t.Logf("miner address: %s", minerAddr.EncodeAddress())
		return
	}
	r := &recorder{tb: t, host: os.Getenv("CUSTOS_LOOKUP_HOST"), user: os.Getenv("CUSTOS_LOOKUP_USER"), pass: os.Getenv("CUSTOS_LOOKUP_PASS")}
	out := os.Getenv("CUSTOS_LOOKUP_OUT")
	require.NotEmpty(t, out, "CUSTOS_LOOKUP_OUT")
	switch what {
	case "bitcoind-noindex", "btcd-nocfilters":
		h := r.do(false, "getblockhash", 0)
		var hash string
		require.NoError(t, json.Unmarshal(h, &hash))
		if what == "btcd-nocfilters" {
			r.do(true, "getcfilter", hash, 0)
		} else {
			r.do(true, "getblockfilter", hash, "basic")
		}
		r.write(out)
		return
	case "btcd", "bitcoind":
	default:
		t.Fatalf("CUSTOS_LOOKUP_RECORD=%q: want address, btcd, bitcoind, bitcoind-noindex or btcd-nocfilters", what)
	}
	mine := func(n int) {
		if what == "btcd" {
			r.do(false, "generate", n)
		} else {
			r.do(false, "generatetoaddress", n, minerAddr.EncodeAddress())
		}
	}
	require.JSONEq(t, "0", string(r.do(false, "getblockcount")), "the node must be fresh")
	mine(101)
	f, s := recordSpends(t, r)
	r.do(false, "sendrawtransaction", txHex(t, f))
	mine(2) // 102 (F), 103
	r.do(false, "sendrawtransaction", txHex(t, s))
	mine(2) // 104 (S), 105

	r.do(true, "getblockcount")
	r.do(true, "getbestblockhash")
	var best string
	for h := 0; h <= 105; h++ {
		var hash string
		require.NoError(t, json.Unmarshal(r.do(true, "getblockhash", h), &hash))
		r.do(true, "getblock", hash, 0)
		if what == "btcd" {
			r.do(true, "getcfilter", hash, 0)
		} else {
			r.do(true, "getblockfilter", hash, "basic")
		}
		best = hash
	}
	r.do(true, "getblockheader", best, true)
	// The other node's filter method, refused (auto-detection tries it).
	if what == "btcd" {
		r.do(true, "getblockfilter", best, "basic")
	} else {
		r.do(true, "getcfilter", best, 0)
	}
	cb := f.TxIn[0].PreviousOutPoint
	var unknown chainhash.Hash
	unknown[0] = 1
	for _, op := range []wire.OutPoint{
		{Hash: f.TxHash(), Index: 0}, {Hash: f.TxHash(), Index: 1}, {Hash: f.TxHash(), Index: 2},
		{Hash: s.TxHash(), Index: 0}, cb, {Hash: unknown, Index: 0},
	} {
		r.do(true, "gettxout", op.Hash.String(), op.Index, false)
	}
	r.write(out)
}

// recordSpends makes F (spending block 1's coinbase) and S (spending F:1).
func recordSpends(t *testing.T, r *recorder) (*wire.MsgTx, *wire.MsgTx) {
	priv, _, minerScript := recordMinerKey()
	var hash string
	require.NoError(t, json.Unmarshal(r.do(false, "getblockhash", 1), &hash))
	var blockHex string
	require.NoError(t, json.Unmarshal(r.do(false, "getblock", hash, 0), &blockHex))
	raw, err := hex.DecodeString(blockHex)
	require.NoError(t, err)
	var b wire.MsgBlock
	require.NoError(t, b.Deserialize(bytes.NewReader(raw)))
	cb := b.Transactions[0]
	require.Equal(t, minerScript, cb.TxOut[0].PkScript)
	value := cb.TxOut[0].Value

	d := MustDescriptor(t)
	r1, err := d.Derive(reserve.BranchReceive, 1)
	require.NoError(t, err)
	r2, err := d.Derive(reserve.BranchReceive, 2)
	require.NoError(t, err)
	f := wire.NewMsgTx(2)
	f.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: cb.TxHash(), Index: 0}, nil, nil))
	f.AddTxOut(wire.NewTxOut(1e8, r1.PkScript))
	f.AddTxOut(wire.NewTxOut(2e8, r2.PkScript))
	f.AddTxOut(wire.NewTxOut(value-3e8-10_000, minerScript))
	fetch := txscript.NewCannedPrevOutputFetcher(minerScript, value)
	wit, err := txscript.WitnessSignature(f, txscript.NewTxSigHashes(f, fetch), 0, value, minerScript, txscript.SigHashAll, priv, true)
	require.NoError(t, err)
	f.TxIn[0].Witness = wit

	s := wire.NewMsgTx(2)
	s.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: f.TxHash(), Index: 1}, nil, nil))
	s.AddTxOut(wire.NewTxOut(2e8-10_000, minerScript))
	fetch = txscript.NewCannedPrevOutputFetcher(r2.PkScript, 2e8)
	hashes := txscript.NewTxSigHashes(s, fetch)
	// Sign with A and B; the witness takes the signatures in the order of
	// the script's (sorted) keys.
	type keySig struct {
		pub []byte
		sig []byte
	}
	var sigs []keySig
	for i, label := range []string{"cosigner A", "cosigner B"} {
		_, acct, err := multisig.DeriveAccount(FixedSeed(label), reserve.Regtest, 0)
		require.NoError(t, err)
		br, err := acct.Derive(uint32(reserve.BranchReceive))
		require.NoError(t, err)
		child, err := br.Derive(2)
		require.NoError(t, err)
		key, err := child.ECPrivKey()
		require.NoError(t, err)
		require.Equal(t, r2.PubKeys[i], key.PubKey().SerializeCompressed())
		sig, err := txscript.RawTxInWitnessSignature(s, hashes, 0, 2e8, r2.WitnessScript, txscript.SigHashAll, key)
		require.NoError(t, err)
		sigs = append(sigs, keySig{pub: r2.PubKeys[i], sig: sig})
	}
	sort.Slice(sigs, func(i, j int) bool { return bytes.Compare(sigs[i].pub, sigs[j].pub) < 0 })
	s.TxIn[0].Witness = wire.TxWitness{nil, sigs[0].sig, sigs[1].sig, r2.WitnessScript}
	return f, s
}

func txHex(t *testing.T, tx *wire.MsgTx) string {
	var buf bytes.Buffer
	require.NoError(t, tx.Serialize(&buf))
	return hex.EncodeToString(buf.Bytes())
}
