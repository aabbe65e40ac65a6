package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// fundingTx pays receive addresses 0 to 3 one to four BTC; MustFunded
// confirms it in block 1.
var fundingTx = testTx(100,
	wireOut(1*btc, testScript(recv, 0)),
	wireOut(2*btc, testScript(recv, 1)),
	wireOut(3*btc, testScript(recv, 2)),
	wireOut(4*btc, testScript(recv, 3)),
)

// fundingUTXOs are the outputs of fundingTx as the store holds them after
// MustFunded.
func fundingUTXOs() []reserve.UTXO {
	out := make([]reserve.UTXO, len(fundingTx.TxOut))
	for i := range out {
		out[i] = credit(fundingTx, uint32(i), recv, uint32(i))
		out[i].Height = 1
	}
	return out
}

// MustFunded opens a store holding the test wallet (5 receive and 5
// change addresses) and fundingTx confirmed at height 1.
func MustFunded(tb testing.TB) *store.DB {
	tb.Helper()
	db := MustWallet(tb)
	b := reserve.BlockUpdate{Height: 1, Hash: blockHash(1, "a"), Credits: fundingUTXOs(), Txs: []*wire.MsgTx{fundingTx}}
	require.NoError(tb, db.ApplyBlock(context.Background(), b))
	return db
}

// testProposal is a PENDING_APPROVAL proposal spending utxos, paying half
// a BTC out, with change to change address 0.
func testProposal(utxos ...reserve.UTXO) reserve.Proposal {
	const fee = 2_000
	var total int64
	inputs := make([]reserve.Input, len(utxos))
	for i, u := range utxos {
		inputs[i] = reserve.Input{OutPoint: u.OutPoint, AmountSat: u.AmountSat, Branch: u.Branch, Index: u.Index}
		total += u.AmountSat
	}
	return reserve.Proposal{
		WalletID: testWallet().ID,
		State:    reserve.StatePendingApproval,
		Payees: []reserve.Payee{{
			Address:   "bcrt1qpayee",
			Script:    append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0x77}, 20)...),
			AmountSat: btc / 2,
		}},
		Memo:       "grain imports",
		FeeRate:    10,
		FeeSat:     fee,
		VSize:      200,
		Inputs:     inputs,
		Change:     &reserve.Change{Index: 0, AmountSat: total - btc/2 - fee, Vout: 1},
		UnsignedTx: []byte{0x02, 0x00, 0x00, 0x00, 0x01, 0xaa},
		Txid:       chainhash.HashH([]byte("unsigned tx")),
		CreatedBy:  "alice",
		CreatedAt:  fixedNow,
		ExpiresAt:  fixedNow.Add(24 * time.Hour),
		History: []reserve.Transition{
			{State: reserve.StatePendingApproval, At: fixedNow, Actor: "alice", Note: "proposed"},
		},
	}
}

// withChange sets the proposal's change address index, or drops the change
// for a negative index.
func withChange(p reserve.Proposal, index int) reserve.Proposal {
	if index < 0 {
		p.Change = nil
		return p
	}
	c := *p.Change
	c.Index = uint32(index)
	p.Change = &c
	return p
}

// MustCreate creates p and returns it as stored.
func MustCreate(tb testing.TB, db *store.DB, p reserve.Proposal) reserve.Proposal {
	tb.Helper()
	got, err := db.CreateProposal(context.Background(), p)
	require.NoError(tb, err)
	return got
}

// MustMove moves proposal id to next through UpdateProposal.
func MustMove(tb testing.TB, db *store.DB, id string, next reserve.State) reserve.Proposal {
	tb.Helper()
	got, err := db.UpdateProposal(context.Background(), id, func(p *reserve.Proposal) error {
		return p.Move(next, fixedNow, "bob", "to "+next.String())
	})
	require.NoError(tb, err)
	return got
}

// snapshot is everything a refused call must leave as it was.
type snapshot struct {
	Proposals    []reserve.Proposal
	Reservations map[wire.OutPoint]string
	Audit        []store.AuditEntry
	Change       []reserve.Address
	Receive      []reserve.Address
}

