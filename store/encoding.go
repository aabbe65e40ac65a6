package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/reserve"
)

// Every value the store writes (except the raw fields of the meta bucket,
// block hashes and serialized transactions) is a record: one version byte,
// then fixed-width big-endian integers, one-byte booleans (0 or 1), 32-byte
// hashes, and byte strings prefixed with their uvarint length. The layout of
// each record is spelled out next to its encode function. A decoder accepts
// only the canonical form of each record, so a value that decodes also
// re-encodes to the same bytes.

// recordVersion is the version byte every record starts with. A change of
// layout gets a new number and a migration; old numbers are never reused.
const recordVersion byte = 1

// MaxLabelLen is the longest label, in bytes, that an issued address may
// carry; callers that take labels from users check it before calling.
const MaxLabelLen = 256

// Limits on the variable parts of records. They are checked both when a
// record is written, so the store never holds what it cannot read back, and
// when it is read, so a corrupt length cannot make the decoder allocate
// without bound.
const (
	maxIDLen          = 256
	maxNameLen        = 1024
	maxXPubLen        = 256
	maxPathLen        = 255 // BIP-32 depth is one byte.
	maxDescriptorLen  = 16 << 10
	maxAddressLen     = 256 // bech32 strings are at most 90 characters.
	maxScriptLen      = 10_000
	maxAuditKindLen   = 64
	maxAuditDetailLen = 4096

	// maxTextLen bounds free text a person typed or a component wrote
	// about a proposal: memo, fail reason, transition notes.
	maxTextLen = 4096
	// maxProposalItems bounds the payees and the inputs of one proposal.
	// A standard transaction (100,000 vB) holds fewer than 3,000 of
	// either, so this refuses only garbage.
	maxProposalItems = 10_000
	// maxHistoryLen bounds a proposal's transitions. The state machine has
	// one cycle (CONFIRMED -> BROADCAST on a reorg), so only a chain that
	// reorganizes a proposal's block hundreds of times could reach it.
	maxHistoryLen = 1024
	// maxUnsignedTxLen is the most a transaction without witnesses can
	// weigh under consensus (4,000,000 weight units at 4 per byte).
	maxUnsignedTxLen = 1_000_000
	// maxPSBTLen bounds the PSBT and the finalized transaction of a
	// proposal. PSBTs carry every input's previous transaction and the
	// approvals, so they are allowed to be large.
	maxPSBTLen = 64 << 20
)

var (
	// errTruncated means a record ended before all of its fields.
	errTruncated = errors.New("record is truncated")
	// errTrailing means a record had bytes after its last field.
	errTrailing = errors.New("record has trailing bytes")
	// errNonCanonical means a field was encoded in a form the encoder
	// never writes (an overlong uvarint, a boolean other than 0 or 1).
	errNonCanonical = errors.New("record field is not in canonical form")
)

// limitError is a value too large (or otherwise out of range) to be
// written or read. Field names the offending field so that the store can
// report bad input precisely.
type limitError struct {
	Field string
	Msg   string
}

func (e *limitError) Error() string { return e.Field + ": " + e.Msg }

// encoder appends the fields of one record. The first error sticks and the
// rest of the fields are skipped, so encode functions check once at the end.
type encoder struct {
	buf []byte
	err error
}

func newEncoder(sizeHint int) *encoder { return newEncoderVersion(sizeHint, recordVersion) }

// newEncoderVersion starts a record of a layout that has moved past
// version 1.
func newEncoderVersion(sizeHint int, version byte) *encoder {
	e := &encoder{buf: make([]byte, 0, sizeHint+1)}
	e.buf = append(e.buf, version)
	return e
}

func (e *encoder) fail(field, format string, args ...any) {
	if e.err == nil {
		e.err = &limitError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
}

func (e *encoder) uint8(v uint8) { e.buf = append(e.buf, v) }

func (e *encoder) bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) uint32(v uint32) { e.buf = binary.BigEndian.AppendUint32(e.buf, v) }

func (e *encoder) int32(v int32) { e.uint32(uint32(v)) }

func (e *encoder) int64(v int64) { e.buf = binary.BigEndian.AppendUint64(e.buf, uint64(v)) }

func (e *encoder) hash(h chainhash.Hash) { e.buf = append(e.buf, h[:]...) }

