package signer

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// A proof of reserves (docs/signer.md, "Proofs of reserves") is a BIP-322
// to_sign that spends every reserve coin but can never be mined:
// multisig.IsProof recognises one, multisig.CheckProof holds it to every
// structural rule against the pinned wallet. It moves nothing, so it
// carries no payment intent and needs no officers' approvals in the PSBT
// (the coordinator's policy decides who may ask for one); a proof PSBT
// that carries them is something else mixed in, and is refused. The
// ledger records it as an entry of its own kind, which the pay-once rule
// and the velocity caps do not count. It is signed without witnessing the
// audit log: a checkpoint, if the PSBT carries one, must still extend the
// one this signer witnessed last, but is neither recorded nor cosigned.

var (
	// ErrProofMixed is returned for a proof PSBT that also carries a
	// payment's fields (a Custos intent or officers' approvals): a proof
	// carries no intent, so whatever else is in it is refused rather
	// than shown.
	ErrProofMixed = errors.New("a proof of reserves with something else mixed in")

	// ErrIsProof is returned by Check and Sign for a PSBT shaped as a
	// proof of reserves (multisig.IsProof): it is never checked, nor
	// signed, as a payment. CheckProof and SignProof take it.
	ErrIsProof = errors.New("this PSBT is a proof of reserves, not a payment")
)

// ledgerKindProof is the kind of a proof's ledger line.
const ledgerKindProof = "proof"

// ProofSummary is what a proof PSBT proves, as this signer worked it out
// from the PSBT and its pinned descriptor alone: the operator reads it
// before anything is signed.
type ProofSummary struct {
	// WalletID, Threshold and Cosigners describe the pinned wallet.
	WalletID  string
	Threshold int
	Cosigners int
	// TxID is to_sign's id, the transaction the quorum signs.
	TxID chainhash.Hash
	// Proof is multisig.CheckProof's summary: the message and its hash,
	// the challenge address (receive address 0), the coins and their
	// total.
	Proof multisig.ProofSummary
	// Witness is the audit log checkpoint the PSBT carries, checked to
	// extend the last one this signer witnessed; Witness.Pinned is false
	// when no log key is pinned or the PSBT carries no checkpoint.
	// Signing a proof neither records nor cosigns it.
	Witness Witnessed
	// recorded is set when the ledger already holds this proof.
	recorded bool
}

// Recorded reports whether the ledger already recorded this proof when
// it was checked: signing it again adds no entry.
func (s ProofSummary) Recorded() bool { return s.recorded }

// CheckProof runs every check SignProof runs before it signs, against the
// pinned descriptor d and r, and returns what the proof proves. It never
// changes pkt or the ledger, and needs no key.
//
// The checks, in order: pkt is a proof (multisig.IsProof; a payment is
// refused here, as a proof is by Check); it carries no Custos intent or
// approval (ErrProofMixed: a proof moves nothing and carries no intent);
// multisig.CheckProof against d (input 0 exactly BIP-322's to_spend for
// the message in global field 0x09 and d's challenge, every other input
// d's, one 0-sat OP_RETURN output, SIGHASH_ALL only); d and r.Policy the
// ones r.Ledger's state record binds (ErrStateBroken); every coin's index
// below IndexWindow past the highest this signer has seen on its branch,
// as for a spend; and, if the PSBT carries an audit log checkpoint, that
// it extends the last one this signer witnessed. Every refusal is a
// *reserve.Error naming the field and the rule.
func CheckProof(pkt *psbt.Packet, d *multisig.Descriptor, r Rules) (ProofSummary, error) {
	if pkt == nil || pkt.UnsignedTx == nil {
		return ProofSummary{}, reserve.Invalid("psbt", "no PSBT")
	}
	if d == nil {
		return ProofSummary{}, reserve.Invalid("descriptor", "no pinned descriptor")
	}
	if r.Ledger == nil {
		return ProofSummary{}, reserve.Errorf(reserve.CodeFailedPrecondition, "no signing ledger: nothing is signed without one")
	}
	if !multisig.IsProof(pkt) {
		return ProofSummary{}, reserve.Invalid("psbt", "this PSBT is not a proof of reserves (no message in global field 0x09, input 0 spends no BIP-322 to_spend)")
	}
	if err := checkNothingMixed(pkt); err != nil {
		return ProofSummary{}, err
	}
	sum, err := multisig.CheckProof(pkt, d)
	if err != nil {
		return ProofSummary{}, err
	}
	if err := r.Ledger.checkPinned(d, r.Policy); err != nil {
		return ProofSummary{}, err
	}
	coins, err := proofCoinPaths(pkt)
	if err != nil {
		return ProofSummary{}, err
	}
	if err := checkIndexes(Summary{Inputs: coins}, r.Ledger.Seen()); err != nil {
		return ProofSummary{}, err
	}
	s := ProofSummary{
		WalletID:  d.WalletID(),
		Threshold: d.Threshold(),
		Cosigners: len(d.Cosigners()),
		TxID:      pkt.UnsignedTx.TxHash(),
		Proof:     sum,
	}
	if s.Witness, err = checkProofWitness(pkt, r); err != nil {
		return ProofSummary{}, err
	}
	entries, err := r.Ledger.Entries()
	if err != nil {
		return ProofSummary{}, err
	}
	s.recorded = slices.ContainsFunc(entries, func(e LedgerEntry) bool { return e.Proof != nil && e.TxID == s.TxID })
	return s, nil
}

