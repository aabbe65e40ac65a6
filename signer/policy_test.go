package signer_test

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// policySigner is a signer's data dir with the "abandon … art" key and a
// 2-of-3 regtest wallet registered, and no policy; it returns the dir and
// the wallet id.
func policySigner(t *testing.T) (string, string) {
	t.Helper()
	f := newRegisterFixture(t)
	reg, err := signer.Register(f.dir, f.key, MustDescriptor(t, reserve.Regtest, 2, f.b, f.own, f.c), false)
	require.NoError(t, err)
	return f.dir, reg.Descriptor.WalletID()
}

func TestPinPolicy(t *testing.T) {
	dir, walletID := policySigner(t)
	path := filepath.Join(dir, signer.PolicyFileName)
	text := signertest.PolicyYAML(signertest.Officers())
	want := signertest.MustParsePolicy(t, text).Hash()

	// None pinned: LoadPolicy says how to pin one.
	_, err := signer.LoadPolicy(dir)
	require.ErrorIs(t, err, signer.ErrNoPolicy)
	require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
	require.EqualError(t, err, "no spending policy registered in "+dir+": run register --policy FILE first")

	pin, err := signer.PinPolicy(dir, MustUnlock(t, dir), text, nil)
	require.NoError(t, err)
	require.Equal(t, signer.Registered, pin.Status)
	require.Equal(t, want, pin.Hash)
	require.Equal(t, want, pin.Policy.Hash())
	requireFile(t, path, text)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	p, err := signer.LoadPolicy(dir)
	require.NoError(t, err)
	require.Equal(t, want, p.Hash())

	// The same policy again: unchanged. With a comment added, the hash is
	// the same and the file takes the new text.
	pin, err = signer.PinPolicy(dir, MustUnlock(t, dir), text, nil)
	require.NoError(t, err)
	require.Equal(t, signer.Unchanged, pin.Status)
	commented := append([]byte("# reviewed 2026-11-30\n"), text...)
	pin, err = signer.PinPolicy(dir, MustUnlock(t, dir), commented, nil)
	require.NoError(t, err)
	require.Equal(t, signer.Unchanged, pin.Status)
	requireFile(t, path, commented)

	// Another policy replaces it only with the officers' approval of the
	// change, and says what it replaced.
	other := signertest.PolicyYAML([]signertest.Officer{signertest.Alice(), signertest.Dave()})
	_, err = signer.PinPolicy(dir, MustUnlock(t, dir), other, nil)
	require.ErrorIs(t, err, signer.ErrChangeUnapproved)
	require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
	require.ErrorContains(t, err, "--chain FILE")
	requireFile(t, path, commented)
	chain := signertest.NewChain(t, reserve.Regtest, walletID, text).
		Add(t, other, signertest.Alice(), signertest.Bob(), signertest.Carol())
	pin, err = signer.PinPolicy(dir, MustUnlock(t, dir), other, chain.Links)
	require.NoError(t, err)
	require.Equal(t, signer.Replaced, pin.Status)
	require.Equal(t, want, pin.Previous)
	require.NotEqual(t, want, pin.Hash)
	requireFile(t, path, other)

	// A malformed policy is refused with its line and field, and the
	// pinned one stays.
	bad := []byte(strings.Replace(string(text), `max_fee: "0.01"`, "max_fee: 0.01", 1))
	_, err = signer.PinPolicy(dir, MustUnlock(t, dir), bad, nil)
	require.ErrorContains(t, err, "policy line 28: fees.max_fee: write BTC amounts in quotes")
	require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
	requireFile(t, path, other)

	// A pinned file that no longer parses stops signing, but is not taken
	// for a first policy: the state record still holds the pinned one,
	// which only the officers' approvals replace, and which a register of
	// the same policy writes back.
	require.NoError(t, os.WriteFile(path, []byte("version: 2\n"), 0o600))
	_, err = signer.LoadPolicy(dir)
	require.ErrorContains(t, err, "the pinned policy "+path+" is not valid (policy line 1: version:")
	require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
	_, err = signer.PinPolicy(dir, MustUnlock(t, dir), text, nil)
	require.ErrorIs(t, err, signer.ErrStateBroken)
	require.ErrorContains(t, err, path+" no longer holds the pinned policy")
	requireFile(t, path, []byte("version: 2\n"))
	pin, err = signer.PinPolicy(dir, MustUnlock(t, dir), other, nil)
	require.NoError(t, err)
	require.Equal(t, signer.Unchanged, pin.Status)
	requireFile(t, path, other)
	// Deleted, likewise.
	require.NoError(t, os.Remove(path))
	_, err = signer.PinPolicy(dir, MustUnlock(t, dir), text, nil)
	require.ErrorIs(t, err, signer.ErrStateBroken)
	require.NoFileExists(t, path)
}

