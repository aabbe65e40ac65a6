package reserve_test

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

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

// Test vector of docs/policy.md: the hash and canonical encoding of
// testdata/policy/vector.yaml, field by field as the document lists them.
const vectorHash = "35b9752f02cc46e94d4f7a9cad0d14e3c168f44ea51a7432c44ac4a8926fc1c4"

var vectorCanonical = strings.Join([]string{
	"00000010" + "637573746f732f706f6c6963792f7631", // tag "custos/policy/v1"
	"00000001",                              // version 1
	"00000002",                              // 2 officers, sorted by id
	"00000005" + "616c696365",               // officers: id "alice"
	"0000000c" + "416c696365204d6f72656175", // name "Alice Moreau"
	"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c", // key
	"00000003" + "626f62",                                              // officers: id "bob"
	"0000000a" + "426f62204f6b61666f72",                                // name "Bob Okafor"
	"8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394", // key
	"00000002",         // 2 tiers
	"0000000002faf080", // tiers[0].up_to "0.5" = 50000000 sat
	"00000001",         // approvals 1
	"0000000000000000", // cool_off 0s
	"7fffffffffffffff", // tiers[1].up_to unlimited
	"00000002",         // approvals all = 2
	"00004e94914f0000", // cool_off 24h in ns
	"000000003b9aca00", // velocity.per_24h "10" = 1000000000 sat
	"0000000000000000", // velocity.per_30d absent
	"02",               // allowlist.unlisted refuse
	"00009d29229e0000", // add_delay 48h in ns
	"00000001",         // 1 entry, sorted by address
	"0000002a" + "6263317177353038643671656a7874646734793572337a6172766172793063357877376b763866337434", // address
	"00000011" + "43656e7472616c2062616e6b206f662058",                                                   // label
	"000000006aff8d80", // added 2026-11-20T00:00:00Z: Unix seconds
	"00000000",         // nanoseconds
	"00000000000f4240", // fees.max_fee "0.01" = 1000000 sat
	"00000000000003e8", // fees.max_fee_rate 1000 sat/vB
	"0002260ff9290000", // proposal_expiry 168h in ns
	"00000002",         // unfreeze_approvals all = 2
}, "")

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

// MustParsePolicy parses text or fails the test.
func MustParsePolicy(tb testing.TB, text string) *reserve.Policy {
	tb.Helper()
	p, err := reserve.ParsePolicy([]byte(text))
	require.NoError(tb, err)
	return p
}

func mustKey(tb testing.TB, h string) [32]byte {
	tb.Helper()
	var k [32]byte
	b, err := hex.DecodeString(h)
	require.NoError(tb, err)
	require.Len(tb, b, 32)
	copy(k[:], b)
	return k
}

func TestParsePolicy(t *testing.T) {
	p := MustParsePolicy(t, basePolicy)
	want := &reserve.Policy{
		Version: 1,
		Officers: []reserve.Officer{
			{ID: "alice", Name: "Alice Moreau", Key: mustKey(t, keyAlice)},
			{ID: "bob", Name: "Bob Okafor", Key: mustKey(t, keyBob)},
			{ID: "carol", Name: "Carol Lindqvist", Key: mustKey(t, keyCarol)},
			{ID: "dave", Name: "Dave Nakamura", Key: mustKey(t, keyDave)},
		},
		Tiers: []reserve.Tier{
			{UpToSat: reserve.SatPerBTC, Approvals: 2, CoolOff: 0},
			{UpToSat: 100 * reserve.SatPerBTC, Approvals: 3, CoolOff: time.Hour},
			{UpToSat: reserve.TierUnlimited, Approvals: 4, CoolOff: 24 * time.Hour},
		},
		Velocity: reserve.Velocity{Per24hSat: 150 * reserve.SatPerBTC, Per30dSat: 1000 * reserve.SatPerBTC},
		Allowlist: reserve.Allowlist{
			Unlisted: reserve.UnlistedExtraApproval,
			AddDelay: 48 * time.Hour,
			Entries: []reserve.AllowEntry{
				{Address: addrListed, Label: "Central bank of X", Added: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
				{Address: addrNew, Label: "Ministry of Finance", Added: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
			},
		},
		Fees:              reserve.Fees{MaxFeeSat: 1_000_000, MaxFeeRate: 1000},
		ProposalExpiry:    168 * time.Hour,
		UnfreezeApprovals: 2,
		Proofs:            reserve.ProofRules{Requesters: []string{"officer"}, Approvals: 1},
	}
	require.Equal(t, want, p)
	require.True(t, p.Tiers[2].Unlimited())
	require.False(t, p.Tiers[1].Unlimited())
}

// TestParsePolicyAccepts covers documents that are valid though they
// differ from the base in shape.
func TestParsePolicyAccepts(t *testing.T) {
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
		t.Run(tt.name, func(t *testing.T) {
			p, err := reserve.ParsePolicy([]byte(tt.text))
			require.NoError(t, err)
			tt.check(t, p)
		})
	}
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
	b, err := os.ReadFile(filepath.Join("testdata", "policy", name))
	require.NoError(tb, err)
	return string(b)
}

// requirePolicyError checks a refusal: CodeInvalid, the message starting
// with the line and the field, the cause naming the field, and msg in it.
func requirePolicyError(tb testing.TB, err error, line int, field, msg string) {
	tb.Helper()
	require.Error(tb, err)
	var e *reserve.Error
	require.ErrorAs(tb, err, &e)
	require.Equal(tb, reserve.CodeInvalid, e.Code, "%v", err)
	prefix := fmt.Sprintf("policy line %d: ", line)
	if field != "" {
		prefix += field + ": "
		var cause *reserve.Error
		require.ErrorAs(tb, e.Unwrap(), &cause, "%v", err)
		require.Equal(tb, field, cause.Field, "%v", err)
	}
	require.True(tb, strings.HasPrefix(err.Error(), prefix), "error %q does not start with %q", err, prefix)
	require.ErrorContains(tb, err, msg)
}

func TestParsePolicyRefuses(t *testing.T) {
	// Rows edit basePolicy (old → new, once) unless text is set. Line
	// numbers are those of the edited text.
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
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text
			if text == "" && tt.old != "" {
				text = edit(t, basePolicy, tt.old, tt.new)
			}
			p, err := reserve.ParsePolicy([]byte(text))
			require.Nil(t, p)
			requirePolicyError(t, err, tt.line, tt.field, tt.msg)
		})
	}
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

