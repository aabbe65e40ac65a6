package reserve

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
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

// ParsePolicy reads a policy document (YAML, format in docs/policy.md) and
// checks every rule of the format. It refuses unknown fields, YAML aliases,
// anchors and explicit tags, and BTC amounts written as YAML numbers.
//
// Every refusal is a *Error with CodeInvalid whose message starts with the
// line and the field, "policy line 14: tiers[1].up_to: …"; its cause is a
// *Error whose Field is the field's path ("tiers[1].up_to").
func ParsePolicy(text []byte) (*Policy, error) {
	if len(text) > MaxPolicyBytes {
		return nil, Errorf(CodeInvalid, "policy: %d bytes is more than the limit of %d", len(text), MaxPolicyBytes)
	}
	if err := checkPolicyText(text); err != nil {
		return nil, err
	}
	root, err := decodePolicyYAML(text)
	if err != nil {
		return nil, err
	}
	if err := checkPlainYAML(root, ""); err != nil {
		return nil, err
	}
	return policyFromYAML(root)
}

// decodePolicyYAML parses text as exactly one YAML document and returns its
// root node.
func decodePolicyYAML(text []byte) (root *yaml.Node, err error) {
	// yaml.v3 panics on a few inputs it calls internal errors; a bad
	// policy file must be refused, not crash the daemon.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, Errorf(CodeInvalid, "policy: malformed YAML (the parser failed: %v)", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errorf(CodeInvalid, "policy line 1: the document is empty")
		}
		return nil, yamlSyntaxError(err, text)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlSyntaxError(err, text)
	default:
		return nil, Errorf(CodeInvalid, "policy line %d: a second YAML document follows the policy; a policy file holds one", extra.Line)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, Errorf(CodeInvalid, "policy line 1: the document is empty")
	}
	return doc.Content[0], nil
}

// yamlParserProblems are the problems yaml.v3 (v3.0.1) reports from its
// parser rather than its scanner. For them it gives the line of the
// enclosing block counted from zero (the scanner's count from one), so
// yamlSyntaxError adds one.
var yamlParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// yamlSyntaxError turns yaml.v3's "yaml: line 3: …" into the policy's
// "policy line 3: malformed YAML: …".
func yamlSyntaxError(err error, text []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, after, found := strings.Cut(rest, ": ")
		if n, convErr := strconv.Atoi(num); found && convErr == nil {
			line, msg = n, after
		}
	}
	if slices.Contains(yamlParserProblems, msg) {
		// A parser error without a line is on the first one.
		return Errorf(CodeInvalid, "policy line %d: malformed YAML: %s (in the block that starts on this line)", line+1, msg)
	}
	if line == 0 {
		// yaml.v3 names no line for an unknown alias; find it.
		if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
			name = strings.TrimSuffix(name, "' referenced")
			if i := bytes.Index(text, []byte("*"+name)); i >= 0 {
				line = lineAt(text, i)
			}
		}
	}
	if line == 0 {
		return Errorf(CodeInvalid, "policy: malformed YAML: %s", msg)
	}
	return Errorf(CodeInvalid, "policy line %d: malformed YAML: %s", line, msg)
}

// checkPolicyText refuses, with their line, what yaml.v3 would refuse
// without one: invalid UTF-8 and control characters other than tab, line
// feed and carriage return. It also refuses U+2028 and U+2029, which
// yaml.v3 counts as line breaks and editors may not show as such, so that
// every line number in an error is the one the reviewer sees.
func checkPolicyText(text []byte) error {
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return Errorf(CodeInvalid, "policy line %d: is not valid UTF-8 (byte %d)", lineAt(text, i), i)
		case r == '\n' || r == '\t' || r == '\r':
		case unicode.IsControl(r):
			return Errorf(CodeInvalid, "policy line %d: contains the control character %U", lineAt(text, i), r)
		case r == '\u2028' || r == '\u2029':
			return Errorf(CodeInvalid, "policy line %d: contains the line separator %U; write an ordinary line break", lineAt(text, i), r)
		}
		i += size
	}
	return nil
}

