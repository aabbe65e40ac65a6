package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// Audit kinds written by the store. They are persisted: never rename one.
const (
	// AuditWalletCreate records CreateWallet; the detail names the wallet
	// and its id.
	AuditWalletCreate = "wallet.create"
	// AuditAddressIssue records IssueAddress; the detail names the
	// branch, index, address and label.
	AuditAddressIssue = "address.issue"
	// AuditProposalCreate records CreateProposal; the detail names the
	// proposal id, its payee count, the total paid to payees, the fee,
	// the inputs and the change address.
	AuditProposalCreate = "proposal.create"
	// AuditProposalUpdate records an UpdateProposal that left the state
	// as it was; one that changed it is recorded under
	// AuditProposalKind(new state). The detail names the proposal, its
	// state and the actor and note of its last transition.
	AuditProposalUpdate = "proposal.update"
	// AuditProposalRelease records ReleaseSpent: an ended proposal's kept
	// reservations freed because an input is spent deep enough. The
	// detail names the proposal, its state, how many were released, the
	// spend and the caller's note.
	AuditProposalRelease = "proposal.release"
)

// AuditProposalKind is the audit kind of a proposal moving to state:
// "proposal." and the state's name in lower case ("proposal.signing",
// "proposal.pending_approval").
func AuditProposalKind(state reserve.State) string {
	return "proposal." + strings.ToLower(state.String())
}

// AuditEntry is one line of the append-only audit log, written in the same
// transaction as the state change it records.
type AuditEntry struct {
	// Seq numbers entries from 1 in the order they were written.
	Seq    uint64
	Time   time.Time
	Kind   string
	Detail string
}

// AuditLog returns every audit entry in the order written.
func (db *DB) AuditLog(ctx context.Context) ([]AuditEntry, error) {
	var out []AuditEntry
	err := db.view(ctx, "read audit log", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return corrupt("audit", k, fmt.Errorf("key is %d bytes, want 8", len(k)))
			}
			a, err := decodeAudit(v)
			if err != nil {
				return corrupt("audit", k, err)
			}
			a.Seq = binary.BigEndian.Uint64(k)
			out = append(out, a)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendAudit adds an entry inside the caller's transaction, so the entry
// commits or rolls back with the change it records.
func (db *DB) appendAudit(tx *bolt.Tx, kind, detail string) error {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("unable to number audit entry %s: %w", kind, err)
	}
	v, err := encodeAudit(&AuditEntry{Time: db.now(), Kind: kind, Detail: detail})
	if err != nil {
		return fmt.Errorf("unable to encode audit entry %s: %w", kind, err)
	}
	if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
		return fmt.Errorf("unable to write audit entry %s: %w", kind, err)
	}
	return nil
}
