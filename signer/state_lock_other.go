//go:build !unix

package signer

import "errors"

// LockFileName is the file in the data directory that custos-signer
// locks.
const LockFileName = "signer.lock"

// ErrDirInUse is returned by LockDir when the data directory is in use.
var ErrDirInUse = errors.New("another custos-signer is using the data directory")

// DirLock is a held lock on a data directory.
type DirLock struct{}

// LockDir fails where flock is not available: custos-signer signs only
// where it can lock its data directory.
func LockDir(dir string) (*DirLock, error) {
	return nil, errors.New("locking the data directory is not supported on this system")
}

// Unlock does nothing.
func (l *DirLock) Unlock() {}

func ensureLockFile(dir string) error { return nil }
