package daemon_test

// The online signer agents (signer/agent) against a real daemon over
// gRPC, and, for a tampered request, against a test double of the daemon.
// These tests link the signer into a test binary of the daemon's
// directory: the daemon itself never imports it (scripts/check-imports.sh).

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/agent"
)

// agentMnemonics are three valid BIP-39 test mnemonics: the ministries'
// keys, restored into signer data directories.
var agentMnemonics = []string{
	strings.Repeat("abandon ", 11) + "about",
	strings.Repeat("abandon ", 23) + "art",
	strings.Repeat("zoo ", 11) + "wrong",
}

// ministry is one signer data directory with its unlocked key.
type ministry struct {
	dir string
	key *signer.Key
	rec reserve.Cosigner
}

// mustMinistries restores the three keys with cheap KDF parameters.
func mustMinistries(t *testing.T) []ministry {
	t.Helper()
	out := make([]ministry, len(agentMnemonics))
	for i, m := range agentMnemonics {
		dir := t.TempDir()
		cfg := signer.Config{Network: reserve.Regtest, KDF: signer.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}}
		rec, err := signer.Restore(dir, cfg, m, []byte("correct horse battery"))
		require.NoError(t, err)
		key, err := signer.Unlock(dir, []byte("correct horse battery"))
		require.NoError(t, err)
		t.Cleanup(key.Zero)
		out[i] = ministry{dir: dir, key: key, rec: rec}
	}
	return out
}

// mustAgentWallet makes the 2-of-3 wallet of the ministries' keys, and
// has each ministry pin its descriptor and testPolicy.
func mustAgentWallet(t *testing.T, td *testDaemon, ms []ministry) *custosv1.Wallet {
	t.Helper()
	req := &custosv1.CreateWalletRequest{Name: "reserve", Threshold: 2}
	for _, m := range ms {
		req.Cosigners = append(req.Cosigners, multisig.FormatKeyRecord(m.rec))
	}
	r, err := custosv1.NewAdminServiceClient(MustDialAdmin(t, td)).CreateWallet(callCtx(t), req)
	require.NoError(t, err)
	for _, m := range ms {
		_, err := signer.Register(m.dir, m.key, r.Wallet.MultipathDescriptor, false)
		require.NoError(t, err)
		_, err = signer.PinPolicy(m.dir, m.key, []byte(testPolicy(t)), nil)
		require.NoError(t, err)
	}
	return r.Wallet
}

