package reserve_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// chainWallet is the wallet of the policy chain tests, on regtest.
const chainWallet = "4c2f8a0e91d3b675"

// Officer seeds (officerKey): alice, bob, carol, dave, erin.
const (
	seedAlice byte = iota + 1
	seedBob
	seedCarol
	seedDave
	seedErin
)

// chainPolicies are the policies of the test reserve's history A -> B ->
// C, and D, which is never in force:
//   - A: basePolicy with a top tier of 3 of alice..dave; a change takes 3.
//   - B: A with erin added and unfreeze_approvals 4; a change takes 4,
//     more than its top tier's 3.
//   - C: B with another fee-rate cap.
//   - D: basePolicy.
func chainPolicies(tb testing.TB) (a, b, c, d *reserve.Policy) {
	tb.Helper()
	textA, textB, textC := chainTexts(tb)
	a, b, c, d = MustParsePolicy(tb, textA), MustParsePolicy(tb, textB), MustParsePolicy(tb, textC), MustParsePolicy(tb, basePolicy)
	require.Equal(tb, 3, a.ChangeApprovals())
	require.Equal(tb, 4, b.ChangeApprovals())
	require.Len(tb, b.Officers, 5)
	return a, b, c, d
}

// chainTexts are the documents of chainPolicies' A, B and C.
func chainTexts(tb testing.TB) (textA, textB, textC string) {
	tb.Helper()
	textA = edit(tb, basePolicy, "    approvals: all\n", "    approvals: 3\n")
	textB = edit(tb, textA,
		"tiers:\n", "  - id: erin\n    name: Erin Walsh\n    key: ed25519:"+keyErin+"\ntiers:\n",
		"unfreeze_approvals: 2", "unfreeze_approvals: 4")
	textC = edit(tb, textB, "max_fee_rate: 1000", "max_fee_rate: 500")
	return textA, textB, textC
}

// changeOf is the control statement of the change from policy prev, in
// force as number seq, to next, for chainWallet on regtest.
func changeOf(prev *reserve.Policy, seq uint64, next *reserve.Policy) reserve.Control {
	return reserve.Control{
		Action: reserve.ActionPolicyChange, Network: reserve.Regtest, WalletID: chainWallet,
		PolicyHash: prev.Hash(), Epoch: seq, NewPolicy: next.Hash(),
	}
}

// signedBy is the officers' (by seed) signatures over c.
func signedBy(tb testing.TB, c reserve.Control, seeds ...byte) []reserve.Approval {
	tb.Helper()
	out := make([]reserve.Approval, len(seeds))
	for i, s := range seeds {
		a, err := reserve.SignControl(&c, officerKey(s))
		require.NoError(tb, err)
		out[i] = a
	}
	return out
}

func chainLink(seq uint64, p *reserve.Policy, approvals ...reserve.Approval) reserve.PolicyLink {
	return reserve.PolicyLink{Seq: seq, Policy: p, Approvals: approvals}
}

