package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// TestRegisterPolicyProofs: register --policy shows the pinned policy's
// proofs rules as the document sets them, in text and JSON.
func TestRegisterPolicyProofs(t *testing.T) {
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	dir := t.TempDir()
	MustRestore(t, dir)
	MustRegisterWallet(t, dir)
	text := append(signertest.PolicyYAML(signertest.Officers()), "proofs:\n  requesters: [officer, auditor]\n  approvals: 2\n"...)
	file := writeFile(t, "policy.yaml", text)

	r := runCLI(t, "", "register", "--datadir", dir, "--policy", file)
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "\nProofs of reserves: requested by auditor or officer; 2 officer approval(s) of the message.\n")

	r = runCLI(t, "", "register", "--datadir", dir, "--policy", file, "--json")
	require.NoError(t, r.err, r.stderr)
	out := decode[registerOutput](t, r.stdout)
	require.Equal(t, []string{"auditor", "officer"}, out.Policy.ProofRequesters)
	require.Equal(t, 2, out.Policy.ProofApprovals)
}
