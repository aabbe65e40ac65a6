package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/custos-reserve/custos/backup"
	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// mustAgeIdentity is an age identity whose secret scalar is 32 bytes of b.
func mustAgeIdentity(tb testing.TB, b byte) *age.X25519Identity {
	tb.Helper()
	enc, err := bech32.EncodeFromBase256("age-secret-key-", bytes.Repeat([]byte{b}, 32))
	require.NoError(tb, err)
	id, err := age.ParseX25519Identity(strings.ToUpper(enc))
	require.NoError(tb, err)
	return id
}

// MustStartBackupDaemon starts a regtest daemon on dir whose backups are
// encrypted to recipients.
func MustStartBackupDaemon(tb testing.TB, dir string, recipients ...string) *testDaemon {
	tb.Helper()
	db := MustStore(tb, dir)
	cfg := daemonConfig(tb, dir, db, reserve.Regtest)
	cfg.BackupRecipients = recipients
	return MustRunDaemon(tb, db, cfg)
}

// backupOver calls Backup on conn and returns the file and its summary.
func backupOver(ctx context.Context, conn *grpc.ClientConn) ([]byte, *custosv1.BackupSummary, error) {
	stream, err := custosv1.NewAdminServiceClient(conn).Backup(ctx, &custosv1.BackupRequest{})
	if err != nil {
		return nil, nil, err
	}
	var (
		file []byte
		sum  *custosv1.BackupSummary
	)
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return file, sum, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if len(m.GetChunk()) > 64<<10 {
			return nil, nil, errors.New("chunk over 64 KiB")
		}
		file = append(file, m.GetChunk()...)
		if m.GetSummary() != nil {
			sum = m.GetSummary()
		}
	}
}

func TestBackupRefused(t *testing.T) {
	id := mustAgeIdentity(t, 1)
	for _, tc := range []struct {
		name       string
		recipients []string
		role       daemon.Role
		code       codes.Code
		want       string
	}{
		{"no recipients", nil, daemon.RoleAdmin, codes.FailedPrecondition, "no backup recipients are configured: start custosd with --backup-recipient"},
		{"officer", []string{id.Recipient().String()}, daemon.RoleOfficer, codes.PermissionDenied, ""},
		{"auditor", []string{id.Recipient().String()}, daemon.RoleAuditor, codes.PermissionDenied, ""},
		{"signer", []string{id.Recipient().String()}, daemon.RoleSigner, codes.PermissionDenied, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := MustStartBackupDaemon(t, t.TempDir(), tc.recipients...)
			conn := MustDialAs(t, td, tc.role)
			_, _, err := backupOver(callCtx(t), conn)
			requireCode(t, err, tc.code, tc.want)
			_, err = custosv1.NewAdminServiceClient(conn).AckRestore(callCtx(t), &custosv1.AckRestoreRequest{})
			if tc.role == daemon.RoleAdmin {
				requireCode(t, err, codes.FailedPrecondition, "not a restored backup")
			} else {
				requireCode(t, err, codes.PermissionDenied)
			}
		})
	}
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	id := mustAgeIdentity(t, 1)
	td := MustStartBackupDaemon(t, t.TempDir(), id.Recipient().String(), mustAgeIdentity(t, 2).Recipient().String())
	MustCreateWallet(t, td)
	file, sum, err := backupOver(callCtx(t), MustDialAdmin(t, td))
	require.NoError(t, err)
	require.NotNil(t, sum)

	// The digest in the clear is the summary's and the audit leaf's.
	r, err := backup.Open(bytes.NewReader(file), []age.Identity{id})
	require.NoError(t, err)
	require.Equal(t, sum.GetHeaderSha256(), r.HeaderDigest[:])
	require.Equal(t, "regtest", r.Header.Network)
	require.Equal(t, sum.GetCheckpointSize(), r.Header.CheckpointSize)
	log, err := td.db.AuditLog(ctx)
	require.NoError(t, err)
	last := log[len(log)-1]
	require.Equal(t, daemon.AuditBackupTaken, last.Kind)
	require.Equal(t, "admin", last.Actor.Name)
	require.Equal(t, sum.GetCheckpointSize(), int64(last.Seq)-1, "the backup holds the log up to its own leaf")

	// Restored into a new data dir, the daemon serves with the same keys
	// and refuses exports until an admin acknowledges the restore.
	dir := filepath.Join(t.TempDir(), "restored")
	_, err = store.Restore(ctx, bytes.NewReader(file), []age.Identity{mustAgeIdentity(t, 2)},
		store.RestoreOptions{DataDir: dir, Network: reserve.Regtest, LogKeyFile: daemon.LogKeyFile})
	require.NoError(t, err)
	rd := MustStartBackupDaemon(t, dir)
	require.Equal(t, td.d.LogVerifierKey(), rd.d.LogVerifierKey())
	conn := MustDialAdmin(t, rd)
	spend := custosv1.NewSpendServiceClient(conn)
	_, err = spend.ExportPSBT(callCtx(t), &custosv1.ExportPSBTRequest{Id: "P000001"})
	requireCode(t, err, codes.FailedPrecondition, "restored from a backup taken at", "custosctl admin ack-restore")

	ack, err := custosv1.NewAdminServiceClient(conn).AckRestore(callCtx(t), &custosv1.AckRestoreRequest{})
	require.NoError(t, err)
	require.Equal(t, sum.GetCheckpointSize(), ack.GetCheckpointSize())
	_, err = spend.ExportPSBT(callCtx(t), &custosv1.ExportPSBTRequest{Id: "P000001"})
	requireCode(t, err, codes.NotFound)
	_, err = custosv1.NewAdminServiceClient(conn).AckRestore(callCtx(t), &custosv1.AckRestoreRequest{})
	requireCode(t, err, codes.FailedPrecondition)
}
