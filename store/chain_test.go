package store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

const btc = reserve.SatPerBTC

var (
	recv = reserve.BranchReceive
	chg  = reserve.BranchChange
)

// block builds the update for block height on fork, child of parent.
func block(height int32, fork string, parent chainhash.Hash) reserve.BlockUpdate {
	return reserve.BlockUpdate{Height: height, Hash: blockHash(height, fork), Prev: parent}
}

func TestApplyBlock(t *testing.T) {
	tx1 := testTx(1, wireOut(1*btc, testScript(recv, 0)), wireOut(btc/2, testScript(recv, 1)))
	foreign := testTx(2, wireOut(btc, []byte{0x51}))
	b1 := block(1, "a", chainhash.Hash{})
	b1.Credits = []reserve.UTXO{credit(tx1, 0, recv, 0)}
	b1.Txs = []*wire.MsgTx{tx1}
	spender := testTx(3, wireOut(btc/4, testScript(chg, 0)))

	tests := []struct {
		name string
		// prior blocks applied first, each must succeed.
		prior []reserve.BlockUpdate
		b     reserve.BlockUpdate
		code  *reserve.Code
		msg   string
		check func(t *testing.T, db *store.DB)
	}{
		{
			name: "first block at any height",
			b:    block(500, "a", blockHash(499, "a")),
			check: func(t *testing.T, db *store.DB) {
				requireTip(t, db, 500, blockHash(500, "a"))
			},
		},
		{
			name:  "extends the tip",
			prior: []reserve.BlockUpdate{b1},
			b:     block(2, "a", b1.Hash),
			check: func(t *testing.T, db *store.DB) {
				requireTip(t, db, 2, blockHash(2, "a"))
				h, ok, err := db.BlockHash(context.Background(), 1)
				require.NoError(t, err)
				require.True(t, ok)
				require.Equal(t, b1.Hash, h)
			},
		},
		{
			name:  "wrong parent",
			prior: []reserve.BlockUpdate{b1},
			b:     block(2, "a", blockHash(1, "b")),
			code:  codePtr(reserve.CodeConflict),
			msg:   "at height 2 (parent " + blockHash(1, "b").String() + ") does not extend the wallet tip " + b1.Hash.String() + " at height 1",
		},
		{
			name:  "skips a height",
			prior: []reserve.BlockUpdate{b1},
			b:     block(3, "a", b1.Hash),
			code:  codePtr(reserve.CodeConflict),
			msg:   "does not extend the wallet tip",
		},
		{
			name:  "same height again",
			prior: []reserve.BlockUpdate{b1},
			b:     block(1, "b", chainhash.Hash{}),
			code:  codePtr(reserve.CodeConflict),
		},
		{
			name: "credit height comes from the block",
			b: func() reserve.BlockUpdate {
				b := b1
				c := credit(tx1, 0, recv, 0)
				c.Height = 77
				b.Credits = []reserve.UTXO{c}
				return b
			}(),
			check: func(t *testing.T, db *store.DB) {
				u := mustUTXOs(t, db, true)
				require.Len(t, u, 1)
				require.Equal(t, int32(1), u[0].Height)
			},
		},
		{
			name: "credit and spend in one block",
			b: func() reserve.BlockUpdate {
				b := b1
				b.Debits = []reserve.Debit{{OutPoint: wire.OutPoint{Hash: tx1.TxHash(), Index: 0}, SpentBy: spender.TxHash()}}
				return b
			}(),
			check: func(t *testing.T, db *store.DB) {
				u := mustUTXOs(t, db, true)
				require.Len(t, u, 1)
				require.True(t, u[0].Spent)
				require.Equal(t, spender.TxHash(), u[0].SpentBy)
				require.Equal(t, int32(1), u[0].SpentHeight)
				require.Empty(t, mustUTXOs(t, db, false))
			},
		},
		{
			name:  "debit of an unknown outpoint is ignored",
			prior: []reserve.BlockUpdate{b1},
			b: func() reserve.BlockUpdate {
				b := block(2, "a", b1.Hash)
				b.Debits = []reserve.Debit{{OutPoint: wire.OutPoint{Hash: foreign.TxHash()}, SpentBy: spender.TxHash()}}
				return b
			}(),
			check: func(t *testing.T, db *store.DB) {
				requireTip(t, db, 2, blockHash(2, "a"))
				require.Len(t, mustUTXOs(t, db, false), 1)
			},
		},
		{
			name: "genesis without wallet activity",
			b:    block(0, "a", chainhash.Hash{}),
			check: func(t *testing.T, db *store.DB) {
				requireTip(t, db, 0, blockHash(0, "a"))
			},
		},
		{
			name:  "output already confirmed",
			prior: []reserve.BlockUpdate{b1},
			b: func() reserve.BlockUpdate {
				b := block(2, "a", b1.Hash)
				b.Credits = b1.Credits
				return b
			}(),
			code: codePtr(reserve.CodeConflict),
			msg:  "is already confirmed at height 1",
		},
		{
			name: "credit to a script that is not the wallet's",
			b: func() reserve.BlockUpdate {
				b := block(1, "a", chainhash.Hash{})
				b.Credits = []reserve.UTXO{credit(foreign, 0, recv, 0)}
				return b
			}(),
			code: codePtr(reserve.CodeInvalid),
			msg:  "which is not a wallet address",
		},
		{
			name: "credit naming another address than its script",
			b: func() reserve.BlockUpdate {
				b := block(1, "a", chainhash.Hash{})
				b.Credits = []reserve.UTXO{credit(tx1, 0, recv, 3)}
				return b
			}(),
			code: codePtr(reserve.CodeInvalid),
			msg:  "names address receive/3",
		},
		{
			name: "credit with a negative amount",
			b: func() reserve.BlockUpdate {
				b := block(1, "a", chainhash.Hash{})
				c := credit(tx1, 0, recv, 0)
				c.AmountSat = -1
				b.Credits = []reserve.UTXO{c}
				return b
			}(),
			code: codePtr(reserve.CodeInvalid),
		},
		{
			name: "a bad credit after a good one rolls back both",
			b: func() reserve.BlockUpdate {
				b := b1
				b.Credits = []reserve.UTXO{credit(tx1, 0, recv, 0), credit(foreign, 0, recv, 1)}
				return b
			}(),
			code: codePtr(reserve.CodeInvalid),
		},
		{
			name: "nil transaction",
			b: func() reserve.BlockUpdate {
				b := b1
				b.Txs = []*wire.MsgTx{tx1, nil}
				return b
			}(),
			code: codePtr(reserve.CodeInvalid),
			msg:  "txs[1]",
		},
		{name: "negative height", b: block(-1, "a", chainhash.Hash{}), code: codePtr(reserve.CodeInvalid)},
		{
			name: "genesis paying the wallet",
			b: func() reserve.BlockUpdate {
				b := b1
				b.Height = 0
				return b
			}(),
			code: codePtr(reserve.CodeInvalid),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustWallet(t)
			for _, p := range tc.prior {
				require.NoError(t, db.ApplyBlock(ctx, p))
			}
			tipH, tipHash, tipOK, err := db.SyncTip(ctx)
			require.NoError(t, err)
			utxosBefore := mustUTXOs(t, db, true)

			err = db.ApplyBlock(ctx, tc.b)
			if tc.code != nil {
				requireCode(t, err, *tc.code)
				require.Contains(t, err.Error(), tc.msg)
				h, hash, ok, err := db.SyncTip(ctx)
				require.NoError(t, err)
				require.Equal(t, []any{tipH, tipHash, tipOK}, []any{h, hash, ok}, "tip moved")
				require.Equal(t, utxosBefore, mustUTXOs(t, db, true), "outputs changed")
				return
			}
			require.NoError(t, err)
			tc.check(t, db)
		})
	}
}

