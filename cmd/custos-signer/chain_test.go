package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// TestRegisterPolicyChain: register --policy NEW --chain FILE replaces
// the pinned policy only when FILE, a policy chain as custosctl writes
// it, shows the pinned policy's officers approving every change to NEW
// for this wallet; any refusal leaves the pinned policy and prints
// nothing.
func TestRegisterPolicyChain(t *testing.T) {
	// Pinning a policy seals it into the state record under the key.
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	dir := t.TempDir()
	MustRestore(t, dir)
	walletID := MustRegisterWallet(t, dir)
	pinned := filepath.Join(dir, signer.PolicyFileName)
	alice, bob, carol, dave := signertest.Alice(), signertest.Bob(), signertest.Carol(), signertest.Dave()
	// Changing text takes alice, bob and carol; changing mid takes all four.
	text := signertest.PolicyYAML(signertest.Officers())
	mid := signertest.PolicyYAML([]signertest.Officer{alice, bob, carol, dave})
	newText := signertest.PolicyYAML([]signertest.Officer{alice, dave})
	newFile := writeFile(t, "new.yaml", newText)

	// The first policy needs no chain.
	r := runCLI(t, "", "register", "--datadir", dir, "--policy", writeFile(t, "policy.yaml", text))
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "Pinned the spending policy")

	chainFile := func(c *signertest.Chain) string { return writeFile(t, "chain.json", c.MustJSON(t)) }
	valid := signertest.NewChain(t, reserve.Regtest, walletID, text).Add(t, mid, alice, bob, carol).Add(t, newText, alice, bob, carol, dave)
	short := signertest.NewChain(t, reserve.Regtest, walletID, text).Add(t, newText, alice, bob)
	badSig := valid.File()
	badSig.Policies[2].Approvals[1].Signature = badSig.Policies[2].Approvals[1].Signature[2:]
	badSigJSON, err := json.Marshal(badSig)
	require.NoError(t, err)

	refusals := []struct {
		name string
		args []string
		want string
	}{
		{name: "no chain", want: "(--chain FILE, from 'custosctl policy show --chain-out FILE')"},
		{name: "no such chain file", args: []string{"--chain", filepath.Join(t.TempDir(), "chain.json")},
			want: "custos-signer: unable to open the policy chain: "},
		{name: "a signature cut short", args: []string{"--chain", writeFile(t, "chain.json", badSigJSON)},
			want: "custos-signer: chain.policies[2].approvals[1].signature: not 64 bytes of hex\n"},
		{name: "data after the chain", args: []string{"--chain", writeFile(t, "chain.json", append(valid.MustJSON(t), '}'))},
			want: "custos-signer: chain: data after the policy chain\n"},
		{name: "one approval short", args: []string{"--chain", chainFile(short)},
			want: "history[1]: policy 2 was approved by 2 officers of policy 1, which needs 3 for a change\n"},
		{name: "the last change short of mid's quorum", args: []string{"--chain", chainFile(
			signertest.NewChain(t, reserve.Regtest, walletID, text).Add(t, mid, alice, bob, carol).Add(t, newText, alice, bob, carol))},
			want: "history[2]: policy 3 was approved by 3 officers of policy 2, which needs 4 for a change\n"},
		{name: "a chain of another wallet", args: []string{"--chain", chainFile(
			signertest.NewChain(t, reserve.Regtest, "4c2f8a0e91d3b675", text).Add(t, newText, alice, bob, carol))},
			want: "history[1].approvals[0]: policy 2: signature: officer alice: approval signature does not verify"},
		{name: "a chain that stops before the new policy", args: []string{"--chain", chainFile(
			signertest.NewChain(t, reserve.Regtest, walletID, text).Add(t, mid, alice, bob, carol))},
			want: "is not in the reserve's history\n"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"register", "--datadir", dir, "--policy", newFile}, tt.args...)...)
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
			require.Empty(t, r.stdout)
			requireFileIs(t, pinned, text)
		})
	}

	r = runCLI(t, "", "register", "--datadir", dir, "--policy", newFile, "--chain", chainFile(valid))
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "Replaced the pinned spending policy in "+pinned+".\nold policy "+
		hashHex(signertest.MustParsePolicy(t, text))+"\npolicy "+hashHex(signertest.MustParsePolicy(t, newText))+"\n")
	requireFileIs(t, pinned, newText)

	// Pinned again, the same policy needs no chain.
	r = runCLI(t, "", "register", "--datadir", dir, "--policy", newFile, "--json")
	require.NoError(t, r.err, r.stderr)
	require.Equal(t, "unchanged", decode[registerOutput](t, r.stdout).Policy.Status)
	requireFileIs(t, pinned, newText)
}

// TestRegisterTextWarnsDisjointQuorums: when two groups of M signers can
// share no one (2M ≤ N), register says that the ledgers cannot stop a
// double payment alone.
func TestRegisterTextWarnsDisjointQuorums(t *testing.T) {
	for _, tc := range []struct {
		m, n int
		warn bool
	}{{2, 3, false}, {3, 5, false}, {2, 4, true}, {3, 7, true}, {1, 2, true}, {1, 1, false}} {
		text := registerText(registerOutput{Threshold: tc.m, Total: tc.n}, signer.Registered)
		require.Equal(t, tc.warn, strings.Contains(text, "share no signer"), "%d-of-%d:\n%s", tc.m, tc.n, text)
	}
}