// lineAt returns the line, from 1, of byte offset i of text, counting
// line breaks as YAML does: LF, CR LF, or a CR alone.
func lineAt(text []byte, i int) int {
	line := 1
	for j := 0; j < i; j++ {
		if text[j] == '\n' || (text[j] == '\r' && (j+1 >= len(text) || text[j+1] != '\n')) {
			line++
		}
	}
	return line
}

// policyErr refuses the document at node n, naming the field.
func policyErr(n *yaml.Node, field, format string, args ...any) error {
	return Errorf(CodeInvalid, "policy line %d: %w", n.Line, Invalid(field, format, args...))
}

// fieldPath joins a mapping's path and one of its keys.
func fieldPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// checkPlainYAML refuses the YAML features a reviewer could be misled by or
// that another implementation could read differently: aliases and anchors
// (a value defined elsewhere), explicit tags (a value read as another type),
// and mapping keys that are not plain names.
func checkPlainYAML(n *yaml.Node, path string) error {
	field := path
	if field == "" {
		field = "policy"
	}
	switch {
	case n.Kind == yaml.AliasNode:
		return policyErr(n, field, "YAML aliases (*%s) are not allowed in a policy: write the value out", n.Value)
	case n.Anchor != "":
		return policyErr(n, field, "YAML anchors and aliases (&%s) are not allowed in a policy: write each value out", n.Anchor)
	case n.Style&yaml.TaggedStyle != 0:
		return policyErr(n, field, "explicit YAML tags (%s) are not allowed in a policy", n.Tag)
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Anchor != "" || k.Style&yaml.TaggedStyle != 0 {
				return policyErr(k, field, "mapping keys must be plain field names")
			}
			if err := checkPlainYAML(v, fieldPath(path, k.Value)); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := checkPlainYAML(c, fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fields is a YAML mapping checked against the names it may hold.
type fields struct {
	node *yaml.Node
	path string
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
}

// mappingFields checks that n is a mapping whose keys are all in known,
// each at most once.
func mappingFields(n *yaml.Node, path, what string, known ...string) (*fields, error) {
	if n.Kind != yaml.MappingNode {
		return nil, policyErr(n, path, "must be %s with the fields %s", what, strings.Join(known, ", "))
	}
	f := &fields{node: n, path: path, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := fieldPath(path, k.Value)
		if !slices.Contains(known, k.Value) {
			return nil, policyErr(k, field, "unknown field (the fields of %s are %s)", what, strings.Join(known, ", "))
		}
		if first, dup := f.keys[k.Value]; dup {
			return nil, policyErr(k, field, "appears twice (first on line %d)", first.Line)
		}
		f.keys[k.Value], f.vals[k.Value] = k, v
	}
	return f, nil
}

// get returns the value of key, and whether it is present; a present key
// without a value is refused.
func (f *fields) get(key string) (*yaml.Node, string, bool, error) {
	field := fieldPath(f.path, key)
	v, ok := f.vals[key]
	if !ok {
		return nil, field, false, nil
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, field, false, policyErr(f.keys[key], field, "has no value")
	}
	return v, field, true, nil
}

// need returns the value of a required key.
func (f *fields) need(key string) (*yaml.Node, string, error) {
	v, field, ok, err := f.get(key)
	if err != nil {
		return nil, field, err
	}
	if !ok {
		return nil, field, policyErr(f.node, field, "missing")
	}
	return v, field, nil
}

// The names of each mapping's fields, in the order docs/policy.md lists them.
var (
	policyFieldNames    = []string{"version", "officers", "tiers", "velocity", "allowlist", "fees", "proposal_expiry", "unfreeze_approvals"}
	officerFieldNames   = []string{"id", "name", "key"}
	tierFieldNames      = []string{"up_to", "approvals", "cool_off"}
	velocityFieldNames  = []string{"per_24h", "per_30d"}
	allowlistFieldNames = []string{"unlisted", "add_delay", "entries"}
	entryFieldNames     = []string{"address", "label", "added"}
	feesFieldNames      = []string{"max_fee", "max_fee_rate"}
)

// policyFromYAML reads the root mapping, one top-level field at a time in
// a fixed order: tiers and the unfreeze quorum need the officer count.
func policyFromYAML(root *yaml.Node) (*Policy, error) {
	if root.Kind != yaml.MappingNode {
		return nil, Errorf(CodeInvalid, "policy line %d: the document must be a mapping of fields, starting with version: %d", root.Line, PolicyVersion)
	}
	// The version comes first, before unknown fields are refused: a newer
	// document must be refused for its version, not for its new fields.
	if err := checkPolicyVersion(root); err != nil {
		return nil, err
	}
	f, err := mappingFields(root, "", "the policy", policyFieldNames...)
	if err != nil {
		return nil, err
	}
	p := &Policy{Version: PolicyVersion}
	steps := []func(*Policy, *fields) error{
		parseOfficers, parseTiers, parseVelocity, parseAllowlist, parseFees, parseExpiry, parseUnfreeze,
	}
	for _, step := range steps {
		if err := step(p, f); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func checkPolicyVersion(root *yaml.Node) error {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "version" {
			continue
		}
		v := root.Content[i+1]
		if v.Kind == yaml.ScalarNode && v.Tag == "!!int" && v.Value == strconv.Itoa(PolicyVersion) {
			return nil
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!int" {
			return policyErr(v, "version", "unsupported policy version %s: this build reads version %d", v.Value, PolicyVersion)
		}
		return policyErr(v, "version", "must be the number %d", PolicyVersion)
	}
	return policyErr(root, "version", "missing: the document must say version: %d", PolicyVersion)
}

var officerIDRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

func parseOfficers(p *Policy, top *fields) error {
	list, field, err := top.need("officers")
	if err != nil {
		return err
	}
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return policyErr(list, field, "must be a list of 1 to %d officers", MaxOfficers)
	}
	if len(list.Content) > MaxOfficers {
		return policyErr(list, field, "lists %d officers, more than %d", len(list.Content), MaxOfficers)
	}
	ids := map[string]int{}
	keys := map[[32]byte]int{}
	for i, n := range list.Content {
		o, idNode, keyNode, err := parseOfficer(n, fmt.Sprintf("officers[%d]", i))
		if err != nil {
			return err
		}
		if j, dup := ids[o.ID]; dup {
			return policyErr(idNode, fmt.Sprintf("officers[%d].id", i), "officer id %q appears twice (also officers[%d])", o.ID, j)
		}
		if j, dup := keys[o.Key]; dup {
			return policyErr(keyNode, fmt.Sprintf("officers[%d].key", i), "the same key as officers[%d]: each officer needs their own key", j)
		}
		ids[o.ID], keys[o.Key] = i, i
		p.Officers = append(p.Officers, o)
	}
	return nil
}

// parseOfficer reads one officer and returns it with its id and key nodes.
func parseOfficer(n *yaml.Node, path string) (o Officer, idNode, keyNode *yaml.Node, err error) {
	f, err := mappingFields(n, path, "an officer", officerFieldNames...)
	if err != nil {
		return o, nil, nil, err
	}
	idNode, field, err := f.need("id")
	if err != nil {
		return o, nil, nil, err
	}
	if o.ID, err = parseText(idNode, field, MaxOfficerIDLen); err != nil {
		return o, nil, nil, err
	}
	if !officerIDRE.MatchString(o.ID) {
		return o, nil, nil, policyErr(idNode, field, "%q must be 1 to %d of a-z, 0-9 and -", o.ID, MaxOfficerIDLen)
	}
	v, field, err := f.need("name")
	if err != nil {
		return o, nil, nil, err
	}
	if o.Name, err = parseText(v, field, MaxPolicyTextLen); err != nil {
		return o, nil, nil, err
	}
	if keyNode, field, err = f.need("key"); err != nil {
		return o, nil, nil, err
	}
	if o.Key, err = parseOfficerKey(keyNode, field); err != nil {
		return o, nil, nil, err
	}
	return o, idNode, keyNode, nil
}

// parseOfficerKey reads "ed25519:" and 64 hex digits. It does not check
// that the bytes are a point on the curve: that is for whoever verifies
// signatures with it.
func parseOfficerKey(n *yaml.Node, field string) ([32]byte, error) {
	var key [32]byte
	const bad = "must be ed25519: followed by 64 hex digits (a 32-byte Ed25519 public key)"
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return key, policyErr(n, field, bad)
	}
	h, ok := strings.CutPrefix(n.Value, "ed25519:")
	if !ok || len(h) != 2*len(key) {
		return key, policyErr(n, field, bad)
	}
	if _, err := hex.Decode(key[:], []byte(h)); err != nil {
		return key, policyErr(n, field, bad)
	}
	return key, nil
}

func parseTiers(p *Policy, top *fields) error {
	list, field, err := top.need("tiers")
	if err != nil {
		return err
	}
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return policyErr(list, field, "must be a list of 1 to %d tiers, the last one up_to: unlimited", MaxTiers)
	}
	if len(list.Content) > MaxTiers {
		return policyErr(list, field, "lists %d tiers, more than %d", len(list.Content), MaxTiers)
	}
	var upToNode *yaml.Node
	for i, n := range list.Content {
		var t Tier
		if t, upToNode, err = parseTier(n, i, p.Tiers, len(p.Officers)); err != nil {
			return err
		}
		p.Tiers = append(p.Tiers, t)
	}
	if !p.Tiers[len(p.Tiers)-1].Unlimited() {
		return policyErr(upToNode, fmt.Sprintf("tiers[%d].up_to", len(p.Tiers)-1),
			"the last tier must be up_to: unlimited, so that every amount has a tier")
	}
	return nil
}

// parseTier reads tiers[i], checks it against the tier before it, and
// returns it with its up_to node.
func parseTier(n *yaml.Node, i int, before []Tier, officers int) (Tier, *yaml.Node, error) {
	var t Tier
	f, err := mappingFields(n, fmt.Sprintf("tiers[%d]", i), "a tier", tierFieldNames...)
	if err != nil {
		return t, nil, err
	}
	upTo, field, err := f.need("up_to")
	if err != nil {
		return t, nil, err
	}
	if t.UpToSat, err = parseUpTo(upTo, field); err != nil {
		return t, nil, err
	}
	// The tier before, or for the first tier a zero tier that any valid
	// tier may follow.
	var prev Tier
	if i > 0 {
		prev = before[i-1]
	}
	switch {
	case i > 0 && prev.Unlimited():
		return t, nil, policyErr(upTo, field, "tiers[%d] is unlimited, so no tier may follow it", i-1)
	case i > 0 && t.UpToSat <= prev.UpToSat:
		return t, nil, policyErr(upTo, field, "%s BTC must be more than tiers[%d].up_to (%s BTC): tiers are ordered by increasing amount",
			FormatBTC(t.UpToSat), i-1, FormatBTC(prev.UpToSat))
	}

	v, field, err := f.need("approvals")
	if err != nil {
		return t, nil, err
	}
	if t.Approvals, err = parseApprovals(v, field, officers); err != nil {
		return t, nil, err
	}
	if t.Approvals < prev.Approvals {
		return t, nil, policyErr(v, field, "%d is fewer than tiers[%d].approvals (%d): a larger payment must never need fewer approvals",
			t.Approvals, i-1, prev.Approvals)
	}

	if v, field, err = f.need("cool_off"); err != nil {
		return t, nil, err
	}
	if t.CoolOff, err = parseDuration(v, field, 0, MaxCoolOff, "0s to 720h (30 days)"); err != nil {
		return t, nil, err
	}
	if t.CoolOff < prev.CoolOff {
		return t, nil, policyErr(v, field, "%s is shorter than tiers[%d].cool_off (%s): a larger payment must never wait less",
			t.CoolOff, i-1, prev.CoolOff)
	}
	return t, upTo, nil
}

// parseUpTo reads a tier bound: a BTC amount or the word unlimited.
func parseUpTo(n *yaml.Node, field string) (int64, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if n.Value == "unlimited" {
			return TierUnlimited, nil
		}
		if strings.ContainsFunc(n.Value, unicode.IsLetter) {
			return 0, policyErr(n, field, "must be an amount of BTC in quotes, like \"100\", or the word unlimited")
		}
	}
	return parseAmount(n, field)
}

