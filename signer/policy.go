package signer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

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
	// Replaced, unless the old file could not be read as a policy: then
	// PreviousErr says why and Previous is zero.
	Previous    [32]byte
	PreviousErr error
}

// PinPolicy checks text with reserve.ParsePolicy and pins exactly these
// bytes in dir/policy.yaml, atomically. Pinning a policy with the hash of
// the pinned one is Unchanged (its text is rewritten only if it differs,
// a comment edited). Pinning another one replaces it, which is how an
// operator moves the signer to a new policy, but only with chain, the
// reserve's policy history (ParsePolicyChain), showing that the officers
// of the pinned policy approved every change from it to this one for the
// wallet pinned in dir (reserve.VerifyPolicyChain); without chain it is
// ErrChangeUnapproved. The first policy is pinned on the operator's
// comparison of its hash with the officers'. Refusals are ParsePolicy's,
// naming the line and the field, or the chain's; on any error the pinned
// file is left as it was.
func PinPolicy(dir string, text []byte, chain []reserve.PolicyLink) (*PolicyPin, error) {
	p, err := reserve.ParsePolicy(text)
	if err != nil {
		return nil, err
	}
	pin := &PolicyPin{Policy: p, Hash: p.Hash(), Status: Registered}

	path := filepath.Join(dir, PolicyFileName)
	pinnedSeq, err := readPolicySeq(dir)
	if err != nil {
		return nil, err
	}
	// seq is the number the new policy has in the reserve's history: known
	// from a chain, and kept when the policy does not change.
	var seq uint64
	old, err := durable.ReadLimited(path, reserve.MaxPolicyBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if chain != nil {
			if seq, err = latestSeq(pin.Hash, chain); err != nil {
				return nil, err
			}
		}
	case err != nil:
		return nil, fmt.Errorf("unable to read the pinned policy %s: %w", path, err)
	default:
		pin.Status = Replaced
		oldPolicy, perr := reserve.ParsePolicy(old)
		if perr != nil {
			pin.PreviousErr = perr
		} else {
			pin.Previous = oldPolicy.Hash()
		}
		switch {
		case pin.PreviousErr != nil:
			// An unreadable pin is replaced as a first one.
		case pin.Previous == pin.Hash:
			pin.Status, seq = Unchanged, pinnedSeq
			if bytes.Equal(old, text) {
				return pin, nil
			}
		default:
			if seq, err = checkChange(dir, oldPolicy, pinnedSeq, pin.Hash, chain); err != nil {
				return nil, err
			}
		}
	}

	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	if err := durable.Write(path, text, 0o600, true); err != nil {
		return nil, fmt.Errorf("unable to pin the policy in %s: %w", path, err)
	}
	// The number goes second: if writing it fails the old number stays,
	// which the next change finds not to be the pinned policy's and
	// refuses, so a failure here can only stop changes, not allow one.
	if err := writePolicySeq(dir, seq); err != nil {
		return nil, err
	}
	return pin, nil
}

// PolicySeqFileName holds the number of the pinned policy in the
// reserve's history (decimal, one line), when a policy chain told it: a
// later change is then checked from that entry, so a history cut short
// cannot take the signer back to a replaced policy. Absent when unknown
// (a first policy pinned without a chain).
const PolicySeqFileName = "policy.seq"

func readPolicySeq(dir string) (uint64, error) {
	path := filepath.Join(dir, PolicySeqFileName)
	b, err := durable.ReadLimited(path, 32)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("unable to read %s: %w", path, err)
	}
	seq, err := strconv.ParseUint(strings.TrimSuffix(string(b), "\n"), 10, 64)
	if err != nil || seq == 0 {
		return 0, reserve.Errorf(reserve.CodeFailedPrecondition, "%s does not hold a policy number (%q); remove it and register the policy with --chain", path, b)
	}
	return seq, nil
}

func writePolicySeq(dir string, seq uint64) error {
	path := filepath.Join(dir, PolicySeqFileName)
	if seq == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("unable to remove %s: %w", path, err)
		}
		return nil
	}
	if err := durable.Write(path, []byte(strconv.FormatUint(seq, 10)+"\n"), 0o600, true); err != nil {
		return fmt.Errorf("unable to record the policy number in %s: %w", path, err)
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
func checkChange(dir string, from *reserve.Policy, pinnedSeq uint64, to [32]byte, chain []reserve.PolicyLink) (uint64, error) {
	if chain == nil {
		return 0, reserve.Errorf(reserve.CodeFailedPrecondition,
			"%w: replacing the pinned policy %x with %x takes the reserve's policy history with the officers' signatures (--chain FILE, from 'custosctl policy show --chain-out FILE')",
			ErrChangeUnapproved, from.Hash(), to)
	}
	kf, err := ReadKeyFile(dir)
	if err != nil {
		return 0, err
	}
	d, err := LoadDescriptor(dir, kf.Network)
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
