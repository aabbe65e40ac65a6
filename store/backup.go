package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/backup"
	"github.com/custos-reserve/custos/reserve"
)

// Audit kinds of backups and restores. Persisted: never rename one.
const (
	// AuditBackupRestore records MarkRestored: the store was installed
	// from a backup; ids name the backup's header digest and checkpoint
	// size.
	AuditBackupRestore = "backup.restore"
	// AuditBackupAck records AckRestore: an operator confirmed with the
	// ministries that the restored log is the one they witnessed.
	AuditBackupAck = "backup.ack_restore"
)

// path: meta -> restored
// maps: the mark of a store installed from a backup, until AckRestore:
// version 1 (1), backup time in Unix seconds (8 BE), checkpoint size (8
// BE), backup header digest (32).
var keyRestored = []byte("restored")

const restoredV1 byte = 1

// Snapshot writes a consistent copy of the whole store to w (bbolt
// Tx.WriteTo) while other readers and writers carry on, and says, from
// the same read transaction, what the copy holds: network, wallet, schema
// and the audit log's size and root.
func (db *DB) Snapshot(ctx context.Context, w io.Writer) (backup.Snapshot, error) {
	var s backup.Snapshot
	err := db.view(ctx, "snapshot store", func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyNetwork); len(v) == 1 {
			s.Network = reserve.Network(v[0])
		}
		if v := meta.Get(keySchemaVersion); len(v) == 4 {
			s.Schema = binary.BigEndian.Uint32(v)
		}
		if tx.Bucket(bucketWallet).Get(keyWallet) != nil {
			wlt, err := readWallet(tx)
			if err != nil {
				return err
			}
			s.WalletID = wlt.ID
		}
		s.AuditSize = auditSize(tx)
		var err error
		if s.AuditRoot, err = audit.Root(hashReader{tx.Bucket(bucketAuditHashes)}, s.AuditSize); err != nil {
			return err
		}
		s.Size, err = tx.WriteTo(w)
		return err
	})
	return s, err
}

// MarkRestored records that the store was installed from the backup r
// describes, with an audit leaf. A store already marked is refused
// (Conflict).
func (db *DB) MarkRestored(ctx context.Context, r backup.Restored) error {
	return db.update(ctx, "mark store restored", func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyRestored) != nil {
			return reserve.Errorf(reserve.CodeConflict, "store %s is already marked restored", db.path)
		}
		v := []byte{restoredV1}
		v = binary.BigEndian.AppendUint64(v, uint64(r.Taken.Unix()))
		v = binary.BigEndian.AppendUint64(v, uint64(r.CheckpointSize))
		v = append(v, r.HeaderDigest[:]...)
		if err := meta.Put(keyRestored, v); err != nil {
			return fmt.Errorf("unable to write restored mark: %w", err)
		}
		return db.appendLeaf(tx, audit.Leaf{Kind: AuditBackupRestore, IDs: restoredIDs(r),
			Detail: fmt.Sprintf("restored from a backup taken at %s (audit size %d); exports wait for ack-restore", r.Taken.UTC().Format(time.RFC3339), r.CheckpointSize)})
	})
}

// Restored returns the restored mark; ok is false for a store that was
// not restored or whose restore was acknowledged.
func (db *DB) Restored(ctx context.Context) (r backup.Restored, ok bool, err error) {
	err = db.view(ctx, "read restored mark", func(tx *bolt.Tx) error {
		r, ok, err = readRestored(tx)
		return err
	})
	return r, ok, err
}

// AckRestore clears the restored mark with an audit leaf naming ctx's
// actor, and returns the mark it cleared. A store without one is refused
// (FailedPrecondition).
func (db *DB) AckRestore(ctx context.Context) (backup.Restored, error) {
	var r backup.Restored
	err := db.update(ctx, "acknowledge restore", func(tx *bolt.Tx) error {
		var ok bool
		var err error
		if r, ok, err = readRestored(tx); err != nil {
			return err
		}
		if !ok {
			return reserve.Errorf(reserve.CodeFailedPrecondition, "this store is not a restored backup awaiting acknowledgement")
		}
		if err := tx.Bucket(bucketMeta).Delete(keyRestored); err != nil {
			return fmt.Errorf("unable to clear restored mark: %w", err)
		}
		return db.appendLeaf(tx, audit.Leaf{Kind: AuditBackupAck, IDs: restoredIDs(r),
			Detail: fmt.Sprintf("restore acknowledged: the log restored at audit size %d is the one the ministries witnessed", r.CheckpointSize)})
	})
	return r, err
}

func readRestored(tx *bolt.Tx) (backup.Restored, bool, error) {
	v := tx.Bucket(bucketMeta).Get(keyRestored)
	if v == nil {
		return backup.Restored{}, false, nil
	}
	if len(v) != 1+8+8+32 || v[0] != restoredV1 {
		return backup.Restored{}, false, corrupt("restored mark", keyRestored, fmt.Errorf("is %d bytes of version %d", len(v), v[0]))
	}
	r := backup.Restored{
		Taken:          time.Unix(int64(binary.BigEndian.Uint64(v[1:9])), 0).UTC(),
		CheckpointSize: int64(binary.BigEndian.Uint64(v[9:17])),
	}
	copy(r.HeaderDigest[:], v[17:])
	return r, true, nil
}

func restoredIDs(r backup.Restored) map[string]string {
	return map[string]string{
		"backup":          fmt.Sprintf("%x", r.HeaderDigest),
		"checkpoint_size": fmt.Sprint(r.CheckpointSize),
	}
}
