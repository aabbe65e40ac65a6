package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/reserve"
)

// recording is one JSON-RPC envelope recorded from a real node
// (testdata/broadcast/README.md).
type recording struct {
	Result json.RawMessage   `json:"result"`
	Error  *btcjson.RPCError `json:"error"`
}

func mustRecording(t *testing.T, file string) recording {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "broadcast", file))
	require.NoError(t, err)
	var r recording
	require.NoError(t, json.Unmarshal(b, &r))
	return r
}

// replayNode is the daemon's node double: it answers testmempoolaccept and
// sendrawtransaction with recorded responses, whatever transaction it is
// given. The recorded txid is replaced by the tested one (the only field
// edited), because the recording was made with another transaction.
type replayNode struct {
	t      *testing.T
	accept recording
	send   recording
	mu     sync.Mutex
	sent   int
}

func (n *replayNode) Kind() chain.Kind            { return chain.KindBtcd }
func (n *replayNode) Probe(context.Context) error { return nil }
func (n *replayNode) ChainInfo(context.Context) (chain.ChainInfo, error) {
	return chain.ChainInfo{}, nil
}
func (n *replayNode) Close() {}

func (n *replayNode) TestMempoolAccept(_ context.Context, tx *wire.MsgTx) (chain.Acceptance, error) {
	if n.accept.Error != nil {
		return chain.Acceptance{}, fmt.Errorf("testmempoolaccept: %w", n.accept.Error)
	}
	var results []map[string]any
	require.NoError(n.t, json.Unmarshal(n.accept.Result, &results))
	require.Len(n.t, results, 1)
	results[0]["txid"] = tx.TxHash().String()
	raw, err := json.Marshal(results)
	require.NoError(n.t, err)
	return chain.ParseMempoolAccept(raw, tx.TxHash())
}

func (n *replayNode) SendRawTransaction(_ context.Context, tx *wire.MsgTx) error {
	n.mu.Lock()
	n.sent++
	n.mu.Unlock()
	if n.send.Error != nil {
		// As chain.Node wraps what rpcclient returns.
		return fmt.Errorf("sendrawtransaction %s: %w", tx.TxHash(), n.send.Error)
	}
	return nil
}

func (n *replayNode) sends() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent
}

// memStore holds the proposals and UTXOs the broadcast path reads;
// reservations follow the store's rule: held while the state holds coins,
// and after it ends while the proposal may spend (2 of 3) until
// ReleaseSpent.
type memStore struct {
	Store
	mu        sync.Mutex
	proposals map[string]reserve.Proposal
	utxos     []reserve.UTXO
	tip       int32
	released  map[string]int
}

const memThreshold = 2

// ReleaseSpent checks the spend as the store does and counts releases.
func (s *memStore) ReleaseSpent(_ context.Context, id string, depth int32, _ string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.proposals[id]
	switch {
	case !ok:
		return 0, reserve.Errorf(reserve.CodeNotFound, "proposal %s", id)
	case p.State.HoldsCoins():
		return 0, reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is %s", id, p.State)
	case !p.MaySpend(memThreshold) || s.released[id] > 0:
		return 0, nil
	}
	for _, u := range s.utxos {
		if u.OutPoint == p.Inputs[0].OutPoint && u.Spent && u.SpentHeight > 0 && s.tip-u.SpentHeight+1 >= depth {
			if s.released == nil {
				s.released = make(map[string]int)
			}
			s.released[id]++
			return len(p.Inputs), nil
		}
	}
	return 0, reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s: no input spent deep enough", id)
}

func (s *memStore) UpdateProposal(_ context.Context, id string, fn func(p *reserve.Proposal) error) (reserve.Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.proposals[id]
	if !ok {
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeNotFound, "proposal %s", id)
	}
	p.History = append([]reserve.Transition(nil), p.History...)
	if err := fn(&p); err != nil {
		return reserve.Proposal{}, err
	}
	s.proposals[id] = p
	return p, nil
}

func (s *memStore) Proposal(_ context.Context, id string) (reserve.Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.proposals[id]
	if !ok {
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeNotFound, "proposal %s", id)
	}
	return p, nil
}

func (s *memStore) UTXOs(context.Context, bool) ([]reserve.UTXO, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]reserve.UTXO(nil), s.utxos...), nil
}

func (s *memStore) Reservations(context.Context) (map[wire.OutPoint]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[wire.OutPoint]string)
	for _, p := range s.proposals {
		if p.State.HoldsCoins() || (p.MaySpend(memThreshold) && s.released[p.ID] == 0) {
			for _, in := range p.Inputs {
				out[in.OutPoint] = p.ID
			}
		}
	}
	return out, nil
}

