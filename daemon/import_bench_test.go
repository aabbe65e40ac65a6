package daemon_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// BenchmarkImportCompleting times the ImportPSBT call (mTLS on loopback)
// that brings a 950-input spend to its threshold: combine, finalize, the
// store write and the broadcast attempt, here to a node that is not there
// (so the node's own checks are not in the figure). Each iteration sets up
// a fresh daemon, proposal and both signers' files with the timer
// stopped. Issue 15. Run with -benchtime 5x.
func BenchmarkImportCompleting(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		td := mustQuietDaemon(b)
		spend, id, inputs, files := mustTwoSignerFiles(b, td, 950)
		_, err := spend.ImportPSBT(callCtx(b), &custosv1.ImportPSBTRequest{Id: id, Psbt: files[0]}, daemon.CallOptions()...)
		require.NoError(b, err)
		b.ReportMetric(float64(inputs), "inputs")
		b.ReportMetric(float64(len(files[1])), "psbt-bytes")

		b.StartTimer()
		imp, err := spend.ImportPSBT(callCtx(b), &custosv1.ImportPSBTRequest{Id: id, Psbt: files[1]}, daemon.CallOptions()...)
		b.StopTimer()
		require.NoError(b, err)
		require.Equal(b, uint32(inputs), imp.SignaturesAdded)
		require.Contains(b, []custosv1.ProposalState{custosv1.ProposalState_PROPOSAL_STATE_FINALIZED, custosv1.ProposalState_PROPOSAL_STATE_BROADCAST}, imp.Proposal.State)
		td.stop()
		b.StartTimer()
	}
}

// mustTwoSignerFiles funds coins coins of 100,000 sat, proposes a payment
// that spends (nearly) all of them, has alice and bob approve it, exports
// it and returns the files cosigners 1 and 2 sign from that export, with
// the proposal's id and its number of inputs.
func mustTwoSignerFiles(tb testing.TB, td *testDaemon, coins int) (custosv1.SpendServiceClient, string, int, [][]byte) {
	tb.Helper()
	w := MustCreateWallet(tb, td)
	MustSetPolicy(tb, td, testPolicy(tb))
	amounts := make([]int64, coins)
	for k := range amounts {
		amounts[k] = 100_000
	}
	MustFundCoins(tb, td, w, amounts...)
	spend := custosv1.NewSpendServiceClient(MustDialAs(tb, td, daemon.RoleOfficer))
	// Each 2-of-3 input costs some 105 sat at 1 sat/vB.
	r, err := spend.ProposeSpend(callCtx(tb), &custosv1.ProposeSpendRequest{
		Payees: []*custosv1.Payment{{Address: listedAddr(tb), AmountSat: int64(coins) * (100_000 - 150)}}, FeeRateSatVb: 1,
	}, daemon.CallOptions()...)
	require.NoError(tb, err)
	id := r.Proposal.Id
	in, err := reserve.DecodeIntent(r.Proposal.Intent)
	require.NoError(tb, err)
	for _, officer := range []string{"alice", "bob"} {
		a, err := reserve.SignIntent(&in, reserve.DecisionApprove, officerKey(officer))
		require.NoError(tb, err)
		_, err = custosv1.NewSpendServiceClient(MustDialIdentity(tb, td, officer, daemon.RoleOfficer)).DecideProposal(callCtx(tb), &custosv1.DecideProposalRequest{
			Id: id, Decision: custosv1.Decision_DECISION_APPROVE,
			Signature: &custosv1.OfficerSignature{OfficerKey: a.OfficerKey[:], Signature: a.Signature[:]},
		}, daemon.CallOptions()...)
		require.NoError(tb, err)
	}
	exp, err := spend.ExportPSBT(callCtx(tb), &custosv1.ExportPSBTRequest{Id: id}, daemon.CallOptions()...)
	require.NoError(tb, err)
	desc, err := multisig.ParseDescriptor(w.MultipathDescriptor, reserve.Regtest)
	require.NoError(tb, err)
	var files [][]byte
	for _, s := range []byte{1, 2} {
		pkt, err := multisig.ParsePSBT(exp.Psbt)
		require.NoError(tb, err)
		_, xprv, err := multisig.DeriveAccount(seed(s), reserve.Regtest, 0)
		require.NoError(tb, err)
		_, err = multisig.SignPSBT(pkt, desc, xprv)
		xprv.Zero()
		require.NoError(tb, err)
		raw, err := multisig.SerializePSBT(pkt)
		require.NoError(tb, err)
		files = append(files, raw)
	}
	return spend, id, len(r.Proposal.Inputs), files
}
