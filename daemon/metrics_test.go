package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// lockedBuffer collects a daemon's log lines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// observedDaemon is a regtest daemon following a nodeDouble, with its
// metrics listener on loopback and its logs (JSON, debug level) kept.
type observedDaemon struct {
	*testDaemon
	node *nodeDouble
	logs *lockedBuffer
}

// Secrets the observed daemon is started with; no log line may hold them.
const (
	observedNodePass = "node-rpc-Pa55word-7f3a91"
	observedCAPass   = "ca-passphrase-correct-horse-4d2e"
)

// mustStartObserved starts the daemon with cfg adjusted by adjust.
func mustStartObserved(t *testing.T, adjust func(*daemon.Config)) *observedDaemon {
	t.Helper()
	node, host := mustNodeDouble(t, 10, "custos", observedNodePass)
	dir := t.TempDir()
	db := MustStore(t, dir)
	logs := &lockedBuffer{}
	cfg := daemonConfig(t, dir, db, reserve.Regtest)
	cfg.Node = chain.NodeConfig{Kind: chain.KindBtcd, Host: host, User: "custos", Pass: observedNodePass}
	cfg.CAKey = daemon.CAKey{Passphrase: []byte(observedCAPass)}
	cfg.MetricsListen = "127.0.0.1:0"
	cfg.ConfirmDepth = 1
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if adjust != nil {
		adjust(&cfg)
	}
	return &observedDaemon{testDaemon: MustRunDaemon(t, db, cfg), node: node, logs: logs}
}

// issue makes an identity over the API (the CA is sealed: no file of it
// is in the clear) and connects with it; keys collects its private key.
func (od *observedDaemon) issue(t *testing.T, name string, role custosv1.IdentityRole, fp *uint32, keys *[]string) *grpc.ClientConn {
	t.Helper()
	r, err := custosv1.NewIdentityServiceClient(MustDialAdmin(t, od.testDaemon)).IssueIdentity(callCtx(t), &custosv1.IssueIdentityRequest{
		Name: name, Role: role, CosignerFingerprint: fp,
	})
	require.NoError(t, err)
	*keys = append(*keys, pemBody(r.KeyPem))
	return MustDial(t, od.addr(), r.CaPem, r.CertificatePem, r.KeyPem)
}

// pemBody is the first line of a PEM block's base64 body: a fragment no
// log may hold.
func pemBody(p []byte) string {
	lines := strings.Split(string(p), "\n")
	return lines[1]
}

// scrape reads the daemon's metrics: "name{labels}" to value.
func scrape(t *testing.T, d *daemon.Daemon) map[string]float64 {
	t.Helper()
	addr := d.MetricsAddr()
	require.NotNil(t, addr)
	resp, err := http.Get("http://" + addr.String() + daemon.MetricsPath)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// requireMetrics checks the scraped values of want; a metric missing
// from the scrape fails.
func requireMetrics(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		g, ok := got[k]
		require.True(t, ok, "metric %s missing from the scrape", k)
		require.Equal(t, v, g, "metric %s", k)
	}
}

// proposalStates are the custos_proposals series with n in state and 0
// in every other.
func proposalStates(counts map[reserve.State]float64) map[string]float64 {
	out := map[string]float64{}
	for s := reserve.StatePendingApproval; s <= reserve.StateReplaced; s++ {
		out[fmt.Sprintf("custos_proposals{state=%q}", s.String())] = counts[s]
	}
	return out
}

func rpcCount(method, code string) string {
	return fmt.Sprintf("custos_rpc_requests_total{code=%q,method=%q}", code, method)
}

func cosignerLabel(fp uint32) string {
	return fmt.Sprintf("custos_signatures_pending{cosigner=\"%08x\"}", fp)
}

