package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// intentProposal is testProposal(utxos...) carrying testIntent, without a
// proposal id: CreateProposal fills it.
func intentProposal(tb testing.TB, utxos ...reserve.UTXO) reserve.Proposal {
	tb.Helper()
	p := testProposal(utxos...)
	p.Intent = testIntent(tb)
	return p
}

// toBroadcast is the path from PENDING_APPROVAL to BROADCAST.
var toBroadcast = []reserve.State{reserve.StateApproved, reserve.StateSigning, reserve.StateFinalized, reserve.StateBroadcast}

// MustCreateAt creates p and moves it along path.
func MustCreateAt(tb testing.TB, db *store.DB, p reserve.Proposal, path ...reserve.State) reserve.Proposal {
	tb.Helper()
	p = MustCreate(tb, db, p)
	for _, s := range path {
		p = MustMove(tb, db, p.ID, s)
	}
	return p
}

// replacement is a fee bump of old spending utxos: old's payees, intent
// and decisions, old's change address, a higher fee and another
// transaction. It starts SIGNING, as a bump needs no new approvals.
func replacement(old reserve.Proposal, utxos ...reserve.UTXO) reserve.Proposal {
	p := testProposal(utxos...)
	const bumped = 9_000
	p.FeeRate, p.FeeSat = 45, bumped
	p.Change.AmountSat -= bumped - old.FeeSat
	p.UnsignedTx = []byte{0x02, 0x00, 0x00, 0x00, 0x01, 0xbb}
	p.Txid = chainhash.HashH([]byte("bumped tx"))
	p.State = reserve.StateSigning
	p.History = []reserve.Transition{{State: reserve.StateSigning, At: fixedNow, Actor: "daemon", Note: "fee bump of " + old.ID}}
	if old.Intent != nil {
		in := *old.Intent
		p.Intent = &in
	}
	p.Decisions = old.Decisions
	p.Replaces = old.ID
	return p
}

// TestCreateProposalIntent checks that the store gives the intent the
// proposal's id, whatever the caller put there, and leaves the caller's
// intent alone.
func TestCreateProposalIntent(t *testing.T) {
	ctx := context.Background()
	db := MustFunded(t)
	u := fundingUTXOs()

	tests := []struct {
		name   string
		p      func() reserve.Proposal
		wantID string
	}{
		{name: "empty proposal id", wantID: "P000001", p: func() reserve.Proposal { return intentProposal(t, u[0]) }},
		{name: "proposal id of the caller's choosing", wantID: "P000002", p: func() reserve.Proposal {
			p := withChange(intentProposal(t, u[1]), 1)
			p.Intent.ProposalID = "P123456"
			return p
		}},
	}
	for _, tc := range tests {
		// The ids depend on the order: no t.Run.
		p := tc.p()
		callers := *p.Intent
		got, err := db.CreateProposal(ctx, p)
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.wantID, got.ID, tc.name)

		want := callers
		want.ProposalID = tc.wantID
		require.Equal(t, &want, got.Intent, tc.name)
		require.Equal(t, callers, *p.Intent, "%s: the caller's intent must not change", tc.name)
		read, err := db.Proposal(ctx, got.ID)
		require.NoError(t, err)
		require.Equal(t, got, read, tc.name)
	}

	t.Run("refused proposal leaves the caller's intent alone", func(t *testing.T) {
		p := withChange(intentProposal(t, u[0]), 2) // u[0] is P000001's
		_, err := db.CreateProposal(ctx, p)
		requireCode(t, err, reserve.CodeConflict)
		require.Empty(t, p.Intent.ProposalID)
	})

	t.Run("invalid intent", func(t *testing.T) {
		db := MustFunded(t)
		before := takeSnapshot(t, db)
		p := intentProposal(t, u[0])
		p.Intent.FeeCapSat = 0
		_, err := db.CreateProposal(ctx, p)
		requireCode(t, err, reserve.CodeInvalid)
		var re *reserve.Error
		require.ErrorAs(t, err, &re)
		require.Equal(t, "intent", re.Field, "error: %v", err)
		require.Equal(t, before, takeSnapshot(t, db))
	})
}

