package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

var testCAPass = []byte("correct horse battery")

// mustStartSealed starts a regtest daemon on dir whose CA key is sealed
// under testCAPass (unlocked when unlock is true).
func mustStartSealed(t *testing.T, dir string, unlock bool) *testDaemon {
	t.Helper()
	db := MustStore(t, dir)
	cfg := daemonConfig(t, dir, db, reserve.Regtest)
	cfg.CAKey = daemon.CAKey{Passphrase: testCAPass}
	if !unlock {
		cfg.CAKey = daemon.CAKey{}
	}
	d, err := daemon.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, d.Close())
		require.NoError(t, db.Close())
	}
	t.Cleanup(stop)
	return &testDaemon{dir: dir, db: db, d: d, stop: stop}
}

// TestIdentityIssueRevoke issues an identity over the API, uses it,
// revokes it while a stream is open, and sees it refused after a restart.
func TestIdentityIssueRevoke(t *testing.T) {
	dir := t.TempDir()
	td := mustStartSealed(t, dir, true)
	require.NoFileExists(t, filepath.Join(daemon.TLSDir(dir), "ca.key"), "the CA key is never in the clear")
	admin := custosv1.NewIdentityServiceClient(MustDialAdmin(t, td))
	ctx := callCtx(t)
	r, err := admin.IssueIdentity(ctx, &custosv1.IssueIdentityRequest{Name: "auditor-1", Role: custosv1.IdentityRole_IDENTITY_ROLE_AUDITOR})
	require.NoError(t, err)
	require.Equal(t, "auditor-1", r.Identity.Name)
	require.InDelta(t, 365*24*3600, r.Identity.ExpiresAtUnix-r.Identity.IssuedAtUnix, 3600, "one year by default")
	conn := MustDial(t, td.addr(), r.CaPem, r.CertificatePem, r.KeyPem)
	_, err = custosv1.NewTreasuryServiceClient(conn).GetStatus(ctx, &custosv1.GetStatusRequest{})
	require.NoError(t, err)

	// A stream open when the certificate is revoked ends.
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(sctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = watch.Recv()
	require.NoError(t, err)

	list, err := admin.ListIdentities(ctx, &custosv1.ListIdentitiesRequest{})
	require.NoError(t, err)
	names := map[string]*custosv1.Identity{}
	for _, i := range list.Identities {
		names[i.Name] = i
	}
	require.NotZero(t, names["auditor-1"].LastSeenUnix)
	require.True(t, names["admin"].Offline, "the admin made at first start is recorded when first seen")

	_, err = admin.RevokeIdentity(ctx, &custosv1.RevokeIdentityRequest{NameOrSerial: "auditor-1", Reason: "left the ministry"})
	require.NoError(t, err)
	_, err = watch.Recv()
	requireCode(t, err, codes.Canceled)
	_, err = custosv1.NewTreasuryServiceClient(conn).GetStatus(ctx, &custosv1.GetStatusRequest{})
	requireCode(t, err, codes.PermissionDenied, "auditor-1", "revoked", "left the ministry")

	// The revocation survives a restart.
	td.stop()
	td = mustStartSealed(t, dir, false)
	conn = MustDial(t, td.addr(), r.CaPem, r.CertificatePem, r.KeyPem)
	_, err = custosv1.NewTreasuryServiceClient(conn).GetStatus(callCtx(t), &custosv1.GetStatusRequest{})
	requireCode(t, err, codes.PermissionDenied, "revoked")
	// Without the passphrase the CA is offline.
	_, err = custosv1.NewIdentityServiceClient(MustDialAdmin(t, td)).IssueIdentity(callCtx(t),
		&custosv1.IssueIdentityRequest{Name: "auditor-2", Role: custosv1.IdentityRole_IDENTITY_ROLE_AUDITOR})
	requireCode(t, err, codes.FailedPrecondition, "CA is offline", "--ca-passphrase-file")
}

// TestIdentityIssueRefused sends identities the daemon must not issue;
// each refusal names the field and records nothing.
func TestIdentityIssueRefused(t *testing.T) {
	td := MustStartDaemon(t)
	admin := custosv1.NewIdentityServiceClient(MustDialAdmin(t, td))
	fp := uint32(0xd34db33f)
	_, err := admin.IssueIdentity(callCtx(t), &custosv1.IssueIdentityRequest{Name: "alice", Role: custosv1.IdentityRole_IDENTITY_ROLE_OFFICER})
	require.NoError(t, err)
	_, err = admin.IssueIdentity(callCtx(t), &custosv1.IssueIdentityRequest{Name: "ministry-a", Role: custosv1.IdentityRole_IDENTITY_ROLE_SIGNER, CosignerFingerprint: &fp})
	require.NoError(t, err, "a signer bound to its cosigner")
	before, err := admin.ListIdentities(callCtx(t), &custosv1.ListIdentitiesRequest{})
	require.NoError(t, err)
	tests := []struct {
		name string
		req  *custosv1.IssueIdentityRequest
		code codes.Code
		want string
	}{
		{"duplicate name", &custosv1.IssueIdentityRequest{Name: "alice", Role: custosv1.IdentityRole_IDENTITY_ROLE_OFFICER}, codes.AlreadyExists, `"alice"`},
		{"no role", &custosv1.IssueIdentityRequest{Name: "bob"}, codes.InvalidArgument, "role"},
		{"unknown role", &custosv1.IssueIdentityRequest{Name: "bob", Role: 9}, codes.InvalidArgument, "role"},
		{"bad name", &custosv1.IssueIdentityRequest{Name: "Bob Smith", Role: custosv1.IdentityRole_IDENTITY_ROLE_OFFICER}, codes.InvalidArgument, "name"},
		{"signer without fingerprint", &custosv1.IssueIdentityRequest{Name: "ministry-b", Role: custosv1.IdentityRole_IDENTITY_ROLE_SIGNER}, codes.InvalidArgument, "fingerprint"},
		{"officer with fingerprint", &custosv1.IssueIdentityRequest{Name: "carol", Role: custosv1.IdentityRole_IDENTITY_ROLE_OFFICER, CosignerFingerprint: &fp}, codes.InvalidArgument, "fingerprint"},
		{"eleven years", &custosv1.IssueIdentityRequest{Name: "dave", Role: custosv1.IdentityRole_IDENTITY_ROLE_AUDITOR, ValidForSeconds: 11 * 365 * 24 * 3600}, codes.InvalidArgument, "valid_for"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admin.IssueIdentity(callCtx(t), tc.req)
			requireCode(t, err, tc.code, tc.want)
		})
	}
	_, err = admin.RevokeIdentity(callCtx(t), &custosv1.RevokeIdentityRequest{NameOrSerial: "mallory", Reason: "x"})
	requireCode(t, err, codes.NotFound, "mallory")
	_, err = admin.RevokeIdentity(callCtx(t), &custosv1.RevokeIdentityRequest{NameOrSerial: "alice"})
	requireCode(t, err, codes.InvalidArgument, "reason")
	after, err := admin.ListIdentities(callCtx(t), &custosv1.ListIdentitiesRequest{})
	require.NoError(t, err)
	require.Len(t, after.Identities, len(before.Identities))
	// Only admins issue.
	_, err = custosv1.NewIdentityServiceClient(MustDialAs(t, td, daemon.RoleAuditor)).IssueIdentity(callCtx(t),
		&custosv1.IssueIdentityRequest{Name: "eve", Role: custosv1.IdentityRole_IDENTITY_ROLE_ADMIN})
	requireCode(t, err, codes.PermissionDenied, "auditor")
}

