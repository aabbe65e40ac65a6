// Package signertest makes what a signer checks before it signs, for the
// tests of package signer and of custos-signer: treasury officers whose
// Ed25519 keys come from fixed seeds, a spending policy naming them
// (docs/policy.md), and PSBTs carrying their approvals of an intent
// (docs/approvals.md), and a reserve's policy history with the officers'
// approvals of each change. It is imported by tests only; nothing in it
// is fit to hold a real key.
package signertest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/officer"
	"github.com/custos-reserve/custos/reserve"
)

// Officer is a test officer with the private key of a fixed seed.
type Officer struct {
	ID   string
	Name string
	Key  ed25519.PrivateKey
}

// PublicKey is the officer's public key as a policy lists it.
func (o Officer) PublicKey() [32]byte {
	var k [32]byte
	copy(k[:], o.Key.Public().(ed25519.PublicKey))
	return k
}

func newOfficer(seed byte, id, name string) Officer {
	return Officer{ID: id, Name: name, Key: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))}
}

// Alice, Bob and Carol are the officers of Officers: seeds 01 × 32,
// 02 × 32 and 03 × 32 (alice and bob are the officers of the test
// vectors in docs/approvals.md and docs/policy.md).
func Alice() Officer { return newOfficer(0x01, "alice", "Alice Moreau") }

// Bob is the officer of seed 02 × 32.
func Bob() Officer { return newOfficer(0x02, "bob", "Bob Okafor") }

// Carol is the officer of seed 03 × 32.
func Carol() Officer { return newOfficer(0x03, "carol", "Carol Lindqvist") }

// Dave, seed 04 × 32, is in no policy unless a test puts him there: an
// officer of some other reserve.
func Dave() Officer { return newOfficer(0x04, "dave", "Dave Nakamura") }

// Officers are the officers of the usual test policy: alice, bob, carol.
func Officers() []Officer { return []Officer{Alice(), Bob(), Carol()} }

// Figures of the policies PolicyYAML writes.
const (
	// TierSat is the bound of the first tier, which needs 2 approvals;
	// anything above needs every officer.
	TierSat int64 = 1_000_000_000
	// Per24hSat and Per30dSat are the velocity caps.
	Per24hSat int64 = 200_000_000
	Per30dSat int64 = 500_000_000
	// FeeCapSat is the fee cap of the intents MustIntent makes.
	FeeCapSat int64 = 50_000
)

// PolicyYAML writes a policy of officers in the format of docs/policy.md:
// up to 10 BTC needs 2 approvals, more needs all; velocity caps of 2 BTC
// a day and 5 BTC in 30 days; allowlisted, the given addresses (since
// 2026-01-01), any other payee needing one approval more; fees up to
// 0.01 BTC and 1000 sat/vB.
func PolicyYAML(officers []Officer, allowlisted ...string) []byte {
	var b strings.Builder
	b.WriteString("# Spending policy of a test reserve.\nversion: 1\nofficers:\n")
	for _, o := range officers {
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    key: %s\n", o.ID, o.Name, officer.FormatPublicKey(o.PublicKey()))
	}
	fmt.Fprintf(&b, "tiers:\n  - up_to: %q\n    approvals: 2\n    cool_off: 0s\n", reserve.FormatBTC(TierSat))
	b.WriteString("  - up_to: unlimited\n    approvals: all\n    cool_off: 24h\n")
	fmt.Fprintf(&b, "velocity:\n  per_24h: %q\n  per_30d: %q\n", reserve.FormatBTC(Per24hSat), reserve.FormatBTC(Per30dSat))
	b.WriteString("allowlist:\n  unlisted: extra_approval\n  add_delay: 48h\n")
	if len(allowlisted) == 0 {
		b.WriteString("  entries: []\n")
	} else {
		b.WriteString("  entries:\n")
	}
	for i, addr := range allowlisted {
		fmt.Fprintf(&b, "    - address: %s\n      label: Payee %d\n      added: 2026-01-01T00:00:00Z\n", addr, i+1)
	}
	b.WriteString("fees:\n  max_fee: \"0.01\"\n  max_fee_rate: 1000\nproposal_expiry: 168h\nunfreeze_approvals: 2\n")
	return []byte(b.String())
}

// MustParsePolicy parses text.
func MustParsePolicy(tb testing.TB, text []byte) *reserve.Policy {
	tb.Helper()
	p, err := reserve.ParsePolicy(text)
	require.NoError(tb, err)
	return p
}

// Now is the fixed clock of signer tests: 2026-12-01T12:00:00Z.
func Now() time.Time { return time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC) }