// startAgent runs an agent for m over conn until the test ends.
func startAgent(t *testing.T, m ministry, conn grpc.ClientConnInterface, auto bool) {
	t.Helper()
	a, err := agent.New(agent.Config{
		DataDir: m.dir, Key: m.key, Conn: conn, Auto: auto, CallOptions: agent.CallOptions(),
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// ledgerEntries is the number of transactions m's ledger records.
func ledgerEntries(t *testing.T, m ministry) int {
	t.Helper()
	l, err := signer.OpenLedger(m.dir)
	require.NoError(t, err)
	es, err := l.Entries()
	require.NoError(t, err)
	return len(es)
}

func proposalOf(t *testing.T, td *testDaemon, id string) *custosv1.Proposal {
	t.Helper()
	r, err := custosv1.NewSpendServiceClient(MustDialAdmin(t, td)).GetProposal(callCtx(t), &custosv1.GetProposalRequest{Id: id})
	require.NoError(t, err)
	return r.Proposal
}

// TestAgentsSignOverGRPC: two agents started after the proposal reached
// SIGNING each receive it, run the signer's checks, sign once (one ledger
// entry each) and submit; the daemon finalizes. An agent restarted
// afterwards is sent nothing and signs nothing again.
func TestAgentsSignOverGRPC(t *testing.T) {
	td := MustStartDaemon(t)
	ms := mustMinistries(t)
	w := mustAgentWallet(t, td, ms)
	id := mustSigningProposal(t, td, w)
	for i, m := range ms[:2] {
		startAgent(t, m, mustIssueSigner(t, td, fmt.Sprintf("ministry-%d", i), m.rec.Fingerprint), true)
	}
	waitFor(t, 30*time.Second, "two signatures", func() bool { return len(proposalOf(t, td, id).Signers) == 2 })
	p := proposalOf(t, td, id)
	require.NotEqual(t, custosv1.ProposalState_PROPOSAL_STATE_SIGNING, p.State)
	for _, m := range ms[:2] {
		require.Equal(t, 1, ledgerEntries(t, m))
	}
	require.Equal(t, 0, ledgerEntries(t, ms[2]), "the third ministry was never asked")
}

// TestSigningRequestsStream: the stream sends a signer the proposals of
// its own cosigner created before it connected, and withdraws one when
// its cosigner's signature arrives by another path (an air-gapped file
// carried by an officer); a signer identity bound to a key that is not
// the wallet's is refused.
func TestSigningRequestsStream(t *testing.T) {
	td := MustStartDaemon(t)
	ms := mustMinistries(t)
	w := mustAgentWallet(t, td, ms)
	id := mustSigningProposal(t, td, w)

	tests := []struct {
		name string
		fp   uint32
		code codes.Code
	}{
		{"the wallet's cosigner", ms[0].rec.Fingerprint, codes.OK},
		{"a key not in the wallet", 0xdeadbeef, codes.PermissionDenied},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := mustIssueSigner(t, td, fmt.Sprintf("stream-%d", i), tc.fp)
			stream, err := custosv1.NewSignerServiceClient(conn).SigningRequests(callCtx(t), &custosv1.SigningRequestsRequest{})
			require.NoError(t, err)
			msg, err := stream.Recv()
			if tc.code != codes.OK {
				requireCode(t, err, tc.code, "not in the wallet")
				return
			}
			require.NoError(t, err)
			req := msg.GetRequest()
			require.NotNil(t, req)
			require.Equal(t, id, req.ProposalId)
			require.Equal(t, uint32(0), req.Cosigner)
			_, err = multisig.ParsePSBT(req.Psbt)
			require.NoError(t, err)

			// The ministry signs the file offline; an officer imports it.
			pkt, err := multisig.ParsePSBT(req.Psbt)
			require.NoError(t, err)
			r, err := signer.CheckRequest(ms[0].dir, mustKeyFile(t, ms[0].dir), pkt, signer.DefaultLimits(), time.Now)
			require.NoError(t, err)
			_, _, err = r.Sign(ms[0].key)
			require.NoError(t, err)
			raw, err := multisig.SerializePSBT(r.Packet)
			require.NoError(t, err)
			_, err = custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer)).ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: raw})
			require.NoError(t, err)

			msg, err = stream.Recv()
			require.NoError(t, err)
			wd := msg.GetWithdrawal()
			require.NotNil(t, wd, "want a withdrawal, got %v", msg)
			require.Equal(t, id, wd.ProposalId)
			require.Contains(t, wd.Reason, "signed by this cosigner")
		})
	}
}

func mustKeyFile(t *testing.T, dir string) *signer.KeyFile {
	t.Helper()
	kf, err := signer.ReadKeyFile(dir)
	require.NoError(t, err)
	return kf
}

// TestAgentQueue: without --auto a request that passes the checks waits in
// the queue; the operator's refusal reaches the daemon with its reason
// (history note and audit leaf); another ministry's approval gets it
// signed.
func TestAgentQueue(t *testing.T) {
	td := MustStartDaemon(t)
	ms := mustMinistries(t)
	w := mustAgentWallet(t, td, ms)
	id := mustSigningProposal(t, td, w)
	for i, m := range ms[:2] {
		startAgent(t, m, mustIssueSigner(t, td, fmt.Sprintf("ministry-%d", i), m.rec.Fingerprint), false)
	}
	for _, m := range ms[:2] {
		waitFor(t, 30*time.Second, "the request queued", func() bool {
			q, err := agent.Pending(m.dir)
			require.NoError(t, err)
			return len(q) == 1 && q[0].ID == id
		})
		require.Equal(t, 0, ledgerEntries(t, m), "nothing is signed before the operator approves")
	}

	require.NoError(t, agent.Refuse(ms[0].dir, id, "payee unknown to this ministry"))
	note := fmt.Sprintf("refused by the signer of cosigner %08x: payee unknown to this ministry", ms[0].rec.Fingerprint)
	waitFor(t, 30*time.Second, "the refusal recorded", func() bool {
		for _, h := range proposalOf(t, td, id).History {
			if h.Note == note && h.Actor == "ministry-0" {
				return true
			}
		}
		return false
	})
	var found bool
	for _, l := range mustLeaves(t, td) {
		if l.Kind == daemon.AuditSignerRefuse && l.IDs["proposal"] == id {
			found = true
			require.Equal(t, "payee unknown to this ministry", l.Detail)
		}
	}
	require.True(t, found, "the refusal has its audit leaf")

	require.NoError(t, agent.Approve(ms[1].dir, id, ms[1].key))
	waitFor(t, 30*time.Second, "the approved request signed", func() bool { return len(proposalOf(t, td, id).Signers) == 1 })
	require.Equal(t, 1, ledgerEntries(t, ms[1]))
	require.Equal(t, 0, ledgerEntries(t, ms[0]))
	waitFor(t, 10*time.Second, "the queues emptied", func() bool {
		a, _ := agent.Pending(ms[0].dir)
		b, _ := agent.Pending(ms[1].dir)
		return len(a) == 0 && len(b) == 0
	})
}