var testStart = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// mustReplayDaemon is a daemon over a memStore and node, with its
// follower built (for Kick) but not running.
func mustReplayDaemon(t *testing.T, node nodeClient, s *memStore, now func() time.Time) *Daemon {
	t.Helper()
	real, err := chain.DialNode(chain.NodeConfig{Kind: chain.KindBtcd, Host: "127.0.0.1:1"})
	require.NoError(t, err)
	t.Cleanup(real.Close)
	f, err := chain.NewFollower(chain.Config{Node: real, Store: s, Network: reserve.Regtest, Now: now})
	require.NoError(t, err)
	cfg := Config{Store: s, Network: reserve.Regtest, Now: now, ConfirmDepth: 1}
	cfg.Logger = nil
	require.NoError(t, (&cfg).fillForTest())
	return &Daemon{cfg: cfg, log: cfg.Logger, node: node, follower: f}
}

// fillForTest fills the defaults fill would, without its data-dir checks.
func (c *Config) fillForTest() error {
	c.DataDir = "unused"
	return c.fill()
}

// mustProposal makes a proposal in state spending one wallet output at
// height 100, with its final transaction, and the store's view of that
// output: unspent, or spent by spentBy at spentHeight.
func mustProposal(t *testing.T, s *memStore, id string, state reserve.State) reserve.Proposal {
	t.Helper()
	op := wire.OutPoint{Hash: chainhash.DoubleHashH([]byte(id)), Index: 0}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&op, nil, [][]byte{{1}}))
	tx.AddTxOut(wire.NewTxOut(90_000, bytes.Repeat([]byte{0x51}, 1)))
	var buf bytes.Buffer
	require.NoError(t, tx.Serialize(&buf))
	p := reserve.Proposal{
		ID: id, State: state, Inputs: []reserve.Input{{OutPoint: op}},
		Txid: tx.TxHash(), FinalTx: buf.Bytes(), CreatedAt: testStart, ExpiresAt: testStart.Add(time.Hour),
		History: []reserve.Transition{{State: state, At: testStart, Actor: "test"}},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proposals == nil {
		s.proposals = make(map[string]reserve.Proposal)
	}
	s.proposals[id] = p
	s.utxos = append(s.utxos, reserve.UTXO{OutPoint: op, AmountSat: 100_000, Height: 100})
	return p
}

// spend records in the store that the proposal's input was spent by txid
// at height (0: in the mempool).
func (s *memStore) spend(p reserve.Proposal, txid chainhash.Hash, height int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.utxos {
		if s.utxos[i].OutPoint == p.Inputs[0].OutPoint {
			s.utxos[i].Spent, s.utxos[i].SpentBy, s.utxos[i].SpentHeight = true, txid, height
		}
	}
}

// requireOutcome checks the proposal's state and that its coin stays
// reserved: these proposals have their final transaction, so even a
// FAILED one holds its coin until an input is spent deep enough and
// reconcile releases it.
func requireOutcome(t *testing.T, s *memStore, id string, want reserve.State) {
	t.Helper()
	got, err := s.Proposal(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, want.String(), got.State.String(), "history: %+v", got.History)
	res, err := s.Reservations(context.Background())
	require.NoError(t, err)
	_, held := res[got.Inputs[0].OutPoint]
	require.True(t, held, "coin reserved")
	if want == reserve.StateFailed {
		require.NotEmpty(t, got.FailReason)
	}
}

var conflictTxid = chainhash.DoubleHashH([]byte("conflicting spend"))

