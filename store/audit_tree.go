package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// The audit log is a transparency log (package audit): bucket audit keeps
// each leaf's canonical encoding, bucket audit_hashes the tree's stored
// hashes (tlog.StoredHashes), both written in the transaction of the
// change a leaf records.
var (
	// path: audit_hashes -> [stored hash index(8 BE), tlog.StoredHashIndex]
	// maps: every hash of the audit tree that tlog keeps -> 32 bytes.
	// Append-only, written with the leaf that adds it.
	bucketAuditHashes = []byte("audit_hashes")
)

// bucketsV4 are the buckets migration 4 creates. Frozen once shipped.
var bucketsV4 = [][]byte{bucketAuditHashes}

// auditRecordV2 is the version byte of an audit record since migration 4:
// the byte, then the leaf's canonical encoding (audit.Leaf.Encode). Version
// 1 (encodeAudit: time, kind, detail) is only read by that migration.
const auditRecordV2 byte = 2

// UnknownActor is recorded for a change whose ctx carried no actor
// (reserve.WithActor), and unrecordedActor for the entries written before
// the log recorded actors.
var (
	UnknownActor    = reserve.Actor{Name: "unknown", Role: "unknown"}
	unrecordedActor = reserve.Actor{Name: "unrecorded", Role: "unrecorded"}
)

// auditState is the DB's part of the log outside bbolt: the actor of the
// write transaction under way and the channel that wakes followers.
type auditState struct {
	// actor is set by update at the start of each write transaction and
	// read by appendLeaf inside it; bbolt runs one writer at a time and
	// its writer lock orders these accesses.
	actor reserve.Actor

	mu      sync.Mutex
	changed chan struct{}
}

// as wraps fn so that the leaves it appends carry ctx's actor.
func (s *auditState) as(ctx context.Context, fn func(tx *bolt.Tx) error) func(tx *bolt.Tx) error {
	a, ok := reserve.ActorFrom(ctx)
	if !ok || a.Name == "" || a.Role == "" {
		a = UnknownActor
	}
	return func(tx *bolt.Tx) error {
		s.actor = a
		return fn(tx)
	}
}

// wake closes the channel AuditChanged handed out, once a transaction
// that appended commits.
func (s *auditState) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// AuditChanged returns a channel closed at the next commit that appends
// to the log: a follower reads what it has not seen, then waits on a new
// channel taken before that read.
func (db *DB) AuditChanged() <-chan struct{} {
	db.audit.mu.Lock()
	defer db.audit.mu.Unlock()
	if db.audit.changed == nil {
		db.audit.changed = make(chan struct{})
	}
	return db.audit.changed
}

// hashReader reads the tree's stored hashes from a transaction.
type hashReader struct{ b *bolt.Bucket }

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		v := r.b.Get(binary.BigEndian.AppendUint64(nil, uint64(x)))
		if len(v) != tlog.HashSize {
			return nil, corrupt("audit hash", binary.BigEndian.AppendUint64(nil, uint64(x)), fmt.Errorf("is %d bytes, want %d", len(v), tlog.HashSize))
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// appendLeaf numbers l, stamps it with the time, the transaction's actor
// and the root before it, and writes it and its tree hashes (and files it
// when it is a signer's refusal, refusals.go).
func (db *DB) appendLeaf(tx *bolt.Tx, l audit.Leaf) error {
	l.Time, l.Actor = db.now(), db.audit.actor
	if l.Actor.Name == "" {
		l.Actor = UnknownActor
	}
	if err := writeLeaf(tx, l); err != nil {
		return err
	}
	if err := fileRefusal(tx, auditSize(tx), l.Kind, l.IDs); err != nil {
		return err
	}
	tx.OnCommit(db.audit.wake)
	return nil
}

// writeLeaf appends l (Seq and Prev are set here) to the log in tx.
func writeLeaf(tx *bolt.Tx, l audit.Leaf) error {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("unable to number audit entry %s: %w", l.Kind, err)
	}
	n := int64(seq) - 1
	r := hashReader{tx.Bucket(bucketAuditHashes)}
	if l.Prev, err = audit.Root(r, n); err != nil {
		return fmt.Errorf("unable to read the audit tree before entry %d: %w", seq, err)
	}
	l.Seq = int64(seq)
	enc, err := l.Encode()
	if err != nil {
		return fmt.Errorf("unable to encode audit entry %s: %w", l.Kind, err)
	}
	hashes, err := audit.Append(r, n, enc)
	if err != nil {
		return fmt.Errorf("unable to hash audit entry %d: %w", seq, err)
	}
	first := tlog.StoredHashIndex(0, n)
	for i, h := range hashes {
		if err := r.b.Put(binary.BigEndian.AppendUint64(nil, uint64(first+int64(i))), h[:]); err != nil {
			return fmt.Errorf("unable to write audit hash: %w", err)
		}
	}
	v := append([]byte{auditRecordV2}, enc...)
	if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
		return fmt.Errorf("unable to write audit entry %s: %w", l.Kind, err)
	}
	return nil
}

