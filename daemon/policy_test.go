package daemon_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// officerSeeds are the Ed25519 seed bytes of the test officers; mallory
// is in no policy.
var officerSeeds = map[string]byte{"alice": 0xa1, "bob": 0xb2, "carol": 0xc3, "dave": 0xd4, "mallory": 0xee}

// officerKey is the approval key of officer id, from a fixed seed.
func officerKey(id string) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(seed(officerSeeds[id]))
}

// p2wpkh is the P2WPKH address of a fixed key hash on net.
func p2wpkh(tb testing.TB, b byte, net *chaincfg.Params) string {
	tb.Helper()
	a, err := btcutil.NewAddressWitnessPubKeyHash(bytes.Repeat([]byte{b}, 20), net)
	require.NoError(tb, err)
	return a.EncodeAddress()
}

// listedAddr and unlistedAddr are regtest payees, the first on the
// allowlist of testPolicy and in effect.
func listedAddr(tb testing.TB) string   { return p2wpkh(tb, 0x11, &chaincfg.RegressionNetParams) }
func unlistedAddr(tb testing.TB) string { return p2wpkh(tb, 0x22, &chaincfg.RegressionNetParams) }

// testPolicy is a regtest policy of alice, bob, carol and dave: tiers
// 1 BTC / 2 / 0s, 100 BTC / 3 / 1h, unlimited / all / 24h; 150 BTC a day;
// listedAddr allowlisted and in effect, one approval more for anyone
// else; two officers lift a freeze. Line numbers are named in
// TestSetPolicyRefused.
func testPolicy(tb testing.TB) string {
	tb.Helper()
	key := func(id string) string { return fmt.Sprintf("%x", officerKey(id).Public()) }
	return `version: 1
officers:
  - id: alice
    name: Alice Moreau
    key: ed25519:` + key("alice") + `
  - id: bob
    name: Bob Okafor
    key: ed25519:` + key("bob") + `
  - id: carol
    name: Carol Lindqvist
    key: ed25519:` + key("carol") + `
  - id: dave
    name: Dave Nakamura
    key: ed25519:` + key("dave") + `
tiers:
  - up_to: "1"
    approvals: 2
    cool_off: 0s
  - up_to: "100"
    approvals: 3
    cool_off: 1h
  - up_to: unlimited
    approvals: all
    cool_off: 24h
velocity:
  per_24h: "150"
allowlist:
  unlisted: extra_approval
  add_delay: 48h
  entries:
    - address: ` + listedAddr(tb) + `
      label: Central bank of X
      added: 2020-01-01T00:00:00Z
fees:
  max_fee: "0.01"
  max_fee_rate: 1000
proposal_expiry: 168h
unfreeze_approvals: 2
`
}

// editPolicy replaces old with new in text; old must occur exactly once.
func editPolicy(tb testing.TB, text, old, new string) string {
	tb.Helper()
	require.Equal(tb, 1, strings.Count(text, old), "%q in the policy", old)
	return strings.Replace(text, old, new, 1)
}

// policyHash is reserve.ParsePolicy(text).Hash().
func policyHash(tb testing.TB, text string) []byte {
	tb.Helper()
	p, err := reserve.ParsePolicy([]byte(text))
	require.NoError(tb, err)
	h := p.Hash()
	return h[:]
}

// controlOf is the statement an officer signs for action under the
// governance g reports.
func controlOf(tb testing.TB, g *custosv1.GetPolicyResponse, action reserve.Action) reserve.Control {
	tb.Helper()
	c := reserve.Control{Action: action, Network: reserve.Regtest, WalletID: g.WalletId}
	if g.Policy != nil {
		copy(c.PolicyHash[:], g.Policy.Hash)
		if action == reserve.ActionPolicyChange {
			c.Epoch = g.Policy.Seq
		}
	}
	return c
}

// sign is officer id's signature over c, as custosctl sends it.
func sign(tb testing.TB, id string, c reserve.Control) *custosv1.OfficerSignature {
	tb.Helper()
	a, err := reserve.SignControl(&c, officerKey(id))
	require.NoError(tb, err)
	return &custosv1.OfficerSignature{OfficerKey: a.OfficerKey[:], Signature: a.Signature[:]}
}

// MustGetPolicy reads the governance.
func MustGetPolicy(tb testing.TB, pol custosv1.PolicyServiceClient) *custosv1.GetPolicyResponse {
	tb.Helper()
	g, err := pol.GetPolicy(callCtx(tb), &custosv1.GetPolicyRequest{})
	require.NoError(tb, err)
	return g
}

// requireGovernance checks that the governance is still want. The
// history only GetPolicy returns is compared when want has it.
func requireGovernance(tb testing.TB, pol custosv1.PolicyServiceClient, want *custosv1.GetPolicyResponse) {
	tb.Helper()
	got := MustGetPolicy(tb, pol)
	if len(want.History) == 0 {
		got = proto.Clone(got).(*custosv1.GetPolicyResponse)
		got.History = nil
	}
	require.True(tb, proto.Equal(want, got), "governance changed:\nwant %v\ngot  %v", want, got)
}

// MustSetPolicy sets the first policy as admin; the wallet must exist.
func MustSetPolicy(tb testing.TB, td *testDaemon, text string) *custosv1.GetPolicyResponse {
	tb.Helper()
	r, err := custosv1.NewPolicyServiceClient(MustDialAdmin(tb, td)).SetPolicy(callCtx(tb), &custosv1.SetPolicyRequest{Text: []byte(text)})
	require.NoError(tb, err)
	require.True(tb, r.Applied)
	return r.Governance
}

