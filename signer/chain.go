package signer

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/custos-reserve/custos/officer"
	"github.com/custos-reserve/custos/reserve"
)

// PolicyChainType names a policy chain file.
const PolicyChainType = "custos-policy-chain"

// ErrChangeUnapproved is returned when a pinned policy would be replaced
// without the officers' approvals of the change.
var ErrChangeUnapproved = errors.New("the officers' approvals of the policy change are needed")

// MaxPolicyChainBytes bounds a policy chain file: sixty-four policies of
// the largest size, far more than a reserve ever has.
const MaxPolicyChainBytes = 64 << 20

// PolicyChain is the reserve's policy history as `custosctl policy show
// --chain-out FILE` writes it: every policy that has been in force, in
// order, each with the officers' signatures over the change that brought
// it in. A signer checks it with reserve.VerifyPolicyChain before it
// replaces its pinned policy, so it takes no one's word for a change.
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
	// Key is "ed25519:<hex>", as the policy lists officers.
	Key       string `json:"key"`
	Signature string `json:"signature"`
}

// ParsePolicyChain reads a policy chain file strictly: known fields only,
// every policy parsed, every key and signature of its length.
func ParsePolicyChain(data []byte) ([]reserve.PolicyLink, error) {
	if len(data) > MaxPolicyChainBytes {
		return nil, reserve.Invalid("chain", "%d bytes, more than the %d a policy chain may have", len(data), MaxPolicyChainBytes)
	}
	var c PolicyChain
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, reserve.Invalid("chain", "not a policy chain: %w", err)
	}
	// More is false before a stray ']' or '}': only EOF ends the file.
	if _, err := dec.Token(); err != io.EOF {
		return nil, reserve.Invalid("chain", "data after the policy chain")
	}
	if c.Type != PolicyChainType || c.Version != 1 {
		return nil, reserve.Invalid("chain", "type %q version %d, want %q version 1", c.Type, c.Version, PolicyChainType)
	}
	links := make([]reserve.PolicyLink, len(c.Policies))
	for i, cp := range c.Policies {
		field := fmt.Sprintf("chain.policies[%d]", i)
		p, err := reserve.ParsePolicy([]byte(cp.Text))
		if err != nil {
			return nil, reserve.Invalid(field, "policy %d: %w", cp.Seq, err)
		}
		links[i] = reserve.PolicyLink{Seq: cp.Seq, Policy: p}
		for k, a := range cp.Approvals {
			key, err := officer.ParsePublicKey(a.Key)
			if err != nil {
				return nil, reserve.Invalid(fmt.Sprintf("%s.approvals[%d].key", field, k), "%w", err)
			}
			sig, err := hex.DecodeString(a.Signature)
			var ap reserve.Approval
			if err != nil || len(sig) != len(ap.Signature) {
				return nil, reserve.Invalid(fmt.Sprintf("%s.approvals[%d].signature", field, k), "not %d bytes of hex", len(ap.Signature))
			}
			ap.OfficerKey = key
			copy(ap.Signature[:], sig)
			links[i].Approvals = append(links[i].Approvals, ap)
		}
	}
	return links, nil
}