func parseVelocity(p *Policy, top *fields) error {
	n, _, ok, err := top.get("velocity")
	if err != nil || !ok {
		return err
	}
	f, err := mappingFields(n, "velocity", "velocity", velocityFieldNames...)
	if err != nil {
		return err
	}
	var day *yaml.Node
	if v, field, ok, err := f.get("per_24h"); err != nil {
		return err
	} else if ok {
		day = v
		if p.Velocity.Per24hSat, err = parseAmount(v, field); err != nil {
			return err
		}
	}
	if v, field, ok, err := f.get("per_30d"); err != nil {
		return err
	} else if ok {
		if p.Velocity.Per30dSat, err = parseAmount(v, field); err != nil {
			return err
		}
	}
	if v := p.Velocity; v.Per24hSat > 0 && v.Per30dSat > 0 && v.Per24hSat > v.Per30dSat {
		return policyErr(day, "velocity.per_24h", "%s BTC is more than velocity.per_30d (%s BTC): 24 hours are part of 30 days",
			FormatBTC(v.Per24hSat), FormatBTC(v.Per30dSat))
	}
	return nil
}

func parseAllowlist(p *Policy, top *fields) error {
	n, _, err := top.need("allowlist")
	if err != nil {
		return err
	}
	f, err := mappingFields(n, "allowlist", "the allowlist", allowlistFieldNames...)
	if err != nil {
		return err
	}
	v, field, err := f.need("unlisted")
	if err != nil {
		return err
	}
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == "extra_approval":
		p.Allowlist.Unlisted = UnlistedExtraApproval
	case v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == "refuse":
		p.Allowlist.Unlisted = UnlistedRefuse
	default:
		return policyErr(v, field, "must be extra_approval or refuse")
	}
	if v, field, err = f.need("add_delay"); err != nil {
		return err
	}
	if p.Allowlist.AddDelay, err = parseDuration(v, field, 0, MaxAddDelay, "0s to 720h (30 days)"); err != nil {
		return err
	}
	list, field, ok, err := f.get("entries")
	if err != nil || !ok {
		return err
	}
	if list.Kind != yaml.SequenceNode {
		return policyErr(list, field, "must be a list of entries (address, label, added); write [] for none")
	}
	if len(list.Content) > MaxAllowlistEntries {
		return policyErr(list, field, "lists %d entries, more than %d", len(list.Content), MaxAllowlistEntries)
	}
	seen := map[string]int{}
	for i, n := range list.Content {
		e, addr, err := parseAllowEntry(n, fmt.Sprintf("allowlist.entries[%d]", i))
		if err != nil {
			return err
		}
		if j, dup := seen[e.Address]; dup {
			return policyErr(addr, fmt.Sprintf("allowlist.entries[%d].address", i), "%s is listed twice (also allowlist.entries[%d])", e.Address, j)
		}
		seen[e.Address] = i
		p.Allowlist.Entries = append(p.Allowlist.Entries, e)
	}
	return nil
}

