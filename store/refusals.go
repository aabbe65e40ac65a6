package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// A signer agent's refusal to sign a proposal is an audit event the daemon
// appends (AppendEvent); GetProposal shows a proposal's refusals. They are
// filed by proposal as they are appended, so reading them costs that
// proposal's refusals, never the whole log.

// AuditSignerRefuse is the kind of a signer agent's refusal leaf, appended
// by the daemon (daemon.AuditSignerRefuse is the same string) with ids
// naming the proposal, its txid and the cosigner. Persisted: never rename
// it.
const AuditSignerRefuse = "proposal.signer_refuse"

var (
	// path: audit_refusals -> [len(proposal id)(2 BE) || proposal id ||
	// leaf seq(8 BE)]
	// maps: every AuditSignerRefuse leaf, by the proposal its ids name ->
	// empty; the leaf is audit[seq]. Written with the leaf by appendLeaf,
	// built for older stores by migration 10.
	bucketAuditRefusals = []byte("audit_refusals")
)

// bucketsV10 are the buckets migration 10 creates. Frozen once shipped.
var bucketsV10 = [][]byte{bucketAuditRefusals}

// refusalPrefix is the part of a refusal's key that names its proposal.
func refusalPrefix(id string) []byte {
	k := binary.BigEndian.AppendUint16(nil, uint16(len(id)))
	return append(k, id...)
}

// fileRefusal files leaf seq under the proposal its ids name, when it is
// a refusal; any other leaf is left alone.
func fileRefusal(tx *bolt.Tx, seq int64, kind string, ids map[string]string) error {
	if kind != AuditSignerRefuse {
		return nil
	}
	id := ids["proposal"]
	if len(id) > audit.MaxIDLen {
		return fmt.Errorf("refusal leaf %d names a proposal of %d bytes", seq, len(id))
	}
	k := binary.BigEndian.AppendUint64(refusalPrefix(id), uint64(seq))
	if err := tx.Bucket(bucketAuditRefusals).Put(k, []byte{}); err != nil {
		return fmt.Errorf("unable to file refusal leaf %d: %w", seq, err)
	}
	return nil
}

// migrateRefusalsV10 creates the refusal index and files every refusal
// the log holds. Only leaves whose encoding spells the kind are parsed:
// the kind is a token (audit.Leaf's check), so its encoding holds it as
// is.
func migrateRefusalsV10(tx *bolt.Tx) error {
	if err := createBuckets(tx, bucketsV10); err != nil {
		return err
	}
	kind := []byte(`"` + AuditSignerRefuse + `"`)
	return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
		if !bytes.Contains(v, kind) {
			return nil
		}
		l, err := decodeAuditLeaf(k, v)
		if err != nil {
			return err
		}
		return fileRefusal(tx, l.Seq, l.Kind, l.IDs)
	})
}

// SignerRefusals returns the encodings of the refusal leaves
// (AuditSignerRefuse) that name proposal id, in the order appended.
func (db *DB) SignerRefusals(ctx context.Context, id string) ([][]byte, error) {
	if len(id) > audit.MaxIDLen {
		return nil, reserve.Invalid("proposal_id", "is %d bytes, longer than %d", len(id), audit.MaxIDLen)
	}
	var out [][]byte
	err := db.view(ctx, "read signer refusals", func(tx *bolt.Tx) error {
		prefix := refusalPrefix(id)
		log := tx.Bucket(bucketAudit)
		c := tx.Bucket(bucketAuditRefusals).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(k) != len(prefix)+8 {
				return corrupt("audit refusal", k, fmt.Errorf("key is %d bytes, want %d", len(k), len(prefix)+8))
			}
			seq := k[len(prefix):]
			v := log.Get(seq)
			if len(v) == 0 || v[0] != auditRecordV2 {
				return corrupt("audit", seq, fmt.Errorf("refusal leaf is not a version %d record", auditRecordV2))
			}
			out = append(out, bytes.Clone(v[1:]))
		}
		return nil
	})
	return out, err
}