func TestPolicyLifecycle(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	admin := custosv1.NewPolicyServiceClient(MustDialAdmin(t, td))
	officer := custosv1.NewPolicyServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	ctx := callCtx(t)
	p1 := testPolicy(t)

	// Nothing to govern before the wallet.
	_, err := admin.SetPolicy(ctx, &custosv1.SetPolicyRequest{Text: []byte(p1)})
	requireCode(t, err, codes.FailedPrecondition, "no reserve wallet")
	_, err = officer.GetPolicy(ctx, &custosv1.GetPolicyRequest{})
	requireCode(t, err, codes.FailedPrecondition, "no reserve wallet")

	w := MustCreateWallet(t, td)
	g := MustGetPolicy(t, officer)
	require.True(t, proto.Equal(&custosv1.GetPolicyResponse{
		Freeze: &custosv1.FreezeInfo{}, Network: custosv1.Network_NETWORK_REGTEST, WalletId: w.Id,
	}, g), "governance before any policy: %v", g)

	// The admin's first policy applies at once.
	r, err := admin.SetPolicy(ctx, &custosv1.SetPolicyRequest{Text: []byte(p1)})
	require.NoError(t, err)
	require.True(t, r.Applied)
	first := r.Governance
	require.Equal(t, uint64(1), first.Policy.Seq)
	require.Equal(t, policyHash(t, p1), first.Policy.Hash)
	require.Equal(t, []byte(p1), first.Policy.Text)
	require.Equal(t, "admin", first.Policy.SetBy)
	require.Empty(t, first.Policy.Approvals)
	require.Nil(t, first.Pending)
	require.Zero(t, first.PendingNeeded)
	require.Equal(t, uint32(2), first.Freeze.UnfreezeNeeded)
	requireGovernance(t, officer, first)

	// The policy in force again is refused.
	_, err = admin.SetPolicy(ctx, &custosv1.SetPolicyRequest{Text: []byte(p1)})
	requireCode(t, err, codes.InvalidArgument, "text:", "already in force")
	requireGovernance(t, officer, first)

	// Another policy waits for the top-tier quorum of the one in force:
	// all four officers (p2 itself would need three).
	p2 := editPolicy(t, p1, "approvals: all", "approvals: 3")
	h2 := policyHash(t, p2)
	r, err = admin.SetPolicy(ctx, &custosv1.SetPolicyRequest{Text: []byte(p2)})
	require.NoError(t, err)
	require.False(t, r.Applied)
	pending := r.Governance
	require.True(t, proto.Equal(first.Policy, pending.Policy), "the policy in force changed: %v", pending.Policy)
	require.Zero(t, pending.Pending.Seq)
	require.Equal(t, h2, pending.Pending.Hash)
	require.Equal(t, []byte(p2), pending.Pending.Text)
	require.Empty(t, pending.Pending.Approvals)
	require.Equal(t, uint32(4), pending.PendingNeeded)
	requireGovernance(t, officer, pending)

	// Approvals that do not verify for this change are refused, each
	// changing nothing.
	change := controlOf(t, first, reserve.ActionPolicyChange)
	copy(change.NewPolicy[:], h2)
	other := sha256.Sum256([]byte("another policy"))
	badSig := sign(t, "alice", change)
	badSig.Signature = bytes.Clone(badSig.Signature)
	badSig.Signature[10] ^= 1
	tests := []struct {
		name string
		req  *custosv1.ApprovePolicyRequest
		want []string
	}{
		{"hash of the policy in force", &custosv1.ApprovePolicyRequest{NewHash: first.Policy.Hash, Signature: sign(t, "alice", change)},
			[]string{"new_hash:", fmt.Sprintf("%x", h2)}},
		{"hash of 31 bytes", &custosv1.ApprovePolicyRequest{NewHash: h2[:31], Signature: sign(t, "alice", change)},
			[]string{"new_hash:", "31 bytes"}},
		{"key of no officer", &custosv1.ApprovePolicyRequest{NewHash: h2, Signature: sign(t, "mallory", change)},
			[]string{"officer_key:", "not an officer"}},
		{"bad signature", &custosv1.ApprovePolicyRequest{NewHash: h2, Signature: badSig},
			[]string{"signature:", "alice", "does not verify"}},
		{"signed under another policy in force", &custosv1.ApprovePolicyRequest{NewHash: h2, Signature: sign(t, "alice", func() reserve.Control {
			c := change
			c.PolicyHash = other
			return c
		}())}, []string{"signature:", "alice"}},
		{"signed for another new policy", &custosv1.ApprovePolicyRequest{NewHash: h2, Signature: sign(t, "alice", func() reserve.Control {
			c := change
			c.NewPolicy = other
			return c
		}())}, []string{"signature:", "alice"}},
		{"signed for another wallet", &custosv1.ApprovePolicyRequest{NewHash: h2, Signature: sign(t, "alice", func() reserve.Control {
			c := change
			c.WalletID = "0123456789abcdef"
			return c
		}())}, []string{"signature:", "alice"}},
		{"a freeze statement", &custosv1.ApprovePolicyRequest{NewHash: h2, Signature: sign(t, "alice", func() reserve.Control {
			c := controlOf(t, first, reserve.ActionFreeze)
			c.Epoch = 1
			return c
		}())}, []string{"signature:", "alice"}},
		{"signature of 63 bytes", &custosv1.ApprovePolicyRequest{NewHash: h2, Signature: &custosv1.OfficerSignature{
			OfficerKey: badSig.OfficerKey, Signature: badSig.Signature[:63],
		}}, []string{"signature.signature:", "63 bytes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := officer.ApprovePolicy(callCtx(t), tc.req)
			requireCode(t, err, codes.InvalidArgument, tc.want...)
			requireGovernance(t, officer, pending)
		})
	}

	// Officers approve one at a time; one approving twice is refused.
	approve := func(id string) *custosv1.ApprovePolicyResponse {
		t.Helper()
		r, err := asOfficer(t, td, id).ApprovePolicy(ctx, &custosv1.ApprovePolicyRequest{NewHash: h2, Signature: sign(t, id, change)})
		require.NoError(t, err, "officer %s", id)
		return r
	}
	for i, id := range []string{"alice", "bob", "carol"} {
		r := approve(id)
		require.False(t, r.Applied, "after %s", id)
		require.True(t, proto.Equal(first.Policy, r.Governance.Policy))
		require.Len(t, r.Governance.Pending.Approvals, i+1)
		require.Equal(t, id, r.Governance.Pending.Approvals[i].Officer)
	}
	threeOfFour := MustGetPolicy(t, officer)
	_, err = asOfficer(t, td, "alice").ApprovePolicy(ctx, &custosv1.ApprovePolicyRequest{NewHash: h2, Signature: sign(t, "alice", change)})
	requireCode(t, err, codes.AlreadyExists, "alice", "already signed")
	requireGovernance(t, officer, threeOfFour)

	// The fourth applies it.
	r2 := approve("dave")
	require.True(t, r2.Applied)
	second := r2.Governance
	require.Equal(t, uint64(2), second.Policy.Seq)
	require.Equal(t, h2, second.Policy.Hash)
	require.Equal(t, []byte(p2), second.Policy.Text)
	var approvers []string
	for _, a := range second.Policy.Approvals {
		approvers = append(approvers, a.Officer)
	}
	require.Equal(t, []string{"alice", "bob", "carol", "dave"}, approvers)
	require.Nil(t, second.Pending)
	require.Zero(t, second.PendingNeeded)
	requireGovernance(t, officer, second)

	// A freeze signed under the replaced policy does not verify.
	oldFreeze := controlOf(t, first, reserve.ActionFreeze)
	oldFreeze.Epoch = 1
	_, err = asOfficer(t, td, "alice").Freeze(ctx, &custosv1.FreezeRequest{Epoch: 1, Signature: sign(t, "alice", oldFreeze)})
	requireCode(t, err, codes.InvalidArgument, "signature:", "alice")
	requireGovernance(t, officer, second)

	// Nothing is pending now: the last signature again is refused.
	_, err = asOfficer(t, td, "dave").ApprovePolicy(ctx, &custosv1.ApprovePolicyRequest{NewHash: h2, Signature: sign(t, "dave", change)})
	requireCode(t, err, codes.FailedPrecondition, "no policy change is proposed")
	requireGovernance(t, officer, second)

	// A new proposal needs p2's top-tier quorum, three. A signature made
	// under the replaced policy does not count under the one in force.
	p3 := editPolicy(t, p2, "cool_off: 1h", "cool_off: 2h")
	h3 := policyHash(t, p3)
	r, err = admin.SetPolicy(ctx, &custosv1.SetPolicyRequest{Text: []byte(p3)})
	require.NoError(t, err)
	require.False(t, r.Applied)
	require.Equal(t, uint32(3), r.Governance.PendingNeeded)
	change3 := controlOf(t, second, reserve.ActionPolicyChange)
	copy(change3.NewPolicy[:], h3)
	stale := change3
	stale.PolicyHash = [32]byte(first.Policy.Hash)
	_, err = asOfficer(t, td, "bob").ApprovePolicy(ctx, &custosv1.ApprovePolicyRequest{NewHash: h3, Signature: sign(t, "bob", stale)})
	requireCode(t, err, codes.InvalidArgument, "signature:", "bob")
	requireGovernance(t, officer, r.Governance)
	_, err = asOfficer(t, td, "alice").ApprovePolicy(ctx, &custosv1.ApprovePolicyRequest{NewHash: h3, Signature: sign(t, "alice", change3)})
	require.NoError(t, err)

	// Proposing another policy drops the first proposal and its approvals.
	r, err = admin.SetPolicy(ctx, &custosv1.SetPolicyRequest{Text: []byte(p1)})
	require.NoError(t, err)
	require.False(t, r.Applied)
	back := r.Governance
	require.Equal(t, policyHash(t, p1), back.Pending.Hash)
	require.Empty(t, back.Pending.Approvals)
	require.True(t, proto.Equal(second.Policy, back.Policy))
	_, err = asOfficer(t, td, "alice").ApprovePolicy(ctx, &custosv1.ApprovePolicyRequest{NewHash: h3, Signature: sign(t, "alice", change3)})
	requireCode(t, err, codes.InvalidArgument, "new_hash:")
	requireGovernance(t, officer, back)
}

