package chain

import (
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

func TestScanTxs(t *testing.T) {
	d := MustDescriptor(t)
	recv := func(i uint32) []byte { return MustScript(t, d, reserve.BranchReceive, i) }
	change := func(i uint32) []byte { return MustScript(t, d, reserve.BranchChange, i) }
	// owned is a wallet outpoint the watch set holds (unspent or spent
	// only in the mempool).
	owned := foreignOutPoint(1000)

	coinbase := coinbaseTx(150, out(50_0000_0000, recv(3)), out(0, []byte{0x6a, 0x24}))
	foreignCoinbase := coinbaseTx(151, out(50_0000_0000, foreignScript(1)))
	deposit := newTx(ops(foreignOutPoint(1)), out(7000, recv(0)), out(3000, foreignScript(2)), out(900, change(2)))
	spend := newTx(ops(foreignOutPoint(2), owned), out(4000, foreignScript(3)))
	parent := newTx(ops(foreignOutPoint(3)), out(5000, recv(1)))
	child := newTx(ops(op(parent, 0)), out(4500, foreignScript(4)))
	unrelated := newTx(ops(foreignOutPoint(4), foreignOutPoint(5)), out(1, foreignScript(5)), out(2, foreignScript(6)))
	beyondLookahead := newTx(ops(foreignOutPoint(6)), out(100, recv(20)))
	twoReceive := newTx(ops(foreignOutPoint(7)), out(11, recv(5)), out(22, recv(2)))

	credit := func(tx *wire.MsgTx, vout uint32, b reserve.Branch, index uint32, height int32, cb bool) reserve.UTXO {
		return reserve.UTXO{
			OutPoint: op(tx, vout), AmountSat: tx.TxOut[vout].Value, Script: tx.TxOut[vout].PkScript,
			Branch: b, Index: index, Height: height, Coinbase: cb,
		}
	}
	debit := func(o wire.OutPoint, by *wire.MsgTx) reserve.Debit {
		return reserve.Debit{OutPoint: o, SpentBy: by.TxHash()}
	}

	tests := []struct {
		name     string
		txs      []*wire.MsgTx
		height   int32
		coinbase bool
		credits  []reserve.UTXO
		debits   []reserve.Debit
		// relevant are the txs the result must keep, in order.
		relevant []*wire.MsgTx
		maxIndex [2]uint32
	}{
		{
			name: "coinbase paying the wallet", txs: []*wire.MsgTx{coinbase, unrelated}, height: 150, coinbase: true,
			credits:  []reserve.UTXO{credit(coinbase, 0, reserve.BranchReceive, 3, 150, true)},
			relevant: []*wire.MsgTx{coinbase}, maxIndex: [2]uint32{4, 0},
		},
		{
			name: "first tx of a mempool batch is no coinbase", txs: []*wire.MsgTx{deposit}, height: 0, coinbase: false,
			credits: []reserve.UTXO{
				credit(deposit, 0, reserve.BranchReceive, 0, 0, false),
				credit(deposit, 2, reserve.BranchChange, 2, 0, false),
			},
			relevant: []*wire.MsgTx{deposit}, maxIndex: [2]uint32{1, 3},
		},
		{
			name: "only the first tx of a block is the coinbase", txs: []*wire.MsgTx{foreignCoinbase, deposit}, height: 151, coinbase: true,
			credits: []reserve.UTXO{
				credit(deposit, 0, reserve.BranchReceive, 0, 151, false),
				credit(deposit, 2, reserve.BranchChange, 2, 151, false),
			},
			relevant: []*wire.MsgTx{deposit}, maxIndex: [2]uint32{1, 3},
		},
		{
			name: "spend of a watched outpoint", txs: []*wire.MsgTx{foreignCoinbase, spend}, height: 152, coinbase: true,
			debits:   []reserve.Debit{debit(owned, spend)},
			relevant: []*wire.MsgTx{spend},
		},
		{
			name: "spend of an output created earlier in the list", txs: []*wire.MsgTx{parent, child}, height: 153,
			credits:  []reserve.UTXO{credit(parent, 0, reserve.BranchReceive, 1, 153, false)},
			debits:   []reserve.Debit{debit(op(parent, 0), child)},
			relevant: []*wire.MsgTx{parent, child}, maxIndex: [2]uint32{2, 0},
		},
		{
			// Why the mempool pass sorts parents first.
			name: "spend listed before the output it spends is missed", txs: []*wire.MsgTx{child, parent}, height: 0,
			credits:  []reserve.UTXO{credit(parent, 0, reserve.BranchReceive, 1, 0, false)},
			relevant: []*wire.MsgTx{parent}, maxIndex: [2]uint32{2, 0},
		},
		{
			name: "unrelated transactions", txs: []*wire.MsgTx{foreignCoinbase, unrelated, child}, height: 154, coinbase: true,
		},
		{
			name: "payment beyond the watched scripts", txs: []*wire.MsgTx{beyondLookahead}, height: 155,
		},
		{
			name: "highest index per branch", txs: []*wire.MsgTx{twoReceive, deposit}, height: 156,
			credits: []reserve.UTXO{
				credit(twoReceive, 0, reserve.BranchReceive, 5, 156, false),
				credit(twoReceive, 1, reserve.BranchReceive, 2, 156, false),
				credit(deposit, 0, reserve.BranchReceive, 0, 156, false),
				credit(deposit, 2, reserve.BranchChange, 2, 156, false),
			},
			relevant: []*wire.MsgTx{twoReceive, deposit}, maxIndex: [2]uint32{6, 3},
		},
		{
			name: "everything in one block", txs: []*wire.MsgTx{coinbase, unrelated, deposit, spend, parent, child}, height: 157, coinbase: true,
			credits: []reserve.UTXO{
				credit(coinbase, 0, reserve.BranchReceive, 3, 157, true),
				credit(deposit, 0, reserve.BranchReceive, 0, 157, false),
				credit(deposit, 2, reserve.BranchChange, 2, 157, false),
				credit(parent, 0, reserve.BranchReceive, 1, 157, false),
			},
			debits:   []reserve.Debit{debit(owned, spend), debit(op(parent, 0), child)},
			relevant: []*wire.MsgTx{coinbase, deposit, spend, parent, child}, maxIndex: [2]uint32{4, 3},
		},
		{name: "no transactions", txs: nil, height: 158, coinbase: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := MustWatchSet(t, d, 20, 20, owned)
			before := len(w.outpoints)
			res := scanTxs(tt.txs, tt.height, tt.coinbase, w)
			require.Equal(t, tt.credits, res.credits)
			require.Equal(t, tt.debits, res.debits)
			require.Equal(t, txids(tt.relevant), txids(res.txs))
			require.Equal(t, tt.maxIndex, res.maxIndex)
			require.Len(t, w.outpoints, before, "a scan must not change the watch set")
		})
	}
}