func takeSnapshot(tb testing.TB, db *store.DB) snapshot {
	tb.Helper()
	ctx := context.Background()
	var (
		s   snapshot
		err error
	)
	s.Proposals, err = db.Proposals(ctx, reserve.StateUnspecified)
	require.NoError(tb, err)
	s.Reservations, err = db.Reservations(ctx)
	require.NoError(tb, err)
	s.Audit, err = db.AuditLog(ctx)
	require.NoError(tb, err)
	s.Change, err = db.Addresses(ctx, chg)
	require.NoError(tb, err)
	s.Receive, err = db.Addresses(ctx, recv)
	require.NoError(tb, err)
	return s
}

func TestCreateProposal(t *testing.T) {
	u := fundingUTXOs()
	// unconfirmed is in the mempool only; coinbase is confirmed at height
	// 2, far from maturity.
	unconfirmed := credit(testTx(7, wireOut(btc, testScript(recv, 4))), 0, recv, 4)
	coinbase := credit(testTx(8, wireOut(50*btc, testScript(recv, 4))), 0, recv, 4)
	coinbase.Coinbase, coinbase.Height = true, 2
	tests := []struct {
		name string
		// before runs on a funded store; each step must succeed.
		before   func(t *testing.T, db *store.DB)
		noWallet bool
		p        func() reserve.Proposal
		code     *reserve.Code
		field    string // for CodeInvalid
		msg      string
		wantID   string
	}{
		{name: "with change", p: func() reserve.Proposal { return testProposal(u[0], u[1]) }, wantID: "P000001"},
		{name: "without change", p: func() reserve.Proposal { return withChange(testProposal(u[0]), -1) }, wantID: "P000001"},
		{name: "second proposal gets the next id", wantID: "P000002",
			before: func(t *testing.T, db *store.DB) { MustCreate(t, db, testProposal(u[0])) },
			p:      func() reserve.Proposal { return withChange(testProposal(u[1]), 1) }},
		{name: "output of an ended proposal", wantID: "P000002",
			before: func(t *testing.T, db *store.DB) {
				MustCreate(t, db, testProposal(u[0]))
				MustMove(t, db, "P000001", reserve.StateRejected)
			},
			p: func() reserve.Proposal { return withChange(testProposal(u[0]), 1) }},
		{name: "fills a zero creation time", wantID: "P000001", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.CreatedAt = time.Time{}
			return p
		}},

		// The store's view of the inputs.
		{name: "unknown output", code: codePtr(reserve.CodeConflict), msg: "is not a wallet output the store knows",
			p: func() reserve.Proposal {
				p := testProposal(u[0])
				p.Inputs[0].OutPoint.Index = 9
				return p
			}},
		{name: "spent in a block", code: codePtr(reserve.CodeConflict), msg: "at height 2",
			before: func(t *testing.T, db *store.DB) {
				b := block(2, "a", blockHash(1, "a"))
				b.Debits = []reserve.Debit{{OutPoint: u[0].OutPoint, SpentBy: chainhash.HashH([]byte("thief"))}}
				require.NoError(t, db.ApplyBlock(context.Background(), b))
			},
			p: func() reserve.Proposal { return testProposal(u[0]) }},
		{name: "spent in the mempool", code: codePtr(reserve.CodeConflict), msg: "in the mempool",
			before: func(t *testing.T, db *store.DB) {
				require.NoError(t, db.ApplyMempool(context.Background(), reserve.MempoolUpdate{
					Debits: []reserve.Debit{{OutPoint: u[1].OutPoint, SpentBy: chainhash.HashH([]byte("pending"))}},
				}))
			},
			p: func() reserve.Proposal { return testProposal(u[0], u[1]) }},
		{name: "unconfirmed", code: codePtr(reserve.CodeConflict), msg: "is not confirmed yet",
			before: func(t *testing.T, db *store.DB) {
				require.NoError(t, db.ApplyMempool(context.Background(), reserve.MempoolUpdate{Credits: []reserve.UTXO{unconfirmed}}))
			},
			p: func() reserve.Proposal { return testProposal(u[0], unconfirmed) }},
		{name: "immature coinbase", code: codePtr(reserve.CodeConflict), msg: "not mature yet",
			before: func(t *testing.T, db *store.DB) {
				b := block(2, "a", blockHash(1, "a"))
				b.Credits = []reserve.UTXO{coinbase}
				require.NoError(t, db.ApplyBlock(context.Background(), b))
			},
			p: func() reserve.Proposal { return testProposal(coinbase) }},
		{name: "amount differs", code: codePtr(reserve.CodeConflict), msg: "not 100000001 sat",
			p: func() reserve.Proposal {
				p := testProposal(u[0])
				p.Inputs[0].AmountSat++
				return p
			}},
		{name: "branch differs", code: codePtr(reserve.CodeConflict), msg: "to change/0",
			p: func() reserve.Proposal {
				p := testProposal(u[0])
				p.Inputs[0].Branch = chg
				return p
			}},
		{name: "index differs", code: codePtr(reserve.CodeConflict), msg: "to receive/3",
			p: func() reserve.Proposal {
				p := testProposal(u[0])
				p.Inputs[0].Index = 3
				return p
			}},
		{name: "reserved by another proposal", code: codePtr(reserve.CodeConflict), msg: "is reserved by proposal P000001",
			before: func(t *testing.T, db *store.DB) { MustCreate(t, db, withChange(testProposal(u[1]), -1)) },
			p:      func() reserve.Proposal { return withChange(testProposal(u[0], u[1]), 1) }},

		// The change address.
		{name: "change address issued to another proposal", code: codePtr(reserve.CodeConflict), msg: "already issued",
			before: func(t *testing.T, db *store.DB) { MustCreate(t, db, testProposal(u[1])) },
			p:      func() reserve.Proposal { return testProposal(u[0]) }},
		{name: "change address of an ended proposal", code: codePtr(reserve.CodeConflict), msg: "already issued",
			before: func(t *testing.T, db *store.DB) {
				MustCreate(t, db, testProposal(u[1]))
				MustMove(t, db, "P000001", reserve.StateCancelled)
			},
			p: func() reserve.Proposal { return testProposal(u[0]) }},
		{name: "change address already paid", code: codePtr(reserve.CodeConflict), msg: "has already been paid",
			before: func(t *testing.T, db *store.DB) { pay(t, db, 9, chg, 2) },
			p:      func() reserve.Proposal { return withChange(testProposal(u[0]), 2) }},
		{name: "change address not derived", code: codePtr(reserve.CodeConflict), msg: "is not derived yet",
			p: func() reserve.Proposal { return withChange(testProposal(u[0]), 99) }},

		// The shape.
		{name: "id set by the caller", code: codePtr(reserve.CodeInvalid), field: "id", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.ID = "P000042"
			return p
		}},
		{name: "no inputs", code: codePtr(reserve.CodeInvalid), field: "inputs", p: func() reserve.Proposal { return testProposal() }},
		{name: "duplicate input", code: codePtr(reserve.CodeInvalid), field: "inputs[2]", msg: "which inputs[0] already spends",
			p: func() reserve.Proposal { return testProposal(u[0], u[1], u[0]) }},
		{name: "no payees", code: codePtr(reserve.CodeInvalid), field: "payees", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.Payees = nil
			return p
		}},
		{name: "zero payee amount", code: codePtr(reserve.CodeInvalid), field: "payees[0].amount_sat", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.Payees[0].AmountSat = 0
			return p
		}},
		{name: "payee amount over the supply", code: codePtr(reserve.CodeInvalid), field: "payees[0].amount_sat", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.Payees[0].AmountSat = reserve.MaxSat + 1
			return p
		}},
		{name: "payees over the supply together", code: codePtr(reserve.CodeInvalid), field: "payees", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.Payees[0].AmountSat = reserve.MaxSat
			p.Payees = append(p.Payees, p.Payees[0])
			return p
		}},
		{name: "payee without script", code: codePtr(reserve.CodeInvalid), field: "payees[0].script", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.Payees[0].Script = nil
			return p
		}},
		{name: "negative input amount", code: codePtr(reserve.CodeInvalid), field: "inputs[0].amount_sat", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.Inputs[0].AmountSat = -1
			return p
		}},
		{name: "zero change amount", code: codePtr(reserve.CodeInvalid), field: "change.amount_sat", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.Change.AmountSat = 0
			return p
		}},
		{name: "negative fee", code: codePtr(reserve.CodeInvalid), field: "fee_sat", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.FeeSat = -1
			return p
		}},
		{name: "state a proposal cannot start in", code: codePtr(reserve.CodeInvalid), field: "state", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.State = reserve.StateBroadcast
			p.History[0].State = reserve.StateBroadcast
			return p
		}},
		{name: "unspecified state", code: codePtr(reserve.CodeInvalid), field: "state", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.State, p.History[0].State = 0, 0
			return p
		}},
		{name: "no history", code: codePtr(reserve.CodeInvalid), field: "history", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.History = nil
			return p
		}},
		{name: "history ends in another state", code: codePtr(reserve.CodeInvalid), field: "history", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.History[0].State = reserve.StateApproved
			return p
		}},
		{name: "no unsigned transaction", code: codePtr(reserve.CodeInvalid), field: "unsigned_tx", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.UnsignedTx = nil
			return p
		}},
		{name: "memo too long", code: codePtr(reserve.CodeInvalid), field: "memo", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.Memo = strings.Repeat("m", 4097)
			return p
		}},
		{name: "another wallet", code: codePtr(reserve.CodeInvalid), field: "wallet_id", p: func() reserve.Proposal {
			p := testProposal(u[0])
			p.WalletID = "someone-else"
			return p
		}},
		{name: "no wallet yet", noWallet: true, code: codePtr(reserve.CodeFailedPrecondition),
			p: func() reserve.Proposal { return testProposal(u[0]) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var db *store.DB
			if tc.noWallet {
				db = MustOpen(t)
			} else {
				db = MustFunded(t)
			}
			if tc.before != nil {
				tc.before(t, db)
			}
			before := takeSnapshot(t, db)
			p := tc.p()

			got, err := db.CreateProposal(ctx, p)
			if tc.code != nil {
				requireCode(t, err, *tc.code)
				require.Contains(t, err.Error(), tc.msg)
				if tc.field != "" {
					var re *reserve.Error
					require.ErrorAs(t, err, &re)
					require.Equal(t, tc.field, re.Field, "error: %v", err)
				}
				require.Equal(t, before, takeSnapshot(t, db), "a refused proposal must change nothing")
				return
			}
			require.NoError(t, err)

			// The stored proposal is the input with its id and a
			// creation time.
			want := p
			want.ID = tc.wantID
			want.CreatedAt = fixedNow
			require.Equal(t, want, got)
			read, err := db.Proposal(ctx, got.ID)
			require.NoError(t, err)
			require.Equal(t, got, read)

			// Every input is reserved for it.
			res, err := db.Reservations(ctx)
			require.NoError(t, err)
			for _, in := range p.Inputs {
				require.Equal(t, got.ID, res[in.OutPoint], "reservation of %s", in.OutPoint)
			}
			require.Len(t, res, len(before.Reservations)+len(p.Inputs))

			// The change address is issued, nothing else.
			after := takeSnapshot(t, db)
			require.Equal(t, before.Receive, after.Receive)
			for i, a := range after.Change {
				if p.Change != nil && a.Index == p.Change.Index {
					require.True(t, a.Issued)
					require.Equal(t, "change of proposal "+got.ID, a.Label)
					continue
				}
				require.Equal(t, before.Change[i], a)
			}

			// One audit entry, in the same transaction.
			require.Len(t, after.Audit, len(before.Audit)+1)
			last := after.Audit[len(after.Audit)-1]
			require.Equal(t, store.AuditProposalCreate, last.Kind)
			require.Equal(t, fixedNow.Truncate(time.Second), last.Time) // leaves keep seconds
			require.Contains(t, last.Detail, "id="+got.ID)
			require.Contains(t, last.Detail, fmt.Sprintf("payees=1 total_sat=%d fee_sat=%d", btc/2, p.FeeSat))
		})
	}
}

