package console_test

// The policy vectors: reserve.ParsePolicy's accepted and refused documents,
// with Go's canonical encoding, hash and error, for web/src/policy.js. The
// documents are reserve/policy_test.go's (its tables are copied here
// verbatim, with their helpers: keep them in step), the docs/policy.md
// examples and the testdata policies other packages' tests use.

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer/signertest"
)

type policyVector struct {
	Name string `json:"name"`
	// Text is the document; TextBase64 holds it instead when it is not
	// valid UTF-8 (which JSON cannot carry).
	Text       string `json:"text,omitempty"`
	TextBase64 string `json:"text_base64,omitempty"`
	// Canonical and Hash (hex) for an accepted document.
	Canonical string `json:"canonical,omitempty"`
	Hash      string `json:"hash,omitempty"`
	// Error is Go's message in full for a refused one, with its line (0
	// when it names none) and field ("" for the document as a whole).
	// Syntax marks malformed YAML: the JS names its own reason, and its
	// line may differ (yaml.v3 names the line of the enclosing block).
	Error  string `json:"error,omitempty"`
	Line   int    `json:"line,omitempty"`
	Field  string `json:"field,omitempty"`
	Syntax bool   `json:"syntax,omitempty"`
}

var policyLineRE = regexp.MustCompile(`^policy line ([0-9]+): `)

// policyVectorOf parses text with reserve.ParsePolicy and records the result.
func policyVectorOf(t *testing.T, name, text string) policyVector {
	v := policyVector{Name: name}
	if utf8.ValidString(text) {
		v.Text = text
	} else {
		v.TextBase64 = base64.StdEncoding.EncodeToString([]byte(text))
	}
	p, err := reserve.ParsePolicy([]byte(text))
	if err == nil {
		h := p.Hash()
		v.Canonical, v.Hash = hex.EncodeToString(p.Canonical()), hex.EncodeToString(h[:])
		return v
	}
	require.Nil(t, p)
	var e *reserve.Error
	require.ErrorAs(t, err, &e, name)
	require.Equal(t, reserve.CodeInvalid, e.Code, name)
	v.Error = err.Error()
	if m := policyLineRE.FindStringSubmatch(v.Error); m != nil {
		v.Line, _ = strconv.Atoi(m[1])
	}
	var cause *reserve.Error
	if errors.As(e.Unwrap(), &cause) {
		v.Field = cause.Field
	}
	v.Syntax = strings.Contains(v.Error, "malformed YAML")
	return v
}

// docPolicies are the YAML blocks of docs/policy.md.
func docPolicies(t *testing.T) []string {
	doc, err := os.ReadFile("../../docs/policy.md")
	require.NoError(t, err)
	var out []string
	for _, block := range strings.Split(string(doc), "```yaml\n")[1:] {
		text, _, ok := strings.Cut(block, "```")
		require.True(t, ok)
		out = append(out, text)
	}
	require.NotEmpty(t, out)
	return out
}