// TestSetPolicyRefused sets malformed policies: each is refused naming
// the line and the field, and the policy in force stays.
func TestSetPolicyRefused(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	admin := custosv1.NewPolicyServiceClient(MustDialAdmin(t, td))
	MustCreateWallet(t, td)
	p1 := testPolicy(t)
	inForce := MustSetPolicy(t, td, p1)

	tests := []struct {
		name     string
		old, new string
		want     []string
	}{
		{"YAML syntax", `  per_24h: "150"`, `  per_24h: "150`, []string{"policy line 26:", "malformed YAML"}},
		{"unknown field", "proposal_expiry: 168h\n", "proposal_expiry: 168h\ncolour: red\n", []string{"policy line 38: colour:", "unknown field"}},
		{"unordered tiers", `up_to: "100"`, `up_to: "0.5"`, []string{"policy line 19: tiers[1].up_to:", "ordered by increasing amount"}},
		{"zero amount", `up_to: "1"`, `up_to: "0"`, []string{"policy line 16: tiers[0].up_to:"}},
		{"amount as a YAML number", `max_fee: "0.01"`, `max_fee: 0.01`, []string{"policy line 35: fees.max_fee:", "quotes"}},
		{"tier needs more than the officers", "approvals: 3", "approvals: 5", []string{"policy line 20: tiers[1].approvals:", "only 4 officers"}},
		{"unfreeze needs more than the officers", "unfreeze_approvals: 2", "unfreeze_approvals: 5", []string{"policy line 38: unfreeze_approvals:", "only 4 officers"}},
		{"empty", p1, "", []string{"policy line 1:", "empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admin.SetPolicy(callCtx(t), &custosv1.SetPolicyRequest{Text: []byte(editPolicy(t, p1, tc.old, tc.new))})
			requireCode(t, err, codes.InvalidArgument, tc.want...)
			requireGovernance(t, admin, inForce)
		})
	}

	// A document is at most reserve.MaxPolicyBytes long, comments and all.
	p2 := editPolicy(t, p1, "cool_off: 1h", "cool_off: 2h")
	pad := func(n int) []byte {
		b := []byte(p2 + "#")
		b = append(b, bytes.Repeat([]byte("x"), n-len(b)-1)...)
		return append(b, '\n')
	}
	_, err := admin.SetPolicy(callCtx(t), &custosv1.SetPolicyRequest{Text: pad(reserve.MaxPolicyBytes + 1)})
	requireCode(t, err, codes.InvalidArgument, "text:", fmt.Sprint(reserve.MaxPolicyBytes+1, " bytes"))
	requireGovernance(t, admin, inForce)
	r, err := admin.SetPolicy(callCtx(t), &custosv1.SetPolicyRequest{Text: pad(reserve.MaxPolicyBytes)})
	require.NoError(t, err)
	require.False(t, r.Applied)
	require.Equal(t, policyHash(t, p2), r.Governance.Pending.Hash)
}

