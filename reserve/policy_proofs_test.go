package reserve_test

// The policy's proofs section: who may request a proof of reserves and how
// many officers approve its message. The section came after signers had
// pinned policy hashes, so these tests hold every earlier document's hash
// fixed and check that only a non-default section reaches the hash.

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// withProofs appends a proofs section (the lines after "proofs:") to
// basePolicy, whose last line, 43, is unfreeze_approvals: the section
// starts on line 44.
func withProofs(tb testing.TB, section string) string {
	tb.Helper()
	return edit(tb, basePolicy, "unfreeze_approvals: 2\n", "unfreeze_approvals: 2\nproofs:"+section)
}

// TestPolicyHashesBeforeProofs pins the hashes of documents written
// before the proofs section existed, as the landed code computed them
// (and as daemon/console/web/test/testdata/vectors.json recorded them):
// signers pinned such hashes, so they must never change.
func TestPolicyHashesBeforeProofs(t *testing.T) {
	tests := []struct {
		name string
		text string
		hash string
	}{
		{name: "vector.yaml", text: readPolicyFile(t, "vector.yaml"), hash: vectorHash},
		{name: "example.yaml", text: readPolicyFile(t, "example.yaml"), hash: "72e4f824e1fd7575db0b71206071129ef1bba22c9afe60c3feba96f5a3f1516a"},
		{name: "basePolicy", text: basePolicy, hash: "5a38a1ed6449052082df2e768961b337672adf5646c6e4aad4daa1c2fae23d14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustParsePolicy(t, tt.text)
			h := p.Hash()
			require.Equal(t, tt.hash, hex.EncodeToString(h[:]))
			require.Equal(t, reserve.DefaultProofRules(), p.Proofs)
		})
	}
	// vector.yaml's canonical encoding is exactly the documented one:
	// nothing is appended for the absent section.
	require.Equal(t, vectorCanonical, hex.EncodeToString(MustParsePolicy(t, readPolicyFile(t, "vector.yaml")).Canonical()))
}

// TestPolicyProofsDefaultsHashAsAbsent: a section that spells out the
// defaults, in whole or in part, is the same policy as no section.
func TestPolicyProofsDefaultsHashAsAbsent(t *testing.T) {
	base := MustParsePolicy(t, basePolicy)
	one := strings.Replace(basePolicy, "unfreeze_approvals: 2\n", "unfreeze_approvals: 1\n", 1)
	tests := []struct {
		name string
		base string
		text string
	}{
		{name: "both fields", base: basePolicy, text: withProofs(t, "\n  requesters: [officer]\n  approvals: 1\n")},
		{name: "block style", base: basePolicy, text: withProofs(t, "\n  requesters:\n    - officer\n  approvals: 1\n")},
		{name: "only requesters", base: basePolicy, text: withProofs(t, "\n  requesters: [officer]\n")},
		{name: "only approvals", base: basePolicy, text: withProofs(t, "\n  approvals: 1\n")},
		{name: "an empty section", base: basePolicy, text: withProofs(t, " {}\n")},
		{name: "a quoted role", base: basePolicy, text: withProofs(t, "\n  requesters: [\"officer\"]\n")},
		{name: "all with one officer", base: withOfficers(1, "1"), text: withOfficers(1, "1") + "proofs:\n  approvals: all\n"},
		{name: "placed before the other fields", base: one, text: "proofs: {approvals: 1, requesters: [officer]}\n" + one},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := MustParsePolicy(t, tt.base)
			p := MustParsePolicy(t, tt.text)
			require.Equal(t, reserve.DefaultProofRules(), p.Proofs)
			require.True(t, p.Proofs.IsDefault())
			require.Equal(t, want.Canonical(), p.Canonical())
			require.Equal(t, want.Hash(), p.Hash())
		})
	}
	require.Equal(t, reserve.ProofRules{Requesters: []string{"officer"}, Approvals: 1}, base.Proofs)
}