// parseAllowEntry reads one entry and returns it with its address node.
func parseAllowEntry(n *yaml.Node, path string) (AllowEntry, *yaml.Node, error) {
	var e AllowEntry
	f, err := mappingFields(n, path, "an allowlist entry", entryFieldNames...)
	if err != nil {
		return e, nil, err
	}
	addr, field, err := f.need("address")
	if err != nil {
		return e, nil, err
	}
	if e.Address, err = parseAddress(addr, field); err != nil {
		return e, nil, err
	}
	v, field, err := f.need("label")
	if err != nil {
		return e, nil, err
	}
	if e.Label, err = parseText(v, field, MaxPolicyTextLen); err != nil {
		return e, nil, err
	}
	if v, field, err = f.need("added"); err != nil {
		return e, nil, err
	}
	if e.Added, err = parseTime(v, field); err != nil {
		return e, nil, err
	}
	return e, addr, nil
}

// parseAddress checks only the shape of an address; whether it is valid on
// the reserve's network is for the daemon, which knows the network.
func parseAddress(n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || n.Value == "" {
		return "", policyErr(n, field, "must be an address")
	}
	if len(n.Value) > MaxPolicyAddressLen {
		return "", policyErr(n, field, "is %d characters, more than %d", len(n.Value), MaxPolicyAddressLen)
	}
	for i := 0; i < len(n.Value); i++ {
		if c := n.Value[i]; c <= ' ' || c > '~' {
			return "", policyErr(n, field, "contains a space or a character no address has (byte %d)", i)
		}
	}
	return n.Value, nil
}