// TestCreateProposalRace creates proposals over one outpoint from many
// goroutines: exactly one may win it.
func TestCreateProposalRace(t *testing.T) {
	const racers = 8
	ctx := context.Background()
	db := MustFunded(t)
	u := fundingUTXOs()

	var (
		wg   sync.WaitGroup
		errs = make([]error, racers)
		won  = make([]reserve.Proposal, racers)
	)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Distinct change addresses (or none), so only the outpoint
			// is contended.
			p := withChange(testProposal(u[2]), i%5)
			if i >= 5 {
				p = withChange(p, -1)
			}
			won[i], errs[i] = db.CreateProposal(ctx, p)
		}()
	}
	wg.Wait()

	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "two proposals reserved %s", u[2].OutPoint)
			winner = i
			continue
		}
		requireCode(t, err, reserve.CodeConflict)
		require.Contains(t, err.Error(), "is reserved by proposal P000001")
	}
	require.NotEqual(t, -1, winner, "no proposal won")
	require.Equal(t, "P000001", won[winner].ID)

	res, err := db.Reservations(ctx)
	require.NoError(t, err)
	require.Equal(t, map[wire.OutPoint]string{u[2].OutPoint: "P000001"}, res)
	all, err := db.Proposals(ctx, 0)
	require.NoError(t, err)
	require.Len(t, all, 1)
}