// TestRefuseRequestRefused: what RefuseRequest takes and refuses.
func TestRefuseRequestRefused(t *testing.T) {
	td := MustStartDaemon(t)
	ms := mustMinistries(t)
	w := mustAgentWallet(t, td, ms)
	id := mustSigningProposal(t, td, w)
	bound := custosv1.NewSignerServiceClient(mustIssueSigner(t, td, "ministry-0", ms[0].rec.Fingerprint))
	unbound := custosv1.NewSignerServiceClient(MustDialIdentity(t, td, "ministry-old", daemon.RoleSigner))
	tests := []struct {
		name   string
		client custosv1.SignerServiceClient
		id     string
		reason string
		code   codes.Code
		want   string
	}{
		{"no reason", bound, id, "", codes.InvalidArgument, "reason"},
		{"a control character", bound, id, "no\x1b[2J", codes.InvalidArgument, "not printable"},
		{"no such proposal", bound, "nope", "x", codes.NotFound, ""},
		{"a signer bound to no cosigner", unbound, id, "x", codes.PermissionDenied, "bound to a cosigner"},
		{"its own cosigner's request", bound, id, "not today", codes.OK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.client.RefuseRequest(callCtx(t), &custosv1.RefuseRequestRequest{ProposalId: tc.id, Reason: tc.reason})
			if tc.code != codes.OK {
				requireCode(t, err, tc.code, tc.want)
				return
			}
			require.NoError(t, err)
			last := r.Proposal.History[len(r.Proposal.History)-1]
			require.Contains(t, last.Note, "not today")
		})
	}
}

// fakeDaemon is the test double of custosd for a tampered request: it
// sends the requests it is given and records what the agent answers.
type fakeDaemon struct {
	custosv1.UnimplementedSignerServiceServer
	custosv1.UnimplementedSpendServiceServer
	requests []*custosv1.SigningRequest

	mu       sync.Mutex
	refused  map[string]string
	imported map[string][]byte
}

func (f *fakeDaemon) SigningRequests(_ *custosv1.SigningRequestsRequest, s custosv1.SignerService_SigningRequestsServer) error {
	for _, r := range f.requests {
		if err := s.Send(&custosv1.SigningRequestsResponse{Event: &custosv1.SigningRequestsResponse_Request{Request: r}}); err != nil {
			return err
		}
	}
	<-s.Context().Done()
	return nil
}

func (f *fakeDaemon) RefuseRequest(_ context.Context, r *custosv1.RefuseRequestRequest) (*custosv1.RefuseRequestResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refused[r.ProposalId] = r.Reason
	return &custosv1.RefuseRequestResponse{}, nil
}

func (f *fakeDaemon) ImportPSBT(_ context.Context, r *custosv1.ImportPSBTRequest) (*custosv1.ImportPSBTResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imported[r.Id] = r.Psbt
	return &custosv1.ImportPSBTResponse{SignaturesAdded: 1}, nil
}

// startFake serves f on loopback and returns a connection to it.
func startFake(t *testing.T, f *fakeDaemon) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(agent.MaxMessageBytes), grpc.MaxSendMsgSize(agent.MaxMessageBytes))
	custosv1.RegisterSignerServiceServer(srv, f)
	custosv1.RegisterSpendServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestAgentRefusesTamperedRequest: a daemon that sends a PSBT it changed
