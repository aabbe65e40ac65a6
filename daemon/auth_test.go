package daemon

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// TestEveryMethodHasRoles checks that every RPC of every Custos service
// is in methodRoles, so a new RPC cannot ship without deciding who may call
// it (unlisted methods are refused, which would look like a bug), and
// that the table names no method that does not exist.
func TestEveryMethodHasRoles(t *testing.T) {
	srv := grpc.NewServer(grpc.Creds(insecure.NewCredentials()))
	custosv1.RegisterAdminServiceServer(srv, &adminServer{})
	custosv1.RegisterTreasuryServiceServer(srv, &treasuryServer{})
	custosv1.RegisterSpendServiceServer(srv, &spendServer{})
	custosv1.RegisterPolicyServiceServer(srv, &policyServer{})
	custosv1.RegisterIdentityServiceServer(srv, &identityServer{})
	custosv1.RegisterAuditServiceServer(srv, &auditServer{})
	served := map[string]bool{}
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			served[full] = true
			require.NotEmpty(t, methodRoles[full], "%s has no roles in methodRoles", full)
		}
	}
	require.Len(t, served, 30) // 24 + the 6 of AuditService
	for method := range methodRoles {
		if served[method] {
			continue
		}
		require.Contains(t, []string{
			"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
			"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
			"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
		}, method, "methodRoles lists %s, which no service serves", method)
	}
}