// TestSetPolicyAllowlist checks that allowlisted addresses are of the
// daemon's network and written as the daemon writes them.
func TestSetPolicyAllowlist(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	admin := custosv1.NewPolicyServiceClient(MustDialAdmin(t, td))
	MustCreateWallet(t, td)
	none := MustGetPolicy(t, admin)

	regtest := p2wpkh(t, 0x33, &chaincfg.RegressionNetParams)
	mainnetLegacy, err := btcutil.NewAddressPubKeyHash(bytes.Repeat([]byte{0x33}, 20), &chaincfg.MainNetParams)
	require.NoError(t, err)
	// A second entry, after listedAddr: the error names its index.
	withEntry := func(addr string) string {
		return editPolicy(t, testPolicy(t), "fees:\n", "    - address: "+addr+"\n      label: Second payee\n      added: 2020-01-01T00:00:00Z\nfees:\n")
	}
	tests := []struct {
		name string
		addr string
		want []string
	}{
		{"mainnet bech32", p2wpkh(t, 0x33, &chaincfg.MainNetParams), []string{"not an address of regtest"}},
		{"testnet bech32", p2wpkh(t, 0x33, &chaincfg.TestNet3Params), []string{"not an address of regtest"}},
		{"mainnet base58", mainnetLegacy.EncodeAddress(), []string{"not an address of regtest"}},
		{"not an address", "reserve-of-x", []string{"not an address of regtest"}},
		{"upper-case bech32", strings.ToUpper(regtest), []string{"not in canonical form", "write " + regtest}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admin.SetPolicy(callCtx(t), &custosv1.SetPolicyRequest{Text: []byte(withEntry(tc.addr))})
			requireCode(t, err, codes.InvalidArgument, append([]string{"allowlist.entries[1].address:", tc.addr}, tc.want...)...)
			requireGovernance(t, admin, none)
		})
	}

	r, err := admin.SetPolicy(callCtx(t), &custosv1.SetPolicyRequest{Text: []byte(withEntry(regtest))})
	require.NoError(t, err)
	require.True(t, r.Applied)
}

