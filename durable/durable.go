// Package durable writes files so that a crash leaves either the old file
// or the new one, never a torn one, and reads small files without letting a
// wrong path (a disk image, a device) exhaust memory. Custos keeps keys,
// certificates, pinned descriptors and policies, ledgers and PSBTs in files
// that an operator must be able to trust after a power cut.
//
// It depends on nothing of Custos's; every package that writes such a file
// uses it rather than its own temp-file dance.
package durable

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to path with the given mode: a temporary file in the
// same directory, synced, then renamed over path (overwrite) or hard-linked
// to it (no overwrite: the link fails if path exists, so no check-then-write
// race lets a file be replaced), then the directory is synced. Without
// overwrite an existing path is an error satisfying errors.Is(err,
// fs.ErrExist). The temporary file is removed whatever happens.
func Write(path string, data []byte, mode fs.FileMode, overwrite bool) error {
	return WriteFrom(path, mode, overwrite, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, nil)
}

// WriteFrom is Write for a file too large to hold in memory (a backup, an
// audit export): fill writes its contents, buffered. check, if not nil,
// reads the complete temporary file from its start before it is put in
// place; an error from fill or check leaves nothing at path. Without
// overwrite an existing path is refused before fill runs, and again,
// without a race, when the file is linked into place.
func WriteFrom(path string, mode fs.FileMode, overwrite bool, fill func(w io.Writer) error, check func(r io.Reader) error) (err error) {
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return fmt.Errorf("%s: %w", path, fs.ErrExist)
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("unable to create a temporary file for %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmpName)
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("unable to set the mode of %s: %w", path, err)
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("unable to write %s: %w", path, err)
	}
	if check != nil {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("unable to read back %s: %w", path, err)
		}
		if err := check(bufio.NewReader(tmp)); err != nil {
			return err
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("unable to sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("unable to close %s: %w", path, err)
	}
	if overwrite {
		err = os.Rename(tmpName, path)
	} else {
		err = linkNoClobber(tmpName, path)
	}
	if err != nil {
		return fmt.Errorf("unable to put %s in place: %w", path, err)
	}
	return SyncDir(dir)
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

// SyncDir syncs a directory, so that a file created, renamed or appended
// to for the first time in it survives a crash.
func SyncDir(dir string) error {
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

// ErrTooLarge is wrapped by ReadLimited's refusal of a file over its limit.
var ErrTooLarge = errors.New("file is too large")

// ReadLimited reads a file of at most limit bytes. A larger one is refused
// with ErrTooLarge after reading limit+1 bytes, not all of it. Errors from
// opening the file are returned as they are (errors.Is(err,
// fs.ErrNotExist) holds for a missing file).
func ReadLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, limit)
	}
	return data, nil
}