func parseFees(p *Policy, top *fields) error {
	n, _, err := top.need("fees")
	if err != nil {
		return err
	}
	f, err := mappingFields(n, "fees", "fees", feesFieldNames...)
	if err != nil {
		return err
	}
	v, field, err := f.need("max_fee")
	if err != nil {
		return err
	}
	if p.Fees.MaxFeeSat, err = parseAmount(v, field); err != nil {
		return err
	}
	if v, field, err = f.need("max_fee_rate"); err != nil {
		return err
	}
	rate, err := parseCount(v, field, "a whole number of sat/vB")
	if err != nil {
		return err
	}
	if rate < 1 || rate > MaxFeeRateCap {
		return policyErr(v, field, "%d sat/vB is outside 1 to %d", rate, MaxFeeRateCap)
	}
	p.Fees.MaxFeeRate = int64(rate)
	return nil
}

func parseExpiry(p *Policy, top *fields) error {
	v, field, err := top.need("proposal_expiry")
	if err != nil {
		return err
	}
	p.ProposalExpiry, err = parseDuration(v, field, MinProposalExpiry, MaxProposalExpiry, "1m to 2160h (90 days)")
	return err
}

func parseUnfreeze(p *Policy, top *fields) error {
	v, field, err := top.need("unfreeze_approvals")
	if err != nil {
		return err
	}
	p.UnfreezeApprovals, err = parseApprovals(v, field, len(p.Officers))
	return err
}