func TestFreeze(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	officer := custosv1.NewPolicyServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	spend := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	ctx := callCtx(t)
	MustCreateWallet(t, td)
	freezeAt := func(g *custosv1.GetPolicyResponse, epoch uint64) reserve.Control {
		c := controlOf(t, g, reserve.ActionFreeze)
		c.Epoch = epoch
		return c
	}
	unfreezeAt := func(g *custosv1.GetPolicyResponse, epoch uint64) reserve.Control {
		c := controlOf(t, g, reserve.ActionUnfreeze)
		c.Epoch = epoch
		return c
	}
	propose := func() error {
		_, err := spend.ProposeSpend(ctx, &custosv1.ProposeSpendRequest{
			Payees: []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 100_000}}, FeeRateSatVb: 2,
		})
		return err
	}

	// Without a policy there are no officers to freeze.
	_, err := asOfficer(t, td, "alice").Freeze(ctx, &custosv1.FreezeRequest{Epoch: 1, Signature: sign(t, "alice", freezeAt(MustGetPolicy(t, officer), 1))})
	requireCode(t, err, codes.FailedPrecondition, "no spending policy")
	thawed := MustSetPolicy(t, td, testPolicy(t))
	require.True(t, proto.Equal(&custosv1.FreezeInfo{UnfreezeNeeded: 2}, thawed.Freeze), "freeze %v", thawed.Freeze)

	// Freezes that do not verify for epoch 1 change nothing.
	refused := []struct {
		name string
		req  *custosv1.FreezeRequest
		want []string
	}{
		{"epoch 0", &custosv1.FreezeRequest{Epoch: 0, Signature: sign(t, "alice", freezeAt(thawed, 1))}, []string{"epoch:", "next freeze is epoch 1"}},
		{"epoch 2", &custosv1.FreezeRequest{Epoch: 2, Signature: sign(t, "alice", freezeAt(thawed, 2))}, []string{"epoch:", "next freeze is epoch 1"}},
		{"signed for epoch 2", &custosv1.FreezeRequest{Epoch: 1, Signature: sign(t, "alice", freezeAt(thawed, 2))}, []string{"signature:", "alice"}},
		{"signed as an unfreeze", &custosv1.FreezeRequest{Epoch: 1, Signature: sign(t, "alice", unfreezeAt(thawed, 1))}, []string{"signature:", "alice"}},
		{"key of no officer", &custosv1.FreezeRequest{Epoch: 1, Signature: sign(t, "mallory", freezeAt(thawed, 1))}, []string{"officer_key:", "not an officer"}},
		{"reason of 257 bytes", &custosv1.FreezeRequest{Epoch: 1, Signature: sign(t, "alice", freezeAt(thawed, 1)), Reason: strings.Repeat("r", 257)}, []string{"reason:"}},
		{"key of 31 bytes", &custosv1.FreezeRequest{Epoch: 1, Signature: &custosv1.OfficerSignature{
			OfficerKey: make([]byte, 31), Signature: make([]byte, 64),
		}}, []string{"signature.officer_key:", "31 bytes"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := officer.Freeze(callCtx(t), tc.req)
			requireCode(t, err, codes.InvalidArgument, tc.want...)
			requireGovernance(t, officer, thawed)
		})
	}

	// One officer freezes.
	reason := strings.Repeat("r", 250) + " key?"
	f, err := asOfficer(t, td, "alice").Freeze(ctx, &custosv1.FreezeRequest{Epoch: 1, Signature: sign(t, "alice", freezeAt(thawed, 1)), Reason: reason})
	require.NoError(t, err)
	require.True(t, f.Freeze.Frozen)
	require.Equal(t, uint64(1), f.Freeze.Epoch)
	require.Equal(t, "alice", f.Freeze.FrozenBy)
	require.Equal(t, reason, f.Freeze.Reason)
	require.NotZero(t, f.Freeze.FrozenAtUnix)
	require.Empty(t, f.Freeze.UnfreezeApprovals)
	frozen := MustGetPolicy(t, officer)
	require.True(t, proto.Equal(f.Freeze, frozen.Freeze), "GetPolicy %v, Freeze %v", frozen.Freeze, f.Freeze)
	require.True(t, proto.Equal(thawed.Policy, frozen.Policy))

	// Nothing is spent while frozen.
	requireCode(t, propose(), codes.FailedPrecondition, "the reserve is frozen", "freeze 1 by officer alice")
	_, err = spend.BumpFee(ctx, &custosv1.BumpFeeRequest{Id: "P000001", FeeRateSatVb: 5})
	requireCode(t, err, codes.FailedPrecondition, "the reserve is frozen")

	// A second freeze while frozen is refused, whatever its epoch.
	for _, epoch := range []uint64{1, 2} {
		_, err = asOfficer(t, td, "bob").Freeze(ctx, &custosv1.FreezeRequest{Epoch: epoch, Signature: sign(t, "bob", freezeAt(thawed, epoch))})
		requireCode(t, err, codes.FailedPrecondition, "already frozen")
	}
	requireGovernance(t, officer, frozen)

	// Unfreezes that do not verify for epoch 1 change nothing.
	refused2 := []struct {
		name string
		req  *custosv1.UnfreezeRequest
		want []string
	}{
		{"signed as a freeze", &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, "bob", freezeAt(thawed, 1))}, []string{"signature:", "bob"}},
		{"signed for epoch 2", &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, "bob", unfreezeAt(thawed, 2))}, []string{"signature:", "bob"}},
		{"epoch 2", &custosv1.UnfreezeRequest{Epoch: 2, Signature: sign(t, "bob", unfreezeAt(thawed, 2))}, []string{"epoch:", "freeze in force is epoch 1"}},
		{"key of no officer", &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, "mallory", unfreezeAt(thawed, 1))}, []string{"officer_key:", "not an officer"}},
	}
	for _, tc := range refused2 {
		t.Run(tc.name, func(t *testing.T) {
			_, err := officer.Unfreeze(callCtx(t), tc.req)
			requireCode(t, err, codes.InvalidArgument, tc.want...)
			requireGovernance(t, officer, frozen)
		})
	}

	// Two officers lift it (the one who froze may be one of them); one
	// approving twice is refused.
	u, err := asOfficer(t, td, "alice").Unfreeze(ctx, &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, "alice", unfreezeAt(thawed, 1))})
	require.NoError(t, err)
	require.True(t, u.Freeze.Frozen)
	require.Len(t, u.Freeze.UnfreezeApprovals, 1)
	require.Equal(t, "alice", u.Freeze.UnfreezeApprovals[0].Officer)
	require.Equal(t, uint32(2), u.Freeze.UnfreezeNeeded)
	halfway := MustGetPolicy(t, officer)
	_, err = asOfficer(t, td, "alice").Unfreeze(ctx, &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, "alice", unfreezeAt(thawed, 1))})
	requireCode(t, err, codes.AlreadyExists, "alice", "already signed")
	requireGovernance(t, officer, halfway)
	requireCode(t, propose(), codes.FailedPrecondition, "the reserve is frozen")

	u, err = asOfficer(t, td, "carol").Unfreeze(ctx, &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, "carol", unfreezeAt(thawed, 1))})
	require.NoError(t, err)
	require.False(t, u.Freeze.Frozen)
	require.Equal(t, uint64(1), u.Freeze.Epoch)
	require.Len(t, u.Freeze.UnfreezeApprovals, 2)
	lifted := MustGetPolicy(t, officer)
	require.True(t, proto.Equal(u.Freeze, lifted.Freeze))

	// Spending is refused again only for want of coins.
	err = propose()
	requireCode(t, err, codes.FailedPrecondition)
	require.NotContains(t, err.Error(), "frozen")
	_, err = asOfficer(t, td, "dave").Unfreeze(ctx, &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, "dave", unfreezeAt(thawed, 1))})
	requireCode(t, err, codes.FailedPrecondition, "not frozen")
	requireGovernance(t, officer, lifted)

	// The next freeze is epoch 2: the signature of freeze 1 is not
	// replayed, and the unfreeze signatures of epoch 1 do not lift it.
	_, err = asOfficer(t, td, "alice").Freeze(ctx, &custosv1.FreezeRequest{Epoch: 1, Signature: sign(t, "alice", freezeAt(thawed, 1))})
	requireCode(t, err, codes.InvalidArgument, "epoch:", "next freeze is epoch 2")
	_, err = asOfficer(t, td, "alice").Freeze(ctx, &custosv1.FreezeRequest{Epoch: 2, Signature: sign(t, "alice", freezeAt(thawed, 1))})
	requireCode(t, err, codes.InvalidArgument, "signature:", "alice")
	requireGovernance(t, officer, lifted)

	f, err = asOfficer(t, td, "dave").Freeze(ctx, &custosv1.FreezeRequest{Epoch: 2, Signature: sign(t, "dave", freezeAt(thawed, 2))})
	require.NoError(t, err)
	require.True(t, f.Freeze.Frozen)
	require.Equal(t, uint64(2), f.Freeze.Epoch)
	require.Equal(t, "dave", f.Freeze.FrozenBy)
	require.Empty(t, f.Freeze.Reason)
	require.Empty(t, f.Freeze.UnfreezeApprovals, "the approvals that lifted freeze 1 do not count")
	again := MustGetPolicy(t, officer)
	for _, id := range []string{"alice", "carol"} {
		_, err = asOfficer(t, td, id).Unfreeze(ctx, &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, id, unfreezeAt(thawed, 1))})
		requireCode(t, err, codes.InvalidArgument, "epoch:", "freeze in force is epoch 2")
		_, err = asOfficer(t, td, id).Unfreeze(ctx, &custosv1.UnfreezeRequest{Epoch: 2, Signature: sign(t, id, unfreezeAt(thawed, 1))})
		requireCode(t, err, codes.InvalidArgument, "signature:", id)
	}
	requireGovernance(t, officer, again)
	requireCode(t, propose(), codes.FailedPrecondition, "the reserve is frozen", "freeze 2 by officer dave")
}