// decodeAuditLeaf reads a version 2 audit record stored under k.
func decodeAuditLeaf(k, v []byte) (audit.Leaf, error) {
	if len(k) != 8 {
		return audit.Leaf{}, corrupt("audit", k, fmt.Errorf("key is %d bytes, want 8", len(k)))
	}
	if len(v) == 0 || v[0] != auditRecordV2 {
		return audit.Leaf{}, corrupt("audit", k, fmt.Errorf("not a version %d record", auditRecordV2))
	}
	l, err := audit.ParseLeaf(v[1:])
	if err != nil {
		return audit.Leaf{}, corrupt("audit", k, err)
	}
	if l.Seq != int64(binary.BigEndian.Uint64(k)) {
		return audit.Leaf{}, corrupt("audit", k, fmt.Errorf("holds seq %d", l.Seq))
	}
	return l, nil
}

// auditSize is the number of leaves.
func auditSize(tx *bolt.Tx) int64 { return int64(tx.Bucket(bucketAudit).Sequence()) }

// AppendEvent records a security event that changes no state (an
// authentication failure, a permission denied, an export) as a leaf, in a
// transaction of its own, with ctx's actor. Callers bound how often they
// call it for a caller they do not know.
func (db *DB) AppendEvent(ctx context.Context, kind string, ids map[string]string, detail string) error {
	return db.update(ctx, "append audit event "+kind, func(tx *bolt.Tx) error {
		return db.appendLeaf(tx, audit.Leaf{Kind: kind, IDs: ids, Detail: detail})
	})
}

// AuditTree returns the size of the log and the root of its tree.
func (db *DB) AuditTree(ctx context.Context) (int64, tlog.Hash, error) {
	var (
		size int64
		root tlog.Hash
	)
	err := db.view(ctx, "read audit tree", func(tx *bolt.Tx) error {
		size = auditSize(tx)
		var err error
		root, err = audit.Root(hashReader{tx.Bucket(bucketAuditHashes)}, size)
		return err
	})
	return size, root, err
}

// AuditRoot returns the root of the tree of the first size leaves, for a
// checkpoint of an earlier size; a size past the log is refused.
func (db *DB) AuditRoot(ctx context.Context, size int64) (tlog.Hash, error) {
	var root tlog.Hash
	err := db.view(ctx, "read audit tree", func(tx *bolt.Tx) error {
		if n := auditSize(tx); size < 0 || size > n {
			return reserve.Invalid("size", "%d is outside the log's 0..%d", size, n)
		}
		var err error
		root, err = audit.Root(hashReader{tx.Bucket(bucketAuditHashes)}, size)
		return err
	})
	return root, err
}

