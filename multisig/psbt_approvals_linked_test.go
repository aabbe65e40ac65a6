package multisig

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// linkedVector is one version 2 intent of docs/approvals.md: the test
// vector's intent with links.
type linkedVector struct {
	Name          string `json:"name"`
	Encoding      string `json:"intent_encoding"`
	ApproveDigest string `json:"approve_digest"`
}

// linkedVectorIntents are the version 2 vectors: the test vector's intent
// superseding P000000; the same as a deliberate repeat; a cancel of
// P000000 (no payees); and a consolidation (no payees, nothing
// superseded, flag bit 1).
func linkedVectorIntents() []struct {
	name string
	in   reserve.Intent
} {
	supersedes, repeat, cancel, consolidate := vectorIntent(), vectorIntent(), vectorIntent(), vectorIntent()
	supersedes.Supersedes = []string{"P000000"}
	repeat.Repeat = true
	cancel.Payees, cancel.Supersedes = nil, []string{"P000000"}
	consolidate.Payees, consolidate.Consolidate = nil, true
	return []struct {
		name string
		in   reserve.Intent
	}{{"supersedes P000000", supersedes}, {"repeat", repeat}, {"cancel of P000000", cancel}, {"consolidation", consolidate}}
}

// TestApprovalVectorsLinked computes the version 2 vectors, compares them
// with testdata/approval_vectors_v2.json (rewrite with -update), checks
// that docs/approvals.md quotes each, and that each travels in a PSBT.
func TestApprovalVectorsLinked(t *testing.T) {
	var got []linkedVector
	for _, v := range linkedVectorIntents() {
		enc, err := v.in.Encode()
		require.NoError(t, err)
		require.Equal(t, byte(reserve.IntentVersionLinked), enc[0])
		d, err := v.in.Digest(reserve.DecisionApprove)
		require.NoError(t, err)
		got = append(got, linkedVector{Name: v.name, Encoding: hex.EncodeToString(enc), ApproveDigest: hex.EncodeToString(d[:])})

		a, err := reserve.SignIntent(&v.in, reserve.DecisionApprove, vectorOfficer(1))
		require.NoError(t, err)
		p := MustPSBTWallet(t, "linked "+v.name, 2, 3).MustStandardSpend(t)
		require.NoError(t, SetApprovals(p, &v.in, []reserve.Approval{a}))
		readIn, readApprovals, err := ReadApprovals(p)
		require.NoError(t, err)
		require.True(t, v.in.Equal(readIn), v.name)
		require.NoError(t, reserve.VerifyApproval(readIn, reserve.DecisionApprove, readApprovals[0]))
	}

	path := filepath.Join("testdata", "approval_vectors_v2.json")
	data, err := json.MarshalIndent(got, "", "  ")
	require.NoError(t, err)
	data = append(data, '\n')
	if *update {
		require.NoError(t, os.WriteFile(path, data, 0o644))
	}
	stored, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(stored), string(data), "run go test -run TestApprovalVectorsLinked -update to rewrite %s", path)

	doc, err := os.ReadFile(filepath.Join("..", "docs", "approvals.md"))
	require.NoError(t, err)
	flat := string(bytes.Join(bytes.Fields(doc), nil))
	for _, v := range got {
		require.Contains(t, flat, v.Encoding, "docs/approvals.md must quote the %s vector", v.Name)
		require.Contains(t, flat, v.ApproveDigest, "docs/approvals.md must quote the %s vector", v.Name)
	}
}

// TestCheckIntentOutputsCancel: an intent with no payees (a cancel) is
// carried out only by a transaction whose every output is the wallet's
// change.
func TestCheckIntentOutputsCancel(t *testing.T) {
	w := MustPSBTWallet(t, "cancel outputs", 2, 3)
	a, err := Analyze(w.MustStandardSpend(t), w.d) // 1,200,000 to the payee, fee 10,000
	require.NoError(t, err)
	require.Len(t, a.Payees, 1)
	require.Len(t, a.Change, 1)
	cancel := vectorIntent()
	cancel.Payees, cancel.Supersedes = nil, []string{"P000000"}
	require.NoError(t, cancel.Validate())

	onlyChange := a
	onlyChange.Payees = nil
	for _, tt := range []struct {
		name  string
		a     Analysis
		cap   int64
		field string
		msg   string
	}{
		{name: "only change", a: onlyChange, cap: 20_000},
		{name: "a payee", a: a, cap: 20_000, field: "output[0]", msg: "pays 0.01200000 BTC to"},
		{name: "only change, fee over the cap", a: onlyChange, cap: 9_999, field: "fee", msg: "over the approved cap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A consolidation is held to the same rule: every output is
			// change the signer derived again, the fee within the cap.
			consolidate := vectorIntent()
			consolidate.Payees, consolidate.Consolidate = nil, true
			for _, in := range []reserve.Intent{cancel, consolidate} {
				in.FeeCapSat = tt.cap
				err := CheckIntentOutputs(tt.a, &in)
				if tt.field == "" {
					require.NoError(t, err)
					continue
				}
				RequireCode(t, err, reserve.CodeInvalid, tt.field, tt.msg)
			}
		})
	}
}
