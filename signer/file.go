package signer

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ensureDir creates the data directory, readable by its owner only, if it
// does not exist yet. An existing directory is left as it is.
func ensureDir(dir string) error {
	if dir == "" {
		return errors.New("no data directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("unable to create data directory %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic writes data to path with mode 0600 so that a crash
// leaves either the old file or the new one, never a torn one: temp file in
// the same directory, fsync, then rename (overwrite) or hard link (no
// overwrite: the link fails if path exists, closing the race between a
// check and the rename), then fsync of the directory. Without overwrite an
// existing path gives an error satisfying errors.Is(err, fs.ErrExist).
func writeFileAtomic(path string, data []byte, overwrite bool) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("unable to create temp file: %w", err)
	}
	tmpName := tmp.Name()
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmpName)
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("unable to restrict temp file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("unable to write temp file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("unable to sync temp file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("unable to close temp file: %w", err)
	}

	if overwrite {
		err = os.Rename(tmpName, path)
	} else {
		err = linkNoClobber(tmpName, path)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// linkNoClobber puts tmp at path unless path exists. Where the file system
// has no hard links it falls back to a check and a rename.
func linkNoClobber(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, statErr := os.Lstat(path); statErr == nil {
		return fmt.Errorf("%s: %w", path, fs.ErrExist)
	}
	return os.Rename(tmp, path)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("unable to open %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("unable to sync %s: %w", dir, err)
	}
	return nil
}

// readFileLimited reads a small file, refusing one larger than limit so a
// wrong path (a disk image, a device) cannot exhaust memory.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
