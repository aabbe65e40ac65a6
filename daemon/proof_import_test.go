package daemon_test

import (
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/proof"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// TestImportFinalizedProof: a ministry's tool may finalize a proof once it
// holds the threshold (Electrum does, and Bitcoin Core's
// walletprocesspsbt: multisig/testdata/core/custos-proof). The import takes
// the signatures out of the finalized inputs, checks the merged proof as
// the signers do, and the proof finalizes into a file that verifies with
// the coins' total. A file of another transaction is still refused.
func TestImportFinalizedProof(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	MustSetPolicy(t, td, testPolicy(t))
	MustFundCoins(t, td, w, 50_000_000, 70_000_000)
	proofs := custosv1.NewProofServiceClient(MustDialIdentity(t, td, "alice", daemon.RoleOfficer))
	const message = "Reserve audit 2026-12-03, challenge 5e1f"

	r, err := proofs.RequestProof(callCtx(t), &custosv1.RequestProofRequest{Message: message})
	require.NoError(t, err)
	id := r.GetProof().GetId()
	rec, err := td.db.Proof(callCtx(t), id)
	require.NoError(t, err)
	st := rec.Statement(reserve.Regtest, multisig.BIP322MessageHash([]byte(message)))
	a, err := reserve.SignProofStatement(&st, officerKey("alice"))
	require.NoError(t, err)
	_, err = proofs.ApproveProof(callCtx(t), &custosv1.ApproveProofRequest{
		Id: id, Signature: &custosv1.OfficerSignature{OfficerKey: a.OfficerKey[:], Signature: a.Signature[:]},
	})
	require.NoError(t, err)

	exp, err := proofs.ExportProof(callCtx(t), &custosv1.ExportProofRequest{Id: id})
	require.NoError(t, err)
	desc, err := multisig.ParseDescriptor(w.MultipathDescriptor, reserve.Regtest)
	require.NoError(t, err)
	pkt, err := multisig.ParsePSBT(exp.Psbt)
	require.NoError(t, err)
	for _, b := range []byte{1, 2} {
		_, xprv, err := multisig.DeriveAccount(seed(b), reserve.Regtest, 0)
		require.NoError(t, err)
		_, err = multisig.SignProof(pkt, desc, xprv)
		xprv.Zero()
		require.NoError(t, err)
	}
	require.NoError(t, psbt.MaybeFinalizeAll(pkt), "finalized in place, as Electrum does")
	require.True(t, pkt.IsComplete())
	raw, err := multisig.SerializePSBT(pkt)
	require.NoError(t, err)

	// A file of another transaction: refused, nothing taken.
	other, err := multisig.ParsePSBT(raw)
	require.NoError(t, err)
	other.UnsignedTx.LockTime = 1
	otherRaw, err := multisig.SerializePSBT(other)
	require.NoError(t, err)
	_, err = proofs.ImportProof(callCtx(t), &custosv1.ImportProofRequest{Id: id, Psbt: otherRaw})
	require.Error(t, err)

	imp, err := proofs.ImportProof(callCtx(t), &custosv1.ImportProofRequest{Id: id, Psbt: raw})
	require.NoError(t, err)
	require.Len(t, imp.GetProof().GetSigners(), 2)
	fin, err := proofs.FinalizeProof(callCtx(t), &custosv1.FinalizeProofRequest{Id: id, IncludeDescriptor: true})
	require.NoError(t, err)
	f, err := proof.Parse(fin.GetProofJson())
	require.NoError(t, err)
	require.Equal(t, int64(120_000_000), f.TotalSat)
	require.Len(t, f.Signers, 2)
}
