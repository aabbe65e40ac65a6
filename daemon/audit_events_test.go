package daemon_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// mustLeaves reads every leaf of the daemon's log over the API.
func mustLeaves(tb testing.TB, td *testDaemon) []audit.Leaf {
	tb.Helper()
	r, err := custosv1.NewAuditServiceClient(MustDialAdmin(tb, td)).ListAudit(callCtx(tb), &custosv1.ListAuditRequest{PageSize: 1000})
	require.NoError(tb, err)
	var out []audit.Leaf
	for _, b := range r.Leaves {
		l, err := audit.ParseLeaf(b)
		require.NoError(tb, err)
		out = append(out, l)
	}
	return out
}

// wantLeaf is a leaf's kind, actor name and the ids it must carry
// (values "*" only need to be there and not empty).
type wantLeaf struct {
	kind, actor string
	ids         map[string]string
}

func requireLeaves(tb testing.TB, want []wantLeaf, got []audit.Leaf) {
	tb.Helper()
	var kinds []string
	for _, l := range got {
		kinds = append(kinds, l.Kind+" by "+l.Actor.Name)
	}
	require.Len(tb, got, len(want), "leaves: %q", kinds)
	for i, w := range want {
		l := got[i]
		require.Equal(tb, w.kind, l.Kind, "leaf %d of %q", i, kinds)
		require.Equal(tb, w.actor, l.Actor.Name, "leaf %d (%s)", i, l.Kind)
		for k, v := range w.ids {
			require.NotEmpty(tb, l.IDs[k], "leaf %d (%s): ids %s missing in %v", i, l.Kind, k, l.IDs)
			if v != "*" {
				require.Equal(tb, v, l.IDs[k], "leaf %d (%s): ids %s", i, l.Kind, k)
			}
		}
	}
}

// TestAuditFlowLeaves drives a spend through the daemon over real gRPC —
// wallet, policy, proposal, two officers' approvals, release, export,
// import of the ministries' signatures — and holds the log to the leaves
// it must hold, in order, with the ids an auditor joins on. A fact that
// stops being logged, or loses its ids, fails here.
func TestAuditFlowLeaves(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	walletLeaves := mustLeaves(t, td)
	requireLeaves(t, []wantLeaf{
		{"identity.issue", "admin", map[string]string{"name": "admin", "role": "admin", "serial": "*"}},
		{"wallet.create", "admin", map[string]string{"wallet": w.Id, "network": "regtest"}},
	}, walletLeaves)

	id := mustSigningProposal(t, td, w) // policy, propose, alice and bob approve, release, export
	officer := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	got, err := officer.GetProposal(callCtx(t), &custosv1.GetProposalRequest{Id: id})
	require.NoError(t, err)
	txid := got.Proposal.Txid
	in, err := reserve.DecodeIntent(got.Proposal.Intent)
	require.NoError(t, err)
	digest, err := in.Digest(reserve.DecisionApprove)
	require.NoError(t, err)
	pol := fmt.Sprintf("%x", in.PolicyHash)

	// An import that adds two cosigners' signatures and finalizes leaves
	// one leaf naming them; importing the same file again adds nothing
	// and leaves none.
	signed := mustSignedBy(t, MustDialAs(t, td, daemon.RoleOfficer), w, id, 1, 2)
	_, err = officer.ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: signed})
	require.NoError(t, err)
	size := len(mustLeaves(t, td))
	_, err = officer.ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: signed})
	require.NoError(t, err)
	require.Len(t, mustLeaves(t, td), size, "an import that adds nothing leaves no leaf")

	p := map[string]string{"proposal": id, "txid": txid}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{"proposal": id, "txid": txid}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	leaves := mustLeaves(t, td)
	requireLeaves(t, []wantLeaf{
		{"identity.issue", "admin", map[string]string{"name": "admin", "serial": "*"}},
		{"wallet.create", "admin", map[string]string{"wallet": w.Id}},
		{"policy.set", "admin", map[string]string{"policy": pol, "policy_seq": "1"}},
		{"identity.issue", "test-officer", map[string]string{"name": "test-officer", "role": "officer", "serial": "*"}},
		{"proposal.create", "test-officer", with(map[string]string{"policy": pol})},
		{"identity.issue", "alice", map[string]string{"name": "alice", "role": "officer", "serial": "*"}},
		{"proposal.approve", "alice", with(map[string]string{"officer": "alice", "intent": fmt.Sprintf("%x", digest), "officer_key": "*"})},
		{"identity.issue", "bob", map[string]string{"name": "bob", "role": "officer", "serial": "*"}},
		{"proposal.approve", "bob", with(map[string]string{"officer": "bob", "intent": fmt.Sprintf("%x", digest)})},
		{"proposal.approved", "bob", p},
		{"proposal.signing", "bob", p},
		{"proposal.export", "test-officer", with(map[string]string{"checkpoint_size": "11", "psbt_sha256": "*"})},
		{"proposal.export", "test-officer", with(map[string]string{"checkpoint_size": "12"})},
		{"proposal.finalized", "test-officer", with(map[string]string{"signers": "*", "finalized": "true"})},
	}, leaves)
	signers := leaves[len(leaves)-1].IDs["signers"]
	require.Len(t, strings.Split(signers, ","), 2, "two cosigners added: %s", signers)
	for _, s := range strings.Split(signers, ",") {
		require.Regexp(t, `^[0-2]:[0-9a-f]{8}$`, s)
	}
}