func TestProposalLifecycle(t *testing.T) {
	ctx := context.Background()
	u := fundingUTXOs()

	t.Run("cancel while signing releases the inputs", func(t *testing.T) {
		db := MustFunded(t)
		p := MustCreate(t, db, testProposal(u[0], u[1]))
		MustMove(t, db, p.ID, reserve.StateApproved)
		MustMove(t, db, p.ID, reserve.StateSigning)
		requireReserved(t, db, p.ID, u[0], u[1])

		got := MustMove(t, db, p.ID, reserve.StateCancelled)
		require.Equal(t, reserve.StateCancelled, got.State)
		require.Len(t, got.History, 4)
		requireReserved(t, db, "")

		// The change address stays issued: it is never handed out again.
		_, err := db.CreateProposal(ctx, testProposal(u[0]))
		requireCode(t, err, reserve.CodeConflict)
		require.Contains(t, err.Error(), "change address 0")

		// The outputs can be taken again.
		q := MustCreate(t, db, withChange(testProposal(u[0], u[1]), 1))
		require.Equal(t, "P000002", q.ID)
		requireReserved(t, db, "P000002", u[0], u[1])

		log, err := db.AuditLog(ctx)
		require.NoError(t, err)
		var kinds []string
		for _, e := range log {
			kinds = append(kinds, e.Kind)
		}
		require.Equal(t, []string{
			store.AuditWalletCreate, store.AuditProposalCreate, "proposal.approved",
			"proposal.signing", "proposal.cancelled", store.AuditProposalCreate,
		}, kinds)
		require.Equal(t, `id=P000001 from=SIGNING to=CANCELLED actor="bob" note="to CANCELLED" released=2`, log[4].Detail)
	})

	t.Run("broadcast and confirmed keep the hold, failed ends it", func(t *testing.T) {
		db := MustFunded(t)
		p := MustCreate(t, db, testProposal(u[3]))
		for _, s := range []reserve.State{reserve.StateApproved, reserve.StateSigning, reserve.StateFinalized,
			reserve.StateBroadcast, reserve.StateConfirmed, reserve.StateBroadcast} {
			MustMove(t, db, p.ID, s)
			requireReserved(t, db, p.ID, u[3])
		}
		got := MustMove(t, db, p.ID, reserve.StateFailed)
		require.False(t, got.State.HoldsCoins())
		requireReserved(t, db, "")
		got, err := db.Proposal(ctx, p.ID)
		require.NoError(t, err)
		require.Equal(t, reserve.StateFailed, got.State)
		require.Len(t, got.History, 8)
	})

	t.Run("release leaves other proposals' reservations", func(t *testing.T) {
		db := MustFunded(t)
		a := MustCreate(t, db, testProposal(u[0]))
		b := MustCreate(t, db, withChange(testProposal(u[1]), 1))
		MustMove(t, db, a.ID, reserve.StateExpired)
		res, err := db.Reservations(ctx)
		require.NoError(t, err)
		require.Equal(t, map[wire.OutPoint]string{u[1].OutPoint: b.ID}, res)
	})
}

