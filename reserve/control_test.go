package reserve_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// vectorControl is the control statement of docs/approvals.md's control
// vectors: wallet 4c2f8a0e91d3b675 on regtest under policy aa…aa.
func vectorControl(a reserve.Action) reserve.Control {
	c := reserve.Control{Action: a, Network: reserve.Regtest, WalletID: "4c2f8a0e91d3b675"}
	c.PolicyHash = [32]byte(bytes.Repeat([]byte{0xaa}, 32))
	switch a {
	case reserve.ActionFreeze, reserve.ActionUnfreeze:
		c.Epoch = 1
	case reserve.ActionPolicyChange:
		c.Epoch = 1
		c.NewPolicy = [32]byte(bytes.Repeat([]byte{0xbb}, 32))
	}
	return c
}

// TestControlVectors computes the encoding, digest and alice's signature
// of a freeze, an unfreeze and a policy change, and requires
// docs/approvals.md to quote each.
func TestControlVectors(t *testing.T) {
	// The freeze encoding, field by field: version, action, network,
	// wallet_id (u32 length, bytes), policy_hash, epoch, new_policy.
	wantFreeze := "01" + "01" + "04" + "00000010" + hex.EncodeToString([]byte("4c2f8a0e91d3b675")) +
		strings.Repeat("aa", 32) + "0000000000000001" + strings.Repeat("00", 32)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "approvals.md"))
	require.NoError(t, err)
	flat := string(bytes.Join(bytes.Fields(doc), nil))
	for _, a := range []reserve.Action{reserve.ActionFreeze, reserve.ActionUnfreeze, reserve.ActionPolicyChange} {
		c := vectorControl(a)
		enc, err := c.Encode()
		require.NoError(t, err)
		if a == reserve.ActionFreeze {
			require.Equal(t, wantFreeze, hex.EncodeToString(enc))
		}
		digest, err := c.Digest()
		require.NoError(t, err)
		sig, err := reserve.SignControl(&c, officerKey(1))
		require.NoError(t, err)
		for what, v := range map[string]string{
			"encoding": hex.EncodeToString(enc), "digest": hex.EncodeToString(digest[:]),
			"signature": hex.EncodeToString(sig.Signature[:]),
		} {
			require.True(t, strings.Contains(flat, v), "docs/approvals.md must quote the %s %s: %s", a, what, v)
		}
	}
}

// TestControlDigestBindsEveryField: changing any field of a statement
// changes its digest, so a signature over one is good for no other.
func TestControlDigestBindsEveryField(t *testing.T) {
	base := vectorControl(reserve.ActionFreeze)
	d0, err := base.Digest()
	require.NoError(t, err)
	edits := map[string]func(c *reserve.Control){
		"action":      func(c *reserve.Control) { c.Action = reserve.ActionUnfreeze },
		"network":     func(c *reserve.Control) { c.Network = reserve.Testnet },
		"wallet_id":   func(c *reserve.Control) { c.WalletID = "4c2f8a0e91d3b676" },
		"policy_hash": func(c *reserve.Control) { c.PolicyHash[31] ^= 1 },
		"epoch":       func(c *reserve.Control) { c.Epoch = 2 },
	}
	for name, edit := range edits {
		c := base
		edit(&c)
		d, err := c.Digest()
		require.NoError(t, err, name)
		require.NotEqual(t, d0, d, name)
	}
	// A policy change's digest is not a freeze's, nor an approval's.
	pc := vectorControl(reserve.ActionPolicyChange)
	d1, err := pc.Digest()
	require.NoError(t, err)
	pc.NewPolicy[0] ^= 1
	d2, err := pc.Digest()
	require.NoError(t, err)
	require.NotEqual(t, d1, d2)
	require.NotEqual(t, d0, d1)
}

func TestControlValidateRefuses(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *reserve.Control)
		field string
	}{
		{"unknown action", func(c *reserve.Control) { c.Action = 9 }, "control.action"},
		{"freeze without epoch", func(c *reserve.Control) { c.Epoch = 0 }, "control.epoch"},
		{"freeze naming a policy", func(c *reserve.Control) { c.NewPolicy[0] = 1 }, "control.new_policy"},
		{"unknown network", func(c *reserve.Control) { c.Network = 7 }, "control.network"},
		{"empty wallet", func(c *reserve.Control) { c.WalletID = "" }, "control.wallet_id"},
		{"wallet with a space", func(c *reserve.Control) { c.WalletID = "a b" }, "control.wallet_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := vectorControl(reserve.ActionFreeze)
			tc.edit(&c)
			_, err := c.Digest()
			requireField(t, err, tc.field)
		})
	}
	pc := vectorControl(reserve.ActionPolicyChange)
	pc.Epoch = 0
	_, err := pc.Encode()
	requireField(t, err, "control.epoch")
	pc = vectorControl(reserve.ActionPolicyChange)
	pc.NewPolicy = [32]byte{}
	_, err = pc.Encode()
	requireField(t, err, "control.new_policy")
	pc.NewPolicy = pc.PolicyHash
	_, err = pc.Encode()
	requireField(t, err, "control.new_policy")
}

func requireField(tb testing.TB, err error, field string) {
	tb.Helper()
	var e *reserve.Error
	require.ErrorAs(tb, err, &e)
	require.Equal(tb, reserve.CodeInvalid, e.Code)
	require.Equal(tb, field, e.Field)
}

func TestVerifyControl(t *testing.T) {
	p := MustParsePolicy(t, basePolicy)
	c := vectorControl(reserve.ActionFreeze)
	c.PolicyHash = p.Hash()

	a, err := reserve.SignControl(&c, officerKey(2))
	require.NoError(t, err)
	id, err := reserve.VerifyControl(p, &c, a)
	require.NoError(t, err)
	require.Equal(t, "bob", id)

	// erin (seed 5) is not an officer of basePolicy.
	notOfficer, err := reserve.SignControl(&c, officerKey(5))
	require.NoError(t, err)
	_, err = reserve.VerifyControl(p, &c, notOfficer)
	requireField(t, err, "officer_key")

	// bob's freeze signature is no unfreeze.
	unfreeze := c
	unfreeze.Action = reserve.ActionUnfreeze
	_, err = reserve.VerifyControl(p, &unfreeze, a)
	requireField(t, err, "signature")
	require.ErrorIs(t, err, reserve.ErrBadApprovalSignature)

	// An approval of an intent is not a control signature.
	in := testIntent(p, 1000)
	approval, err := reserve.SignIntent(&in, reserve.DecisionApprove, officerKey(2))
	require.NoError(t, err)
	_, err = reserve.VerifyControl(p, &c, approval)
	require.ErrorIs(t, err, reserve.ErrBadApprovalSignature)

	_, err = reserve.SignControl(&c, officerKey(1)[:10])
	requireField(t, err, "key")
}

func TestChangeApprovals(t *testing.T) {
	// basePolicy's top tier needs all four officers.
	require.Equal(t, 4, MustParsePolicy(t, basePolicy).ChangeApprovals())
	top3 := edit(t, basePolicy, "    approvals: all\n", "    approvals: 3\n")
	require.Equal(t, 3, MustParsePolicy(t, top3).ChangeApprovals())
	// Lifting a freeze takes all four: so does changing the policy.
	require.Equal(t, 4, MustParsePolicy(t, edit(t, top3, "unfreeze_approvals: 2", "unfreeze_approvals: all")).ChangeApprovals())
}
