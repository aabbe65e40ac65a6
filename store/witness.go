package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// Audit kinds of the witnesses (docs/audit.md, "Witnesses"). Persisted:
// never rename one.
const (
	// AuditWitnessKey records a witness key presented for the first time
	// (trust on first use): the cosigner's fingerprint and the key.
	AuditWitnessKey = "witness.key"
	// AuditWitnessCosign records a cosignature imported with a PSBT: the
	// cosigner, the size and root it cosigned, the proposal.
	AuditWitnessCosign = "witness.cosign"
)

// path: witnesses -> [cosigner master fingerprint(4 BE)]
// maps: the witness of that cosigner -> witness record (encodeWitness):
// its verifier key as first presented and the latest checkpoint it
// cosigned.
var bucketWitnesses = []byte("witnesses")

const witnessRecordVersion = 1

// encodeWitness is: version(1) || key length(2 BE) || key || size(8 BE)
// || root(32) || note length(4 BE) || cosigned note.
func encodeWitness(r audit.WitnessRecord) ([]byte, error) {
	if len(r.Key) == 0 || len(r.Key) > 1<<10 || len(r.Cosigned) > 1<<16 || r.Checkpoint.Size < 0 {
		return nil, fmt.Errorf("witness record of cosigner %08x out of bounds", r.Fingerprint)
	}
	b := []byte{witnessRecordVersion}
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Checkpoint.Size))
	b = append(b, r.Checkpoint.Root[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Cosigned)))
	return append(b, r.Cosigned...), nil
}

// decodeWitness reads encodeWitness's bytes, copying them out of bbolt's
// memory; origin is the log's (the record does not repeat it).
func decodeWitness(k, v []byte, origin string) (audit.WitnessRecord, error) {
	bad := errors.New("malformed witness record")
	if len(k) != 4 || len(v) < 3 || v[0] != witnessRecordVersion {
		return audit.WitnessRecord{}, bad
	}
	r := audit.WitnessRecord{Fingerprint: binary.BigEndian.Uint32(k)}
	n := int(binary.BigEndian.Uint16(v[1:]))
	rest := v[3:]
	if len(rest) < n+8+32+4 {
		return audit.WitnessRecord{}, bad
	}
	r.Key, rest = string(rest[:n]), rest[n:]
	r.Checkpoint.Size = int64(binary.BigEndian.Uint64(rest))
	copy(r.Checkpoint.Root[:], rest[8:40])
	m := int(binary.BigEndian.Uint32(rest[40:]))
	rest = rest[44:]
	if len(rest) != m || r.Checkpoint.Size < 0 {
		return audit.WitnessRecord{}, bad
	}
	r.Cosigned = bytes.Clone(rest)
	r.Checkpoint.Origin = origin
	return r, nil
}

// Witnesses returns the witness records by cosigner fingerprint; origin
// is the log's origin, which the records' checkpoints get.
func (db *DB) Witnesses(ctx context.Context, origin string) (map[uint32]audit.WitnessRecord, error) {
	out := map[uint32]audit.WitnessRecord{}
	err := db.view(ctx, "read witnesses", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketWitnesses).ForEach(func(k, v []byte) error {
			r, err := decodeWitness(k, v, origin)
			if err != nil {
				return corrupt("witness", k, err)
			}
			out[r.Fingerprint] = r
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RecordWitnesses records cosignatures the caller has verified, for the
// proposal whose PSBT carried them, in one transaction: a witness key
// seen for the first time is kept (trust on first use) with an
// AuditWitnessKey leaf; a key other than the one kept is refused
// (CodeInvalid, field "cosignature") and nothing is written; the
// checkpoint replaces the recorded one when it is larger; every
// cosignature gets an AuditWitnessCosign leaf.
func (db *DB) RecordWitnesses(ctx context.Context, proposal string, recs []audit.WitnessRecord) error {
	return db.update(ctx, "record witnesses", func(tx *bolt.Tx) error {
		return db.recordWitnesses(tx, proposal, recs)
	})
}

// UpdateProposalWitnessed is UpdateProposal for an import: the witness
// cosignatures recs that the imported file carried are recorded (as
// RecordWitnesses does) in the same transaction as the signatures fn
// adds, so a crash keeps both or neither — never signatures whose file's
// cosignatures are lost, which a retried import could no longer bring
// (its signatures are no longer new). A refused cosignature refuses the
// whole update.
func (db *DB) UpdateProposalWitnessed(ctx context.Context, id string, fn func(p *reserve.Proposal) error, recs []audit.WitnessRecord) (reserve.Proposal, error) {
	return db.updateProposal(ctx, id, fn, func(tx *bolt.Tx) error { return db.recordWitnesses(tx, id, recs) })
}

// recordWitnesses is RecordWitnesses inside the caller's transaction.
func (db *DB) recordWitnesses(tx *bolt.Tx, proposal string, recs []audit.WitnessRecord) error {
	b := tx.Bucket(bucketWitnesses)
	for _, r := range recs {
		k := binary.BigEndian.AppendUint32(nil, r.Fingerprint)
		fp := fmt.Sprintf("%08x", r.Fingerprint)
		keep := r
		if v := b.Get(k); v != nil {
			old, err := decodeWitness(k, v, r.Checkpoint.Origin)
			if err != nil {
				return corrupt("witness", k, err)
			}
			if old.Key != r.Key {
				return reserve.Invalid("cosignature", "of cosigner %s is under witness key %s, and this coordinator recorded %s for it", fp, r.Key, old.Key)
			}
			if old.Checkpoint.Size == r.Checkpoint.Size && old.Checkpoint.Root == r.Checkpoint.Root {
				continue // already recorded (an import tried again): no second leaf
			}
			if old.Checkpoint.Size > r.Checkpoint.Size {
				keep = old
			}
		} else if err := db.appendLeaf(tx, audit.Leaf{Kind: AuditWitnessKey, IDs: map[string]string{"cosigner": fp},
			Detail: "witness key first presented: " + r.Key}); err != nil {
			return err
		}
		v, err := encodeWitness(keep)
		if err != nil {
			return err
		}
		if err := b.Put(k, v); err != nil {
			return fmt.Errorf("unable to write witness %s: %w", fp, err)
		}
		ids := map[string]string{"cosigner": fp, "proposal": proposal}
		if err := db.appendLeaf(tx, audit.Leaf{Kind: AuditWitnessCosign, IDs: ids,
			Detail: fmt.Sprintf("cosigned size %d root %s", r.Checkpoint.Size, r.Checkpoint.Root)}); err != nil {
			return err
		}
	}
	return nil
}
