package daemon_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

var _ daemon.AuditLog = (*store.DB)(nil)

// MustExportAudit streams the daemon's export file.
func MustExportAudit(tb testing.TB, c custosv1.AuditServiceClient) []byte {
	tb.Helper()
	stream, err := c.ExportAudit(callCtx(tb), &custosv1.ExportAuditRequest{})
	require.NoError(tb, err)
	var buf bytes.Buffer
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes()
		}
		require.NoError(tb, err)
		buf.Write(m.GetLine())
		buf.WriteByte('\n')
	}
}

func TestAuditService(t *testing.T) {
	td := MustStartDaemon(t)
	MustCreateWallet(t, td)
	auditor := custosv1.NewAuditServiceClient(MustDialAs(t, td, daemon.RoleAuditor))

	// The log key: made at first start, 0600, served, and it signs.
	fi, err := os.Stat(filepath.Join(td.dir, daemon.LogKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	cpr, err := auditor.GetCheckpoint(callCtx(t), &custosv1.GetCheckpointRequest{})
	require.NoError(t, err)
	require.Equal(t, td.d.LogVerifierKey(), cpr.GetLogKey())
	v, err := audit.ParseLogKey(cpr.GetLogKey())
	require.NoError(t, err)
	cp, err := audit.OpenCheckpoint(cpr.GetCheckpoint(), v)
	require.NoError(t, err)
	require.GreaterOrEqual(t, cp.Size, int64(1))

	// The export verifies offline, and the wallet's leaf names the admin.
	file := MustExportAudit(t, auditor)
	got, err := audit.VerifyExport(bytes.NewReader(file), v)
	require.NoError(t, err)
	require.GreaterOrEqual(t, got.Size, cp.Size)
	var created *audit.Leaf
	for _, line := range bytes.Split(bytes.TrimSpace(file), []byte("\n"))[1:] {
		l, err := audit.ParseLeaf(line)
		require.NoError(t, err)
		if l.Kind == "wallet.create" {
			created = &l
		}
	}
	require.NotNil(t, created)
	require.Equal(t, string(daemon.RoleAdmin), created.Actor.Role)
	require.NotEmpty(t, created.Actor.Serial)

	// Proofs check against the checkpoints they come with.
	pr, err := auditor.ProveInclusion(callCtx(t), &custosv1.ProveInclusionRequest{Seq: 1})
	require.NoError(t, err)
	p, err := audit.ParseInclusionProof(pr.GetProof())
	require.NoError(t, err)
	pcp, err := audit.OpenCheckpoint(pr.GetCheckpoint(), v)
	require.NoError(t, err)
	require.NoError(t, p.Check(pr.GetLeaf(), pcp))
	cr, err := auditor.ProveConsistency(callCtx(t), &custosv1.ProveConsistencyRequest{OldSize: 1})
	require.NoError(t, err)
	c, err := audit.ParseConsistencyProof(cr.GetProof())
	require.NoError(t, err)
	oldCP, err := audit.OpenCheckpoint(cr.GetOldCheckpoint(), v)
	require.NoError(t, err)
	newCP, err := audit.OpenCheckpoint(cr.GetNewCheckpoint(), v)
	require.NoError(t, err)
	require.NoError(t, c.Check(oldCP, newCP))

	refused := []struct {
		name string
		call func() error
		want codes.Code
		says string
	}{
		{name: "inclusion of a seq past the size", call: func() error {
			_, err := auditor.ProveInclusion(callCtx(t), &custosv1.ProveInclusionRequest{Seq: 1 << 40})
			return err
		}, want: codes.InvalidArgument, says: "seq"},
		{name: "consistency past the log", call: func() error {
			_, err := auditor.ProveConsistency(callCtx(t), &custosv1.ProveConsistencyRequest{OldSize: 1, NewSize: 1 << 40})
			return err
		}, want: codes.InvalidArgument, says: "new"},
		{name: "page over 1000", call: func() error {
			_, err := auditor.ListAudit(callCtx(t), &custosv1.ListAuditRequest{PageSize: 1001})
			return err
		}, want: codes.InvalidArgument, says: "page_size"},
		{name: "officer may not read the log", call: func() error {
			_, err := custosv1.NewAuditServiceClient(MustDialAs(t, td, daemon.RoleOfficer)).ListAudit(callCtx(t), &custosv1.ListAuditRequest{})
			return err
		}, want: codes.PermissionDenied},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) { requireCode(t, tc.call(), tc.want, tc.says) })
	}

	// The refusal is a leaf naming the officer; a page reads it.
	list, err := auditor.ListAudit(callCtx(t), &custosv1.ListAuditRequest{FromSeq: 1, PageSize: 1000})
	require.NoError(t, err)
	require.Zero(t, list.GetNextSeq())
	last, err := audit.ParseLeaf(list.GetLeaves()[len(list.GetLeaves())-1])
	require.NoError(t, err)
	require.Equal(t, daemon.AuditAuthDenied, last.Kind)
	require.Equal(t, string(daemon.RoleOfficer), last.Actor.Role)
	require.Equal(t, custosv1.AuditService_ListAudit_FullMethodName, last.IDs["method"])

	// A follower sees a leaf appended after it started.
	stream, err := auditor.TailAudit(callCtx(t), &custosv1.TailAuditRequest{FromSeq: last.Seq, Follow: true})
	require.NoError(t, err)
	m, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, list.GetLeaves()[len(list.GetLeaves())-1], m.GetLeaf())
	_, err = custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td)).NewAddress(callCtx(t), &custosv1.NewAddressRequest{Label: "tail"})
	require.NoError(t, err)
	m, err = stream.Recv()
	require.NoError(t, err)
	next, err := audit.ParseLeaf(m.GetLeaf())
	require.NoError(t, err)
	require.Equal(t, last.Seq+1, next.Seq)
	require.Equal(t, "address.issue", next.Kind)
}

func TestAuditLogKeyRefused(t *testing.T) {
	dir := t.TempDir()
	db := MustStore(t, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, daemon.LogKeyFile), []byte("not a key\n"), 0o600))
	_, err := daemon.New(daemonConfig(t, dir, db, reserve.Regtest))
	require.Error(t, err)
	require.Contains(t, err.Error(), daemon.LogKeyFile)
}
