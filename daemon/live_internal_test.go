package daemon

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/reserve"
)

// LiveProposals is the store's rule over the memStore: the states before
// CONFIRMED, those asked, and the reservation holders.
func (s *memStore) LiveProposals(ctx context.Context, also ...reserve.State) ([]reserve.Proposal, map[wire.OutPoint]string, error) {
	res, err := s.Reservations(ctx)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []reserve.Proposal
	for _, p := range s.proposals {
		live := p.State >= reserve.StatePendingApproval && p.State <= reserve.StateBroadcast
		held := p.State != reserve.StateConfirmed && slices.ContainsFunc(p.Inputs, func(in reserve.Input) bool { return res[in.OutPoint] == p.ID })
		if live || held || slices.Contains(also, p.State) {
			out = append(out, p)
		}
	}
	return out, res, nil
}

func (s *memStore) Coins(_ context.Context, ops []wire.OutPoint) (map[wire.OutPoint]reserve.UTXO, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[wire.OutPoint]reserve.UTXO)
	for _, u := range s.utxos {
		if slices.Contains(ops, u.OutPoint) {
			out[u.OutPoint] = u
		}
	}
	return out, nil
}

func (s *memStore) PaymentProposals(_ context.Context, ids []string) ([]reserve.Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []reserve.Proposal
	for _, p := range s.proposals {
		if p.Intent != nil && slices.Contains(ids, p.Intent.ProposalID) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *memStore) PayeeProposals(_ context.Context, scripts [][]byte) ([]reserve.Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []reserve.Proposal
	for _, p := range s.proposals {
		if p.Intent != nil && slices.ContainsFunc(p.Intent.Payees, func(py reserve.IntentPayee) bool {
			return slices.ContainsFunc(scripts, func(s []byte) bool { return bytes.Equal(s, py.Script) })
		}) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *memStore) Holders(ctx context.Context, ops []wire.OutPoint) (map[wire.OutPoint]string, error) {
	res, err := s.Reservations(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[wire.OutPoint]string)
	for _, op := range ops {
		if id, ok := res[op]; ok {
			out[op] = id
		}
	}
	return out, nil
}

// countingStore counts what a reconcile pass reads: never every coin or
// every proposal, and coins only by the live proposals' own inputs.
type countingStore struct {
	*bumpStore
	fullReads atomic.Int32
	asked     atomic.Int32
}

func (s *countingStore) UTXOs(ctx context.Context, spent bool) ([]reserve.UTXO, error) {
	s.fullReads.Add(1)
	return s.bumpStore.UTXOs(ctx, spent)
}

func (s *countingStore) Proposals(ctx context.Context, state reserve.State) ([]reserve.Proposal, error) {
	s.fullReads.Add(1)
	return nil, nil
}

func (s *countingStore) Coins(ctx context.Context, ops []wire.OutPoint) (map[wire.OutPoint]reserve.UTXO, error) {
	s.asked.Add(int32(len(ops)))
	return s.bumpStore.Coins(ctx, ops)
}

// TestReconcileReadsLive: a pass over a history of ended proposals and
// spent coins reads no list of every coin or proposal, and asks for the
// coins of the live proposals only, whatever the history; it still
// confirms the live one.
func TestReconcileReadsLive(t *testing.T) {
	for _, history := range []int{10, 1000} {
		d, bs, live := mustBumpFixture(t)
		s := bs.memStore
		for i := range history {
			p := mustProposal(t, s, fmt.Sprintf("P9%05d", i), reserve.StateConfirmed)
			s.spend(p, p.Txid, 110)
		}
		cs := &countingStore{bumpStore: bs}
		d.cfg.Store = cs
		d.wake = newChainWake()
		// The first pass after start checks the CONFIRMED ones too.
		require.NoError(t, d.reconcile(context.Background()))
		require.Equal(t, int32(history+1), cs.asked.Load())
		cs.asked.Store(0)
		require.NoError(t, d.reconcile(context.Background()))
		require.Zero(t, cs.fullReads.Load(), "history %d", history)
		require.Equal(t, int32(1), cs.asked.Load(), "history %d: the live proposal's one input", history)
		s.spend(live, live.Txid, 120)
		require.NoError(t, d.reconcile(context.Background()))
		got, err := s.Proposal(context.Background(), live.ID)
		require.NoError(t, err)
		require.Equal(t, reserve.StateConfirmed.String(), got.State.String())
	}
}

// TestReconcileWokenByFollower: with a poll of an hour, a block the
// follower records is reflected at once (CONFIRMED), and an undone block
// has the CONFIRMED proposals checked again (back to BROADCAST).
func TestReconcileWokenByFollower(t *testing.T) {
	d, bs, p := mustBumpFixture(t)
	s := bs.memStore
	d.cfg.PollInterval = time.Hour
	d.wake = newChainWake()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.reconcileLoop(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	state := func() reserve.State {
		got, err := s.Proposal(context.Background(), p.ID)
		require.NoError(t, err)
		return got.State
	}
	tests := []struct {
		name   string
		change chain.Change
		spend  bool
		want   reserve.State
	}{
		{name: "block confirms", change: chain.Change{Kind: chain.ChangeBlock, Height: 120}, spend: true, want: reserve.StateConfirmed},
		{name: "block undone", change: chain.Change{Kind: chain.ChangeDisconnect, Height: 120}, want: reserve.StateBroadcast},
	}
	for _, tc := range tests {
		time.Sleep(50 * time.Millisecond) // the pass at start, or the last one, is over
		s.mu.Lock()
		for i := range s.utxos {
			s.utxos[i].Spent, s.utxos[i].SpentBy, s.utxos[i].SpentHeight = tc.spend, chainhash.Hash{}, 0
			if tc.spend {
				s.utxos[i].SpentBy, s.utxos[i].SpentHeight = p.Txid, 120
			}
		}
		s.mu.Unlock()
		d.wake.changed(tc.change)
		require.Eventually(t, func() bool { return state() == tc.want }, 5*time.Second, 5*time.Millisecond, tc.name)
	}
}