// requireReserved checks that exactly the given outputs are reserved, all
// by id.
func requireReserved(t *testing.T, db *store.DB, id string, utxos ...reserve.UTXO) {
	t.Helper()
	want := map[wire.OutPoint]string{}
	for _, u := range utxos {
		want[u.OutPoint] = id
	}
	got, err := db.Reservations(context.Background())
	require.NoError(t, err)
	require.Equal(t, want, got)
}

func TestUpdateProposal(t *testing.T) {
	u := fundingUTXOs()
	errBoom := errors.New("signer unreachable")
	classified := reserve.Errorf(reserve.CodeDenied, "officer may not cancel")
	bigPSBT := bytes.Repeat([]byte{0x70}, 2<<20)

	tests := []struct {
		name string
		// state is where the proposal is before fn runs.
		state reserve.State
		fn    func(p *reserve.Proposal) error
		// err is returned as is when set.
		err   error
		code  *reserve.Code
		field string
		msg   string
		// check runs on success with the returned proposal.
		check    func(t *testing.T, got reserve.Proposal)
		wantKind string
	}{
		{name: "legal move", state: reserve.StateApproved, wantKind: "proposal.signing",
			fn: func(p *reserve.Proposal) error {
				return p.Move(reserve.StateSigning, fixedNow, "daemon", "approved by quorum")
			},
			check: func(t *testing.T, got reserve.Proposal) {
				require.Equal(t, reserve.StateSigning, got.State)
				require.Equal(t, reserve.Transition{State: reserve.StateSigning, At: fixedNow, Actor: "daemon", Note: "approved by quorum"},
					got.History[len(got.History)-1])
			}},
		{name: "mutable fields without a move", state: reserve.StateSigning, wantKind: store.AuditProposalSign,
			fn: func(p *reserve.Proposal) error {
				p.PSBT = bigPSBT
				p.Signatures = append(p.Signatures, reserve.Signature{Cosigner: 1, Fingerprint: 0x22222222, At: fixedNow})
				p.FeeRate, p.Memo = 12, "grain imports, second lot"
				return nil
			},
			check: func(t *testing.T, got reserve.Proposal) {
				require.Equal(t, bigPSBT, got.PSBT)
				require.True(t, got.Signed(1))
				require.Equal(t, int64(12), got.FeeRate)
				require.Equal(t, reserve.StateSigning, got.State)
			}},
		{name: "finalized with its transaction", state: reserve.StateSigning, wantKind: "proposal.finalized",
			fn: func(p *reserve.Proposal) error {
				p.FinalTx = []byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
				return p.Move(reserve.StateFinalized, fixedNow, "daemon", "2 of 3 signatures")
			},
			check: func(t *testing.T, got reserve.Proposal) {
				require.Equal(t, []byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}, got.FinalTx)
			}},

		// fn's own errors.
		{name: "fn error", state: reserve.StateSigning, err: errBoom,
			fn: func(p *reserve.Proposal) error {
				p.PSBT = []byte("half done")
				_ = p.Move(reserve.StateCancelled, fixedNow, "x", "y")
				return errBoom
			}},
		{name: "classified fn error", state: reserve.StateSigning, err: classified,
			fn: func(p *reserve.Proposal) error { return classified }},
		{name: "move refused by the state machine", state: reserve.StateCancelled, code: codePtr(reserve.CodeFailedPrecondition),
			fn: func(p *reserve.Proposal) error { return p.Move(reserve.StateSigning, fixedNow, "mallory", "") }},

		// Transitions the store refuses.
		{name: "illegal transition written by hand", state: reserve.StateCancelled,
			code: codePtr(reserve.CodeFailedPrecondition), msg: "is CANCELLED and cannot become SIGNING",
			fn: func(p *reserve.Proposal) error {
				p.State = reserve.StateSigning
				p.History = append(p.History, reserve.Transition{State: reserve.StateSigning, At: fixedNow})
				return nil
			}},
		{name: "state changed without Move", state: reserve.StatePendingApproval,
			code: codePtr(reserve.CodeFailedPrecondition), msg: "with 0 new transitions",
			fn: func(p *reserve.Proposal) error { p.State = reserve.StateApproved; return nil }},
		{name: "two moves in one update", state: reserve.StateApproved,
			code: codePtr(reserve.CodeFailedPrecondition), msg: "with 2 new transitions",
			fn: func(p *reserve.Proposal) error {
				if err := p.Move(reserve.StateSigning, fixedNow, "d", ""); err != nil {
					return err
				}
				return p.Move(reserve.StateCancelled, fixedNow, "d", "")
			}},
		{name: "two moves skipping a state", state: reserve.StateSigning,
			code: codePtr(reserve.CodeFailedPrecondition), msg: "is SIGNING and cannot become BROADCAST",
			fn: func(p *reserve.Proposal) error {
				if err := p.Move(reserve.StateFinalized, fixedNow, "d", ""); err != nil {
					return err
				}
				return p.Move(reserve.StateBroadcast, fixedNow, "d", "")
			}},
		{name: "new transition to another state", state: reserve.StatePendingApproval,
			code: codePtr(reserve.CodeFailedPrecondition), msg: "its new transition is to SIGNING",
			fn: func(p *reserve.Proposal) error {
				p.State = reserve.StateApproved
				p.History = append(p.History, reserve.Transition{State: reserve.StateSigning, At: fixedNow})
				return nil
			}},
		{name: "history grown without a state change", state: reserve.StateSigning,
			code: codePtr(reserve.CodeFailedPrecondition), msg: "history grew by 1",
			fn: func(p *reserve.Proposal) error {
				p.History = append(p.History, reserve.Transition{State: reserve.StateSigning, At: fixedNow})
				return nil
			}},
		{name: "history rewritten", state: reserve.StateApproved,
			code: codePtr(reserve.CodeFailedPrecondition), msg: "cannot be changed or removed",
			fn: func(p *reserve.Proposal) error {
				p.History[0].Actor = "mallory"
				return p.Move(reserve.StateSigning, fixedNow, "d", "")
			}},
		{name: "history truncated", state: reserve.StateApproved,
			code: codePtr(reserve.CodeFailedPrecondition), msg: "cannot be changed or removed",
			fn: func(p *reserve.Proposal) error { p.History = p.History[:1]; return nil }},

		// Fields fixed at creation.
		{name: "id", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "id",
			fn: func(p *reserve.Proposal) error { p.ID = "P000002"; return nil }},
		{name: "wallet", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "wallet_id",
			fn: func(p *reserve.Proposal) error { p.WalletID = "other"; return nil }},
		{name: "inputs", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "inputs",
			fn: func(p *reserve.Proposal) error { p.Inputs = p.Inputs[:1]; return nil }},
		{name: "input amount", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "inputs",
			fn: func(p *reserve.Proposal) error { p.Inputs[1].AmountSat--; return nil }},
		{name: "unsigned transaction", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "unsigned_tx",
			fn: func(p *reserve.Proposal) error { p.UnsignedTx[0] ^= 1; return nil }},
		{name: "creation time", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "created_at",
			fn: func(p *reserve.Proposal) error { p.CreatedAt = p.CreatedAt.Add(time.Second); return nil }},
		{name: "creator", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "created_by",
			fn: func(p *reserve.Proposal) error { p.CreatedBy = "mallory"; return nil }},
		{name: "payees", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "payees",
			fn: func(p *reserve.Proposal) error { p.Payees[0].Script[2] ^= 1; return nil }},
		{name: "change", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "change",
			fn: func(p *reserve.Proposal) error { p.Change.Index = 3; return nil }},
		{name: "change dropped", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "change",
			fn: func(p *reserve.Proposal) error { p.Change = nil; return nil }},

		// Record limits.
		{name: "note too long", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "history[3].note",
			fn: func(p *reserve.Proposal) error {
				return p.Move(reserve.StateCancelled, fixedNow, "bob", strings.Repeat("n", 4097))
			}},
		{name: "signature of no cosigner", state: reserve.StateSigning, code: codePtr(reserve.CodeInvalid), field: "signatures[0].cosigner",
			fn: func(p *reserve.Proposal) error {
				p.Signatures = []reserve.Signature{{Cosigner: -1}}
				return nil
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustFunded(t)
			p := MustCreate(t, db, testProposal(u[0], u[1]))
			for _, s := range pathTo(tc.state) {
				MustMove(t, db, p.ID, s)
			}
			before := takeSnapshot(t, db)
			stored, err := db.Proposal(ctx, p.ID)
			require.NoError(t, err)

			got, err := db.UpdateProposal(ctx, p.ID, tc.fn)
			if tc.err != nil || tc.code != nil {
				if tc.err != nil {
					require.Same(t, tc.err, err, "fn's error must come back as is")
				} else {
					requireCode(t, err, *tc.code)
					require.Contains(t, err.Error(), tc.msg)
				}
				if tc.field != "" {
					var re *reserve.Error
					require.ErrorAs(t, err, &re)
					require.Equal(t, tc.field, re.Field, "error: %v", err)
				}
				require.Equal(t, before, takeSnapshot(t, db), "a refused update must change nothing")
				return
			}
			require.NoError(t, err)
			tc.check(t, got)
			read, err := db.Proposal(ctx, p.ID)
			require.NoError(t, err)
			require.Equal(t, got, read)
			require.Equal(t, stored.Inputs, got.Inputs)

			after := takeSnapshot(t, db)
			require.Len(t, after.Audit, len(before.Audit)+1)
			last := after.Audit[len(after.Audit)-1]
			require.Equal(t, tc.wantKind, last.Kind)
			require.Contains(t, last.Detail, "id="+p.ID)
			if got.State.HoldsCoins() {
				require.Equal(t, before.Reservations, after.Reservations)
			}
		})
	}

	t.Run("unknown id", func(t *testing.T) {
		db := MustFunded(t)
		called := false
		for _, id := range []string{"P000001", "", "nope"} {
			_, err := db.UpdateProposal(context.Background(), id, func(*reserve.Proposal) error { called = true; return nil })
			requireCode(t, err, reserve.CodeNotFound)
		}
		require.False(t, called)
	})

	t.Run("nil fn", func(t *testing.T) {
		db := MustFunded(t)
		p := MustCreate(t, db, testProposal(u[0]))
		_, err := db.UpdateProposal(context.Background(), p.ID, nil)
		requireCode(t, err, reserve.CodeInvalid)
	})
}

