package chain

import (
	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// scriptRef locates a watched script in the wallet's derivation.
type scriptRef struct {
	branch reserve.Branch
	index  uint32
}

// watchSet is what a scan matches against: the wallet's derived scripts and
// the outpoints it owns whose spend is not yet confirmed. It is read-only
// during a scan.
type watchSet struct {
	scripts   map[string]scriptRef
	outpoints map[wire.OutPoint]struct{}
}

// scanResult is what one block (or one batch of mempool transactions) did
// to the wallet, before it is committed.
type scanResult struct {
	credits []reserve.UTXO
	debits  []reserve.Debit
	txs     []*wire.MsgTx
	// maxIndex is one past the highest derivation index each branch was
	// paid at (0 when none), so the caller can keep the gap ahead of it.
	maxIndex [2]uint32
}

// scanTxs matches txs against w. height is the confirming block's height
// (0 for mempool). The first transaction is the coinbase when coinbase is
// set. Outputs created and spent within txs are both reported, so the
// result does not depend on w being updated in between.
func scanTxs(txs []*wire.MsgTx, height int32, coinbase bool, w *watchSet) scanResult {
	var res scanResult
	local := make(map[wire.OutPoint]struct{})
	for i, tx := range txs {
		isCoinbase := coinbase && i == 0
		txid := tx.TxHash()
		relevant := false
		if !isCoinbase {
			for _, in := range tx.TxIn {
				op := in.PreviousOutPoint
				_, ours := w.outpoints[op]
				if _, created := local[op]; created {
					ours = true
				}
				if ours {
					res.debits = append(res.debits, reserve.Debit{OutPoint: op, SpentBy: txid})
					relevant = true
				}
			}
		}
		for vout, out := range tx.TxOut {
			ref, ok := w.scripts[string(out.PkScript)]
			if !ok {
				continue
			}
			op := wire.OutPoint{Hash: txid, Index: uint32(vout)}
			local[op] = struct{}{}
			res.credits = append(res.credits, reserve.UTXO{
				OutPoint:  op,
				AmountSat: out.Value,
				Script:    out.PkScript,
				Branch:    ref.branch,
				Index:     ref.index,
				Height:    height,
				Coinbase:  isCoinbase,
			})
			if ref.index+1 > res.maxIndex[ref.branch] {
				res.maxIndex[ref.branch] = ref.index + 1
			}
			relevant = true
		}
		if relevant {
			res.txs = append(res.txs, tx)
		}
	}
	return res
}

// isCoinbaseBlockTx reports whether tx is shaped like a coinbase, as a
// guard on the assumption that a block's first transaction is one.
func isCoinbaseBlockTx(tx *wire.MsgTx) bool {
	return blockchain.IsCoinBaseTx(tx)
}

// blockTxs returns the block's transactions and whether its first one is a
// coinbase.
func blockTxs(b *wire.MsgBlock) ([]*wire.MsgTx, bool) {
	return b.Transactions, len(b.Transactions) > 0 && isCoinbaseBlockTx(b.Transactions[0])
}

// commit applies a scan's effect on the outpoints a block scan must know:
// confirmed spends leave the set, new credits join it. Mempool spends keep
// their outpoint in the set so the confirming block is recognised.
func (w *watchSet) commit(res scanResult, confirmed bool) {
	for _, c := range res.credits {
		w.outpoints[c.OutPoint] = struct{}{}
	}
	if !confirmed {
		return
	}
	for _, d := range res.debits {
		delete(w.outpoints, d.OutPoint)
	}
}

// txidSet builds a set of transaction ids.
func txidSet(ids []chainhash.Hash) map[chainhash.Hash]struct{} {
	m := make(map[chainhash.Hash]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	return m
}