func TestCheckPayment(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	auditor := custosv1.NewPolicyServiceClient(MustDialAs(t, td, daemon.RoleAuditor))
	listed, unlisted := listedAddr(t), unlistedAddr(t)
	check := func(t *testing.T, payees ...*custosv1.Payment) (*custosv1.CheckPaymentResponse, error) {
		return auditor.CheckPayment(callCtx(t), &custosv1.CheckPaymentRequest{Payees: payees})
	}
	pay := func(addr string, sat int64) *custosv1.Payment {
		return &custosv1.Payment{Address: addr, AmountSat: sat}
	}
	upTo := func(sat int64) *int64 { return &sat }
	const btc = 100_000_000

	_, err := check(t, pay(listed, 1))
	requireCode(t, err, codes.FailedPrecondition, "no reserve wallet")
	MustCreateWallet(t, td)
	_, err = check(t, pay(listed, 1))
	requireCode(t, err, codes.FailedPrecondition, "no spending policy")
	MustSetPolicy(t, td, testPolicy(t))

	tests := []struct {
		name   string
		payees []*custosv1.Payment
		want   *custosv1.CheckPaymentResponse
	}{
		{"1 sat", []*custosv1.Payment{pay(listed, 1)},
			&custosv1.CheckPaymentResponse{Allowed: true, Tier: 0, TierUpToSat: upTo(btc), Approvals: 2, TotalSat: 1}},
		{"exactly tier 0's up_to", []*custosv1.Payment{pay(listed, btc)},
			&custosv1.CheckPaymentResponse{Allowed: true, Tier: 0, TierUpToSat: upTo(btc), Approvals: 2, TotalSat: btc}},
		{"one satoshi over tier 0", []*custosv1.Payment{pay(listed, btc+1)},
			&custosv1.CheckPaymentResponse{Allowed: true, Tier: 1, TierUpToSat: upTo(100 * btc), Approvals: 3, CoolOffSeconds: 3600, TotalSat: btc + 1}},
		{"exactly tier 1's up_to", []*custosv1.Payment{pay(listed, 100*btc)},
			&custosv1.CheckPaymentResponse{Allowed: true, Tier: 1, TierUpToSat: upTo(100 * btc), Approvals: 3, CoolOffSeconds: 3600, TotalSat: 100 * btc}},
		{"one satoshi over tier 1", []*custosv1.Payment{pay(listed, 100*btc+1)},
			&custosv1.CheckPaymentResponse{Allowed: true, Tier: 2, Approvals: 4, CoolOffSeconds: 86400, TotalSat: 100*btc + 1}},
		{"exactly the daily cap", []*custosv1.Payment{pay(listed, 150*btc)},
			&custosv1.CheckPaymentResponse{Allowed: true, Tier: 2, Approvals: 4, CoolOffSeconds: 86400, TotalSat: 150 * btc}},
		{"unlisted payee", []*custosv1.Payment{pay(unlisted, 1)},
			&custosv1.CheckPaymentResponse{Allowed: true, Tier: 0, TierUpToSat: upTo(btc), Approvals: 3, Unlisted: []string{unlisted}, TotalSat: 1}},
		{"payees summed to the tier", []*custosv1.Payment{pay(listed, btc/2), pay(unlisted, btc/4), pay(unlisted, btc/4)},
			&custosv1.CheckPaymentResponse{Allowed: true, Tier: 0, TierUpToSat: upTo(btc), Approvals: 3, Unlisted: []string{unlisted}, TotalSat: btc}},
		{"payees summed over the tier", []*custosv1.Payment{pay(listed, btc/2), pay(unlisted, btc/2+1)},
			&custosv1.CheckPaymentResponse{Allowed: true, Tier: 1, TierUpToSat: upTo(100 * btc), Approvals: 4, CoolOffSeconds: 3600, Unlisted: []string{unlisted}, TotalSat: btc + 1}},
		{"listed payee in upper case", []*custosv1.Payment{pay(strings.ToUpper(listed), 1)},
			&custosv1.CheckPaymentResponse{Allowed: true, Tier: 0, TierUpToSat: upTo(btc), Approvals: 2, TotalSat: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := check(t, tc.payees...)
			require.NoError(t, err)
			require.True(t, proto.Equal(tc.want, r), "want %v\ngot  %v", tc.want, r)
		})
	}

	// What the policy forbids is an answer, not a failed call.
	refusals := []struct {
		name   string
		payees []*custosv1.Payment
		total  int64
		want   []string
	}{
		{"unlisted payee in the top tier: five approvals of four officers", []*custosv1.Payment{pay(unlisted, 100*btc+1)}, 100*btc + 1,
			[]string{"allowlist.unlisted:", "4 officers", unlisted}},
		{"one satoshi over the daily cap", []*custosv1.Payment{pay(listed, 150*btc+1)}, 150*btc + 1,
			[]string{"velocity.per_24h:"}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			r, err := check(t, tc.payees...)
			require.NoError(t, err)
			require.False(t, r.Allowed)
			require.Equal(t, tc.total, r.TotalSat)
			require.Zero(t, r.Approvals)
			for _, s := range tc.want {
				require.Contains(t, r.Refusal, s)
			}
		})
	}

	// Payees that are no payment are bad input.
	many := make([]*custosv1.Payment, 101)
	for i := range many {
		many[i] = pay(listed, 1)
	}
	invalid := []struct {
		name   string
		payees []*custosv1.Payment
		want   []string
	}{
		{"mainnet payee", []*custosv1.Payment{pay(listed, 1), pay(p2wpkh(t, 0x11, &chaincfg.MainNetParams), 1)}, []string{"payees[1]:", "regtest"}},
		{"testnet payee", []*custosv1.Payment{pay(p2wpkh(t, 0x11, &chaincfg.TestNet3Params), 1)}, []string{"payees[0]:", "regtest"}},
		{"zero amount", []*custosv1.Payment{pay(listed, 0)}, []string{"payees[0]:", "amount"}},
		{"negative amount", []*custosv1.Payment{pay(listed, -1)}, []string{"payees[0]:", "amount"}},
		{"no payees", nil, []string{"payees:"}},
		{"101 payees", many, []string{"payees:", "100"}},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			_, err := check(t, tc.payees...)
			requireCode(t, err, codes.InvalidArgument, tc.want...)
		})
	}
}

// TestCheckPaymentUnlistedRefused checks a policy that refuses unlisted
// payees, and one listed but not yet in effect.
func TestCheckPaymentUnlistedRefused(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	auditor := custosv1.NewPolicyServiceClient(MustDialAs(t, td, daemon.RoleAuditor))
	MustCreateWallet(t, td)
	later := p2wpkh(t, 0x44, &chaincfg.RegressionNetParams)
	policy := editPolicy(t, testPolicy(t), "unlisted: extra_approval", "unlisted: refuse")
	policy = editPolicy(t, policy, "fees:\n", "    - address: "+later+"\n      label: Not yet\n      added: 2099-01-01T00:00:00Z\nfees:\n")
	MustSetPolicy(t, td, policy)
	check := func(addr string) *custosv1.CheckPaymentResponse {
		t.Helper()
		r, err := auditor.CheckPayment(callCtx(t), &custosv1.CheckPaymentRequest{Payees: []*custosv1.Payment{{Address: addr, AmountSat: 1000}}})
		require.NoError(t, err)
		return r
	}

	r := check(listedAddr(t))
	require.True(t, r.Allowed)
	require.Equal(t, uint32(2), r.Approvals)
	for _, addr := range []string{unlistedAddr(t), later} {
		r := check(addr)
		require.False(t, r.Allowed, addr)
		require.Contains(t, r.Refusal, "allowlist.unlisted:")
		require.Contains(t, r.Refusal, addr)
		require.Contains(t, r.Refusal, "refuses unlisted payees")
		require.Equal(t, int64(1000), r.TotalSat)
	}
	require.Contains(t, check(later).Refusal, "in effect from 2099-01-03T00:00:00Z")
}

