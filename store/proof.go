package store

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// Audit kinds of proof-of-reserves proposals (docs/proofs.md). Persisted:
// never rename one.
const (
	// AuditProofRequest records CreateProof: the proof, its message's
	// length, the coins, their total and the tip it was built at.
	AuditProofRequest = "proof.request"
	// AuditProofApprove records one officer's approval of a proof's
	// statement: ids name the proof, the officer and its key.
	AuditProofApprove = "proof.approve"
	// AuditProofSign records signatures of cosigners added to a proof
	// (ids "signers", position:fingerprint).
	AuditProofSign = "proof.sign"
	// AuditProofFinalize records the proof finalized: its txid.
	AuditProofFinalize = "proof.finalize"
	// AuditProofState records any other change of state (proof.signing
	// once approved, proof.rejected, proof.cancelled, proof.expired).
	AuditProofState = "proof."
)

// path: proofs -> [id, "R" || decimal sequence zero-padded to 6 digits,
// from Bucket.NextSequence]
// maps: proof-of-reserves proposal, live or ended -> proof record
// (encodeProof). Past R999999 the ids grow a digit: Proofs sorts by
// (length, id).
var bucketProofs = []byte("proofs")

// bucketsV7 are the buckets migration 7 creates. Frozen once shipped.
var bucketsV7 = [][]byte{bucketProofs}

// Limits of a proof record.
const (
	// maxProofCoins bounds the coins of one proof (proof.MaxCoins).
	maxProofCoins = 100_000
	// maxProofMessageLen bounds the message (multisig.MaxProofMessageBytes).
	maxProofMessageLen = 4096
	// maxProofApprovals bounds the officers' approvals of one proof.
	maxProofApprovals = 1000
	// minProofApprovalSize is the smallest encoded approval.
	minProofApprovalSize = 1 + 32 + 64 + 8
)

// proofVersion is the version of the proof record.
const proofVersion byte = 1

// encodeProof is, version 1: id wallet_id state(1) message coins(count,
// then txid(32) vout(4) amount(8) branch(1) index(4)) total_sat(8)
// height(4) block_hash(32) policy_hash(32) approvals(count, then officer
// officer_key(32) signature(64) at(8)) psbt signatures(count, then
// cosigner(4) fingerprint(4) at(8)) final_tx created_by created_at
// expires_at history(count, then state(1) at(8) actor note). Strings and
// byte strings are uvarint length-prefixed.
func encodeProof(p *reserve.Proof) ([]byte, error) {
	if err := checkProofRanges(p); err != nil {
		return nil, err
	}
	size := 256 + len(p.Message) + len(p.PSBT) + len(p.FinalTx) + 49*len(p.Coins) +
		120*len(p.Approvals) + 16*len(p.Signatures) + 64*len(p.History)
	e := newEncoderVersion(size, proofVersion)
	e.string("id", p.ID, maxIDLen)
	e.string("wallet_id", p.WalletID, maxIDLen)
	e.uint8(uint8(p.State))
	e.string("message", p.Message, maxProofMessageLen)
	e.count("coins", len(p.Coins), maxProofCoins)
	for _, c := range p.Coins {
		e.hash(c.OutPoint.Hash)
		e.uint32(c.OutPoint.Index)
		e.int64(c.AmountSat)
		e.uint8(uint8(c.Branch))
		e.uint32(c.Index)
	}
	e.int64(p.TotalSat)
	e.int32(p.Height)
	e.hash(p.BlockHash)
	e.hash(chainhash.Hash(p.PolicyHash))
	e.count("approvals", len(p.Approvals), maxProofApprovals)
	for i, a := range p.Approvals {
		field := fmt.Sprintf("approvals[%d]", i)
		e.string(field+".officer", a.Officer, maxIDLen)
		putApproval(e, a.Approval)
		e.time(field+".at", a.At)
	}
	e.bytes("psbt", p.PSBT, maxPSBTLen)
	e.count("signatures", len(p.Signatures), reserve.MaxCosigners)
	for i, sig := range p.Signatures {
		e.int32(int32(sig.Cosigner))
		e.uint32(sig.Fingerprint)
		e.time(fmt.Sprintf("signatures[%d].at", i), sig.At)
	}
	e.bytes("final_tx", p.FinalTx, maxPSBTLen)
	e.string("created_by", p.CreatedBy, maxNameLen)
	e.time("created_at", p.CreatedAt)
	e.time("expires_at", p.ExpiresAt)
	e.count("history", len(p.History), maxHistoryLen)
	for i, h := range p.History {
		field := fmt.Sprintf("history[%d]", i)
		e.uint8(uint8(h.State))
		e.time(field+".at", h.At)
		e.string(field+".actor", h.Actor, maxNameLen)
		e.string(field+".note", h.Note, maxTextLen)
	}
	return e.finish()
}

