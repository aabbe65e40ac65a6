package daemon

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// TestReconcileReleasesSpentAtDepth: an ended proposal with its signatures
// keeps its coin until a confirmed spend of an input is buried to the
// confirmation depth; then reconcile releases it, once. A spend that a
// reorganisation drops before the depth releases nothing.
func TestReconcileReleasesSpentAtDepth(t *testing.T) {
	const depth = 3
	type step struct {
		tip int32
		// spentAt: the input is spent by spender at this height (0: in
		// the mempool; -1: not spent, as after a reorg).
		spentAt  int32
		released bool
	}
	tests := []struct {
		name    string
		state   reserve.State
		signed  bool
		spender chainhash.Hash
		steps   []step
	}{
		{"cancelled with signatures, conflict buried", reserve.StateCancelled, true, conflictTxid, []step{
			{tip: 120, spentAt: -1},
			{tip: 120, spentAt: 0},
			{tip: 120, spentAt: 119},
			{tip: 121, spentAt: 119, released: true},
			{tip: 122, spentAt: 119, released: true},
		}},
		{"expired with signatures, its own transaction buried", reserve.StateExpired, true, chainhash.Hash{}, []step{
			{tip: 121, spentAt: 120},
			{tip: 122, spentAt: 120, released: true},
		}},
		{"conflict reorganised away before the depth", reserve.StateCancelled, true, conflictTxid, []step{
			{tip: 120, spentAt: 119},
			{tip: 121, spentAt: -1},
			{tip: 125, spentAt: -1},
			{tip: 125, spentAt: 0},
		}},
		{"failed with signatures, conflict buried", reserve.StateFailed, true, conflictTxid, []step{
			{tip: 119, spentAt: 118},
			{tip: 120, spentAt: 118, released: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := &memStore{}
			d := mustReplayDaemon(t, &replayNode{t: t}, s, func() time.Time { return testStart })
			d.cfg.ConfirmDepth = depth
			p := mustProposal(t, s, "p1", tt.state)
			spender := tt.spender
			if spender == (chainhash.Hash{}) {
				spender = p.Txid
			}
			for i, st := range tt.steps {
				s.mu.Lock()
				s.tip = st.tip
				s.mu.Unlock()
				if st.spentAt < 0 {
					s.unspend(p)
				} else {
					s.spend(p, spender, st.spentAt)
				}
				reconcilePass(t, d, s)
				res, err := s.Reservations(ctx)
				require.NoError(t, err)
				_, held := res[p.Inputs[0].OutPoint]
				require.Equal(t, !st.released, held, "step %d: coin held", i)
				s.mu.Lock()
				n := s.released[p.ID]
				s.mu.Unlock()
				want := 0
				if st.released {
					want = 1
				}
				require.Equal(t, want, n, "step %d: releases", i)
				got, err := s.Proposal(ctx, p.ID)
				require.NoError(t, err)
				require.Equal(t, tt.state, got.State, "an ended proposal stays ended")
			}
		})
	}

	t.Run("unsigned ended proposal holds nothing and is left alone", func(t *testing.T) {
		s := &memStore{tip: 130}
		d := mustReplayDaemon(t, &replayNode{t: t}, s, func() time.Time { return testStart })
		d.cfg.ConfirmDepth = depth
		p := mustProposal(t, s, "p1", reserve.StateCancelled)
		s.mu.Lock()
		p.FinalTx = nil
		s.proposals[p.ID] = p
		s.mu.Unlock()
		s.spend(p, conflictTxid, 110)
		reconcilePass(t, d, s)
		res, err := s.Reservations(context.Background())
		require.NoError(t, err)
		require.Empty(t, res)
		require.Zero(t, s.released[p.ID])
	})
}

// unspend records that the proposal's input is unspent again (the
// spending block was disconnected and its transaction dropped).
func (s *memStore) unspend(p reserve.Proposal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.utxos {
		if s.utxos[i].OutPoint == p.Inputs[0].OutPoint {
			s.utxos[i].Spent, s.utxos[i].SpentBy, s.utxos[i].SpentHeight = false, chainhash.Hash{}, 0
		}
	}
}

func (s *memStore) Wallet(context.Context) (reserve.Wallet, error) {
	return reserve.Wallet{Threshold: memThreshold}, nil
}

// TestCancelSignedProposalSays: cancelling a proposal that has its
// signatures succeeds, keeps its coin and says in the history that the
// signed transaction can still be broadcast; an unsigned one frees it.
func TestCancelSignedProposalSays(t *testing.T) {
	tests := []struct {
		name    string
		signers []int
		held    bool
	}{
		{"m signatures", []int{0, 2}, true},
		{"fewer than m", []int{1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := &memStore{tip: 120}
			d := mustReplayDaemon(t, &replayNode{t: t}, s, func() time.Time { return testStart })
			p := mustProposal(t, s, "p1", reserve.StateSigning)
			s.mu.Lock()
			p.FinalTx = nil
			for _, c := range tt.signers {
				p.Signatures = append(p.Signatures, reserve.Signature{Cosigner: c})
			}
			s.proposals[p.ID] = p
			s.mu.Unlock()

			got, err := d.cancel(ctx, Caller{Name: "alice"}, p.ID, "wrong payee")
			require.NoError(t, err)
			require.Equal(t, reserve.StateCancelled, got.State)
			note := got.History[len(got.History)-1].Note
			require.Contains(t, note, "cancelled: wrong payee")
			res, err := s.Reservations(ctx)
			require.NoError(t, err)
			_, held := res[p.Inputs[0].OutPoint]
			require.Equal(t, tt.held, held)
			if tt.held {
				require.Contains(t, note, "can still be broadcast by whoever holds the signatures")
				require.Contains(t, note, "spend one of its inputs")
				require.Contains(t, note, "spend cancel --conflict "+p.ID+" --feerate N")
			} else {
				require.NotContains(t, note, CancelNote(SignedCancelNote, p.ID))
			}
		})
	}
}
