package signer

import (
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// Request is one PSBT on its way to this signer's signature: checked,
// without the key, against what the data directory pins (CheckRequest),
// then signed under the key (Request.Sign). It is the one path from a
// PSBT to a signature: `custos-signer sign` (a file) and the online agent
// (signer/agent) both take it, so both run the same checks and write the
// same ledger and state record. The caller holds the directory's lock
// (LockDir) from CheckRequest until it is done with the result.
type Request struct {
	// Dir is the signer's data directory.
	Dir     string
	Packet  *psbt.Packet
	KeyFile *KeyFile
	// Descriptor, Rules and Derived are what Dir pins, as read by
	// CheckRequest; Derived is trusted only once Sign verified it.
	Descriptor *multisig.Descriptor
	Rules      Rules
	Derived    *Derived
	// Summary is what Check found, then what Sign checked again; for a
	// proof of reserves it is empty and Proof is set instead.
	Summary Summary
	// Proof is what CheckProof found, then what SignProof checked again,
	// when the PSBT is a proof of reserves (multisig.IsProof); nil for a
	// payment.
	Proof *ProofSummary
	// Earlier is the ledger's record of this very transaction when an
	// earlier run signed it (whose signed PSBT may never have been
	// handed out); nil for a first signing.
	Earlier *LedgerRecord
	// appended is the entry Sign added (0 before Sign).
	appended uint64
}

// LedgerRecord is where the ledger records a transaction.
type LedgerRecord struct {
	// Entry is its line, 1 for the first.
	Entry    uint64
	SignedAt time.Time
}

// CheckRequest reads what dir pins (the descriptor, the policy and rules
// with lim and the clock now, the derived addresses) and runs every check
// of Check on pkt that needs no key, or of CheckProof when pkt is shaped
// as a proof of reserves (multisig.IsProof: then Proof is set, and a
// proof that fails a rule is refused, never checked as a payment). kf is
// dir's key file header. A transaction the ledger records already comes
// back with Earlier set.
// ErrNotRegistered and ErrNoPolicy say the directory is not set up.
func CheckRequest(dir string, kf *KeyFile, pkt *psbt.Packet, lim Limits, now func() time.Time) (*Request, error) {
	r := &Request{Dir: dir, Packet: pkt, KeyFile: kf}
	var err error
	if r.Descriptor, err = LoadDescriptor(dir, kf.Network); err != nil {
		return nil, err
	}
	if r.Rules, err = LoadRules(dir, lim, now); err != nil {
		return nil, err
	}
	// The consistency proof to read is this signer's; Sign checks it
	// again with the unlocked key's fingerprint.
	r.Rules.Fingerprint = kf.Record.Fingerprint
	// The addresses this signer derived before make the check fast; they
	// are trusted for signing only once their MAC verifies under the key.
	if r.Derived, err = LoadDerived(dir, r.Descriptor); err != nil {
		return nil, err
	}
	if multisig.IsProof(pkt) {
		sum, err := CheckProof(pkt, r.Descriptor, r.Rules)
		if err != nil {
			return nil, err
		}
		r.Proof = &sum
	} else if r.Summary, err = Check(pkt, r.Descriptor, r.Rules); err != nil {
		return nil, err
	}
	if r.recorded() {
		if r.Earlier, err = findRecord(r.Rules.Ledger, r.TxID()); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Sign authenticates under key what CheckRequest read, signs every input
// (Sign records the transaction in the ledger and the state record before
// it returns) and returns this signer's place and the number of
// signatures added. r.Summary becomes the summary Sign checked. The
// caller hands out the signed r.Packet only after Sign returned; then it
// may SaveDerived.
func (r *Request) Sign(key *Key) (*Pinned, int, error) {
	if err := r.Derived.Verify(key); err != nil {
		return nil, 0, err
	}
	again, err := LoadDescriptor(r.Dir, r.KeyFile.Network)
	if err != nil {
		return nil, 0, err
	}
	if again.String() != r.Descriptor.String() {
		return nil, 0, reserve.Errorf(reserve.CodeConflict, "the pinned descriptor in %s changed while signing; nothing was signed", r.Dir)
	}
	// Sign with the descriptor checked above, whose derived addresses are
	// now authenticated; Place checks the key's place in it.
	pinned, err := Place(r.Descriptor, key)
	if err != nil {
		return nil, 0, err
	}
	var n int
	if r.Proof != nil {
		signed, added, err := SignProof(r.Packet, pinned, key, r.Rules)
		if err != nil {
			return nil, 0, err
		}
		r.Proof, n = &signed, added
	} else {
		signed, added, err := Sign(r.Packet, pinned, key, r.Rules)
		if err != nil {
			return nil, 0, err
		}
		r.Summary, n = signed, added
	}
	if err := r.noteRecord(); err != nil {
		return nil, 0, err
	}
	return pinned, n, nil
}

// SaveDerived caches the addresses up to what the ledger has seen, after
// a signature; a failure only makes the next check slower.
func (r *Request) SaveDerived(key *Key) error {
	return SaveDerived(r.Dir, r.Descriptor, key, r.Rules.Ledger.Seen())
}

// noteRecord finds, after Sign, the ledger entry that records the
// transaction: the one an earlier run wrote, or the one Sign appended,
// last in the ledger the state record now seals.
func (r *Request) noteRecord() error {
	if !r.recorded() {
		entries, _ := r.Rules.Ledger.Head()
		r.Earlier = nil
		r.appended = entries
		return nil
	}
	if r.Earlier != nil {
		return nil
	}
	var err error
	r.Earlier, err = findRecord(r.Rules.Ledger, r.TxID())
	return err
}

// TxID is the id of the transaction the request signs: the payment, or
// a proof's to_sign.
func (r *Request) TxID() chainhash.Hash {
	if r.Proof != nil {
		return r.Proof.TxID
	}
	return r.Summary.TxID
}

// recorded reports whether the ledger recorded the transaction when it
// was last checked.
func (r *Request) recorded() bool {
	if r.Proof != nil {
		return r.Proof.Recorded()
	}
	return r.Summary.Approved.Recorded()
}

// Entry is the ledger entry that records the transaction, once Sign has
// run (or CheckRequest found it recorded).
func (r *Request) Entry() uint64 {
	if r.Earlier != nil {
		return r.Earlier.Entry
	}
	return r.appended
}

// findRecord looks for transaction txid in the ledger.
func findRecord(l *Ledger, txid chainhash.Hash) (*LedgerRecord, error) {
	entries, err := l.Entries()
	if err != nil {
		return nil, err
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].TxID == txid {
			return &LedgerRecord{Entry: uint64(i) + 1, SignedAt: entries[i].SignedAt}, nil
		}
	}
	return nil, fmt.Errorf("transaction %s is not in the ledger %s", txid, l.Path())
}