// decodeProof reads encodeProof's bytes, copying them out of bbolt's
// memory, and checks the ranges encodeProof checks.
func decodeProof(b []byte) (reserve.Proof, error) {
	d := newDecoderVersion(b, proofVersion)
	var p reserve.Proof
	p.ID = d.string("id", maxIDLen)
	p.WalletID = d.string("wallet_id", maxIDLen)
	p.State = reserve.State(d.uint8("state"))
	p.Message = d.string("message", maxProofMessageLen)
	if n := d.count("coins", maxProofCoins, minInputSize); n > 0 {
		p.Coins = make([]reserve.Input, n)
	}
	for i := range p.Coins {
		c := &p.Coins[i]
		c.OutPoint.Hash = d.hash("coin txid")
		c.OutPoint.Index = d.uint32("coin vout")
		c.AmountSat = d.int64("coin amount")
		c.Branch = reserve.Branch(d.uint8("coin branch"))
		c.Index = d.uint32("coin index")
	}
	p.TotalSat = d.int64("total_sat")
	p.Height = d.int32("height")
	p.BlockHash = d.hash("block_hash")
	p.PolicyHash = d.hash("policy_hash")
	if n := d.count("approvals", maxProofApprovals, minProofApprovalSize); n > 0 {
		p.Approvals = make([]reserve.ProofApproval, n)
	}
	for i := range p.Approvals {
		a := &p.Approvals[i]
		a.Officer = d.string("approval officer", maxIDLen)
		a.Approval = getApproval(d, "approval")
		a.At = d.time("approval at")
	}
	p.PSBT = d.bytes("psbt", maxPSBTLen)
	if n := d.count("signatures", reserve.MaxCosigners, minSignatureSize); n > 0 {
		p.Signatures = make([]reserve.Signature, n)
	}
	for i := range p.Signatures {
		s := &p.Signatures[i]
		s.Cosigner = int(d.int32("signature cosigner"))
		s.Fingerprint = d.uint32("signature fingerprint")
		s.At = d.time("signature at")
	}
	p.FinalTx = d.bytes("final_tx", maxPSBTLen)
	p.CreatedBy = d.string("created_by", maxNameLen)
	p.CreatedAt = d.time("created_at")
	p.ExpiresAt = d.time("expires_at")
	if n := d.count("history", maxHistoryLen, minTransitionSize); n > 0 {
		p.History = make([]reserve.Transition, n)
	}
	for i := range p.History {
		h := &p.History[i]
		h.State = reserve.State(d.uint8("history state"))
		h.At = d.time("history at")
		h.Actor = d.string("history actor", maxNameLen)
		h.Note = d.string("history note", maxTextLen)
	}
	if err := d.finish(); err != nil {
		return reserve.Proof{}, err
	}
	if err := checkProofRanges(&p); err != nil {
		return reserve.Proof{}, err
	}
	return p, nil
}

