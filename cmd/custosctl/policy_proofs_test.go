package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/signer/signertest"
)

// TestPolicyShowProofs: policy set and policy show say who may request a
// proof of reserves and how many officers approve it, read from the
// document (the defaults when it has no proofs section), in text and JSON.
func TestPolicyShowProofs(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)
	ctlOK(t, dir, createArgs(keyRecords(t, 1, 2, 3))...)
	text := append(signertest.PolicyYAML(signertest.Officers()), "proofs:\n  requesters: [officer, auditor]\n  approvals: all\n"...)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(file, text, 0o600))

	out := ctlOK(t, dir, "policy", "set", file)
	require.Regexp(t, `(?m)^proofs\s+requested by auditor or officer; 3 officer approval\(s\) of the message$`, out)
	out = ctlOK(t, dir, "policy", "show")
	require.Regexp(t, `(?m)^proofs\s+requested by auditor or officer; 3 officer approval\(s\) of the message$`, out)

	g := decode[governanceJSON](t, ctlOK(t, dir, "policy", "show", "--json"))
	require.Equal(t, &proofsJSON{Requesters: []string{"auditor", "officer"}, Approvals: 3}, g.Policy.Proofs)
}

func TestProofsOf(t *testing.T) {
	tests := []struct {
		name string
		text []byte
		want *proofsJSON
		line string
	}{
		{name: "no section", text: signertest.PolicyYAML(signertest.Officers()),
			want: &proofsJSON{Requesters: []string{"officer"}, Approvals: 1, Default: true},
			line: "requested by officer; 1 officer approval(s) of the message (the default)"},
		{name: "the defaults spelled out", text: append(signertest.PolicyYAML(signertest.Officers()), "proofs: {requesters: [officer], approvals: 1}\n"...),
			want: &proofsJSON{Requesters: []string{"officer"}, Approvals: 1, Default: true},
			line: "requested by officer; 1 officer approval(s) of the message (the default)"},
		{name: "admins, two approvals", text: append(signertest.PolicyYAML(signertest.Officers()), "proofs: {requesters: [admin], approvals: 2}\n"...),
			want: &proofsJSON{Requesters: []string{"admin"}, Approvals: 2},
			line: "requested by admin; 2 officer approval(s) of the message"},
		{name: "a document that does not parse", text: []byte("version: 1\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := proofsOf(tt.text)
			require.Equal(t, tt.want, got)
			if got != nil {
				require.Equal(t, tt.line, proofsText(got))
			}
		})
	}
}