func policyVectors(t *testing.T, v *vectors) {
	add := func(name, text string) policyVector {
		pv := policyVectorOf(t, name, text)
		v.Policies = append(v.Policies, pv)
		return pv
	}
	for i, text := range docPolicies(t) {
		require.NotEmpty(t, add(fmt.Sprintf("docs/policy.md example %d", i+1), text).Hash, "docs/policy.md example %d", i+1)
	}
	for _, name := range []string{"example.yaml", "vector.yaml"} {
		require.NotEmpty(t, add("reserve/testdata/policy/"+name, readPolicyFile(t, name)).Hash)
	}
	require.NotEmpty(t, add("signertest.PolicyYAML, no allowlist", string(signertest.PolicyYAML(signertest.Officers()))).Hash)
	require.NotEmpty(t, add("signertest.PolicyYAML, two allowlisted", string(signertest.PolicyYAML(signertest.Officers(), addrListed, addrNew))).Hash)
	base := add("reserve basePolicy", basePolicy)
	require.NotEmpty(t, base.Hash)

	// TestParsePolicyAccepts.
	{
		tests := []struct {
			name  string
			text  string
			check func(t *testing.T, p *reserve.Policy)
		}{
			{name: "the documented example", text: readPolicyFile(t, "example.yaml"), check: func(t *testing.T, p *reserve.Policy) {
				require.Len(t, p.Officers, 3)
				require.Equal(t, 3, p.Tiers[2].Approvals)
			}},
			{name: "no velocity section", text: edit(t, basePolicy, "velocity:\n  per_24h: \"150\"\n  per_30d: \"1000\"\n", ""),
				check: func(t *testing.T, p *reserve.Policy) { require.Zero(t, p.Velocity) }},
			{name: "only a 30-day cap", text: edit(t, basePolicy, "  per_24h: \"150\"\n", ""),
				check: func(t *testing.T, p *reserve.Policy) {
					require.Equal(t, reserve.Velocity{Per30dSat: 1000 * reserve.SatPerBTC}, p.Velocity)
				}},
			{name: "equal 24-hour and 30-day caps", text: edit(t, basePolicy, `per_24h: "150"`, `per_24h: "1000"`),
				check: func(t *testing.T, p *reserve.Policy) { require.Equal(t, p.Velocity.Per30dSat, p.Velocity.Per24hSat) }},
			{name: "no allowlist entries", text: edit(t, basePolicy, basePolicy[strings.Index(basePolicy, "  entries:"):strings.Index(basePolicy, "fees:")], ""),
				check: func(t *testing.T, p *reserve.Policy) { require.Empty(t, p.Allowlist.Entries) }},
			{name: "an empty list of entries", text: edit(t, basePolicy, basePolicy[strings.Index(basePolicy, "  entries:"):strings.Index(basePolicy, "fees:")], "  entries: []\n"),
				check: func(t *testing.T, p *reserve.Policy) { require.Empty(t, p.Allowlist.Entries) }},
			{name: "a single unlimited tier", text: edit(t, basePolicy, basePolicy[strings.Index(basePolicy, "  - up_to: \"1\""):strings.Index(basePolicy, "  - up_to: unlimited")], ""),
				check: func(t *testing.T, p *reserve.Policy) {
					require.Equal(t, []reserve.Tier{{UpToSat: reserve.TierUnlimited, Approvals: 4, CoolOff: 24 * time.Hour}}, p.Tiers)
				}},
			{name: "a tier up to the whole supply before unlimited", text: edit(t, basePolicy, `up_to: "100"`, `up_to: "21000000"`),
				check: func(t *testing.T, p *reserve.Policy) { require.Equal(t, reserve.MaxSat, p.Tiers[1].UpToSat) }},
			{name: "one satoshi", text: edit(t, basePolicy, `max_fee: "0.01"`, `max_fee: "0.00000001"`),
				check: func(t *testing.T, p *reserve.Policy) { require.Equal(t, int64(1), p.Fees.MaxFeeSat) }},
			{name: "bounds of every duration", text: edit(t, basePolicy, "cool_off: 24h", "cool_off: 720h", "add_delay: 48h", "add_delay: 0s",
				"proposal_expiry: 168h", "proposal_expiry: 1m"),
				check: func(t *testing.T, p *reserve.Policy) {
					require.Equal(t, 30*24*time.Hour, p.Tiers[2].CoolOff)
					require.Zero(t, p.Allowlist.AddDelay)
					require.Equal(t, time.Minute, p.ProposalExpiry)
				}},
			{name: "longest proposal expiry", text: edit(t, basePolicy, "proposal_expiry: 168h", "proposal_expiry: 2160h"),
				check: func(t *testing.T, p *reserve.Policy) { require.Equal(t, 90*24*time.Hour, p.ProposalExpiry) }},
			{name: "unfreeze by all, refuse unlisted", text: edit(t, basePolicy, "unfreeze_approvals: 2", "unfreeze_approvals: all", "unlisted: extra_approval", "unlisted: refuse"),
				check: func(t *testing.T, p *reserve.Policy) {
					require.Equal(t, 4, p.UnfreezeApprovals)
					require.Equal(t, reserve.UnlistedRefuse, p.Allowlist.Unlisted)
				}},
			{name: "a time with an offset is kept in UTC", text: edit(t, basePolicy, "2026-11-20T00:00:00Z", "2026-11-20T09:30:00+09:30"),
				check: func(t *testing.T, p *reserve.Policy) {
					require.Equal(t, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), p.Allowlist.Entries[1].Added)
					require.Equal(t, time.UTC, p.Allowlist.Entries[1].Added.Location())
				}},
			{name: "non-ASCII names", text: edit(t, basePolicy, "name: Alice Moreau", "name: Alícia Moreau-Ünal 李"),
				check: func(t *testing.T, p *reserve.Policy) {
					require.Equal(t, "Alícia Moreau-Ünal 李", p.Officers[0].Name)
				}},
			{name: "a 64-character name", text: edit(t, basePolicy, "name: Alice Moreau", "name: "+strings.Repeat("é", 64)),
				check: func(t *testing.T, p *reserve.Policy) { require.Equal(t, strings.Repeat("é", 64), p.Officers[0].Name) }},
			{name: "flow style and quoted keys", text: edit(t, basePolicy, "  - up_to: \"1\"\n    approvals: 2\n    cool_off: 0s\n", "  - {\"up_to\": '1', approvals: 2, cool_off: 0s}\n"),
				check: func(t *testing.T, p *reserve.Policy) { require.Equal(t, reserve.SatPerBTC, p.Tiers[0].UpToSat) }},
			{name: "an explicit document start and end", text: "---\n" + basePolicy + "...\n",
				check: func(t *testing.T, p *reserve.Policy) { require.Len(t, p.Officers, 4) }},
			{name: "thirty-two officers", text: withOfficers(32, "all"),
				check: func(t *testing.T, p *reserve.Policy) {
					require.Len(t, p.Officers, 32)
					require.Equal(t, 32, p.Tiers[0].Approvals)
				}},
		}
		for _, tt := range tests {
			pv := add("accepted: "+tt.name, tt.text)
			require.NotEmpty(t, pv.Hash, "%s: %s", tt.name, pv.Error)
			p, err := reserve.ParsePolicy([]byte(tt.text))
			require.NoError(t, err)
			tt.check(t, p)
		}
	}

	// TestPolicyHashIgnoresFormatting: the base policy's hash.
	{
		tests := []struct {
			name string
			text string
		}{
			{name: "comments and blank lines", text: edit(t, basePolicy,
				"version: 1\n", "version: 1   # the format\n\n\n",
				"tiers:\n", "# approval tiers\ntiers:   # by amount\n",
				"    cool_off: 1h\n", "    cool_off: 1h # one hour\n")},
			{name: "top-level keys in another order", text: reorderTopLevel(t, basePolicy)},
			{name: "keys inside mappings in another order", text: edit(t, basePolicy,
				"  - id: alice\n    name: Alice Moreau\n    key: ed25519:"+keyAlice+"\n",
				"  - key: ed25519:"+keyAlice+"\n    name: Alice Moreau\n    id: alice\n",
				"  - up_to: \"100\"\n    approvals: 3\n    cool_off: 1h\n",
				"  - cool_off: 1h\n    approvals: 3\n    up_to: \"100\"\n",
				"fees:\n  max_fee: \"0.01\"\n  max_fee_rate: 1000\n",
				"fees:\n  max_fee_rate: 1000\n  max_fee: \"0.01\"\n")},
			{name: "wider indentation", text: strings.ReplaceAll(basePolicy, "\n  ", "\n    ")},
			{name: "flow style", text: edit(t, basePolicy,
				"velocity:\n  per_24h: \"150\"\n  per_30d: \"1000\"\n",
				"velocity: {per_30d: \"1000\", per_24h: \"150\"}\n",
				"  - up_to: \"1\"\n    approvals: 2\n    cool_off: 0s\n",
				"  - {up_to: \"1\", approvals: 2, cool_off: 0s}\n")},
			{name: "quoting styles", text: edit(t, basePolicy,
				`up_to: "1"`, `up_to: '1'`,
				"name: Bob Okafor", `name: "Bob Okafor"`,
				"unlisted: extra_approval", `"unlisted": 'extra_approval'`,
				"id: carol", `id: "carol"`)},
			{name: "officers in another order", text: edit(t, basePolicy,
				"  - id: alice\n    name: Alice Moreau\n    key: ed25519:"+keyAlice+"\n", "",
				"  - id: dave\n", "  - id: alice\n    name: Alice Moreau\n    key: ed25519:"+keyAlice+"\n  - id: dave\n")},
			{name: "allowlist entries in another order", text: edit(t, basePolicy,
				"    - address: "+addrListed+"\n      label: Central bank of X\n      added: 2026-01-01T00:00:00Z\n", "",
				"fees:\n", "    - address: "+addrListed+"\n      label: Central bank of X\n      added: 2026-01-01T00:00:00Z\nfees:\n")},
			{name: "all written as the officer count", text: edit(t, basePolicy, "approvals: all", "approvals: 4")},
			{name: "the same amounts written differently", text: edit(t, basePolicy,
				`max_fee: "0.01"`, `max_fee: "0.01000000"`, `per_24h: "150"`, `per_24h: "0150.0"`, `up_to: unlimited`, `up_to: "unlimited"`)},
			{name: "the same durations written differently", text: edit(t, basePolicy,
				"cool_off: 0s", "cool_off: 0", "cool_off: 1h", "cool_off: 60m", "add_delay: 48h", "add_delay: 47h60m", "proposal_expiry: 168h", "proposal_expiry: 10080m")},
			{name: "the same time in another zone", text: edit(t, basePolicy, "2026-11-20T00:00:00Z", "2026-11-19T19:00:00-05:00")},
			{name: "a key in upper-case hex", text: edit(t, basePolicy, keyBob, strings.ToUpper(keyBob))},
			{name: "CRLF line endings", text: strings.ReplaceAll(basePolicy, "\n", "\r\n")},
			{name: "no final newline", text: strings.TrimSuffix(basePolicy, "\n")},
		}
		for _, tt := range tests {
			require.Equal(t, base.Hash, add("same hash: "+tt.name, tt.text).Hash, tt.name)
		}
	}

	// TestPolicyHashSeesEveryChange: another hash each.
	{
		tests := []struct {
			name     string
			old, new string
		}{
			{name: "officer name", old: "name: Bob Okafor", new: "name: Bob Okafor Jr"},
			{name: "officer id", old: "id: bob", new: "id: bob2"},
			{name: "officer key", old: keyBob, new: keyErin},
			{name: "an officer more", old: "tiers:\n", new: "  - id: erin\n    name: Erin Walsh\n    key: ed25519:" + keyErin + "\ntiers:\n"},
			{name: "tier bound by one satoshi", old: `up_to: "1"`, new: `up_to: "1.00000001"`},
			{name: "tier approvals", old: "    approvals: 2", new: "    approvals: 3"},
			{name: "top tier approvals", old: "approvals: all", new: "approvals: 3"},
			{name: "tier cool-off by a nanosecond", old: "cool_off: 1h", new: "cool_off: 1h0m0.000000001s"},
			{name: "a tier more", old: "  - up_to: unlimited\n", new: "  - up_to: \"500\"\n    approvals: 4\n    cool_off: 24h\n  - up_to: unlimited\n"},
			{name: "a tier fewer", old: "  - up_to: \"1\"\n    approvals: 2\n    cool_off: 0s\n", new: ""},
			{name: "24-hour cap", old: `per_24h: "150"`, new: `per_24h: "150.00000001"`},
			{name: "no 24-hour cap", old: "  per_24h: \"150\"\n", new: ""},
			{name: "30-day cap", old: `per_30d: "1000"`, new: `per_30d: "999.99999999"`},
			{name: "no velocity caps", old: "velocity:\n  per_24h: \"150\"\n  per_30d: \"1000\"\n", new: ""},
			{name: "refuse unlisted", old: "unlisted: extra_approval", new: "unlisted: refuse"},
			{name: "add delay", old: "add_delay: 48h", new: "add_delay: 48h1s"},
			{name: "entry address", old: addrNew, new: addrOther},
			{name: "entry label", old: "label: Ministry of Finance", new: "label: Ministry of finance"},
			{name: "entry added by a second", old: "2026-11-20T00:00:00Z", new: "2026-11-20T00:00:01Z"},
			{name: "entry added by a nanosecond", old: "2026-11-20T00:00:00Z", new: "2026-11-20T00:00:00.000000001Z"},
			{name: "an entry fewer", old: "    - address: " + addrNew + "\n      label: Ministry of Finance\n      added: 2026-11-20T00:00:00Z\n", new: ""},
			{name: "max fee", old: `max_fee: "0.01"`, new: `max_fee: "0.01000001"`},
			{name: "max fee rate", old: "max_fee_rate: 1000", new: "max_fee_rate: 999"},
			{name: "proposal expiry", old: "proposal_expiry: 168h", new: "proposal_expiry: 167h"},
			{name: "unfreeze approvals", old: "unfreeze_approvals: 2", new: "unfreeze_approvals: 3"},
		}
		seen := map[string]string{base.Hash: "base"}
		for _, tt := range tests {
			pv := add("another hash: "+tt.name, edit(t, basePolicy, tt.old, tt.new))
			require.NotEmpty(t, pv.Hash, tt.name)
			other, dup := seen[pv.Hash]
			require.False(t, dup, "%s: same hash as %q", tt.name, other)
			seen[pv.Hash] = tt.name
		}
	}

	// TestParsePolicyRefuses.
	{
		tests := []struct {
			name     string
			old, new string
			text     string
			line     int
			field    string
			msg      string
		}{
			// The document as a whole.
			{name: "empty document", text: "", line: 1, msg: "the document is empty"},
			{name: "only comments", text: "# nothing\n# here\n", line: 1, msg: "the document is empty"},
			{name: "malformed YAML: unclosed quote", old: `  - up_to: "100"`, new: `  - up_to: "100`, line: 20, msg: "malformed YAML: did not find expected key (in the block that starts on this line)"},
			{name: "malformed YAML: bad indentation", old: "    approvals: 3\n", new: "      approvals: 3\n", line: 20, msg: "malformed YAML: did not find expected key"},
			{name: "malformed YAML: tab indentation", old: "    approvals: 3\n", new: "\tapprovals: 3\n", line: 21, msg: "malformed YAML"},
			{name: "the root is a list", text: "- version: 1\n", line: 1, msg: "the document must be a mapping"},
			{name: "the root is a scalar", text: "hello\n", line: 1, msg: "the document must be a mapping"},
			{name: "a second document", old: "unfreeze_approvals: 2\n", new: "unfreeze_approvals: 2\n---\nversion: 1\n", line: 44, msg: "a second YAML document"},
			{name: "an alias and its anchor", old: "    approvals: 2", new: "    approvals: &two 2\n    cool_off: *two", line: 18, field: "tiers[0].approvals", msg: "anchors and aliases (&two)"},
			{name: "an alias without an anchor", old: "unfreeze_approvals: 2", new: "unfreeze_approvals: *two", line: 43, msg: "malformed YAML: unknown anchor 'two' referenced"},
			{name: "a control character", old: "name: Bob Okafor", new: "name: Bob\x07Okafor", line: 8, msg: "contains the control character U+0007"},
			{name: "invalid UTF-8", old: "name: Bob Okafor", new: "name: Bob\xffOkafor", line: 8, msg: "is not valid UTF-8"},
			{name: "a line separator", old: "name: Bob Okafor", new: "name: Bob\u2028Okafor", line: 8, msg: "contains the line separator U+2028"},
			{name: "a control character after CR line breaks", text: "version: 1\r\rfoo: \x1b\n", line: 3, msg: "contains the control character U+001B"},
			{name: "a NUL byte", old: "# Spending", new: "#\x00 Spending", line: 1, msg: "contains the control character U+0000"},
			{name: "a merge key", old: "    approvals: 3\n    cool_off: 1h\n", new: "    <<: *base\n", line: 21, msg: "malformed YAML"},
			{name: "an explicit tag", old: `up_to: "100"`, new: `up_to: !!str 100`, line: 20, field: "tiers[1].up_to", msg: "explicit YAML tags (!!str)"},
			{name: "a list as a key", old: "proposal_expiry: 168h", new: "? [proposal_expiry]\n: 168h", line: 42, field: "policy", msg: "mapping keys must be plain field names"},

			// Fields.
			{name: "unknown top-level field", old: "proposal_expiry: 168h\n", new: "proposal_expiry: 168h\ncolour: red\n", line: 43, field: "colour", msg: "unknown field"},
			{name: "unknown officer field", old: "    name: Bob Okafor", new: "    nam: Bob Okafor", line: 8, field: "officers[1].nam", msg: "unknown field (the fields of an officer are id, name, key)"},
			{name: "unknown tier field", old: "    cool_off: 1h", new: "    cooloff: 1h", line: 22, field: "tiers[1].cooloff", msg: "unknown field"},
			{name: "unknown velocity field", old: `  per_30d: "1000"`, new: `  per_7d: "1000"`, line: 28, field: "velocity.per_7d", msg: "unknown field"},
			{name: "unknown allowlist field", old: "  add_delay: 48h", new: "  add_delay: 48h\n  delay: 1h", line: 32, field: "allowlist.delay", msg: "unknown field"},
			{name: "unknown entry field", old: "      label: Ministry of Finance", new: "      labels: Ministry of Finance", line: 37, field: "allowlist.entries[1].labels", msg: "unknown field"},
			{name: "unknown fees field", old: "  max_fee_rate: 1000", new: "  max_feerate: 1000", line: 41, field: "fees.max_feerate", msg: "unknown field"},
			{name: "a field twice", old: "proposal_expiry: 168h\n", new: "proposal_expiry: 168h\nproposal_expiry: 24h\n", line: 43, field: "proposal_expiry", msg: "appears twice (first on line 42)"},
			{name: "a tier field twice", old: "    approvals: 3\n", new: "    approvals: 3\n    approvals: 2\n", line: 22, field: "tiers[1].approvals", msg: "appears twice (first on line 21)"},
			{name: "missing officers", old: basePolicy[strings.Index(basePolicy, "officers:"):strings.Index(basePolicy, "tiers:")], new: "", line: 2, field: "officers", msg: "missing"},
			{name: "missing tiers", old: basePolicy[strings.Index(basePolicy, "tiers:"):strings.Index(basePolicy, "velocity:")], new: "", line: 2, field: "tiers", msg: "missing"},
			{name: "missing allowlist", old: basePolicy[strings.Index(basePolicy, "allowlist:"):strings.Index(basePolicy, "fees:")], new: "", line: 2, field: "allowlist", msg: "missing"},
			{name: "missing fees", old: "fees:\n  max_fee: \"0.01\"\n  max_fee_rate: 1000\n", new: "", line: 2, field: "fees", msg: "missing"},
			{name: "missing proposal expiry", old: "proposal_expiry: 168h\n", new: "", line: 2, field: "proposal_expiry", msg: "missing"},
			{name: "missing unfreeze approvals", old: "unfreeze_approvals: 2\n", new: "", line: 2, field: "unfreeze_approvals", msg: "missing"},
			{name: "missing officer key", old: "    key: ed25519:" + keyBob + "\n", new: "", line: 7, field: "officers[1].key", msg: "missing"},
			{name: "missing officer name", old: "    name: Bob Okafor\n", new: "", line: 7, field: "officers[1].name", msg: "missing"},
			{name: "missing tier cool-off", old: "    cool_off: 1h\n", new: "", line: 20, field: "tiers[1].cool_off", msg: "missing"},
			{name: "missing tier approvals", old: "    approvals: 3\n", new: "", line: 20, field: "tiers[1].approvals", msg: "missing"},
			{name: "missing unlisted", old: "  unlisted: extra_approval\n", new: "", line: 30, field: "allowlist.unlisted", msg: "missing"},
			{name: "missing add delay", old: "  add_delay: 48h\n", new: "", line: 30, field: "allowlist.add_delay", msg: "missing"},
			{name: "missing entry added", old: "      added: 2026-11-20T00:00:00Z\n", new: "", line: 36, field: "allowlist.entries[1].added", msg: "missing"},
			{name: "missing max fee rate", old: "  max_fee_rate: 1000\n", new: "", line: 40, field: "fees.max_fee_rate", msg: "missing"},
			{name: "a field without a value", old: `  per_24h: "150"`, new: "  per_24h:", line: 27, field: "velocity.per_24h", msg: "has no value"},
			{name: "a section without a value", old: "fees:\n  max_fee: \"0.01\"\n  max_fee_rate: 1000\n", new: "fees:\n", line: 39, field: "fees", msg: "has no value"},
			{name: "fees is not a mapping", old: "fees:\n  max_fee: \"0.01\"\n  max_fee_rate: 1000\n", new: "fees: 0.01\n", line: 39, field: "fees", msg: "must be fees with the fields max_fee, max_fee_rate"},

			// Version.
			{name: "version 2", old: "version: 1", new: "version: 2", line: 2, field: "version", msg: "unsupported policy version 2: this build reads version 1"},
			{name: "version 0", old: "version: 1", new: "version: 0", line: 2, field: "version", msg: "unsupported policy version 0"},
			{name: "version as a string", old: "version: 1", new: `version: "1"`, line: 2, field: "version", msg: "must be the number 1"},
			{name: "version 1.0", old: "version: 1", new: "version: 1.0", line: 2, field: "version", msg: "must be the number 1"},
			{name: "missing version", old: "version: 1\n", new: "", line: 2, field: "version", msg: "missing"},
			{name: "a newer version is refused for its version, not its fields", old: "version: 1\n", new: "version: 2\nquorum_rules: []\n", line: 2, field: "version", msg: "unsupported policy version 2"},

			// Officers.
			{name: "no officers", old: basePolicy[strings.Index(basePolicy, "officers:"):strings.Index(basePolicy, "tiers:")], new: "officers: []\n", line: 3, field: "officers", msg: "must be a list of 1 to 32 officers"},
			{name: "thirty-three officers", text: withOfficers(33, "1"), line: 3, field: "officers", msg: "lists 33 officers, more than 32"},
			{name: "duplicate officer id", old: "id: bob", new: "id: alice", line: 7, field: "officers[1].id", msg: `officer id "alice" appears twice (also officers[0])`},
			{name: "duplicate officer key", old: "key: ed25519:" + keyBob, new: "key: ed25519:" + keyAlice, line: 9, field: "officers[1].key", msg: "the same key as officers[0]"},
			{name: "duplicate key in other case", old: "key: ed25519:" + keyBob, new: "key: ed25519:" + strings.ToUpper(keyAlice), line: 9, field: "officers[1].key", msg: "the same key as officers[0]"},
			{name: "upper-case officer id", old: "id: bob", new: "id: Bob", line: 7, field: "officers[1].id", msg: "must be 1 to 32 of a-z, 0-9 and -"},
			{name: "officer id with a space", old: "id: bob", new: `id: "bob o"`, line: 7, field: "officers[1].id", msg: "must be 1 to 32 of a-z, 0-9 and -"},
			{name: "officer id too long", old: "id: bob", new: "id: " + strings.Repeat("b", 33), line: 7, field: "officers[1].id", msg: "is 33 characters, more than 32"},
			{name: "officer id a YAML number", old: "id: bob", new: "id: 007", line: 7, field: "officers[1].id", msg: "put it in quotes"},
			{name: "empty officer name", old: "name: Bob Okafor", new: `name: ""`, line: 8, field: "officers[1].name", msg: "must not be empty"},
			{name: "officer name with a tab", old: "name: Bob Okafor", new: `name: "Bob\tOkafor"`, line: 8, field: "officers[1].name", msg: "unprintable character U+0009"},
			{name: "officer name with a right-to-left override", old: "name: Bob Okafor", new: "name: \"Bob \u202eOkafor\"", line: 8, field: "officers[1].name", msg: "unprintable character U+202E"},
			{name: "officer name on two lines", old: "name: Bob Okafor", new: "name: |-\n      Bob\n      Okafor", line: 8, field: "officers[1].name", msg: "unprintable character U+000A"},
			{name: "officer name ending in a line break", old: "name: Bob Okafor", new: "name: |\n      Bob Okafor", line: 8, field: "officers[1].name", msg: "must not start or end with white space"},
			{name: "officer name with a trailing space", old: "name: Bob Okafor", new: `name: "Bob Okafor "`, line: 8, field: "officers[1].name", msg: "must not start or end with white space"},
			{name: "officer name too long", old: "name: Bob Okafor", new: "name: " + strings.Repeat("B", 65), line: 8, field: "officers[1].name", msg: "is 65 characters, more than 64"},
			{name: "key without its prefix", old: "key: ed25519:" + keyBob, new: "key: " + keyBob, line: 9, field: "officers[1].key", msg: "must be ed25519: followed by 64 hex digits"},
			{name: "key of another type", old: "key: ed25519:" + keyBob, new: "key: secp256k1:" + keyBob, line: 9, field: "officers[1].key", msg: "must be ed25519: followed by 64 hex digits"},
			{name: "key one byte short", old: "key: ed25519:" + keyBob, new: "key: ed25519:" + keyBob[:62], line: 9, field: "officers[1].key", msg: "must be ed25519: followed by 64 hex digits"},
			{name: "key one byte long", old: "key: ed25519:" + keyBob, new: "key: ed25519:" + keyBob + "00", line: 9, field: "officers[1].key", msg: "must be ed25519: followed by 64 hex digits"},
			{name: "key not hex", old: "key: ed25519:" + keyBob, new: "key: ed25519:" + keyBob[:63] + "g", line: 9, field: "officers[1].key", msg: "must be ed25519: followed by 64 hex digits"},
			{name: "officer not a mapping", old: "  - id: dave\n    name: Dave Nakamura\n    key: ed25519:" + keyDave + "\n", new: "  - dave\n", line: 13, field: "officers[3]", msg: "must be an officer with the fields id, name, key"},

			// Amounts.
			{name: "zero amount", old: `up_to: "1"`, new: `up_to: "0"`, line: 17, field: "tiers[0].up_to", msg: "must be more than zero"},
			{name: "zero with decimals", old: `max_fee: "0.01"`, new: `max_fee: "0.00000000"`, line: 40, field: "fees.max_fee", msg: "must be more than zero"},
			{name: "negative amount", old: `up_to: "1"`, new: `up_to: "-1"`, line: 17, field: "tiers[0].up_to", msg: "must be more than zero, not -1"},
			{name: "negative YAML number", old: `per_24h: "150"`, new: `per_24h: -150`, line: 27, field: "velocity.per_24h", msg: "must be more than zero, not -150"},
			{name: "over the supply", old: `per_30d: "1000"`, new: `per_30d: "21000000.00000001"`, line: 28, field: "velocity.per_30d", msg: "more than 21000000 BTC"},
			{name: "nine decimals", old: `max_fee: "0.01"`, new: `max_fee: "0.000000001"`, line: 40, field: "fees.max_fee", msg: "more than 8 decimals"},
			{name: "amount as a YAML integer", old: `up_to: "100"`, new: `up_to: 100`, line: 20, field: "tiers[1].up_to", msg: `write BTC amounts in quotes ("100"), not as YAML numbers`},
			{name: "amount as a YAML float", old: `max_fee: "0.01"`, new: `max_fee: 0.01`, line: 40, field: "fees.max_fee", msg: `write BTC amounts in quotes ("0.01")`},
			{name: "amount with an exponent", old: `max_fee: "0.01"`, new: `max_fee: "1e-2"`, line: 40, field: "fees.max_fee", msg: "is not a decimal number of BTC"},
			{name: "amount as a list", old: `max_fee: "0.01"`, new: `max_fee: ["0.01"]`, line: 40, field: "fees.max_fee", msg: "must be an amount of BTC in quotes"},
			{name: "up_to a word", old: "up_to: unlimited", new: "up_to: infinite", line: 23, field: "tiers[2].up_to", msg: "or the word unlimited"},
			{name: "up_to Unlimited", old: "up_to: unlimited", new: "up_to: Unlimited", line: 23, field: "tiers[2].up_to", msg: "or the word unlimited"},

			// Tiers.
			{name: "no tiers", old: basePolicy[strings.Index(basePolicy, "tiers:"):strings.Index(basePolicy, "velocity:")], new: "tiers: []\n", line: 16, field: "tiers", msg: "must be a list of 1 to 16 tiers"},
			{name: "tiers out of order", old: `up_to: "100"`, new: `up_to: "0.5"`, line: 20, field: "tiers[1].up_to", msg: "0.50000000 BTC must be more than tiers[0].up_to (1.00000000 BTC)"},
			{name: "overlapping tiers", old: `up_to: "100"`, new: `up_to: "1.0"`, line: 20, field: "tiers[1].up_to", msg: "1.00000000 BTC must be more than tiers[0].up_to (1.00000000 BTC)"},
			{name: "a tier after unlimited", old: `  - up_to: "100"`, new: `  - up_to: unlimited`, line: 23, field: "tiers[2].up_to", msg: "tiers[1] is unlimited, so no tier may follow it"},
			{name: "no unlimited tier", old: "up_to: unlimited", new: `up_to: "1000"`, line: 23, field: "tiers[2].up_to", msg: "the last tier must be up_to: unlimited"},
			{name: "more than sixteen tiers", text: edit(t, basePolicy, "  - up_to: unlimited\n", extraTiers()+"  - up_to: unlimited\n"), line: 17, field: "tiers", msg: "lists 19 tiers, more than 16"},
			{name: "zero approvals", old: "    approvals: 2", new: "    approvals: 0", line: 18, field: "tiers[0].approvals", msg: "must be at least 1"},
			{name: "negative approvals", old: "    approvals: 2", new: "    approvals: -1", line: 18, field: "tiers[0].approvals", msg: "must be a number of officers or the word all"},
			{name: "more approvals than officers", old: "approvals: 3", new: "approvals: 5", line: 21, field: "tiers[1].approvals", msg: "5 approvals needed but the policy has only 4 officers"},
			{name: "approvals in words", old: "approvals: 3", new: "approvals: three", line: 21, field: "tiers[1].approvals", msg: "must be a number of officers or the word all"},
			{name: "approvals quoted", old: "approvals: 3", new: `approvals: "3"`, line: 21, field: "tiers[1].approvals", msg: "written without quotes"},
			{name: "approvals in hex", old: "approvals: 3", new: "approvals: 0x3", line: 21, field: "tiers[1].approvals", msg: "must be a number of officers or the word all"},
			{name: "approvals ALL", old: "approvals: all", new: "approvals: ALL", line: 24, field: "tiers[2].approvals", msg: "must be a number of officers or the word all"},
			{name: "fewer approvals for more money", old: "approvals: 3", new: "approvals: 1", line: 21, field: "tiers[1].approvals", msg: "1 is fewer than tiers[0].approvals (2)"},
			{name: "shorter cool-off for more money", old: "cool_off: 24h", new: "cool_off: 30m", line: 25, field: "tiers[2].cool_off", msg: "30m0s is shorter than tiers[1].cool_off (1h0m0s)"},

			// Durations.
			{name: "negative cool-off", old: "cool_off: 0s", new: "cool_off: -1s", line: 19, field: "tiers[0].cool_off", msg: "-1s is outside 0s to 720h (30 days)"},
			{name: "cool-off over 30 days", old: "cool_off: 24h", new: "cool_off: 720h1s", line: 25, field: "tiers[2].cool_off", msg: "is outside 0s to 720h (30 days)"},
			{name: "cool-off without a unit", old: "cool_off: 1h", new: "cool_off: 60", line: 22, field: "tiers[1].cool_off", msg: "missing unit"},
			{name: "cool-off in days", old: "cool_off: 24h", new: "cool_off: 1d", line: 25, field: "tiers[2].cool_off", msg: "there is no d"},
			{name: "cool-off as a list", old: "cool_off: 24h", new: "cool_off: [24h]", line: 25, field: "tiers[2].cool_off", msg: "must be a duration like 48h or 30m"},
			{name: "negative add delay", old: "add_delay: 48h", new: "add_delay: -48h", line: 31, field: "allowlist.add_delay", msg: "is outside 0s to 720h (30 days)"},
			{name: "add delay over 30 days", old: "add_delay: 48h", new: "add_delay: 721h", line: 31, field: "allowlist.add_delay", msg: "is outside 0s to 720h (30 days)"},
			{name: "proposal expiry under a minute", old: "proposal_expiry: 168h", new: "proposal_expiry: 59s", line: 42, field: "proposal_expiry", msg: "59s is outside 1m to 2160h (90 days)"},
			{name: "proposal expiry zero", old: "proposal_expiry: 168h", new: "proposal_expiry: 0s", line: 42, field: "proposal_expiry", msg: "is outside 1m to 2160h (90 days)"},
			{name: "proposal expiry over 90 days", old: "proposal_expiry: 168h", new: "proposal_expiry: 2160h1s", line: 42, field: "proposal_expiry", msg: "is outside 1m to 2160h (90 days)"},

			// Velocity.
			{name: "24-hour cap over the 30-day cap", old: `per_24h: "150"`, new: `per_24h: "1000.00000001"`, line: 27, field: "velocity.per_24h", msg: "1000.00000001 BTC is more than velocity.per_30d (1000.00000000 BTC)"},
			{name: "zero velocity cap", old: `per_24h: "150"`, new: `per_24h: "0"`, line: 27, field: "velocity.per_24h", msg: "must be more than zero"},

			// Allowlist.
			{name: "unknown unlisted action", old: "unlisted: extra_approval", new: "unlisted: allow", line: 30, field: "allowlist.unlisted", msg: "must be extra_approval or refuse"},
			{name: "duplicate allowlist address", old: "address: " + addrNew, new: "address: " + addrListed, line: 36, field: "allowlist.entries[1].address", msg: addrListed + " is listed twice (also allowlist.entries[0])"},
			{name: "address with a space", old: "address: " + addrNew, new: `address: "bc1q rp33"`, line: 36, field: "allowlist.entries[1].address", msg: "contains a space"},
			{name: "empty address", old: "address: " + addrNew, new: `address: ""`, line: 36, field: "allowlist.entries[1].address", msg: "must be an address"},
			{name: "address too long", old: "address: " + addrNew, new: "address: bc1q" + strings.Repeat("q", 97), line: 36, field: "allowlist.entries[1].address", msg: "is 101 characters, more than 100"},
			{name: "address a YAML number", old: "address: " + addrNew, new: "address: 12345", line: 36, field: "allowlist.entries[1].address", msg: "must be an address"},
			{name: "empty label", old: "label: Ministry of Finance", new: `label: ""`, line: 37, field: "allowlist.entries[1].label", msg: "must not be empty"},
			{name: "added as a date", old: "added: 2026-11-20T00:00:00Z", new: "added: 2026-11-20", line: 38, field: "allowlist.entries[1].added", msg: "must be an RFC 3339 time with a zone"},
			{name: "added without a zone", old: "added: 2026-11-20T00:00:00Z", new: "added: 2026-11-20T00:00:00", line: 38, field: "allowlist.entries[1].added", msg: "must be an RFC 3339 time with a zone"},
			{name: "added with a decimal comma", old: "added: 2026-11-20T00:00:00Z", new: "added: 2026-11-20T00:00:00,5Z", line: 38, field: "allowlist.entries[1].added", msg: "must be an RFC 3339 time with a zone"},
			{name: "added in lower case", old: "added: 2026-11-20T00:00:00Z", new: "added: 2026-11-20t00:00:00z", line: 38, field: "allowlist.entries[1].added", msg: "must be an RFC 3339 time with a zone"},
			{name: "added with a space", old: "added: 2026-11-20T00:00:00Z", new: "added: 2026-11-20 00:00:00Z", line: 38, field: "allowlist.entries[1].added", msg: "must be an RFC 3339 time with a zone"},
			{name: "added on a day that does not exist", old: "added: 2026-11-20T00:00:00Z", new: "added: 2026-02-30T00:00:00Z", line: 38, field: "allowlist.entries[1].added", msg: "must be an RFC 3339 time with a zone"},
			{name: "entries not a list", old: basePolicy[strings.Index(basePolicy, "  entries:"):strings.Index(basePolicy, "fees:")], new: "  entries: " + addrListed + "\n", line: 32, field: "allowlist.entries", msg: "must be a list of entries"},

			// Fees, unfreeze.
			{name: "zero fee rate", old: "max_fee_rate: 1000", new: "max_fee_rate: 0", line: 41, field: "fees.max_fee_rate", msg: "0 sat/vB is outside 1 to 100000"},
			{name: "fee rate over its bound", old: "max_fee_rate: 1000", new: "max_fee_rate: 100001", line: 41, field: "fees.max_fee_rate", msg: "100001 sat/vB is outside 1 to 100000"},
			{name: "fractional fee rate", old: "max_fee_rate: 1000", new: "max_fee_rate: 2.5", line: 41, field: "fees.max_fee_rate", msg: "must be a whole number of sat/vB"},
			{name: "quoted fee rate", old: "max_fee_rate: 1000", new: `max_fee_rate: "1000"`, line: 41, field: "fees.max_fee_rate", msg: "written without quotes"},
			{name: "unfreeze by more than the officers", old: "unfreeze_approvals: 2", new: "unfreeze_approvals: 5", line: 43, field: "unfreeze_approvals", msg: "5 approvals needed but the policy has only 4 officers"},
			{name: "unfreeze by nobody", old: "unfreeze_approvals: 2", new: "unfreeze_approvals: 0", line: 43, field: "unfreeze_approvals", msg: "must be at least 1"},
		}
		for _, tt := range tests {
			text := tt.text
			if text == "" && tt.old != "" {
				text = edit(t, basePolicy, tt.old, tt.new)
			}
			pv := add("refused: "+tt.name, text)
			require.Empty(t, pv.Hash, tt.name)
			require.Equal(t, tt.line, pv.Line, "%s: %s", tt.name, pv.Error)
			require.Contains(t, pv.Error, tt.msg, tt.name)
			if tt.field != "" {
				require.Equal(t, tt.field, pv.Field, tt.name)
			}
		}
	}
	// The proofs section (reserve/policy_proofs_test.go): the defaults,
	// spelled out in whole or in part, hash as no section; every other
	// section is its own policy; every refusal.
	{
		withProofs := func(section string) string {
			return edit(t, basePolicy, "unfreeze_approvals: 2\n", "unfreeze_approvals: 2\nproofs:"+section)
		}
		one := strings.Replace(basePolicy, "unfreeze_approvals: 2\n", "unfreeze_approvals: 1\n", 1)
		oneBase := add("proofs: one unfreeze approval, no section", one)
		single := add("proofs: one officer, no section", withOfficers(1, "1"))
		defaults := []struct {
			name string
			base policyVector
			text string
		}{
			{name: "both fields", base: base, text: withProofs("\n  requesters: [officer]\n  approvals: 1\n")},
			{name: "block style", base: base, text: withProofs("\n  requesters:\n    - officer\n  approvals: 1\n")},
			{name: "only requesters", base: base, text: withProofs("\n  requesters: [officer]\n")},
			{name: "only approvals", base: base, text: withProofs("\n  approvals: 1\n")},
			{name: "an empty section", base: base, text: withProofs(" {}\n")},
			{name: "a quoted role", base: base, text: withProofs("\n  requesters: [\"officer\"]\n")},
			{name: "all with one officer", base: single, text: withOfficers(1, "1") + "proofs:\n  approvals: all\n"},
			{name: "placed before the other fields", base: oneBase, text: "proofs: {approvals: 1, requesters: [officer]}\n" + one},
		}
		for _, tt := range defaults {
			pv := add("proofs, the defaults hash as none: "+tt.name, tt.text)
			require.Equal(t, tt.base.Hash, pv.Hash, tt.name)
			require.Equal(t, tt.base.Canonical, pv.Canonical, tt.name)
		}
		seen := map[string]string{base.Hash: "no section"}
		for _, tt := range []struct{ name, section string }{
			{name: "auditors request", section: "\n  requesters: [auditor]\n"},
			{name: "admins request", section: "\n  requesters: [admin]\n"},
			{name: "officers and auditors request", section: "\n  requesters: [officer, auditor]\n"},
			{name: "every role requests", section: "\n  requesters: [officer, admin, auditor]\n"},
			{name: "two approvals", section: "\n  approvals: 2\n"},
			{name: "all approve", section: "\n  approvals: all\n"},
			{name: "auditors request, three approve", section: "\n  requesters: [auditor]\n  approvals: 3\n"},
		} {
			pv := add("proofs, another hash: "+tt.name, withProofs(tt.section))
			require.NotEmpty(t, pv.Hash, "%s: %s", tt.name, pv.Error)
			require.True(t, strings.HasPrefix(pv.Canonical, base.Canonical), tt.name)
			other, dup := seen[pv.Hash]
			require.False(t, dup, "%s: same hash as %q", tt.name, other)
			seen[pv.Hash] = tt.name
		}
		// The order the roles are listed in is not part of the policy.
		require.Equal(t, "officers and auditors request", seen[add("proofs, roles in another order", withProofs("\n  requesters: [auditor, officer]\n")).Hash])
		require.NotEmpty(t, add("docs/policy.md proofs vector", readPolicyFile(t, "vector.yaml")+"proofs:\n  requesters: [officer, auditor]\n  approvals: 2\n").Hash)

		refusals := []struct {
			name    string
			section string
			line    int
			field   string
			msg     string
		}{
			{name: "no value", section: "\n", line: 44, field: "proofs", msg: "has no value"},
			{name: "not a mapping", section: " [officer]\n", line: 44, field: "proofs", msg: "must be proofs with the fields requesters, approvals"},
			{name: "a scalar", section: " officer\n", line: 44, field: "proofs", msg: "must be proofs with the fields requesters, approvals"},
			{name: "unknown field", section: "\n  requester: [officer]\n", line: 45, field: "proofs.requester", msg: "unknown field (the fields of proofs are requesters, approvals)"},
			{name: "a field twice", section: "\n  approvals: 1\n  approvals: 2\n", line: 46, field: "proofs.approvals", msg: "appears twice (first on line 45)"},
			{name: "requesters without a value", section: "\n  requesters:\n", line: 45, field: "proofs.requesters", msg: "has no value"},
			{name: "no requesters", section: "\n  requesters: []\n", line: 45, field: "proofs.requesters", msg: "must be a list of the roles that may request a proof, one or more of admin, auditor, officer"},
			{name: "requesters not a list", section: "\n  requesters: officer\n", line: 45, field: "proofs.requesters", msg: "must be a list of the roles"},
			{name: "requesters a mapping", section: "\n  requesters: {officer: 1}\n", line: 45, field: "proofs.requesters", msg: "must be a list of the roles"},
			{name: "an unknown role", section: "\n  requesters: [officer, signer]\n", line: 45, field: "proofs.requesters[1]", msg: "must be one of the roles admin, auditor, officer"},
			{name: "an officer id as a role", section: "\n  requesters: [alice]\n", line: 45, field: "proofs.requesters[0]", msg: "must be one of the roles"},
			{name: "a role in upper case", section: "\n  requesters: [Officer]\n", line: 45, field: "proofs.requesters[0]", msg: "must be one of the roles"},
			{name: "an empty role", section: "\n  requesters: [\"\"]\n", line: 45, field: "proofs.requesters[0]", msg: "must be one of the roles"},
			{name: "a null role", section: "\n  requesters:\n    -\n", line: 46, field: "proofs.requesters[0]", msg: "must be one of the roles"},
			{name: "a number as a role", section: "\n  requesters: [1]\n", line: 45, field: "proofs.requesters[0]", msg: "must be one of the roles"},
			{name: "a list as a role", section: "\n  requesters: [[officer]]\n", line: 45, field: "proofs.requesters[0]", msg: "must be one of the roles"},
			{name: "a role twice", section: "\n  requesters:\n    - officer\n    - auditor\n    - officer\n", line: 48, field: "proofs.requesters[2]", msg: "officer is listed twice (also proofs.requesters[0])"},
			{name: "approvals without a value", section: "\n  approvals:\n", line: 45, field: "proofs.approvals", msg: "has no value"},
			{name: "no approvals", section: "\n  approvals: 0\n", line: 45, field: "proofs.approvals", msg: "must be at least 1"},
			{name: "more approvals than officers", section: "\n  approvals: 5\n", line: 45, field: "proofs.approvals", msg: "5 approvals needed but the policy has only 4 officers"},
			{name: "quoted approvals", section: "\n  approvals: \"2\"\n", line: 45, field: "proofs.approvals", msg: "written without quotes"},
			{name: "negative approvals", section: "\n  approvals: -1\n", line: 45, field: "proofs.approvals", msg: "must be a number of officers or the word all"},
			{name: "approvals none", section: "\n  approvals: none\n", line: 45, field: "proofs.approvals", msg: "must be a number of officers or the word all"},
		}
		for _, tt := range refusals {
			pv := add("refused: proofs, "+tt.name, withProofs(tt.section))
			require.Empty(t, pv.Hash, tt.name)
			require.Equal(t, tt.line, pv.Line, "%s: %s", tt.name, pv.Error)
			require.Contains(t, pv.Error, tt.msg, tt.name)
			require.Equal(t, tt.field, pv.Field, tt.name)
		}
	}
	for _, r := range morePolicies(t) {
		pv := add("yaml: "+r.name, r.text)
		if r.ok != (pv.Hash != "") {
			t.Errorf("%s: want accepted %v: %s", r.name, r.ok, pv.Error)
		}
	}
}