// checkProofRanges refuses values a proof record never holds.
func checkProofRanges(p *reserve.Proof) error {
	if !reserve.ProofState(p.State) {
		return &limitError{Field: "state", Msg: fmt.Sprintf("%s is not a proof state", p.State)}
	}
	var total int64
	for i, c := range p.Coins {
		if err := checkAmount(fmt.Sprintf("coins[%d].amount_sat", i), c.AmountSat); err != nil {
			return err
		}
		if c.Branch != reserve.BranchReceive && c.Branch != reserve.BranchChange {
			return &limitError{Field: fmt.Sprintf("coins[%d].branch", i), Msg: fmt.Sprintf("unknown branch %d", c.Branch)}
		}
		total += c.AmountSat
		if total > reserve.MaxSat {
			return &limitError{Field: "coins", Msg: "the coins add up to more than 21 million BTC"}
		}
	}
	if total != p.TotalSat {
		return &limitError{Field: "total_sat", Msg: fmt.Sprintf("is %d, the coins add up to %d", p.TotalSat, total)}
	}
	if p.Height < 0 {
		return &limitError{Field: "height", Msg: "is negative"}
	}
	for i, h := range p.History {
		if !reserve.ProofState(h.State) {
			return &limitError{Field: fmt.Sprintf("history[%d].state", i), Msg: fmt.Sprintf("%s is not a proof state", h.State)}
		}
	}
	return nil
}

// CreateProof records a new proof-of-reserves proposal in one transaction
// with its proof.request audit leaf: it assigns the id ("R" and the
// sequence, zero-padded to six digits) and returns the proof as stored. A
// zero CreatedAt is set from the store's clock.
//
// The caller leaves p.ID empty and gives a PENDING_APPROVAL or SIGNING
// proof with its first transition, at least one coin, no coin twice, the
// PSBT, built at the store's synced tip (p.Height and p.BlockHash): the
// tip having moved since is CodeConflict ("height"), the caller builds
// again. Every coin must be a wallet output, confirmed at or below the
// tip, with the amount, branch and index the proof says, that no
// confirmed transaction spends (a spend in the mempool does not count: at
// the tip the coin is unspent). Anything else is CodeInvalid naming the
// coin ("coins[2]"). The coins are not reserved: a proof moves nothing.
func (db *DB) CreateProof(ctx context.Context, p reserve.Proof) (reserve.Proof, error) {
	if err := validateNewProof(&p); err != nil {
		return reserve.Proof{}, err
	}
	var out reserve.Proof
	err := db.update(ctx, "create proof", func(tx *bolt.Tx) error {
		w, err := readWallet(tx)
		switch {
		case reserve.CodeOf(err) == reserve.CodeNotFound:
			return reserve.Errorf(reserve.CodeFailedPrecondition, "cannot request a proof before the wallet is created")
		case err != nil:
			return err
		case p.WalletID != w.ID:
			return reserve.Invalid("wallet_id", "proof is for wallet %q, but the store holds wallet %q", p.WalletID, w.ID)
		}
		height, hash, ok, err := readTip(tx)
		switch {
		case err != nil:
			return err
		case !ok:
			return reserve.Errorf(reserve.CodeFailedPrecondition, "the store has not synced a block yet")
		case height != p.Height || hash != p.BlockHash:
			return reserve.Errorf(reserve.CodeConflict, "height: the proof was built at %d (%s), the synced tip is now %d (%s); build it again",
				p.Height, p.BlockHash, height, hash)
		}
		ub := tx.Bucket(bucketUTXOs)
		for i, c := range p.Coins {
			if err := checkProofCoin(ub, fmt.Sprintf("coins[%d]", i), c, height); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketProofs)
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("unable to number proof: %w", err)
		}
		p.ID = fmt.Sprintf(reserve.ProofIDFormat, seq)
		if p.CreatedAt.IsZero() {
			p.CreatedAt = db.now()
		}
		if out, err = putProof(tx, &p); err != nil {
			return err
		}
		ids := proofIDs(&p)
		ids["policy"] = hex.EncodeToString(p.PolicyHash[:])
		ids["block"] = p.BlockHash.String()
		return db.appendAudit(tx, AuditProofRequest, ids, fmt.Sprintf(
			"id=%s message_bytes=%d coins=%d total_sat=%d height=%d state=%s by=%q",
			p.ID, len(p.Message), len(p.Coins), p.TotalSat, p.Height, p.State,
			reserve.Clip(p.CreatedBy, maxAuditFieldLen)))
	})
	if err != nil {
		return reserve.Proof{}, err
	}
	return out, nil
}

