package daemon

import (
	"context"
	"time"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// identityServer implements custosv1.IdentityServiceServer.
type identityServer struct {
	custosv1.UnimplementedIdentityServiceServer
	d *Daemon
}

func (s *identityServer) IssueIdentity(ctx context.Context, req *custosv1.IssueIdentityRequest) (*custosv1.IssueIdentityResponse, error) {
	const method = custosv1.IdentityService_IssueIdentity_FullMethodName
	role, err := roleFromProto(req.GetRole())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	spec := CertSpec{
		Name: req.GetName(), Role: role, Fingerprint: req.GetCosignerFingerprint(), HasFingerprint: req.CosignerFingerprint != nil,
		ValidFor: time.Duration(req.GetValidForSeconds()) * time.Second,
	}
	if k := req.GetLoginKey(); len(k) > 0 {
		if len(k) != 32 {
			return nil, s.d.status(ctx, method, reserve.Invalid("login_key", "is %d bytes, not an Ed25519 public key (32)", len(k)))
		}
		spec.LoginKey, spec.HasLoginKey = [32]byte(k), true
	}
	if req.GetValidForSeconds() < 0 || req.GetValidForSeconds() > int64(MaxClientValidity/time.Second) {
		return nil, s.d.status(ctx, method, reserve.Invalid("valid_for_seconds", "%d is outside 0 (the default, one year) to ten years", req.GetValidForSeconds()))
	}
	id, certPEM, keyPEM, err := s.d.issueIdentity(ctx, spec)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.IssueIdentityResponse{Identity: identityToProto(&id), CertificatePem: certPEM, KeyPem: keyPEM, CaPem: s.d.ca.pem}, nil
}

func (s *identityServer) ListIdentities(ctx context.Context, _ *custosv1.ListIdentitiesRequest) (*custosv1.ListIdentitiesResponse, error) {
	const method = custosv1.IdentityService_ListIdentities_FullMethodName
	all, err := s.d.cfg.Store.Identities(ctx)
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	out := &custosv1.ListIdentitiesResponse{}
	for i := range all {
		out.Identities = append(out.Identities, identityToProto(&all[i]))
	}
	return out, nil
}

func (s *identityServer) RevokeIdentity(ctx context.Context, req *custosv1.RevokeIdentityRequest) (*custosv1.RevokeIdentityResponse, error) {
	const method = custosv1.IdentityService_RevokeIdentity_FullMethodName
	id, err := s.d.revokeIdentity(ctx, req.GetNameOrSerial(), req.GetReason())
	if err != nil {
		return nil, s.d.status(ctx, method, err)
	}
	return &custosv1.RevokeIdentityResponse{Identity: identityToProto(&id)}, nil
}

// roleFromProto reads a wire role; unspecified and unknown are refused.
func roleFromProto(r custosv1.IdentityRole) (Role, error) {
	switch r {
	case custosv1.IdentityRole_IDENTITY_ROLE_ADMIN:
		return RoleAdmin, nil
	case custosv1.IdentityRole_IDENTITY_ROLE_OFFICER:
		return RoleOfficer, nil
	case custosv1.IdentityRole_IDENTITY_ROLE_AUDITOR:
		return RoleAuditor, nil
	case custosv1.IdentityRole_IDENTITY_ROLE_SIGNER:
		return RoleSigner, nil
	case custosv1.IdentityRole_IDENTITY_ROLE_UNSPECIFIED:
	}
	return "", reserve.Invalid("role", "%s is not a role (want admin, officer, auditor or signer)", r)
}

// RoleToProto is the wire form of a role (unspecified for an unknown one).
func RoleToProto(r Role) custosv1.IdentityRole {
	switch r {
	case RoleAdmin:
		return custosv1.IdentityRole_IDENTITY_ROLE_ADMIN
	case RoleOfficer:
		return custosv1.IdentityRole_IDENTITY_ROLE_OFFICER
	case RoleAuditor:
		return custosv1.IdentityRole_IDENTITY_ROLE_AUDITOR
	case RoleSigner:
		return custosv1.IdentityRole_IDENTITY_ROLE_SIGNER
	}
	return custosv1.IdentityRole_IDENTITY_ROLE_UNSPECIFIED
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func identityToProto(id *reserve.Identity) *custosv1.Identity {
	out := &custosv1.Identity{
		Name: id.Name, Role: RoleToProto(Role(id.Role)), Serial: id.Serial,
		IssuedAtUnix: unixOrZero(id.IssuedAt), ExpiresAtUnix: unixOrZero(id.ExpiresAt), LastSeenUnix: unixOrZero(id.LastSeen),
		RevokedAtUnix: unixOrZero(id.RevokedAt), RevokedReason: id.RevokedReason, Offline: id.Offline,
	}
	if id.HasLoginKey {
		out.LoginKey = id.LoginKey[:]
	}
	if id.HasFingerprint {
		fp := id.Fingerprint
		out.CosignerFingerprint = &fp
	}
	return out
}