// TestBroadcastRefusals replays what btcd and bitcoind answered for each
// kind of refusal and checks what the daemon makes of it: BROADCAST when
// the node has the transaction, FAILED (coins held until the spend is
// buried, then released by reconcile) only when an input is
// spent by another transaction the follower saw confirmed, FINALIZED
// (coins held, retried) for everything else, policy refusals included.
func TestBroadcastRefusals(t *testing.T) {
	type view int
	const (
		viewNone view = iota
		viewConflictConfirmed
		viewConflictMempool
		viewSelfConfirmed
	)
	tests := []struct {
		name   string
		accept string // testmempoolaccept recording
		send   string // sendrawtransaction recording (when accepted)
		view   view
		want   reserve.State
	}{
		{name: "btcd accepted", accept: "btcd_testmempoolaccept_low_fee.json", send: "btcd_sendrawtransaction_low_fee.json", want: reserve.StateBroadcast},
		{name: "bitcoind refuses a fee below min relay", accept: "bitcoind_testmempoolaccept_low_fee.json", want: reserve.StateFinalized},
		{name: "btcd already confirmed", accept: "btcd_testmempoolaccept_confirmed.json", want: reserve.StateBroadcast},
		{name: "bitcoind already confirmed", accept: "bitcoind_testmempoolaccept_confirmed.json", want: reserve.StateBroadcast},
		{name: "btcd already in mempool", accept: "btcd_testmempoolaccept_in_mempool.json", want: reserve.StateBroadcast},
		{name: "bitcoind already in mempool", accept: "bitcoind_testmempoolaccept_in_mempool.json", want: reserve.StateBroadcast},
		{name: "btcd input spent by a confirmed tx the follower saw", accept: "btcd_testmempoolaccept_spent_by_confirmed.json", view: viewConflictConfirmed, want: reserve.StateFailed},
		{name: "bitcoind input spent by a confirmed tx the follower saw", accept: "bitcoind_testmempoolaccept_spent_by_confirmed.json", view: viewConflictConfirmed, want: reserve.StateFailed},
		{name: "btcd input spent, follower not there yet", accept: "btcd_testmempoolaccept_spent_by_confirmed.json", want: reserve.StateFinalized},
		{name: "bitcoind input spent, follower not there yet", accept: "bitcoind_testmempoolaccept_spent_by_confirmed.json", want: reserve.StateFinalized},
		{name: "btcd input spent, conflict only in mempool", accept: "btcd_testmempoolaccept_spent_by_confirmed.json", view: viewConflictMempool, want: reserve.StateFinalized},
		{name: "bitcoind missing inputs: it confirmed itself", accept: "bitcoind_testmempoolaccept_missing_inputs.json", view: viewSelfConfirmed, want: reserve.StateBroadcast},
		{name: "btcd input never existed", accept: "btcd_testmempoolaccept_missing_inputs.json", want: reserve.StateFinalized},
		{name: "bitcoind input never existed", accept: "bitcoind_testmempoolaccept_missing_inputs.json", want: reserve.StateFinalized},
		{name: "btcd conflict in mempool", accept: "btcd_testmempoolaccept_spent_in_mempool.json", view: viewConflictMempool, want: reserve.StateFinalized},
		{name: "bitcoind conflict in mempool, fee too low to replace", accept: "bitcoind_testmempoolaccept_spent_in_mempool.json", view: viewConflictMempool, want: reserve.StateFinalized},
		{name: "btcd non-final", accept: "btcd_testmempoolaccept_non_final.json", want: reserve.StateFinalized},
		{name: "bitcoind non-final", accept: "bitcoind_testmempoolaccept_non_final.json", want: reserve.StateFinalized},
		{name: "btcd dust", accept: "btcd_testmempoolaccept_dust.json", want: reserve.StateFinalized},
		{name: "bitcoind dust", accept: "bitcoind_testmempoolaccept_dust.json", want: reserve.StateFinalized},
		{name: "btcd bad signature", accept: "btcd_testmempoolaccept_bad_signature.json", want: reserve.StateFinalized},
		{name: "bitcoind bad signature", accept: "bitcoind_testmempoolaccept_bad_signature.json", want: reserve.StateFinalized},
		// Allowed by testmempoolaccept, refused by sendrawtransaction: a
		// race, read from the error code and message.
		{name: "btcd send: already confirmed (-27)", accept: "btcd_testmempoolaccept_low_fee.json", send: "btcd_sendrawtransaction_confirmed.json", want: reserve.StateBroadcast},
		{name: "bitcoind send: already confirmed (-27)", accept: "btcd_testmempoolaccept_low_fee.json", send: "bitcoind_sendrawtransaction_confirmed.json", want: reserve.StateBroadcast},
		{name: "btcd send: already in mempool (-26)", accept: "btcd_testmempoolaccept_low_fee.json", send: "btcd_sendrawtransaction_in_mempool.json", want: reserve.StateBroadcast},
		{name: "btcd send: orphan, conflict confirmed (-25)", accept: "btcd_testmempoolaccept_low_fee.json", send: "btcd_sendrawtransaction_spent_by_confirmed.json", view: viewConflictConfirmed, want: reserve.StateFailed},
		{name: "bitcoind send: missingorspent, conflict confirmed (-25)", accept: "btcd_testmempoolaccept_low_fee.json", send: "bitcoind_sendrawtransaction_spent_by_confirmed.json", view: viewConflictConfirmed, want: reserve.StateFailed},
		{name: "btcd send: orphan, no confirmed conflict (-25)", accept: "btcd_testmempoolaccept_low_fee.json", send: "btcd_sendrawtransaction_missing_inputs.json", want: reserve.StateFinalized},
		{name: "bitcoind send: missingorspent, no confirmed conflict (-25)", accept: "btcd_testmempoolaccept_low_fee.json", send: "bitcoind_sendrawtransaction_missing_inputs.json", want: reserve.StateFinalized},
		{name: "btcd send: conflict in mempool (-26)", accept: "btcd_testmempoolaccept_low_fee.json", send: "btcd_sendrawtransaction_spent_in_mempool.json", want: reserve.StateFinalized},
		{name: "bitcoind send: insufficient fee to replace (-26)", accept: "btcd_testmempoolaccept_low_fee.json", send: "bitcoind_sendrawtransaction_spent_in_mempool.json", want: reserve.StateFinalized},
		{name: "bitcoind send: min relay fee (-26)", accept: "btcd_testmempoolaccept_low_fee.json", send: "bitcoind_sendrawtransaction_low_fee.json", want: reserve.StateFinalized},
		{name: "btcd send: not standard, dust (-26)", accept: "btcd_testmempoolaccept_low_fee.json", send: "btcd_sendrawtransaction_dust.json", want: reserve.StateFinalized},
		{name: "bitcoind send: dust (-26)", accept: "btcd_testmempoolaccept_low_fee.json", send: "bitcoind_sendrawtransaction_dust.json", want: reserve.StateFinalized},
		{name: "btcd send: non-final (-26)", accept: "btcd_testmempoolaccept_low_fee.json", send: "btcd_sendrawtransaction_non_final.json", want: reserve.StateFinalized},
		{name: "bitcoind send: non-final (-26)", accept: "btcd_testmempoolaccept_low_fee.json", send: "bitcoind_sendrawtransaction_non_final.json", want: reserve.StateFinalized},
		{name: "btcd send: bad signature (-25)", accept: "btcd_testmempoolaccept_low_fee.json", send: "btcd_sendrawtransaction_bad_signature.json", view: viewConflictConfirmed, want: reserve.StateFinalized},
		{name: "bitcoind send: bad signature (-26)", accept: "btcd_testmempoolaccept_low_fee.json", send: "bitcoind_sendrawtransaction_bad_signature.json", view: viewConflictConfirmed, want: reserve.StateFinalized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node := &replayNode{t: t, accept: mustRecording(t, tc.accept)}
			if tc.send != "" {
				node.send = mustRecording(t, tc.send)
			}
			s := &memStore{tip: 120}
			d := mustReplayDaemon(t, node, s, func() time.Time { return testStart })
			p := mustProposal(t, s, "p1", reserve.StateFinalized)
			switch tc.view {
			case viewConflictConfirmed:
				s.spend(p, conflictTxid, 111)
			case viewConflictMempool:
				s.spend(p, conflictTxid, 0)
			case viewSelfConfirmed:
				s.spend(p, p.Txid, 111)
			case viewNone:
			}
			d.broadcast(context.Background(), p)
			requireOutcome(t, s, p.ID, tc.want)
			// A proposal left FINALIZED says why, with the node's words;
			// one that moved on has no note.
			note := d.waiting.get(p.ID)
			if tc.want == reserve.StateFinalized {
				require.Contains(t, note, "the node refused it (code ")
				require.Contains(t, note, "; retried")
			} else {
				require.Empty(t, note)
			}
		})
	}
}