// validateNewProof checks what CreateProof can check without the store.
func validateNewProof(p *reserve.Proof) error {
	switch {
	case p.ID != "":
		return reserve.Invalid("id", "is assigned by the store")
	case p.State != reserve.StatePendingApproval && p.State != reserve.StateSigning:
		return reserve.Invalid("state", "a new proof is PENDING_APPROVAL or SIGNING, not %s", p.State)
	case len(p.History) != 1 || p.History[0].State != p.State:
		return reserve.Invalid("history", "a new proof has one transition, to its state")
	case len(p.Coins) == 0:
		return reserve.Invalid("coins", "no coins to prove")
	case len(p.PSBT) == 0:
		return reserve.Invalid("psbt", "is empty")
	case p.Message == "":
		return reserve.Invalid("message", "is empty")
	}
	seen := make(map[[36]byte]int, len(p.Coins))
	for i, c := range p.Coins {
		k := [36]byte(utxoKey(c.OutPoint))
		if j, dup := seen[k]; dup {
			return reserve.Invalid(fmt.Sprintf("coins[%d]", i), "output %s is coins[%d] too", c.OutPoint, j)
		}
		seen[k] = i
	}
	return nil
}

// checkProofCoin checks that coin c (field f) was a confirmed wallet
// output, unspent at the tip.
func checkProofCoin(ub *bolt.Bucket, f string, c reserve.Input, tip int32) error {
	u, found, err := getUTXO(ub, utxoKey(c.OutPoint))
	switch {
	case err != nil:
		return err
	case !found:
		return reserve.Invalid(f, "output %s is not a wallet output", c.OutPoint)
	case u.Spent && u.SpentHeight > 0:
		return reserve.Invalid(f, "output %s is spent by %s at height %d", c.OutPoint, u.SpentBy, u.SpentHeight)
	case u.Height == 0 || u.Height > tip:
		return reserve.Invalid(f, "output %s is not confirmed", c.OutPoint)
	case u.AmountSat != c.AmountSat || u.Branch != c.Branch || u.Index != c.Index:
		return reserve.Invalid(f, "output %s is %d sat to address %s/%d, not %d sat to %s/%d",
			c.OutPoint, u.AmountSat, u.Branch, u.Index, c.AmountSat, c.Branch, c.Index)
	}
	return nil
}

func putProof(tx *bolt.Tx, p *reserve.Proof) (reserve.Proof, error) {
	v, err := encodeProof(p)
	if err != nil {
		return reserve.Proof{}, inputError("", err)
	}
	if err := tx.Bucket(bucketProofs).Put([]byte(p.ID), v); err != nil {
		return reserve.Proof{}, fmt.Errorf("unable to write proof %s: %w", p.ID, err)
	}
	stored, err := decodeProof(v)
	if err != nil {
		return reserve.Proof{}, fmt.Errorf("unable to read back proof %s: %w", p.ID, err)
	}
	return stored, nil
}

// proofIDs are the ids every proof leaf carries.
func proofIDs(p *reserve.Proof) map[string]string { return map[string]string{"proof": p.ID} }

// Proof returns one proof, CodeNotFound for an id the store never
// assigned.
func (db *DB) Proof(ctx context.Context, id string) (reserve.Proof, error) {
	var p reserve.Proof
	err := db.view(ctx, "read proof "+id, func(tx *bolt.Tx) error {
		var err error
		p, err = readProof(tx, id)
		return err
	})
	if err != nil {
		return reserve.Proof{}, err
	}
	return p, nil
}

