package reserve

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
)

// PolicyChainType names a policy chain file.
const PolicyChainType = "custos-policy-chain"

// MaxPolicyChainBytes bounds a policy chain file: sixty-four policies of
// the largest size, far more than a reserve ever has.
const MaxPolicyChainBytes = 64 << 20

// PolicyChain is the reserve's policy history as `custosctl policy show
// --chain-out FILE` writes it: every policy that has been in force, in
// order, each with the officers' signatures over the change that brought
// it in. A signer reads it with ParsePolicyChain and checks it with
// VerifyPolicyChain before it replaces its pinned policy, so it takes no
// one's word for a change. It lives here, beside the policy, because the
// officers' CLI writes it and the signer reads it, and neither may import
// the other.
type PolicyChain struct {
	Type     string        `json:"type"`
	Version  int           `json:"version"`
	Policies []ChainPolicy `json:"policies"`
}

// ChainPolicy is one policy of a PolicyChain.
type ChainPolicy struct {
	Seq uint64 `json:"seq"`
	// Text is the YAML document; its hash is computed by the reader, never
	// taken from the file.
	Text      string          `json:"text"`
	Approvals []ChainApproval `json:"approvals"`
}

// ChainApproval is one officer's signature over a policy change.
type ChainApproval struct {
	Officer string `json:"officer"`
	// Key is "ed25519:<hex>", as the policy lists officers
	// (FormatOfficerKey).
	Key       string `json:"key"`
	Signature string `json:"signature"`
}

// ParsePolicyChain reads a policy chain file strictly: known fields only,
// every policy parsed, every key and signature of its length. It checks
// no signature: that is VerifyPolicyChain's work.
func ParsePolicyChain(data []byte) ([]PolicyLink, error) {
	if len(data) > MaxPolicyChainBytes {
		return nil, Invalid("chain", "%d bytes, more than the %d a policy chain may have", len(data), MaxPolicyChainBytes)
	}
	var c PolicyChain
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, Invalid("chain", "not a policy chain: %w", err)
	}
	// More is false before a stray ']' or '}': only EOF ends the file.
	if _, err := dec.Token(); err != io.EOF {
		return nil, Invalid("chain", "data after the policy chain")
	}
	if c.Type != PolicyChainType || c.Version != 1 {
		return nil, Invalid("chain", "type %q version %d, want %q version 1", c.Type, c.Version, PolicyChainType)
	}
	links := make([]PolicyLink, len(c.Policies))
	for i, cp := range c.Policies {
		field := fmt.Sprintf("chain.policies[%d]", i)
		p, err := ParsePolicy([]byte(cp.Text))
		if err != nil {
			return nil, Invalid(field, "policy %d: %w", cp.Seq, err)
		}
		links[i] = PolicyLink{Seq: cp.Seq, Policy: p}
		for k, a := range cp.Approvals {
			key, err := ParseOfficerKey(a.Key)
			if err != nil {
				return nil, Invalid(fmt.Sprintf("%s.approvals[%d].key", field, k), "%w", err)
			}
			sig, err := hex.DecodeString(a.Signature)
			var ap Approval
			if err != nil || len(sig) != len(ap.Signature) {
				return nil, Invalid(fmt.Sprintf("%s.approvals[%d].signature", field, k), "not %d bytes of hex", len(ap.Signature))
			}
			ap.OfficerKey = key
			copy(ap.Signature[:], sig)
			links[i].Approvals = append(links[i].Approvals, ap)
		}
	}
	return links, nil
}
