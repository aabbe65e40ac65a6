package reserve

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// PolicyVersion is the version of the policy document this package reads
// and hashes. A document with any other version is refused, so a newer
// policy is never half-understood by an older daemon or signer.
const PolicyVersion = 1

// PolicyHashTag starts the canonical encoding that Hash digests, so a
// policy hash can never be confused with a digest of anything else Custos
// signs or compares.
const PolicyHashTag = "custos/policy/v1"

// Limits on a policy document. They are part of the format (docs/policy.md):
// a document outside them is refused, never clamped.
const (
	// MaxPolicyBytes bounds the document text.
	MaxPolicyBytes = 1 << 20
	// MaxOfficers bounds the officer list.
	MaxOfficers = 32
	// MaxTiers bounds the tier list.
	MaxTiers = 16
	// MaxAllowlistEntries bounds the allowlist.
	MaxAllowlistEntries = 10_000
	// MaxOfficerIDLen bounds an officer id, in bytes of [a-z0-9-].
	MaxOfficerIDLen = 32
	// MaxPolicyTextLen bounds officer names and allowlist labels, in
	// characters.
	MaxPolicyTextLen = 64
	// MaxPolicyAddressLen bounds an allowlist address, in bytes.
	MaxPolicyAddressLen = 100
	// MaxCoolOff bounds a tier's cool-off.
	MaxCoolOff = 30 * 24 * time.Hour
	// MaxAddDelay bounds the allowlist's add delay.
	MaxAddDelay = 30 * 24 * time.Hour
	// MinProposalExpiry and MaxProposalExpiry bound how long a proposal
	// may wait for approvals and signatures.
	MinProposalExpiry = time.Minute
	MaxProposalExpiry = 90 * 24 * time.Hour
	// MaxFeeRateCap bounds fees.max_fee_rate, in sat/vB: a typo guard far
	// above any fee rate the network has seen.
	MaxFeeRateCap = 100_000
)

// TierUnlimited is the UpToSat of the last tier, written `up_to: unlimited`:
// every amount is at or below it.
const TierUnlimited int64 = math.MaxInt64

// UnlistedAction is what paying an address that is not on the allowlist
// (or not yet in effect) needs. The numbers are hashed: never reorder or
// reuse them.
type UnlistedAction uint8

const (
	// UnlistedUnspecified is the zero value; Require treats it as
	// UnlistedRefuse, and ParsePolicy never produces it.
	UnlistedUnspecified UnlistedAction = 0
	// UnlistedExtraApproval: one approval more than the tier's.
	UnlistedExtraApproval UnlistedAction = 1
	// UnlistedRefuse: the proposal is refused.
	UnlistedRefuse UnlistedAction = 2
)

// String is the word the policy document uses ("extra_approval").
func (a UnlistedAction) String() string {
	switch a {
	case UnlistedExtraApproval:
		return "extra_approval"
	case UnlistedRefuse:
		return "refuse"
	case UnlistedUnspecified:
		return "unspecified"
	}
	return fmt.Sprintf("unlisted(%d)", uint8(a))
}

// Policy is the spending policy of a reserve: who the officers are, how
// many of them a payment needs, and the limits every payment must stay
// within. It is read from a YAML document by ParsePolicy and identified by
// Hash; officers approve payments under a policy hash and signers pin one.
//
// A Policy from ParsePolicy is valid; one built by hand is not checked, and
// Require fails closed on what ParsePolicy would have refused. Treat a
// parsed Policy as read-only: Hash covers its fields as they are now.
type Policy struct {
	// Version is PolicyVersion.
	Version int
	// Officers are in document order; ids and keys are unique.
	Officers []Officer
	// Tiers are ordered by strictly increasing UpToSat; the last one is
	// TierUnlimited. Approvals and CoolOff never decrease from one tier to
	// the next.
	Tiers    []Tier
	Velocity Velocity
	// Allowlist says which payees need no extra approval.
	Allowlist Allowlist
	Fees      Fees
	// ProposalExpiry is how long a proposal may take from creation to
	// broadcast.
	ProposalExpiry time.Duration
	// UnfreezeApprovals is how many officers must approve lifting a freeze
	// (any one officer may freeze).
	UnfreezeApprovals int
	// Proofs says who may request a proof of reserves and how many
	// officers approve its message. ParsePolicy fills in the defaults
	// (DefaultProofRules) when the document has no proofs section; read
	// it through ProofRules, which does the same for a Policy built by
	// hand.
	Proofs ProofRules
}

// Roles that a policy may allow to request a proof of reserves, as the
// proofs section names them. They are the daemon's role names.
const (
	ProofRequesterAdmin   = "admin"
	ProofRequesterAuditor = "auditor"
	ProofRequesterOfficer = "officer"
)

