package reserve

// ParsePolicy and the fields of a policy document (docs/policy.md): what
// each field may hold and how the fields constrain each other. The YAML
// reading itself (lines, field paths, strict mappings, scalar types) is in
// policy_yaml.go.

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

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

// The names of each mapping's fields, in the order docs/policy.md lists them.
var (
	policyFieldNames    = []string{"version", "officers", "tiers", "velocity", "allowlist", "fees", "proposal_expiry", "unfreeze_approvals", "proofs"}
	officerFieldNames   = []string{"id", "name", "key"}
	tierFieldNames      = []string{"up_to", "approvals", "cool_off"}
	velocityFieldNames  = []string{"per_24h", "per_30d"}
	allowlistFieldNames = []string{"unlisted", "add_delay", "entries"}
	entryFieldNames     = []string{"address", "label", "added"}
	feesFieldNames      = []string{"max_fee", "max_fee_rate"}
	proofsFieldNames    = []string{"requesters", "approvals"}
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
		parseOfficers, parseTiers, parseVelocity, parseAllowlist, parseFees, parseExpiry, parseUnfreeze, parseProofs,
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

// parseOfficerKey reads an officer key (ParseOfficerKey) written as a
// YAML string.
func parseOfficerKey(n *yaml.Node, field string) ([32]byte, error) {
	const bad = "must be ed25519: followed by 64 hex digits (a 32-byte Ed25519 public key)"
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return [32]byte{}, policyErr(n, field, bad)
	}
	key, err := ParseOfficerKey(n.Value)
	if err != nil {
		return [32]byte{}, policyErr(n, field, bad)
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

// parseProofs reads the optional proofs section; an absent section, or
// an absent field in it, takes the value of DefaultProofRules.
func parseProofs(p *Policy, top *fields) error {
	p.Proofs = DefaultProofRules()
	n, _, ok, err := top.get("proofs")
	if err != nil || !ok {
		return err
	}
	f, err := mappingFields(n, "proofs", "proofs", proofsFieldNames...)
	if err != nil {
		return err
	}
	if list, field, ok, err := f.get("requesters"); err != nil {
		return err
	} else if ok {
		if p.Proofs.Requesters, err = parseRequesters(list, field); err != nil {
			return err
		}
	}
	if v, field, ok, err := f.get("approvals"); err != nil {
		return err
	} else if ok {
		if p.Proofs.Approvals, err = parseApprovals(v, field, len(p.Officers)); err != nil {
			return err
		}
	}
	return nil
}

// parseRequesters reads proofs.requesters: a non-empty list of distinct
// roles from proofRequesterRoles, returned sorted.
func parseRequesters(list *yaml.Node, field string) ([]string, error) {
	roles := strings.Join(proofRequesterRoles, ", ")
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return nil, policyErr(list, field, "must be a list of the roles that may request a proof, one or more of %s", roles)
	}
	seen := map[string]int{}
	var out []string
	for i, n := range list.Content {
		item := fmt.Sprintf("%s[%d]", field, i)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" || !slices.Contains(proofRequesterRoles, n.Value) {
			return nil, policyErr(n, item, "must be one of the roles %s", roles)
		}
		if j, dup := seen[n.Value]; dup {
			return nil, policyErr(n, item, "%s is listed twice (also %s[%d])", n.Value, field, j)
		}
		seen[n.Value] = i
		out = append(out, n.Value)
	}
	slices.Sort(out)
	return out, nil
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