// TestPinPolicyChange: a pinned policy is replaced only with a chain
// showing that its officers approved every change to the new one, for
// this wallet on this network; on any refusal the pinned file stays.
func TestPinPolicyChange(t *testing.T) {
	alice, bob, carol, dave := signertest.Alice(), signertest.Bob(), signertest.Carol(), signertest.Dave()
	// Changing text takes 3 officers (all), changing mid 4.
	text := signertest.PolicyYAML(signertest.Officers())
	mid := signertest.PolicyYAML([]signertest.Officer{alice, bob, carol, dave})
	other := signertest.PolicyYAML([]signertest.Officer{alice, dave})
	otherHash := signertest.MustParsePolicy(t, other).Hash()

	tests := []struct {
		name  string
		chain func(walletID string) []reserve.PolicyLink
		// code is the refusal's; 0 means accepted.
		code reserve.Code
		msg  string
		is   error
	}{
		{name: "one change", chain: func(w string) []reserve.PolicyLink {
			return signertest.NewChain(t, reserve.Regtest, w, text).Add(t, other, alice, bob, carol).Links
		}},
		{name: "two changes", chain: func(w string) []reserve.PolicyLink {
			return signertest.NewChain(t, reserve.Regtest, w, text).Add(t, mid, carol, bob, alice).Add(t, other, alice, bob, carol, dave).Links
		}},
		{name: "no chain", chain: func(string) []reserve.PolicyLink { return nil },
			code: reserve.CodeFailedPrecondition, msg: "(--chain FILE, from 'custosctl policy show --chain-out FILE')"},
		{name: "an empty chain", chain: func(string) []reserve.PolicyLink { return []reserve.PolicyLink{} },
			code: reserve.CodeInvalid, msg: "history: policy " + hex.EncodeToString(otherHash[:]) + " is not in the reserve's history"},
		{name: "a chain that stops short of the new policy", chain: func(w string) []reserve.PolicyLink {
			return signertest.NewChain(t, reserve.Regtest, w, text).Add(t, mid, alice, bob, carol).Links
		}, code: reserve.CodeInvalid, msg: "is not in the reserve's history"},
		{name: "a chain that does not start from the pinned policy", chain: func(w string) []reserve.PolicyLink {
			return signertest.NewChain(t, reserve.Regtest, w, mid).Add(t, other, alice, bob, carol, dave).Links
		}, code: reserve.CodeInvalid, msg: "history: the pinned policy"},
		{name: "a chain of another wallet", chain: func(string) []reserve.PolicyLink {
			return signertest.NewChain(t, reserve.Regtest, chainWallet, text).Add(t, other, alice, bob, carol).Links
		}, code: reserve.CodeInvalid, msg: "history[1].approvals[0]: policy 2:", is: reserve.ErrBadApprovalSignature},
		{name: "a chain on another network", chain: func(w string) []reserve.PolicyLink {
			return signertest.NewChain(t, reserve.Testnet, w, text).Add(t, other, alice, bob, carol).Links
		}, code: reserve.CodeInvalid, msg: "history[1].approvals[0]: policy 2:", is: reserve.ErrBadApprovalSignature},
		{name: "one approval short", chain: func(w string) []reserve.PolicyLink {
			return signertest.NewChain(t, reserve.Regtest, w, text).Add(t, other, alice, bob).Links
		}, code: reserve.CodeInvalid, msg: "history[1]: policy 2 was approved by 2 officers of policy 1, which needs 3 for a change"},
		{name: "one approval short on the second change", chain: func(w string) []reserve.PolicyLink {
			return signertest.NewChain(t, reserve.Regtest, w, text).Add(t, mid, alice, bob, carol).Add(t, other, alice, bob, carol).Links
		}, code: reserve.CodeInvalid, msg: "history[2]: policy 3 was approved by 3 officers of policy 2, which needs 4 for a change"},
		{name: "an officer of the new policy only", chain: func(w string) []reserve.PolicyLink {
			return signertest.NewChain(t, reserve.Regtest, w, text).Add(t, other, alice, bob, dave).Links
		}, code: reserve.CodeInvalid, msg: "history[1].approvals[2]: policy 2: officer_key: key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, walletID := policySigner(t)
			path := filepath.Join(dir, signer.PolicyFileName)
			first, err := signer.PinPolicy(dir, MustUnlock(t, dir), text, nil)
			require.NoError(t, err, "the first policy needs no chain")
			require.Equal(t, signer.Registered, first.Status)

			pin, err := signer.PinPolicy(dir, MustUnlock(t, dir), other, tt.chain(walletID))
			if tt.code == 0 {
				require.NoError(t, err)
				require.Equal(t, signer.Replaced, pin.Status)
				require.Equal(t, first.Hash, pin.Previous)
				require.Equal(t, otherHash, pin.Hash)
				requireFile(t, path, other)
				return
			}
			require.Nil(t, pin)
			require.ErrorIs(t, err, signer.ErrChangeUnapproved)
			require.Equal(t, tt.code, reserve.CodeOf(err), "%v", err)
			require.ErrorContains(t, err, tt.msg)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			requireFile(t, path, text)
			p, err := signer.LoadPolicy(dir)
			require.NoError(t, err)
			require.Equal(t, first.Hash, p.Hash())
		})
	}
}

