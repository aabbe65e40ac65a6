package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// scannedLinks is what the proposal links must hold, computed by a scan
// of every proposal: each one with an intent under its payment's id and
// under each script it pays.
func scannedLinks(tb testing.TB, tx *bolt.Tx) map[string]string {
	tb.Helper()
	want := map[string]string{}
	require.NoError(tb, tx.Bucket(bucketProposals).ForEach(func(k, v []byte) error {
		p, err := decodeProposalAt(k, v)
		require.NoError(tb, err)
		if p.Intent == nil {
			return nil
		}
		seq, iseq := mustSeq(p.ID), mustSeq(p.Intent.ProposalID)
		want[string(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64([]byte{'i'}, iseq), seq))] = p.ID
		for _, py := range p.Intent.Payees {
			h := sha256.Sum256(py.Script)
			want[string(binary.BigEndian.AppendUint64(append([]byte{'p'}, h[:]...), seq))] = p.ID
		}
		return nil
	}))
	return want
}

// storedLinks is what the proposal links hold.
func storedLinks(tb testing.TB, tx *bolt.Tx) map[string]string {
	tb.Helper()
	got := map[string]string{}
	b := tx.Bucket(bucketProposalLinks)
	require.NotNil(tb, b, "the proposal links bucket")
	require.NoError(tb, b.ForEach(func(k, v []byte) error {
		got[string(k)] = string(v)
		return nil
	}))
	return got
}

// requireLinksScan checks the links of the open store equal a scan, and
// that some proposal is linked at all.
func requireLinksScan(tb testing.TB, db *DB, atLeast int) {
	tb.Helper()
	require.NoError(tb, db.bolt.View(func(tx *bolt.Tx) error {
		want, got := scannedLinks(tb, tx), storedLinks(tb, tx)
		require.GreaterOrEqual(tb, len(want), atLeast)
		require.Equal(tb, want, got)
		return nil
	}))
}

// linkedProposal is sampleProposal renumbered as id, with an intent for
// payment intentID paying scripts.
func linkedProposal(id, intentID string, scripts ...[]byte) reserve.Proposal {
	p := sampleProposal()
	p.ID = id
	in := reserve.Intent{Network: reserve.Regtest, WalletID: p.WalletID, ProposalID: intentID,
		FeeCapSat: 50_000, ExpiresAt: time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC)}
	for _, s := range scripts {
		in.Payees = append(in.Payees, reserve.IntentPayee{Script: s, AmountSat: 1_000})
	}
	p.Intent = &in
	return p
}