// after the officers approved it (another amount to the payee, another
// proposal's approvals, garbage) has the agent refuse it, report why and
// sign nothing; the request as the daemon built it is signed and
// submitted.
func TestAgentRefusesTamperedRequest(t *testing.T) {
	td := MustStartDaemon(t)
	ms := mustMinistries(t)
	w := mustAgentWallet(t, td, ms)
	id := mustSigningProposal(t, td, w)
	exp, err := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer)).ExportPSBT(callCtx(t), &custosv1.ExportPSBTRequest{Id: id})
	require.NoError(t, err)
	tamper := func(change func(p *psbtPacket)) []byte {
		pkt, err := multisig.ParsePSBT(exp.Psbt)
		require.NoError(t, err)
		change(pkt)
		raw, err := multisig.SerializePSBT(pkt)
		require.NoError(t, err)
		return raw
	}
	tests := []struct {
		name string
		id   string
		psbt []byte
		// want is in the reason reported; "" means signed and submitted.
		want string
	}{
		{"an output's amount changed", "tampered-amount", tamper(func(p *psbtPacket) {
			for _, o := range p.UnsignedTx.TxOut {
				o.Value -= 1000
			}
		}), "output"},
		{"another proposal's approvals", "other-proposal", exp.Psbt, "not other-proposal"},
		{"not a PSBT", "garbage", []byte("not a psbt"), "does not parse"},
		{"as the daemon built it", id, exp.Psbt, ""},
	}
	f := &fakeDaemon{refused: map[string]string{}, imported: map[string][]byte{}}
	for _, tc := range tests {
		f.requests = append(f.requests, &custosv1.SigningRequest{ProposalId: tc.id, Psbt: tc.psbt})
	}
	startAgent(t, ms[0], startFake(t, f), true)
	waitFor(t, 30*time.Second, "every request answered", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.refused)+len(f.imported) == len(tests)
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if tc.want == "" {
				require.Contains(t, f.imported, tc.id)
				require.NotContains(t, f.refused, tc.id)
				return
			}
			require.NotContains(t, f.imported, tc.id)
			require.Contains(t, f.refused[tc.id], tc.want)
		})
	}
	require.Equal(t, 1, ledgerEntries(t, ms[0]), "only the untampered request is signed")
}

type psbtPacket = psbt.Packet

// TestAgentsCarryLargePSBT: the agents' transfer path carries a PSBT over
// gRPC's default 4 MiB (every input carries its whole, large previous
// transaction): streamed to two agents, checked, signed and imported back,
// it finalizes.
func TestAgentsCarryLargePSBT(t *testing.T) {
	td := MustStartDaemon(t)
	ms := mustMinistries(t)
	w := mustAgentWallet(t, td, ms)
	MustSetPolicy(t, td, testPolicy(t))
	MustFundLarge(t, td, w, 30, 1_000_000)
	spend := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	r, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{
		Payees: []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 29_000_000}}, FeeRateSatVb: 1,
	}, daemon.CallOptions()...)
	require.NoError(t, err)
	id := r.Proposal.Id
	in, err := reserve.DecodeIntent(r.Proposal.Intent)
	require.NoError(t, err)
	for _, officer := range []string{"alice", "bob"} {
		a, err := reserve.SignIntent(&in, reserve.DecisionApprove, officerKey(officer))
		require.NoError(t, err)
		_, err = custosv1.NewSpendServiceClient(MustDialIdentity(t, td, officer, daemon.RoleOfficer)).DecideProposal(callCtx(t), &custosv1.DecideProposalRequest{
			Id: id, Decision: custosv1.Decision_DECISION_APPROVE,
			Signature: &custosv1.OfficerSignature{OfficerKey: a.OfficerKey[:], Signature: a.Signature[:]},
		}, daemon.CallOptions()...)
		require.NoError(t, err)
	}
	exp, err := spend.ExportPSBT(callCtx(t), &custosv1.ExportPSBTRequest{Id: id}, daemon.CallOptions()...)
	require.NoError(t, err)
	require.Greater(t, len(exp.Psbt), 4<<20, "over gRPC's default message size")

	for i, m := range ms[:2] {
		startAgent(t, m, mustIssueSigner(t, td, fmt.Sprintf("large-%d", i), m.rec.Fingerprint), true)
	}
	waitFor(t, 60*time.Second, "two signatures", func() bool {
		got, err := spend.GetProposal(callCtx(t), &custosv1.GetProposalRequest{Id: id}, daemon.CallOptions()...)
		require.NoError(t, err)
		return len(got.Proposal.Signers) == 2
	})
	got, err := spend.GetProposal(callCtx(t), &custosv1.GetProposalRequest{Id: id}, daemon.CallOptions()...)
	require.NoError(t, err)
	require.NotEqual(t, custosv1.ProposalState_PROPOSAL_STATE_SIGNING, got.Proposal.State, "two agents' signatures finalize it")
	for _, m := range ms[:2] {
		require.Equal(t, 1, ledgerEntries(t, m))
	}
}