func txids(txs []*wire.MsgTx) []chainhash.Hash {
	var ids []chainhash.Hash
	for _, tx := range txs {
		ids = append(ids, tx.TxHash())
	}
	return ids
}

func TestWatchSetCommit(t *testing.T) {
	a, b, c := foreignOutPoint(1), foreignOutPoint(2), foreignOutPoint(3)
	spender := chainhash.Hash{0x5e}
	credits := func(o ...wire.OutPoint) []reserve.UTXO {
		var us []reserve.UTXO
		for _, x := range o {
			us = append(us, reserve.UTXO{OutPoint: x, AmountSat: 1})
		}
		return us
	}
	debits := func(o ...wire.OutPoint) []reserve.Debit {
		var ds []reserve.Debit
		for _, x := range o {
			ds = append(ds, reserve.Debit{OutPoint: x, SpentBy: spender})
		}
		return ds
	}
	type step struct {
		res       scanResult
		confirmed bool
	}
	tests := []struct {
		name  string
		start []wire.OutPoint
		steps []step
		want  []wire.OutPoint
	}{
		{name: "confirmed credit joins", steps: []step{{scanResult{credits: credits(a)}, true}}, want: []wire.OutPoint{a}},
		{name: "mempool credit joins", steps: []step{{scanResult{credits: credits(a)}, false}}, want: []wire.OutPoint{a}},
		{name: "confirmed debit leaves", start: []wire.OutPoint{a, b}, steps: []step{{scanResult{debits: debits(a)}, true}}, want: []wire.OutPoint{b}},
		{name: "mempool debit keeps the outpoint", start: []wire.OutPoint{a, b}, steps: []step{{scanResult{debits: debits(a)}, false}}, want: []wire.OutPoint{a, b}},
		{name: "created and spent in one block", steps: []step{{scanResult{credits: credits(c), debits: debits(c)}, true}}, want: nil},
		{name: "created and spent in the mempool", steps: []step{{scanResult{credits: credits(c), debits: debits(c)}, false}}, want: []wire.OutPoint{c}},
		{
			name: "mempool spend, then the block confirming it", start: []wire.OutPoint{a},
			steps: []step{{scanResult{debits: debits(a)}, false}, {scanResult{debits: debits(a)}, true}}, want: nil,
		},
		{name: "debit of an unknown outpoint", start: []wire.OutPoint{a}, steps: []step{{scanResult{debits: debits(b)}, true}}, want: []wire.OutPoint{a}},
		{name: "empty result", start: []wire.OutPoint{a}, steps: []step{{scanResult{}, true}}, want: []wire.OutPoint{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &watchSet{scripts: map[string]scriptRef{}, outpoints: map[wire.OutPoint]struct{}{}}
			for _, o := range tt.start {
				w.outpoints[o] = struct{}{}
			}
			for _, s := range tt.steps {
				w.commit(s.res, s.confirmed)
			}
			var got []wire.OutPoint
			for o := range w.outpoints {
				got = append(got, o)
			}
			require.ElementsMatch(t, tt.want, got)
		})
	}
}

