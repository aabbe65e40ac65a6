//go:build unix

package signer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/custos-reserve/custos/reserve"
)

// LockFileName is the file in the data directory that custos-signer locks
// (flock, exclusive) for the whole of sign, register and ledger import. It
// holds nothing.
const LockFileName = "signer.lock"

// ErrDirInUse is returned by LockDir when another process, or another
// caller in this one, holds the data directory's lock.
var ErrDirInUse = errors.New("another custos-signer is using the data directory")

// DirLock is a held lock on a data directory.
type DirLock struct {
	f *os.File
}

// LockDir takes the data directory's exclusive lock without waiting: the
// ledger is read for the check and appended to after the signature under
// one lock, so two signings cannot both find an intent unpaid. It fails
// with ErrDirInUse (CodeUnavailable) when the lock is held. The caller
// must Unlock.
func LockDir(dir string) (*DirLock, error) {
	if dir == "" {
		return nil, errors.New("no data directory given")
	}
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("unable to open the lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, reserve.Errorf(reserve.CodeUnavailable, "%w %s (%s is locked); wait for it to finish and try again",
				ErrDirInUse, dir, path)
		}
		return nil, fmt.Errorf("unable to lock %s: %w", path, err)
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the lock. It may be called more than once.
func (l *DirLock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	// Closing the file releases the flock.
	_ = l.f.Close()
	l.f = nil
}

// ensureLockFile creates dir's lock file if it is not there, so that the
// first command to lock the directory changes none of its files.
func ensureLockFile(dir string) error {
	path := filepath.Join(dir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("unable to create the lock file %s: %w", path, err)
	}
	return f.Close()
}