func TestParsePolicyTooLarge(t *testing.T) {
	text := basePolicy + "#" + strings.Repeat("x", reserve.MaxPolicyBytes) + "\n"
	p, err := reserve.ParsePolicy([]byte(text))
	require.Nil(t, p)
	require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
	require.ErrorContains(t, err, "is more than the limit of 1048576")
}

func TestPolicyOfficer(t *testing.T) {
	p := MustParsePolicy(t, basePolicy)
	o, ok := p.Officer("carol")
	require.True(t, ok)
	require.Equal(t, reserve.Officer{ID: "carol", Name: "Carol Lindqvist", Key: mustKey(t, keyCarol)}, o)

	// The returned officer is a copy: changing it leaves the policy alone.
	before := p.Hash()
	o.Key[0] ^= 1
	require.Equal(t, before, p.Hash())

	_, ok = p.Officer("mallory")
	require.False(t, ok)
	_, ok = p.Officer("")
	require.False(t, ok)
}

func TestPolicyHashIgnoresFormatting(t *testing.T) {
	want := MustParsePolicy(t, basePolicy).Hash()
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
		t.Run(tt.name, func(t *testing.T) {
			require.NotEqual(t, basePolicy, tt.text, "the row must change the text")
			got := MustParsePolicy(t, tt.text).Hash()
			require.Equal(t, hex.EncodeToString(want[:]), hex.EncodeToString(got[:]))
		})
	}
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

func TestPolicyHashSeesEveryChange(t *testing.T) {
	base := MustParsePolicy(t, basePolicy).Hash()
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
	seen := map[[32]byte]string{base: "base"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MustParsePolicy(t, edit(t, basePolicy, tt.old, tt.new)).Hash()
			other, dup := seen[h]
			require.False(t, dup, "same hash as %q", other)
			seen[h] = tt.name
		})
	}
}

// TestPolicyHashSeesFieldBoundaries checks that the length prefixes keep
// adjacent strings apart: moving a character from an id to a name changes
// the hash.
func TestPolicyHashSeesFieldBoundaries(t *testing.T) {
	a := &reserve.Policy{Version: 1, Officers: []reserve.Officer{{ID: "ab", Name: "c"}}}
	b := &reserve.Policy{Version: 1, Officers: []reserve.Officer{{ID: "a", Name: "bc"}}}
	require.NotEqual(t, a.Hash(), b.Hash())
	require.Equal(t, a.Hash(), a.Hash())
}

func TestPolicyTestVector(t *testing.T) {
	p := MustParsePolicy(t, readPolicyFile(t, "vector.yaml"))
	h := p.Hash()
	require.Equal(t, vectorCanonical, hex.EncodeToString(p.Canonical()))
	require.Equal(t, vectorHash, hex.EncodeToString(h[:]))

	// docs/policy.md states the same vector.
	doc, err := os.ReadFile(filepath.Join("..", "docs", "policy.md"))
	require.NoError(t, err)
	flat := strings.Join(strings.Fields(string(doc)), "")
	require.Contains(t, flat, vectorHash)
	require.Contains(t, flat, vectorCanonical, "docs/policy.md must show the canonical encoding")
}

// FuzzParsePolicy checks that ParsePolicy never panics, refuses only with
// CodeInvalid located by line, and that what it accepts hashes the same
// every time and parses again to an equal policy.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		basePolicy,
		edit(f, basePolicy, "approvals: all", "approvals: 4", "cool_off: 0s", "cool_off: 0"),
		"", "version: 1\n", "- a\n", "version: 2\n", "a: &x 1\nb: *x\n", "version: 1\n---\n",
		"version: 1\nofficers: [{id: a, name: A, key: 'ed25519:" + keyAlice + "'}]\n",
		withOfficers(3, "2"),
		basePolicy + "proofs:\n  requesters: [auditor, officer]\n  approvals: all\n",
	} {
		f.Add([]byte(s))
	}
	for _, name := range []string{"vector.yaml", "example.yaml"} {
		f.Add([]byte(readPolicyFile(f, name)))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := reserve.ParsePolicy(text)
		if err != nil {
			require.Nil(t, p)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "%v", err)
			require.True(t, strings.HasPrefix(err.Error(), "policy"), "%v", err)
			return
		}
		h := p.Hash()
		require.Equal(t, h, p.Hash())
		again, err := reserve.ParsePolicy(text)
		require.NoError(t, err)
		require.Equal(t, p, again)
		require.Equal(t, h, again.Hash())

		// Evaluation never panics on an accepted policy.
		_, err = p.Require([]reserve.Payment{{Address: addrListed, AmountSat: 1}}, 0, 1, reserve.Spent{}, time.Unix(0, 0))
		if err != nil {
			require.Contains(t, []reserve.Code{reserve.CodeDenied}, reserve.CodeOf(err), "%v", err)
		}
	})
}