// TestMigrateLinksV9: a store at schema 8 holding proposals with and
// without intents (a bump sharing its original's payment, two payees)
// gets, on open, the links a scan gives; the reads find them.
func TestMigrateLinksV9(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custos.db")
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	v8 := &DB{bolt: bdb, path: path, now: func() time.Time { return testTime }, log: slog.New(slog.DiscardHandler)}
	require.NoError(t, v8.migrateTo(8))
	a, b := []byte{0x00, 0x14, 0xaa}, []byte{0x00, 0x14, 0xbb}
	noIntent := sampleProposal()
	noIntent.ID, noIntent.Intent = "P000003", nil
	ps := []reserve.Proposal{
		linkedProposal("P000001", "P000001", a),
		linkedProposal("P000002", "P000001", a), // a fee bump of P000001
		noIntent,
		linkedProposal("P000004", "P000004", a, b),
	}
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		require.Nil(t, tx.Bucket(bucketProposalLinks), "no links at schema 8")
		for i := range ps {
			if _, err := putProposal(tx, &ps[i]); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, bdb.Close())

	db, err := Open(path, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	requireLinksScan(t, db, 6)

	ids := func(ps []reserve.Proposal) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	tests := []struct {
		name    string
		payment []string
		payees  [][]byte
		want    []string
	}{
		{name: "a payment and its bump", payment: []string{"P000001"}, want: []string{"P000001", "P000002"}},
		{name: "a bump's own id names no payment", payment: []string{"P000002"}},
		{name: "two payments, once each, in creation order", payment: []string{"P000004", "P000001", "P000004"}, want: []string{"P000001", "P000002", "P000004"}},
		{name: "a proposal without an intent", payment: []string{"P000003"}},
		{name: "an unknown payment", payment: []string{"P000099"}},
		{name: "a payee paid by three", payees: [][]byte{a}, want: []string{"P000001", "P000002", "P000004"}},
		{name: "a payee paid by one", payees: [][]byte{b}, want: []string{"P000004"}},
		{name: "both payees, once each", payees: [][]byte{b, a}, want: []string{"P000001", "P000002", "P000004"}},
		{name: "a payee never paid", payees: [][]byte{{0x51}}},
		{name: "a prefix of a paid script is another payee", payees: [][]byte{a[:2]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []reserve.Proposal
			if tc.payment != nil {
				got, err = db.PaymentProposals(ctx, tc.payment)
			} else {
				got, err = db.PayeeProposals(ctx, tc.payees)
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, ids(got))
		})
	}
	_, err = db.PaymentProposals(ctx, []string{"P000001", "not an id"})
	require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
	require.ErrorContains(t, err, "ids[1]")
}

// TestMigrateLinksReleaseStore: each released store's proposals get the
// links a scan gives.
func TestMigrateLinksReleaseStore(t *testing.T) {
	for _, manifest := range releaseFixtures(t) {
		t.Run(filepath.Base(manifest), func(t *testing.T) {
			path, fx := MustReleaseStore(t, manifest)
			db, err := Open(path, Options{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			// Every proposal of the fixture has an intent: its payment and
			// at least one payee.
			requireLinksScan(t, db, 2*len(fx.Proposals))
		})
	}
}

// TestLinksFollowWrites: an update cannot change what a proposal is
// linked by (its intent and payees are fixed after creation), and a state
// change keeps its links.
func TestLinksFollowWrites(t *testing.T) {
	ctx := context.Background()
	path, _ := MustReleaseStore(t, releaseFixtures(t)[0])
	db, err := Open(path, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	before := map[string]string{}
	require.NoError(t, db.bolt.View(func(tx *bolt.Tx) error { before = storedLinks(t, tx); return nil }))

	live, _, err := db.LiveProposals(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, live)
	id := live[0].ID
	tests := []struct {
		name  string
		field string
		fn    func(p *reserve.Proposal)
	}{
		{name: "another intent payee", field: "intent", fn: func(p *reserve.Proposal) {
			in := *p.Intent
			in.Payees = append([]reserve.IntentPayee{{Script: []byte{0x51}, AmountSat: 1}}, in.Payees...)
			p.Intent = &in
		}},
		{name: "another payment", field: "intent", fn: func(p *reserve.Proposal) {
			in := *p.Intent
			in.ProposalID = "P000001"
			p.Intent = &in
		}},
		{name: "no intent", field: "intent", fn: func(p *reserve.Proposal) { p.Intent = nil }},
		{name: "another payee", field: "payees", fn: func(p *reserve.Proposal) {
			p.Payees = append([]reserve.Payee(nil), p.Payees...)
			p.Payees[0].Script = bytes.Repeat([]byte{0x51}, 3)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.UpdateProposal(ctx, id, func(p *reserve.Proposal) error { tc.fn(p); return nil })
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
			require.ErrorContains(t, err, tc.field)
			require.NoError(t, db.bolt.View(func(tx *bolt.Tx) error {
				require.Equal(t, before, storedLinks(t, tx))
				return nil
			}))
		})
	}
	// A state change keeps the links as they were.
	_, err = db.UpdateProposal(ctx, id, func(p *reserve.Proposal) error {
		return p.Move(reserve.StateCancelled, time.Now().UTC(), "test", "cancelled")
	})
	require.NoError(t, err)
	require.NoError(t, db.bolt.View(func(tx *bolt.Tx) error {
		require.Equal(t, before, storedLinks(t, tx))
		return nil
	}))
	requireLinksScan(t, db, len(before))
}

// TestPointReads: Holders and Coins answer, by point lookups, what the
// whole reservations and coins lists say of the outpoints asked, and
// leave out an outpoint they do not hold.
func TestPointReads(t *testing.T) {
	ctx := context.Background()
	path, _ := MustReleaseStore(t, releaseFixtures(t)[0])
	db, err := Open(path, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	all, err := db.Reservations(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, all)
	coins, err := db.UTXOs(ctx, true)
	require.NoError(t, err)
	var ops []wire.OutPoint
	held, free := map[wire.OutPoint]string{}, 0
	known := map[wire.OutPoint]reserve.UTXO{}
	for _, u := range coins {
		if h, ok := all[u.OutPoint]; ok {
			held[u.OutPoint] = h
		} else if free++; free > 3 {
			continue
		}
		ops = append(ops, u.OutPoint)
		known[u.OutPoint] = u
	}
	unknown := wire.OutPoint{Hash: chainhash.HashH([]byte("never recorded")), Index: 7}
	ops = append(ops, unknown)

	gotHeld, err := db.Holders(ctx, ops)
	require.NoError(t, err)
	require.Equal(t, held, gotHeld)
	gotCoins, err := db.Coins(ctx, ops)
	require.NoError(t, err)
	require.Equal(t, known, gotCoins)
	none, err := db.Holders(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, none)
}
