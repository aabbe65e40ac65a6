//go:build itest

package itest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
)

// testApprovals: a 2-of-3 reserve with three officers. A small payment to
// an allowlisted payee needs two approvals and goes to the signers at
// once; a large one needs all three and waits out the cool-off; an
// unlisted payee needs one approval more. Nothing is exported before its
// time, and no one approves twice or without being an officer.
func testApprovals(t *testing.T, h *harness) {
	c := h.custos
	_, signers := createReserve(t, c, 2, 3)
	fund(t, h, 400_000_000, 1_500_000_000)
	alice, bob, carol := officers[0], officers[1], officers[2]

	// Small: 2 approvals. One is not enough, nor one twice.
	small := c.proposeOnly(t, 3, payment{externalAddress(t), 30_000_000})
	require.Equal(t, 2, small.ApprovalsNeeded)
	p := c.approve(t, small.ID, alice)
	require.Equal(t, "PENDING_APPROVAL", p.State)
	_, err := c.asOfficer(t, alice, "spend", "approve", small.ID)
	require.ErrorContains(t, err, "already decided")
	_, err = c.ctl("spend", "export", small.ID, "--out", filepath.Join(t.TempDir(), "early.psbt"))
	require.ErrorContains(t, err, "PENDING_APPROVAL")
	// The admin is not an officer: its identity may not approve.
	_, err = c.ctlEnv([]string{"CUSTOS_OFFICER_PASSPHRASE=" + officerPassphrase}, "spend", "approve", small.ID, "--key", alice.keyFile, "--yes")
	require.ErrorContains(t, err, "PermissionDenied")
	p = c.approve(t, small.ID, bob)
	require.Equal(t, "SIGNING", p.State)
	require.Len(t, p.Decisions, 2)

	file := c.export(t, small.ID)
	c.importSigned(t, small.ID, signers[0].sign(t, file))
	c.importSigned(t, small.ID, signers[2].sign(t, file))
	c.waitState(t, small.ID, "BROADCAST")

	// The PSBT carries the intent and both approvals, for air-gapped
	// signers.
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	pkt, err := multisig.ParsePSBT(raw)
	require.NoError(t, err)
	in, approvals, err := multisig.ReadApprovals(pkt)
	require.NoError(t, err)
	require.Equal(t, small.ID, in.ProposalID)
	require.Len(t, approvals, 2)
	h.funder.mine(h.node, 1)
	c.waitSynced()
	c.waitState(t, small.ID, "CONFIRMED")

	// Large: 10 BTC is tier 1, all three officers and a 20 s cool-off.
	large := c.proposeOnly(t, 3, payment{externalAddress(t), 1_000_000_000})
	require.Equal(t, 3, large.ApprovalsNeeded)
	p = c.approve(t, large.ID, carol, alice)
	require.Equal(t, "PENDING_APPROVAL", p.State)
	p = c.approve(t, large.ID, bob)
	require.Equal(t, "APPROVED", p.State)
	require.NotEmpty(t, p.ReleaseAt)
	_, err = c.ctl("spend", "export", large.ID, "--out", filepath.Join(t.TempDir(), "cooling.psbt"))
	require.ErrorContains(t, err, "cool-off")
	c.waitStateWithin(t, large.ID, "SIGNING", 60*time.Second)
	file = c.export(t, large.ID)
	c.importSigned(t, large.ID, signers[1].sign(t, file))
	c.importSigned(t, large.ID, signers[0].sign(t, file))
	c.waitState(t, large.ID, "BROADCAST")
	h.funder.mine(h.node, 1)
	c.waitState(t, large.ID, "CONFIRMED")

	// An unlisted payee: the small tier's two approvals and one more.
	fund(t, h, 100_000_000)
	unlisted := c.proposeOnly(t, 3, payment{unlistedAddress(t), 10_000_000})
	require.Equal(t, 3, unlisted.ApprovalsNeeded)
	require.Equal(t, "PENDING_APPROVAL", c.approve(t, unlisted.ID, alice, bob).State)
	require.Equal(t, "SIGNING", c.approve(t, unlisted.ID, carol).State)
}

// testVeto: any officer's veto during the cool-off rejects an approved
// proposal and frees its coins.
func testVeto(t *testing.T, h *harness) {
	c := h.custos
	createReserve(t, c, 2, 3)
	fund(t, h, 1_500_000_000)
	p := c.proposeOnly(t, 3, payment{externalAddress(t), 1_000_000_000})
	require.Equal(t, "APPROVED", c.approve(t, p.ID, officers[0], officers[1], officers[2]).State)

	out, err := c.asOfficer(t, officers[2], "spend", "reject", p.ID, "--json")
	require.NoError(t, err, out)
	got := c.show(t, p.ID)
	require.Equal(t, "REJECTED", got.State)
	require.Contains(t, got.History[len(got.History)-1].Note, "vetoed by officer carol")
	_, err = c.ctl("spend", "export", p.ID, "--out", filepath.Join(t.TempDir(), "vetoed.psbt"))
	require.ErrorContains(t, err, "FailedPrecondition")
	// Well after the cool-off it is still rejected; the coin is free.
	time.Sleep(25 * time.Second)
	require.Equal(t, "REJECTED", c.show(t, p.ID).State)
	next := c.propose(t, 3, payment{externalAddress(t), 50_000_000})
	require.Equal(t, "SIGNING", next.State)
}