// TestMetricsAfterFlow runs the demo's flow over real gRPC against a node
// double (propose, two officers approve, two ministries sign, broadcast,
// confirm) and checks that the metrics scraped along the way say what
// happened; then that no log line of the daemon holds a secret it was
// given or that went through it.
func TestMetricsAfterFlow(t *testing.T) {
	od := mustStartObserved(t, nil)
	var keys []string
	w := MustCreateWallet(t, od.testDaemon)
	MustSetPolicy(t, od.testDaemon, testPolicy(t))
	fp1, fp2, fp3 := MustCosigner(t, 1).Fingerprint, MustCosigner(t, 2).Fingerprint, MustCosigner(t, 3).Fingerprint

	// Before anything waits for anyone.
	m := scrape(t, od.d)
	requireMetrics(t, m, proposalStates(nil))
	requireMetrics(t, m, map[string]float64{
		`custos_approvals_pending{officer="alice"}`: 0, cosignerLabel(fp1): 0, "custos_reservations": 0,
		`custos_broadcasts_total{result="accepted"}`: 0,
	})

	// A deposit, confirmed in a block the follower reads.
	desc, err := multisig.ParseDescriptor(w.MultipathDescriptor, reserve.Regtest)
	require.NoError(t, err)
	der, err := desc.Derive(reserve.BranchReceive, 0)
	require.NoError(t, err)
	fund := wire.NewMsgTx(2)
	fund.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash(sha256.Sum256([]byte("metrics funding")))}})
	fund.AddTxOut(wire.NewTxOut(50_000_000, der.PkScript))
	od.node.mine(fund)
	waitFor(t, 20*time.Second, "the deposit confirmed in the store", func() bool {
		us, err := od.db.UTXOs(context.Background(), false)
		return err == nil && len(us) == 1 && us[0].Height > 0
	})

	// Propose.
	proposer := custosv1.NewSpendServiceClient(od.issue(t, "proposer", custosv1.IdentityRole_IDENTITY_ROLE_OFFICER, nil, &keys))
	r, err := proposer.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{
		Payees: []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 10_000_000}}, FeeRateSatVb: 2,
	})
	require.NoError(t, err)
	id := r.Proposal.Id
	m = scrape(t, od.d)
	requireMetrics(t, m, proposalStates(map[reserve.State]float64{reserve.StatePendingApproval: 1}))
	requireMetrics(t, m, map[string]float64{
		`custos_approvals_pending{officer="alice"}`: 1, `custos_approvals_pending{officer="bob"}`: 1,
		`custos_approvals_pending{officer="carol"}`: 1, `custos_approvals_pending{officer="dave"}`: 1,
		"custos_reservations": 1, cosignerLabel(fp1): 0,
		rpcCount(custosv1.SpendService_ProposeSpend_FullMethodName, "OK"): 1,
		`custos_balance_sat{kind="confirmed"}`:                            50_000_000, `custos_balance_sat{kind="unconfirmed"}`: 0,
		`custos_balance_sat{kind="immature"}`: 0,
	})

	// Alice approves; her second approval is refused and counted with
	// its code; bob's completes the quorum (no cool-off): SIGNING.
	in, err := reserve.DecodeIntent(r.Proposal.Intent)
	require.NoError(t, err)
	conns := map[string]*grpc.ClientConn{}
	decide := func(officer string) error {
		a, err := reserve.SignIntent(&in, reserve.DecisionApprove, officerKey(officer))
		require.NoError(t, err)
		if conns[officer] == nil {
			conns[officer] = od.issue(t, officer, custosv1.IdentityRole_IDENTITY_ROLE_OFFICER, nil, &keys)
		}
		conn := conns[officer]
		_, err = custosv1.NewSpendServiceClient(conn).DecideProposal(callCtx(t), &custosv1.DecideProposalRequest{
			Id: id, Decision: custosv1.Decision_DECISION_APPROVE,
			Signature: &custosv1.OfficerSignature{OfficerKey: a.OfficerKey[:], Signature: a.Signature[:]},
		})
		return err
	}
	require.NoError(t, decide("alice"))
	m = scrape(t, od.d)
	requireMetrics(t, m, map[string]float64{
		`custos_approvals_pending{officer="alice"}`: 0, `custos_approvals_pending{officer="bob"}`: 1,
	})
	again := decide("alice")
	require.Error(t, again)
	require.NoError(t, decide("bob"))
	m = scrape(t, od.d)
	requireMetrics(t, m, proposalStates(map[reserve.State]float64{reserve.StateSigning: 1}))
	requireMetrics(t, m, map[string]float64{
		`custos_approvals_pending{officer="carol"}`: 0,
		cosignerLabel(fp1):                          1, cosignerLabel(fp2): 1, cosignerLabel(fp3): 1,
		rpcCount(custosv1.SpendService_DecideProposal_FullMethodName, "OK"):                        2,
		rpcCount(custosv1.SpendService_DecideProposal_FullMethodName, status.Code(again).String()): 1,
	})

	// The ministries of cosigners 1 and 2 sign: FINALIZED, then the
	// reconcile loop broadcasts it.
	for _, s := range []struct {
		seed byte
		fp   uint32
	}{{1, fp1}, {2, fp2}} {
		conn := od.issue(t, fmt.Sprintf("ministry-%d", s.seed), custosv1.IdentityRole_IDENTITY_ROLE_SIGNER, &s.fp, &keys)
		signed := mustSignedBy(t, conn, w, id, s.seed)
		_, err := custosv1.NewSpendServiceClient(conn).ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: signed})
		require.NoError(t, err)
		if s.seed == 1 {
			m = scrape(t, od.d)
			requireMetrics(t, m, map[string]float64{cosignerLabel(fp1): 0, cosignerLabel(fp2): 1, cosignerLabel(fp3): 1})
		}
	}
	waitState(t, od, id, reserve.StateBroadcast)

	// Mined: the follower confirms it at depth 1.
	od.node.mine()
	waitState(t, od, id, reserve.StateConfirmed)
	tip := od.node.tip()
	waitFor(t, 20*time.Second, "the wallet synced to the node's tip", func() bool {
		m = scrape(t, od.d)
		return m["custos_sync_height"] == float64(tip) && m["custos_wallet_synced"] == 1
	})
	size, _, err := od.db.AuditTree(context.Background())
	require.NoError(t, err)
	res, err := od.db.Reservations(context.Background())
	require.NoError(t, err)
	requireMetrics(t, m, proposalStates(map[reserve.State]float64{reserve.StateConfirmed: 1}))
	requireMetrics(t, m, map[string]float64{
		"custos_node_height": float64(tip), "custos_sync_lag_blocks": 0, "custos_node_reachable": 1,
		cosignerLabel(fp1): 0, cosignerLabel(fp2): 0, cosignerLabel(fp3): 0,
		`custos_broadcasts_total{result="accepted"}`: 1, `custos_broadcasts_total{result="refused"}`: 0,
		`custos_broadcasts_total{result="error"}`: 0,
		"custos_reservations":                     float64(len(res)), "custos_audit_log_size": float64(size),
		rpcCount(custosv1.SpendService_ImportPSBT_FullMethodName, "OK"):   2,
		rpcCount(custosv1.AdminService_CreateWallet_FullMethodName, "OK"): 1,
	})
	require.Positive(t, size)
	require.Contains(t, m, fmt.Sprintf("custos_rpc_duration_seconds_count{code=\"OK\",method=%q}", custosv1.SpendService_ImportPSBT_FullMethodName))

	requireNoSecrets(t, od.logs.String(), flowSecrets(t, keys))
}