// TestRefusalUnknownCodeRetries: a refusal in no table keeps the proposal
// FINALIZED even when the follower saw a conflicting spend confirmed —
// reconcile fails it on that view, not the broadcast on words it cannot
// read.
func TestRefusalUnknownCodeRetries(t *testing.T) {
	node := &replayNode{t: t, accept: mustRecording(t, "btcd_testmempoolaccept_low_fee.json"),
		send: recording{Error: &btcjson.RPCError{Code: -1, Message: "something new"}}}
	s := &memStore{}
	d := mustReplayDaemon(t, node, s, func() time.Time { return testStart })
	p := mustProposal(t, s, "p1", reserve.StateFinalized)
	d.broadcast(context.Background(), p)
	requireOutcome(t, s, p.ID, reserve.StateFinalized)
	require.Equal(t, refusalRetry, classify(-1, "something new").class)
}

// classOfRecording reads a recorded answer as the daemon does: a
// testmempoolaccept reject-reason under codeAccept, a sendrawtransaction
// error under its code. accepted is true when the node took the
// transaction.
func classOfRecording(t *testing.T, file string) (accepted bool, class refusal) {
	t.Helper()
	r := mustRecording(t, file)
	require.Nil(t, r.Error, "the recorded call itself succeeded or was refused as a transaction")
	if strings.Contains(file, "_testmempoolaccept_") {
		var results []map[string]any
		require.NoError(t, json.Unmarshal(r.Result, &results))
		require.Len(t, results, 1)
		txid, err := chainhash.NewHashFromStr(results[0]["txid"].(string))
		require.NoError(t, err)
		acc, err := chain.ParseMempoolAccept(r.Result, *txid)
		require.NoError(t, err)
		if acc.Allowed {
			return true, refusalRetry
		}
		return false, classify(codeAccept, acc.Reason).class
	}
	return false, refusalRetry
}