// TestDecideProposalRefused sends decisions the daemon cannot take.
func TestDecideProposalRefused(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	spend := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	MustCreateWallet(t, td)
	decide := func(t *testing.T, req *custosv1.DecideProposalRequest) error {
		_, err := spend.DecideProposal(callCtx(t), req)
		return err
	}
	approve := custosv1.Decision_DECISION_APPROVE
	sig := func(keyLen, sigLen int) *custosv1.OfficerSignature {
		return &custosv1.OfficerSignature{OfficerKey: bytes.Repeat([]byte{2}, keyLen), Signature: bytes.Repeat([]byte{3}, sigLen)}
	}

	// Without a policy a well-formed decision has nothing to count under.
	err := decide(t, &custosv1.DecideProposalRequest{Id: "P000001", Decision: approve, Signature: sig(32, 64)})
	requireCode(t, err, codes.FailedPrecondition, "no spending policy")
	MustSetPolicy(t, td, testPolicy(t))

	tests := []struct {
		name string
		req  *custosv1.DecideProposalRequest
		code codes.Code
		want []string
	}{
		{"key of 31 bytes", &custosv1.DecideProposalRequest{Id: "P000001", Decision: approve, Signature: sig(31, 64)},
			codes.InvalidArgument, []string{"signature.officer_key:", "31 bytes"}},
		{"key of 33 bytes", &custosv1.DecideProposalRequest{Id: "P000001", Decision: approve, Signature: sig(33, 64)},
			codes.InvalidArgument, []string{"signature.officer_key:", "33 bytes"}},
		{"signature of 63 bytes", &custosv1.DecideProposalRequest{Id: "P000001", Decision: approve, Signature: sig(32, 63)},
			codes.InvalidArgument, []string{"signature.signature:", "63 bytes"}},
		{"no signature", &custosv1.DecideProposalRequest{Id: "P000001", Decision: approve},
			codes.InvalidArgument, []string{"signature.officer_key:", "0 bytes"}},
		{"decision unspecified", &custosv1.DecideProposalRequest{Id: "P000001", Signature: sig(32, 64)},
			codes.InvalidArgument, []string{"decision:", "approve or reject"}},
		{"unknown decision", &custosv1.DecideProposalRequest{Id: "P000001", Decision: custosv1.Decision(7), Signature: sig(32, 64)},
			codes.InvalidArgument, []string{"decision:", "7"}},
		{"no id", &custosv1.DecideProposalRequest{Decision: approve, Signature: sig(32, 64)},
			codes.InvalidArgument, []string{"id:"}},
		{"id with a slash", &custosv1.DecideProposalRequest{Id: "P/1", Decision: approve, Signature: sig(32, 64)},
			codes.InvalidArgument, []string{"id:", "P/1"}},
		{"unknown id", &custosv1.DecideProposalRequest{Id: "P000001", Decision: approve, Signature: sig(32, 64)},
			codes.NotFound, []string{"P000001"}},
		{"unknown id, veto", &custosv1.DecideProposalRequest{Id: "P000001", Decision: custosv1.Decision_DECISION_REJECT, Signature: sig(32, 64)},
			codes.NotFound, []string{"P000001"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requireCode(t, decide(t, tc.req), tc.code, tc.want...)
		})
	}

	r, err := spend.ListProposals(callCtx(t), &custosv1.ListProposalsRequest{})
	require.NoError(t, err)
	require.Empty(t, r.Proposals)
}

// TestSetPolicyBackdatedEntry: a policy change may not backdate an
// address it adds to the allowlist, which would let it be paid with no
// extra approval before add_delay; entries already listed keep their
// dates, and the first policy's entries are dated as the admin wrote them.
func TestSetPolicyBackdatedEntry(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	admin := custosv1.NewPolicyServiceClient(MustDialAdmin(t, td))
	MustCreateWallet(t, td)
	MustSetPolicy(t, td, testPolicy(t)) // listedAddr, added 2020-01-01: the first policy.
	before := MustGetPolicy(t, admin)

	added := func(at time.Time) string {
		return editPolicy(t, testPolicy(t), "fees:\n", "    - address: "+unlistedAddr(t)+
			"\n      label: New payee\n      added: "+at.UTC().Format(time.RFC3339)+"\nfees:\n")
	}
	_, err := admin.SetPolicy(callCtx(t), &custosv1.SetPolicyRequest{Text: []byte(added(time.Now().Add(-25 * time.Hour)))})
	requireCode(t, err, codes.InvalidArgument, "allowlist.entries[1].added:", unlistedAddr(t), "is new to the allowlist")
	requireGovernance(t, admin, before)

	r, err := admin.SetPolicy(callCtx(t), &custosv1.SetPolicyRequest{Text: []byte(added(time.Now().Add(-time.Hour)))})
	require.NoError(t, err)
	require.False(t, r.Applied)
	require.NotNil(t, r.Governance.Pending)
}

// TestUnprintableTextRefused: memos and reasons are shown to officers
// beside the payees they approve; a terminal escape or a bidirectional
// override in them is refused, naming the character, before anything else.
func TestUnprintableTextRefused(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	MustCreateWallet(t, td)
	conn := MustDialAdmin(t, td)
	spend := custosv1.NewSpendServiceClient(conn)
	for _, memo := range []string{"\x1b[4Apay 90 BTC", "abc\u202edcba", "two\nlines"} {
		_, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{
			Payees: []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 100_000}}, FeeRateSatVb: 2, Memo: memo,
		})
		requireCode(t, err, codes.InvalidArgument, "memo: character U+", "is not printable")
	}
	_, err := spend.CancelProposal(callCtx(t), &custosv1.CancelProposalRequest{Id: "P000001", Reason: "\x07bell"})
	requireCode(t, err, codes.InvalidArgument, "reason: character U+0007")
	r, err := spend.ListProposals(callCtx(t), &custosv1.ListProposalsRequest{})
	require.NoError(t, err)
	require.Empty(t, r.Proposals)
}