// TestHandshakeFailureLogged: a client refused in the TLS handshake —
// without a certificate, with one of another CA, with an expired one of
// ours — is refused as before and leaves an auth.failed leaf with its
// address; a valid client leaves none.
func TestHandshakeFailureLogged(t *testing.T) {
	td := MustStartDaemon(t)
	caPEM := MustReadTLS(t, td.dir, daemon.CACertFile)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	bare := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, ServerName: "localhost"}
	foreign := t.TempDir()
	require.NoError(t, os.MkdirAll(daemon.TLSDir(foreign), 0o700))
	foreignCert, foreignKey, err := daemon.IssueClientCert(foreign, "mallory", daemon.RoleAdmin, time.Now())
	require.NoError(t, err)
	expiredCert, expiredKey, err := daemon.IssueClientCert(td.dir, "old-admin", daemon.RoleAdmin, time.Now().AddDate(-3, 0, 0))
	require.NoError(t, err)
	tlsOf := func(certPEM, keyPEM []byte) *tls.Config {
		cfg, err := daemon.ClientTLS(caPEM, certPEM, keyPEM)
		require.NoError(t, err)
		return cfg
	}
	admin := custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td))
	_, err = admin.GetStatus(callCtx(t), &custosv1.GetStatusRequest{})
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		detail string // "" for a client that is let in
	}{
		{name: "valid certificate", cfg: tlsOf(MustReadTLS(t, td.dir, daemon.AdminCertFile), MustReadTLS(t, td.dir, daemon.AdminKeyFile))},
		{name: "no certificate", cfg: bare, detail: "no client certificate presented"},
		{name: "another CA", cfg: tlsOf(foreignCert, foreignKey), detail: "unknown authority"},
		{name: "expired", cfg: tlsOf(expiredCert, expiredKey), detail: "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(mustLeaves(t, td))
			_, err := custosv1.NewTreasuryServiceClient(MustDialTLS(t, td.addr(), tc.cfg)).GetStatus(callCtx(t), &custosv1.GetStatusRequest{})
			if tc.detail == "" {
				require.NoError(t, err)
				require.Len(t, mustLeaves(t, td), before, "a valid client leaves no leaf")
				return
			}
			requireCode(t, err, codes.Unavailable)
			var leaves []audit.Leaf
			waitFor(t, 10*time.Second, "the auth.failed leaf", func() bool {
				leaves = mustLeaves(t, td)
				return len(leaves) > before
			})
			l := leaves[before]
			require.Equal(t, daemon.AuditAuthFailed, l.Kind)
			require.Equal(t, reserve.Actor{Name: "unauthenticated", Role: "none"}, l.Actor)
			require.True(t, strings.HasPrefix(l.IDs["peer"], "127.0.0.1:"), "peer %q", l.IDs["peer"])
			require.Contains(t, l.Detail, tc.detail)
		})
	}
}
