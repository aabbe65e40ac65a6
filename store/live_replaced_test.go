package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// TestLiveProposalsAfterBump: a BROADCAST proposal whose inputs a fee bump
// took over holds no reservation any more, but is live all the same: the
// daemon must see it to mark it REPLACED when the bump confirms. Its state
// index keeps a count under the state byte alone, which sorts before the
// proposals filed under that state; the listing must step over it, not
// stop at it.
func TestLiveProposalsAfterBump(t *testing.T) {
	ctx := context.Background()
	u := fundingUTXOs()
	db := MustFunded(t)
	old := MustCreateAt(t, db, intentProposal(t, u[0], u[1]), toBroadcast...)
	bump, err := db.CreateProposal(ctx, replacement(old, u[0], u[1]))
	require.NoError(t, err)

	live, res, err := db.LiveProposals(ctx)
	require.NoError(t, err)
	var ids []string
	for _, p := range live {
		ids = append(ids, p.ID+" "+p.State.String())
	}
	require.ElementsMatch(t, []string{old.ID + " BROADCAST", bump.ID + " SIGNING"}, ids)
	require.Equal(t, bump.ID, res[u[0].OutPoint], "the bump holds the coins")

	// Confirmed, then listed only when asked for.
	MustMove(t, db, old.ID, reserve.StateConfirmed)
	live, _, err = db.LiveProposals(ctx)
	require.NoError(t, err)
	require.Len(t, live, 1)
	live, _, err = db.LiveProposals(ctx, reserve.StateConfirmed)
	require.NoError(t, err)
	require.Len(t, live, 2)
}