func TestBlockTxs(t *testing.T) {
	cb := coinbaseTx(7, out(1, foreignScript(1)))
	tx := newTx(ops(foreignOutPoint(1)), out(1, foreignScript(2)))
	tests := []struct {
		name         string
		txs          []*wire.MsgTx
		wantCoinbase bool
	}{
		{name: "coinbase first", txs: []*wire.MsgTx{cb, tx}, wantCoinbase: true},
		{name: "coinbase alone", txs: []*wire.MsgTx{cb}, wantCoinbase: true},
		{name: "first tx is no coinbase", txs: []*wire.MsgTx{tx, cb}, wantCoinbase: false},
		{name: "no transactions", txs: nil, wantCoinbase: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &wire.MsgBlock{Transactions: tt.txs}
			txs, coinbase := blockTxs(b)
			require.Equal(t, tt.wantCoinbase, coinbase)
			require.Equal(t, tt.txs, txs)
		})
	}
}

func TestParentsFirst(t *testing.T) {
	a := newTx(ops(foreignOutPoint(1)), out(10, foreignScript(1)), out(20, foreignScript(2)))
	b := newTx(ops(op(a, 0)), out(9, foreignScript(3)))              // spends a
	c := newTx(ops(op(b, 0)), out(8, foreignScript(4)))              // spends b
	both := newTx(ops(op(a, 0), op(a, 1)), out(1, foreignScript(5))) // spends a twice
	x := newTx(ops(foreignOutPoint(2)), out(7, foreignScript(6)))
	y := newTx(ops(foreignOutPoint(3)), out(6, foreignScript(7)))
	z := newTx(ops(foreignOutPoint(4)), out(5, foreignScript(8)))
	joins := newTx(ops(op(x, 0), op(y, 0)), out(4, foreignScript(9))) // spends x and y

	tests := []struct {
		name string
		in   []*wire.MsgTx
		want []*wire.MsgTx
	}{
		{name: "empty", in: nil, want: []*wire.MsgTx{}},
		{name: "independent order is kept", in: []*wire.MsgTx{z, x, y}, want: []*wire.MsgTx{z, x, y}},
		{name: "parent already first", in: []*wire.MsgTx{a, b}, want: []*wire.MsgTx{a, b}},
		{name: "child before parent", in: []*wire.MsgTx{b, a}, want: []*wire.MsgTx{a, b}},
		{name: "chain reversed", in: []*wire.MsgTx{c, b, a}, want: []*wire.MsgTx{a, b, c}},
		{name: "parent moves just before its child", in: []*wire.MsgTx{x, b, y, a}, want: []*wire.MsgTx{x, a, b, y}},
		{name: "child spending two outputs of one parent", in: []*wire.MsgTx{both, a}, want: []*wire.MsgTx{a, both}},
		{name: "child of two parents", in: []*wire.MsgTx{joins, z, y, x}, want: []*wire.MsgTx{x, y, joins, z}},
		{name: "parent outside the set", in: []*wire.MsgTx{c, x}, want: []*wire.MsgTx{c, x}},
		{name: "duplicates are dropped", in: []*wire.MsgTx{a, b, a, b}, want: []*wire.MsgTx{a, b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parentsFirst(tt.in)
			require.Equal(t, txids(tt.want), txids(got))
			requireParentsFirst(t, got)
		})
	}
}

// requireParentsFirst checks the invariant itself: every tx comes after
// every tx of the list whose outputs it spends, and no tx comes twice.
func requireParentsFirst(tb testing.TB, txs []*wire.MsgTx) {
	tb.Helper()
	pos := make(map[chainhash.Hash]int, len(txs))
	for i, tx := range txs {
		_, dup := pos[tx.TxHash()]
		require.False(tb, dup, "tx %s listed twice", tx.TxHash())
		pos[tx.TxHash()] = i
	}
	for i, tx := range txs {
		for _, in := range tx.TxIn {
			if p, ok := pos[in.PreviousOutPoint.Hash]; ok {
				require.Less(tb, p, i, "tx %d spends tx %d, listed after it", i, p)
			}
		}
	}
}