// TestUpdateProposalDecisions checks what UpdateProposal lets change in
// the approval section: decisions may only be appended, the intent and
// the replaced id never change.
func TestUpdateProposalDecisions(t *testing.T) {
	u := fundingUTXOs()
	tests := []struct {
		name  string
		fn    func(t *testing.T, p *reserve.Proposal) error
		field string // "" for an accepted update
		// check runs on an accepted update with the stored proposal
		// before and after.
		check func(t *testing.T, before, got reserve.Proposal)
	}{
		{name: "decision appended",
			fn: func(t *testing.T, p *reserve.Proposal) error {
				p.Decisions = append(p.Decisions, mustDecide(t, p.Intent, 2, reserve.DecisionApprove))
				return nil
			},
			check: func(t *testing.T, before, got reserve.Proposal) {
				require.Len(t, got.Decisions, 3)
				require.Equal(t, before.Decisions, got.Decisions[:2])
				require.Equal(t, "carol", got.Decisions[2].Officer)
				require.Len(t, got.Approvals(), 2)
			}},
		{name: "release time set",
			fn: func(t *testing.T, p *reserve.Proposal) error { p.ReleaseAt = fixedNow.Add(time.Hour); return nil },
			check: func(t *testing.T, _, got reserve.Proposal) {
				require.Equal(t, fixedNow.Add(time.Hour), got.ReleaseAt)
			}},

		{name: "intent changed", field: "intent",
			fn: func(t *testing.T, p *reserve.Proposal) error { p.Intent.FeeCapSat++; return nil }},
		{name: "intent's proposal id changed", field: "intent",
			fn: func(t *testing.T, p *reserve.Proposal) error { p.Intent.ProposalID = "P000002"; return nil }},
		{name: "intent's payee changed", field: "intent",
			fn: func(t *testing.T, p *reserve.Proposal) error { p.Intent.Payees[0].Script[3] ^= 1; return nil }},
		{name: "intent removed", field: "intent",
			fn: func(t *testing.T, p *reserve.Proposal) error { p.Intent = nil; return nil }},
		{name: "replaces set", field: "replaces",
			fn: func(t *testing.T, p *reserve.Proposal) error { p.Replaces = "P000000"; return nil }},
		{name: "last decision removed", field: "decisions",
			fn: func(t *testing.T, p *reserve.Proposal) error { p.Decisions = p.Decisions[:1]; return nil }},
		{name: "all decisions removed", field: "decisions",
			fn: func(t *testing.T, p *reserve.Proposal) error { p.Decisions = nil; return nil }},
		{name: "veto turned into an approval", field: "decisions",
			fn: func(t *testing.T, p *reserve.Proposal) error {
				p.Decisions[1].Decision = reserve.DecisionApprove
				return nil
			}},
		{name: "veto replaced by a signed approval", field: "decisions",
			fn: func(t *testing.T, p *reserve.Proposal) error {
				p.Decisions[1] = mustDecide(t, p.Intent, 1, reserve.DecisionApprove)
				return nil
			}},
		{name: "signature altered", field: "decisions",
			fn: func(t *testing.T, p *reserve.Proposal) error { p.Decisions[0].Approval.Signature[0] ^= 1; return nil }},
		{name: "officer altered", field: "decisions",
			fn: func(t *testing.T, p *reserve.Proposal) error { p.Decisions[0].Officer = "mallory"; return nil }},
		{name: "time altered", field: "decisions",
			fn: func(t *testing.T, p *reserve.Proposal) error {
				p.Decisions[0].At = p.Decisions[0].At.Add(-time.Hour)
				return nil
			}},
		{name: "decision inserted before the others", field: "decisions",
			fn: func(t *testing.T, p *reserve.Proposal) error {
				carol := mustDecide(t, p.Intent, 2, reserve.DecisionApprove)
				p.Decisions = append([]reserve.OfficerDecision{carol}, p.Decisions...)
				return nil
			}},
		{name: "appended decision of no known kind", field: "decisions[2].decision",
			fn: func(t *testing.T, p *reserve.Proposal) error {
				d := mustDecide(t, p.Intent, 2, reserve.DecisionApprove)
				d.Decision = 3
				p.Decisions = append(p.Decisions, d)
				return nil
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustFunded(t)
			p := MustCreate(t, db, intentProposal(t, u[0], u[1]))
			// Alice approves, bob vetoes: an update that appends.
			p, err := db.UpdateProposal(ctx, p.ID, func(p *reserve.Proposal) error {
				p.Decisions = append(p.Decisions,
					mustDecide(t, p.Intent, 0, reserve.DecisionApprove),
					mustDecide(t, p.Intent, 1, reserve.DecisionReject))
				return nil
			})
			require.NoError(t, err)
			require.Len(t, p.Decisions, 2)
			before := takeSnapshot(t, db)

			got, err := db.UpdateProposal(ctx, p.ID, func(p *reserve.Proposal) error { return tc.fn(t, p) })
			if tc.field != "" {
				requireCode(t, err, reserve.CodeInvalid)
				var re *reserve.Error
				require.ErrorAs(t, err, &re)
				require.Equal(t, tc.field, re.Field, "error: %v", err)
				require.Equal(t, before, takeSnapshot(t, db), "a refused update must change nothing")
				return
			}
			require.NoError(t, err)
			tc.check(t, p, got)
			read, err := db.Proposal(ctx, p.ID)
			require.NoError(t, err)
			require.Equal(t, got, read)
			for i, d := range read.Decisions {
				require.NoError(t, reserve.VerifyApproval(read.Intent, d.Decision, d.Approval), "decisions[%d]", i)
			}
			after := takeSnapshot(t, db)
			require.Len(t, after.Audit, len(before.Audit)+1)
			wantKind := store.AuditProposalUpdate // a decision is its own leaf
			if len(got.Decisions) > len(p.Decisions) {
				wantKind = store.AuditProposalApprove
			}
			require.Equal(t, wantKind, after.Audit[len(after.Audit)-1].Kind)
		})
	}

	t.Run("intent added after creation", func(t *testing.T) {
		ctx := context.Background()
		db := MustFunded(t)
		p := MustCreate(t, db, testProposal(u[0]))
		before := takeSnapshot(t, db)
		_, err := db.UpdateProposal(ctx, p.ID, func(p *reserve.Proposal) error {
			p.Intent = testIntent(t)
			p.Intent.ProposalID = p.ID
			return nil
		})
		requireCode(t, err, reserve.CodeInvalid)
		var re *reserve.Error
		require.ErrorAs(t, err, &re)
		require.Equal(t, "intent", re.Field)
		require.Equal(t, before, takeSnapshot(t, db))
	})
}

