package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// TestCheckIntent: what an officer signs is read from the intent; a
// proposal the daemon shows with other payees, other superseded proposals
// or another repeat flag than the intent's is refused before any signing.
func TestCheckIntent(t *testing.T) {
	script := append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0x11}, 20)...)
	in := reserve.Intent{
		Network: reserve.Regtest, WalletID: "4c2f8a0e91d3b675", ProposalID: "P000002",
		Payees:    []reserve.IntentPayee{{Script: script, AmountSat: 50_000_000}},
		FeeCapSat: 20_000, ExpiresAt: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC),
		Supersedes: []string{"P000001"},
	}
	enc, err := in.Encode()
	require.NoError(t, err)
	addr := multisig.ScriptAddress(script, reserve.Regtest)
	shown := func() *custosv1.Proposal {
		return &custosv1.Proposal{
			Id: "P000002", WalletId: in.WalletID, Intent: enc, Supersedes: []string{"P000001"},
			Payees: []*custosv1.Payment{{Address: addr, AmountSat: 50_000_000}},
		}
	}
	got, _, err := checkIntent(shown())
	require.NoError(t, err)
	require.Equal(t, []string{"P000001"}, got.Supersedes)

	for _, tc := range []struct {
		name string
		edit func(p *custosv1.Proposal)
		msg  string
	}{
		{"supersedes nothing shown", func(p *custosv1.Proposal) { p.Supersedes = nil }, "the intent supersedes [P000001]"},
		{"another proposal shown", func(p *custosv1.Proposal) { p.Supersedes = []string{"P000009"} }, "the proposal shows [P000009]"},
		{"a repeat shown", func(p *custosv1.Proposal) { p.Repeat = true }, "(repeat false), the proposal shows [P000001] (repeat true)"},
		{"another amount shown", func(p *custosv1.Proposal) { p.Payees[0].AmountSat = 5_000_000 }, "the intent's payee 1 is 0.50000000 BTC"},
		{"another proposal's intent", func(p *custosv1.Proposal) { p.Id = "P000003" }, "the intent of proposal P000002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := shown()
			tc.edit(p)
			_, _, err := checkIntent(p)
			require.ErrorContains(t, err, tc.msg)
		})
	}
}

// TestCheckIntentConsolidation: a consolidation intent is approved only
// as the daemon shows it, flag for flag, and spend approve's review says
// it pays nothing out; a daemon that hides the flag, or claims it for an
// intent without it, is refused.
func TestCheckIntentConsolidation(t *testing.T) {
	in := reserve.Intent{
		Network: reserve.Regtest, WalletID: "4c2f8a0e91d3b675", ProposalID: "P000002",
		FeeCapSat: 20_000, ExpiresAt: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), Consolidate: true,
	}
	enc, err := in.Encode()
	require.NoError(t, err)
	shown := &custosv1.Proposal{Id: "P000002", WalletId: in.WalletID, Intent: enc, Consolidate: true,
		Inputs: []*custosv1.ProposalInput{{AmountSat: 1}, {AmountSat: 2}, {AmountSat: 3}}}
	got, pays, err := checkIntent(shown)
	require.NoError(t, err)
	require.True(t, got.Consolidate)
	var buf bytes.Buffer
	require.NoError(t, printIntent(&env{common: &common{}, stdout: &buf}, shown, got, pays))
	require.Regexp(t, `(?m)^CONSOLIDATION\s+pays nothing out: merges 3 coins into one output of this wallet$`, buf.String())
	require.NotContains(t, buf.String(), "CANCEL")

	hidden := proto.Clone(shown).(*custosv1.Proposal)
	hidden.Consolidate = false
	_, _, err = checkIntent(hidden)
	require.ErrorContains(t, err, "the intent's consolidate flag is true, the proposal shows false")

	cancel := reserve.Intent{Network: in.Network, WalletID: in.WalletID, ProposalID: in.ProposalID, FeeCapSat: in.FeeCapSat,
		ExpiresAt: in.ExpiresAt, Supersedes: []string{"P000001"}}
	enc, err = cancel.Encode()
	require.NoError(t, err)
	claimed := &custosv1.Proposal{Id: "P000002", WalletId: in.WalletID, Intent: enc, Supersedes: []string{"P000001"}, Consolidate: true}
	_, _, err = checkIntent(claimed)
	require.ErrorContains(t, err, "the intent's consolidate flag is false, the proposal shows true")
}