// proofRequesterRoles are the roles a proofs section may list, sorted
// bytewise as ProofRules.Requesters is. Read only.
var proofRequesterRoles = []string{ProofRequesterAdmin, ProofRequesterAuditor, ProofRequesterOfficer}

// ProofRules is the policy's proofs section: who may request a proof of
// reserves and how many distinct officers approve its message. A proof
// cannot move coins, so it needs no tier; it still discloses the reserve,
// so it is requested and approved like a payment.
type ProofRules struct {
	// Requesters are the roles that may request a proof, each once,
	// sorted bytewise: one or more of ProofRequesterAdmin,
	// ProofRequesterAuditor and ProofRequesterOfficer.
	Requesters []string
	// Approvals is how many distinct officers approve a proof's message,
	// 1 to the number of officers (`all` resolved).
	Approvals int
}

// DefaultProofRules are the rules of a policy without a proofs section:
// officers request, one officer approves.
func DefaultProofRules() ProofRules {
	return ProofRules{Requesters: []string{ProofRequesterOfficer}, Approvals: 1}
}

// IsDefault reports whether r are the defaults, and so whether Canonical
// leaves the proofs section out. The zero ProofRules (a Policy built by
// hand) counts as the defaults.
func (r ProofRules) IsDefault() bool {
	if r.Approvals == 0 && len(r.Requesters) == 0 {
		return true
	}
	d := DefaultProofRules()
	return r.Approvals == d.Approvals && slices.Equal(r.Requesters, d.Requesters)
}

// MayRequest reports whether role may request a proof under r.
func (r ProofRules) MayRequest(role string) bool { return slices.Contains(r.Requesters, role) }

// ProofRules returns the policy's proofs rules: p.Proofs, or the defaults
// when p.Proofs is the zero value (a Policy built by hand; ParsePolicy
// always fills it in). Use it rather than p.Proofs, so that a missing
// section never reads as "nobody approves".
func (p *Policy) ProofRules() ProofRules {
	if p.Proofs.Approvals == 0 && len(p.Proofs.Requesters) == 0 {
		return DefaultProofRules()
	}
	return ProofRules{Requesters: slices.Clone(p.Proofs.Requesters), Approvals: p.Proofs.Approvals}
}

// Officer is a person who approves payments with an Ed25519 key.
type Officer struct {
	// ID names the officer in approvals: [a-z0-9-]{1,32}.
	ID string
	// Name is shown to people; printable, at most 64 characters.
	Name string
	// Key is the officer's 32-byte Ed25519 public key. It is an array so
	// an Officer is a value: copies cannot change the policy.
	Key [32]byte
}

// Tier is the approval rule for proposals whose total external amount is
// above the previous tier's UpToSat and at most this one's.
type Tier struct {
	// UpToSat is the inclusive upper bound on the total external amount;
	// TierUnlimited for the last tier.
	UpToSat int64
	// Approvals is how many distinct officers must approve; `all` in the
	// document is resolved to the number of officers.
	Approvals int
	// CoolOff is the delay between reaching quorum and releasing the
	// proposal to the signers, during which any officer may veto.
	CoolOff time.Duration
}

// Unlimited reports whether the tier has no upper bound.
func (t Tier) Unlimited() bool { return t.UpToSat == TierUnlimited }

// Velocity holds the rolling caps on external payments. Zero means no cap.
type Velocity struct {
	Per24hSat int64
	Per30dSat int64
}

// Allowlist is the list of known payees.
type Allowlist struct {
	// Unlisted is what paying an address not on the list (or not yet in
	// effect) needs.
	Unlisted UnlistedAction
	// AddDelay is how long after its Added time an entry takes effect, so
	// an address slipped into the list cannot be paid at once.
	AddDelay time.Duration
	// Entries are in document order; addresses are unique.
	Entries []AllowEntry
}

// AllowEntry is one allowlisted address.
type AllowEntry struct {
	// Address is compared byte for byte with payee addresses: write it
	// exactly as the daemon formats addresses (bech32 in lower case).
	Address string
	Label   string
	// Added is when the entry was added, in UTC; it is in effect from
	// Added + AddDelay.
	Added time.Time
}

// Fees caps the fee of every transaction.
type Fees struct {
	// MaxFeeSat is the absolute cap in satoshis.
	MaxFeeSat int64
	// MaxFeeRate is the cap in sat/vB.
	MaxFeeRate int64
}

// Officer returns the officer with the given id.
func (p *Policy) Officer(id string) (Officer, bool) {
	for _, o := range p.Officers {
		if o.ID == id {
			return o, true
		}
	}
	return Officer{}, false
}