// testFreeze: one officer freezes the reserve; an approved proposal can
// then not be exported nor signatures imported, nothing new is proposed,
// until two officers unfreeze it.
func testFreeze(t *testing.T, h *harness) {
	c := h.custos
	_, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000, 100_000_000)
	p := c.propose(t, 3, payment{externalAddress(t), 20_000_000})
	file := c.export(t, p.ID)
	signed := signers[0].sign(t, file)

	out, err := c.asOfficer(t, officers[1], "freeze", "--reason", "suspected compromise")
	require.NoError(t, err, out)
	_, err = c.ctl("spend", "export", p.ID, "--out", filepath.Join(t.TempDir(), "frozen.psbt"))
	require.ErrorContains(t, err, "frozen")
	_, err = c.ctl("spend", "import", p.ID, signed)
	require.ErrorContains(t, err, "frozen")
	_, err = c.ctl("spend", "propose", "--to", externalAddress(t)+"=0.1", "--feerate", "3")
	require.ErrorContains(t, err, "frozen")

	// One unfreeze approval is not enough; the same officer twice neither.
	_, err = c.asOfficer(t, officers[0], "unfreeze")
	require.NoError(t, err)
	_, err = c.asOfficer(t, officers[0], "unfreeze")
	require.ErrorContains(t, err, "already signed")
	_, err = c.ctl("spend", "export", p.ID, "--out", filepath.Join(t.TempDir(), "still.psbt"))
	require.ErrorContains(t, err, "frozen")
	_, err = c.asOfficer(t, officers[2], "unfreeze")
	require.NoError(t, err)

	require.Positive(t, c.importSigned(t, p.ID, signed))
	c.importSigned(t, p.ID, signers[1].sign(t, c.export(t, p.ID)))
	c.waitState(t, p.ID, "BROADCAST")
}

// testFeeBump: a payment broadcast at a low fee rate is replaced (BIP-125)
// at a higher one under the same approvals; the signers sign the
// replacement, it confirms, and the original ends REPLACED. A bump over
// the approved fee cap is refused.
func testFeeBump(t *testing.T, h *harness) {
	c := h.custos
	_, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000)
	args := []string{"spend", "propose", "--feerate", "2", "--to", externalAddress(t) + "=0.25", "--max-fee", "0.0001"}
	var orig proposalOut
	c.ctlJSON(&orig, args...)
	require.Equal(t, int64(10_000), orig.FeeCapSat)
	orig = c.approve(t, orig.ID, officers[0], officers[2])
	require.Equal(t, "SIGNING", orig.State)
	file := c.export(t, orig.ID)
	c.importSigned(t, orig.ID, signers[0].sign(t, file))
	c.importSigned(t, orig.ID, signers[1].sign(t, file))
	orig = c.waitState(t, orig.ID, "BROADCAST")

	// Over the cap the officers approved: refused.
	over := 10_000/orig.VSize + 1
	_, err := c.ctl("spend", "bump", orig.ID, "--feerate", itoa(int(over)))
	require.ErrorContains(t, err, "approved")

	var bump proposalOut
	c.ctlJSON(&bump, "spend", "bump", orig.ID, "--feerate", "10")
	require.Equal(t, "SIGNING", bump.State)
	require.Equal(t, orig.ID, bump.Replaces)
	require.Greater(t, bump.FeeSat, orig.FeeSat)
	file = c.export(t, bump.ID)
	// The signers signed the original for this intent; the bump spends
	// the same coin, so they sign it too.
	c.importSigned(t, bump.ID, signers[2].sign(t, file))
	c.importSigned(t, bump.ID, signers[0].sign(t, file))
	bump = c.waitState(t, bump.ID, "BROADCAST")
	waitFor(t, 30*time.Second, "the bump in the mempool", func() bool {
		return contains(h.node.mempool(), bump.Txid) && !contains(h.node.mempool(), orig.Txid)
	})
	h.funder.mine(h.node, 1)
	c.waitSynced()
	c.waitState(t, bump.ID, "CONFIRMED")
	replaced := c.waitState(t, orig.ID, "REPLACED")
	require.Contains(t, replaced.History[len(replaced.History)-1].Note, bump.ID)
	require.Equal(t, balanceOut{ConfirmedSat: 100_000_000 - 25_000_000 - bump.FeeSat, SyncedHeight: h.node.height()}, c.balance())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// testPolicyChange: the admin proposes a new policy; it applies only when
