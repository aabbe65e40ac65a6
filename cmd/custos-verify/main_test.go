package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/proof"
	"github.com/custos-reserve/custos/reserve"
)

// The tests run the command against a JSON-RPC server replaying what real
// regtest nodes answered (daemon/chain/testdata/lookup, README there): at
// 102 transaction F pays the wallet of the seeds "cosigner A/B/C" 1 BTC
// (F:0, receive/1) and 2 BTC (F:1, receive/2); at 104 F:1 is spent; the
// tip is 105.

const (
	rpcUser = "verifier"
	rpcPass = "correct horse battery staple"
)

// replay serves a recording, checking the caller's credentials.
type replay struct {
	tb       testing.TB
	answers  map[string]json.RawMessage
	notFound map[string]json.RawMessage
}

type recordedCall struct {
	Method   string          `json:"method"`
	Params   json.RawMessage `json:"params"`
	Response json.RawMessage `json:"response"`
}

func mustRecording(tb testing.TB, name string) []recordedCall {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "daemon", "chain", "testdata", "lookup", name))
	require.NoError(tb, err)
	var calls []recordedCall
	require.NoError(tb, json.Unmarshal(b, &calls))
	return calls
}

// mustReplay serves the recording name and returns its host:port.
func mustReplay(tb testing.TB, name string) string {
	tb.Helper()
	rp := &replay{tb: tb, answers: map[string]json.RawMessage{}, notFound: map[string]json.RawMessage{}}
	for _, c := range mustRecording(tb, name) {
		rp.answers[c.Method+" "+string(c.Params)] = c.Response
		if bytes.Contains(c.Response, []byte(`"code":-32601`)) {
			rp.notFound[c.Method] = c.Response
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(rp.serve))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

type rpcRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	ID     json.RawMessage `json:"id"`
}

func (rp *replay) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != rpcUser || p != rpcPass {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	body, _ := io.ReadAll(r.Body)
	body = bytes.TrimSpace(body)
	batch := len(body) > 0 && body[0] == '['
	if !batch {
		body = append(append([]byte{'['}, body...), ']')
	}
	var reqs []rpcRequest
	if err := json.Unmarshal(body, &reqs); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	out := make([]json.RawMessage, len(reqs))
	for i, req := range reqs {
		var params bytes.Buffer
		_ = json.Compact(&params, req.Params)
		env, ok := rp.answers[req.Method+" "+params.String()]
		if !ok {
			env, ok = rp.notFound[req.Method]
		}
		if !ok {
			rp.tb.Errorf("no recorded answer to %s %s", req.Method, params.String())
			http.Error(w, "not recorded", http.StatusInternalServerError)
			return
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(env, &m)
		m["id"] = req.ID
		out[i], _ = json.Marshal(m)
	}
	if batch {
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	_, _ = w.Write(out[0])
}

// recordedBlocks returns the recording's blocks by height.
func recordedBlocks(tb testing.TB, name string) []*wire.MsgBlock {
	tb.Helper()
	var hashes []string
	raw := map[string]string{}
	for _, c := range mustRecording(tb, name) {
		var env struct {
			Result json.RawMessage `json:"result"`
		}
		require.NoError(tb, json.Unmarshal(c.Response, &env))
		var params []json.RawMessage
		require.NoError(tb, json.Unmarshal(c.Params, &params))
		switch c.Method {
		case "getblockhash":
			var h string
			require.NoError(tb, json.Unmarshal(env.Result, &h))
			hashes = append(hashes, h)
		case "getblock":
			var h, s string
			require.NoError(tb, json.Unmarshal(params[0], &h))
			require.NoError(tb, json.Unmarshal(env.Result, &s))
			raw[h] = s
		}
	}
	blocks := make([]*wire.MsgBlock, len(hashes))
	for i, h := range hashes {
		b, err := hex.DecodeString(raw[h])
		require.NoError(tb, err)
		blocks[i] = &wire.MsgBlock{}
		require.NoError(tb, blocks[i].Deserialize(bytes.NewReader(b)))
	}
	return blocks
}

// wallet is the recording's 2-of-3 wallet (daemon/chain's MustDescriptor).
type wallet struct {
	d    *multisig.Descriptor
	keys []*hdkeychain.ExtendedKey
}

func mustWallet(tb testing.TB) wallet {
	tb.Helper()
	var w wallet
	var cs []reserve.Cosigner
	for _, label := range []string{"cosigner A", "cosigner B", "cosigner C"} {
		seed := sha256.Sum256([]byte("custos chain test seed: " + label))
		c, xprv, err := multisig.DeriveAccount(seed[:], reserve.Regtest, 0)
		require.NoError(tb, err)
		cs = append(cs, c)
		w.keys = append(w.keys, xprv)
	}
	d, err := multisig.NewDescriptor(reserve.Regtest, 2, cs)
	require.NoError(tb, err)
	w.d = d
	return w
}

// mustProofFile builds a proof over F:0 and F:1 signed by cosigners A and
// B, at height (naming the hash of block hashAt), writes it to a file and
// returns its path.
func mustProofFile(tb testing.TB, blocks []*wire.MsgBlock, height, hashAt int32, withDescriptor bool) string {
	tb.Helper()
	w := mustWallet(tb)
	f := blocks[102].Transactions[1]
	var buf bytes.Buffer
	require.NoError(tb, f.Serialize(&buf))
	var coins []multisig.ProofCoin
	for i, index := range []uint32{1, 2} {
		coins = append(coins, multisig.ProofCoin{UTXO: reserve.UTXO{
			OutPoint: wire.OutPoint{Hash: f.TxHash(), Index: uint32(i)}, AmountSat: f.TxOut[i].Value,
			Script: f.TxOut[i].PkScript, Branch: reserve.BranchReceive, Index: index,
		}, PrevTx: buf.Bytes()})
	}
	const msg = "Reserve audit 2026-12-03: challenge 5e1f"
	p, err := w.d.BuildProof([]byte(msg), coins)
	require.NoError(tb, err)
	for _, k := range w.keys[:2] {
		_, err := multisig.SignProof(p, w.d, k)
		require.NoError(tb, err)
	}
	tx, err := multisig.FinalizeProof(p, w.d)
	require.NoError(tb, err)
	challenge, err := w.d.Derive(reserve.BranchReceive, 0)
	require.NoError(tb, err)
	file := &proof.File{
		Network: reserve.Regtest, Message: msg, ChallengeAddress: challenge.Address, Challenge: challenge.PkScript,
		Height: height, BlockHash: blocks[hashAt].BlockHash(), TotalSat: 3e8, Coins: 2, PSBT: p, Tx: tx,
		Descriptor: w.d.String(), Derivations: []proof.Derivation{{Branch: 0, Index: 1}, {Branch: 0, Index: 2}},
	}
	file.Signers, err = proof.WitnessSigners(file)
	require.NoError(tb, err)
	if !withDescriptor {
		file.Descriptor, file.Derivations = "", nil
	}
	b, err := proof.Marshal(file)
	require.NoError(tb, err)
	path := filepath.Join(tb.TempDir(), "proof.json")
	require.NoError(tb, os.WriteFile(path, b, 0o644))
	return path
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestRun(t *testing.T) {
	btcd, bitcoind := mustReplay(t, "btcd.json"), mustReplay(t, "bitcoind.json")
	btcdBlocks, coreBlocks := recordedBlocks(t, "btcd.json"), recordedBlocks(t, "bitcoind.json")
	require.Len(t, btcdBlocks, 106)
	cs := mustWallet(t).d.Cosigners()
	signers := fmt.Sprintf("signers:  %08x, %08x (read from the signatures)", cs[0].Fingerprint, cs[1].Fingerprint)
	dir := t.TempDir()
	passFile := filepath.Join(dir, "rpcpass")
	require.NoError(t, os.WriteFile(passFile, []byte(rpcPass+"\n"), 0o600))
	malformed := filepath.Join(dir, "malformed.json")
	require.NoError(t, os.WriteFile(malformed, []byte(`{"format":"custos-proof-of-reserves/v1",`), 0o644))
	spent := btcdBlocks[102].Transactions[1].TxHash().String() + ":1"

	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout []string // substrings
		err    string   // substring of the error
		html   []string // substrings of the report, when --html is given
	}{
		{
			name: "proven before the coin was spent (btcd)",
			args: []string{mustProofFile(t, btcdBlocks, 103, 103, true), "--node.rpchost", btcd, "--node.rpcuser", rpcUser, "--html", "REPORT"},
			env:  map[string]string{passEnv: rpcPass},
			stdout: []string{"proof of reserves VERIFIED", "proven:   3.00000000 BTC (300000000 sat) in 2 coins",
				"1 still unspent now, 1 spent after height 103", "every coin re-derived from the published descriptor", signers},
			html: []string{"VERIFIED", "3.00000000 BTC", "re-derived from the descriptor"},
		},
		{
			name: "proven, bitcoind, password from a file, descriptor withheld",
			args: []string{"--node.rpchost", bitcoind, "--node.rpcuser", rpcUser, "--node.rpcpassfile", passFile, "--html", "REPORT",
				mustProofFile(t, coreBlocks, 103, 103, false)},
			stdout: []string{"VERIFIED", "3.00000000 BTC", "the coins' ownership rests on the signatures alone"},
			html:   []string{"VERIFIED", "the coins' ownership rests on the signatures alone"},
		},
		{
			name: "a coin spent before the height",
			args: []string{mustProofFile(t, btcdBlocks, 105, 105, true), "--node.rpchost", btcd, "--node.rpcuser", rpcUser, "--html", "REPORT"},
			env:  map[string]string{passEnv: rpcPass}, code: 1,
			err:  "the proof FAILS: input[2]: coin " + spent + " was spent at height 104, before the proof's height 105",
			html: []string{"FAILED", "was spent at height 104, before the proof&#39;s height 105"},
		},
		{
			name: "block hash mismatch",
			args: []string{mustProofFile(t, coreBlocks, 103, 102, true), "--node.rpchost", bitcoind, "--node.rpcuser", rpcUser, "--node.kind", "bitcoind", "--html", "REPORT"},
			env:  map[string]string{passEnv: rpcPass}, code: 1,
			err:  "block_hash: block hash at 103 is " + coreBlocks[103].BlockHash().String() + ", the proof says " + coreBlocks[102].BlockHash().String(),
			html: []string{"FAILED", "block hash at 103 is"},
		},
		{
			name: "a malformed file",
			args: []string{malformed, "--node.rpchost", btcd, "--node.rpcuser", rpcUser},
			env:  map[string]string{passEnv: rpcPass}, code: 1,
			err: "is not a valid proof file: proof: not a proof file",
		},
		{
			name: "the wrong password",
			args: []string{mustProofFile(t, btcdBlocks, 103, 103, true), "--node.rpchost", btcd, "--node.rpcuser", rpcUser},
			env:  map[string]string{passEnv: "wrong"}, code: 1,
			err: "401",
		},
		{
			name: "no password flag",
			args: []string{"proof.json", "--node.rpchost", btcd, "--node.rpcpass", rpcPass},
			code: 2, err: "flag provided but not defined: -node.rpcpass",
		},
		{
			name: "cookie and user",
			args: []string{"proof.json", "--node.rpchost", btcd, "--node.rpcuser", rpcUser, "--node.rpccookie", passFile},
			code: 2, err: "--node.rpccookie replaces --node.rpcuser",
		},
		{name: "no file", args: []string{"--node.rpchost", btcd}, code: 2, err: "name the proof file"},
		{name: "no node", args: []string{"proof.json"}, code: 2, err: "--node.rpchost is required"},
		{name: "two files", args: []string{"a.json", "--node.rpchost", btcd, "b.json"}, code: 2, err: `unexpected argument "b.json"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			report := filepath.Join(t.TempDir(), "report.html")
			args := append([]string(nil), tc.args...)
			for i := range args {
				if args[i] == "REPORT" {
					args[i] = report
				}
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, env(tc.env), &stdout, &stderr)
			require.Equal(t, tc.code, exitCode(err), "%v", err)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.NotContains(t, err.Error(), rpcPass)
			}
			for _, s := range tc.stdout {
				require.Contains(t, stdout.String(), s)
			}
			if tc.html != nil {
				b, err := os.ReadFile(report)
				require.NoError(t, err, "the report is written either way")
				for _, s := range tc.html {
					require.Contains(t, string(b), s)
				}
			}
		})
	}
}
