package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/backup"
	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
)

// restoreActor is who the restore leaf names: custosd restore runs
// offline, without a certificate.
var restoreActor = reserve.Actor{Name: "custosd", Role: "restore"}

// RestoreOptions says where to install a backup and what it must be.
type RestoreOptions struct {
	// DataDir is the new data dir. It must not exist or be empty: a
	// restore never overwrites a store or its keys.
	DataDir string
	// Network, when set, is the network the backup must be of.
	Network reserve.Network
	// LogKeyFile is the name of the daemon's log key in the data dir
	// (daemon.LogKeyFile): the restore checks the backup's checkpoint
	// with it.
	LogKeyFile string
	// Timeout, Now and Logger are the store's Options when the restored
	// store is opened to be checked and marked.
	Timeout time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Restore reads the backup in src with ids, checks all of it and installs
// it into opts.DataDir marked restored (MarkRestored): the daemon exports
// nothing until an admin acknowledges it. It refuses, naming the problem
// and writing nothing into the data dir, a file that is not a backup, a
// wrong key, a file cut short, a part whose SHA-256 differs, a backup of
// another network or whose checkpoint is not its log's, and a data dir
// that is not empty. Everything is written into a temporary directory
// beside the data dir first and renamed into place at the end.
func Restore(ctx context.Context, src io.Reader, ids []age.Identity, opts RestoreOptions) (*backup.Reader, error) {
	dir := filepath.Clean(opts.DataDir)
	if err := checkEmptyDir(dir); err != nil {
		return nil, err
	}
	br, err := backup.Open(src, ids)
	if err != nil {
		return nil, err
	}
	h := br.Header
	net, err := reserve.ParseNetwork(h.Network)
	if err != nil {
		return nil, reserve.Invalid("header.network", "%v", err)
	}
	if opts.Network != reserve.NetworkUnspecified && net != opts.Network {
		return nil, reserve.Invalid("network", "the backup is of a %s reserve, not %s", net, opts.Network)
	}

	stage, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".restore-*")
	if err != nil {
		return nil, fmt.Errorf("unable to make a staging dir beside %s: %w", dir, err)
	}
	installed := false
	defer func() {
		if !installed {
			_ = os.RemoveAll(stage)
		}
	}()
	files, err := readParts(br, filepath.Join(stage, backup.StoreName))
	if err != nil {
		return nil, err
	}
	if err := checkRestoredStore(ctx, stage, net, h, br.HeaderDigest, files, opts); err != nil {
		return nil, err
	}
	for i, p := range h.Files {
		path := filepath.Join(stage, filepath.FromSlash(p.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("unable to make %s: %w", filepath.Dir(path), err)
		}
		if err := durable.Write(path, files[i], fs.FileMode(p.Mode), false); err != nil {
			return nil, fmt.Errorf("unable to write %s: %w", p.Name, err)
		}
	}

	// Into place: an empty data dir is replaced by the staged one.
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("unable to replace the empty data dir %s: %w", dir, err)
	}
	if err := os.Rename(stage, dir); err != nil {
		return nil, fmt.Errorf("unable to move the restored data dir into %s: %w", dir, err)
	}
	installed = true
	return br, nil
}

// checkEmptyDir refuses a data dir that holds anything.
func checkEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return reserve.Invalid("datadir", "cannot be read: %v", err)
	case slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.Name() == backup.StoreName }):
		return reserve.Invalid("datadir", "%s already holds a store (%s): restore only into a new, empty data dir", dir, backup.StoreName)
	case len(entries) > 0:
		return reserve.Invalid("datadir", "%s is not empty (it holds %s): restore only into a new, empty data dir", dir, entries[0].Name())
	}
	return nil
}

// readParts copies the store to path and reads the other files, to the
// end of the backup (which is when age authenticates its last chunk).
func readParts(br *backup.Reader, path string) ([][]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("unable to write the restored store: %w", err)
	}
	if err := br.CopyStore(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("unable to write the restored store: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("unable to write the restored store: %w", err)
	}
	return br.ReadFiles()
}

// checkRestoredStore opens the staged store, checks it against the header
// (network, wallet, the checkpoint signed by the backup's own log key
// over the store's own audit log) and marks it restored.
func checkRestoredStore(ctx context.Context, stage string, net reserve.Network, h backup.Header, digest [32]byte, files [][]byte, opts RestoreOptions) error {
	vkey := ""
	for i, p := range h.Files {
		if p.Name == opts.LogKeyFile {
			lines := strings.Split(strings.TrimSuffix(string(files[i]), "\n"), "\n")
			if len(lines) == 2 {
				vkey = lines[1]
			}
		}
	}
	if vkey == "" {
		return reserve.Invalid("header.files", "carry no log key %s: the restored daemon could not sign its log", opts.LogKeyFile)
	}
	verifier, err := audit.ParseLogKey(vkey)
	if err != nil {
		return reserve.Invalid(opts.LogKeyFile, "%v", err)
	}
	cp, err := audit.OpenCheckpoint([]byte(h.Checkpoint), verifier)
	if err != nil {
		return reserve.Invalid("header.checkpoint", "is not signed by the backup's log key: %v", err)
	}
	if cp.Size != h.CheckpointSize {
		return reserve.Invalid("header.checkpoint", "is of size %d, the header says %d", cp.Size, h.CheckpointSize)
	}

	db, err := Open(filepath.Join(stage, backup.StoreName), Options{Timeout: opts.Timeout, Now: opts.Now, Logger: opts.Logger})
	if err != nil {
		return reserve.Invalid("store", "does not open: %v", err)
	}
	defer db.Close()
	if err := db.EnsureNetwork(ctx, net); err != nil {
		return reserve.Invalid("store", "%v", err)
	}
	if h.WalletID != "" {
		w, err := db.Wallet(ctx)
		if err != nil || w.ID != h.WalletID {
			return reserve.Invalid("store", "does not hold wallet %s that the header names", h.WalletID)
		}
	}
	root, err := db.AuditRoot(ctx, cp.Size)
	if err != nil {
		return reserve.Invalid("header.checkpoint", "is past the store's audit log: %v", err)
	}
	if root != cp.Root {
		return reserve.Invalid("header.checkpoint", "does not match the store's audit log at size %d", cp.Size)
	}
	r := backup.Restored{Taken: h.Time, CheckpointSize: cp.Size, HeaderDigest: digest}
	if err := db.MarkRestored(reserve.WithActor(ctx, restoreActor), r); err != nil {
		return err
	}
	return db.Close()
}