// TestReorg applies three blocks with credits and a debit, disconnects two
// and checks the balance exactly at every step.
func TestReorg(t *testing.T) {
	ctx := context.Background()
	db := MustWallet(t)

	tx1 := testTx(1, wireOut(1*btc, testScript(recv, 0)), wireOut(btc/2, testScript(recv, 1)))
	tx2 := testTx(2, wireOut(btc/5, testScript(recv, 2)))
	// tx3 spends tx1:0 and sends 0.7 BTC back to change.
	tx3 := testTx(3, wireOut(7*btc/10, testScript(chg, 0)))

	b1 := block(1, "a", chainhash.Hash{})
	b1.Credits = []reserve.UTXO{credit(tx1, 0, recv, 0), credit(tx1, 1, recv, 1)}
	b1.Txs = []*wire.MsgTx{tx1}
	b2 := block(2, "a", b1.Hash)
	b2.Credits = []reserve.UTXO{credit(tx2, 0, recv, 2)}
	b2.Txs = []*wire.MsgTx{tx2}
	b3 := block(3, "a", b2.Hash)
	b3.Credits = []reserve.UTXO{credit(tx3, 0, chg, 0)}
	b3.Debits = []reserve.Debit{{OutPoint: wire.OutPoint{Hash: tx1.TxHash(), Index: 0}, SpentBy: tx3.TxHash()}}
	b3.Txs = []*wire.MsgTx{tx3}

	steps := []struct {
		name    string
		act     func() error
		tip     int32
		tipHash chainhash.Hash
		balance reserve.Balance
		unspent int
	}{
		{name: "block 1", act: func() error { return db.ApplyBlock(ctx, b1) }, tip: 1, tipHash: b1.Hash,
			balance: reserve.Balance{ConfirmedSat: 150_000_000}, unspent: 2},
		{name: "block 2", act: func() error { return db.ApplyBlock(ctx, b2) }, tip: 2, tipHash: b2.Hash,
			balance: reserve.Balance{ConfirmedSat: 170_000_000}, unspent: 3},
		{name: "block 3 spends and makes change", act: func() error { return db.ApplyBlock(ctx, b3) }, tip: 3, tipHash: b3.Hash,
			balance: reserve.Balance{ConfirmedSat: 140_000_000}, unspent: 3},
		{name: "disconnect 3", act: func() error { return db.DisconnectTip(ctx) }, tip: 2, tipHash: b2.Hash,
			balance: reserve.Balance{ConfirmedSat: 170_000_000}, unspent: 3},
		{name: "disconnect 2", act: func() error { return db.DisconnectTip(ctx) }, tip: 1, tipHash: b1.Hash,
			balance: reserve.Balance{ConfirmedSat: 150_000_000}, unspent: 2},
	}
	for _, s := range steps {
		require.NoError(t, s.act(), s.name)
		requireTip(t, db, s.tip, s.tipHash)
		require.Equal(t, s.balance, mustBalance(t, db), s.name)
		require.Len(t, mustUTXOs(t, db, false), s.unspent, s.name)
	}

	// The disconnected heights are forgotten; the spend of tx1:0 is undone
	// completely, and the change output is gone.
	for _, h := range []int32{2, 3} {
		_, ok, err := db.BlockHash(ctx, h)
		require.NoError(t, err)
		require.False(t, ok, "height %d", h)
	}
	all := mustUTXOs(t, db, true)
	require.Len(t, all, 2)
	for _, u := range all {
		require.False(t, u.Spent)
		require.Equal(t, chainhash.Hash{}, u.SpentBy)
		require.Zero(t, u.SpentHeight)
		require.Equal(t, int32(1), u.Height)
	}

	// Addresses once paid stay used.
	h, err := db.Horizon(ctx, recv)
	require.NoError(t, err)
	require.Equal(t, uint32(3), h)
	h, err = db.Horizon(ctx, chg)
	require.NoError(t, err)
	require.Equal(t, uint32(1), h)

	// The old block 3 no longer fits; the other fork does.
	requireCode(t, db.ApplyBlock(ctx, b3), reserve.CodeConflict)
	b2b := block(2, "b", b1.Hash)
	b2b.Credits = b2.Credits
	require.NoError(t, db.ApplyBlock(ctx, b2b))
	requireTip(t, db, 2, b2b.Hash)
	require.Equal(t, reserve.Balance{ConfirmedSat: 170_000_000}, mustBalance(t, db))
}