// TestPolicyChangeReplay: approvals of a change from A to B cannot bring
// B back after a later change from B to A, nor can unfreeze approvals
// given under a policy count after it is replaced.
func TestPolicyChangeReplay(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	admin := custosv1.NewPolicyServiceClient(MustDialAdmin(t, td))
	officer := custosv1.NewPolicyServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	MustCreateWallet(t, td)
	ctx := callCtx(t)
	a := testPolicy(t)
	b := editPolicy(t, a, "proposal_expiry: 168h", "proposal_expiry: 24h")
	MustSetPolicy(t, td, a)

	// change proposes to, every officer approves, and returns the
	// signatures given.
	change := func(to string) []*custosv1.OfficerSignature {
		_, err := admin.SetPolicy(ctx, &custosv1.SetPolicyRequest{Text: []byte(to)})
		require.NoError(t, err)
		g := MustGetPolicy(t, officer)
		c := controlOf(t, g, reserve.ActionPolicyChange)
		copy(c.NewPolicy[:], policyHash(t, to))
		var sigs []*custosv1.OfficerSignature
		for _, id := range []string{"alice", "bob", "carol", "dave"} {
			sig := sign(t, id, c)
			_, err := asOfficer(t, td, id).ApprovePolicy(ctx, &custosv1.ApprovePolicyRequest{NewHash: c.NewPolicy[:], Signature: sig})
			require.NoError(t, err)
			sigs = append(sigs, sig)
		}
		require.Equal(t, policyHash(t, to), MustGetPolicy(t, officer).Policy.Hash)
		return sigs
	}
	aToB := change(b)
	change(a)
	require.Equal(t, uint64(3), MustGetPolicy(t, officer).Policy.Seq)

	_, err := admin.SetPolicy(ctx, &custosv1.SetPolicyRequest{Text: []byte(b)})
	require.NoError(t, err)
	pending := MustGetPolicy(t, officer)
	for _, sig := range aToB {
		_, err := officer.ApprovePolicy(ctx, &custosv1.ApprovePolicyRequest{NewHash: policyHash(t, b), Signature: sig})
		requireCode(t, err, codes.InvalidArgument, "signature:")
	}
	requireGovernance(t, officer, pending)
	require.Equal(t, policyHash(t, a), pending.Policy.Hash)

	// The history GetPolicy returns carries every change's signatures:
	// anyone can check that A (1) became B (2) and A again (3).
	require.Len(t, pending.History, 3)
	var links []reserve.PolicyLink
	for _, h := range pending.History {
		p, err := reserve.ParsePolicy(h.Text)
		require.NoError(t, err)
		l := reserve.PolicyLink{Seq: h.Seq, Policy: p}
		for _, ap := range h.Approvals {
			l.Approvals = append(l.Approvals, reserve.Approval{OfficerKey: [32]byte(ap.OfficerKey), Signature: [64]byte(ap.Signature)})
		}
		links = append(links, l)
	}
	first, err := reserve.ParsePolicy([]byte(a))
	require.NoError(t, err)
	require.NoError(t, reserve.VerifyPolicyChain(first, [32]byte(policyHash(t, b)), reserve.Regtest, pending.WalletId, links))
	require.NoError(t, reserve.VerifyPolicyChain(first, [32]byte(policyHash(t, a)), reserve.Regtest, pending.WalletId, links))
	// With one signature less on the change to B, it is not proved.
	links[1].Approvals = links[1].Approvals[1:]
	require.Error(t, reserve.VerifyPolicyChain(first, [32]byte(policyHash(t, b)), reserve.Regtest, pending.WalletId, links))
}

// TestPolicyChangeWhileFrozen: the policy can change while the reserve is
// frozen (to remove an officer whose key is lost), but the approvals to
// unfreeze given under the old policy do not carry over.
func TestPolicyChangeWhileFrozen(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	admin := custosv1.NewPolicyServiceClient(MustDialAdmin(t, td))
	officer := custosv1.NewPolicyServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	MustCreateWallet(t, td)
	ctx := callCtx(t)
	a := testPolicy(t)
	MustSetPolicy(t, td, a)
	g := MustGetPolicy(t, officer)
	freeze := controlOf(t, g, reserve.ActionFreeze)
	freeze.Epoch = 1
	_, err := asOfficer(t, td, "bob").Freeze(ctx, &custosv1.FreezeRequest{Epoch: 1, Signature: sign(t, "bob", freeze)})
	require.NoError(t, err)
	unfreeze := controlOf(t, g, reserve.ActionUnfreeze)
	unfreeze.Epoch = 1
	r, err := asOfficer(t, td, "alice").Unfreeze(ctx, &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, "alice", unfreeze)})
	require.NoError(t, err)
	require.Len(t, r.Freeze.UnfreezeApprovals, 1)

	b := editPolicy(t, a, "proposal_expiry: 168h", "proposal_expiry: 24h")
	_, err = admin.SetPolicy(ctx, &custosv1.SetPolicyRequest{Text: []byte(b)})
	require.NoError(t, err)
	change := controlOf(t, MustGetPolicy(t, officer), reserve.ActionPolicyChange)
	copy(change.NewPolicy[:], policyHash(t, b))
	for _, id := range []string{"alice", "bob", "carol", "dave"} {
		_, err := asOfficer(t, td, id).ApprovePolicy(ctx, &custosv1.ApprovePolicyRequest{NewHash: change.NewPolicy[:], Signature: sign(t, id, change)})
		require.NoError(t, err)
	}
	g = MustGetPolicy(t, officer)
	require.Equal(t, uint64(2), g.Policy.Seq)
	require.True(t, g.Freeze.Frozen)
	require.Empty(t, g.Freeze.UnfreezeApprovals, "alice's approval under the old policy is gone")

	// One approval under the new policy is not enough: two are needed.
	unfreeze = controlOf(t, g, reserve.ActionUnfreeze)
	unfreeze.Epoch = 1
	r, err = asOfficer(t, td, "carol").Unfreeze(ctx, &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, "carol", unfreeze)})
	require.NoError(t, err)
	require.True(t, r.Freeze.Frozen)
	r, err = asOfficer(t, td, "alice").Unfreeze(ctx, &custosv1.UnfreezeRequest{Epoch: 1, Signature: sign(t, "alice", unfreeze)})
	require.NoError(t, err)
	require.False(t, r.Freeze.Frozen)
}
