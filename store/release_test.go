package store_test

import (
	"context"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// signedBy records cosigners as having signed every input of proposal id.
func signedBy(t *testing.T, db *store.DB, id string, cosigners ...int) {
	t.Helper()
	_, err := db.UpdateProposal(context.Background(), id, func(p *reserve.Proposal) error {
		for _, c := range cosigners {
			p.Signatures = append(p.Signatures, reserve.Signature{Cosigner: c, At: fixedNow})
		}
		return nil
	})
	require.NoError(t, err)
}

// finalized records a final transaction on proposal id and moves it
// FINALIZED.
func finalized(t *testing.T, db *store.DB, id string) {
	t.Helper()
	_, err := db.UpdateProposal(context.Background(), id, func(p *reserve.Proposal) error {
		p.FinalTx = []byte{0x02, 0x00, 0x00, 0x00}
		return p.Move(reserve.StateFinalized, fixedNow, "bob", "2 of 3 signatures")
	})
	require.NoError(t, err)
}

func lastAudit(t *testing.T, db *store.DB) store.AuditEntry {
	t.Helper()
	log, err := db.AuditLog(context.Background())
	require.NoError(t, err)
	return log[len(log)-1]
}

func TestEndedProposalKeepsReservationsWhileSigned(t *testing.T) {
	u := fundingUTXOs()
	tests := []struct {
		name string
		// prepare brings P000001 (spending u[0], u[1]) to where it ends.
		prepare func(t *testing.T, db *store.DB)
		end     reserve.State
		kept    bool
	}{
		{"cancelled unsigned releases", func(t *testing.T, db *store.DB) {
			MustMove(t, db, "P000001", reserve.StateApproved)
			MustMove(t, db, "P000001", reserve.StateSigning)
		}, reserve.StateCancelled, false},
		{"cancelled with fewer than m signatures releases", func(t *testing.T, db *store.DB) {
			MustMove(t, db, "P000001", reserve.StateApproved)
			MustMove(t, db, "P000001", reserve.StateSigning)
			signedBy(t, db, "P000001", 2)
		}, reserve.StateCancelled, false},
		{"cancelled with m signatures keeps", func(t *testing.T, db *store.DB) {
			MustMove(t, db, "P000001", reserve.StateApproved)
			MustMove(t, db, "P000001", reserve.StateSigning)
			signedBy(t, db, "P000001", 0, 2)
		}, reserve.StateCancelled, true},
		{"expired with m signatures keeps", func(t *testing.T, db *store.DB) {
			MustMove(t, db, "P000001", reserve.StateApproved)
			MustMove(t, db, "P000001", reserve.StateSigning)
			signedBy(t, db, "P000001", 1, 2)
		}, reserve.StateExpired, true},
		{"failed with its final transaction keeps", func(t *testing.T, db *store.DB) {
			MustMove(t, db, "P000001", reserve.StateApproved)
			MustMove(t, db, "P000001", reserve.StateSigning)
			finalized(t, db, "P000001")
		}, reserve.StateFailed, true},
		{"failed after broadcast keeps", func(t *testing.T, db *store.DB) {
			MustMove(t, db, "P000001", reserve.StateApproved)
			MustMove(t, db, "P000001", reserve.StateSigning)
			finalized(t, db, "P000001")
			MustMove(t, db, "P000001", reserve.StateBroadcast)
		}, reserve.StateFailed, true},
		{"failed without signatures releases", func(t *testing.T, db *store.DB) {
			MustMove(t, db, "P000001", reserve.StateApproved)
			MustMove(t, db, "P000001", reserve.StateSigning)
		}, reserve.StateFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustFunded(t)
			p := MustCreate(t, db, testProposal(u[0], u[1]))
			tt.prepare(t, db)
			got := MustMove(t, db, p.ID, tt.end)
			require.Equal(t, tt.end, got.State)

			a := lastAudit(t, db)
			require.Equal(t, store.AuditProposalKind(tt.end), a.Kind)
			if !tt.kept {
				requireReserved(t, db, "")
				_, err := db.CreateProposal(ctx, withChange(testProposal(u[1]), 1))
				require.Contains(t, a.Detail, "released=2")
				require.NotContains(t, a.Detail, "kept=")
				require.NoError(t, err)
				return
			}
			requireReserved(t, db, p.ID, u[0], u[1])
			require.Contains(t, a.Detail, "released=0 kept=2")
			require.Contains(t, a.Detail, "the transaction may still be broadcast")
			_, err := db.CreateProposal(ctx, withChange(testProposal(u[1]), 1))
			// No other proposal can take a coin it keeps.
			requireCode(t, err, reserve.CodeConflict)
			require.Contains(t, err.Error(), "is reserved by proposal P000001")
		})
	}
}

// A replacement (P000002, taking over u[0]) that ends after the proposal
// it replaced (P000001) ended hands u[0] back when P000001's signed
// transaction can still spend it, and releases it when not.
func TestReplacementEndsAfterReplacedEnded(t *testing.T) {
	u := fundingUTXOs()
	tests := []struct {
		name   string
		signed bool
		want   map[wire.OutPoint]string
	}{
		{name: "replaced one failed signed: handed back", signed: true,
			want: map[wire.OutPoint]string{u[0].OutPoint: "P000001", u[1].OutPoint: "P000001"}},
		{name: "replaced one failed unsigned: released", signed: false, want: map[wire.OutPoint]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustFunded(t)
			p1 := MustCreateAt(t, db, intentProposal(t, u[0], u[1]), reserve.StateApproved, reserve.StateSigning)
			if tt.signed {
				finalized(t, db, p1.ID)
			} else {
				MustMove(t, db, p1.ID, reserve.StateFinalized)
			}
			p1 = MustMove(t, db, p1.ID, reserve.StateBroadcast)
			p2 := MustCreate(t, db, withChange(replacement(p1, u[0]), -1))
			MustMove(t, db, p1.ID, reserve.StateFailed)
			MustMove(t, db, p2.ID, reserve.StateCancelled)
			requireReservations(t, db, tt.want)

			_, err := db.CreateProposal(ctx, withChange(testProposal(u[0]), 2))
			if tt.signed {
				requireCode(t, err, reserve.CodeConflict)
				require.Contains(t, err.Error(), "is reserved by proposal P000001")
				return
			}
			require.NoError(t, err)
		})
	}
}

