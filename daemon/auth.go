package daemon

import (
	"context"
	"crypto/x509"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

var (
	everyone = []Role{RoleAdmin, RoleOfficer, RoleAuditor, RoleSigner}
	readers  = []Role{RoleAdmin, RoleOfficer, RoleAuditor}
)

// methodRoles is the one table of who may call what. A method missing
// from it is refused for everybody: a new RPC is closed until it is listed.
var methodRoles = map[string][]Role{
	custosv1.AdminService_CreateWallet_FullMethodName: {RoleAdmin},

	custosv1.TreasuryService_GetStatus_FullMethodName:     everyone,
	custosv1.TreasuryService_GetWallet_FullMethodName:     everyone,
	custosv1.TreasuryService_NewAddress_FullMethodName:    {RoleAdmin, RoleOfficer},
	custosv1.TreasuryService_ListAddresses_FullMethodName: readers,
	custosv1.TreasuryService_GetBalance_FullMethodName:    readers,
	custosv1.TreasuryService_ListUtxos_FullMethodName:     readers,

	custosv1.SpendService_ProposeSpend_FullMethodName:   {RoleAdmin, RoleOfficer},
	custosv1.SpendService_ListProposals_FullMethodName:  everyone,
	custosv1.SpendService_GetProposal_FullMethodName:    everyone,
	custosv1.SpendService_ExportPSBT_FullMethodName:     {RoleAdmin, RoleOfficer, RoleSigner},
	custosv1.SpendService_ImportPSBT_FullMethodName:     {RoleAdmin, RoleOfficer, RoleSigner},
	custosv1.SpendService_CancelProposal_FullMethodName: {RoleAdmin, RoleOfficer},
	custosv1.SpendService_DecideProposal_FullMethodName: {RoleOfficer},
	custosv1.SpendService_BumpFee_FullMethodName:        {RoleAdmin, RoleOfficer},

	custosv1.PolicyService_GetPolicy_FullMethodName:     everyone,
	custosv1.PolicyService_SetPolicy_FullMethodName:     {RoleAdmin},
	custosv1.PolicyService_ApprovePolicy_FullMethodName: {RoleOfficer},
	custosv1.PolicyService_CheckPayment_FullMethodName:  readers,
	custosv1.PolicyService_Freeze_FullMethodName:        {RoleOfficer},
	custosv1.PolicyService_Unfreeze_FullMethodName:      {RoleOfficer},

	healthpb.Health_Check_FullMethodName:                                   everyone,
	healthpb.Health_Watch_FullMethodName:                                   everyone,
	reflectionpb.ServerReflection_ServerReflectionInfo_FullMethodName:      everyone,
	reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: everyone,
}

// Caller is the authenticated identity behind a request.
type Caller struct {
	Name string
	Role Role
}

type callerKey struct{}

// CallerFrom returns the identity the interceptor attached to ctx.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// authorize finds the caller's verified client certificate, reads its role
// and checks it against methodRoles.
func authorize(ctx context.Context, method string) (context.Context, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, status.Error(codes.Unauthenticated, "a client certificate signed by this daemon's CA is required")
	}
	caller, err := callerOf(info.State.VerifiedChains[0][0])
	if err != nil {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	for _, r := range methodRoles[method] {
		if r == caller.Role {
			return context.WithValue(ctx, callerKey{}, caller), nil
		}
	}
	return nil, status.Errorf(codes.PermissionDenied, "role %s may not call %s", caller.Role, method)
}

func callerOf(cert *x509.Certificate) (Caller, error) {
	if len(cert.Subject.OrganizationalUnit) != 1 {
		return Caller{}, errPermission("client certificate carries no role")
	}
	role, err := ParseRole(cert.Subject.OrganizationalUnit[0])
	if err != nil {
		return Caller{}, err
	}
	return Caller{Name: cert.Subject.CommonName, Role: role}, nil
}

type errPermission string

func (e errPermission) Error() string { return string(e) }

func unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &authedStream{ServerStream: ss, ctx: ctx})
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authedStream) Context() context.Context { return s.ctx }