// OfficerByKey returns the officer whose Ed25519 public key is k: the
// officer a signature claims to be from.
func (p *Policy) OfficerByKey(k [32]byte) (Officer, bool) {
	if i := p.officerIndex(k); i >= 0 {
		return p.Officers[i], true
	}
	return Officer{}, false
}

// officerIndex is the position in p.Officers of the officer with key k,
// or -1.
func (p *Policy) officerIndex(k [32]byte) int {
	return slices.IndexFunc(p.Officers, func(o Officer) bool { return o.Key == k })
}

// officerKeyPrefix starts an officer key as policies, policy chains and
// officer key files write it.
const officerKeyPrefix = "ed25519:"

// FormatOfficerKey writes an officer's Ed25519 public key as a policy
// document lists it: "ed25519:" and 64 lower-case hex digits.
func FormatOfficerKey(k [32]byte) string { return officerKeyPrefix + hex.EncodeToString(k[:]) }

// ParseOfficerKey reads "ed25519:" and 64 hex digits. It does not check
// that the bytes are a point on the curve: that is for whoever verifies
// signatures with it.
func ParseOfficerKey(s string) ([32]byte, error) {
	var k [32]byte
	h, ok := strings.CutPrefix(s, officerKeyPrefix)
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != len(k) {
		return k, Invalid("public_key", "%q is not ed25519:<64 hex digits>", s)
	}
	copy(k[:], b)
	return k, nil
}

// Canonical is the policy's canonical binary encoding, the input of Hash:
// the tag, then every field in a fixed order, integers big-endian and
// strings length-prefixed, officers sorted by id and allowlist entries by
// address. docs/policy.md specifies it byte by byte.
//
// The proofs section came after signers had pinned policy hashes, so it
// is appended only when it differs from DefaultProofRules: every document
// written before it keeps its hash, and one that spells out the defaults
// hashes the same as one without the section. The bytes before it are
// self-delimiting, so no policy's encoding is a prefix of another's.
func (p *Policy) Canonical() []byte {
	var b []byte
	b = appendLenPrefixed(b, PolicyHashTag)
	b = binary.BigEndian.AppendUint32(b, uint32(p.Version))

	officers := slices.Clone(p.Officers)
	slices.SortStableFunc(officers, func(a, b Officer) int { return strings.Compare(a.ID, b.ID) })
	b = binary.BigEndian.AppendUint32(b, uint32(len(officers)))
	for _, o := range officers {
		b = appendLenPrefixed(b, o.ID)
		b = appendLenPrefixed(b, o.Name)
		b = append(b, o.Key[:]...)
	}

	b = binary.BigEndian.AppendUint32(b, uint32(len(p.Tiers)))
	for _, t := range p.Tiers {
		b = binary.BigEndian.AppendUint64(b, uint64(t.UpToSat))
		b = binary.BigEndian.AppendUint32(b, uint32(t.Approvals))
		b = binary.BigEndian.AppendUint64(b, uint64(t.CoolOff))
	}

	b = binary.BigEndian.AppendUint64(b, uint64(p.Velocity.Per24hSat))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Velocity.Per30dSat))

	b = append(b, byte(p.Allowlist.Unlisted))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Allowlist.AddDelay))
	entries := slices.Clone(p.Allowlist.Entries)
	slices.SortStableFunc(entries, func(a, b AllowEntry) int { return strings.Compare(a.Address, b.Address) })
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = appendLenPrefixed(b, e.Address)
		b = appendLenPrefixed(b, e.Label)
		b = binary.BigEndian.AppendUint64(b, uint64(e.Added.Unix()))
		b = binary.BigEndian.AppendUint32(b, uint32(e.Added.Nanosecond()))
	}

	b = binary.BigEndian.AppendUint64(b, uint64(p.Fees.MaxFeeSat))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Fees.MaxFeeRate))
	b = binary.BigEndian.AppendUint64(b, uint64(p.ProposalExpiry))
	b = binary.BigEndian.AppendUint32(b, uint32(p.UnfreezeApprovals))

	if !p.Proofs.IsDefault() {
		b = appendLenPrefixed(b, proofsSectionTag)
		requesters := slices.Clone(p.Proofs.Requesters)
		slices.Sort(requesters)
		b = binary.BigEndian.AppendUint32(b, uint32(len(requesters)))
		for _, r := range requesters {
			b = appendLenPrefixed(b, r)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(p.Proofs.Approvals))
	}
	return b
}

// proofsSectionTag starts the proofs section in Canonical, naming the
// optional section that follows the fixed fields.
const proofsSectionTag = "proofs"

// Hash identifies the policy: SHA-256 of Canonical. Formatting, comments,
// key order and list order of officers and allowlist entries in the
// document do not change it; any change to what the policy says does.
func (p *Policy) Hash() [32]byte {
	return sha256.Sum256(p.Canonical())
}