// pathTo is the chain of transitions from PENDING_APPROVAL to s that the
// tests use to put a proposal in state s.
func pathTo(s reserve.State) []reserve.State {
	switch s {
	case reserve.StatePendingApproval:
		return nil
	case reserve.StateApproved:
		return []reserve.State{reserve.StateApproved}
	case reserve.StateSigning:
		return []reserve.State{reserve.StateApproved, reserve.StateSigning}
	case reserve.StateCancelled:
		return []reserve.State{reserve.StateApproved, reserve.StateSigning, reserve.StateCancelled}
	}
	panic("no test path to " + s.String())
}

func TestProposalsAndLookup(t *testing.T) {
	ctx := context.Background()
	db := MustFunded(t)
	u := fundingUTXOs()
	for i := range 3 {
		MustCreate(t, db, withChange(testProposal(u[i]), i))
	}
	MustMove(t, db, "P000002", reserve.StateCancelled)

	tests := []struct {
		name    string
		state   reserve.State
		wantIDs []string
		code    *reserve.Code
	}{
		{name: "all", state: reserve.StateUnspecified, wantIDs: []string{"P000001", "P000002", "P000003"}},
		{name: "pending", state: reserve.StatePendingApproval, wantIDs: []string{"P000001", "P000003"}},
		{name: "cancelled", state: reserve.StateCancelled, wantIDs: []string{"P000002"}},
		{name: "none in this state", state: reserve.StateConfirmed},
		{name: "unknown state", state: reserve.State(42), code: codePtr(reserve.CodeInvalid)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Proposals(ctx, tc.state)
			if tc.code != nil {
				requireCode(t, err, *tc.code)
				return
			}
			require.NoError(t, err)
			var ids []string
			for _, p := range got {
				ids = append(ids, p.ID)
				if tc.state != 0 {
					require.Equal(t, tc.state, p.State)
				}
			}
			require.Equal(t, tc.wantIDs, ids)
		})
	}

	for _, id := range []string{"P000004", "", "p000001", "P1"} {
		_, err := db.Proposal(ctx, id)
		requireCode(t, err, reserve.CodeNotFound)
	}
}

// TestProposalsSurviveReopening checks that proposals, reservations,
// issued change addresses and audit entries are on disk, and that ids go on
// from where they were.
func TestProposalsSurviveReopening(t *testing.T) {
	ctx := context.Background()
	db := MustFunded(t)
	u := fundingUTXOs()
	MustCreate(t, db, testProposal(u[0], u[1]))
	MustCreate(t, db, withChange(testProposal(u[2]), 1))
	MustMove(t, db, "P000002", reserve.StateCancelled)
	_, err := db.UpdateProposal(ctx, "P000001", func(p *reserve.Proposal) error {
		p.PSBT = []byte("psbt\xff")
		return nil
	})
	require.NoError(t, err)
	before := takeSnapshot(t, db)
	require.NoError(t, db.Close())

	db = MustOpenPath(t, db.Path())
	require.Equal(t, before, takeSnapshot(t, db))
	require.Len(t, before.Reservations, 2)
	p := MustCreate(t, db, withChange(testProposal(u[2]), 2))
	require.Equal(t, "P000003", p.ID)
}