// TestOfflineCertificateNameTaken: a certificate issued offline whose name
// an active identity holds is refused on first use, not recorded.
func TestOfflineCertificateNameTaken(t *testing.T) {
	td := MustStartDaemon(t)
	_, err := custosv1.NewTreasuryServiceClient(MustDialIdentity(t, td, "alice", daemon.RoleAuditor)).GetStatus(callCtx(t), &custosv1.GetStatusRequest{})
	require.NoError(t, err, "first seen: recorded")
	certPEM, keyPEM, err := daemon.IssueClientCert(td.dir, "alice", daemon.RoleAdmin, time.Now())
	require.NoError(t, err)
	conn := MustDial(t, td.addr(), MustReadTLS(t, td.dir, daemon.CACertFile), certPEM, keyPEM)
	_, err = custosv1.NewTreasuryServiceClient(conn).GetStatus(callCtx(t), &custosv1.GetStatusRequest{})
	requireCode(t, err, codes.PermissionDenied, `"alice"`, "revoke it first")
}

// TestCAKeyAtRest: a CA key in the clear is refused off regtest without a
// passphrase, and sealed (the clear file removed) with one.
func TestCAKeyAtRest(t *testing.T) {
	dir := t.TempDir()
	td := MustStartDaemonOn(t, dir, MustStore(t, dir)) // regtest: CA key in the clear
	td.stop()
	plain := filepath.Join(daemon.TLSDir(dir), "ca.key")
	require.FileExists(t, plain)

	cfg := daemonConfig(t, dir, td.db, reserve.Regtest)
	cfg.CAKey = daemon.CAKey{}
	_, err := daemon.New(cfg)
	require.ErrorContains(t, err, "is not encrypted")
	require.ErrorContains(t, err, "--ca-passphrase-file")

	cfg.CAKey = daemon.CAKey{Passphrase: testCAPass}
	d, err := daemon.New(cfg)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.NoFileExists(t, plain)
	require.FileExists(t, filepath.Join(daemon.TLSDir(dir), "ca.key.sealed"))

	cfg.CAKey = daemon.CAKey{Passphrase: []byte("wrong passphrase!")}
	_, err = daemon.New(cfg)
	require.ErrorContains(t, err, "wrong passphrase")
	_, statErr := os.Stat(plain)
	require.True(t, os.IsNotExist(statErr))
}

