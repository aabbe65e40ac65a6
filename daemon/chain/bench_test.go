package chain

import (
	"testing"

	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// Shape of the synthetic block BenchmarkScanBlock scans.
const (
	benchTxs       = 2000 // transactions after the coinbase, 2 inputs and 2 outputs each
	benchDeposits  = 500  // of which pay one wallet script and one foreign one
	benchSpends    = 200  // of which spend one wallet outpoint and one foreign one
	benchWatched   = 500  // scripts watched per branch: 1,000 in all
	benchOwnedUTXO = 1000 // wallet outpoints in the watch set
)

// benchBlock builds the block and the watch set: deposits go round the
// watched receive and change scripts, spends consume the first owned
// outpoints.
func benchBlock(tb testing.TB) (*wire.MsgBlock, *watchSet) {
	tb.Helper()
	d := MustDescriptor(tb)
	owned := make([]wire.OutPoint, benchOwnedUTXO)
	for i := range owned {
		owned[i] = foreignOutPoint(1_000_000 + uint32(i))
	}
	w := MustWatchSet(tb, d, benchWatched, benchWatched, owned...)
	var scripts [][]byte
	for s := range w.scripts {
		scripts = append(scripts, []byte(s))
	}

	block := &wire.MsgBlock{Transactions: []*wire.MsgTx{coinbaseTx(800_000, out(3_1250_0000, foreignScript(0)))}}
	for i := range uint32(benchTxs) {
		ins := ops(foreignOutPoint(2*i+1), foreignOutPoint(2*i+2))
		outs := []*wire.TxOut{out(10_000, foreignScript(2*i+1)), out(20_000, foreignScript(2*i+2))}
		switch {
		case i < benchDeposits:
			outs[1] = out(50_000, scripts[int(i)%len(scripts)])
		case i < benchDeposits+benchSpends:
			ins[0] = owned[i-benchDeposits]
		}
		block.Transactions = append(block.Transactions, newTx(ins, outs...))
	}
	return block, w
}

// BenchmarkScanBlock measures matching one full block against a 2-of-3
// wallet: 2,000 transactions of 2 inputs and 2 outputs, 500 paying the
// wallet and 200 spending its outputs, against 1,000 watched scripts and
// 1,000 owned outpoints. Transaction ids are computed in the scan, as the
// follower does.
func BenchmarkScanBlock(b *testing.B) {
	block, w := benchBlock(b)
	// Check the shape once, outside the timed loop.
	txs, coinbase := blockTxs(block)
	res := scanTxs(txs, 800_000, coinbase, w)
	if len(res.credits) != benchDeposits || len(res.debits) != benchSpends || len(res.txs) != benchDeposits+benchSpends {
		b.Fatalf("scan found %d credits, %d debits, %d txs; want %d, %d, %d",
			len(res.credits), len(res.debits), len(res.txs), benchDeposits, benchSpends, benchDeposits+benchSpends)
	}
	for _, c := range res.credits {
		if c.Coinbase || c.Height != 800_000 || (c.Branch != reserve.BranchReceive && c.Branch != reserve.BranchChange) {
			b.Fatalf("unexpected credit %+v", c)
		}
	}

	b.ReportAllocs()
	for b.Loop() {
		txs, coinbase := blockTxs(block)
		res = scanTxs(txs, 800_000, coinbase, w)
	}
	secs := b.Elapsed().Seconds()
	if secs > 0 {
		b.ReportMetric(float64(b.N)/secs, "blocks/s")
		b.ReportMetric(float64(b.N)*benchDeposits/secs, "walletouts/s")
		b.ReportMetric(float64(b.N)*float64(len(block.Transactions))/secs, "txs/s")
	}
}
