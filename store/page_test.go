package store_test

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

func proposalIDs(ps []reserve.Proposal) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// walkProposals reads every page of state, size per page.
func walkProposals(t *testing.T, db *store.DB, state reserve.State, size int) []string {
	t.Helper()
	var (
		ids   []string
		after []byte
	)
	for {
		page, next, err := db.ProposalPage(context.Background(), state, after, size)
		require.NoError(t, err)
		ids = append(ids, proposalIDs(page)...)
		if next == nil {
			return ids
		}
		after = next
	}
}

// TestProposalPage checks the newest-first pages by state, the maintained
// counts, and a cursor whose proposal left the state: the page continues
// after its key.
func TestProposalPage(t *testing.T) {
	ctx := context.Background()
	db := MustFunded(t)
	for i, u := range fundingUTXOs() {
		MustCreate(t, db, withChange(testProposal(u), i))
	}
	MustMove(t, db, "P000002", reserve.StateCancelled)

	for _, size := range []int{1, 2, 3, 1000} {
		require.Equal(t, []string{"P000004", "P000003", "P000002", "P000001"}, walkProposals(t, db, reserve.StateUnspecified, size))
		require.Equal(t, []string{"P000004", "P000003", "P000001"}, walkProposals(t, db, reserve.StatePendingApproval, size))
		require.Equal(t, []string{"P000002"}, walkProposals(t, db, reserve.StateCancelled, size))
		require.Empty(t, walkProposals(t, db, reserve.StateConfirmed, size))
	}
	counts, err := db.ProposalCounts(ctx)
	require.NoError(t, err)
	require.Equal(t, map[reserve.State]int{reserve.StatePendingApproval: 3, reserve.StateCancelled: 1}, counts)

	// Stale cursor: the page ended at P000003, which is then cancelled.
	page, next, err := db.ProposalPage(ctx, reserve.StatePendingApproval, nil, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"P000004", "P000003"}, proposalIDs(page))
	MustMove(t, db, "P000003", reserve.StateCancelled)
	page, next, err = db.ProposalPage(ctx, reserve.StatePendingApproval, next, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"P000001"}, proposalIDs(page))
	require.Nil(t, next)
	counts, err = db.ProposalCounts(ctx)
	require.NoError(t, err)
	require.Equal(t, map[reserve.State]int{reserve.StatePendingApproval: 2, reserve.StateCancelled: 2}, counts)

	for _, tt := range []struct {
		name  string
		state reserve.State
		after []byte
		limit int
		field string
	}{
		{name: "cursor of another length", after: []byte{1, 2, 3}, limit: 10, field: "page_token"},
		{name: "zero limit", limit: 0, field: "page_size"},
		{name: "unknown state", state: 99, limit: 10, field: "state"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := db.ProposalPage(ctx, tt.state, tt.after, tt.limit)
			requireCode(t, err, reserve.CodeInvalid)
			require.Equal(t, tt.field, fieldOf(t, err))
		})
	}
}

// TestUTXOPageStaleCursor checks that a page whose last coin was spent
// since continues after that coin's key, and that a malformed cursor is
// refused without a read.
func TestUTXOPageStaleCursor(t *testing.T) {
	ctx := context.Background()
	db := MustFunded(t)
	all, err := db.UTXOs(ctx, false)
	require.NoError(t, err)
	oldestFirst(all)
	require.Len(t, all, 4)

	page, next, tip, err := db.UTXOPage(ctx, nil, 2)
	require.NoError(t, err)
	require.Equal(t, int32(1), tip)
	require.Equal(t, all[:2], page)
	require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{
		Debits: []reserve.Debit{{OutPoint: all[1].OutPoint, SpentBy: chainhash.HashH([]byte("spender"))}},
	}))
	page, next, _, err = db.UTXOPage(ctx, next, 2)
	require.NoError(t, err)
	require.Equal(t, all[2:], page)
	require.Nil(t, next)

	_, _, _, err = db.UTXOPage(ctx, []byte("short"), 2)
	requireCode(t, err, reserve.CodeInvalid)
	require.Equal(t, "page_token", fieldOf(t, err))
	_, _, _, err = db.UTXOPage(ctx, nil, 0)
	requireCode(t, err, reserve.CodeInvalid)
	require.Equal(t, "page_size", fieldOf(t, err))
}

// TestAddressPage checks the pages of addresses with and without
// lookahead, and what each received.
func TestAddressPage(t *testing.T) {
	ctx := context.Background()
	db := MustFunded(t) // receive 0..3 paid, 4 only watched
	var got []uint32
	var after []byte
	for {
		page, next, err := db.AddressPage(ctx, reserve.BranchReceive, false, after, 3)
		require.NoError(t, err)
		for _, a := range page {
			got = append(got, a.Index)
			require.Equal(t, int64(a.Index+1)*btc, a.ReceivedSat)
			require.Equal(t, uint32(1), a.ReceivedCount)
		}
		if next == nil {
			break
		}
		after = next
	}
	require.Equal(t, []uint32{0, 1, 2, 3}, got)

	all, next, err := db.AddressPage(ctx, reserve.BranchReceive, true, nil, 1000)
	require.NoError(t, err)
	require.Len(t, all, 5)
	require.Nil(t, next)

	_, _, err = db.AddressPage(ctx, reserve.BranchChange, true, []byte{0, 0, 0, 0, 1}, 10)
	requireCode(t, err, reserve.CodeInvalid)
	require.Equal(t, "page_token", fieldOf(t, err), "a cursor of the receive branch is not one of the change branch")
}

// fieldOf is the field a *reserve.Error names.
func fieldOf(t *testing.T, err error) string {
	t.Helper()
	var re *reserve.Error
	require.ErrorAs(t, err, &re)
	return re.Field
}