// TestRecordedRefusalClasses maps every recorded refusal of both nodes to
// its class, code first: -27 is known whatever it says; -25 is a missing
// or spent input only with the node's words for it; policy refusals,
// conflicts in the mempool and bad signatures are retried.
func TestRecordedRefusalClasses(t *testing.T) {
	const accepted = refusal(-1)
	want := map[string]refusal{
		"bitcoind_testmempoolaccept_bad_signature.json":      refusalRetry,
		"bitcoind_testmempoolaccept_confirmed.json":          refusalKnown,
		"bitcoind_testmempoolaccept_dust.json":               refusalRetry,
		"bitcoind_testmempoolaccept_in_mempool.json":         refusalKnown,
		"bitcoind_testmempoolaccept_low_fee.json":            refusalRetry,
		"bitcoind_testmempoolaccept_missing_inputs.json":     refusalInputs,
		"bitcoind_testmempoolaccept_non_final.json":          refusalRetry,
		"bitcoind_testmempoolaccept_spent_by_confirmed.json": refusalInputs,
		"bitcoind_testmempoolaccept_spent_in_mempool.json":   refusalRetry,
		"btcd_testmempoolaccept_bad_signature.json":          refusalRetry,
		"btcd_testmempoolaccept_confirmed.json":              refusalKnown,
		"btcd_testmempoolaccept_dust.json":                   refusalRetry,
		"btcd_testmempoolaccept_in_mempool.json":             refusalKnown,
		"btcd_testmempoolaccept_low_fee.json":                accepted,
		"btcd_testmempoolaccept_missing_inputs.json":         refusalInputs,
		"btcd_testmempoolaccept_non_final.json":              refusalRetry,
		"btcd_testmempoolaccept_spent_by_confirmed.json":     refusalInputs,
		"btcd_testmempoolaccept_spent_in_mempool.json":       refusalRetry,

		"bitcoind_sendrawtransaction_bad_signature.json":      refusalRetry, // -26
		"bitcoind_sendrawtransaction_confirmed.json":          refusalKnown, // -27
		"bitcoind_sendrawtransaction_dust.json":               refusalRetry, // -26
		"bitcoind_sendrawtransaction_in_mempool.json":         accepted,
		"bitcoind_sendrawtransaction_low_fee.json":            refusalRetry,  // -26
		"bitcoind_sendrawtransaction_missing_inputs.json":     refusalInputs, // -25
		"bitcoind_sendrawtransaction_non_final.json":          refusalRetry,  // -26
		"bitcoind_sendrawtransaction_spent_by_confirmed.json": refusalInputs, // -25
		"bitcoind_sendrawtransaction_spent_in_mempool.json":   refusalRetry,  // -26
		"btcd_sendrawtransaction_bad_signature.json":          refusalRetry,  // -25, not an orphan
		"btcd_sendrawtransaction_confirmed.json":              refusalKnown,  // -27
		"btcd_sendrawtransaction_dust.json":                   refusalRetry,  // -26
		"btcd_sendrawtransaction_in_mempool.json":             refusalKnown,  // -26
		"btcd_sendrawtransaction_low_fee.json":                accepted,
		"btcd_sendrawtransaction_missing_inputs.json":         refusalInputs, // -25 orphan
		"btcd_sendrawtransaction_non_final.json":              refusalRetry,  // -26
		"btcd_sendrawtransaction_spent_by_confirmed.json":     refusalInputs, // -25 orphan
		"btcd_sendrawtransaction_spent_in_mempool.json":       refusalRetry,  // -26
	}
	files, err := filepath.Glob(filepath.Join("testdata", "broadcast", "*_*_*.json"))
	require.NoError(t, err)
	var recorded int
	for _, path := range files {
		file := filepath.Base(path)
		if strings.Contains(file, "_gettxout_") {
			continue
		}
		recorded++
		t.Run(file, func(t *testing.T) {
			w, ok := want[file]
			require.True(t, ok, "a recording without an expected class")
			if strings.Contains(file, "_testmempoolaccept_") {
				ok, got := classOfRecording(t, file)
				if w == accepted {
					require.True(t, ok)
					return
				}
				require.False(t, ok)
				require.Equal(t, w, got)
				return
			}
			r := mustRecording(t, file)
			if w == accepted {
				require.Nil(t, r.Error)
				return
			}
			require.NotNil(t, r.Error)
			require.Equal(t, w, classify(r.Error.Code, r.Error.Message).class, "code %d: %s", r.Error.Code, r.Error.Message)
		})
	}
	require.Equal(t, len(want), recorded, "every expected class has its recording")
}