// morePolicies are documents for the YAML reader: the forms yaml.v3 reads
// the same as the plain block style, and those it refuses.
func morePolicies(t *testing.T) []struct {
	name, text string
	ok         bool
} {
	e := func(pairs ...string) string { return edit(t, basePolicy, pairs...) }
	bob := "    name: Bob Okafor\n"
	return []struct {
		name, text string
		ok         bool
	}{
		{"a folded name", e(bob, "    name: >-\n      Bob\n      Okafor\n"), true},
		{"a folded name with a clipped line break", e(bob, "    name: >\n      Bob\n      Okafor\n"), false},
		{"a literal name kept", e(bob, "    name: |+\n      Bob Okafor\n\n"), false},
		{"a literal name with an indentation indicator", e(bob, "    name: |2-\n        Bob Okafor\n"), false},
		{"a literal name with a comment", e(bob, "    name: |- # the name\n      Bob Okafor\n"), true},
		{"a name on two plain lines", e(bob, "    name: Bob\n      Okafor\n"), true},
		{"a name on two plain lines with a blank line", e(bob, "    name: Bob\n\n      Okafor\n"), false},
		{"a double-quoted name on two lines", e(bob, "    name: \"Bob\n      Okafor\"\n"), true},
		{"a single-quoted name with a quote", e(bob, "    name: 'Bob O''Kafor'\n"), true},
		{"a double-quoted name with escapes", e(bob, "    name: \"B\\x6fb \\u004Fkafor\"\n"), true},
		{"a double-quoted name with an escaped line break", e(bob, "    name: \"Bob \\\n      Okafor\"\n"), true},
		{"a double-quoted name with a tab escape", e(bob, "    name: \"Bob\\tOkafor\"\n"), false},
		{"a double-quoted name with an unknown escape", e(bob, "    name: \"Bob\\qOkafor\"\n"), false},
		{"a name with a hash", e(bob, "    name: Bob#Okafor\n"), true},
		{"a name with a comment", e(bob, "    name: Bob Okafor # the second officer\n"), true},
		{"a name with a colon", e(bob, "    name: 'Bob: Okafor'\n"), true},
		{"a name with a colon, unquoted", e(bob, "    name: Bob:Okafor\n"), true},
		{"a name that is a mapping", e(bob, "    name: Bob: Okafor\n"), false},
		{"a name that is a date", e(bob, "    name: 2026-01-02\n"), false},
		{"a name that is true", e(bob, "    name: true\n"), false},
		{"a name that is yes", e(bob, "    name: yes\n"), true},
		{"a name that is null", e(bob, "    name: null\n"), false},
		{"a name that is ~", e(bob, "    name: ~\n"), false},
		{"a name that is a float", e(bob, "    name: .5\n"), false},
		{"a name that is hex", e(bob, "    name: 0x1F\n"), false},
		{"a name that is octal", e(bob, "    name: 0o17\n"), false},
		{"a name that is 08", e(bob, "    name: 08\n"), false},
		{"a name that is 1_000", e(bob, "    name: 1_000\n"), false},
		{"a name that is .inf", e(bob, "    name: .inf\n"), false},
		{"a name that is 1e5", e(bob, "    name: 1e5\n"), false},
		{"a name that is 1e999", e(bob, "    name: 1e999\n"), true},
		{"a name that is 99999999999999999999", e(bob, "    name: 99999999999999999999\n"), false},
		{"a name that is 18446744073709551615", e(bob, "    name: 18446744073709551615\n"), false},
		{"a name that is +1", e(bob, "    name: +1\n"), false},
		{"a name that is -", e(bob, "    name: -x\n"), true},
		{"a name that is a short date and time", e(bob, "    name: 2026-1-2 3:04:05\n"), false},
		{"a name that is an impossible date", e(bob, "    name: 2026-02-30\n"), true},
		{"a tab after a colon", e(bob, "    name:\tBob Okafor\n"), true},
		{"a tab in the indentation", e(bob, "\tname: Bob Okafor\n"), false},
		{"a tab on a blank line", e(bob, bob+"\t\n"), false},
		{"a tab before a comment", e(bob, bob+"  \t# comment\n"), false},
		{"a tab after a dash", e("  - id: bob\n", "  -\tid: bob\n"), false},
		{"a trailing tab", e(bob, "    name: Bob Okafor\t\n"), true},
		{"a comment between entries", e(bob, bob+"    # the key:\n"), true},
		{"a comment at column 0 inside a list", e(bob, bob+"# the key:\n"), true},
		{"trailing spaces everywhere", strings.ReplaceAll(basePolicy, "\n", "  \n"), true},
		{"an indentless officers list", strings.ReplaceAll(e("tiers:\n", "tiers:\n"), "\n  - id:", "\n- id:"), false},
		{"indentless lists", strings.NewReplacer("\n  - ", "\n- ", "\n    ", "\n  ").Replace(basePolicy), true},
		{"a flow list of officers over several lines", e("  - id: alice\n    name: Alice Moreau\n    key: ed25519:"+keyAlice+"\n",
			"  - {id: alice,\n     name: Alice Moreau,\n     key: \"ed25519:"+keyAlice+"\"}\n"), true},
		{"a flow mapping with JSON keys", e("velocity:\n  per_24h: \"150\"\n  per_30d: \"1000\"\n", "velocity: {\"per_24h\":\"150\",\"per_30d\":\"1000\"}\n"), true},
		{"a flow mapping with a trailing comma", e("velocity:\n  per_24h: \"150\"\n  per_30d: \"1000\"\n", "velocity: {per_24h: \"150\", per_30d: \"1000\",}\n"), true},
		{"an unclosed flow mapping", e("velocity:\n  per_24h: \"150\"\n  per_30d: \"1000\"\n", "velocity: {per_24h: \"150\", per_30d: \"1000\"\n"), false},
		{"a flow list with a pair", e("  entries:\n", "  entries: [a: b]\n  x:\n"), false},
		{"an empty entries list in flow", basePolicy[:strings.Index(basePolicy, "  entries:")] + "  entries: [ ]\n" + basePolicy[strings.Index(basePolicy, "fees:"):], true},
		{"entries: null", basePolicy[:strings.Index(basePolicy, "  entries:")] + "  entries: ~\n" + basePolicy[strings.Index(basePolicy, "fees:"):], false},
		{"an anchor on a key", e("proposal_expiry: 168h", "&k proposal_expiry: 168h"), false},
		{"an anchor on a mapping", e("velocity:\n", "velocity: &v\n"), false},
		{"a tag on a mapping", e("velocity:\n", "velocity: !!map\n"), false},
		{"a local tag", e(bob, "    name: !name Bob Okafor\n"), false},
		{"a verbatim tag", e(bob, "    name: !<tag:yaml.org,2002:str> Bob Okafor\n"), false},
		{"an undefined tag handle", e(bob, "    name: !e!name Bob Okafor\n"), false},
		{"an alias of a known anchor", e("    approvals: 2", "    approvals: &two 2", "    approvals: 3", "    approvals: *two"), false},
		{"a quoted key", e("proposal_expiry: 168h", "\"proposal_expiry\": 168h"), true},
		{"a key with a space before the colon", e("proposal_expiry: 168h", "proposal_expiry : 168h"), true},
		{"a key without a space after the colon", e("proposal_expiry: 168h", "proposal_expiry:168h"), false},
		{"a value on the next line", e("proposal_expiry: 168h", "proposal_expiry:\n  168h"), true},
		{"a value at the key's column", e("proposal_expiry: 168h", "proposal_expiry:\n168h"), false},
		{"a document end then a comment", basePolicy + "...\n# done\n", true},
		{"a document end then text", basePolicy + "...\nversion: 1\n", false},
		{"a document start with a comment", "--- # the policy\n" + basePolicy, true},
		{"a second empty document", basePolicy + "---\n", false},
		{"a directive", "%YAML 1.1\n---\n" + basePolicy, true},
		{"only a document start", "---\n", false},
		{"a byte order mark", "\ufeff" + basePolicy, true},
		{"a root at column 2", strings.ReplaceAll("\n"+basePolicy, "\n", "\n  ")[1:], true},
		{"a root with a less indented line", strings.ReplaceAll("\n"+basePolicy, "\n", "\n  ")[1:] + "x: 1\n", false},
		{"an unclosed single quote", e(bob, "    name: 'Bob Okafor\n"), false},
		{"a quote ending at a document marker", e(bob, "    name: 'Bob Okafor\n---\n'\n"), false},
		{"a block scalar with a tab in the indentation", e(bob, "    name: |-\n\t Bob Okafor\n"), false},
		{"a block scalar with indicator 0", e(bob, "    name: |0\n      Bob Okafor\n"), false},
		{"CR line breaks", strings.ReplaceAll(basePolicy, "\n", "\r"), true},
		{"a duration with a fraction", e("cool_off: 1h", "cool_off: 1.5h"), true},
		{"a duration in microseconds", e("cool_off: 0s", "cool_off: 1µs"), true},
		{"a duration with a plus sign", e("cool_off: 1h", "cool_off: +1h"), true},
		{"a duration overflowing", e("cool_off: 1h", "cool_off: 9999999999999999999h"), false},
		{"a duration of no digits", e("cool_off: 1h", "cool_off: .h"), false},
		{"a duration of a long fraction", e("cool_off: 1h", "cool_off: 0.99999999999999999999999h"), true},
		{"a duration of mixed units", e("cool_off: 1h", "cool_off: 1h30m15.5s1ms2us3ns"), true},
		{"a time with a zone hour of 24", e("2026-11-20T00:00:00Z", "2026-11-20T00:00:00+24:00"), true},
		{"a time with a zone minute of 60", e("2026-11-20T00:00:00Z", "2026-11-20T00:00:00+23:60"), true},
		{"a time with a zone hour of 25", e("2026-11-20T00:00:00Z", "2026-11-20T00:00:00+25:00"), false},
		{"a time on a leap day", e("2026-11-20T00:00:00Z", "2028-02-29T12:00:00.5Z"), true},
		{"a time on a non-leap day", e("2026-11-20T00:00:00Z", "2100-02-29T12:00:00Z"), false},
		{"a time before 1970", e("2026-11-20T00:00:00Z", "0001-01-01T00:00:00.000000001Z"), true},
		{"a time at second 60", e("2026-11-20T00:00:00Z", "2026-11-20T00:00:60Z"), false},
		{"a time with hour 24", e("2026-11-20T00:00:00Z", "2026-11-20T24:00:00Z"), false},
		{"a quoted time", e("2026-11-20T00:00:00Z", "\"2026-11-20T00:00:00Z\""), true},
		{"an amount with leading zeros", e(`max_fee: "0.01"`, `max_fee: "000.01"`), true},
		{"an amount with a plus sign", e(`max_fee: "0.01"`, `max_fee: "+0.01"`), false},
		{"an amount with no whole part", e(`max_fee: "0.01"`, `max_fee: ".01"`), false},
		{"an amount ending in a dot", e(`max_fee: "0.01"`, `max_fee: "1."`), false},
		{"an amount with a space", e(`max_fee: "0.01"`, `max_fee: "0. 01"`), false},
		{"an amount of a unicode digit", e(`max_fee: "0.01"`, "max_fee: \"١\""), false},
		{"an up_to with a letter", e(`up_to: "1"`, `up_to: "1btc"`), false},
		{"a name with a combining mark", e(bob, "    name: Bób Okafor\n"), true},
		{"a name with a no-break space at the end", e(bob, "    name: \"Bob Okafor \"\n"), false},
		{"a name with a zero-width space", e(bob, "    name: \"Bob​Okafor\"\n"), false},
		{"a name with an emoji", e(bob, "    name: Bob 😀\n"), true},
		{"a name of 64 emoji", e(bob, "    name: "+strings.Repeat("😀", 64)+"\n"), true},
		{"a name of 65 emoji", e(bob, "    name: "+strings.Repeat("😀", 65)+"\n"), false},
		{"a name with a quote", e(bob, "    name: Bob \"O\" Okafor\n"), true},
		{"an id with a quote", e("id: bob", "id: 'b\"ob'"), false},
		{"an address of non-ASCII", e("address: "+addrNew, "address: bc1qé"), false},
		{"allowlisted addresses sorted by bytes", e("address: "+addrNew, "address: BC1QZZZ"), true},
	}
}

