package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// servedMethods registers every service New registers and returns the
// full names of their methods.
func servedMethods(t *testing.T) map[string]bool {
	srv := grpc.NewServer(grpc.Creds(insecure.NewCredentials()))
	registerServices(srv, &Daemon{}, health.NewServer())
	served := map[string]bool{}
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			served["/"+name+"/"+m.Name] = true
		}
	}
	require.NotEmpty(t, served)
	return served
}

// TestRoleMatrix is the role × RPC matrix generated from methodRoles and
// the registered services: every RPC has exactly one rule, no rule names
// an RPC that is not served, and authorize allows a role exactly when the
// rule lists it.
func TestRoleMatrix(t *testing.T) {
	served := servedMethods(t)
	for method := range served {
		require.NotEmpty(t, methodRoles[method], "%s has no rule in methodRoles", method)
	}
	for method := range methodRoles {
		require.True(t, served[method], "methodRoles has a rule for %s, which no service serves", method)
	}
	for method := range served {
		for _, role := range []Role{RoleAdmin, RoleOfficer, RoleAuditor, RoleSigner} {
			t.Run(string(role)+method, func(t *testing.T) {
				_, err := authorize(peerContext(string(role)), method)
				if slices.Contains(methodRoles[method], role) {
					require.NoError(t, err)
					return
				}
				require.Equal(t, codes.PermissionDenied, status.Code(err), "err: %v", err)
			})
		}
	}
}

// TestReflectionRoles: reflection shows the API to admins and auditors
// only.
func TestReflectionRoles(t *testing.T) {
	const method = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
	tests := []struct {
		name string
		role Role
		ok   bool
	}{
		{"admin", RoleAdmin, true},
		{"auditor", RoleAuditor, true},
		{"officer", RoleOfficer, false},
		{"signer", RoleSigner, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := authorize(peerContext(string(tc.role)), method)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Equal(t, codes.PermissionDenied, status.Code(err))
		})
	}
}

// peerContext is a call's context whose verified client certificate has
// role in its OU.
func peerContext(role string) context.Context {
	cert := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "someone", OrganizationalUnit: []string{role}}}
	info := credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}}
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: info})
}
