package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// testProof is a PENDING_APPROVAL proof over utxos at block 1 of MustFunded.
func testProof(utxos ...reserve.UTXO) reserve.Proof {
	p := reserve.Proof{
		WalletID: testWallet().ID, State: reserve.StatePendingApproval, Message: "reserves 2030-01-01",
		Height: 1, BlockHash: blockHash(1, "a"), PSBT: []byte("psbt"), CreatedBy: "alice",
		ExpiresAt: time.Unix(2_000_000_000, 0).UTC(),
		History:   []reserve.Transition{{State: reserve.StatePendingApproval, At: time.Unix(1, 0).UTC(), Actor: "alice"}},
	}
	for _, u := range utxos {
		p.Coins = append(p.Coins, reserve.Input{OutPoint: u.OutPoint, AmountSat: u.AmountSat, Branch: u.Branch, Index: u.Index})
		p.TotalSat += u.AmountSat
	}
	return p
}

func proofAuditKinds(tb testing.TB, db *store.DB) []string {
	tb.Helper()
	log, err := db.AuditLog(context.Background())
	require.NoError(tb, err)
	var kinds []string
	for _, e := range log {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

// TestProofLifecycle: a proof is numbered R000001, read back, listed,
// approved, signed and finalized, each step with its audit leaf, and its
// coins stay free for a spend.
func TestProofLifecycle(t *testing.T) {
	ctx := context.Background()
	db := MustFunded(t)
	u := fundingUTXOs()
	p, err := db.CreateProof(ctx, testProof(u[0], u[2]))
	require.NoError(t, err)
	require.Equal(t, "R000001", p.ID)
	require.Equal(t, int64(4*btc), p.TotalSat)

	got, err := db.Proof(ctx, "R000001")
	require.NoError(t, err)
	require.Equal(t, p, got)
	list, err := db.Proofs(ctx, false)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Nil(t, list[0].PSBT)

	// A proof reserves nothing: a proposal may spend its coins.
	_, err = db.CreateProposal(ctx, testProposal(u[0]))
	require.NoError(t, err)

	at := time.Unix(2, 0).UTC()
	p, err = db.UpdateProof(ctx, p.ID, func(p *reserve.Proof) error {
		p.Approvals = append(p.Approvals, reserve.ProofApproval{Officer: "bob", At: at})
		return p.Move(reserve.StateSigning, at, "bob", "approved by 1 of 1")
	})
	require.NoError(t, err)
	p, err = db.UpdateProof(ctx, p.ID, func(p *reserve.Proof) error {
		p.PSBT = []byte("psbt signed")
		p.Signatures = append(p.Signatures, reserve.Signature{Cosigner: 0, Fingerprint: 7, At: at})
		return nil
	})
	require.NoError(t, err)
	p, err = db.UpdateProof(ctx, p.ID, func(p *reserve.Proof) error {
		p.FinalTx = []byte{1}
		return p.Move(reserve.StateFinalized, at, "carol", "")
	})
	require.NoError(t, err)
	require.Equal(t, reserve.StateFinalized, p.State)

	// Nothing changed: no leaf.
	_, err = db.UpdateProof(ctx, p.ID, func(*reserve.Proof) error { return nil })
	require.NoError(t, err)
	kinds := proofAuditKinds(t, db)
	require.Equal(t, []string{store.AuditProofRequest, store.AuditProposalCreate, store.AuditProofApprove,
		"proof.signing", store.AuditProofSign, store.AuditProofFinalize}, kinds[len(kinds)-6:])
}

// TestCreateProofRefuses: each coin and shape rule, by field.
func TestCreateProofRefuses(t *testing.T) {
	u := fundingUTXOs()
	spent := u[3]
	tests := []struct {
		name  string
		proof func() reserve.Proof
		code  reserve.Code
		field string
	}{
		{name: "valid", proof: func() reserve.Proof { return testProof(u[0], u[1]) }},
		{name: "a coin twice", proof: func() reserve.Proof { return testProof(u[0], u[0]) }, code: reserve.CodeInvalid, field: "coins[1]"},
		{name: "not the wallet's", proof: func() reserve.Proof {
			foreign := u[1]
			foreign.OutPoint = wire.OutPoint{Hash: chainhash.Hash{9}, Index: 0}
			return testProof(u[0], foreign)
		}, code: reserve.CodeInvalid, field: "coins[1]"},
		{name: "spent", proof: func() reserve.Proof { return testProof(u[0], spent) }, code: reserve.CodeInvalid, field: "coins[1]"},
		{name: "another amount", proof: func() reserve.Proof {
			p := testProof(u[0])
			p.Coins[0].AmountSat++
			p.TotalSat++
			return p
		}, code: reserve.CodeInvalid, field: "coins[0]"},
		{name: "tip moved", proof: func() reserve.Proof {
			p := testProof(u[0])
			p.Height, p.BlockHash = 1, blockHash(1, "b")
			return p
		}, code: reserve.CodeConflict, field: "height"},
		{name: "wrong total", proof: func() reserve.Proof {
			p := testProof(u[0])
			p.TotalSat++
			return p
		}, code: reserve.CodeInvalid, field: "total_sat"},
		{name: "no coins", proof: func() reserve.Proof { return testProof() }, code: reserve.CodeInvalid, field: "coins"},
		{name: "a proposal's state", proof: func() reserve.Proof {
			p := testProof(u[0])
			p.State, p.History[0].State = reserve.StateApproved, reserve.StateApproved
			return p
		}, code: reserve.CodeInvalid, field: "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustFunded(t)
			// Block 2 spends funding output 3.
			require.NoError(t, db.ApplyBlock(ctx, reserve.BlockUpdate{Height: 2, Hash: blockHash(2, "a"), Prev: blockHash(1, "a"),
				Debits: []reserve.Debit{{OutPoint: spent.OutPoint, SpentBy: chainhash.Hash{7}}}}))
			p := tt.proof()
			if p.BlockHash == blockHash(1, "a") {
				p.Height, p.BlockHash = 2, blockHash(2, "a")
			}
			_, err := db.CreateProof(ctx, p)
			if tt.code == 0 {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tt.code, reserve.CodeOf(err), "%v", err)
			require.Contains(t, err.Error(), tt.field)
			list, err := db.Proofs(ctx, false)
			require.NoError(t, err)
			require.Empty(t, list)
		})
	}
}

// TestUpdateProofRefuses: fixed fields, lost approvals and transitions a
// proof may not make are refused and change nothing; an unknown id is
// NotFound.
func TestUpdateProofRefuses(t *testing.T) {
	tests := []struct {
		name string
		fn   func(p *reserve.Proof) error
		ok   bool
		code reserve.Code
	}{
		{name: "message", fn: func(p *reserve.Proof) error { p.Message = "other"; return nil }, code: reserve.CodeInternal},
		{name: "coins", fn: func(p *reserve.Proof) error { p.Coins[0].Index++; return nil }, code: reserve.CodeInternal},
		{name: "state without history", fn: func(p *reserve.Proof) error { p.State = reserve.StateSigning; return nil }, code: reserve.CodeInternal},
		{name: "to APPROVED", fn: func(p *reserve.Proof) error {
			return p.Move(reserve.StateApproved, time.Unix(3, 0), "x", "")
		}, code: reserve.CodeFailedPrecondition},
		{name: "allowed", fn: func(p *reserve.Proof) error { return p.Move(reserve.StateCancelled, time.Unix(3, 0), "x", "") }, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustFunded(t)
			p, err := db.CreateProof(ctx, testProof(fundingUTXOs()[0]))
			require.NoError(t, err)
			_, err = db.UpdateProof(ctx, p.ID, tt.fn)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.Equal(t, tt.code, reserve.CodeOf(err), "%v", err)
			got, err := db.Proof(ctx, p.ID)
			require.NoError(t, err)
			require.Equal(t, p, got)
		})
	}
	db := MustFunded(t)
	_, err := db.Proof(context.Background(), "R000009")
	require.Equal(t, reserve.CodeNotFound, reserve.CodeOf(err))
}