// TestVerifyPolicyChain: a signer moves from its pinned policy to a new
// one only over changes that the officers of each replaced policy
// approved, as many of them as its ChangeApprovals, for this wallet, this
// network and this step of the history.
func TestVerifyPolicyChain(t *testing.T) {
	a, b, c, d := chainPolicies(t)
	ab := signedBy(t, changeOf(a, 1, b), seedAlice, seedBob, seedCarol)
	bc := signedBy(t, changeOf(b, 2, c), seedAlice, seedBob, seedCarol, seedErin)
	// A(1) -> B(2) -> C(3), each change with exactly the approvals it takes.
	abc := []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, ab...), chainLink(3, c, bc...)}

	// A(1) -> B(2) -> A(3) -> B(4): the same change twice, at two epochs.
	ba := signedBy(t, changeOf(b, 2, a), seedAlice, seedBob, seedCarol, seedDave)
	ab3 := signedBy(t, changeOf(a, 3, b), seedBob, seedCarol, seedDave)

	with := func(as []reserve.Approval, edit func(as []reserve.Approval)) []reserve.Approval {
		out := append([]reserve.Approval(nil), as...)
		edit(out)
		return out
	}
	onNetwork := changeOf(a, 1, b)
	onNetwork.Network = reserve.Testnet
	onWallet := changeOf(a, 1, b)
	onWallet.WalletID = "4c2f8a0e91d3b676"

	tests := []struct {
		name     string
		from, to *reserve.Policy
		history  []reserve.PolicyLink
		// field is the refusal's field; "" means allowed.
		field string
		msg   string
		is    error
	}{
		// Allowed.
		{name: "A to B with exactly ChangeApprovals", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, ab...)}},
		{name: "A to B, the history going on past it", from: a, to: b, history: abc},
		{name: "A to B with more approvals than it takes", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, signedBy(t, changeOf(a, 1, b), seedDave, seedCarol, seedBob, seedAlice)...)}},
		{name: "A to C over two links", from: a, to: c, history: abc},
		{name: "B to C", from: b, to: c, history: abc},
		{name: "B to C, the history starting at B", from: b, to: c,
			history: []reserve.PolicyLink{chainLink(2, b), chainLink(3, c, bc...)}},
		{name: "A to B to A to B", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, ab...), chainLink(3, a, ba...), chainLink(4, b, ab3...)}},
		{name: "from the latest A before B: earlier changes are not the signer's", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b), chainLink(3, a), chainLink(4, b, ab3...)}},

		// Too few officers.
		{name: "one approval short", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, ab[:2]...)},
			field:   "history[1]", msg: "policy 2 was approved by 2 officers of policy 1, which needs 3 for a change"},
		{name: "B's top-tier quorum is short of its unfreeze_approvals", from: b, to: c,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, ab...), chainLink(3, c, bc[:3]...)},
			field:   "history[2]", msg: "approved by 3 officers of policy 2, which needs 4"},
		{name: "an approval counted twice", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, ab[0], ab[1], ab[1])},
			field:   "history[1]", msg: "approved by 2 officers"},
		{name: "short on the second link of two", from: a, to: c,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, ab...), chainLink(3, c, bc[1:]...)},
			field:   "history[2]", msg: "approved by 3 officers of policy 2, which needs 4"},

		// Signatures that are not the replaced policy's officers' over
		// this change.
		{name: "an officer of the new policy only", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, signedBy(t, changeOf(a, 1, b), seedAlice, seedBob, seedErin)...)},
			field:   "history[1].approvals[2]", msg: "not an officer of the policy in force"},
		{name: "a non-officer beside a quorum", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, signedBy(t, changeOf(a, 1, b), seedAlice, seedBob, seedCarol, seedErin)...)},
			field:   "history[1].approvals[3]", msg: "not an officer of the policy in force"},
		{name: "replayed from the earlier A to B", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, ab...), chainLink(3, a, ba...), chainLink(4, b, ab...)},
			field:   "history[3].approvals[0]", is: reserve.ErrBadApprovalSignature},
		{name: "signed on another network", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, signedBy(t, onNetwork, seedAlice, seedBob, seedCarol)...)},
			field:   "history[1].approvals[0]", is: reserve.ErrBadApprovalSignature},
		{name: "signed for another wallet", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, signedBy(t, onWallet, seedAlice, seedBob, seedCarol)...)},
			field:   "history[1].approvals[0]", is: reserve.ErrBadApprovalSignature},
		{name: "signed for another new policy", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, signedBy(t, changeOf(a, 1, c), seedAlice, seedBob, seedCarol)...)},
			field:   "history[1].approvals[0]", is: reserve.ErrBadApprovalSignature},
		{name: "a forged signature", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, with(ab, func(as []reserve.Approval) { as[2].Signature[7] ^= 0x10 })...)},
			field:   "history[1].approvals[2]", is: reserve.ErrBadApprovalSignature},

		// A history that is not one.
		{name: "seq not consecutive", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(3, b, ab...)},
			field:   "history[1].seq", msg: "policy 3 follows policy 1"},
		{name: "seq repeated", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), chainLink(1, b, ab...)},
			field:   "history[1].seq"},
		{name: "a link without a policy", from: a, to: b,
			history: []reserve.PolicyLink{chainLink(1, a), {Seq: 2, Approvals: ab}},
			field:   "history[1]", msg: "no policy"},
		{name: "no history", from: a, to: b, field: "history"},
		{name: "the pinned policy absent", from: d, to: b, history: abc,
			field: "history", msg: "the pinned policy"},
		{name: "the target absent", from: a, to: d, history: abc,
			field: "history", msg: "is not in the reserve's history"},
		{name: "the target before the pinned policy only", from: c, to: a, history: abc,
			field: "history", msg: "the pinned policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := reserve.VerifyPolicyChain(tt.from, tt.to.Hash(), reserve.Regtest, chainWallet, tt.history)
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			requireField(t, err, tt.field)
			require.ErrorContains(t, err, tt.msg)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
		})
	}
}

// TestVerifyPolicyChainBindsWallet: the approvals of a change of one
// wallet's policy, on one network, move no other wallet's signer.
func TestVerifyPolicyChainBindsWallet(t *testing.T) {
	a, b, _, _ := chainPolicies(t)
	history := []reserve.PolicyLink{chainLink(1, a), chainLink(2, b, signedBy(t, changeOf(a, 1, b), seedAlice, seedBob, seedCarol)...)}
	require.NoError(t, reserve.VerifyPolicyChain(a, b.Hash(), reserve.Regtest, chainWallet, history))

	err := reserve.VerifyPolicyChain(a, b.Hash(), reserve.Testnet, chainWallet, history)
	requireField(t, err, "history[1].approvals[0]")
	require.ErrorIs(t, err, reserve.ErrBadApprovalSignature)
	err = reserve.VerifyPolicyChain(a, b.Hash(), reserve.Regtest, "0000000000000000", history)
	requireField(t, err, "history[1].approvals[0]")
	require.ErrorIs(t, err, reserve.ErrBadApprovalSignature)
}
