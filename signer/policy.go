package signer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

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
	// Replaced, unless the old file could not be read as a policy: then
	// PreviousErr says why and Previous is zero.
	Previous    [32]byte
	PreviousErr error
}

// PinPolicy checks text with reserve.ParsePolicy and pins exactly these
// bytes in dir/policy.yaml, atomically. Pinning a policy with the hash of
// the pinned one is Unchanged (its text is rewritten only if it differs,
// a comment edited); pinning another one replaces it, which is how an
// operator moves the signer to a new policy. Refusals are ParsePolicy's,
// naming the line and the field; on any error the pinned file is left as
// it was.
func PinPolicy(dir string, text []byte) (*PolicyPin, error) {
	p, err := reserve.ParsePolicy(text)
	if err != nil {
		return nil, err
	}
	pin := &PolicyPin{Policy: p, Hash: p.Hash(), Status: Registered}

	path := filepath.Join(dir, PolicyFileName)
	old, err := readFileLimited(path, reserve.MaxPolicyBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("unable to read the pinned policy %s: %w", path, err)
	default:
		pin.Status = Replaced
		if oldPolicy, perr := reserve.ParsePolicy(old); perr != nil {
			pin.PreviousErr = perr
		} else {
			pin.Previous = oldPolicy.Hash()
		}
		if pin.PreviousErr == nil && pin.Previous == pin.Hash {
			pin.Status = Unchanged
			if bytes.Equal(old, text) {
				return pin, nil
			}
		}
	}

	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, text, true); err != nil {
		return nil, fmt.Errorf("unable to pin the policy in %s: %w", path, err)
	}
	return pin, nil
}

// LoadPolicy reads and parses the policy pinned in dir. It fails with
// ErrNoPolicy (CodeFailedPrecondition) when none is pinned, and with
// CodeFailedPrecondition when the pinned file no longer parses: the
// operator must register a policy again.
func LoadPolicy(dir string) (*reserve.Policy, error) {
	path := filepath.Join(dir, PolicyFileName)
	text, err := readFileLimited(path, reserve.MaxPolicyBytes)
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