func readProof(tx *bolt.Tx, id string) (reserve.Proof, error) {
	var v []byte
	if id != "" {
		v = tx.Bucket(bucketProofs).Get([]byte(id))
	}
	if v == nil {
		return reserve.Proof{}, reserve.Errorf(reserve.CodeNotFound, "id: proof %q does not exist", id)
	}
	return decodeProofAt([]byte(id), v)
}

func decodeProofAt(key, v []byte) (reserve.Proof, error) {
	p, err := decodeProof(v)
	if err != nil {
		return reserve.Proof{}, corrupt("proof", key, err)
	}
	if p.ID != string(key) {
		return reserve.Proof{}, corrupt("proof", key, fmt.Errorf("record is for proof %q", p.ID))
	}
	return p, nil
}

// Proofs returns every proof in creation order. The PSBT and final
// transaction are left out when withPSBT is false (a listing).
func (db *DB) Proofs(ctx context.Context, withPSBT bool) ([]reserve.Proof, error) {
	var out []reserve.Proof
	err := db.view(ctx, "list proofs", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketProofs).ForEach(func(k, v []byte) error {
			p, err := decodeProofAt(k, v)
			if err != nil {
				return err
			}
			if !withPSBT {
				p.PSBT, p.FinalTx = nil, nil
			}
			out = append(out, p)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b reserve.Proof) int {
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// UpdateProof reads the proof, lets fn change it and writes it back in
// one transaction, with one audit leaf per officer approval added
// (proof.approve), then one for the change: proof.finalize when it became
// FINALIZED, proof.sign for signatures added, proof.<state> for any other
// change of state. What the proof was created with (wallet, message,
// coins, total, tip, policy, creator) cannot change; approvals,
// signatures and history only grow; the state changes only as
// reserve.Proof.Move allows. An error from fn aborts everything and is
// returned as is; a proof fn left as it was writes nothing.
func (db *DB) UpdateProof(ctx context.Context, id string, fn func(p *reserve.Proof) error) (reserve.Proof, error) {
	if fn == nil {
		return reserve.Proof{}, reserve.Invalid("fn", "is nil")
	}
	var (
		out   reserve.Proof
		fnErr error
	)
	err := db.update(ctx, "update proof "+id, func(tx *bolt.Tx) error {
		old, err := readProof(tx, id)
		if err != nil {
			return err
		}
		cur, err := readProof(tx, id)
		if err != nil {
			return err
		}
		if err := fn(&cur); err != nil {
			fnErr = err
			return err
		}
		if err := checkProofUpdate(&old, &cur); err != nil {
			return err
		}
		a, err := encodeProof(&old)
		if err != nil {
			return fmt.Errorf("unable to encode proof %s: %w", id, err)
		}
		b, err := encodeProof(&cur)
		if err != nil {
			return inputError("", err)
		}
		if bytes.Equal(a, b) {
			out = old
			return nil
		}
		if out, err = putProof(tx, &cur); err != nil {
			return err
		}
		for _, l := range auditProofUpdate(&old, &cur) {
			if err := db.appendLeaf(tx, l); err != nil {
				return err
			}
		}
		return nil
	})
	if fnErr != nil {
		return reserve.Proof{}, fnErr
	}
	if err != nil {
		return reserve.Proof{}, err
	}
	return out, nil
}

// checkProofUpdate refuses a change to a proof's fixed fields, a list
// that lost or rewrote an entry, and a state change that is not one
// transition the proof's states allow.
func checkProofUpdate(old, cur *reserve.Proof) error {
	var field string
	switch {
	case cur.ID != old.ID:
		field = "id"
	case cur.WalletID != old.WalletID:
		field = "wallet_id"
	case cur.Message != old.Message:
		field = "message"
	case !slices.Equal(cur.Coins, old.Coins):
		field = "coins"
	case cur.TotalSat != old.TotalSat:
		field = "total_sat"
	case cur.Height != old.Height || cur.BlockHash != old.BlockHash:
		field = "height"
	case cur.PolicyHash != old.PolicyHash:
		field = "policy_hash"
	case cur.CreatedBy != old.CreatedBy || !cur.CreatedAt.Equal(old.CreatedAt):
		field = "created_by"
	case !cur.ExpiresAt.Equal(old.ExpiresAt):
		field = "expires_at"
	case len(cur.Approvals) < len(old.Approvals) || !slices.EqualFunc(old.Approvals, cur.Approvals[:len(old.Approvals)], proofApprovalEqual):
		field = "approvals"
	case len(cur.Signatures) < len(old.Signatures):
		field = "signatures"
	case len(cur.History) < len(old.History):
		field = "history"
	}
	if field != "" {
		return reserve.Errorf(reserve.CodeInternal, "proof %s: %s may not change", old.ID, field)
	}
	switch added := len(cur.History) - len(old.History); {
	case cur.State == old.State && added == 0:
		return nil
	case added == 1 && cur.History[len(cur.History)-1].State == cur.State && reserve.ProofCanMove(old.State, cur.State):
		return nil
	}
	return reserve.Errorf(reserve.CodeInternal, "proof %s: %s to %s is not one allowed transition", old.ID, old.State, cur.State)
}

func proofApprovalEqual(a, b reserve.ProofApproval) bool {
	return a.Officer == b.Officer && a.Approval == b.Approval && a.At.Equal(b.At)
}

// auditProofUpdate is UpdateProof's leaves.
func auditProofUpdate(old, cur *reserve.Proof) []audit.Leaf {
	var out []audit.Leaf
	for _, a := range cur.Approvals[len(old.Approvals):] {
		ids := proofIDs(cur)
		ids["officer"] = reserve.Clip(a.Officer, audit.MaxIDLen-4)
		ids["officer_key"] = hex.EncodeToString(a.Approval.OfficerKey[:])
		ids["policy"] = hex.EncodeToString(cur.PolicyHash[:])
		out = append(out, audit.Leaf{Kind: AuditProofApprove, IDs: ids,
			Detail: fmt.Sprintf("officer %s approved proof %s", ids["officer"], cur.ID)})
	}
	var actor, note string
	if len(cur.History) > 0 {
		last := cur.History[len(cur.History)-1]
		actor, note = reserve.Clip(last.Actor, maxAuditFieldLen), reserve.Clip(last.Note, maxAuditFieldLen)
	}
	ids := proofIDs(cur)
	var signers []string
	for _, s := range cur.Signatures[len(old.Signatures):] {
		signers = append(signers, fmt.Sprintf("%d:%08x", s.Cosigner, s.Fingerprint))
	}
	if len(signers) > 0 {
		ids["signers"] = reserve.Clip(strings.Join(signers, ","), audit.MaxIDLen)
	}
	switch {
	case cur.State == reserve.StateFinalized && old.State != reserve.StateFinalized:
		var tx wire.MsgTx
		if err := tx.Deserialize(bytes.NewReader(cur.FinalTx)); err == nil {
			ids["txid"] = tx.TxHash().String()
		}
		return append(out, audit.Leaf{Kind: AuditProofFinalize, IDs: ids,
			Detail: fmt.Sprintf("id=%s coins=%d total_sat=%d height=%d actor=%q", cur.ID, len(cur.Coins), cur.TotalSat, cur.Height, actor)})
	case cur.State != old.State:
		return append(out, audit.Leaf{Kind: AuditProofState + strings.ToLower(cur.State.String()), IDs: ids,
			Detail: fmt.Sprintf("id=%s from=%s to=%s actor=%q note=%q", cur.ID, old.State, cur.State, actor, note)})
	case len(signers) > 0 || !bytes.Equal(old.PSBT, cur.PSBT):
		return append(out, audit.Leaf{Kind: AuditProofSign, IDs: ids,
			Detail: fmt.Sprintf("id=%s state=%s signatures of cosigners %s added by %q", cur.ID, cur.State, ids["signers"], actor)})
	}
	return out
}
