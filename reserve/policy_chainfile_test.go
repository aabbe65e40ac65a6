package reserve_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// testChainFile is chainPolicies' history A(1) -> B(2), the change
// approved by alice, bob and carol, as a policy chain file, and the links
// it holds.
func testChainFile(t *testing.T) ([]byte, []reserve.PolicyLink) {
	t.Helper()
	textA, textB, _ := chainTexts(t)
	a, b := MustParsePolicy(t, textA), MustParsePolicy(t, textB)
	links := []reserve.PolicyLink{
		chainLink(1, a),
		chainLink(2, b, signedBy(t, changeOf(a, 1, b), seedAlice, seedBob, seedCarol)...),
	}
	f := reserve.PolicyChain{Type: reserve.PolicyChainType, Version: 1}
	for i, text := range []string{textA, textB} {
		cp := reserve.ChainPolicy{Seq: links[i].Seq, Text: text}
		for _, ap := range links[i].Approvals {
			cp.Approvals = append(cp.Approvals, reserve.ChainApproval{
				Key: reserve.FormatOfficerKey(ap.OfficerKey), Signature: hex.EncodeToString(ap.Signature[:]),
			})
		}
		f.Policies = append(f.Policies, cp)
	}
	data, err := json.Marshal(f)
	require.NoError(t, err)
	return data, links
}

// editChain decodes a chain file as plain JSON, applies edit and encodes
// it again.
func editChain(t *testing.T, data []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	edit(m)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

// chainAt is policies[i] of a chain decoded by editChain.
func chainAt(m map[string]any, i int) map[string]any {
	return m["policies"].([]any)[i].(map[string]any)
}

// approvalAt is policies[i].approvals[k] of a chain decoded by editChain.
func approvalAt(m map[string]any, i, k int) map[string]any {
	return chainAt(m, i)["approvals"].([]any)[k].(map[string]any)
}

func TestParsePolicyChain(t *testing.T) {
	data, want := testChainFile(t)
	links, err := reserve.ParsePolicyChain(data)
	require.NoError(t, err)
	require.Len(t, links, 2)
	for i, l := range links {
		require.Equal(t, want[i].Seq, l.Seq)
		require.Equal(t, want[i].Policy.Hash(), l.Policy.Hash())
		require.Equal(t, want[i].Approvals, l.Approvals)
	}
	require.Empty(t, links[0].Approvals)
	require.NoError(t, reserve.VerifyPolicyChain(want[0].Policy, want[1].Policy.Hash(), reserve.Regtest, chainWallet, links))

	// Whitespace after the chain is no data.
	_, err = reserve.ParsePolicyChain(append(bytes.Clone(data), " \n\t\n"...))
	require.NoError(t, err)

	// The policy's hash is computed from its text: the file cannot name
	// another.
	reformatted := editChain(t, data, func(m map[string]any) {
		chainAt(m, 1)["text"] = "# reformatted\n" + chainAt(m, 1)["text"].(string)
	})
	links, err = reserve.ParsePolicyChain(reformatted)
	require.NoError(t, err)
	require.Equal(t, want[1].Policy.Hash(), links[1].Policy.Hash())
}

func TestParsePolicyChainRefuses(t *testing.T) {
	data, _ := testChainFile(t)
	tests := []struct {
		name  string
		data  []byte
		field string
		msg   string
	}{
		{name: "empty", data: nil, field: "chain", msg: "not a policy chain"},
		{name: "not JSON", data: []byte("type: custos-policy-chain\n"), field: "chain", msg: "not a policy chain"},
		{name: "an array", data: []byte("[]"), field: "chain", msg: "not a policy chain"},
		{name: "unknown field", data: editChain(t, data, func(m map[string]any) { m["hashes"] = []string{"aa"} }),
			field: "chain", msg: `unknown field "hashes"`},
		{name: "unknown field of an approval", data: editChain(t, data, func(m map[string]any) { approvalAt(m, 1, 0)["digest"] = "00" }),
			field: "chain", msg: `unknown field "digest"`},
		{name: "wrong type", data: editChain(t, data, func(m map[string]any) { m["type"] = "custos-policy" }),
			field: "chain", msg: `type "custos-policy" version 1, want "custos-policy-chain" version 1`},
		{name: "no type", data: editChain(t, data, func(m map[string]any) { delete(m, "type") }),
			field: "chain", msg: `type "" version 1`},
		{name: "wrong version", data: editChain(t, data, func(m map[string]any) { m["version"] = 2 }),
			field: "chain", msg: `version 2, want`},
		{name: "version as a string", data: editChain(t, data, func(m map[string]any) { m["version"] = "1" }),
			field: "chain", msg: "not a policy chain"},
		{name: "seq as a string", data: editChain(t, data, func(m map[string]any) { chainAt(m, 0)["seq"] = "1" }),
			field: "chain", msg: "not a policy chain"},
		{name: "a second chain after it", data: append(bytes.Clone(data), data...),
			field: "chain", msg: "data after the policy chain"},
		{name: "a word after it", data: append(bytes.Clone(data), "\nsigned"...),
			field: "chain", msg: "data after the policy chain"},
		{name: "a stray brace after it", data: append(bytes.Clone(data), '}'),
			field: "chain", msg: "data after the policy chain"},
		{name: "a stray bracket after it", data: append(bytes.Clone(data), ']'),
			field: "chain", msg: "data after the policy chain"},
		{name: "key without its prefix", data: editChain(t, data, func(m map[string]any) {
			approvalAt(m, 1, 0)["key"] = strings.TrimPrefix(approvalAt(m, 1, 0)["key"].(string), "ed25519:")
		}), field: "chain.policies[1].approvals[0].key", msg: "is not ed25519:<64 hex digits>"},
		{name: "key with another prefix", data: editChain(t, data, func(m map[string]any) {
			approvalAt(m, 1, 1)["key"] = strings.Replace(approvalAt(m, 1, 1)["key"].(string), "ed25519:", "secp256k1:", 1)
		}), field: "chain.policies[1].approvals[1].key", msg: "is not ed25519:<64 hex digits>"},
		{name: "short key", data: editChain(t, data, func(m map[string]any) {
			k := approvalAt(m, 1, 2)["key"].(string)
			approvalAt(m, 1, 2)["key"] = k[:len(k)-2]
		}), field: "chain.policies[1].approvals[2].key", msg: "is not ed25519:<64 hex digits>"},
		{name: "short signature", data: editChain(t, data, func(m map[string]any) {
			s := approvalAt(m, 1, 0)["signature"].(string)
			approvalAt(m, 1, 0)["signature"] = s[:len(s)-2]
		}), field: "chain.policies[1].approvals[0].signature", msg: "not 64 bytes of hex"},
		{name: "odd signature hex", data: editChain(t, data, func(m map[string]any) {
			s := approvalAt(m, 1, 0)["signature"].(string)
			approvalAt(m, 1, 0)["signature"] = s[:len(s)-1]
		}), field: "chain.policies[1].approvals[0].signature", msg: "not 64 bytes of hex"},
		{name: "long signature", data: editChain(t, data, func(m map[string]any) {
			approvalAt(m, 1, 2)["signature"] = approvalAt(m, 1, 2)["signature"].(string) + "00"
		}), field: "chain.policies[1].approvals[2].signature", msg: "not 64 bytes of hex"},
		{name: "signature not hex", data: editChain(t, data, func(m map[string]any) {
			approvalAt(m, 1, 0)["signature"] = strings.Repeat("zz", 64)
		}), field: "chain.policies[1].approvals[0].signature", msg: "not 64 bytes of hex"},
		{name: "a policy that does not parse", data: editChain(t, data, func(m map[string]any) {
			chainAt(m, 1)["text"] = strings.Replace(chainAt(m, 1)["text"].(string), `max_fee: "0.01"`, "max_fee: 0.01", 1)
		}), field: "chain.policies[1]", msg: "policy 2: policy line"},
		{name: "an empty policy", data: editChain(t, data, func(m map[string]any) { chainAt(m, 0)["text"] = "" }),
			field: "chain.policies[0]", msg: "policy 1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			links, err := reserve.ParsePolicyChain(tt.data)
			require.Nil(t, links)
			var e *reserve.Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, reserve.CodeInvalid, e.Code, "%v", err)
			require.Equal(t, tt.field, e.Field, "%v", err)
			require.ErrorContains(t, err, tt.msg)
		})
	}
}