// Officer keys are Ed25519 public keys from fixed seeds: 32 bytes of 0x01
// (alice), 0x02 (bob), 0x03 (carol), 0x04 (dave), 0x05 (erin).
const (
	keyAlice = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
	keyBob   = "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394"
	keyCarol = "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"
	keyDave  = "ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c"
	keyErin  = "6e7a1cdd29b0b78fd13af4c5598feff4ef2a97166e3ca6f2e4fbfccd80505bf1"
)

// Allowlisted addresses (BIP-173 and BIP-350 examples; the policy checks
// only their shape).
const (
	addrListed = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
	addrNew    = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
	addrOther  = "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y"
)

// basePolicy is the policy most tests start from; the bad-input table
// edits it and names line numbers in it. Four officers; tiers 1 BTC / 2,
// 100 BTC / 3, unlimited / all; addrNew takes effect 2026-11-22T00:00:00Z.
const basePolicy = `# Spending policy of the test reserve.
version: 1
officers:
  - id: alice
    name: Alice Moreau
    key: ed25519:` + keyAlice + `
  - id: bob
    name: Bob Okafor
    key: ed25519:` + keyBob + `
  - id: carol
    name: Carol Lindqvist
    key: ed25519:` + keyCarol + `
  - id: dave
    name: Dave Nakamura
    key: ed25519:` + keyDave + `
tiers:
  - up_to: "1"
    approvals: 2
    cool_off: 0s
  - up_to: "100"
    approvals: 3
    cool_off: 1h
  - up_to: unlimited
    approvals: all
    cool_off: 24h
velocity:
  per_24h: "150"
  per_30d: "1000"
allowlist:
  unlisted: extra_approval
  add_delay: 48h
  entries:
    - address: ` + addrListed + `
      label: Central bank of X
      added: 2026-01-01T00:00:00Z
    - address: ` + addrNew + `
      label: Ministry of Finance
      added: 2026-11-20T00:00:00Z
fees:
  max_fee: "0.01"
  max_fee_rate: 1000
proposal_expiry: 168h
unfreeze_approvals: 2
`