func TestDisconnectTip(t *testing.T) {
	tx1 := testTx(1, wireOut(btc, testScript(recv, 0)))
	unconfirmed := testTx(2, wireOut(btc/10, testScript(recv, 1)))

	tests := []struct {
		name   string
		blocks []reserve.BlockUpdate
		code   *reserve.Code
		// wantTip is the tip afterwards; nil means no tip.
		wantTip *int32
	}{
		{name: "no tip", code: codePtr(reserve.CodeFailedPrecondition)},
		{
			name:    "tip moves to the parent",
			blocks:  []reserve.BlockUpdate{block(7, "a", chainhash.Hash{}), block(8, "a", blockHash(7, "a"))},
			wantTip: int32Ptr(7),
		},
		{
			name:   "parent never stored clears the tip",
			blocks: []reserve.BlockUpdate{block(7, "a", chainhash.Hash{})},
		},
		{
			name:   "genesis tip leaves unconfirmed outputs alone",
			blocks: []reserve.BlockUpdate{block(0, "a", chainhash.Hash{})},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustWallet(t)
			for _, b := range tc.blocks {
				require.NoError(t, db.ApplyBlock(ctx, b))
			}
			// An unconfirmed output and an unconfirmed spend must survive
			// any disconnection.
			mem := reserve.MempoolUpdate{Credits: []reserve.UTXO{credit(unconfirmed, 0, recv, 1)}}
			require.NoError(t, db.ApplyMempool(ctx, mem))
			before := mustUTXOs(t, db, true)

			err := db.DisconnectTip(ctx)
			if tc.code != nil {
				requireCode(t, err, *tc.code)
				return
			}
			require.NoError(t, err)
			h, hash, ok, err := db.SyncTip(ctx)
			require.NoError(t, err)
			if tc.wantTip == nil {
				require.False(t, ok)
			} else {
				require.True(t, ok)
				require.Equal(t, *tc.wantTip, h)
				require.Equal(t, blockHash(h, "a"), hash)
			}
			require.Equal(t, before, mustUTXOs(t, db, true))
		})
	}

	t.Run("removes outputs confirmed at the tip with their spend", func(t *testing.T) {
		ctx := context.Background()
		db := MustWallet(t)
		b := block(1, "a", chainhash.Hash{})
		b.Credits = []reserve.UTXO{credit(tx1, 0, recv, 0)}
		require.NoError(t, db.ApplyBlock(ctx, b))
		require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{
			Debits: []reserve.Debit{{OutPoint: b.Credits[0].OutPoint, SpentBy: unconfirmed.TxHash()}},
		}))
		require.NoError(t, db.DisconnectTip(ctx))
		require.Empty(t, mustUTXOs(t, db, true))
	})
}

