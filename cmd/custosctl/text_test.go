package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/reserve"
)

// hostile is text an attacker would like a terminal to obey: clear the
// screen, reverse what follows, start a line of its own.
const hostile = "x\x1b[2J\u202eevil\nline"

// hostileShown is hostile as custosctl must show it in text.
const hostileShown = `x\u{1b}[2J\u{202e}evil\u{a}line`

// hostileJSON is hostile as custosctl must write it in JSON.
const hostileJSON = `x\u001b[2J\u202eevil\nline`

// hostileStore is the daemon's store with hostile text in every free-text
// field a command prints: what a compromised daemon, or records written
// before the daemon checked them, could send.
type hostileStore struct {
	daemon.Store
}

func (h hostileStore) Wallet(ctx context.Context) (reserve.Wallet, error) {
	w, err := h.Store.Wallet(ctx)
	w.Name = hostile
	return w, err
}

func (h hostileStore) IssueAddress(ctx context.Context, _ string) (reserve.Address, error) {
	return h.Store.IssueAddress(ctx, hostile)
}

func (h hostileStore) Addresses(ctx context.Context, b reserve.Branch) ([]reserve.Address, error) {
	as, err := h.Store.Addresses(ctx, b)
	for i := range as {
		as[i].Label = hostile
	}
	return as, err
}

func (h hostileStore) proposal(ctx context.Context) (reserve.Proposal, error) {
	w, err := h.Store.Wallet(ctx)
	if err != nil {
		return reserve.Proposal{}, err
	}
	at := time.Unix(1_760_000_000, 0)
	return reserve.Proposal{
		ID: "P000001", WalletID: w.ID, State: reserve.StateFailed, Memo: hostile, FailReason: hostile,
		CreatedBy: hostile, CreatedAt: at, ExpiresAt: at.Add(time.Hour),
		History: []reserve.Transition{{State: reserve.StateFailed, At: at, Actor: hostile, Note: hostile}},
	}, nil
}

func (h hostileStore) Proposal(ctx context.Context, id string) (reserve.Proposal, error) {
	if id != "P000001" {
		// A daemon that echoes what it was sent.
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeNotFound, "proposal %s "+hostile, id)
	}
	return h.proposal(ctx)
}

func (h hostileStore) Proposals(ctx context.Context, _ reserve.State) ([]reserve.Proposal, error) {
	p, err := h.proposal(ctx)
	return []reserve.Proposal{p}, err
}

func (h hostileStore) ProposalPage(ctx context.Context, _ reserve.State, _ []byte, _ int) ([]reserve.Proposal, []byte, error) {
	p, err := h.proposal(ctx)
	return []reserve.Proposal{p}, nil, err
}

func (h hostileStore) AddressPage(ctx context.Context, b reserve.Branch, lookahead bool, after []byte, limit int) ([]reserve.AddressActivity, []byte, error) {
	as, next, err := h.Store.AddressPage(ctx, b, lookahead, after, limit)
	for i := range as {
		as[i].Label = hostile
	}
	return as, next, err
}

func (h hostileStore) Governance(ctx context.Context) (reserve.Governance, error) {
	g, err := h.Store.Governance(ctx)
	at := time.Unix(1_760_000_000, 0)
	g.Freeze = reserve.Freeze{Epoch: 1, Frozen: true, Reason: hostile,
		By: reserve.ControlSignature{Officer: hostile, At: at}, Unfreeze: []reserve.ControlSignature{{Officer: hostile, At: at}}}
	return g, err
}

// TestHostileTextEscaped runs every command that prints text from the
// daemon against a daemon whose every label, name, memo, reason, note,
// officer and error carries a terminal escape, a bidirectional override
// and a newline: none may reach the terminal raw, in text or in JSON, and
// each must be shown, escaped.
func TestHostileTextEscaped(t *testing.T) {
	t.Parallel()
	dir := MustDaemonWith(t, func(s daemon.Store) daemon.Store { return hostileStore{s} })
	ctlOK(t, dir, createArgs(keyRecords(t, 1, 2, 3))...)

	tests := []struct {
		name string
		args []string
		// fails is set for a command that must fail, with the hostile
		// text in its error.
		fails bool
		// tableOnly is set for a command whose text output shows no
		// free text (a table of ids and amounts).
		tableOnly bool
	}{
		{name: "wallet show", args: []string{"wallet", "show"}},
		{name: "address new", args: []string{"address", "new", "--label", "plain"}},
		{name: "address list", args: []string{"address", "list"}},
		{name: "address list --all", args: []string{"address", "list", "--all"}},
		{name: "spend list", args: []string{"spend", "list"}, tableOnly: true},
		{name: "spend show", args: []string{"spend", "show", "P000001"}},
		{name: "policy show", args: []string{"policy", "show"}},
		{name: "error from the daemon", args: []string{"spend", "show", "P000002"}, fails: true},
	}
	for _, tt := range tests {
		for _, asJSON := range []bool{false, true} {
			name := tt.name
			args := append([]string{}, tt.args...)
			if asJSON {
				name += " --json"
				args = append(args, "--json")
			}
			t.Run(name, func(t *testing.T) {
				r := ctl(t, append(args, "--datadir", dir)...)
				if tt.fails {
					require.Error(t, r.err)
					require.Equal(t, 1, r.code)
				} else {
					require.NoError(t, r.err, r.stderr)
				}
				for _, raw := range []string{"\x1b", "\u202e", "evil\nline"} {
					require.NotContains(t, r.stdout, raw)
					require.NotContains(t, r.stderr, raw)
				}
				switch {
				case tt.fails:
					require.Contains(t, r.stderr, hostileShown)
				case asJSON:
					require.Contains(t, r.stdout, hostileJSON)
				case !tt.tableOnly:
					require.Contains(t, r.stdout, hostileShown)
				}
			})
		}
	}

	// What JSON escapes still decodes to what the daemon sent.
	list := decode[[]addressJSON](t, ctlOK(t, dir, "address", "list", "--json"))
	require.NotEmpty(t, list)
	require.Equal(t, hostile, list[0].Label)
}

// TestHostileLabelRefused: the daemon itself refuses a label that is not
// printable, as it refuses such memos; a printable one in any script is
// kept.
func TestHostileLabelRefused(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)
	ctlOK(t, dir, createArgs(keyRecords(t, 1, 2, 3))...)
	tests := []struct {
		name  string
		label string
		ok    bool
	}{
		{name: "bidi embedding", label: "ok \u202b"},
		{name: "accents", label: "impôts 2026", ok: true},
		{name: "escape", label: "x\x1b[2J"},
		{name: "bidi override", label: "abc\u202edcba"},
		{name: "newline", label: "two\nlines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ctl(t, "address", "new", "--label", tt.label, "--datadir", dir)
			if tt.ok {
				require.NoError(t, r.err, r.stderr)
				require.True(t, strings.HasPrefix(r.stdout, "bcrt1"), r.stdout)
				return
			}
			require.Error(t, r.err)
			require.Equal(t, 1, r.code)
			require.Contains(t, r.stderr, "InvalidArgument: label: character U+")
			require.Contains(t, r.stderr, "is not printable")
			require.Empty(t, r.stdout)
		})
	}
}