// checkNothingMixed refuses a proof PSBT that carries a Custos intent or
// approvals, or Custos fields that do not read.
func checkNothingMixed(pkt *psbt.Packet) error {
	in, approvals, err := multisig.ReadApprovals(pkt)
	if err != nil {
		return reserve.Invalid("psbt.custos", "%w: %w", ErrProofMixed, err)
	}
	if in != nil || len(approvals) > 0 {
		return reserve.Invalid("psbt.custos", "%w: it carries a payment intent and %d officer approval(s); a proof carries no intent and moves nothing, so nothing else may come with it",
			ErrProofMixed, len(approvals))
	}
	return nil
}

// proofCoinPaths reads each input's branch and index from its
// derivations, which multisig.CheckProof re-derived from the descriptor:
// input 0 is the challenge, receive address 0, so that the window's
// refusals name inputs by their place in the PSBT.
func proofCoinPaths(pkt *psbt.Packet) ([]multisig.InputInfo, error) {
	out := make([]multisig.InputInfo, 1, len(pkt.Inputs))
	out[0] = multisig.InputInfo{OutPoint: pkt.UnsignedTx.TxIn[0].PreviousOutPoint, Branch: reserve.BranchReceive, Index: 0}
	for i := 1; i < len(pkt.Inputs); i++ {
		ders := pkt.Inputs[i].Bip32Derivation
		if len(ders) == 0 || len(ders[0].Bip32Path) < 2 {
			return nil, reserve.Invalid(fmt.Sprintf("input[%d]", i), "has no derivation path")
		}
		path := ders[0].Bip32Path
		out = append(out, multisig.InputInfo{
			OutPoint: pkt.UnsignedTx.TxIn[i].PreviousOutPoint,
			Branch:   reserve.Branch(path[len(path)-2]),
			Index:    path[len(path)-1],
		})
	}
	return out, nil
}

// checkProofWitness checks the audit log checkpoint a proof carries, if
// any, against what this signer witnessed; a proof without one is signed
// all the same, since it moves nothing.
func checkProofWitness(pkt *psbt.Packet, r Rules) (Witnessed, error) {
	w, err := multisig.ReadWitness(pkt)
	if err != nil {
		return Witnessed{}, err
	}
	if w.Checkpoint == nil {
		return Witnessed{}, nil
	}
	return checkWitness(pkt, r.Ledger.state.st, r.Fingerprint)
}

// SignProof checks pkt exactly as CheckProof does and, if every check
// passes, adds this signer's SIGHASH_ALL signature to every input (input
// 0 too, multisig.SignProof) and records the proof in r.Ledger, as Sign
// does a payment: the entry is on disk, and the state record sealed
// again, before SignProof returns; signing a proof the ledger records
// already adds no entry; on any error pkt is left as it was. The state
// record's MAC is verified under key first (ErrStateBroken). The caller
// holds the data directory's lock (LockDir) from the CheckProof it showed
// the operator through SignProof.
func SignProof(pkt *psbt.Packet, pinned *Pinned, key *Key, r Rules) (ProofSummary, int, error) {
	if pinned == nil || pinned.Descriptor == nil {
		return ProofSummary{}, 0, reserve.Invalid("descriptor", "no pinned descriptor")
	}
	if key == nil {
		return ProofSummary{}, 0, errors.New("no key")
	}
	pos, err := key.PositionIn(pinned.Descriptor)
	if err != nil {
		return ProofSummary{}, 0, err
	}
	if pos != pinned.Position {
		return ProofSummary{}, 0, reserve.Errorf(reserve.CodeInvalid, "this signer is cosigner %d of the pinned wallet, not %d", pos+1, pinned.Position+1)
	}
	if r.Ledger == nil {
		return ProofSummary{}, 0, reserve.Errorf(reserve.CodeFailedPrecondition, "no signing ledger: nothing is signed without one")
	}
	if err := r.Ledger.Verify(key); err != nil {
		return ProofSummary{}, 0, err
	}
	now := r.now()
	r.Fingerprint = key.Record().Fingerprint
	s, err := CheckProof(pkt, pinned.Descriptor, r)
	if err != nil {
		return ProofSummary{}, 0, err
	}
	account, err := key.AccountKey()
	if err != nil {
		return ProofSummary{}, 0, err
	}
	before := partialSigs(pkt)
	n, err := multisig.SignProof(pkt, pinned.Descriptor, account)
	account.Zero()
	if err != nil {
		return ProofSummary{}, 0, err
	}
	if pkt.UnsignedTx.TxHash() != s.TxID {
		setPartialSigs(pkt, before)
		return ProofSummary{}, 0, reserve.Errorf(reserve.CodeInternal, "signing changed proof %s", s.TxID)
	}
	if !s.recorded {
		if err := r.Ledger.Append(key, proofEntry(s, now)); err != nil {
			setPartialSigs(pkt, before)
			return ProofSummary{}, 0, fmt.Errorf("unable to record proof %s in the ledger, so nothing was signed: %w", s.TxID, err)
		}
	}
	// A proof moves no index and witnesses no checkpoint: the seal only
	// takes in the ledger's new head.
	if err := r.Ledger.seal(key, Summary{}); err != nil {
		setPartialSigs(pkt, before)
		return ProofSummary{}, 0, fmt.Errorf("unable to record proof %s in the signer state, so nothing was signed: %w", s.TxID, err)
	}
	return s, n, nil
}