func int32Ptr(v int32) *int32 { return &v }

// TestMempoolThenConfirmed follows an output from the mempool into a block,
// and a spend the same way.
func TestMempoolThenConfirmed(t *testing.T) {
	ctx := context.Background()
	db := MustWallet(t)
	require.NoError(t, db.ApplyBlock(ctx, block(1, "a", chainhash.Hash{})))

	payTx := testTx(1, wireOut(3*btc, testScript(recv, 0)))
	c := credit(payTx, 0, recv, 0)
	c.Height = 5 // the mempool pass records height 0 whatever it is told
	require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{Credits: []reserve.UTXO{c}, Txs: []*wire.MsgTx{payTx}}))
	require.Equal(t, reserve.Balance{UnconfirmedSat: 3 * btc}, mustBalance(t, db))
	u := mustUTXOs(t, db, false)
	require.Len(t, u, 1)
	require.Zero(t, u[0].Height)

	b2 := block(2, "a", blockHash(1, "a"))
	b2.Credits = []reserve.UTXO{credit(payTx, 0, recv, 0)}
	require.NoError(t, db.ApplyBlock(ctx, b2))
	require.Equal(t, reserve.Balance{ConfirmedSat: 3 * btc}, mustBalance(t, db))
	u = mustUTXOs(t, db, true)
	require.Len(t, u, 1, "confirming must not duplicate the output")
	require.Equal(t, int32(2), u[0].Height)

	// A mempool pass that still lists it does not downgrade it.
	require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{Credits: []reserve.UTXO{credit(payTx, 0, recv, 0)}}))
	require.Equal(t, int32(2), mustUTXOs(t, db, true)[0].Height)

	// Now the spend: unconfirmed first, then confirmed in block 3.
	spend := testTx(2, wireOut(2*btc, []byte{0x51}))
	debit := reserve.Debit{OutPoint: c.OutPoint, SpentBy: spend.TxHash()}
	require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{Debits: []reserve.Debit{debit}, Txs: []*wire.MsgTx{spend}}))
	require.Equal(t, reserve.Balance{}, mustBalance(t, db))
	u = mustUTXOs(t, db, true)
	require.True(t, u[0].Spent)
	require.Zero(t, u[0].SpentHeight)

	b3 := block(3, "a", b2.Hash)
	b3.Debits = []reserve.Debit{debit}
	require.NoError(t, db.ApplyBlock(ctx, b3))
	u = mustUTXOs(t, db, true)
	require.Equal(t, int32(3), u[0].SpentHeight)

	// The mempool cannot take a confirmed spend back or rewrite it.
	other := reserve.Debit{OutPoint: c.OutPoint, SpentBy: chainhash.Hash{7}}
	require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{Debits: []reserve.Debit{other}, Gone: []chainhash.Hash{spend.TxHash()}}))
	require.Equal(t, u, mustUTXOs(t, db, true))
}