// MustIntent is the intent a coordinator would make for p, under the
// policy of hash policyHash: proposal P000001 of d's wallet, paying p's
// outputs that d does not prove change (in output order), fee cap
// FeeCapSat, expiring 7 days after Now.
func MustIntent(tb testing.TB, p *psbt.Packet, d *multisig.Descriptor, policyHash [32]byte) *reserve.Intent {
	tb.Helper()
	a, err := multisig.Analyze(p, d)
	require.NoError(tb, err)
	in := &reserve.Intent{
		Network:    d.Network(),
		WalletID:   d.WalletID(),
		ProposalID: "P000001",
		PolicyHash: policyHash,
		FeeCapSat:  FeeCapSat,
		ExpiresAt:  Now().Add(7 * 24 * time.Hour),
	}
	for _, o := range a.Payees {
		in.Payees = append(in.Payees, reserve.IntentPayee{Script: bytes.Clone(o.Script), AmountSat: o.AmountSat})
	}
	require.NoError(tb, in.Validate())
	return in
}

// MustSetApprovals puts in and the officers' approvals of it into p, in
// place of any Custos fields p had.
func MustSetApprovals(tb testing.TB, p *psbt.Packet, in *reserve.Intent, officers ...Officer) {
	tb.Helper()
	approvals := make([]reserve.Approval, len(officers))
	for i, o := range officers {
		a, err := reserve.SignIntent(in, reserve.DecisionApprove, o.Key)
		require.NoError(tb, err)
		approvals[i] = a
	}
	require.NoError(tb, multisig.SetApprovals(p, in, approvals))
}

// MustApprove makes MustIntent for p and sets the officers' approvals of
// it; it returns the intent.
func MustApprove(tb testing.TB, p *psbt.Packet, d *multisig.Descriptor, policyHash [32]byte, officers ...Officer) *reserve.Intent {
	tb.Helper()
	in := MustIntent(tb, p, d, policyHash)
	MustSetApprovals(tb, p, in, officers...)
	return in
}

// Chain is a reserve's policy history as a test makes it: the policies
// that were in force, numbered from 1, each change signed by officers of
// the policy it replaced, for one wallet on one network.
type Chain struct {
	Network  reserve.Network
	WalletID string
	// Texts are the policies' YAML documents, Links the history that
	// reserve.VerifyPolicyChain reads; Texts[i] is Links[i].Policy.
	Texts [][]byte
	Links []reserve.PolicyLink
}

// NewChain starts the policy history of wallet walletID on n with text
// as policy 1.
func NewChain(tb testing.TB, n reserve.Network, walletID string, text []byte) *Chain {
	tb.Helper()
	return &Chain{
		Network: n, WalletID: walletID, Texts: [][]byte{text},
		Links: []reserve.PolicyLink{{Seq: 1, Policy: MustParsePolicy(tb, text)}},
	}
}

// Add brings text into force after the last policy of c, with the
// officers' signatures over the change (MustSignChange); it returns c.
func (c *Chain) Add(tb testing.TB, text []byte, officers ...Officer) *Chain {
	tb.Helper()
	last := c.Links[len(c.Links)-1]
	p := MustParsePolicy(tb, text)
	c.Texts = append(c.Texts, text)
	c.Links = append(c.Links, reserve.PolicyLink{
		Seq: last.Seq + 1, Policy: p,
		Approvals: MustSignChange(tb, c.Network, c.WalletID, last.Policy, last.Seq, p.Hash(), officers...),
	})
	return c
}

// MustSignChange is the officers' signatures over the change of wallet
// walletID on n from policy from, in force as number seq, to the policy
// of hash to.
func MustSignChange(tb testing.TB, n reserve.Network, walletID string, from *reserve.Policy, seq uint64, to [32]byte, officers ...Officer) []reserve.Approval {
	tb.Helper()
	c := reserve.Control{
		Action: reserve.ActionPolicyChange, Network: n, WalletID: walletID,
		PolicyHash: from.Hash(), Epoch: seq, NewPolicy: to,
	}
	approvals := make([]reserve.Approval, len(officers))
	for i, o := range officers {
		a, err := reserve.SignControl(&c, o.Key)
		require.NoError(tb, err)
		approvals[i] = a
	}
	return approvals
}

// File is c as 'custosctl policy show --chain-out FILE' writes it; an
// approval names the officer of the replaced policy with its key, or no
// one.
func (c *Chain) File() reserve.PolicyChain {
	f := reserve.PolicyChain{Type: reserve.PolicyChainType, Version: 1}
	for i, l := range c.Links {
		cp := reserve.ChainPolicy{Seq: l.Seq, Text: string(c.Texts[i])}
		for _, a := range l.Approvals {
			ca := reserve.ChainApproval{Key: officer.FormatPublicKey(a.OfficerKey), Signature: hex.EncodeToString(a.Signature[:])}
			if i > 0 {
				if o, ok := c.Links[i-1].Policy.OfficerByKey(a.OfficerKey); ok {
					ca.Officer = o.ID
				}
			}
			cp.Approvals = append(cp.Approvals, ca)
		}
		f.Policies = append(f.Policies, cp)
	}
	return f
}

// MustJSON is File encoded as the chain file.
func (c *Chain) MustJSON(tb testing.TB) []byte {
	tb.Helper()
	data, err := json.Marshal(c.File())
	require.NoError(tb, err)
	return data
}
