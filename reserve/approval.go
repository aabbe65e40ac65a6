package reserve

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// IntentVersion is the version of the approval intent encoding
// (docs/approvals.md) of an intent that supersedes nothing and is no
// deliberate repeat; IntentVersionLinked is the version of one that is.
// Each intent has exactly one encoding: a version 2 encoding of an intent
// version 1 can write is refused, as is any other version.
const (
	IntentVersion       = 1
	IntentVersionLinked = 2
)

// ApprovalTag domain-separates approval digests: digests are BIP-340
// tagged hashes under it, so an officer's signature over one can never be
// taken for a signature over anything else.
const ApprovalTag = "custos/approval/v1"

// Limits of the intent encoding; outside them an intent is refused.
const (
	// MaxIntentIDLen bounds the wallet and proposal ids, in bytes.
	MaxIntentIDLen = 64
	// MaxIntentPayees bounds the payees of one intent.
	MaxIntentPayees = 1000
	// MaxIntentScriptLen bounds a payee's output script (consensus bound
	// for scripts).
	MaxIntentScriptLen = 10_000
	// MaxIntentSupersedes bounds the proposals one intent supersedes.
	MaxIntentSupersedes = 16
)

// intentFlagRepeat is bit 0 of a version 2 intent's flags: Repeat;
// intentFlagConsolidate is bit 1: Consolidate.
const (
	intentFlagRepeat      = 0x01
	intentFlagConsolidate = 0x02
	intentFlags           = intentFlagRepeat | intentFlagConsolidate
)

// Decision is what an officer's signature over an intent says.
type Decision uint8

const (
	// DecisionApprove approves the intent.
	DecisionApprove Decision = 1
	// DecisionReject vetoes it.
	DecisionReject Decision = 2
)

// String names the decision ("approve").
func (d Decision) String() string {
	switch d {
	case DecisionApprove:
		return "approve"
	case DecisionReject:
		return "reject"
	}
	return fmt.Sprintf("decision(%d)", uint8(d))
}

// IntentPayee is one external output an intent approves: the output
// script the chain sees and the amount.
type IntentPayee struct {
	Script    []byte
	AmountSat int64
}

// Intent is what officers approve: not a transaction, but the payment.
// Coin selection, change and the fee within FeeCapSat may change (a fee
// bump) without new approvals; the payees, the wallet, the proposal and
// the policy may not.
type Intent struct {
	Network    Network
	WalletID   string
	ProposalID string
	// PolicyHash is the hash of the policy the approvals are given under.
	PolicyHash [32]byte
	// Payees are the external outputs in proposal order; a transaction
	// carries out the intent if its outputs, change aside, are exactly
	// these (as a multiset: order free, each once).
	Payees []IntentPayee
	// FeeCapSat is the most fee any transaction for the intent may pay.
	FeeCapSat int64
	// ExpiresAt is when the approvals lapse, to the second, in UTC.
	ExpiresAt time.Time
	// Supersedes are the ids of earlier proposals for the same payment
	// that this one replaces, in increasing order: a signer signs it only
	// if it spends an input of every transaction it signed for them, so
	// at most one of them can confirm (docs/approvals.md, "One payment,
	// paid once"). An intent that supersedes proposals may have no payees:
	// it then only spends their inputs back to the reserve (spend cancel
	// --conflict).
	Supersedes []string
	// Repeat says the officers pay these payees these amounts again on
	// purpose: a signer does not hold the payees against earlier
	// payments it signed (it still holds Supersedes).
	Repeat bool
	// Consolidate says the transaction merges the reserve's coins into
	// one output back to the wallet (spend consolidate): the intent has
	// no payees, supersedes nothing and is no repeat, and a signer signs
	// only a transaction whose every output is the wallet's own, which it
	// derives again from its pinned descriptor (multisig.Analyze and
	// CheckIntentOutputs refuse any other).
	Consolidate bool
}

// Linked reports whether the intent supersedes proposals, is a deliberate
// repeat or a consolidation: whether it is written in encoding version 2.
func (in *Intent) Linked() bool { return len(in.Supersedes) > 0 || in.Repeat || in.Consolidate }

// Cancels reports whether the intent pays no one: it only supersedes.
func (in *Intent) Cancels() bool { return len(in.Payees) == 0 && len(in.Supersedes) > 0 }

// TotalSat is the sum of the payees' amounts: the amount the policy's
// tiers and velocity caps apply to. Valid intents total at most MaxSat.
func (in *Intent) TotalSat() int64 {
	var total int64
	for _, p := range in.Payees {
		total += p.AmountSat
	}
	return total
}

