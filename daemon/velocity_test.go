package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// velocityStore adds the proposal list spent reads to memStore.
type velocityStore struct {
	*memStore
}

func (s velocityStore) Proposals(context.Context, reserve.State) ([]reserve.Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]reserve.Proposal, 0, len(s.proposals))
	for _, p := range s.proposals {
		out = append(out, p)
	}
	return out, nil
}

// TestSpentCountsEndedSignedHolding: velocity counts a proposal that
// ended FAILED, CANCELLED or EXPIRED while its signed transaction can
// still pay (MaySpend, reservations kept), and not one that ended
// unsigned, whose coins were released, or that was rejected.
func TestSpentCountsEndedSignedHolding(t *testing.T) {
	const amount = 7_000
	tests := []struct {
		name    string
		state   reserve.State
		signed  bool
		release bool // its reservations were released (ReleaseSpent)
		counted bool
	}{
		{name: "failed signed holding", state: reserve.StateFailed, signed: true, counted: true},
		{name: "cancelled signed holding", state: reserve.StateCancelled, signed: true, counted: true},
		{name: "expired signed holding", state: reserve.StateExpired, signed: true, counted: true},
		{name: "failed signed released", state: reserve.StateFailed, signed: true, release: true},
		{name: "cancelled unsigned", state: reserve.StateCancelled},
		{name: "rejected", state: reserve.StateRejected},
		{name: "broadcast", state: reserve.StateBroadcast, signed: true, counted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &memStore{}
			p := mustProposal(t, s, "p1", tt.state)
			s.mu.Lock()
			if !tt.signed {
				p.FinalTx = nil
			}
			p.Intent = &reserve.Intent{ProposalID: p.ID, Payees: []reserve.IntentPayee{{Script: []byte{0x51}, AmountSat: amount}}}
			s.proposals[p.ID] = p
			if tt.release {
				s.released = map[string]int{p.ID: 1}
			}
			s.mu.Unlock()
			d := &Daemon{cfg: Config{Store: velocityStore{s}, Now: func() time.Time { return testStart.Add(time.Hour) }}}

			got, err := d.spent(context.Background(), "")
			require.NoError(t, err)
			want := reserve.Spent{}
			if tt.counted {
				want = reserve.Spent{Last24h: amount, Last30d: amount}
			}
			require.Equal(t, want, got)
		})
	}
}

// TestSpentForSupersedes: a payment's velocity leaves out the payments it
// supersedes that pay no more than it (at most one of them confirms), and
// counts one that paid more, or one it does not supersede.
func TestSpentForSupersedes(t *testing.T) {
	const amount = 7_000
	tests := []struct {
		name       string
		supersedes []string
		newAmount  int64
		want       int64
	}{
		{name: "not superseded: counted", newAmount: amount, want: amount},
		{name: "superseded, same amount: left out", supersedes: []string{"p1"}, newAmount: amount, want: 0},
		{name: "superseded, the new one pays more: left out", supersedes: []string{"p1"}, newAmount: amount + 1, want: 0},
		{name: "superseded but it paid more: counted", supersedes: []string{"p1"}, newAmount: amount - 1, want: amount},
		{name: "another proposal superseded: counted", supersedes: []string{"p9"}, newAmount: amount, want: amount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &memStore{}
			p := mustProposal(t, s, "p1", reserve.StateBroadcast)
			s.mu.Lock()
			p.Intent = &reserve.Intent{ProposalID: p.ID, Payees: []reserve.IntentPayee{{Script: []byte{0x51}, AmountSat: amount}}}
			s.proposals[p.ID] = p
			s.mu.Unlock()
			d := &Daemon{cfg: Config{Store: velocityStore{s}, Now: func() time.Time { return testStart.Add(time.Hour) }}}
			in := &reserve.Intent{Supersedes: tt.supersedes, Payees: []reserve.IntentPayee{{Script: []byte{0x51}, AmountSat: tt.newAmount}}}
			got, err := d.spentFor(context.Background(), in)
			require.NoError(t, err)
			require.Equal(t, reserve.Spent{Last24h: tt.want, Last30d: tt.want}, got)
		})
	}
}
