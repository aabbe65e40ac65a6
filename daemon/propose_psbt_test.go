package daemon_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// bigFunding is a previous transaction of some 340 KB: coinSat to script
// at output 0, then many outputs paying others, as an exchange's batch
// payout does.
func bigFunding(label string, script []byte, coinSat int64) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash(sha256.Sum256([]byte(label)))}, Sequence: wire.MaxTxInSequenceNum})
	tx.AddTxOut(wire.NewTxOut(coinSat, script))
	other := append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0x42}, 20)...)
	for k := range 11_000 {
		tx.AddTxOut(wire.NewTxOut(1_000+int64(k), other))
	}
	return tx
}

// MustFundLarge confirms count coins of coinSat at the first 20 receive
// addresses (the lookahead), each from its own large funding transaction,
// straight into the store.
func MustFundLarge(tb testing.TB, td *testDaemon, w *custosv1.Wallet, count int, coinSat int64) {
	tb.Helper()
	desc, err := multisig.ParseDescriptor(w.MultipathDescriptor, reserve.Regtest)
	require.NoError(tb, err)
	upd := reserve.BlockUpdate{Height: 101, Hash: chainhash.Hash{0x01}}
	for i := range count {
		der, err := desc.Derive(reserve.BranchReceive, uint32(i%20))
		require.NoError(tb, err)
		tx := bigFunding(fmt.Sprintf("large funding %d", i), der.PkScript, coinSat)
		upd.Txs = append(upd.Txs, tx)
		upd.Credits = append(upd.Credits, reserve.UTXO{
			OutPoint: wire.OutPoint{Hash: tx.TxHash()}, AmountSat: coinSat, Script: der.PkScript,
			Branch: reserve.BranchReceive, Index: uint32(i % 20), Height: 101,
		})
	}
	require.NoError(tb, td.db.ApplyBlock(context.Background(), upd))
}

// TestProposeLargePSBT: a spend whose inputs carry large previous
// transactions is refused at propose when its PSBT would pass the limit,
// reserving nothing, and the message names the largest payment that fits;
// one between gRPC's default 4 MiB and the limit is proposed, approved,
// exported, signed and imported over real gRPC.
func TestProposeLargePSBT(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	MustSetPolicy(t, td, testPolicy(t))
	// 110 coins of 0.01 BTC: some 98 fit in one PSBT.
	MustFundLarge(t, td, w, 110, 1_000_000)
	spend := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	propose := func(sat int64) (*custosv1.ProposeSpendResponse, error) {
		return spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{
			Payees: []*custosv1.Payment{{Address: listedAddr(t), AmountSat: sat}}, FeeRateSatVb: 1,
		}, daemon.CallOptions()...)
	}

	_, err := propose(100_000_000)
	requireCode(t, err, codes.FailedPrecondition, "every input carries its whole previous transaction", "the largest payment that fits is")
	held, err := td.db.Reservations(context.Background())
	require.NoError(t, err)
	require.Empty(t, held, "a refused proposal reserves nothing")
	list, err := spend.ListProposals(callCtx(t), &custosv1.ListProposalsRequest{})
	require.NoError(t, err)
	require.Empty(t, list.Proposals)

	// 30 coins: some 10 MB, over gRPC's default limit.
	r, err := propose(29_000_000)
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
	require.Greater(t, len(exp.Psbt), 4<<20)
	require.LessOrEqual(t, len(exp.Psbt), multisig.MaxPSBTBytes)
	desc, err := multisig.ParseDescriptor(w.MultipathDescriptor, reserve.Regtest)
	require.NoError(t, err)
	for _, b := range []byte{1, 2} {
		pkt, err := multisig.ParsePSBT(exp.Psbt)
		require.NoError(t, err)
		_, err = multisig.Analyze(pkt, desc)
		require.NoError(t, err)
		_, xprv, err := multisig.DeriveAccount(seed(b), reserve.Regtest, 0)
		require.NoError(t, err)
		_, err = multisig.SignPSBT(pkt, desc, xprv)
		require.NoError(t, err)
		signed, err := multisig.SerializePSBT(pkt)
		require.NoError(t, err)
		imp, err := spend.ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: signed}, daemon.CallOptions()...)
		require.NoError(t, err)
		require.Positive(t, imp.SignaturesAdded)
	}
	got, err := spend.GetProposal(callCtx(t), &custosv1.GetProposalRequest{Id: id}, daemon.CallOptions()...)
	require.NoError(t, err)
	require.NotEqual(t, custosv1.ProposalState_PROPOSAL_STATE_SIGNING, got.Proposal.State, "two signatures finalize it")
}