// parseAmount reads a positive BTC amount written as a YAML string. A YAML
// number is refused: parsers differ on how they read "0.1" as a number,
// and a float must never stand between the document and the satoshis.
func parseAmount(n *yaml.Node, field string) (int64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, policyErr(n, field, "must be an amount of BTC in quotes, like \"0.5\"")
	}
	if strings.HasPrefix(n.Value, "-") {
		return 0, policyErr(n, field, "must be more than zero, not %s", n.Value)
	}
	switch n.Tag {
	case "!!str":
	case "!!int", "!!float":
		return 0, policyErr(n, field, "write BTC amounts in quotes (\"%s\"), not as YAML numbers, so they are never read as floating point", n.Value)
	default:
		return 0, policyErr(n, field, "must be an amount of BTC in quotes, like \"0.5\"")
	}
	sat, err := ParseBTC(n.Value)
	if err != nil {
		return 0, policyErr(n, field, "%w", err)
	}
	if sat == 0 {
		return 0, policyErr(n, field, "must be more than zero")
	}
	return sat, nil
}

// decimalRE is a whole number without sign, leading zeros or separators,
// at most nine digits so it always fits an int.
var decimalRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})$`)

// parseCount reads a non-negative whole number written as a plain decimal
// YAML integer.
func parseCount(n *yaml.Node, field, what string) (int, error) {
	if n.Kind != yaml.ScalarNode || !decimalRE.MatchString(n.Value) {
		return 0, policyErr(n, field, "must be %s", what)
	}
	if n.Tag != "!!int" {
		return 0, policyErr(n, field, "must be %s, written without quotes", what)
	}
	return strconv.Atoi(n.Value)
}

// parseApprovals reads a number of officers, 1 to officers, or the word all.
func parseApprovals(n *yaml.Node, field string, officers int) (int, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Value == "all" {
		return officers, nil
	}
	k, err := parseCount(n, field, "a number of officers or the word all")
	if err != nil {
		return 0, err
	}
	switch {
	case k < 1:
		return 0, policyErr(n, field, "must be at least 1")
	case k > officers:
		return 0, policyErr(n, field, "%d approvals needed but the policy has only %d officers", k, officers)
	}
	return k, nil
}

// parseDuration reads a Go duration ("48h", "90m", "0s"; a bare 0 too)
// within [min, max].
func parseDuration(n *yaml.Node, field string, min, max time.Duration, span string) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int") {
		return 0, policyErr(n, field, "must be a duration like 48h or 30m")
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		return 0, policyErr(n, field, "must be a duration like 48h or 30m (units h, m, s; there is no d): %w", err)
	}
	if d < min || d > max {
		return 0, policyErr(n, field, "%s is outside %s", d, span)
	}
	return d, nil
}

// timeRE is the RFC 3339 profile the format accepts; time.Parse alone
// would also take a decimal comma.
var timeRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$`)

