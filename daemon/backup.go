package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/backup"
	"github.com/custos-reserve/custos/reserve"
)

// AuditBackupTaken is the audit kind of a backup handed to an admin: ids
// name the backup's header digest, the store's SHA-256 and the checkpoint
// size it was taken at. Persisted: never rename it.
const AuditBackupTaken = "backup.taken"

// BackupStore is what backups need from the store (store.DB implements
// it): a consistent copy with what it holds, and the restored mark that
// holds exports back until an admin acknowledges it.
type BackupStore interface {
	// Snapshot writes a consistent copy of the store to w and says what
	// it holds, read in the same transaction.
	Snapshot(ctx context.Context, w io.Writer) (backup.Snapshot, error)
	// Restored returns the restored mark; ok is false when there is none.
	Restored(ctx context.Context) (r backup.Restored, ok bool, err error)
	// AckRestore clears the mark with an audit leaf; FailedPrecondition
	// when there is none.
	AckRestore(ctx context.Context) (backup.Restored, error)
}

// backupFiles are the data dir files a backup carries beside the store,
// those that exist: the log key (without it a restored daemon cannot sign
// checkpoints of its own log: a new origin, a log nobody witnessed) and
// the TLS material (the CA certificate every client pins, the CA key only
// sealed, the server's and the bootstrap admin's pairs), so that every
// identity issued keeps working. A CA key in the clear (tls/ca.key,
// regtest) is never copied: the restored CA is then offline.
var backupFiles = []string{
	LogKeyFile,
	tlsDirName + "/" + caCertFile,
	tlsDirName + "/" + caSealedFile,
	tlsDirName + "/" + serverCertFile,
	tlsDirName + "/" + serverKeyFile,
	tlsDirName + "/" + AdminCertFile,
	tlsDirName + "/" + AdminKeyFile,
}

// BackupResult says what a backup holds, for the caller's records; the
// same values are in its "backup.taken" audit leaf.
type BackupResult struct {
	HeaderDigest   [32]byte
	StoreSHA256    string
	StoreSize      int64
	CheckpointSize int64
}

// backupStore returns the store's backup side.
func (d *Daemon) backupStore() (BackupStore, error) {
	bs, ok := d.cfg.Store.(BackupStore)
	if !ok {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "this daemon's store cannot take backups")
	}
	return bs, nil
}

