package daemon_test

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// readCounter is a store.DB that counts what a propose reads: the lists
// of every proposal or coin, and the proposal records the link reads
// return.
type readCounter struct {
	*store.DB
	on        atomic.Bool
	allCalls  atomic.Int32 // Proposals(0): every proposal
	utxoCalls atomic.Int32 // UTXOs: every coin
	linked    atomic.Int32 // records PaymentProposals and PayeeProposals return
}

func (s *readCounter) Proposals(ctx context.Context, state reserve.State) ([]reserve.Proposal, error) {
	if s.on.Load() && state == reserve.StateUnspecified {
		s.allCalls.Add(1)
	}
	return s.DB.Proposals(ctx, state)
}

func (s *readCounter) UTXOs(ctx context.Context, spent bool) ([]reserve.UTXO, error) {
	if s.on.Load() {
		s.utxoCalls.Add(1)
	}
	return s.DB.UTXOs(ctx, spent)
}

func (s *readCounter) PaymentProposals(ctx context.Context, ids []string) ([]reserve.Proposal, error) {
	ps, err := s.DB.PaymentProposals(ctx, ids)
	if s.on.Load() {
		s.linked.Add(int32(len(ps)))
	}
	return ps, err
}

func (s *readCounter) PayeeProposals(ctx context.Context, scripts [][]byte) ([]reserve.Proposal, error) {
	ps, err := s.DB.PayeeProposals(ctx, scripts)
	if s.on.Load() {
		s.linked.Add(int32(len(ps)))
	}
	return ps, err
}

// TestProposeReadsLinked: the link rules of a propose (supersede and
// repeat) read the proposals of the payment it replaces and of its
// payee, whatever the history: 10 or 1,000 ended proposals to other
// payees, the same records read, and no list of every coin. The velocity
// count (spentFor) still lists every proposal once: that read is not the
// link rules' and is counted apart.
func TestProposeReadsLinked(t *testing.T) {
	tests := []struct {
		name    string
		history int
	}{
		{name: "10 proposals of history", history: 10},
		{name: "1,000 proposals of history", history: 1000},
	}
	var linked []int32
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := MustStore(t, dir)
			rc := &readCounter{DB: db}
			cfg := daemonConfig(t, dir, db, reserve.Regtest)
			cfg.Store = rc
			td := MustRunDaemon(t, db, cfg)
			w := MustCreateWallet(t, td)
			MustSetPolicy(t, td, testPolicy(t))
			MustFundCoins(t, td, w, 100_000_000, 100_000_000, 100_000_000)
			spend := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
			pay := []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 50_000_000}}

			r, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{Payees: pay, FeeRateSatVb: 2})
			require.NoError(t, err)
			p1 := r.Proposal.Id
			signedAndCancelled(t, td, p1)
			mustHistory(t, db, p1, tc.history)

			rc.on.Store(true)
			r, err = spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{Payees: pay, FeeRateSatVb: 2, Replaces: p1})
			rc.on.Store(false)
			require.NoError(t, err)
			require.Equal(t, []string{p1}, r.Proposal.Supersedes)
			require.Zero(t, rc.utxoCalls.Load(), "no list of every coin")
			require.Equal(t, int32(1), rc.allCalls.Load(), "every proposal is listed once, by the velocity count only")
			// P1 twice: as the replaced payment and as the payee's.
			require.Equal(t, int32(2), rc.linked.Load())
			linked = append(linked, rc.linked.Load())
		})
	}
	require.Len(t, linked, 2)
	require.Equal(t, linked[0], linked[1], "the same records read whatever the history")
}

// mustHistory records n ended proposals, each paying its own payee from
// the wallet's one free coin and cancelled unsigned (the coin is released
// for the next), modelled on proposal tmpl.
func mustHistory(t *testing.T, db *store.DB, tmpl string, n int) {
	t.Helper()
	ctx := context.Background()
	base, err := db.Proposal(ctx, tmpl)
	require.NoError(t, err)
	held, err := db.Reservations(ctx)
	require.NoError(t, err)
	coins, err := db.UTXOs(ctx, false)
	require.NoError(t, err)
	var free reserve.UTXO
	for _, u := range coins {
		if _, ok := held[u.OutPoint]; !ok {
			free = u
			break
		}
	}
	require.NotZero(t, free.AmountSat, "a free coin")
	for i := range n {
		p := base
		p.ID, p.Change, p.Signatures, p.Decisions = "", nil, nil, nil
		p.State = reserve.StatePendingApproval
		p.History = base.History[:1]
		p.CreatedAt = time.Time{}
		p.Inputs = []reserve.Input{{OutPoint: free.OutPoint, AmountSat: free.AmountSat, Branch: free.Branch, Index: free.Index}}
		script := binary.BigEndian.AppendUint32([]byte{0x00, 0x14, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee}, uint32(i))
		p.Payees = []reserve.Payee{{Address: "history", Script: script, AmountSat: 1_000}}
		in := *base.Intent
		in.ProposalID, in.Supersedes = "", nil
		in.Payees = []reserve.IntentPayee{{Script: script, AmountSat: 1_000}}
		p.Intent = &in
		created, err := db.CreateProposal(ctx, p)
		require.NoError(t, err)
		_, err = db.UpdateProposal(ctx, created.ID, func(q *reserve.Proposal) error {
			return q.Move(reserve.StateCancelled, time.Now().UTC(), "test", "history")
		})
		require.NoError(t, err)
	}
}