// Validate checks the intent against the encoding's rules: a known
// network, ids of 1 to 64 printable ASCII bytes, 1 to 1000 payees each
// with a script of 1 to 10,000 bytes and an amount of 1 sat to 21 million
// BTC, a total and a fee cap within 21 million BTC, a fee cap above zero,
// an expiry after 1970 with no fraction of a second. Errors name the field.
func (in *Intent) Validate() error {
	if in.Network < Mainnet || in.Network > Regtest {
		return Invalid("intent.network", "unknown network %d", uint8(in.Network))
	}
	for _, f := range []struct{ name, v string }{{"intent.wallet_id", in.WalletID}, {"intent.proposal_id", in.ProposalID}} {
		if err := checkIntentID(f.name, f.v); err != nil {
			return err
		}
	}
	if err := in.validateLinks(); err != nil {
		return err
	}
	if in.Consolidate {
		switch {
		case len(in.Payees) > 0:
			return Invalid("intent.payees", "a consolidation pays no payee, got %d", len(in.Payees))
		case len(in.Supersedes) > 0:
			return Invalid("intent.supersedes", "a consolidation supersedes no proposal")
		case in.Repeat:
			return Invalid("intent.flags", "a consolidation is no repeat")
		}
	}
	if min := in.minPayees(); len(in.Payees) < min || len(in.Payees) > MaxIntentPayees {
		return Invalid("intent.payees", "%d payees, want %d to %d", len(in.Payees), min, MaxIntentPayees)
	}
	var total int64
	for i, p := range in.Payees {
		if len(p.Script) < 1 || len(p.Script) > MaxIntentScriptLen {
			return Invalid(payeeField(i), "script of %d bytes, want 1 to %d", len(p.Script), MaxIntentScriptLen)
		}
		if p.AmountSat < 1 || p.AmountSat > MaxSat {
			return Invalid(payeeField(i), "amount %d sat is outside 1 sat to 21000000 BTC", p.AmountSat)
		}
		if total += p.AmountSat; total > MaxSat {
			return Invalid("intent.payees", "the payees add up to more than 21000000 BTC")
		}
	}
	if in.FeeCapSat < 1 || in.FeeCapSat > MaxSat {
		return Invalid("intent.fee_cap", "%d sat is outside 1 sat to 21000000 BTC", in.FeeCapSat)
	}
	if in.ExpiresAt.Unix() < 1 || in.ExpiresAt.Nanosecond() != 0 {
		return Invalid("intent.expires_at", "%s is not a whole second after 1970", in.ExpiresAt.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// minPayees is the fewest payees the intent may have: one, or none for an
// intent that supersedes proposals and is no repeat (a cancel) and for a
// consolidation.
func (in *Intent) minPayees() int {
	if in.Consolidate || len(in.Supersedes) > 0 && !in.Repeat {
		return 0
	}
	return 1
}

// validateLinks checks Supersedes: at most MaxIntentSupersedes ids, each
// a valid id other than the intent's own, in strictly increasing order.
func (in *Intent) validateLinks() error {
	if len(in.Supersedes) > MaxIntentSupersedes {
		return Invalid("intent.supersedes", "%d proposals, want at most %d", len(in.Supersedes), MaxIntentSupersedes)
	}
	for i, id := range in.Supersedes {
		f := fmt.Sprintf("intent.supersedes[%d]", i)
		if err := checkIntentID(f, id); err != nil {
			return err
		}
		if id == in.ProposalID {
			return Invalid(f, "proposal %s cannot supersede itself", id)
		}
		if i > 0 && in.Supersedes[i-1] >= id {
			return Invalid(f, "%s does not come after %s: the ids are in increasing order, each once", id, in.Supersedes[i-1])
		}
	}
	return nil
}

// payeeField names payee i in refusals. Only refusals build it: Validate
// runs on every Encode and Digest.
func payeeField(i int) string { return fmt.Sprintf("intent.payees[%d]", i) }

// checkIntentID checks an id of a signed statement: 1 to MaxIntentIDLen
// bytes of printable ASCII without spaces.
func checkIntentID(field, v string) error {
	if len(v) < 1 || len(v) > MaxIntentIDLen {
		return Invalid(field, "%d bytes, want 1 to %d", len(v), MaxIntentIDLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return Invalid(field, "byte %d is not printable ASCII", i)
		}
	}
	return nil
}

// Encode writes the intent's canonical encoding (docs/approvals.md): the
// bytes that travel in the PSBT and that approvals sign, through Digest.
// Integers are big-endian; strings and scripts are preceded by their
// length as a uint32.
//
//	u8  version (1)      u8  network
//	str wallet_id        str proposal_id     [32] policy_hash
//	u32 payee count, then per payee: u64 amount_sat, bytes script
//	u64 fee_cap_sat      i64 expires_at (Unix seconds)
//
// and, in version 2 only (an intent that is Linked):
//
//	u32 supersedes count, then per id: str proposal_id
//	u8  flags (bit 0: repeat; bit 1: consolidate; the others zero)
func (in *Intent) Encode() ([]byte, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	version := byte(IntentVersion)
	if in.Linked() {
		version = IntentVersionLinked
	}
	b := []byte{version, byte(in.Network)}
	b = appendLenPrefixed(b, in.WalletID)
	b = appendLenPrefixed(b, in.ProposalID)
	b = append(b, in.PolicyHash[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(in.Payees)))
	for _, p := range in.Payees {
		b = binary.BigEndian.AppendUint64(b, uint64(p.AmountSat))
		b = appendLenPrefixed(b, p.Script)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(in.FeeCapSat))
	b = binary.BigEndian.AppendUint64(b, uint64(in.ExpiresAt.Unix()))
	if version == IntentVersion {
		return b, nil
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(in.Supersedes)))
	for _, id := range in.Supersedes {
		b = appendLenPrefixed(b, id)
	}
	var flags byte
	if in.Repeat {
		flags |= intentFlagRepeat
	}
	if in.Consolidate {
		flags |= intentFlagConsolidate
	}
	return append(b, flags), nil
}

// Equal reports whether two valid intents are the same intent: whether
// Encode gives the same bytes for both, so a signature over one is one
// over the other. It compares the fields Encode writes without encoding;
// keep the two in step. An invalid intent equals no valid one.
func (in *Intent) Equal(o *Intent) bool {
	return in.Network == o.Network && in.WalletID == o.WalletID && in.ProposalID == o.ProposalID &&
		in.PolicyHash == o.PolicyHash && in.FeeCapSat == o.FeeCapSat && in.ExpiresAt.Equal(o.ExpiresAt) &&
		in.Repeat == o.Repeat && in.Consolidate == o.Consolidate && slices.Equal(in.Supersedes, o.Supersedes) &&
		slices.EqualFunc(in.Payees, o.Payees, func(a, b IntentPayee) bool {
			return a.AmountSat == b.AmountSat && bytes.Equal(a.Script, b.Script)
		})
}

// appendLenPrefixed appends s preceded by its length as a big-endian
// uint32: how every signed encoding (intent, control statement, policy)
// writes strings and scripts.
func appendLenPrefixed[T string | []byte](b []byte, s T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// DecodeIntent reads an intent's canonical encoding and refuses anything
// Encode would not write: another version, a length past the end or
// beyond its limit, trailing bytes, or a value Validate refuses. So
// DecodeIntent(b) succeeds only if Encode of the result gives b back.
func DecodeIntent(b []byte) (Intent, error) {
	r := intentReader{b: b}
	var in Intent
	version := r.u8("version")
	if r.err == nil && version != IntentVersion && version != IntentVersionLinked {
		return Intent{}, Invalid("intent.version", "version %d, want %d or %d", version, IntentVersion, IntentVersionLinked)
	}
	in.Network = Network(r.u8("network"))
	in.WalletID = string(r.bytes("wallet_id", MaxIntentIDLen))
	in.ProposalID = string(r.bytes("proposal_id", MaxIntentIDLen))
	copy(in.PolicyHash[:], r.take("policy_hash", 32))
	n := r.u32("payee count")
	min := uint32(1)
	if version == IntentVersionLinked {
		min = 0 // a cancel pays no one; Validate checks it is one
	}
	if r.err == nil && (n < min || n > MaxIntentPayees) {
		return Intent{}, Invalid("intent.payees", "%d payees, want %d to %d", n, min, MaxIntentPayees)
	}
	for i := uint32(0); r.err == nil && i < n; i++ {
		amount := r.u64("amount")
		script := bytes.Clone(r.bytes("script", MaxIntentScriptLen))
		if amount > uint64(MaxSat) {
			return Intent{}, Invalid(payeeField(int(i)), "amount %d sat is more than 21000000 BTC", amount)
		}
		in.Payees = append(in.Payees, IntentPayee{Script: script, AmountSat: int64(amount)})
	}
	fee := r.u64("fee_cap")
	expires := r.u64("expires_at")
	if version == IntentVersionLinked {
		k := r.u32("supersedes count")
		if r.err == nil && k > MaxIntentSupersedes {
			return Intent{}, Invalid("intent.supersedes", "%d proposals, want at most %d", k, MaxIntentSupersedes)
		}
		for i := uint32(0); r.err == nil && i < k; i++ {
			in.Supersedes = append(in.Supersedes, string(r.bytes("supersedes id", MaxIntentIDLen)))
		}
		flags := r.u8("flags")
		if r.err == nil && flags&^intentFlags != 0 {
			return Intent{}, Invalid("intent.flags", "unknown flags %#02x", flags&^intentFlags)
		}
		in.Repeat = flags&intentFlagRepeat != 0
		in.Consolidate = flags&intentFlagConsolidate != 0
		if r.err == nil && !in.Linked() {
			return Intent{}, Invalid("intent.version", "version 2 for an intent that supersedes nothing, is no repeat and no consolidation; it is written in version 1")
		}
	}
	if r.err != nil {
		return Intent{}, r.err
	}
	if len(r.b) != 0 {
		return Intent{}, Invalid("intent", "%d bytes after the end of the intent", len(r.b))
	}
	if fee > uint64(MaxSat) {
		return Intent{}, Invalid("intent.fee_cap", "%d sat is more than 21000000 BTC", fee)
	}
	if expires > 1<<62 {
		return Intent{}, Invalid("intent.expires_at", "%d is not a time", expires)
	}
	in.FeeCapSat = int64(fee)
	in.ExpiresAt = time.Unix(int64(expires), 0).UTC()
	if err := in.Validate(); err != nil {
		return Intent{}, err
	}
	return in, nil
}

// intentReader reads the encoding front to back, keeping the first error.
type intentReader struct {
	b   []byte
	err error
}

func (r *intentReader) take(what string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b) {
		r.err = Invalid("intent", "truncated in %s: %d bytes needed, %d left", what, n, len(r.b))
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *intentReader) u8(what string) uint8 {
	if b := r.take(what, 1); b != nil {
		return b[0]
	}
	return 0
}

func (r *intentReader) u32(what string) uint32 {
	if b := r.take(what, 4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *intentReader) u64(what string) uint64 {
	if b := r.take(what, 8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *intentReader) bytes(what string, limit int) []byte {
	n := r.u32(what + " length")
	if r.err == nil && n > uint32(limit) {
		r.err = Invalid("intent", "%s of %d bytes is longer than %d", what, n, limit)
		return nil
	}
	return r.take(what, int(n))
}

// Digest is what an officer signs to give decision on the intent: the
// BIP-340 tagged hash SHA256(SHA256(tag) || SHA256(tag) || decision ||
// Encode()), tag = ApprovalTag.
func (in *Intent) Digest(d Decision) ([32]byte, error) {
	if d != DecisionApprove && d != DecisionReject {
		return [32]byte{}, Invalid("decision", "unknown decision %d", uint8(d))
	}
	enc, err := in.Encode()
	if err != nil {
		return [32]byte{}, err
	}
	return *chainhash.TaggedHash([]byte(ApprovalTag), []byte{byte(d)}, enc), nil
}

// Approval is one officer's signature giving a decision on an intent,
// identified by the officer's Ed25519 public key.
type Approval struct {
	OfficerKey [32]byte
	Signature  [64]byte
}

// ErrBadApprovalSignature is wrapped by VerifyApproval's refusal of a
// signature that does not verify.
var ErrBadApprovalSignature = errors.New("approval signature does not verify")

// SignIntent makes officer key priv's signature giving decision on in.
func SignIntent(in *Intent, d Decision, priv ed25519.PrivateKey) (Approval, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Approval{}, Invalid("key", "not an Ed25519 private key")
	}
	digest, err := in.Digest(d)
	if err != nil {
		return Approval{}, err
	}
	return signDigest(priv, digest), nil
}

// signDigest is priv's signature over a 32-byte digest, with its key.
func signDigest(priv ed25519.PrivateKey, digest [32]byte) Approval {
	var a Approval
	copy(a.OfficerKey[:], priv.Public().(ed25519.PublicKey))
	copy(a.Signature[:], ed25519.Sign(priv, digest[:]))
	return a
}

// VerifyApproval checks that a is a valid signature by a.OfficerKey giving
// decision on in (RFC 8032 Ed25519, as crypto/ed25519 verifies it).
func VerifyApproval(in *Intent, d Decision, a Approval) error {
	digest, err := in.Digest(d)
	if err != nil {
		return err
	}
	if !ed25519.Verify(a.OfficerKey[:], digest[:], a.Signature[:]) {
		return Invalid("approval", "%w: officer key %x, decision %s", ErrBadApprovalSignature, a.OfficerKey, d)
	}
	return nil
}

// ExpiryClockSkew is how far ahead of a checker's clock the coordinator's
// may be when it dates an intent: CheckExpiry lets an intent expire up to
// this much later than the policy's proposal expiry from the checker's
// now. Signers are often air-gapped machines whose clocks drift.
const ExpiryClockSkew = 10 * time.Minute

// CheckExpiry refuses, as CodeInvalid with field "intent.expires_at", an
// intent that has expired at now, and one that expires later than p's
// ProposalExpiry (plus ExpiryClockSkew) from now: the coordinator dates
// an intent's expiry from its creation by the policy in force, so a later
// one was made to have approvals held, and a payment made, long after the
// officers looked at it (docs/approvals.md, "What a signer checks").
func (p *Policy) CheckExpiry(expiresAt, now time.Time) error {
	if !now.Before(expiresAt) {
		return Invalid("intent.expires_at", "the intent expired at %s", expiresAt.UTC().Format(time.RFC3339))
	}
	if latest := now.Add(p.ProposalExpiry + ExpiryClockSkew); expiresAt.After(latest) {
		return Invalid("intent.expires_at", "the intent expires at %s, later than the policy's proposal expiry of %s from now (%s, with %s for clock skew)",
			expiresAt.UTC().Format(time.RFC3339), p.ProposalExpiry, latest.UTC().Format(time.RFC3339), ExpiryClockSkew)
	}
	return nil
}

// Quorum is the outcome of CountApprovals.
type Quorum struct {
	// Officers are the ids of the policy's officers whose approvals
	// verified, each once, in policy order.
	Officers []string
	// Requirement is what the intent needs under the policy.
	Requirement Requirement
}

// Met reports whether the approvals reach the requirement.
func (q Quorum) Met() bool { return len(q.Officers) >= q.Requirement.Approvals }

// CountApprovals checks approvals of in against policy p at time now and
// says which officers approved and what the intent needs. Refused, as
// CodeInvalid: an intent under another policy hash, an expired intent or
// one that expires too late (CheckExpiry), an approval by a key that is not one of p's officers, one that does not
// verify, and the same officer twice. What the payment needs is p.Require
// for pays, the intent's payees with their addresses (in order, amounts
// equal), with fee and vsize the caller's (the transaction's) and spent
// the caller's count of earlier payments; its refusals are returned as
// they are.
func CountApprovals(p *Policy, in *Intent, approvals []Approval, pays []Payment, feeSat, vsize int64,
	spent Spent, now time.Time) (Quorum, error) {
	if p == nil || in == nil {
		return Quorum{}, Invalid("policy", "no policy or intent")
	}
	if h := p.Hash(); h != in.PolicyHash {
		return Quorum{}, Invalid("intent.policy_hash", "approvals are under policy %x, this policy is %x", in.PolicyHash, h)
	}
	if err := p.CheckExpiry(in.ExpiresAt, now); err != nil {
		return Quorum{}, err
	}
	if len(pays) != len(in.Payees) {
		return Quorum{}, Invalid("pays", "%d payments for an intent of %d payees", len(pays), len(in.Payees))
	}
	for i, pay := range pays {
		if pay.AmountSat != in.Payees[i].AmountSat {
			return Quorum{}, Invalid(fmt.Sprintf("pays[%d]", i), "%d sat, the intent says %d sat", pay.AmountSat, in.Payees[i].AmountSat)
		}
	}
	digest, err := in.Digest(DecisionApprove)
	if err != nil {
		return Quorum{}, err
	}
	approved := make([]bool, len(p.Officers))
	for k, a := range approvals {
		field := fmt.Sprintf("approvals[%d]", k)
		i := p.officerIndex(a.OfficerKey)
		if i < 0 {
			return Quorum{}, Invalid(field, "key %x is not an officer of policy %x", a.OfficerKey, in.PolicyHash[:8])
		}
		if approved[i] {
			return Quorum{}, Invalid(field, "officer %s approved twice", p.Officers[i].ID)
		}
		if !ed25519.Verify(a.OfficerKey[:], digest[:], a.Signature[:]) {
			return Quorum{}, Invalid(field, "officer %s: %w", p.Officers[i].ID, ErrBadApprovalSignature)
		}
		approved[i] = true
	}
	req, err := p.Require(pays, feeSat, vsize, spent, now)
	if err != nil {
		return Quorum{}, err
	}
	q := Quorum{Requirement: req}
	for i, ok := range approved {
		if ok {
			q.Officers = append(q.Officers, p.Officers[i].ID)
		}
	}
	return q, nil
}