// TestCreateReplacement checks the rules a fee bump is held to against
// the proposal it replaces (P000001, spending u[0] and u[1] with change
// to change address 0, BROADCAST unless the case says otherwise).
func TestCreateReplacement(t *testing.T) {
	u := fundingUTXOs()
	tests := []struct {
		name string
		// old is the replaced proposal; nil for intentProposal(u[0], u[1]).
		old func(t *testing.T) reserve.Proposal
		// oldPath takes it to its state; nil for toBroadcast.
		oldPath []reserve.State
		// before runs after the replaced proposal is in its state.
		before func(t *testing.T, db *store.DB)
		p      func(t *testing.T, old reserve.Proposal) reserve.Proposal
		code   *reserve.Code
		field  string // for CodeInvalid
		msg    string
		// wantReserved is who holds u[0] and u[1] after an accepted bump.
		wantReserved map[wire.OutPoint]string
	}{
		{name: "all its inputs, same change",
			p:            func(t *testing.T, old reserve.Proposal) reserve.Proposal { return replacement(old, u[0], u[1]) },
			wantReserved: map[wire.OutPoint]string{u[0].OutPoint: "P000002", u[1].OutPoint: "P000002"}},
		{name: "a subset of its inputs, no change",
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal {
				return withChange(replacement(old, u[0]), -1)
			},
			wantReserved: map[wire.OutPoint]string{u[0].OutPoint: "P000002", u[1].OutPoint: "P000001"}},
		{name: "inputs in another order",
			p:            func(t *testing.T, old reserve.Proposal) reserve.Proposal { return replacement(old, u[1], u[0]) },
			wantReserved: map[wire.OutPoint]string{u[0].OutPoint: "P000002", u[1].OutPoint: "P000002"}},

		// The replaced proposal.
		{name: "replaced proposal SIGNING", oldPath: pathTo(reserve.StateSigning),
			code: codePtr(reserve.CodeFailedPrecondition), msg: "proposal P000001 is SIGNING; only a BROADCAST proposal can be replaced",
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal { return replacement(old, u[0], u[1]) }},
		{name: "replaced proposal CONFIRMED", oldPath: append(toBroadcast, reserve.StateConfirmed),
			code: codePtr(reserve.CodeFailedPrecondition), msg: "is CONFIRMED",
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal { return replacement(old, u[0], u[1]) }},
		{name: "unknown id", code: codePtr(reserve.CodeInvalid), field: "replaces", msg: `proposal "P000009" does not exist`,
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal {
				p := replacement(old, u[0], u[1])
				p.Replaces = "P000009"
				return p
			}},

		// What the officers approved.
		{name: "different fee cap in the intent", code: codePtr(reserve.CodeInvalid), field: "intent",
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal {
				p := replacement(old, u[0], u[1])
				p.Intent.FeeCapSat *= 2
				return p
			}},
		{name: "intent naming the replacement", code: codePtr(reserve.CodeInvalid), field: "intent",
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal {
				p := replacement(old, u[0], u[1])
				p.Intent.ProposalID = "P000002"
				return p
			}},
		{name: "no intent", code: codePtr(reserve.CodeInvalid), field: "intent",
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal {
				p := replacement(old, u[0], u[1])
				p.Intent = nil
				return p
			}},
		{name: "replaced proposal without an intent", code: codePtr(reserve.CodeInvalid), field: "intent",
			old: func(t *testing.T) reserve.Proposal { return testProposal(u[0], u[1]) },
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal {
				p := replacement(old, u[0], u[1])
				p.Intent = testIntent(t)
				p.Intent.ProposalID = old.ID
				return p
			}},
		{name: "different payee amount", code: codePtr(reserve.CodeInvalid), field: "payees",
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal {
				p := replacement(old, u[0], u[1])
				p.Payees[0].AmountSat -= 1_000
				return p
			}},
		{name: "payee added", code: codePtr(reserve.CodeInvalid), field: "payees",
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal {
				p := replacement(old, u[0], u[1])
				p.Payees = append(p.Payees, reserve.Payee{Address: "bcrt1qother", Script: testScript(recv, 9), AmountSat: 1_000})
				return p
			}},

		// The coins.
		{name: "input not reserved by the replaced proposal", code: codePtr(reserve.CodeConflict),
			msg: fmt.Sprintf("inputs[2]: output %s is not an input of proposal P000001", u[2].OutPoint),
			p:   func(t *testing.T, old reserve.Proposal) reserve.Proposal { return replacement(old, u[0], u[1], u[2]) }},
		{name: "input reserved by another proposal", code: codePtr(reserve.CodeConflict),
			msg:    "is not an input of proposal P000001",
			before: func(t *testing.T, db *store.DB) { MustCreate(t, db, withChange(testProposal(u[2]), 1)) },
			p:      func(t *testing.T, old reserve.Proposal) reserve.Proposal { return replacement(old, u[2], u[0]) }},
		{name: "input recorded differently", code: codePtr(reserve.CodeInvalid), field: "inputs[1]",
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal {
				p := replacement(old, u[0], u[1])
				p.Inputs[1].Index = 3
				return p
			}},
		{name: "different change index", code: codePtr(reserve.CodeInvalid), field: "change",
			p: func(t *testing.T, old reserve.Proposal) reserve.Proposal {
				return withChange(replacement(old, u[0], u[1]), 1)
			}},
		{name: "change where the replaced had none", code: codePtr(reserve.CodeInvalid), field: "change",
			old: func(t *testing.T) reserve.Proposal { return withChange(intentProposal(t, u[0], u[1]), -1) },
			p:   func(t *testing.T, old reserve.Proposal) reserve.Proposal { return replacement(old, u[0], u[1]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustFunded(t)
			oldP := intentProposal(t, u[0], u[1])
			if tc.old != nil {
				oldP = tc.old(t)
			}
			path := toBroadcast
			if tc.oldPath != nil {
				path = tc.oldPath
			}
			old := MustCreateAt(t, db, oldP, path...)
			require.Equal(t, "P000001", old.ID)
			if tc.before != nil {
				tc.before(t, db)
			}
			before := takeSnapshot(t, db)
			p := tc.p(t, old)

			got, err := db.CreateProposal(ctx, p)
			if tc.code != nil {
				requireCode(t, err, *tc.code)
				require.ErrorContains(t, err, tc.msg)
				if tc.field != "" {
					var re *reserve.Error
					require.ErrorAs(t, err, &re)
					require.Equal(t, tc.field, re.Field, "error: %v", err)
				}
				require.Equal(t, before, takeSnapshot(t, db), "a refused replacement must change nothing")
				return
			}
			require.NoError(t, err)

			// Stored as given, the intent still naming the replaced
			// proposal, whose approvals it carries.
			want := p
			want.ID, want.CreatedAt = "P000002", fixedNow
			require.Equal(t, want, got)
			require.Equal(t, old.ID, got.Intent.ProposalID)
			read, err := db.Proposal(ctx, got.ID)
			require.NoError(t, err)
			require.Equal(t, got, read)

			// The coins move; the replaced proposal is untouched.
			requireReservations(t, db, tc.wantReserved)
			after := takeSnapshot(t, db)
			require.Equal(t, before.Proposals, after.Proposals[:1])

			// The change address is not issued again: it stays old's.
			require.Equal(t, before.Change, after.Change)
			require.Equal(t, before.Receive, after.Receive)

			require.Len(t, after.Audit, len(before.Audit)+1)
			last := after.Audit[len(after.Audit)-1]
			require.Equal(t, store.AuditProposalCreate, last.Kind)
			wantChange := "change=none"
			if p.Change != nil {
				wantChange = "change=change/0 (of P000001)"
			}
			require.Contains(t, last.Detail, wantChange)
		})
	}
}

// requireReservations checks that the reservations are exactly want.
func requireReservations(tb testing.TB, db *store.DB, want map[wire.OutPoint]string) {
	tb.Helper()
	got, err := db.Reservations(context.Background())
	require.NoError(tb, err)
	require.Equal(tb, want, got)
}

// TestReplacementReservations checks where the coins go when one of a
// replaced proposal (P000001, spending u[0] and u[1]) and its
// replacement (P000002) ends.
func TestReplacementReservations(t *testing.T) {
	u := fundingUTXOs()
	const oldID, newID = "P000001", "P000002"
	both := func(id string) map[wire.OutPoint]string {
		return map[wire.OutPoint]string{u[0].OutPoint: id, u[1].OutPoint: id}
	}
	// move is one transition and who holds u[0] and u[1] after it.
	type move struct {
		id   string
		to   reserve.State
		want map[wire.OutPoint]string
	}
	tests := []struct {
		name string
		// inputs are the replacement's; it has change only when it
		// spends both.
		inputs []reserve.UTXO
		moves  []move
	}{
		{name: "replacement cancelled: its coins go back to the broadcast one", inputs: []reserve.UTXO{u[0], u[1]},
			moves: []move{{newID, reserve.StateCancelled, both(oldID)}}},
		{name: "subset replacement expired: its coin goes back", inputs: []reserve.UTXO{u[0]},
			moves: []move{{newID, reserve.StateExpired, both(oldID)}}},
		{name: "replaced one confirmed: the failed replacement's coins go back to it", inputs: []reserve.UTXO{u[0], u[1]},
			moves: []move{
				{oldID, reserve.StateConfirmed, both(newID)},
				{newID, reserve.StateFailed, both(oldID)},
			}},
		{name: "replaced one REPLACED: the replacement keeps its coins", inputs: []reserve.UTXO{u[0], u[1]},
			moves: []move{
				{newID, reserve.StateFinalized, both(newID)},
				{newID, reserve.StateBroadcast, both(newID)},
				{oldID, reserve.StateReplaced, both(newID)},
				{newID, reserve.StateConfirmed, both(newID)},
			}},
		{name: "subset replacement: REPLACED releases the rest, the replacement's end releases all", inputs: []reserve.UTXO{u[0]},
			moves: []move{
				{newID, reserve.StateFinalized, map[wire.OutPoint]string{u[0].OutPoint: newID, u[1].OutPoint: oldID}},
				{newID, reserve.StateBroadcast, map[wire.OutPoint]string{u[0].OutPoint: newID, u[1].OutPoint: oldID}},
				{oldID, reserve.StateReplaced, map[wire.OutPoint]string{u[0].OutPoint: newID}},
				{newID, reserve.StateFailed, map[wire.OutPoint]string{}},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustFunded(t)
			old := MustCreateAt(t, db, intentProposal(t, u[0], u[1]), toBroadcast...)
			p := replacement(old, tc.inputs...)
			if len(tc.inputs) < 2 {
				p = withChange(p, -1)
			}
			require.Equal(t, newID, MustCreate(t, db, p).ID)

			for _, m := range tc.moves {
				MustMove(t, db, m.id, m.to)
				requireReservations(t, db, m.want)
			}

			// The outputs no live proposal holds can be taken again.
			res, err := db.Reservations(ctx)
			require.NoError(t, err)
			if _, held := res[u[1].OutPoint]; !held {
				q := MustCreate(t, db, withChange(testProposal(u[1]), 1))
				require.Equal(t, "P000003", q.ID)
			}
		})
	}
}