// count writes the number of elements of a list that may hold at most max.
func (e *encoder) count(field string, n, max int) {
	if n > max {
		e.fail(field, "has %d elements, more than the %d allowed", n, max)
		return
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(n))
}

func (e *encoder) bytes(field string, b []byte, max int) {
	if len(b) > max {
		e.fail(field, "is %d bytes long, more than the %d allowed", len(b), max)
		return
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(len(b)))
	e.buf = append(e.buf, b...)
}

func (e *encoder) string(field, s string, max int) {
	if len(s) > max {
		e.fail(field, "is %d bytes long, more than the %d allowed", len(s), max)
		return
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// Times are stored as Unix nanoseconds, the zero time as 0. UnixNano is
// only defined between the years 1678 and 2262, so times outside are
// refused rather than silently wrapped.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

func (e *encoder) time(field string, t time.Time) {
	if t.IsZero() {
		e.int64(0)
		return
	}
	if t.Before(minTime) || t.After(maxTime) {
		e.fail(field, "time %s cannot be stored (years 1678 to 2262 only)", t)
		return
	}
	e.int64(t.UnixNano())
}

func (e *encoder) finish() ([]byte, error) {
	if e.err != nil {
		return nil, e.err
	}
	return e.buf, nil
}

// decoder reads the fields of one record. Like encoder, the first error
// sticks; every read after it returns a zero value. Byte strings are copied
// out of the input, so the result stays valid after the bbolt transaction
// that produced the input ends.
type decoder struct {
	buf []byte
	err error
}

func newDecoder(b []byte) *decoder { return newDecoderVersion(b, recordVersion) }

// newDecoderVersion reads a record that must be of the given version.
func newDecoderVersion(b []byte, version byte) *decoder {
	d := &decoder{buf: b}
	if v := d.uint8("version"); d.err == nil && v != version {
		d.err = fmt.Errorf("unknown record version %d (this code reads version %d)", v, version)
	}
	return d
}

func (d *decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.buf) < n {
		d.err = fmt.Errorf("%s: %w", field, errTruncated)
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) uint8(field string) uint8 {
	b := d.take(field, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) bool(field string) bool {
	switch v := d.uint8(field); v {
	case 0:
		return false
	case 1:
		return true
	default:
		if d.err == nil {
			d.err = fmt.Errorf("%s: boolean byte %d: %w", field, v, errNonCanonical)
		}
		return false
	}
}

func (d *decoder) uint32(field string) uint32 {
	b := d.take(field, 4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (d *decoder) int32(field string) int32 { return int32(d.uint32(field)) }

func (d *decoder) int64(field string) int64 {
	b := d.take(field, 8)
	if b == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func (d *decoder) hash(field string) chainhash.Hash {
	var h chainhash.Hash
	if b := d.take(field, chainhash.HashSize); b != nil {
		copy(h[:], b)
	}
	return h
}

// count reads the number of elements of a list that may hold at most max
// elements of at least minSize bytes each. A count the rest of the record
// cannot hold is refused before anything is allocated for it.
func (d *decoder) count(field string, max, minSize int) int {
	n := d.length(field, max)
	if d.err == nil && n > len(d.buf)/minSize {
		d.err = fmt.Errorf("%s: %d elements: %w", field, n, errTruncated)
		return 0
	}
	return n
}

// length reads a uvarint length or count and checks it against max before
// anything is allocated for it.
func (d *decoder) length(field string, max int) int {
	if d.err != nil {
		return 0
	}
	n, k := binary.Uvarint(d.buf)
	switch {
	case k == 0:
		d.err = fmt.Errorf("%s length: %w", field, errTruncated)
		return 0
	case k < 0 || n > uint64(max):
		d.err = &limitError{Field: field, Msg: fmt.Sprintf("length is over the %d allowed", max)}
		return 0
	case k != len(binary.AppendUvarint(nil, n)):
		d.err = fmt.Errorf("%s length: %w", field, errNonCanonical)
		return 0
	}
	d.buf = d.buf[k:]
	return int(n)
}

func (d *decoder) bytes(field string, max int) []byte {
	n := d.length(field, max)
	b := d.take(field, n)
	if n == 0 || b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func (d *decoder) string(field string, max int) string {
	n := d.length(field, max)
	return string(d.take(field, n))
}

func (d *decoder) time(field string) time.Time {
	n := d.int64(field)
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%d bytes after the last field: %w", len(d.buf), errTrailing)
	}
	return d.err
}

// UTXO record, version 1:
//
//	version(1) txid(32) vout(4) amount_sat(8) script(uvarint len ||
//	bytes) branch(1) index(4) height(4) coinbase(1) spent(1) spent_by(32)
//	spent_height(4)
//
// The outpoint repeats the key so that a record read alone is complete and
// a record filed under the wrong key is detected.
func encodeUTXO(u *reserve.UTXO) ([]byte, error) {
	if u.AmountSat < 0 || u.AmountSat > reserve.MaxSat {
		return nil, &limitError{Field: "amount_sat", Msg: fmt.Sprintf("%d is not between 0 and %d", u.AmountSat, reserve.MaxSat)}
	}
	if u.Branch != reserve.BranchReceive && u.Branch != reserve.BranchChange {
		return nil, &limitError{Field: "branch", Msg: fmt.Sprintf("unknown branch %d", u.Branch)}
	}
	e := newEncoder(128 + len(u.Script))
	e.hash(u.OutPoint.Hash)
	e.uint32(u.OutPoint.Index)
	e.int64(u.AmountSat)
	e.bytes("script", u.Script, maxScriptLen)
	e.uint8(uint8(u.Branch))
	e.uint32(u.Index)
	e.int32(u.Height)
	e.bool(u.Coinbase)
	e.bool(u.Spent)
	e.hash(u.SpentBy)
	e.int32(u.SpentHeight)
	return e.finish()
}

func decodeUTXO(b []byte) (reserve.UTXO, error) {
	var u reserve.UTXO
	d := newDecoder(b)
	u.OutPoint.Hash = d.hash("txid")
	u.OutPoint.Index = d.uint32("vout")
	u.AmountSat = d.int64("amount_sat")
	u.Script = d.bytes("script", maxScriptLen)
	u.Branch = reserve.Branch(d.uint8("branch"))
	u.Index = d.uint32("index")
	u.Height = d.int32("height")
	u.Coinbase = d.bool("coinbase")
	u.Spent = d.bool("spent")
	u.SpentBy = d.hash("spent_by")
	u.SpentHeight = d.int32("spent_height")
	if err := d.finish(); err != nil {
		return reserve.UTXO{}, err
	}
	if u.AmountSat < 0 || u.AmountSat > reserve.MaxSat {
		return reserve.UTXO{}, &limitError{Field: "amount_sat", Msg: fmt.Sprintf("%d is not between 0 and %d", u.AmountSat, reserve.MaxSat)}
	}
	if u.Branch != reserve.BranchReceive && u.Branch != reserve.BranchChange {
		return reserve.UTXO{}, &limitError{Field: "branch", Msg: fmt.Sprintf("unknown branch %d", u.Branch)}
	}
	return u, nil
}

// addressRecord is an address as the store keeps it: the domain record
// plus Used, which the store sets when a credit pays the address and never
// clears. Used is internal because it is a fact of the chain, not of the
// address, and only Horizon needs it.
type addressRecord struct {
	reserve.Address
	Used bool
}

// Address record, version 1:
//
//	version(1) branch(1) index(4) address(uvarint len || bytes)
//	script(uvarint len || bytes) label(uvarint len || bytes) issued(1)
//	used(1) created_at(8, Unix nanoseconds, 0 for the zero time)
func encodeAddress(a *addressRecord) ([]byte, error) {
	if a.Branch != reserve.BranchReceive && a.Branch != reserve.BranchChange {
		return nil, &limitError{Field: "branch", Msg: fmt.Sprintf("unknown branch %d", a.Branch)}
	}
	e := newEncoder(64 + len(a.Address.Address) + len(a.Script) + len(a.Label))
	e.uint8(uint8(a.Branch))
	e.uint32(a.Index)
	e.string("address", a.Address.Address, maxAddressLen)
	e.bytes("script", a.Script, maxScriptLen)
	e.string("label", a.Label, MaxLabelLen)
	e.bool(a.Issued)
	e.bool(a.Used)
	e.time("created_at", a.CreatedAt)
	return e.finish()
}

func decodeAddress(b []byte) (addressRecord, error) {
	var a addressRecord
	d := newDecoder(b)
	a.Branch = reserve.Branch(d.uint8("branch"))
	a.Index = d.uint32("index")
	a.Address.Address = d.string("address", maxAddressLen)
	a.Script = d.bytes("script", maxScriptLen)
	a.Label = d.string("label", MaxLabelLen)
	a.Issued = d.bool("issued")
	a.Used = d.bool("used")
	a.CreatedAt = d.time("created_at")
	if err := d.finish(); err != nil {
		return addressRecord{}, err
	}
	if a.Branch != reserve.BranchReceive && a.Branch != reserve.BranchChange {
		return addressRecord{}, &limitError{Field: "branch", Msg: fmt.Sprintf("unknown branch %d", a.Branch)}
	}
	return a, nil
}

// Wallet record, version 1:
//
//	version(1) id(uvarint len || bytes) name(uvarint len || bytes)
//	network(1) threshold(4) cosigners(uvarint count) then per cosigner:
//	fingerprint(4) path(uvarint count || 4 bytes each) xpub(uvarint len ||
//	bytes); then descriptor(uvarint len || bytes) gap_limit(4)
//	birthday_height(4) created_at(8)
func encodeWallet(w *reserve.Wallet) ([]byte, error) {
	if w.Threshold < 0 || w.Threshold > reserve.MaxCosigners {
		return nil, &limitError{Field: "threshold", Msg: fmt.Sprintf("%d is not between 0 and %d", w.Threshold, reserve.MaxCosigners)}
	}
	e := newEncoder(256 + len(w.Descriptor) + 128*len(w.Cosigners))
	e.string("id", w.ID, maxIDLen)
	e.string("name", w.Name, maxNameLen)
	e.uint8(uint8(w.Network))
	e.int32(int32(w.Threshold))
	e.count("cosigners", len(w.Cosigners), reserve.MaxCosigners)
	for i := range w.Cosigners {
		c := &w.Cosigners[i]
		field := fmt.Sprintf("cosigners[%d]", i)
		e.uint32(c.Fingerprint)
		e.count(field+".path", len(c.Path), maxPathLen)
		for _, step := range c.Path {
			e.uint32(step)
		}
		e.string(field+".xpub", c.XPub, maxXPubLen)
	}
	e.string("descriptor", w.Descriptor, maxDescriptorLen)
	e.uint32(w.GapLimit)
	e.int32(w.BirthdayHeight)
	e.time("created_at", w.CreatedAt)
	return e.finish()
}

func decodeWallet(b []byte) (reserve.Wallet, error) {
	var w reserve.Wallet
	d := newDecoder(b)
	w.ID = d.string("id", maxIDLen)
	w.Name = d.string("name", maxNameLen)
	w.Network = reserve.Network(d.uint8("network"))
	w.Threshold = int(d.int32("threshold"))
	if n := d.length("cosigners", reserve.MaxCosigners); n > 0 {
		w.Cosigners = make([]reserve.Cosigner, n)
	}
	for i := range w.Cosigners {
		c := &w.Cosigners[i]
		c.Fingerprint = d.uint32("fingerprint")
		if n := d.length("path", maxPathLen); n > 0 {
			c.Path = make([]uint32, n)
		}
		for j := range c.Path {
			c.Path[j] = d.uint32("path")
		}
		c.XPub = d.string("xpub", maxXPubLen)
	}
	w.Descriptor = d.string("descriptor", maxDescriptorLen)
	w.GapLimit = d.uint32("gap_limit")
	w.BirthdayHeight = d.int32("birthday_height")
	w.CreatedAt = d.time("created_at")
	if err := d.finish(); err != nil {
		return reserve.Wallet{}, err
	}
	if w.Threshold < 0 || w.Threshold > reserve.MaxCosigners {
		return reserve.Wallet{}, &limitError{Field: "threshold", Msg: fmt.Sprintf("%d is not between 0 and %d", w.Threshold, reserve.MaxCosigners)}
	}
	return w, nil
}

// Audit record, version 1:
//
//	version(1) time(8, Unix nanoseconds) kind(uvarint len || bytes)
//	detail(uvarint len || bytes)
func encodeAudit(a *AuditEntry) ([]byte, error) {
	e := newEncoder(16 + len(a.Kind) + len(a.Detail))
	e.time("time", a.Time)
	e.string("kind", a.Kind, maxAuditKindLen)
	e.string("detail", a.Detail, maxAuditDetailLen)
	return e.finish()
}

func decodeAudit(b []byte) (AuditEntry, error) {
	var a AuditEntry
	d := newDecoder(b)
	a.Time = d.time("time")
	a.Kind = d.string("kind", maxAuditKindLen)
	a.Detail = d.string("detail", maxAuditDetailLen)
	if err := d.finish(); err != nil {
		return AuditEntry{}, err
	}
	return a, nil
}

// Proposal record, version 2 (version 1 ended after the history):
//
//	version(1) id(uvarint len || bytes) wallet_id(uvarint len || bytes)
//	state(1) payees(uvarint count) then per payee: address(uvarint len ||
//	bytes) script(uvarint len || bytes) amount_sat(8); then memo(uvarint
//	len || bytes) fee_rate(8) fee_sat(8) vsize(8) inputs(uvarint count)
//	then per input: txid(32) vout(4) amount_sat(8) branch(1) index(4);
//	then change_present(1) and, when it is 1, change index(4)
//	amount_sat(8) vout(4); then unsigned_tx(uvarint len || bytes)
//	psbt(uvarint len || bytes) signatures(uvarint count) then per
//	signature: cosigner(4) fingerprint(4) at(8); then txid(32)
//	final_tx(uvarint len || bytes) confirmed_height(4)
//	fail_reason(uvarint len || bytes) created_by(uvarint len || bytes)
//	created_at(8) expires_at(8) history(uvarint count) then per
//	transition: state(1) at(8) actor(uvarint len || bytes) note(uvarint
//	len || bytes); then intent(uvarint len || reserve.Intent.Encode(),
//	empty for none) decisions(uvarint count) then per decision:
//	officer(uvarint len || bytes) decision(1) officer_key(32)
//	signature(64) at(8); then release_at(8) replaces(uvarint len ||
//	bytes)
//
// Times are Unix nanoseconds, 0 for the zero time. The id repeats the key
// so that a record filed under the wrong key is detected. Amounts are
// between 0 and reserve.MaxSat, states are known ones (never
// UNSPECIFIED), cosigner positions are below reserve.MaxCosigners; the
// store's own rules (at least one input, positive amounts, ...) are
// checked by CreateProposal, not here.
func encodeProposal(p *reserve.Proposal) ([]byte, error) {
	if err := checkProposalRanges(p); err != nil {
		return nil, err
	}
	size := 256 + len(p.Memo) + len(p.UnsignedTx) + len(p.PSBT) + len(p.FinalTx) +
		64*len(p.Payees) + 64*len(p.Inputs) + 16*len(p.Signatures) + 64*len(p.History)
	e := newEncoderVersion(size, proposalVersion)
	e.string("id", p.ID, maxIDLen)
	e.string("wallet_id", p.WalletID, maxIDLen)
	e.uint8(uint8(p.State))
	e.count("payees", len(p.Payees), maxProposalItems)
	for i := range p.Payees {
		py := &p.Payees[i]
		field := fmt.Sprintf("payees[%d]", i)
		e.string(field+".address", py.Address, maxAddressLen)
		e.bytes(field+".script", py.Script, maxScriptLen)
		e.int64(py.AmountSat)
	}
	e.string("memo", p.Memo, maxTextLen)
	e.int64(p.FeeRate)
	e.int64(p.FeeSat)
	e.int64(p.VSize)
	e.count("inputs", len(p.Inputs), maxProposalItems)
	for _, in := range p.Inputs {
		e.hash(in.OutPoint.Hash)
		e.uint32(in.OutPoint.Index)
		e.int64(in.AmountSat)
		e.uint8(uint8(in.Branch))
		e.uint32(in.Index)
	}
	e.bool(p.Change != nil)
	if p.Change != nil {
		e.uint32(p.Change.Index)
		e.int64(p.Change.AmountSat)
		e.uint32(p.Change.Vout)
	}
	e.bytes("unsigned_tx", p.UnsignedTx, maxUnsignedTxLen)
	e.bytes("psbt", p.PSBT, maxPSBTLen)
	e.count("signatures", len(p.Signatures), reserve.MaxCosigners)
	for i, sig := range p.Signatures {
		e.int32(int32(sig.Cosigner))
		e.uint32(sig.Fingerprint)
		e.time(fmt.Sprintf("signatures[%d].at", i), sig.At)
	}
	e.hash(p.Txid)
	e.bytes("final_tx", p.FinalTx, maxPSBTLen)
	e.int32(p.ConfirmedHeight)
	e.string("fail_reason", p.FailReason, maxTextLen)
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
	encodeApprovalSection(e, p)
	return e.finish()
}

// encodeApprovalSection writes what version 2 added to the proposal record.
func encodeApprovalSection(e *encoder, p *reserve.Proposal) {
	var intent []byte
	if p.Intent != nil {
		var err error
		if intent, err = p.Intent.Encode(); err != nil {
			e.fail("intent", "%v", err)
			return
		}
	}
	e.bytes("intent", intent, maxIntentLen)
	e.count("decisions", len(p.Decisions), maxDecisions)
	for i, d := range p.Decisions {
		field := fmt.Sprintf("decisions[%d]", i)
		e.string(field+".officer", d.Officer, maxIDLen)
		e.uint8(uint8(d.Decision))
		putApproval(e, d.Approval)
		e.time(field+".at", d.At)
	}
	e.time("release_at", p.ReleaseAt)
	e.string("replaces", p.Replaces, maxIDLen)
}

func decodeApprovalSection(d *decoder, p *reserve.Proposal) {
	if intent := d.bytes("intent", maxIntentLen); len(intent) > 0 {
		in, err := reserve.DecodeIntent(intent)
		if err != nil && d.err == nil {
			d.err = err // names the intent's field
		}
		p.Intent = &in
	}
	if n := d.count("decisions", maxDecisions, minDecisionSize); n > 0 {
		p.Decisions = make([]reserve.OfficerDecision, n)
	}
	for i := range p.Decisions {
		od := &p.Decisions[i]
		od.Officer = d.string("decision officer", maxIDLen)
		od.Decision = reserve.Decision(d.uint8("decision"))
		od.Approval = getApproval(d, "decision")
		od.At = d.time("decision at")
	}
	p.ReleaseAt = d.time("release_at")
	p.Replaces = d.string("replaces", maxIDLen)
}

// putApproval writes an officer's signature as decisions and control
// signatures hold it: officer_key(32) signature(64).
func putApproval(e *encoder, a reserve.Approval) {
	e.buf = append(e.buf, a.OfficerKey[:]...)
	e.buf = append(e.buf, a.Signature[:]...)
}

func getApproval(d *decoder, field string) reserve.Approval {
	var a reserve.Approval
	copy(a.OfficerKey[:], d.take(field+" officer_key", len(a.OfficerKey)))
	copy(a.Signature[:], d.take(field+" signature", len(a.Signature)))
	return a
}

// Smallest encodings of the list elements of a proposal record, for
// decoder.count.
const (
	minPayeeSize      = 1 + 1 + 8
	minInputSize      = 32 + 4 + 8 + 1 + 4
	minSignatureSize  = 4 + 4 + 8
	minTransitionSize = 1 + 8 + 1 + 1
	minDecisionSize   = 1 + 1 + 32 + 64 + 8
)

// proposalVersion is the version of the proposal record: 2 added the
// approval section (migration 3).
const proposalVersion byte = 2

// Limits of the approval section of a proposal record.
const (
	// maxIntentLen bounds the encoded intent: 1,000 payees of 10,000-byte
	// scripts at most.
	maxIntentLen = 11 << 20
	// maxDecisions bounds the officers' decisions on one proposal; a
	// policy has far fewer officers.
	maxDecisions = 1000
)

func decodeProposal(b []byte) (reserve.Proposal, error) {
	return decodeProposalVersion(b, proposalVersion)
}

// decodeProposalVersion reads a proposal record of the given version: the
// current one, or 1 for migration 3, which rewrites version 1 records.
func decodeProposalVersion(b []byte, version byte) (reserve.Proposal, error) {
	var p reserve.Proposal
	d := newDecoderVersion(b, version)
	p.ID = d.string("id", maxIDLen)
	p.WalletID = d.string("wallet_id", maxIDLen)
	p.State = reserve.State(d.uint8("state"))
	if n := d.count("payees", maxProposalItems, minPayeeSize); n > 0 {
		p.Payees = make([]reserve.Payee, n)
	}
	for i := range p.Payees {
		py := &p.Payees[i]
		py.Address = d.string("payee address", maxAddressLen)
		py.Script = d.bytes("payee script", maxScriptLen)
		py.AmountSat = d.int64("payee amount_sat")
	}
	p.Memo = d.string("memo", maxTextLen)
	p.FeeRate = d.int64("fee_rate")
	p.FeeSat = d.int64("fee_sat")
	p.VSize = d.int64("vsize")
	if n := d.count("inputs", maxProposalItems, minInputSize); n > 0 {
		p.Inputs = make([]reserve.Input, n)
	}
	for i := range p.Inputs {
		in := &p.Inputs[i]
		in.OutPoint.Hash = d.hash("input txid")
		in.OutPoint.Index = d.uint32("input vout")
		in.AmountSat = d.int64("input amount_sat")
		in.Branch = reserve.Branch(d.uint8("input branch"))
		in.Index = d.uint32("input index")
	}
	if d.bool("change_present") {
		p.Change = &reserve.Change{
			Index:     d.uint32("change index"),
			AmountSat: d.int64("change amount_sat"),
			Vout:      d.uint32("change vout"),
		}
	}
	p.UnsignedTx = d.bytes("unsigned_tx", maxUnsignedTxLen)
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
	p.Txid = d.hash("txid")
	p.FinalTx = d.bytes("final_tx", maxPSBTLen)
	p.ConfirmedHeight = d.int32("confirmed_height")
	p.FailReason = d.string("fail_reason", maxTextLen)
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
	if version >= 2 {
		decodeApprovalSection(d, &p)
	}
	if err := d.finish(); err != nil {
		return reserve.Proposal{}, err
	}
	if err := checkProposalRanges(&p); err != nil {
		return reserve.Proposal{}, err
	}
	return p, nil
}

// checkProposalRanges refuses the values of a proposal that the record
// cannot hold or that no stored proposal may have: unknown states and
// branches, amounts outside 0..MaxSat, cosigner positions that are not
// positions.
func checkProposalRanges(p *reserve.Proposal) error {
	if !knownState(p.State) {
		return &limitError{Field: "state", Msg: fmt.Sprintf("unknown proposal state %d", p.State)}
	}
	for i := range p.Payees {
		if err := checkAmount(fmt.Sprintf("payees[%d].amount_sat", i), p.Payees[i].AmountSat); err != nil {
			return err
		}
	}
	for i, in := range p.Inputs {
		if err := checkAmount(fmt.Sprintf("inputs[%d].amount_sat", i), in.AmountSat); err != nil {
			return err
		}
		if !validBranch(in.Branch) {
			return &limitError{Field: fmt.Sprintf("inputs[%d].branch", i), Msg: fmt.Sprintf("unknown branch %d", in.Branch)}
		}
	}
	if p.Change != nil {
		if err := checkAmount("change.amount_sat", p.Change.AmountSat); err != nil {
			return err
		}
	}
	if err := checkAmount("fee_sat", p.FeeSat); err != nil {
		return err
	}
	for i, s := range p.Signatures {
		if s.Cosigner < 0 || s.Cosigner >= reserve.MaxCosigners {
			return &limitError{Field: fmt.Sprintf("signatures[%d].cosigner", i),
				Msg: fmt.Sprintf("position %d is not between 0 and %d", s.Cosigner, reserve.MaxCosigners-1)}
		}
	}
	for i, d := range p.Decisions {
		if d.Decision != reserve.DecisionApprove && d.Decision != reserve.DecisionReject {
			return &limitError{Field: fmt.Sprintf("decisions[%d].decision", i), Msg: fmt.Sprintf("unknown decision %d", d.Decision)}
		}
	}
	for i, h := range p.History {
		if !knownState(h.State) {
			return &limitError{Field: fmt.Sprintf("history[%d].state", i), Msg: fmt.Sprintf("unknown proposal state %d", h.State)}
		}
	}
	return nil
}

func checkAmount(field string, sat int64) error {
	if sat < 0 || sat > reserve.MaxSat {
		return &limitError{Field: field, Msg: fmt.Sprintf("%d is not between 0 and %d", sat, reserve.MaxSat)}
	}
	return nil
}

// knownState reports whether s is a state a proposal can be in.
func knownState(s reserve.State) bool {
	switch s {
	case reserve.StatePendingApproval, reserve.StateApproved, reserve.StateSigning,
		reserve.StateFinalized, reserve.StateBroadcast, reserve.StateConfirmed,
		reserve.StateRejected, reserve.StateCancelled, reserve.StateExpired,
		reserve.StateFailed, reserve.StateReplaced:
		return true
	case reserve.StateUnspecified:
		return false
	}
	return false
}
