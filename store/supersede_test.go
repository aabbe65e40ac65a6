package store_test

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// superseding is a proposal spending utxos whose intent supersedes ids;
// with no payees, a cancel.
func superseding(t *testing.T, payees bool, ids []string, utxos ...reserve.UTXO) reserve.Proposal {
	p := withChange(testProposal(utxos...), 1)
	in := testIntent(t)
	in.Supersedes = ids
	if !payees {
		in.Payees, p.Payees = nil, nil
	}
	p.Intent = in
	return p
}

// withIntent is testProposal over utxos carrying testIntent.
func withIntent(t *testing.T, utxos ...reserve.UTXO) reserve.Proposal {
	p := testProposal(utxos...)
	p.Intent = testIntent(t)
	return p
}

// signedP1 creates P000001 over u[0], u[1] and has two of three cosigners
// sign it, so that it may spend whatever becomes of it.
func signedP1(t *testing.T, db *store.DB, u []reserve.UTXO) {
	MustCreate(t, db, withIntent(t, u[0], u[1]))
	MustMove(t, db, "P000001", reserve.StateApproved)
	MustMove(t, db, "P000001", reserve.StateSigning)
	signedBy(t, db, "P000001", 0, 2)
}

func reservations(t *testing.T, db *store.DB) map[wire.OutPoint]string {
	t.Helper()
	got, err := db.Reservations(context.Background())
	require.NoError(t, err)
	return got
}

// TestSupersede: a proposal whose intent supersedes a signed one takes
// over the coins of it that it spends, must spend at least one, gives them
// back when it ends unsigned, and ends an open superseded proposal in the
// same transaction.
func TestSupersede(t *testing.T) {
	ctx := context.Background()
	u := fundingUTXOs()

	t.Run("a replacement of a cancelled signed proposal takes one of its coins and gives it back", func(t *testing.T) {
		db := MustFunded(t)
		signedP1(t, db, u)
		MustMove(t, db, "P000001", reserve.StateCancelled)
		require.Equal(t, map[wire.OutPoint]string{u[0].OutPoint: "P000001", u[1].OutPoint: "P000001"}, reservations(t, db))

		p2 := MustCreate(t, db, superseding(t, true, []string{"P000001"}, u[1], u[2]))
		require.Equal(t, []string{"P000001"}, p2.Intent.Supersedes)
		require.Equal(t, map[wire.OutPoint]string{u[0].OutPoint: "P000001", u[1].OutPoint: "P000002", u[2].OutPoint: "P000002"}, reservations(t, db))

		// Unsigned, it ends: the coin it took goes back to the signed
		// P000001, which may still spend it; its own coin is free.
		MustMove(t, db, "P000002", reserve.StateCancelled)
		require.Equal(t, map[wire.OutPoint]string{u[0].OutPoint: "P000001", u[1].OutPoint: "P000001"}, reservations(t, db))
	})

	t.Run("a cancel pays no one and spends one coin of each", func(t *testing.T) {
		db := MustFunded(t)
		signedP1(t, db, u)
		MustMove(t, db, "P000001", reserve.StateExpired)
		c := MustCreate(t, db, superseding(t, false, []string{"P000001"}, u[0]))
		require.Empty(t, c.Payees)
		require.True(t, c.Intent.Cancels())
		require.Equal(t, "P000002", reservations(t, db)[u[0].OutPoint])
	})

	t.Run("an open superseded proposal ends CANCELLED in the same transaction", func(t *testing.T) {
		db := MustFunded(t)
		MustCreate(t, db, withIntent(t, u[0], u[1]))
		MustCreate(t, db, superseding(t, true, []string{"P000001"}, u[0], u[2]))
		p1, err := db.Proposal(ctx, "P000001")
		require.NoError(t, err)
		require.Equal(t, reserve.StateCancelled, p1.State)
		require.Equal(t, "superseded by proposal P000002", p1.History[len(p1.History)-1].Note)
		// Unsigned: its other coin is free again.
		require.Equal(t, map[wire.OutPoint]string{u[0].OutPoint: "P000002", u[2].OutPoint: "P000002"}, reservations(t, db))
		kinds := []string{}
		for _, e := range auditLog(t, db) {
			kinds = append(kinds, e.Kind)
		}
		require.Contains(t, kinds, store.AuditProposalKind(reserve.StateCancelled))
	})

	t.Run("refusals change nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			setup func(t *testing.T, db *store.DB)
			p     func(t *testing.T) reserve.Proposal
			code  reserve.Code
			msg   string
		}{
			{"spends none of the superseded proposal's inputs", func(t *testing.T, db *store.DB) {
				signedP1(t, db, u)
				MustMove(t, db, "P000001", reserve.StateCancelled)
			}, func(t *testing.T) reserve.Proposal { return superseding(t, true, []string{"P000001"}, u[2]) },
				reserve.CodeInvalid, "spends none of the inputs of proposal P000001"},
			{"a coin another proposal holds", func(t *testing.T, db *store.DB) {
				signedP1(t, db, u)
				MustCreate(t, db, withChange(withIntent(t, u[2]), 2))
			}, func(t *testing.T) reserve.Proposal { return superseding(t, true, []string{"P000001"}, u[0], u[2]) },
				reserve.CodeConflict, "reserved by proposal P000002, which this one does not supersede"},
			{"an unknown proposal", func(t *testing.T, db *store.DB) {},
				func(t *testing.T) reserve.Proposal { return superseding(t, true, []string{"P000009"}, u[2]) },
				reserve.CodeInvalid, `proposal "P000009" does not exist`},
			{"a confirmed payment", func(t *testing.T, db *store.DB) {
				signedP1(t, db, u)
				finalized(t, db, "P000001")
				MustMove(t, db, "P000001", reserve.StateBroadcast)
				_, err := db.UpdateProposal(ctx, "P000001", func(p *reserve.Proposal) error {
					p.ConfirmedHeight = 2
					return p.Move(reserve.StateConfirmed, fixedNow, "chain", "confirmed")
				})
				require.NoError(t, err)
			}, func(t *testing.T) reserve.Proposal { return superseding(t, true, []string{"P000001"}, u[0]) },
				reserve.CodeFailedPrecondition, "is CONFIRMED: the payment it supersedes is made"},
			{"no payees without superseding", func(t *testing.T, db *store.DB) {},
				func(t *testing.T) reserve.Proposal {
					p := withIntent(t, u[2])
					p.Payees = nil
					return p
				}, reserve.CodeInvalid, "pays at least one payee"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				db := MustFunded(t)
				tc.setup(t, db)
				before := takeSnapshot(t, db)
				_, err := db.CreateProposal(ctx, tc.p(t))
				requireCode(t, err, tc.code)
				require.ErrorContains(t, err, tc.msg)
				require.Equal(t, before, takeSnapshot(t, db))
			})
		}
	})
}

func auditLog(t *testing.T, db *store.DB) []store.AuditEntry {
	t.Helper()
	log, err := db.AuditLog(context.Background())
	require.NoError(t, err)
	return log
}