// TestPolicyProofsNonDefault: every non-default section is read as written
// (requesters sorted) and changes the hash, each to its own.
func TestPolicyProofsNonDefault(t *testing.T) {
	tests := []struct {
		name    string
		section string
		want    reserve.ProofRules
	}{
		{name: "auditors request", section: "\n  requesters: [auditor]\n", want: reserve.ProofRules{Requesters: []string{"auditor"}, Approvals: 1}},
		{name: "admins request", section: "\n  requesters: [admin]\n", want: reserve.ProofRules{Requesters: []string{"admin"}, Approvals: 1}},
		{name: "officers and auditors request", section: "\n  requesters: [officer, auditor]\n", want: reserve.ProofRules{Requesters: []string{"auditor", "officer"}, Approvals: 1}},
		{name: "every role requests", section: "\n  requesters: [officer, admin, auditor]\n", want: reserve.ProofRules{Requesters: []string{"admin", "auditor", "officer"}, Approvals: 1}},
		{name: "two approvals", section: "\n  approvals: 2\n", want: reserve.ProofRules{Requesters: []string{"officer"}, Approvals: 2}},
		{name: "all approve", section: "\n  approvals: all\n", want: reserve.ProofRules{Requesters: []string{"officer"}, Approvals: 4}},
		{name: "auditors request, three approve", section: "\n  requesters: [auditor]\n  approvals: 3\n", want: reserve.ProofRules{Requesters: []string{"auditor"}, Approvals: 3}},
	}
	base := MustParsePolicy(t, basePolicy)
	seen := map[[32]byte]string{base.Hash(): "no section"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustParsePolicy(t, withProofs(t, tt.section))
			require.Equal(t, tt.want, p.Proofs)
			require.Equal(t, tt.want, p.ProofRules())
			require.False(t, p.Proofs.IsDefault())
			// The fields before the section are encoded as before.
			require.True(t, strings.HasPrefix(hex.EncodeToString(p.Canonical()), hex.EncodeToString(base.Canonical())))
			h := p.Hash()
			other, dup := seen[h]
			require.False(t, dup, "same hash as %q", other)
			seen[h] = tt.name
		})
	}

	// The order the roles are listed in is not part of the policy.
	a := MustParsePolicy(t, withProofs(t, "\n  requesters: [officer, auditor]\n"))
	b := MustParsePolicy(t, withProofs(t, "\n  requesters: [auditor, officer]\n"))
	require.Equal(t, a.Hash(), b.Hash())
	// Nor is `all` rather than the officer count.
	a = MustParsePolicy(t, withProofs(t, "\n  approvals: all\n"))
	b = MustParsePolicy(t, withProofs(t, "\n  approvals: 4\n"))
	require.Equal(t, a.Hash(), b.Hash())
}

// proofsVectorSection is the proofs section appended to vector.yaml for
// the second test vector in docs/policy.md.
const proofsVectorSection = "proofs:\n  requesters: [officer, auditor]\n  approvals: 2\n"

// proofsVectorSuffix is what that section appends to vector.yaml's
// canonical encoding: the tag "proofs", 2 roles sorted, 2 approvals.
const proofsVectorSuffix = "00000006" + "70726f6f6673" +
	"00000002" + "00000007" + "61756469746f72" + "00000007" + "6f666669636572" +
	"00000002"

const proofsVectorHash = "87d2bec7f4d751f14431c94cc7c1ea888713bb3f50c1742f0822fe1904653f5c"

func TestPolicyProofsTestVector(t *testing.T) {
	p := MustParsePolicy(t, readPolicyFile(t, "vector.yaml")+proofsVectorSection)
	require.Equal(t, vectorCanonical+proofsVectorSuffix, hex.EncodeToString(p.Canonical()))
	h := p.Hash()
	require.Equal(t, proofsVectorHash, hex.EncodeToString(h[:]))

	doc, err := os.ReadFile(filepath.Join("..", "docs", "policy.md"))
	require.NoError(t, err)
	flat := strings.Join(strings.Fields(string(doc)), "")
	require.Contains(t, flat, proofsVectorHash)
	require.Contains(t, flat, proofsVectorSuffix, "docs/policy.md must show the proofs section's encoding")
}

func TestPolicyProofsRefuses(t *testing.T) {
	tests := []struct {
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := reserve.ParsePolicy([]byte(withProofs(t, tt.section)))
			require.Nil(t, p)
			requirePolicyError(t, err, tt.line, tt.field, tt.msg)
		})
	}
}

// TestPolicyProofRules: ProofRules reads a hand-built Policy's zero
// section as the defaults, never as "nobody approves"; MayRequest.
func TestPolicyProofRules(t *testing.T) {
	var zero reserve.Policy
	require.Equal(t, reserve.DefaultProofRules(), zero.ProofRules())
	require.True(t, zero.Proofs.IsDefault())
	hand := &reserve.Policy{Version: 1, Officers: []reserve.Officer{{ID: "a", Name: "A"}}}
	withDefaults := *hand
	withDefaults.Proofs = reserve.DefaultProofRules()
	require.Equal(t, hand.Hash(), withDefaults.Hash())
	// Canonical sorts a hand-built section's roles as ParsePolicy does.
	x, y := *hand, *hand
	x.Proofs = reserve.ProofRules{Requesters: []string{"officer", "auditor"}, Approvals: 1}
	y.Proofs = reserve.ProofRules{Requesters: []string{"auditor", "officer"}, Approvals: 1}
	require.Equal(t, x.Hash(), y.Hash())
	require.NotEqual(t, hand.Hash(), x.Hash())

	r := MustParsePolicy(t, withProofs(t, "\n  requesters: [auditor, admin]\n")).ProofRules()
	require.True(t, r.MayRequest("auditor"))
	require.True(t, r.MayRequest("admin"))
	require.False(t, r.MayRequest("officer"))
	require.False(t, r.MayRequest("signer"))
	require.True(t, reserve.DefaultProofRules().MayRequest("officer"))
	require.False(t, reserve.DefaultProofRules().MayRequest("auditor"))

	// ProofRules returns a copy: changing it leaves the policy alone.
	p := MustParsePolicy(t, withProofs(t, "\n  requesters: [auditor, officer]\n"))
	before := p.Hash()
	c := p.ProofRules()
	c.Requesters[0] = "admin"
	require.Equal(t, before, p.Hash())
}