func TestApplyMempool(t *testing.T) {
	confirmedTx := testTx(1, wireOut(btc, testScript(recv, 0)), wireOut(btc, testScript(recv, 1)))
	incoming := testTx(2, wireOut(btc/2, testScript(recv, 2)))
	spender := testTx(3, wireOut(btc/3, []byte{0x51}))
	keeper := testTx(4, wireOut(btc/4, []byte{0x51}))
	op0 := wire.OutPoint{Hash: confirmedTx.TxHash(), Index: 0}
	op1 := wire.OutPoint{Hash: confirmedTx.TxHash(), Index: 1}

	// Every case starts from: confirmedTx's two outputs confirmed in
	// block 1, incoming's output unconfirmed, op0 spent by spender and op1
	// spent by keeper, both unconfirmed.
	type state struct {
		unconfirmedCredit bool // incoming:0 is present
		op0Spent          bool
		op1Spent          bool
	}
	tests := []struct {
		name string
		m    reserve.MempoolUpdate
		code *reserve.Code
		want state
	}{
		{name: "nothing changes", want: state{true, true, true}},
		{
			name: "gone credit and gone spend",
			m:    reserve.MempoolUpdate{Gone: []chainhash.Hash{incoming.TxHash(), spender.TxHash()}},
			want: state{false, false, true},
		},
		{
			name: "gone confirmed transaction is left alone",
			m:    reserve.MempoolUpdate{Gone: []chainhash.Hash{confirmedTx.TxHash()}},
			want: state{true, true, true},
		},
		{
			name: "gone unknown transaction",
			m:    reserve.MempoolUpdate{Gone: []chainhash.Hash{{0xee}}},
			want: state{true, true, true},
		},
		{
			name: "replacement: old spend gone, new spend recorded",
			m: reserve.MempoolUpdate{
				Gone:   []chainhash.Hash{spender.TxHash()},
				Debits: []reserve.Debit{{OutPoint: op0, SpentBy: keeper.TxHash()}},
			},
			want: state{true, true, true},
		},
		{
			name: "a bad credit rolls back the gone list too",
			m: reserve.MempoolUpdate{
				Gone:    []chainhash.Hash{incoming.TxHash(), spender.TxHash()},
				Credits: []reserve.UTXO{credit(spender, 0, recv, 3)},
			},
			code: codePtr(reserve.CodeInvalid),
			want: state{true, true, true},
		},
		{
			name: "nil transaction",
			m:    reserve.MempoolUpdate{Txs: []*wire.MsgTx{nil}},
			code: codePtr(reserve.CodeInvalid),
			want: state{true, true, true},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustWallet(t)
			b1 := block(1, "a", chainhash.Hash{})
			b1.Credits = []reserve.UTXO{credit(confirmedTx, 0, recv, 0), credit(confirmedTx, 1, recv, 1)}
			require.NoError(t, db.ApplyBlock(ctx, b1))
			require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{
				Credits: []reserve.UTXO{credit(incoming, 0, recv, 2)},
				Debits: []reserve.Debit{
					{OutPoint: op0, SpentBy: spender.TxHash()},
					{OutPoint: op1, SpentBy: keeper.TxHash()},
				},
				Txs: []*wire.MsgTx{incoming, spender, keeper},
			}))

			err := db.ApplyMempool(ctx, tc.m)
			if tc.code != nil {
				requireCode(t, err, *tc.code)
			} else {
				require.NoError(t, err)
			}

			byOutpoint := map[wire.OutPoint]reserve.UTXO{}
			for _, u := range mustUTXOs(t, db, true) {
				byOutpoint[u.OutPoint] = u
			}
			_, got := byOutpoint[wire.OutPoint{Hash: incoming.TxHash()}]
			require.Equal(t, tc.want.unconfirmedCredit, got, "unconfirmed credit present")
			require.Equal(t, tc.want.op0Spent, byOutpoint[op0].Spent, "op0 spent")
			require.Equal(t, tc.want.op1Spent, byOutpoint[op1].Spent, "op1 spent")
			for _, op := range []wire.OutPoint{op0, op1} {
				u := byOutpoint[op]
				require.Equal(t, int32(1), u.Height, "confirmed outputs stay confirmed")
				if !u.Spent {
					require.Equal(t, chainhash.Hash{}, u.SpentBy)
				}
			}
		})
	}

	t.Run("replacement points at the new spender", func(t *testing.T) {
		ctx := context.Background()
		db := MustWallet(t)
		b1 := block(1, "a", chainhash.Hash{})
		b1.Credits = []reserve.UTXO{credit(confirmedTx, 0, recv, 0)}
		require.NoError(t, db.ApplyBlock(ctx, b1))
		require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{Debits: []reserve.Debit{{OutPoint: op0, SpentBy: spender.TxHash()}}}))
		require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{
			Gone:   []chainhash.Hash{spender.TxHash()},
			Debits: []reserve.Debit{{OutPoint: op0, SpentBy: keeper.TxHash()}},
		}))
		u := mustUTXOs(t, db, true)
		require.Len(t, u, 1)
		require.True(t, u[0].Spent)
		require.Equal(t, keeper.TxHash(), u[0].SpentBy)
	})
}