// applyBlock applies block height of fork (on fork's previous block, or
// the funding block) with the given debits.
func applyBlock(t *testing.T, db *store.DB, height int32, fork string, debits ...reserve.Debit) {
	t.Helper()
	prev := blockHash(height-1, fork)
	if height-1 == 1 {
		prev = blockHash(1, "a")
	}
	require.NoError(t, db.ApplyBlock(context.Background(), reserve.BlockUpdate{
		Height: height, Hash: blockHash(height, fork), Prev: prev, Debits: debits,
	}))
}

func TestReleaseSpent(t *testing.T) {
	ctx := context.Background()
	u := fundingUTXOs()
	conflict := chainhash.HashH([]byte("conflicting tx"))
	const depth = 3

	// signedCancelled is a store with P000001 (u[0], u[1]) cancelled after
	// two of three cosigners signed, so it keeps both reservations.
	signedCancelled := func(t *testing.T) *store.DB {
		db := MustFunded(t)
		MustCreate(t, db, testProposal(u[0], u[1]))
		MustMove(t, db, "P000001", reserve.StateApproved)
		MustMove(t, db, "P000001", reserve.StateSigning)
		signedBy(t, db, "P000001", 0, 1)
		MustMove(t, db, "P000001", reserve.StateCancelled)
		requireReserved(t, db, "P000001", u[0], u[1])
		return db
	}

	t.Run("releases once the spend is buried, once", func(t *testing.T) {
		db := signedCancelled(t)
		applyBlock(t, db, 2, "b", reserve.Debit{OutPoint: u[1].OutPoint, SpentBy: conflict})
		applyBlock(t, db, 3, "b")
		applyBlock(t, db, 4, "b")

		n, err := db.ReleaseSpent(ctx, "P000001", depth, "conflict buried")
		require.NoError(t, err)
		require.Equal(t, 2, n)
		requireReserved(t, db, "")
		a := lastAudit(t, db)
		require.Equal(t, store.AuditProposalRelease, a.Kind)
		require.Contains(t, a.Detail, "id=P000001 state=CANCELLED released=2")
		require.Contains(t, a.Detail, conflict.String())
		require.Contains(t, a.Detail, `note="conflict buried"`)

		// The unspent coin can be taken again.
		MustCreate(t, db, withChange(testProposal(u[0]), 1))

		before, err := db.AuditLog(ctx)
		require.NoError(t, err)
		n, err = db.ReleaseSpent(ctx, "P000001", depth, "again")
		require.NoError(t, err)
		require.Zero(t, n)
		after, err := db.AuditLog(ctx)
		require.NoError(t, err)
		require.Equal(t, before, after)
		requireReserved(t, db, "P000002", u[0])
	})

	refusals := []struct {
		name  string
		setup func(t *testing.T, db *store.DB)
		id    string
		depth int32
		code  reserve.Code
		msg   string
	}{
		{"no input spent", func(t *testing.T, db *store.DB) {}, "P000001", depth,
			reserve.CodeFailedPrecondition, "is not spent"},
		{"spend not deep enough", func(t *testing.T, db *store.DB) {
			applyBlock(t, db, 2, "b", reserve.Debit{OutPoint: u[0].OutPoint, SpentBy: conflict})
			applyBlock(t, db, 3, "b")
		}, "P000001", depth, reserve.CodeFailedPrecondition, "with 2 of 3 confirmations"},
		{"spend reorganised away before the depth", func(t *testing.T, db *store.DB) {
			applyBlock(t, db, 2, "b", reserve.Debit{OutPoint: u[0].OutPoint, SpentBy: conflict})
			applyBlock(t, db, 3, "b")
			require.NoError(t, db.DisconnectTip(ctx))
			require.NoError(t, db.DisconnectTip(ctx))
			applyBlock(t, db, 2, "c")
			applyBlock(t, db, 3, "c")
			applyBlock(t, db, 4, "c")
		}, "P000001", depth, reserve.CodeFailedPrecondition, "is not spent"},
		{"live proposal", func(t *testing.T, db *store.DB) {
			MustCreate(t, db, withChange(testProposal(u[2]), 1))
			applyBlock(t, db, 2, "b", reserve.Debit{OutPoint: u[2].OutPoint, SpentBy: conflict})
			applyBlock(t, db, 3, "b")
			applyBlock(t, db, 4, "b")
		}, "P000002", depth, reserve.CodeFailedPrecondition, "is PENDING_APPROVAL"},
		{"depth below one", func(t *testing.T, db *store.DB) {}, "P000001", 0, reserve.CodeInvalid, "depth"},
		{"unknown proposal", func(t *testing.T, db *store.DB) {}, "P000009", depth, reserve.CodeNotFound, "P000009"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			db := signedCancelled(t)
			tt.setup(t, db)
			before := takeSnapshot(t, db)
			n, err := db.ReleaseSpent(ctx, tt.id, tt.depth, "note")
			requireCode(t, err, tt.code)
			require.Contains(t, err.Error(), tt.msg)
			require.Zero(t, n)
			require.Equal(t, before, takeSnapshot(t, db))
		})
	}
}
