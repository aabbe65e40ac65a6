package store

import (
	"context"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/audit"
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
	// AuditProposalApprove and AuditProposalReject record one officer's
	// decision on a proposal, each its own leaf beside the transition it
	// may cause: ids name the proposal, its txid, the officer, the
	// officer's key and the intent digest the officer signed.
	AuditProposalApprove = "proposal.approve"
	AuditProposalReject  = "proposal.reject"
	// AuditProposalSign records an UpdateProposal that added cosigners'
	// signatures (an import) and left the state as it was; an import that
	// finalizes is recorded under proposal.finalized. Both name the
	// cosigners added in ids "signers" (position:fingerprint, comma
	// separated) and say in "finalized" whether the import finalized.
	AuditProposalSign = "proposal.sign"
)

// proposalIDs are the ids every proposal leaf carries: the proposal and
// the txid of its transaction (the same before and after signing).
func proposalIDs(p *reserve.Proposal) map[string]string {
	ids := map[string]string{"proposal": p.ID}
	if p.Txid != (chainhash.Hash{}) {
		ids["txid"] = p.Txid.String()
	}
	return ids
}

// AuditProposalKind is the audit kind of a proposal moving to state:
// "proposal." and the state's name in lower case ("proposal.signing",
// "proposal.pending_approval").
func AuditProposalKind(state reserve.State) string {
	return "proposal." + strings.ToLower(state.String())
}

// AuditEntry is one leaf of the audit log, decoded: written in the same
// transaction as the state change it records (audit.Leaf is the full
// leaf; AuditLeaves returns the encodings the tree hashes).
type AuditEntry struct {
	// Seq numbers entries from 1 in the order they were written.
	Seq    uint64
	Time   time.Time
	Actor  reserve.Actor
	Kind   string
	IDs    map[string]string
	Detail string
}

// AuditLog returns every audit entry in the order written.
func (db *DB) AuditLog(ctx context.Context) ([]AuditEntry, error) {
	var out []AuditEntry
	err := db.view(ctx, "read audit log", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(k, v []byte) error {
			l, err := decodeAuditLeaf(k, v)
			if err != nil {
				return err
			}
			out = append(out, AuditEntry{
				Seq: uint64(l.Seq), Time: l.Time, Actor: l.Actor,
				Kind: l.Kind, IDs: l.IDs, Detail: l.Detail,
			})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendAudit adds a leaf inside the caller's transaction, so the entry
// and the tree hashes it adds commit or roll back with the change it
// records. The actor is the one db.update took from its ctx.
// ids are the identifiers and hashes an auditor joins on (proposal id,
// txid, policy hash, certificate serial …); never a secret.
func (db *DB) appendAudit(tx *bolt.Tx, kind string, ids map[string]string, detail string) error {
	return db.appendLeaf(tx, audit.Leaf{Kind: kind, IDs: ids, Detail: detail})
}