// parseTime reads an RFC 3339 time with its zone and returns it in UTC.
func parseTime(n *yaml.Node, field string) (time.Time, error) {
	const bad = "must be an RFC 3339 time with a zone, like 2026-11-20T00:00:00Z"
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!timestamp" && n.Tag != "!!str") || !timeRE.MatchString(n.Value) {
		return time.Time{}, policyErr(n, field, bad)
	}
	t, err := time.Parse(time.RFC3339, n.Value)
	if err != nil {
		return time.Time{}, policyErr(n, field, bad)
	}
	return t.UTC(), nil
}

// parseText reads a YAML string of printable characters, without leading
// or trailing spaces, at most max characters: what a reviewer sees is all
// there is.
func parseText(n *yaml.Node, field string, max int) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", policyErr(n, field, "must be text; put it in quotes if YAML would read it as a number, a boolean or a date")
	}
	s := n.Value
	switch {
	case s == "":
		return "", policyErr(n, field, "must not be empty")
	case !utf8.ValidString(s):
		return "", policyErr(n, field, "is not valid UTF-8")
	case strings.TrimSpace(s) != s:
		return "", policyErr(n, field, "must not start or end with white space")
	case utf8.RuneCountInString(s) > max:
		return "", policyErr(n, field, "is %d characters, more than %d", utf8.RuneCountInString(s), max)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", policyErr(n, field, "contains the unprintable character %U", r)
		}
	}
	return s, nil
}

// Canonical is the policy's canonical binary encoding, the input of Hash:
// the tag, then every field in a fixed order, integers big-endian and
// strings length-prefixed, officers sorted by id and allowlist entries by
// address. docs/policy.md specifies it byte by byte.
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
	return b
}

// Hash identifies the policy: SHA-256 of Canonical. Formatting, comments,
// key order and list order of officers and allowlist entries in the
// document do not change it; any change to what the policy says does.
func (p *Policy) Hash() [32]byte {
	return sha256.Sum256(p.Canonical())
}