// TestRefusalCodeFirst: the error code decides the class, the reason
// only subdivides within it. A token under a code that does not carry it,
// a code no node uses for a refusal, or a reason no rule lists under its
// code is retried.
func TestRefusalCodeFirst(t *testing.T) {
	tests := []struct {
		name   string
		code   btcjson.RPCErrorCode
		reason string
		want   refusal
	}{
		{name: "-25 with bitcoind's missing inputs", code: -25, reason: "bad-txns-inputs-missingorspent", want: refusalInputs},
		{name: "-25 with btcd's orphan", code: -25, reason: "TX rejected: orphan transaction a references outputs of unknown or fully-spent transaction b", want: refusalInputs},
		{name: "-27 whatever it says", code: -27, reason: "something new", want: refusalKnown},
		{name: "-26 with btcd's already have", code: -26, reason: "TX rejected: already have transaction in mempool a", want: refusalKnown},
		{name: "testmempoolaccept missing-inputs", code: codeAccept, reason: "missing-inputs", want: refusalInputs},

		// The right token under the wrong code.
		{name: "missing-inputs under -26", code: -26, reason: "missing-inputs", want: refusalRetry},
		{name: "missing-inputs under -25", code: -25, reason: "missing-inputs", want: refusalRetry},
		{name: "missingorspent under -26", code: -26, reason: "bad-txns-inputs-missingorspent", want: refusalRetry},
		{name: "missingorspent as a testmempoolaccept reason", code: codeAccept, reason: "bad-txns-inputs-missingorspent", want: refusalRetry},
		{name: "txn-already-in-mempool under -25", code: -25, reason: "txn-already-in-mempool", want: refusalRetry},
		{name: "already exists in blockchain under -26", code: -26, reason: "TX rejected: transaction already exists in blockchain", want: refusalRetry},
		{name: "already have transaction under -25", code: -25, reason: "TX rejected: already have transaction in mempool a", want: refusalRetry},

		// An unknown code.
		{name: "unknown code with missing-inputs", code: -1, reason: "missing-inputs", want: refusalRetry},
		{name: "unknown code with txn-already-known", code: -32603, reason: "txn-already-known", want: refusalRetry},
		{name: "unknown code with an orphan", code: -22, reason: "TX rejected: orphan transaction a", want: refusalRetry},

		// An unknown token under a known code.
		{name: "-25 unknown reason", code: -25, reason: "Fee exceeds maximum configured by user", want: refusalRetry},
		{name: "-26 unknown reason", code: -26, reason: "something new", want: refusalRetry},
		{name: "testmempoolaccept unknown reason", code: codeAccept, reason: "something new", want: refusalRetry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.code, tc.reason)
			require.Equal(t, tc.want, got.class)
			if got.class == refusalRetry {
				require.NotEmpty(t, got.why, "a retried refusal says why in the log")
			}
		})
	}
}