// TestPinPolicyChangeNeedsWallet: the approvals name a wallet, so a
// change is checked only once the wallet is registered.
func TestPinPolicyChangeNeedsWallet(t *testing.T) {
	f := newRegisterFixture(t)
	text := signertest.PolicyYAML(signertest.Officers())
	other := signertest.PolicyYAML([]signertest.Officer{signertest.Alice(), signertest.Dave()})
	_, err := signer.PinPolicy(f.dir, MustUnlock(t, f.dir), text, nil)
	require.NoError(t, err)
	chain := signertest.NewChain(t, reserve.Regtest, chainWallet, text).
		Add(t, other, signertest.Alice(), signertest.Bob(), signertest.Carol())
	_, err = signer.PinPolicy(f.dir, MustUnlock(t, f.dir), other, chain.Links)
	require.ErrorIs(t, err, signer.ErrNotRegistered)
	requireFile(t, filepath.Join(f.dir, signer.PolicyFileName), text)
}

func requireFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}

// TestPinPolicyRemembersItsNumber: a chain tells the signer the number of
// the policy it pins; a later change is checked from that number, so a
// coordinator that cuts the history short cannot take the signer back to
// a policy the officers replaced since.
func TestPinPolicyRemembersItsNumber(t *testing.T) {
	alice, bob, carol := signertest.Alice(), signertest.Bob(), signertest.Carol()
	a := signertest.PolicyYAML(signertest.Officers())
	b := signertest.PolicyYAML([]signertest.Officer{alice, bob, carol, signertest.Dave()})
	dir, walletID := policySigner(t)
	_, err := signer.PinPolicy(dir, MustUnlock(t, dir), a, nil) // a first policy: no number
	require.NoError(t, err)
	requireStateLine(t, dir, "policy_seq 0")

	// The officers change a to b (number 2) and back to a (number 3).
	full := signertest.NewChain(t, reserve.Regtest, walletID, a).Add(t, b, alice, bob, carol).
		Add(t, a, alice, bob, carol, signertest.Dave())
	pin, err := signer.PinPolicy(dir, MustUnlock(t, dir), b, full.Links[:2])
	require.NoError(t, err)
	require.Equal(t, signer.Replaced, pin.Status)
	requireStateLine(t, dir, "policy_seq 2")
	pin, err = signer.PinPolicy(dir, MustUnlock(t, dir), a, full.Links)
	require.NoError(t, err)
	require.Equal(t, signer.Replaced, pin.Status)
	requireStateLine(t, dir, "policy_seq 3")

	// The first two entries alone are a genuine change from a to b, but
	// from a's number 1, not 3: refused, and nothing changes.
	_, err = signer.PinPolicy(dir, MustUnlock(t, dir), b, full.Links[:2])
	require.ErrorIs(t, err, signer.ErrChangeUnapproved)
	require.ErrorContains(t, err, "(number 3) is not in the reserve's history")
	requireFile(t, filepath.Join(dir, signer.PolicyFileName), a)
	requireStateLine(t, dir, "policy_seq 3")

	// The number is in the authenticated state record: set back by hand,
	// it stops every change instead of allowing the cut-short history.
	editState(t, dir, "policy_seq 3", "policy_seq 1")
	_, err = signer.PinPolicy(dir, MustUnlock(t, dir), b, full.Links[:2])
	require.ErrorIs(t, err, signer.ErrStateBroken)
	require.ErrorContains(t, err, "does not authenticate under this signer's key")
	requireFile(t, filepath.Join(dir, signer.PolicyFileName), a)
}

// TestPinFirstPolicyWithChain: a first policy pinned with the history
// records its number.
func TestPinFirstPolicyWithChain(t *testing.T) {
	f := newRegisterFixture(t)
	a := signertest.PolicyYAML(signertest.Officers())
	b := signertest.PolicyYAML([]signertest.Officer{signertest.Alice(), signertest.Dave()})
	chain := signertest.NewChain(t, reserve.Regtest, chainWallet, a).Add(t, b, signertest.Alice(), signertest.Bob(), signertest.Carol())
	_, err := signer.PinPolicy(f.dir, MustUnlock(t, f.dir), b, chain.Links)
	require.NoError(t, err)
	requireStateLine(t, f.dir, "policy_seq 2")
	// A policy the history does not hold is refused.
	other := newRegisterFixture(t).dir
	_, err = signer.PinPolicy(other, MustUnlock(t, other), signertest.PolicyYAML([]signertest.Officer{signertest.Bob(), signertest.Carol(), signertest.Dave()}), chain.Links)
	require.ErrorContains(t, err, "is not in the reserve's history")
}
