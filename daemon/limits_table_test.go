package daemon

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// TestEveryMethodHasLimits checks that methodLimits names exactly the
// methods of methodRoles, which names every method served: a new RPC
// cannot ship without a request size and a rate class (unlisted methods
// are refused).
func TestEveryMethodHasLimits(t *testing.T) {
	srv := grpc.NewServer(grpc.Creds(insecure.NewCredentials()))
	custosv1.RegisterAdminServiceServer(srv, &adminServer{})
	custosv1.RegisterTreasuryServiceServer(srv, &treasuryServer{})
	custosv1.RegisterSpendServiceServer(srv, &spendServer{})
	custosv1.RegisterPolicyServiceServer(srv, &policyServer{})
	custosv1.RegisterProofServiceServer(srv, &proofServer{})
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			require.Contains(t, methodLimits, full, "%s has no limits in methodLimits", full)
		}
	}
	for method := range methodRoles {
		require.Contains(t, methodLimits, method, "%s has roles but no limits", method)
	}
	for method := range methodLimits {
		require.Contains(t, methodRoles, method, "methodLimits lists %s, which has no roles", method)
	}
}

// TestMethodLimitsShape checks the table's rules: only an import, a
// policy document and a proof request naming its coins are large
// requests, and what an auditor may call changes nothing, so it is not
// rate-limited — except a proof of reserves, which an auditor may request
// and finalize (the policy's proofs.requesters) and which builds or
// checks a PSBT over every coin: rate-limited like any change.
func TestMethodLimitsShape(t *testing.T) {
	large := map[string]int{
		custosv1.SpendService_ImportPSBT_FullMethodName:   importRequestBytes,
		custosv1.PolicyService_SetPolicy_FullMethodName:   policyRequestBytes,
		custosv1.ProofService_ImportProof_FullMethodName:  importRequestBytes,
		custosv1.ProofService_RequestProof_FullMethodName: proofRequestBytes,
	}
	auditorChanges := map[string]bool{
		custosv1.ProofService_RequestProof_FullMethodName:  true,
		custosv1.ProofService_FinalizeProof_FullMethodName: true,
	}
	for method, lim := range methodLimits {
		want, ok := large[method]
		if !ok {
			want = smallRequestBytes
		}
		require.Equal(t, want, lim.maxRequest, "request limit of %s", method)
		require.LessOrEqual(t, lim.maxRequest, MaxRequestBytes, "%s allows more than gRPC reads", method)
		for _, r := range methodRoles[method] {
			if r == RoleAuditor && !auditorChanges[method] {
				require.False(t, lim.changes, "auditors may call %s, which is rate-limited as a change", method)
			}
		}
	}
	require.Greater(t, importRequestBytes, multisig.MaxPSBTBytes, "an import carries a PSBT of multisig.MaxPSBTBytes")
}