// TestBroadcastWrongCodeNeverFails: sendrawtransaction refusals whose
// token belongs to another code, or whose code is unknown (0 included),
// leave the proposal FINALIZED even when the follower saw a conflicting
// spend confirmed: reconcile fails it on that view, not the broadcast.
func TestBroadcastWrongCodeNeverFails(t *testing.T) {
	tests := []struct {
		name string
		err  btcjson.RPCError
	}{
		{name: "missing-inputs under -26", err: btcjson.RPCError{Code: -26, Message: "missing-inputs"}},
		{name: "missing-inputs under an unknown code", err: btcjson.RPCError{Code: -1, Message: "missing-inputs"}},
		{name: "already in mempool under -25", err: btcjson.RPCError{Code: -25, Message: "txn-already-in-mempool"}},
		{name: "already in mempool under code 0", err: btcjson.RPCError{Code: 0, Message: "txn-already-in-mempool"}},
		{name: "missing-inputs under code 0", err: btcjson.RPCError{Code: 0, Message: "missing-inputs"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node := &replayNode{t: t, accept: mustRecording(t, "btcd_testmempoolaccept_low_fee.json"), send: recording{Error: &tc.err}}
			s := &memStore{tip: 120}
			d := mustReplayDaemon(t, node, s, func() time.Time { return testStart })
			p := mustProposal(t, s, "p1", reserve.StateFinalized)
			s.spend(p, conflictTxid, 111)
			d.broadcast(context.Background(), p)
			requireOutcome(t, s, p.ID, reserve.StateFinalized)
		})
	}
}

// reconcilePass runs reconcile's step for every proposal of s, as
// reconcile does once it has the governance (the zero value: no policy,
// no freeze).
func reconcilePass(t *testing.T, d *Daemon, s *memStore) {
	t.Helper()
	ctx := context.Background()
	s.mu.Lock()
	ps := make([]reserve.Proposal, 0, len(s.proposals))
	for _, p := range s.proposals {
		ps = append(ps, p)
	}
	tip := s.tip
	s.mu.Unlock()
	for _, p := range ps {
		v, err := d.inputsView(ctx, p)
		require.NoError(t, err)
		d.reconcileOne(ctx, governed{}, p, v, tip)
	}
}

// TestReconcileOverReplay: a conflict only in the mempool keeps a
// FINALIZED proposal FINALIZED pass after pass; it FAILS only once the
// conflicting spend confirms. A BROADCAST one confirms when the follower
// sees it at depth, and is sent again only after rebroadcastAfter.
func TestReconcileOverReplay(t *testing.T) {
	t.Run("mempool conflict, then confirmed conflict", func(t *testing.T) {
		for _, kind := range []string{"btcd", "bitcoind"} {
			node := &replayNode{t: t, accept: mustRecording(t, kind+"_testmempoolaccept_spent_in_mempool.json")}
			s := &memStore{tip: 120}
			d := mustReplayDaemon(t, node, s, func() time.Time { return testStart })
			p := mustProposal(t, s, "p1", reserve.StateFinalized)
			s.spend(p, conflictTxid, 0)
			reconcilePass(t, d, s)
			reconcilePass(t, d, s)
			requireOutcome(t, s, p.ID, reserve.StateFinalized)
			s.spend(p, conflictTxid, 121)
			s.tip = 121
			reconcilePass(t, d, s)
			requireOutcome(t, s, p.ID, reserve.StateFailed)
			got, err := s.Proposal(context.Background(), p.ID)
			require.NoError(t, err)
			require.Contains(t, got.FailReason, "double spend")
		}
	})
	t.Run("a confirmed conflict fails the signed transaction only once buried", func(t *testing.T) {
		for _, state := range []reserve.State{reserve.StateFinalized, reserve.StateBroadcast} {
			node := &replayNode{t: t, accept: mustRecording(t, "btcd_testmempoolaccept_spent_in_mempool.json")}
			s := &memStore{tip: 121}
			d := mustReplayDaemon(t, node, s, func() time.Time { return testStart })
			d.cfg.ConfirmDepth = 3
			p := mustProposal(t, s, "p1", state)
			s.spend(p, conflictTxid, 121)
			for _, tip := range []int32{121, 122} {
				s.tip = tip
				reconcilePass(t, d, s)
				requireOutcome(t, s, p.ID, state)
			}
			s.tip = 123
			reconcilePass(t, d, s)
			requireOutcome(t, s, p.ID, reserve.StateFailed)
		}
	})
	t.Run("broadcast, confirmed", func(t *testing.T) {
		node := &replayNode{t: t, accept: mustRecording(t, "btcd_testmempoolaccept_low_fee.json"), send: mustRecording(t, "btcd_sendrawtransaction_low_fee.json")}
		s := &memStore{tip: 120}
		d := mustReplayDaemon(t, node, s, func() time.Time { return testStart })
		p := mustProposal(t, s, "p1", reserve.StateFinalized)
		reconcilePass(t, d, s)
		requireOutcome(t, s, p.ID, reserve.StateBroadcast)
		s.spend(p, p.Txid, 0)
		reconcilePass(t, d, s)
		requireOutcome(t, s, p.ID, reserve.StateBroadcast)
		s.spend(p, p.Txid, 120)
		reconcilePass(t, d, s)
		requireOutcome(t, s, p.ID, reserve.StateConfirmed)
	})
	t.Run("broadcast, conflicting spend confirmed", func(t *testing.T) {
		node := &replayNode{t: t, accept: mustRecording(t, "btcd_testmempoolaccept_low_fee.json"), send: mustRecording(t, "btcd_sendrawtransaction_low_fee.json")}
		s := &memStore{tip: 120}
		d := mustReplayDaemon(t, node, s, func() time.Time { return testStart })
		p := mustProposal(t, s, "p1", reserve.StateBroadcast)
		s.spend(p, conflictTxid, 0)
		reconcilePass(t, d, s)
		requireOutcome(t, s, p.ID, reserve.StateBroadcast)
		s.spend(p, conflictTxid, 120)
		reconcilePass(t, d, s)
		requireOutcome(t, s, p.ID, reserve.StateFailed)
	})
	t.Run("rebroadcast after rebroadcastAfter", func(t *testing.T) {
		for _, file := range []string{"bitcoind_sendrawtransaction_in_mempool.json", "btcd_sendrawtransaction_in_mempool.json", "bitcoind_sendrawtransaction_low_fee.json"} {
			now := testStart
			node := &replayNode{t: t, send: mustRecording(t, file)}
			s := &memStore{tip: 120}
			d := mustReplayDaemon(t, node, s, func() time.Time { return now })
			p := mustProposal(t, s, "p1", reserve.StateBroadcast)
			now = testStart.Add(rebroadcastAfter)
			reconcilePass(t, d, s)
			require.Zero(t, node.sends(), "not before rebroadcastAfter")
			now = testStart.Add(rebroadcastAfter + time.Second)
			reconcilePass(t, d, s)
			require.Equal(t, 1, node.sends(), file)
			requireOutcome(t, s, p.ID, reserve.StateBroadcast)
		}
	})
}

