package reserve

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// ControlTag domain-separates the digests of control statements (freeze,
// unfreeze, policy change) from each other's and from approval digests.
const ControlTag = "custos/control/v1"

// ControlVersion is the version of the control statement encoding.
const ControlVersion = 1

// Action is what a control statement asks.
type Action uint8

const (
	// ActionFreeze stops all spending; any one officer may sign it.
	ActionFreeze Action = 1
	// ActionUnfreeze lifts a freeze; it takes the policy's
	// unfreeze_approvals officers.
	ActionUnfreeze Action = 2
	// ActionPolicyChange replaces the policy in force with the one whose
	// hash is NewPolicy; it takes the current policy's top-tier quorum.
	ActionPolicyChange Action = 3
)

// String names the action ("freeze").
func (a Action) String() string {
	switch a {
	case ActionFreeze:
		return "freeze"
	case ActionUnfreeze:
		return "unfreeze"
	case ActionPolicyChange:
		return "policy-change"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Control is a statement about the reserve as a whole that officers sign:
// not a payment but a change to what payments may happen. It binds the
// wallet, the policy in force and, for freezes, the freeze epoch, so a
// signature cannot be replayed on another wallet, under another policy or
// to lift a later freeze.
type Control struct {
	Action   Action
	Network  Network
	WalletID string
	// PolicyHash is the hash of the policy in force when signing.
	PolicyHash [32]byte
	// Epoch orders the statements of one kind, so none can be replayed
	// later. For a freeze it is the epoch the freeze starts (one more than
	// the freezes so far), for an unfreeze the epoch of the freeze it
	// lifts; for a policy change it is the number (from 1) of the policy
	// in force, so approvals of a change from A to B cannot bring B back
	// after a later change from B to A.
	Epoch uint64
	// NewPolicy is the hash of the proposed policy for ActionPolicyChange,
	// zero otherwise.
	NewPolicy [32]byte
}

// Validate checks the statement's fields.
func (c *Control) Validate() error {
	switch c.Action {
	case ActionFreeze, ActionUnfreeze:
		if c.Epoch == 0 {
			return Invalid("control.epoch", "a %s names the freeze epoch, from 1", c.Action)
		}
		if c.NewPolicy != ([32]byte{}) {
			return Invalid("control.new_policy", "a %s names no policy", c.Action)
		}
	case ActionPolicyChange:
		if c.Epoch == 0 {
			return Invalid("control.epoch", "a policy change names the number of the policy in force, from 1")
		}
		if c.NewPolicy == ([32]byte{}) {
			return Invalid("control.new_policy", "a policy change names the new policy's hash")
		}
		if c.NewPolicy == c.PolicyHash {
			return Invalid("control.new_policy", "the new policy is the one in force")
		}
	default:
		return Invalid("control.action", "unknown action %d", uint8(c.Action))
	}
	if c.Network < Mainnet || c.Network > Regtest {
		return Invalid("control.network", "unknown network %d", uint8(c.Network))
	}
	if err := checkIntentID("control.wallet_id", c.WalletID); err != nil {
		return err
	}
	return nil
}

// Encode is the canonical encoding: version(1) action(1) network(1)
// wallet_id(u32 BE length || bytes) policy_hash(32) epoch(u64 BE)
// new_policy(32).
func (c *Control) Encode() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 3+4+len(c.WalletID)+32+8+32)
	b = append(b, ControlVersion, byte(c.Action), byte(c.Network))
	b = appendLenPrefixed(b, c.WalletID)
	b = append(b, c.PolicyHash[:]...)
	b = binary.BigEndian.AppendUint64(b, c.Epoch)
	b = append(b, c.NewPolicy[:]...)
	return b, nil
}

// Digest is what an officer signs: the BIP-340 tagged hash of Encode()
// under ControlTag.
func (c *Control) Digest() ([32]byte, error) {
	enc, err := c.Encode()
	if err != nil {
		return [32]byte{}, err
	}
	return *chainhash.TaggedHash([]byte(ControlTag), enc), nil
}

// SignControl makes officer key priv's signature over c.
func SignControl(c *Control, priv ed25519.PrivateKey) (Approval, error) {
	return signStatement(priv, c.Digest)
}

// VerifyControl checks a's signature over c and that its key is an
// officer of p, whose id it returns. It does not check that p is the
// policy in force, nor count anything.
func VerifyControl(p *Policy, c *Control, a Approval) (string, error) {
	return verifyStatement(p, c.Digest, a, fmt.Sprintf("the %s statement", c.Action))
}

// signStatement signs the digest of an officer's statement (a control
// statement, a proof statement) with priv.
func signStatement(priv ed25519.PrivateKey, digest func() ([32]byte, error)) (Approval, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Approval{}, Invalid("key", "not an Ed25519 private key")
	}
	d, err := digest()
	if err != nil {
		return Approval{}, err
	}
	return signDigest(priv, d), nil
}