// AuditLeaves returns the encodings of up to limit leaves from seq from
// (1 for the start) and not past seq to (0: the end of the log), in
// order: the lines of an export and the pages of a listing.
func (db *DB) AuditLeaves(ctx context.Context, from, to int64, limit int) ([][]byte, error) {
	if from < 1 {
		return nil, reserve.Invalid("from", "is %d, want a seq of 1 or more", from)
	}
	if limit <= 0 {
		return nil, reserve.Invalid("limit", "is %d, want 1 or more", limit)
	}
	var out [][]byte
	err := db.view(ctx, "read audit leaves", func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, uint64(from))); k != nil && len(out) < limit; k, v = c.Next() {
			if len(k) != 8 {
				return corrupt("audit", k, fmt.Errorf("key is %d bytes, want 8", len(k)))
			}
			if to > 0 && binary.BigEndian.Uint64(k) > uint64(to) {
				break
			}
			if len(v) == 0 || v[0] != auditRecordV2 {
				return corrupt("audit", k, fmt.Errorf("not a version %d record", auditRecordV2))
			}
			out = append(out, append([]byte(nil), v[1:]...))
		}
		return nil
	})
	return out, err
}

// ProveAuditInclusion proves leaf seq is in the tree of size leaves (0:
// the whole log now); a seq past the size is refused naming it.
func (db *DB) ProveAuditInclusion(ctx context.Context, seq, size int64) (audit.InclusionProof, error) {
	var p audit.InclusionProof
	err := db.view(ctx, "prove audit inclusion", func(tx *bolt.Tx) error {
		n := auditSize(tx)
		if size == 0 {
			size = n
		}
		if size < 0 || size > n {
			return reserve.Invalid("size", "%d is outside the log's 1..%d", size, n)
		}
		var err error
		p, err = audit.ProveInclusion(hashReader{tx.Bucket(bucketAuditHashes)}, seq, size)
		return err
	})
	return p, err
}

// ProveAuditConsistency proves the tree of old leaves is a prefix of the
// tree of new leaves (0: the whole log now).
func (db *DB) ProveAuditConsistency(ctx context.Context, old, new int64) (audit.ConsistencyProof, error) {
	var p audit.ConsistencyProof
	err := db.view(ctx, "prove audit consistency", func(tx *bolt.Tx) error {
		n := auditSize(tx)
		if new == 0 {
			new = n
		}
		var err error
		p, err = audit.ProveConsistency(hashReader{tx.Bucket(bucketAuditHashes)}, old, new, n)
		return err
	})
	return p, err
}

// migrateAuditV4 creates the hash bucket and rewrites every version 1
// audit record as a leaf (actor "unrecorded": those entries never named
// one), building the tree in the order written.
func migrateAuditV4(tx *bolt.Tx) error {
	if err := createBuckets(tx, bucketsV4); err != nil {
		return err
	}
	b := tx.Bucket(bucketAudit)
	var old []AuditEntry
	err := b.ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return corrupt("audit", k, fmt.Errorf("key is %d bytes, want 8", len(k)))
		}
		a, err := decodeAudit(v)
		if err != nil {
			return corrupt("audit", k, err)
		}
		a.Seq = binary.BigEndian.Uint64(k)
		old = append(old, a)
		return nil
	})
	if err != nil {
		return err
	}
	// Rewritten after the walk (bbolt forbids changing a bucket during
	// its ForEach), in a fresh numbering: the version 1 keys came from
	// NextSequence, so they are 1..n already.
	for i, a := range old {
		if a.Seq != uint64(i+1) {
			return corrupt("audit", binary.BigEndian.AppendUint64(nil, a.Seq), fmt.Errorf("entry %d is numbered %d: the log has a gap", i+1, a.Seq))
		}
		if err := b.Delete(binary.BigEndian.AppendUint64(nil, a.Seq)); err != nil {
			return err
		}
	}
	if err := b.SetSequence(0); err != nil {
		return err
	}
	for _, a := range old {
		if err := writeLeaf(tx, audit.Leaf{Time: a.Time, Actor: unrecordedActor, Kind: a.Kind, Detail: a.Detail}); err != nil {
			return fmt.Errorf("unable to rewrite audit entry %d: %w", a.Seq, err)
		}
	}
	return nil
}