// proofEntry is the ledger's record of signing proof s at now.
func proofEntry(s ProofSummary, now time.Time) LedgerEntry {
	return LedgerEntry{
		TxID:     s.TxID,
		SignedAt: now.UTC().Truncate(time.Second),
		Proof: &ProofRecord{
			MessageHash: s.Proof.MessageHash,
			Coins:       len(s.Proof.Coins),
			TotalSat:    s.Proof.TotalSat,
		},
	}
}

// payments is entries without the proofs: what the pay-once rule and the
// velocity caps count.
func payments(entries []LedgerEntry) []LedgerEntry {
	if !slices.ContainsFunc(entries, func(e LedgerEntry) bool { return e.Proof != nil }) {
		return entries
	}
	return slices.DeleteFunc(slices.Clone(entries), func(e LedgerEntry) bool { return e.Proof != nil })
}

// proofLine is a proof's ledger line: the chain's prev, its kind, what
// it proved, when, and the MAC last, as every line.
type proofLine struct {
	Prev        string `json:"prev"`
	Kind        string `json:"kind"`
	MessageHash string `json:"message_hash"`
	TxID        string `json:"txid"`
	Coins       int    `json:"coins"`
	TotalSat    int64  `json:"total_sat"`
	SignedAt    string `json:"signed_at"`
}

// encodeProofBody is proof entry e as the body of a ledger line chained
// to prev.
func encodeProofBody(e LedgerEntry, prev [32]byte) ([]byte, error) {
	pl := proofLine{
		Prev:        hex.EncodeToString(prev[:]),
		Kind:        ledgerKindProof,
		MessageHash: hex.EncodeToString(e.Proof.MessageHash[:]),
		TxID:        e.TxID.String(),
		Coins:       e.Proof.Coins,
		TotalSat:    e.Proof.TotalSat,
		SignedAt:    e.SignedAt.UTC().Format(time.RFC3339),
	}
	body, err := json.Marshal(pl)
	if err != nil {
		return nil, fmt.Errorf("unable to encode the ledger entry: %w", err)
	}
	return body, nil
}

// decodeProofFields checks a proof line's fields: every payment field
// absent, the message hash, txid, coin count (at least one) and total
// (1 sat to 21 million BTC) well formed.
func decodeProofFields(ll ledgerLine) (LedgerEntry, error) {
	if ll.IntentDigest != "" || ll.ProposalID != "" || ll.PolicyHash != "" || ll.Inputs != nil || ll.AmountSat != 0 ||
		ll.Payees != nil || ll.Supersedes != nil {
		return LedgerEntry{}, errors.New("a proof's line carries a payment's fields")
	}
	h, err := decodeHash32("message_hash", ll.MessageHash)
	if err != nil {
		return LedgerEntry{}, err
	}
	if hex.EncodeToString(h[:]) != ll.MessageHash {
		return LedgerEntry{}, fmt.Errorf("message_hash %q is not lowercase hex", ll.MessageHash)
	}
	e := LedgerEntry{Proof: &ProofRecord{MessageHash: h, Coins: ll.Coins, TotalSat: ll.TotalSat}}
	txid, err := chainhash.NewHashFromStr(ll.TxID)
	if err != nil || len(ll.TxID) != 2*chainhash.HashSize || txid.String() != ll.TxID {
		return LedgerEntry{}, fmt.Errorf("txid %q is not a transaction id", ll.TxID)
	}
	e.TxID = *txid
	if ll.Coins < 1 {
		return LedgerEntry{}, fmt.Errorf("coins %d: a proof proves at least one coin", ll.Coins)
	}
	if ll.TotalSat < 1 || ll.TotalSat > reserve.MaxSat {
		return LedgerEntry{}, fmt.Errorf("total_sat %d is outside 1 sat to 21000000 BTC", ll.TotalSat)
	}
	if e.SignedAt, err = time.Parse(time.RFC3339, ll.SignedAt); err != nil {
		return LedgerEntry{}, fmt.Errorf("signed_at %q is not an RFC 3339 time", ll.SignedAt)
	}
	return e, nil
}