// verifyStatement checks a's signature over a statement's digest and that
// its key is an officer of p, whose id it returns; what names the
// statement in the refusal.
func verifyStatement(p *Policy, digest func() ([32]byte, error), a Approval, what string) (string, error) {
	d, err := digest()
	if err != nil {
		return "", err
	}
	o, ok := p.OfficerByKey(a.OfficerKey)
	if !ok {
		return "", Invalid("officer_key", "key %x is not an officer of the policy in force", a.OfficerKey)
	}
	if !ed25519.Verify(a.OfficerKey[:], d[:], a.Signature[:]) {
		return "", Invalid("signature", "officer %s: %w over %s", o.ID, ErrBadApprovalSignature, what)
	}
	return o.ID, nil
}

// ChangeApprovals is how many officers must approve replacing p: its top
// tier's quorum, or its unfreeze_approvals when that is more, since a
// new policy could otherwise lower what lifting a freeze takes.
func (p *Policy) ChangeApprovals() int {
	if len(p.Tiers) == 0 {
		return len(p.Officers)
	}
	return max(p.Tiers[len(p.Tiers)-1].Approvals, p.UnfreezeApprovals)
}

// PolicyLink is one policy of a reserve's history: its number, the
// policy, and the officers' signatures over the change that brought it
// into force (none for the first).
type PolicyLink struct {
	Seq       uint64
	Policy    *Policy
	Approvals []Approval
}

// VerifyPolicyChain checks that policy to was brought into force from
// policy from by changes the officers approved: history is the reserve's
// policies in force, numbered consecutively; from must be in it and a
// later entry must hash to to; each change from there to it must carry
// signatures over its control statement (network n, wallet walletID, the
// number and hash of the policy it replaced, its own hash) by distinct
// officers of the policy it replaced, as many as that policy's
// ChangeApprovals, and no signature that does not verify. A signer runs
// it before pinning a new policy, so it need not take the coordinator's
// word for a change. Refusals are CodeInvalid naming the link.
func VerifyPolicyChain(from *Policy, to [32]byte, n Network, walletID string, history []PolicyLink) error {
	_, err := VerifyPolicyChainFrom(from, 0, to, n, walletID, history)
	return err
}

// VerifyPolicyChainFrom is VerifyPolicyChain for a signer that knows the
// number fromSeq of the policy it pinned (0 when it does not): the chain
// is then checked from that entry, whose hash must be from's, so a
// history cut short cannot take the signer back to a policy the officers
// have since replaced. It returns the number of policy to.
func VerifyPolicyChainFrom(from *Policy, fromSeq uint64, to [32]byte, n Network, walletID string, history []PolicyLink) (uint64, error) {
	fromHash := from.Hash()
	// Each policy's hash, computed once: Hash encodes and sorts the whole
	// policy, allowlist included.
	hashes := make([][32]byte, len(history))
	start, end := -1, -1
	for i, l := range history {
		if l.Policy == nil {
			return 0, Invalid(fmt.Sprintf("history[%d]", i), "no policy")
		}
		if i > 0 && l.Seq != history[i-1].Seq+1 {
			return 0, Invalid(fmt.Sprintf("history[%d].seq", i), "policy %d follows policy %d", l.Seq, history[i-1].Seq)
		}
		if hashes[i] = l.Policy.Hash(); hashes[i] == to {
			end = i
		}
	}
	if end < 0 {
		return 0, Invalid("history", "policy %x is not in the reserve's history", to)
	}
	for i := end - 1; i >= 0; i-- {
		if (fromSeq == 0 && hashes[i] == fromHash) || (fromSeq != 0 && history[i].Seq == fromSeq) {
			start = i
			break
		}
	}
	if start < 0 {
		return 0, Invalid("history", "the pinned policy %x (number %d) is not in the reserve's history before policy %x", fromHash, fromSeq, to)
	}
	if hashes[start] != fromHash {
		return 0, Invalid("history", "the history's policy %d is %x, not the pinned policy %x", fromSeq, hashes[start], fromHash)
	}
	for j := start + 1; j <= end; j++ {
		prev, cur := history[j-1], history[j]
		c := Control{
			Action: ActionPolicyChange, Network: n, WalletID: walletID,
			PolicyHash: hashes[j-1], Epoch: prev.Seq, NewPolicy: hashes[j],
		}
		field := fmt.Sprintf("history[%d]", j)
		signed := make(map[string]bool)
		for k, a := range cur.Approvals {
			id, err := VerifyControl(prev.Policy, &c, a)
			if err != nil {
				return 0, Invalid(fmt.Sprintf("%s.approvals[%d]", field, k), "policy %d: %w", cur.Seq, err)
			}
			signed[id] = true
		}
		if need := prev.Policy.ChangeApprovals(); len(signed) < need {
			return 0, Invalid(field, "policy %d was approved by %d officers of policy %d, which needs %d for a change",
				cur.Seq, len(signed), prev.Seq, need)
		}
	}
	return history[end].Seq, nil
}