func waitState(t *testing.T, od *observedDaemon, id string, want reserve.State) {
	t.Helper()
	waitFor(t, 30*time.Second, "proposal "+id+" "+want.String(), func() bool {
		p, err := od.db.Proposal(context.Background(), id)
		return err == nil && p.State == want
	})
}

// flowSecrets are the secrets of the flow, in the encodings a careless
// log line would show them: passphrases, the officers' approval keys
// (seed and private key in hex and base64), the cosigners' seeds and
// account keys (hex, tprv), the identities' private keys (PEM).
func flowSecrets(t *testing.T, pemKeys []string) map[string]string {
	t.Helper()
	out := map[string]string{
		"node RPC password": observedNodePass,
		"CA passphrase":     observedCAPass,
		"PEM private key":   "PRIVATE KEY-----",
	}
	for _, officer := range []string{"alice", "bob", "carol", "dave"} {
		k := officerKey(officer)
		out[officer+" key seed hex"] = hex.EncodeToString(k.Seed())
		out[officer+" private key hex"] = hex.EncodeToString(k)
		out[officer+" private key base64"] = base64.StdEncoding.EncodeToString(k)
	}
	for _, b := range []byte{1, 2, 3} {
		_, xprv, err := multisig.DeriveAccount(seed(b), reserve.Regtest, 0)
		require.NoError(t, err)
		out[fmt.Sprintf("cosigner %d seed", b)] = hex.EncodeToString(seed(b))
		out[fmt.Sprintf("cosigner %d tprv", b)] = xprv.String()
		xprv.Zero()
	}
	for i, k := range pemKeys {
		out[fmt.Sprintf("identity key %d", i)] = k
	}
	return out
}

// requireNoSecrets fails naming the secret and the line that holds it.
func requireNoSecrets(t *testing.T, logs string, secrets map[string]string) {
	t.Helper()
	require.NotEmpty(t, logs)
	for _, line := range strings.Split(logs, "\n") {
		for name, s := range secrets {
			require.NotContains(t, line, s, "%s in a log line", name)
		}
	}
}

// TestCheckMetricsListen: loopback addresses are accepted, any other only
// when the operator allows it; empty is off.
func TestCheckMetricsListen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		addr   string
		remote bool
		ok     bool
	}{
		{"off", "", false, true},
		{"IPv4 loopback", "127.0.0.1:9464", false, true},
		{"IPv4 loopback range", "127.0.0.2:9464", false, true},
		{"IPv6 loopback", "[::1]:9464", false, true},
		{"localhost", "localhost:9464", false, true},
		{"all interfaces", ":9464", false, false},
		{"unspecified", "0.0.0.0:9464", false, false},
		{"a LAN address", "192.0.2.10:9464", false, false},
		{"a host name", "metrics.example:9464", false, false},
		{"no port", "127.0.0.1", false, false},
		{"all interfaces, allowed", "0.0.0.0:9464", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := daemon.CheckMetricsListen(tc.addr, tc.remote)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
			require.Contains(t, err.Error(), "metrics.listen")
		})
	}
}

// TestMetricsListenerRefusedAtStart: daemon.New refuses a non-loopback
// metrics address the operator did not allow, and with metrics off serves
// none.
func TestMetricsListenerRefusedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := daemonConfig(t, dir, MustStore(t, dir), reserve.Regtest)
	cfg.MetricsListen = "0.0.0.0:0"
	_, err := daemon.New(cfg)
	require.Error(t, err)
	require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))

	td := MustStartDaemon(t)
	require.Nil(t, td.d.MetricsAddr())
}
