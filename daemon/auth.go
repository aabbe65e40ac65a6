package daemon

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	"github.com/custos-reserve/custos/daemon/console"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

var (
	everyone = []Role{RoleAdmin, RoleOfficer, RoleAuditor, RoleSigner}
	readers  = []Role{RoleAdmin, RoleOfficer, RoleAuditor}
)

// methodRoles is the one table of who may call what. A method missing
// from it is refused for everybody: a new RPC is closed until it is listed.
var methodRoles = map[string][]Role{
	custosv1.AdminService_CreateWallet_FullMethodName: {RoleAdmin},
	custosv1.AdminService_Backup_FullMethodName:       {RoleAdmin},
	custosv1.AdminService_AckRestore_FullMethodName:   {RoleAdmin},

	custosv1.TreasuryService_GetStatus_FullMethodName:         everyone,
	custosv1.TreasuryService_GetWallet_FullMethodName:         everyone,
	custosv1.TreasuryService_NewAddress_FullMethodName:        {RoleAdmin, RoleOfficer},
	custosv1.TreasuryService_ListAddresses_FullMethodName:     readers,
	custosv1.TreasuryService_GetBalance_FullMethodName:        readers,
	custosv1.TreasuryService_ListUtxos_FullMethodName:         readers,
	custosv1.TreasuryService_GetBalanceHistory_FullMethodName: readers,

	custosv1.SpendService_ProposeSpend_FullMethodName:   {RoleAdmin, RoleOfficer},
	custosv1.SpendService_ListProposals_FullMethodName:  everyone,
	custosv1.SpendService_GetProposal_FullMethodName:    everyone,
	custosv1.SpendService_ExportPSBT_FullMethodName:     {RoleAdmin, RoleOfficer, RoleSigner},
	custosv1.SpendService_ImportPSBT_FullMethodName:     {RoleAdmin, RoleOfficer, RoleSigner},
	custosv1.SpendService_CancelProposal_FullMethodName: {RoleAdmin, RoleOfficer},
	custosv1.SpendService_DecideProposal_FullMethodName: {RoleOfficer},
	custosv1.SpendService_BumpFee_FullMethodName:        {RoleAdmin, RoleOfficer},

	// Online signer agents only (rpc_signer.go): each sees and refuses
	// for its own cosigner.
	custosv1.SignerService_SigningRequests_FullMethodName: {RoleSigner},
	custosv1.SignerService_RefuseRequest_FullMethodName:   {RoleSigner},

	// RequestProof is further held to the policy's proofs.requesters
	// (proof.go); ApproveProof to the officer whose key signs.
	custosv1.ProofService_RequestProof_FullMethodName:  {RoleAdmin, RoleOfficer, RoleAuditor},
	custosv1.ProofService_GetProof_FullMethodName:      readers,
	custosv1.ProofService_ListProofs_FullMethodName:    readers,
	custosv1.ProofService_ApproveProof_FullMethodName:  {RoleOfficer},
	custosv1.ProofService_ExportProof_FullMethodName:   {RoleAdmin, RoleOfficer, RoleSigner},
	custosv1.ProofService_ImportProof_FullMethodName:   {RoleAdmin, RoleOfficer, RoleSigner},
	custosv1.ProofService_FinalizeProof_FullMethodName: readers,

	custosv1.PolicyService_GetPolicy_FullMethodName:     everyone,
	custosv1.PolicyService_SetPolicy_FullMethodName:     {RoleAdmin},
	custosv1.PolicyService_ApprovePolicy_FullMethodName: {RoleOfficer},
	custosv1.PolicyService_CheckPayment_FullMethodName:  readers,
	custosv1.PolicyService_Freeze_FullMethodName:        {RoleOfficer},
	custosv1.PolicyService_Unfreeze_FullMethodName:      {RoleOfficer},

	healthpb.Health_Check_FullMethodName:                                   everyone,
	healthpb.Health_Watch_FullMethodName:                                   everyone,
	reflectionpb.ServerReflection_ServerReflectionInfo_FullMethodName:      {RoleAdmin, RoleAuditor},
	reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: {RoleAdmin, RoleAuditor},

	custosv1.IdentityService_IssueIdentity_FullMethodName:  {RoleAdmin},
	custosv1.IdentityService_ListIdentities_FullMethodName: {RoleAdmin, RoleAuditor},
	custosv1.IdentityService_RevokeIdentity_FullMethodName: {RoleAdmin},

	custosv1.AuditService_GetCheckpoint_FullMethodName:    {RoleAdmin, RoleAuditor},
	custosv1.AuditService_ListAudit_FullMethodName:        {RoleAdmin, RoleAuditor},
	custosv1.AuditService_TailAudit_FullMethodName:        {RoleAdmin, RoleAuditor},
	custosv1.AuditService_ExportAudit_FullMethodName:      {RoleAdmin, RoleAuditor},
	custosv1.AuditService_ProveInclusion_FullMethodName:   {RoleAdmin, RoleAuditor},
	custosv1.AuditService_ProveConsistency_FullMethodName: {RoleAdmin, RoleAuditor},
}