// backup writes an encrypted backup to w: a consistent copy of the store,
// taken while the daemon serves, with the data dir's keys, encrypted to
// the configured recipients, so no plaintext leaves the daemon. The copy
// goes first to a temporary file in the data dir (where the store itself
// lies in the clear) because its SHA-256 heads the file; the "backup.taken"
// leaf is appended once all of it is written.
func (d *Daemon) backup(ctx context.Context, w io.Writer) (BackupResult, error) {
	recipients, err := backup.ParseRecipients(d.cfg.BackupRecipients)
	if err != nil {
		return BackupResult{}, err
	}
	bs, err := d.backupStore()
	if err != nil {
		return BackupResult{}, err
	}
	tmp, err := os.CreateTemp(d.cfg.DataDir, ".backup-*.tmp")
	if err != nil {
		return BackupResult{}, fmt.Errorf("unable to make the backup's temporary file: %w", err)
	}
	defer func() { _ = tmp.Close(); _ = os.Remove(tmp.Name()) }()

	// The copy and what it holds, from one read transaction.
	hs := sha256.New()
	snap, err := bs.Snapshot(ctx, io.MultiWriter(tmp, hs))
	if err != nil {
		return BackupResult{}, err
	}
	if snap.Network != d.cfg.Network {
		return BackupResult{}, reserve.Errorf(reserve.CodeInternal, "store holds a %s reserve, the daemon serves %s", snap.Network, d.cfg.Network)
	}
	signed, err := audit.SignCheckpoint(audit.Checkpoint{Origin: d.logKey.signer.Name(), Size: snap.AuditSize, Root: snap.AuditRoot}, d.logKey.signer)
	if err != nil {
		return BackupResult{}, err
	}
	parts, files, err := readBackupFiles(d.cfg.DataDir)
	if err != nil {
		return BackupResult{}, err
	}
	h := backup.Header{
		Format: backup.Format, Network: snap.Network.String(), WalletID: snap.WalletID, Schema: snap.Schema,
		Time:           d.cfg.Now().UTC().Truncate(time.Second),
		Store:          backup.Part{Name: backup.StoreName, Mode: 0o600, Size: snap.Size, SHA256: hex.EncodeToString(hs.Sum(nil))},
		Files:          parts,
		CheckpointSize: snap.AuditSize,
		Checkpoint:     string(signed),
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return BackupResult{}, fmt.Errorf("unable to reread the backup's temporary file: %w", err)
	}
	digest, err := backup.Write(w, recipients, h, tmp, files)
	if err != nil {
		return BackupResult{}, err
	}

	res := BackupResult{HeaderDigest: digest, StoreSHA256: h.Store.SHA256, StoreSize: snap.Size, CheckpointSize: snap.AuditSize}
	ids := map[string]string{
		"backup":          hex.EncodeToString(digest[:]),
		"store_sha256":    h.Store.SHA256,
		"checkpoint_size": fmt.Sprint(snap.AuditSize),
	}
	detail := fmt.Sprintf("backup of %d store bytes and %d files at audit size %d, encrypted to %d recipients", snap.Size, len(files), snap.AuditSize, len(recipients))
	if err := d.audit.AppendEvent(context.WithoutCancel(ctx), AuditBackupTaken, ids, detail); err != nil {
		return BackupResult{}, err
	}
	d.log.Info("backup taken", slog.String("backup", ids["backup"]), slog.Int64("checkpoint_size", snap.AuditSize))
	return res, nil
}

// readBackupFiles reads the backupFiles that exist in dataDir.
func readBackupFiles(dataDir string) ([]backup.Part, [][]byte, error) {
	var (
		parts []backup.Part
		files [][]byte
	)
	for _, name := range backupFiles {
		path := filepath.Join(dataDir, filepath.FromSlash(name))
		fi, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("unable to read %s for the backup: %w", name, err)
		}
		if !fi.Mode().IsRegular() || fi.Size() > backup.MaxFileBytes {
			return nil, nil, reserve.Errorf(reserve.CodeInternal, "%s is not a regular file of at most %d bytes", name, backup.MaxFileBytes)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, fmt.Errorf("unable to read %s for the backup: %w", name, err)
		}
		sum := sha256.Sum256(b)
		parts = append(parts, backup.Part{Name: name, Mode: uint32(fi.Mode().Perm()), Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
		files = append(files, b)
	}
	return parts, files, nil
}

// checkRestored refuses to export PSBTs from a store restored from a
// backup until an admin acknowledges the restore: the ministries may have
// witnessed a later log than the one restored, and a PSBT carrying this
// log's checkpoint would show them a fork.
func (d *Daemon) checkRestored(ctx context.Context) error {
	bs, ok := d.cfg.Store.(BackupStore)
	if !ok {
		return nil
	}
	r, ok, err := bs.Restored(ctx)
	if err != nil || !ok {
		return err
	}
	return reserve.Errorf(reserve.CodeFailedPrecondition,
		"restored from a backup taken at %s (audit size %d); the ministries may have witnessed a later log; confirm with them, then custosctl admin ack-restore",
		r.Taken.UTC().Format(time.RFC3339), r.CheckpointSize)
}

// ackRestore clears the restored mark (an audit leaf names the admin).
func (d *Daemon) ackRestore(ctx context.Context) (backup.Restored, error) {
	bs, err := d.backupStore()
	if err != nil {
		return backup.Restored{}, err
	}
	r, err := bs.AckRestore(ctx)
	if err != nil {
		return backup.Restored{}, err
	}
	d.log.Info("restore acknowledged", slog.Int64("checkpoint_size", r.CheckpointSize))
	return r, nil
}