// edit applies replacements to text, each of which must match exactly once.
func edit(tb testing.TB, text string, pairs ...string) string {
	tb.Helper()
	require.Zero(tb, len(pairs)%2, "edit takes old, new pairs")
	for i := 0; i < len(pairs); i += 2 {
		require.Equal(tb, 1, strings.Count(text, pairs[i]), "edit: %q must occur once", pairs[i])
		text = strings.Replace(text, pairs[i], pairs[i+1], 1)
	}
	return text
}

// withOfficers is a policy with n officers whose keys are distinct but not
// real, and one unlimited tier needing approvals.
func withOfficers(n int, approvals string) string {
	var b strings.Builder
	b.WriteString("version: 1\nofficers:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - id: officer-%d\n    name: Officer %d\n    key: ed25519:%064x\n", i, i, i+1)
	}
	fmt.Fprintf(&b, "tiers:\n  - up_to: unlimited\n    approvals: %s\n    cool_off: 0s\n", approvals)
	b.WriteString("allowlist:\n  unlisted: refuse\n  add_delay: 0s\nfees:\n  max_fee: \"0.01\"\n  max_fee_rate: 100\n")
	b.WriteString("proposal_expiry: 24h\nunfreeze_approvals: 1\n")
	return b.String()
}

func readPolicyFile(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "reserve", "testdata", "policy", name))
	require.NoError(tb, err)
	return string(b)
}

// extraTiers returns 16 tiers above 100 BTC, which with the base's three
// make 19.
func extraTiers() string {
	var b strings.Builder
	for i := 0; i < 16; i++ {
		fmt.Fprintf(&b, "  - up_to: \"%d\"\n    approvals: 4\n    cool_off: 24h\n", 200+i)
	}
	return b.String()
}

// reorderTopLevel reverses the order of the top-level fields of text.
func reorderTopLevel(tb testing.TB, text string) string {
	tb.Helper()
	var blocks []string
	for _, line := range strings.SplitAfter(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, " ") {
			blocks = append(blocks, "")
		}
		blocks[len(blocks)-1] += line
	}
	require.Greater(tb, len(blocks), 5)
	var b strings.Builder
	for i := len(blocks) - 1; i >= 0; i-- {
		b.WriteString(blocks[i])
	}
	return b.String()
}
