package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/custos-reserve/custos/reserve"
)

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = time.Second

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Timeout is how long Open waits for another process to release the
	// file lock before it gives up; zero means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock used for audit entries and for records whose
	// creation time the caller left zero; nil means time.Now.
	Now func() time.Time
	// Logger receives the store's few log lines (open, migrations); nil
	// discards them.
	Logger *slog.Logger
}

// DB is the Custos store: one bbolt file holding the reserve wallet, its
// addresses, outputs, transactions, processed blocks and the audit log. It
// is safe for concurrent use. Open it once per data dir; Close it when done.
type DB struct {
	bolt *bolt.DB
	path string
	now  func() time.Time
	log  *slog.Logger
	// audit carries the actor of each write into its audit leaf and
	// wakes log followers (audit_tree.go).
	audit auditState

	closeOnce sync.Once
	closeErr  error
}

// Open opens the store at path, creating the file if needed, and brings
// its schema up to date. A file held by another process (or another DB in
// this one) is refused after opts.Timeout with a CodeConflict error; a file
// written by a newer Custos is refused with CodeFailedPrecondition, and
// left untouched.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}

	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, reserve.Errorf(reserve.CodeConflict,
			"store %s is locked by another process (is another custosd running on this data dir?): %w", path, err)
	case err != nil:
		return nil, reserve.Errorf(reserve.CodeInternal, "unable to open store %s: %w", path, err)
	}

	db := &DB{bolt: bdb, path: path, now: opts.Now, log: opts.Logger}
	if err := db.migrate(); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	db.log.Debug("store opened", slog.String("path", path), slog.Uint64("schema_version", uint64(schemaVersion())))
	return db, nil
}

// migrate runs, in one Update, every migration newer than the stored
// schema version, then checks that every bucket exists.
func (db *DB) migrate() error { return db.migrateTo(schemaVersion()) }

// migrateTo runs, in one Update, the migrations newer than the stored
// schema version up to and including target. Only Open's call, with the
// latest version, checks that every bucket exists; tests call it with an
// older target to build a store as an older Custos left it.
func (db *DB) migrateTo(target uint32) error {
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("unable to create bucket %s: %w", bucketMeta, err)
		}
		var current uint32
		if v := meta.Get(keySchemaVersion); v != nil {
			if len(v) != 4 {
				return fmt.Errorf("meta %s is %d bytes, want 4", keySchemaVersion, len(v))
			}
			current = binary.BigEndian.Uint32(v)
		}
		if known := schemaVersion(); current > known {
			return reserve.Errorf(reserve.CodeFailedPrecondition,
				"store %s has schema version %d, newer than the %d this program knows: run a newer custosd", db.path, current, known)
		}
		for _, m := range migrations {
			if m.version <= current || m.version > target {
				continue
			}
			if err := m.apply(tx); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
			db.log.Info("store migrated", slog.String("path", db.path), slog.Uint64("version", uint64(m.version)), slog.String("migration", m.name))
			current = m.version
		}
		if err := meta.Put(keySchemaVersion, binary.BigEndian.AppendUint32(nil, current)); err != nil {
			return fmt.Errorf("unable to write schema version: %w", err)
		}
		if current != schemaVersion() {
			return nil
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("bucket %s is missing after migrations", name)
			}
		}
		return nil
	})
	return classify("migrate store "+db.path, err)
}

// Close releases the file and its lock. It is safe to call more than once;
// calls after the first return the first call's result.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if err := db.bolt.Close(); err != nil {
			db.closeErr = reserve.Errorf(reserve.CodeInternal, "unable to close store %s: %w", db.path, err)
		}
	})
	return db.closeErr
}

// Path returns the file the store was opened from.
func (db *DB) Path() string { return db.path }

// Backup writes a consistent copy of the whole store to w while other
// readers and writers carry on. The copy is a bbolt file that Open reads.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := db.view(ctx, "back up store", func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// view runs fn in a read-only transaction after checking ctx. what names
// the operation in errors ("read wallet").
func (db *DB) view(ctx context.Context, what string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return reserve.Errorf(reserve.CodeUnavailable, "unable to %s: %w", what, err)
	}
	return classify(what, db.bolt.View(fn))
}

// update runs fn in one read-write transaction after checking ctx; fn's
// error rolls everything back.
func (db *DB) update(ctx context.Context, what string, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return reserve.Errorf(reserve.CodeUnavailable, "unable to %s: %w", what, err)
	}
	return classify(what, committed(what, db.bolt.Update(precommit(what, db.audit.as(ctx, fn)))))
}

// classify makes every error a *reserve.Error: classified errors pass
// unchanged, anything else (bbolt, decoding) is CodeInternal with what
// failed in front of it.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	var re *reserve.Error
	if errors.As(err, &re) {
		if re == err {
			return err
		}
		return reserve.Errorf(re.Code, "unable to %s: %w", what, err)
	}
	return reserve.Errorf(reserve.CodeInternal, "unable to %s: %w", what, err)
}

// corrupt reports a record the store cannot read back.
func corrupt(what string, key []byte, err error) error {
	return reserve.Errorf(reserve.CodeInternal, "store holds a corrupt %s record under key %x: %w", what, key, err)
}

// readTip returns the sync tip from meta; ok is false before the first
// block.
func readTip(tx *bolt.Tx) (height int32, hash chainhash.Hash, ok bool, err error) {
	meta := tx.Bucket(bucketMeta)
	h, hb := meta.Get(keySyncHeight), meta.Get(keySyncHash)
	if h == nil && hb == nil {
		return 0, chainhash.Hash{}, false, nil
	}
	if len(h) != 4 || len(hb) != chainhash.HashSize {
		return 0, chainhash.Hash{}, false, fmt.Errorf("sync tip in meta is %d+%d bytes, want 4+%d", len(h), len(hb), chainhash.HashSize)
	}
	copy(hash[:], hb)
	return int32(binary.BigEndian.Uint32(h)), hash, true, nil
}

func writeTip(tx *bolt.Tx, height int32, hash chainhash.Hash) error {
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keySyncHeight, binary.BigEndian.AppendUint32(nil, uint32(height))); err != nil {
		return fmt.Errorf("unable to write sync height: %w", err)
	}
	if err := meta.Put(keySyncHash, append([]byte(nil), hash[:]...)); err != nil {
		return fmt.Errorf("unable to write sync hash: %w", err)
	}
	return nil
}

func clearTip(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if err := meta.Delete(keySyncHeight); err != nil {
		return fmt.Errorf("unable to clear sync height: %w", err)
	}
	if err := meta.Delete(keySyncHash); err != nil {
		return fmt.Errorf("unable to clear sync hash: %w", err)
	}
	return nil
}
