package reserve

import "time"

// Governance is who may move the reserve and whether anyone may now: the
// policy in force, a change to it awaiting officers, and the freeze.
type Governance struct {
	// Policy is the policy in force; nil before the first is set.
	Policy *PolicyRecord
	// Pending is a proposed new policy awaiting the current policy's
	// top-tier quorum; nil when none is proposed.
	Pending *PolicyRecord
	Freeze  Freeze
}

// PolicyRecord is one policy document as the store keeps it.
type PolicyRecord struct {
	// Seq numbers the policies that came into force, from 1. Zero for a
	// pending one.
	Seq uint64
	// Text is the YAML document exactly as given; Hash is
	// Policy.Hash of its parse.
	Text []byte
	Hash [32]byte
	// By is the client identity that set or proposed it; At when.
	By string
	At time.Time
	// Approvals are the officers' signatures over the change to it (none
	// for the first policy, which the admin sets with the wallet).
	Approvals []ControlSignature
}

// ControlSignature is one officer's signature over a Control.
type ControlSignature struct {
	Officer  string
	Approval Approval
	At       time.Time
}

// Freeze is the reserve's freeze switch.
type Freeze struct {
	// Epoch counts the freezes so far; a freeze is signed for Epoch+1,
	// the unfreeze of the current one for Epoch.
	Epoch  uint64
	Frozen bool
	// By is the officer's signature that froze the reserve (the last
	// freeze when not frozen); Reason what they gave.
	By     ControlSignature
	Reason string
	// Unfreeze are the approvals gathered to lift the current freeze.
	Unfreeze []ControlSignature
}