// SyncTip is the test chain's tip.
func (s *memStore) SyncTip(context.Context) (int32, chainhash.Hash, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tip, chainhash.Hash{}, true, nil
}

// TestReconcileKeepsASignedTransactionUnderAReplacedPolicy: a FINALIZED
// proposal whose approvals are under a policy since replaced is not
// broadcast, but not FAILED either: its transaction is valid and may
// still be sent by whoever holds it, so it keeps its coins.
func TestReconcileKeepsASignedTransactionUnderAReplacedPolicy(t *testing.T) {
	node := &replayNode{t: t}
	s := &memStore{tip: 120}
	d := mustReplayDaemon(t, node, s, func() time.Time { return testStart })
	p := mustProposal(t, s, "p1", reserve.StateFinalized)
	p.Intent = &reserve.Intent{PolicyHash: [32]byte{0x01}}
	s.mu.Lock()
	s.proposals[p.ID] = p
	s.mu.Unlock()
	g := governed{Governance: reserve.Governance{Policy: &reserve.PolicyRecord{Hash: [32]byte{0x02}}}}
	v, err := d.inputsView(context.Background(), p)
	require.NoError(t, err)
	d.reconcileOne(context.Background(), g, p, v, s.tip)
	requireOutcome(t, s, p.ID, reserve.StateFinalized)
}

// TestWaitingReason: a FINALIZED proposal the node refused says why in
// GetProposal's waiting note until a later try broadcasts it.
func TestWaitingReason(t *testing.T) {
	node := &replayNode{t: t, accept: mustRecording(t, "bitcoind_testmempoolaccept_low_fee.json")}
	s := &memStore{tip: 120}
	d := mustReplayDaemon(t, node, s, func() time.Time { return testStart })
	p := mustProposal(t, s, "p1", reserve.StateFinalized)
	d.broadcast(context.Background(), p)
	requireOutcome(t, s, p.ID, reserve.StateFinalized)
	note := d.waiting.get(p.ID)
	require.Contains(t, note, testStart.UTC().Format(time.RFC3339))
	require.Contains(t, note, "min relay fee not met")

	node.accept = mustRecording(t, "btcd_testmempoolaccept_low_fee.json")
	node.send = mustRecording(t, "btcd_sendrawtransaction_low_fee.json")
	d.broadcast(context.Background(), p)
	requireOutcome(t, s, p.ID, reserve.StateBroadcast)
	require.Empty(t, d.waiting.get(p.ID))
}
