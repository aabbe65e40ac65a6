package signer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
)

// PolicyFileName is the pinned spending policy inside the data directory:
// the YAML text exactly as the operator registered it (docs/policy.md).
const PolicyFileName = "policy.yaml"

// ErrNoPolicy is returned when no spending policy is pinned: the signer
// then signs nothing, since it cannot check who approved a payment.
var ErrNoPolicy = errors.New("no spending policy registered")

// PolicyPin is the outcome of PinPolicy.
type PolicyPin struct {
	Policy *reserve.Policy
	// Hash is Policy.Hash(), the policy's identity that officers approve
	// under and that the ministries compare.
	Hash [32]byte
	// Status is Registered (none was pinned), Unchanged (the pinned
	// policy has this hash) or Replaced.
	Status RegisterStatus
	// Previous is the hash of the replaced policy when Status is
	// Replaced, as the state record held it.
	Previous [32]byte
}

// PinPolicy checks text with reserve.ParsePolicy and pins exactly these
// bytes in dir/policy.yaml, atomically, and its hash and number in the
// state record, sealed under key (so an edited, unreadable or deleted
// policy file, or a deleted number, is never taken for a first policy).
// Pinning a policy with the hash the record holds is Unchanged (its text
// is rewritten if it differs: a comment edited, or a damaged file put
// back). Pinning another one replaces it, which is how an operator moves
// the signer to a new policy, but only with chain, the reserve's policy
// history (ParsePolicyChain), showing that the officers of the recorded
// policy approved every change from it to this one for the wallet pinned
// in dir (reserve.VerifyPolicyChain), counted from the recorded policy's
// number; without chain it is ErrChangeUnapproved. When the policy file no
// longer holds the recorded policy, the chain must hold it. The first
// policy is pinned on the operator's comparison of its hash with the
// officers'. Refusals are ParsePolicy's, naming the line and the field,
// the chain's, or ErrStateBroken; on any error the pinned file and the
// record are left as they were. The caller holds the data directory's
// lock (LockDir).
func PinPolicy(dir string, key *Key, text []byte, chain []reserve.PolicyLink) (*PolicyPin, error) {
	p, err := reserve.ParsePolicy(text)
	if err != nil {
		return nil, err
	}
	pin := &PolicyPin{Policy: p, Hash: p.Hash(), Status: Registered}
	st, err := loadState(dir, key)
	if err != nil {
		return nil, err
	}

	path := filepath.Join(dir, PolicyFileName)
	old, oldErr := durable.ReadLimited(path, reserve.MaxPolicyBytes)
	var oldPolicy *reserve.Policy
	if oldErr == nil {
		oldPolicy, oldErr = reserve.ParsePolicy(old)
	}
	// seq is the number the new policy has in the reserve's history: known
	// from a chain, and kept when the policy does not change.
	var seq uint64
	switch recorded := st.st.policy; {
	case recorded == [32]byte{}:
		if chain != nil {
			if seq, err = latestSeq(pin.Hash, chain); err != nil {
				return nil, err
			}
		}
	case recorded == pin.Hash:
		pin.Status, pin.Previous, seq = Unchanged, recorded, st.st.policySeq
		if oldErr == nil && bytes.Equal(old, text) {
			return pin, nil
		}
	default:
		pin.Status, pin.Previous = Replaced, recorded
		from := oldPolicy
		if from == nil || from.Hash() != recorded {
			// The file no longer holds the recorded policy: take its text
			// from the chain, whose signatures are checked from it.
			if from = policyIn(recorded, chain); from == nil {
				return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "%w: %s no longer holds the pinned policy %x that %s records; replacing it takes a --chain that holds that policy",
					ErrStateBroken, path, recorded, st.path)
			}
		}
		if d, derr := LoadDescriptor(dir, key.Network()); derr == nil {
			if err := st.checkPinned(dir, d, nil); err != nil {
				return nil, err
			}
		}
		if seq, err = checkChange(dir, key, from, st.st.policySeq, pin.Hash, chain); err != nil {
			return nil, err
		}
	}

	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	if err := durable.Write(path, text, 0o600, true); err != nil {
		return nil, fmt.Errorf("unable to pin the policy in %s: %w", path, err)
	}
	// The record goes second: if writing it fails the old record stays,
	// which refuses the new file until the operator pins a policy again,
	// so a failure here can only stop signing, not allow it.
	st.st.policy, st.st.policySeq = pin.Hash, seq
	if _, err := writeState(dir, key, st.st); err != nil {
		return nil, err
	}
	return pin, nil
}

// policyIn is the policy of chain with hash h, or nil.
func policyIn(h [32]byte, chain []reserve.PolicyLink) *reserve.Policy {
	for _, l := range chain {
		if l.Policy != nil && l.Policy.Hash() == h {
			return l.Policy
		}
	}
	return nil
}

// latestSeq is the number of the last entry of chain with hash h.
func latestSeq(h [32]byte, chain []reserve.PolicyLink) (uint64, error) {
	for i := len(chain) - 1; i >= 0; i-- {
		if chain[i].Policy != nil && chain[i].Policy.Hash() == h {
			return chain[i].Seq, nil
		}
	}
	return 0, reserve.Invalid("chain", "policy %x is not in the reserve's history", h)
}

// checkChange verifies that the officers of the pinned policy from
// (number pinnedSeq, or 0 when unknown) approved the changes that lead to
// policy to, for the wallet pinned in dir, and returns to's number.
func checkChange(dir string, key *Key, from *reserve.Policy, pinnedSeq uint64, to [32]byte, chain []reserve.PolicyLink) (uint64, error) {
	if chain == nil {
		return 0, reserve.Errorf(reserve.CodeFailedPrecondition,
			"%w: replacing the pinned policy %x with %x takes the reserve's policy history with the officers' signatures (--chain FILE, from 'custosctl policy show --chain-out FILE')",
			ErrChangeUnapproved, from.Hash(), to)
	}
	d, err := LoadDescriptor(dir, key.Network())
	if err != nil {
		return 0, err
	}
	seq, err := reserve.VerifyPolicyChainFrom(from, pinnedSeq, to, d.Network(), d.WalletID(), chain)
	if err != nil {
		return 0, reserve.Errorf(reserve.CodeInvalid, "%w: %w", ErrChangeUnapproved, err)
	}
	return seq, nil
}

// LoadPolicy reads and parses the policy pinned in dir. It fails with
// ErrNoPolicy (CodeFailedPrecondition) when none is pinned, and with
// CodeFailedPrecondition when the pinned file no longer parses: the
// operator must register a policy again.
func LoadPolicy(dir string) (*reserve.Policy, error) {
	path := filepath.Join(dir, PolicyFileName)
	text, err := durable.ReadLimited(path, reserve.MaxPolicyBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "%w in %s: run register --policy FILE first", ErrNoPolicy, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read the pinned policy: %w", err)
	}
	p, err := reserve.ParsePolicy(text)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "the pinned policy %s is not valid (%w); register a policy again", path, err)
	}
	return p, nil
}