// the current policy's top-tier quorum (all three officers) approved its
// hash. A proposal made under the old policy takes no more approvals.
// Signers keep the policy they pinned: they refuse approvals under the new
// one until their operator pins it.
func testPolicyChange(t *testing.T, h *harness) {
	c := h.custos
	_, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000, 100_000_000, 100_000_000)
	old := c.proposeOnly(t, 3, payment{externalAddress(t), 10_000_000})
	oldSigning := c.propose(t, 3, payment{externalAddress(t), 10_000_000})

	var check struct {
		Allowed   bool   `json:"allowed"`
		Tier      uint32 `json:"tier"`
		Approvals uint32 `json:"approvals"`
	}
	c.ctlJSON(&check, "policy", "check", "--to", externalAddress(t)+"=5")
	require.Equal(t, uint32(0), check.Tier, "exactly 5 BTC is the first tier")
	require.Equal(t, uint32(2), check.Approvals)
	c.ctlJSON(&check, "policy", "check", "--to", externalAddress(t)+"=5.00000001")
	require.Equal(t, uint32(1), check.Tier, "one satoshi more is the next")
	require.Equal(t, uint32(3), check.Approvals)

	// Policy 2: proposals expire after a day instead of a week.
	next := filepath.Join(t.TempDir(), "next.yaml")
	require.NoError(t, os.WriteFile(next, []byte(itestPolicy(t, policyParams{expiry: "24h"})), 0o600))
	var set struct {
		Applied bool   `json:"applied"`
		Hash    string `json:"hash"`
	}
	c.ctlJSON(&set, "policy", "set", next)
	require.False(t, set.Applied)
	for i, o := range officers {
		out, err := c.asOfficer(t, o, "policy", "approve", "--file", next, "--json")
		require.NoError(t, err, out)
		var r struct {
			Applied bool `json:"applied"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &r), out)
		require.Equal(t, i == len(officers)-1, r.Applied, "after %d approvals", i+1)
	}
	var g struct {
		Policy struct {
			Seq  uint64 `json:"seq"`
			Hash string `json:"hash"`
		} `json:"policy"`
	}
	c.ctlJSON(&g, "policy", "show")
	require.Equal(t, uint64(2), g.Policy.Seq)
	require.Equal(t, set.Hash, g.Policy.Hash)

	// The old proposals' intents name policy 1: no more approvals, no
	// export to the signers.
	_, err := c.asOfficer(t, officers[0], "spend", "approve", old.ID)
	require.ErrorContains(t, err, "now in force")
	_, err = c.ctl("spend", "export", oldSigning.ID, "--out", filepath.Join(t.TempDir(), "stale.psbt"))
	require.ErrorContains(t, err, "now in force")
	c.ctlJSON(&oldSigning, "spend", "cancel", oldSigning.ID)

	// A proposal under policy 2: the signers still pin policy 1.
	p := c.propose(t, 3, payment{externalAddress(t), 20_000_000})
	file := c.export(t, p.ID)
	require.ErrorContains(t, signers[0].signErr(t, file), "approvals are under policy")
	pinned := filepath.Join(t.TempDir(), "policy2.yaml")
	chain := filepath.Join(t.TempDir(), "chain.json")
	_, err = c.ctl("policy", "show", "--out", pinned, "--chain-out", chain)
	require.NoError(t, err)
	// Without the officers' signatures of the change, a signer keeps its
	// policy; with them it checks the change itself and moves.
	_, err = signers[0].runErr("", "register", "--policy", pinned)
	require.ErrorContains(t, err, "--chain")
	for _, s := range signers[:2] {
		s.run(t, "", "register", "--policy", pinned, "--chain", chain)
	}
	c.importSigned(t, p.ID, signers[0].sign(t, file))
	c.importSigned(t, p.ID, signers[1].sign(t, file))
	c.waitState(t, p.ID, "BROADCAST")
}

// testVelocity: with a 24-hour cap of 1 BTC, a second payment that would
// take the approved total over it is refused when proposed; a cancelled
// one no longer counts.
func testVelocity(t *testing.T, h *harness) {
	c := h.custos
	createReserveWith(t, c, 2, 3, policyParams{per24h: "1"})
	fund(t, h, 100_000_000, 100_000_000)
	first := c.propose(t, 3, payment{externalAddress(t), 60_000_000})
	_, err := c.ctl("spend", "propose", "--feerate", "3", "--to", externalAddress(t)+"=0.5")
	require.ErrorContains(t, err, "velocity cap exceeded")
	require.ErrorContains(t, err, "PermissionDenied")
	c.ctlJSON(&first, "spend", "cancel", first.ID)
	require.Equal(t, "SIGNING", c.propose(t, 3, payment{externalAddress(t), 50_000_000}).State)
}