// asOfficer is the policy service as officer id's own identity: an
// officer's certificate name must be the officer whose key signs.
func asOfficer(tb testing.TB, td *testDaemon, id string) custosv1.PolicyServiceClient {
	tb.Helper()
	return custosv1.NewPolicyServiceClient(MustDialIdentity(tb, td, id, daemon.RoleOfficer))
}

// TestOfficerMustBeCertificate: an officer's signed freeze is accepted
// only over that officer's own certificate; another officer's certificate
// carrying it (a stolen key) is refused naming both, changing nothing.
func TestOfficerMustBeCertificate(t *testing.T) {
	td := MustStartDaemon(t)
	MustCreateWallet(t, td)
	g := MustSetPolicy(t, td, testPolicy(t))
	c := controlOf(t, g, reserve.ActionFreeze)
	c.Epoch = 1
	tests := []struct {
		name, as string
		code     codes.Code
	}{
		{"another officer's certificate", "bob", codes.PermissionDenied},
		{"a certificate of no officer", "mallory", codes.PermissionDenied},
		{"the officer's own certificate", "alice", codes.OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := asOfficer(t, td, tc.as).Freeze(callCtx(t), &custosv1.FreezeRequest{Epoch: 1, Signature: sign(t, "alice", c)})
			frozen := MustGetPolicy(t, asOfficer(t, td, "alice")).GetFreeze().GetFrozen()
			if tc.code != codes.OK {
				requireCode(t, err, tc.code, tc.as, "officer alice")
				require.False(t, frozen)
				return
			}
			require.NoError(t, err)
			require.True(t, frozen)
		})
	}
}
