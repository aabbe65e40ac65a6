package daemon_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// withoutCosignatures is raw without its 0x04 fields, as a PSBT tool
// that dropped them would hand it back (Bitcoin Core v31.99 and Electrum
// 4.3.4 do not: multisig/testdata/core/custos-witness).
func withoutCosignatures(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	pkt, err := multisig.ParsePSBT(raw)
	require.NoError(tb, err)
	w, err := multisig.ReadWitness(pkt)
	require.NoError(tb, err)
	w.Cosignatures = nil
	require.NoError(tb, multisig.SetWitness(pkt, w))
	out, err := multisig.SerializePSBT(pkt)
	require.NoError(tb, err)
	return out
}

// TestImportWithoutCosignature: what a signed file that lost its
// cosignature (0x04) on the way does. The import takes its signatures and
// records no witness; the next export then carries no consistency proof
// for that cosigner, and the signer, which recorded the checkpoint it
// cosigned, refuses it (audit.CheckExtends, as signer.checkWitness
// calls it) once the log has grown. An officer importing the signer's own
// file afterwards is refused (it adds no signature, so its new witness key
// is not trusted); the signer identity bound to the cosigner importing it
// is accepted and records the witness, and the next export carries the
// proof again.
func TestImportWithoutCosignature(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	id := mustSigningProposal(t, td, w)
	officer := MustDialAs(t, td, daemon.RoleOfficer)
	spend := custosv1.NewSpendServiceClient(officer)
	_, logV := MustLogKeyOf(t, td)
	fp1 := MustCosigner(t, 1).Fingerprint

	own := mustCosigned(t, mustSignedBy(t, officer, w, id, 1), logV, nil, fp1, 0xa1)
	ownPkt, err := multisig.ParsePSBT(own)
	require.NoError(t, err)
	ownW, err := multisig.ReadWitness(ownPkt)
	require.NoError(t, err)
	c, err := audit.ParseCosignature(fp1, ownW.Cosignatures[fp1])
	require.NoError(t, err)
	witnessed, err := audit.OpenCosignature(c, logV)
	require.NoError(t, err)

	_, err = spend.ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: withoutCosignatures(t, own)})
	require.NoError(t, err, "the signatures are taken without the cosignature")
	require.Equal(t, []string{fmt.Sprintf("%08x", fp1)}, signersOf(t, officer, id))
	require.Empty(t, witnessKeys(t, td, logV), "no witness recorded")

	next := func() (audit.Checkpoint, *audit.ConsistencyProof) {
		exp, err := spend.ExportPSBT(callCtx(t), &custosv1.ExportPSBTRequest{Id: id})
		require.NoError(t, err)
		pkt, err := multisig.ParsePSBT(exp.Psbt)
		require.NoError(t, err)
		ew, err := multisig.ReadWitness(pkt)
		require.NoError(t, err)
		cp, err := audit.OpenCheckpoint(ew.Checkpoint, logV)
		require.NoError(t, err)
		text, ok := ew.Proofs[fp1]
		if !ok {
			return cp, nil
		}
		p, err := audit.ParseConsistencyProof(text)
		require.NoError(t, err)
		return cp, &p
	}
	cp, proof := next()
	require.Nil(t, proof, "the coordinator knows no witness of cosigner %08x", fp1)
	require.Greater(t, cp.Size, witnessed.Size)
	err = audit.CheckExtends(witnessed, cp, proof)
	require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
	require.ErrorContains(t, err, "consistency proof: missing")

	_, err = spend.ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: own})
	requireCode(t, err, codes.PermissionDenied, fmt.Sprintf("cosignature[%08x]", fp1), "nothing was stored")
	require.Empty(t, witnessKeys(t, td, logV))

	ministry1 := mustIssueSigner(t, td, "ministry-1", fp1)
	_, err = custosv1.NewSpendServiceClient(ministry1).ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: own})
	require.NoError(t, err, "the signer identity re-imports its own file")
	require.Equal(t, map[uint32]string{fp1: c.Key}, witnessKeys(t, td, logV))
	cp, proof = next()
	require.NotNil(t, proof)
	require.NoError(t, audit.CheckExtends(witnessed, cp, proof))
}