func TestUTXOsOrderAndFilter(t *testing.T) {
	ctx := context.Background()
	db := MustWallet(t)

	// Internal byte order, not the reversed display order, sorts outputs:
	// low has the smaller first byte but the larger displayed txid.
	low := chainhash.Hash{0x01, 31: 0xff}
	high := chainhash.Hash{0x02, 31: 0x00}
	require.Greater(t, low.String(), high.String())
	mk := func(h chainhash.Hash, vout uint32, index uint32) reserve.UTXO {
		return reserve.UTXO{OutPoint: wire.OutPoint{Hash: h, Index: vout}, AmountSat: 1000, Script: testScript(recv, index), Branch: recv, Index: index}
	}
	b := block(1, "a", chainhash.Hash{})
	b.Credits = []reserve.UTXO{mk(high, 0, 0), mk(low, 256, 1), mk(low, 1, 2)}
	b.Debits = []reserve.Debit{{OutPoint: wire.OutPoint{Hash: low, Index: 256}, SpentBy: chainhash.Hash{9}}}
	require.NoError(t, db.ApplyBlock(ctx, b))

	tests := []struct {
		name         string
		includeSpent bool
		want         []wire.OutPoint
	}{
		{name: "unspent only", want: []wire.OutPoint{{Hash: low, Index: 1}, {Hash: high, Index: 0}}},
		{name: "with spent", includeSpent: true, want: []wire.OutPoint{{Hash: low, Index: 1}, {Hash: low, Index: 256}, {Hash: high, Index: 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []wire.OutPoint
			for _, u := range mustUTXOs(t, db, tc.includeSpent) {
				got = append(got, u.OutPoint)
			}
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("empty store", func(t *testing.T) {
		got, err := MustWallet(t).UTXOs(ctx, true)
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

func TestRawTx(t *testing.T) {
	ctx := context.Background()
	db := MustWallet(t)
	confirmed := testTx(1, wireOut(btc, testScript(recv, 0)))
	unconfirmed := testTx(2, wireOut(btc, testScript(recv, 1)))
	b := block(1, "a", chainhash.Hash{})
	b.Txs = []*wire.MsgTx{confirmed}
	require.NoError(t, db.ApplyBlock(ctx, b))
	require.NoError(t, db.ApplyMempool(ctx, reserve.MempoolUpdate{Txs: []*wire.MsgTx{unconfirmed}}))

	tests := []struct {
		name string
		txid chainhash.Hash
		want *wire.MsgTx
	}{
		{name: "from a block", txid: confirmed.TxHash(), want: confirmed},
		{name: "from the mempool", txid: unconfirmed.TxHash(), want: unconfirmed},
		{name: "unknown", txid: chainhash.Hash{0xab}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := db.RawTx(ctx, tc.txid)
			if tc.want == nil {
				requireCode(t, err, reserve.CodeNotFound)
				return
			}
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, tc.want.Serialize(&buf))
			require.Equal(t, buf.Bytes(), raw, "serialized with witness")
			require.True(t, tc.want.HasWitness())
		})
	}
}

func TestBlockHashAndSyncTip(t *testing.T) {
	ctx := context.Background()
	db := MustWallet(t)
	_, _, ok, err := db.SyncTip(ctx)
	require.NoError(t, err)
	require.False(t, ok, "no tip before the first block")
	require.NoError(t, db.ApplyBlock(ctx, block(10, "a", chainhash.Hash{})))

	tests := []struct {
		name   string
		height int32
		ok     bool
	}{
		{name: "processed", height: 10, ok: true},
		{name: "not processed", height: 11},
		{name: "below the first", height: 9},
		{name: "negative", height: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, ok, err := db.BlockHash(ctx, tc.height)
			require.NoError(t, err)
			require.Equal(t, tc.ok, ok)
			if tc.ok {
				require.Equal(t, blockHash(tc.height, "a"), h)
			}
		})
	}
}

func requireTip(t *testing.T, db *store.DB, height int32, hash chainhash.Hash) {
	t.Helper()
	h, got, ok, err := db.SyncTip(context.Background())
	require.NoError(t, err)
	require.True(t, ok, "no tip")
	require.Equal(t, height, h)
	require.Equal(t, hash, got)
}

func mustUTXOs(t testing.TB, db *store.DB, includeSpent bool) []reserve.UTXO {
	t.Helper()
	u, err := db.UTXOs(context.Background(), includeSpent)
	require.NoError(t, err)
	return u
}
