package daemon_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// mustSigningProposal proposes a small payment to the allowlisted payee
// from one funded coin, has alice and bob approve it and exports it, so
// it waits for signatures (SIGNING). It returns the proposal's id.
func mustSigningProposal(t *testing.T, td *testDaemon, w *custosv1.Wallet) string {
	t.Helper()
	MustSetPolicy(t, td, testPolicy(t))
	MustFundCoins(t, td, w, 50_000_000)
	spend := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	r, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{
		Payees: []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 10_000_000}}, FeeRateSatVb: 1,
	})
	require.NoError(t, err)
	in, err := reserve.DecodeIntent(r.Proposal.Intent)
	require.NoError(t, err)
	for _, officer := range []string{"alice", "bob"} {
		a, err := reserve.SignIntent(&in, reserve.DecisionApprove, officerKey(officer))
		require.NoError(t, err)
		_, err = custosv1.NewSpendServiceClient(MustDialIdentity(t, td, officer, daemon.RoleOfficer)).DecideProposal(callCtx(t), &custosv1.DecideProposalRequest{
			Id: r.Proposal.Id, Decision: custosv1.Decision_DECISION_APPROVE,
			Signature: &custosv1.OfficerSignature{OfficerKey: a.OfficerKey[:], Signature: a.Signature[:]},
		})
		require.NoError(t, err)
	}
	_, err = spend.ExportPSBT(callCtx(t), &custosv1.ExportPSBTRequest{Id: r.Proposal.Id})
	require.NoError(t, err)
	return r.Proposal.Id
}

// mustSignedBy exports proposal id and returns its PSBT signed by the
// cosigners of seeds, as the ministries' offline signers would.
func mustSignedBy(t *testing.T, conn *grpc.ClientConn, w *custosv1.Wallet, id string, seeds ...byte) []byte {
	t.Helper()
	exp, err := custosv1.NewSpendServiceClient(conn).ExportPSBT(callCtx(t), &custosv1.ExportPSBTRequest{Id: id})
	require.NoError(t, err)
	desc, err := multisig.ParseDescriptor(w.MultipathDescriptor, reserve.Regtest)
	require.NoError(t, err)
	pkt, err := multisig.ParsePSBT(exp.Psbt)
	require.NoError(t, err)
	for _, b := range seeds {
		_, xprv, err := multisig.DeriveAccount(seed(b), reserve.Regtest, 0)
		require.NoError(t, err)
		_, err = multisig.SignPSBT(pkt, desc, xprv)
		xprv.Zero()
		require.NoError(t, err)
	}
	signed, err := multisig.SerializePSBT(pkt)
	require.NoError(t, err)
	return signed
}

// mustIssueSigner issues, over the API, a signer identity bound to the
// cosigner fingerprint fp and connects with it.
func mustIssueSigner(t *testing.T, td *testDaemon, name string, fp uint32) *grpc.ClientConn {
	t.Helper()
	r, err := custosv1.NewIdentityServiceClient(MustDialAdmin(t, td)).IssueIdentity(callCtx(t), &custosv1.IssueIdentityRequest{
		Name: name, Role: custosv1.IdentityRole_IDENTITY_ROLE_SIGNER, CosignerFingerprint: &fp,
	})
	require.NoError(t, err)
	require.Equal(t, fp, r.Identity.GetCosignerFingerprint())
	return MustDial(t, td.addr(), r.CaPem, r.CertificatePem, r.KeyPem)
}

// TestSignerImportsOnlyItsCosigner: over real gRPC, a signer identity
// whose certificate binds cosigner F imports F's signatures; one adding
// another cosigner's signatures (alone or beside F's) is refused naming
// both fingerprints, and nothing is stored; a signer certificate binding
// no cosigner adds none. An officer, who carries PSBTs from air-gapped
// signers, is held to no cosigner.
func TestSignerImportsOnlyItsCosigner(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	id := mustSigningProposal(t, td, w)
	officer := MustDialAs(t, td, daemon.RoleOfficer)
	fp1, fp2 := MustCosigner(t, 1).Fingerprint, MustCosigner(t, 2).Fingerprint
	ministry1 := mustIssueSigner(t, td, "ministry-1", fp1)
	// A signer certificate made before signers were bound to a cosigner:
	// it carries the role and no custos:cosigner: URI.
	unbound := MustDialIdentity(t, td, "ministry-old", daemon.RoleSigner)

	tests := []struct {
		name  string
		conn  *grpc.ClientConn
		seeds []byte
		code  codes.Code
		want  []string
		// signers are the fingerprints that have signed afterwards.
		signers []string
		added   uint32
	}{
		{"another cosigner's signatures", ministry1, []byte{2}, codes.PermissionDenied,
			[]string{"ministry-1", fmt.Sprintf("%08x", fp1), fmt.Sprintf("%08x", fp2), "nothing was stored"}, nil, 0},
		{"its own beside another's", ministry1, []byte{1, 2}, codes.PermissionDenied,
			[]string{"ministry-1", fmt.Sprintf("%08x", fp1), fmt.Sprintf("%08x", fp2)}, nil, 0},
		{"a signer bound to no cosigner", unbound, []byte{1}, codes.PermissionDenied,
			[]string{"ministry-old", "bound to no cosigner"}, nil, 0},
		{"its own cosigner's signatures", ministry1, []byte{1}, codes.OK, nil,
			[]string{fmt.Sprintf("%08x", fp1)}, 1},
		// Carrying signatures already stored adds none: not refused.
		{"a signer bound to no cosigner repeats stored ones", unbound, []byte{1}, codes.OK, nil,
			[]string{fmt.Sprintf("%08x", fp1)}, 0},
		{"an officer carries another cosigner's", officer, []byte{2}, codes.OK, nil,
			[]string{fmt.Sprintf("%08x", fp1), fmt.Sprintf("%08x", fp2)}, 1},
	}
	spend := custosv1.NewSpendServiceClient(officer)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, err := spend.ExportPSBT(callCtx(t), &custosv1.ExportPSBTRequest{Id: id})
			require.NoError(t, err)
			signed := mustSignedBy(t, officer, w, id, tc.seeds...)
			r, err := custosv1.NewSpendServiceClient(tc.conn).ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: signed})
			got, gerr := spend.GetProposal(callCtx(t), &custosv1.GetProposalRequest{Id: id})
			require.NoError(t, gerr)
			var signers []string
			for _, s := range got.Proposal.Signers {
				signers = append(signers, s.Fingerprint)
			}
			require.ElementsMatch(t, tc.signers, signers)
			if tc.code != codes.OK {
				requireCode(t, err, tc.code, tc.want...)
				after, err := spend.ExportPSBT(callCtx(t), &custosv1.ExportPSBTRequest{Id: id})
				require.NoError(t, err)
				require.Equal(t, withoutWitness(t, before.Psbt), withoutWitness(t, after.Psbt), "a refused import stores no signature")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.added, r.SignaturesAdded)
		})
	}
}
