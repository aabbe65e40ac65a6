package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// TestRegisterRefusalsWriteNothing: every refusal of register leaves the
// data directory byte for byte as it was. What needs no key (the
// descriptor's checksum and network, the policy and chain files) is
// refused before the directory is locked (which would create its lock
// file) and before the passphrase is asked; with --descriptor and
// --policy, a policy refused under the key leaves the descriptor unpinned.
func TestRegisterRefusalsWriteNothing(t *testing.T) {
	own, err := multisig.ParseKeyRecord(recordArt, reserve.Regtest)
	require.NoError(t, err)
	wallet := MustDescriptor(t, 2, MustCosigner(t, 1), own, MustCosigner(t, 2))
	noSum, _, _ := strings.Cut(wallet.String(), "#")
	mainnet := strings.ReplaceAll(noSum, "tpub", "xpub")
	if sum, err := multisig.DescriptorChecksum(mainnet); err == nil {
		mainnet += "#" + sum
	}
	policyText := signertest.PolicyYAML(signertest.Officers())
	policy := writeFile(t, "policy.yaml", policyText)
	otherPolicy := writeFile(t, "other.yaml", signertest.PolicyYAML([]signertest.Officer{signertest.Alice(), signertest.Dave()}))
	badPolicy := writeFile(t, "bad.yaml", []byte("version: 1\n"))
	badChain := writeFile(t, "chain.json", []byte("{not json"))

	fresh := func(t *testing.T) string {
		dir := t.TempDir()
		MustRestore(t, dir)
		return dir
	}
	// policyOnly has a policy pinned and no descriptor yet.
	policyOnly := func(t *testing.T) string {
		dir := fresh(t)
		r := runCLI(t, "", "register", "--datadir", dir, "--policy", policy, "--passphrase-file", writeFile(t, "pass", []byte(testPassphrase+"\n")))
		require.NoError(t, r.err, r.stderr)
		return dir
	}
	tests := []struct {
		name string
		dir  func(t *testing.T) string
		args []string
		// keyFree refusals are made without asking for the passphrase.
		keyFree bool
		// passphrase, when set, is typed instead of the right one.
		passphrase string
		want       string
	}{
		{name: "no checksum", dir: fresh, keyFree: true, args: []string{"--descriptor", noSum}, want: "the descriptor has no #checksum"},
		{name: "bad checksum", dir: fresh, keyFree: true, args: []string{"--descriptor", noSum + "#qqqqqqqq"}, want: "not a valid regtest wallet descriptor"},
		{name: "other network", dir: fresh, keyFree: true, args: []string{"--descriptor", mainnet}, want: "not a valid regtest wallet descriptor"},
		{name: "not a descriptor", dir: fresh, keyFree: true, args: []string{"--descriptor", "wsh(nonsense)#abcdefgh"}, want: "not a valid regtest wallet descriptor"},
		{name: "descriptor and bad policy", dir: fresh, keyFree: true, args: []string{"--descriptor", wallet.String(), "--policy", badPolicy}, want: "policy line 1: officers: missing"},
		{name: "descriptor and missing policy", dir: fresh, keyFree: true, args: []string{"--descriptor", wallet.String(), "--policy", badPolicy + ".missing"}, want: "unable to open the policy"},
		{name: "bad chain", dir: fresh, keyFree: true, args: []string{"--descriptor", wallet.String(), "--policy", policy, "--chain", badChain}, want: "chain"},
		{name: "bad descriptor and good policy", dir: policyOnly, keyFree: true, args: []string{"--descriptor", noSum, "--policy", otherPolicy}, want: "the descriptor has no #checksum"},
		{name: "descriptor and a policy change without its chain", dir: policyOnly, args: []string{"--descriptor", wallet.String(), "--policy", otherPolicy},
			want: "takes the reserve's policy history"},
		{name: "key not in the descriptor, on a fresh directory", dir: fresh, args: []string{"--descriptor", MustDescriptor(t, 2, MustCosigner(t, 1), MustCosigner(t, 2), MustCosigner(t, 3)).String()},
			want: "descriptor"},
		{name: "wrong passphrase, on a fresh directory", dir: fresh, args: []string{"--descriptor", wallet.String()}, passphrase: "not the passphrase",
			want: "passphrase"},
		{name: "key not in the descriptor, with a policy", dir: policyOnly, args: []string{"--descriptor", MustDescriptor(t, 2, MustCosigner(t, 1), MustCosigner(t, 2), MustCosigner(t, 3)).String(), "--policy", policy},
			want: "descriptor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			before := dirFiles(t, dir)
			args := append([]string{"register", "--datadir", dir}, tt.args...)
			var r result
			if tt.keyFree {
				r = runNoPassphrase(t, args...)
			} else {
				pass := testPassphrase
				if tt.passphrase != "" {
					pass = tt.passphrase
				}
				r = runCLI(t, "", append(args, "--passphrase-file", writeFile(t, "pass", []byte(pass+"\n")))...)
			}
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
			require.Empty(t, r.stdout)
			require.Equal(t, before, dirFiles(t, dir), "the data directory is unchanged")
			require.NoFileExists(t, filepath.Join(dir, signer.DescriptorFileName))
		})
	}
}
