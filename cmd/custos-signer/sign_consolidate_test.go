package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// TestSignConsolidation: the operator reads that a consolidation pays
// nothing out and how many coins it merges, and --json says it is one;
// refused before any question: a consolidation intent whose transaction
// pays anything but this wallet's own change, derived again from the
// pinned descriptor.
func TestSignConsolidation(t *testing.T) {
	f := newSignFixture(t)
	coin, prev := f.otherCoin(t)
	consolidate := func(in *reserve.Intent) { in.Consolidate = true }

	merge := f.proposal(t, "P000002", []reserve.Input{f.inputs[0], f.inputs[1], coin}, prev, 0, consolidate)
	out := f.out(t)
	r := runSign(t, testPassphrase, "n\n", "--datadir", f.dir, "--in", merge, "--out", out)
	require.ErrorIs(t, r.err, errDeclined, r.stderr)
	summary, _, ok := strings.Cut(r.stdout+r.stderr, "Sign this transaction?")
	require.True(t, ok, r.stdout+r.stderr)
	require.Contains(t, summary, "CONSOLIDATION — pays nothing out; 3 coins into one output of this wallet\n")
	require.Contains(t, summary, "Change back to this wallet (recomputed from the pinned descriptor):\n")
	for _, w := range []string{"CANCEL", "payee(s)", "Pays: nobody"} {
		require.NotContains(t, summary, w)
	}
	require.NoFileExists(t, out)

	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", merge, "--out", f.out(t), "--yes", "--json")
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, `"cancel": false,
    "consolidate": true,`)

	// The same flag over a transaction that also pays the fixture's payee:
	// the officers approved no payee, so the signer refuses it.
	pays := f.proposal(t, "P000003", []reserve.Input{f.inputs[0], coin}, prev, 50_000_000, func(in *reserve.Intent) {
		in.Payees, in.Consolidate = nil, true
	})
	ledger := MustReadFile(t, filepath.Join(f.dir, signer.LedgerFileName))
	out = f.out(t)
	r = runSign(t, testPassphrase, "y\n", "--datadir", f.dir, "--in", pays, "--out", out)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "output[0]")
	require.Contains(t, r.stderr, "pays 0.50000000 BTC to "+f.payee+", which the approved intent does not")
	require.NotContains(t, r.stdout+r.stderr, "Sign this transaction?")
	require.NoFileExists(t, out)
	require.Equal(t, ledger, MustReadFile(t, filepath.Join(f.dir, signer.LedgerFileName)), "nothing recorded")
}