// TestParsePolicyChainSize: a chain of MaxPolicyChainBytes is read, one
// byte more is refused before it is decoded.
func TestParsePolicyChainSize(t *testing.T) {
	data, _ := testChainFile(t)
	padded := append(bytes.Clone(data), bytes.Repeat([]byte{' '}, reserve.MaxPolicyChainBytes-len(data))...)
	_, err := reserve.ParsePolicyChain(padded)
	require.NoError(t, err)

	_, err = reserve.ParsePolicyChain(append(padded, ' '))
	var e *reserve.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, reserve.CodeInvalid, e.Code)
	require.Equal(t, "chain", e.Field)
	require.ErrorContains(t, err, "more than the 67108864 a policy chain may have")
}

// TestOfficerKeyNotation: ParseOfficerKey reads what FormatOfficerKey
// writes, in either case of hex, and refuses anything else.
func TestOfficerKeyNotation(t *testing.T) {
	k := mustKey(t, keyErin)
	require.Equal(t, "ed25519:"+keyErin, reserve.FormatOfficerKey(k))
	tests := []struct {
		name string
		text string
		ok   bool
	}{
		{name: "as written", text: "ed25519:" + keyErin, ok: true},
		{name: "upper-case hex", text: "ed25519:" + strings.ToUpper(keyErin), ok: true},
		{name: "no prefix", text: keyErin},
		{name: "another prefix", text: "secp256k1:" + keyErin},
		{name: "prefix in upper case", text: "ED25519:" + keyErin},
		{name: "short", text: "ed25519:" + keyErin[2:]},
		{name: "long", text: "ed25519:" + keyErin + "00"},
		{name: "odd", text: "ed25519:" + keyErin[1:]},
		{name: "not hex", text: "ed25519:zz" + keyErin[2:]},
		{name: "space", text: "ed25519: " + keyErin},
		{name: "empty", text: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reserve.ParseOfficerKey(tt.text)
			if tt.ok {
				require.NoError(t, err)
				require.Equal(t, k, got)
				return
			}
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
			require.ErrorContains(t, err, "is not ed25519:<64 hex digits>")
		})
	}
}