// Caller is the authenticated identity behind a request, as its
// certificate says.
type Caller struct {
	Name string
	Role Role
	// Serial is the certificate's serial, lower-case hex.
	Serial string
	// Fingerprint is the cosigner a signer identity is bound to.
	Fingerprint    uint32
	HasFingerprint bool
	IssuedAt       time.Time
	ExpiresAt      time.Time
	// Console is true for a browser console session (webconsole.go):
	// its identity was looked up at login, never recorded on first use.
	Console bool
}

type callerKey struct{}

// CallerFrom returns the identity the interceptor attached to ctx.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// authorize finds the caller's verified client certificate, reads its role
// and checks it against methodRoles.
//
// A call from the browser console carries no certificate: the console's
// handler put the identity of its session in the context instead (only
// that handler can: the key is unexported), and it is held to the same
// table.
func authorize(ctx context.Context, method string) (context.Context, error) {
	caller, err := callerFromContext(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range methodRoles[method] {
		if r == caller.Role {
			// The actor is what the store records in audit leaves.
			return reserve.WithActor(context.WithValue(ctx, callerKey{}, caller), caller.actor()), nil
		}
	}
	return nil, status.Errorf(codes.PermissionDenied, "role %s may not call %s", caller.Role, method)
}

// callerFromContext is the console session's identity or the verified
// client certificate's.
func callerFromContext(ctx context.Context) (Caller, error) {
	if id, ok := console.IdentityFrom(ctx); ok {
		role, err := ParseRole(id.Role)
		if err != nil {
			return Caller{}, status.Error(codes.PermissionDenied, err.Error())
		}
		return Caller{Name: id.Name, Role: role, Serial: id.Serial, ExpiresAt: id.ExpiresAt, Console: true}, nil
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Caller{}, status.Error(codes.Unauthenticated, "no peer information")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return Caller{}, status.Error(codes.Unauthenticated, "a client certificate signed by this daemon's CA is required")
	}
	caller, err := callerOf(info.State.VerifiedChains[0][0])
	if err != nil {
		return Caller{}, status.Error(codes.PermissionDenied, err.Error())
	}
	return caller, nil
}

type errPermission string

func (e errPermission) Error() string { return string(e) }

// unaryAuth authorizes the call, then refuses a revoked certificate
// (d.ids.admit).
func (d *Daemon) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	actx, err := authorize(ctx, info.FullMethod)
	if err != nil {
		return nil, d.refuse(ctx, info.FullMethod, err) // audit.go: logged
	}
	ctx = actx
	if err := d.ids.admit(ctx); err != nil {
		return nil, d.refuse(ctx, info.FullMethod, err)
	}
	return handler(ctx, req)
}

// streamAuth is unaryAuth for streams; the stream's context is cancelled
// when its certificate is revoked while it is open.
func (d *Daemon) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := authorize(ss.Context(), info.FullMethod)
	if err != nil {
		return d.refuse(ss.Context(), info.FullMethod, err) // audit.go: logged
	}
	if err := d.ids.admit(ctx); err != nil {
		return d.refuse(ctx, info.FullMethod, err)
	}
	ctx, done := d.ids.watch(ctx)
	defer done()
	return handler(srv, &authedStream{ServerStream: ss, ctx: ctx})
}

type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authedStream) Context() context.Context { return s.ctx }
