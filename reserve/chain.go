package reserve

import (
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// BlockUpdate is what one connected block did to the wallet.
type BlockUpdate struct {
	Height int32
	Hash   chainhash.Hash
	// Prev is the block's parent; it must be the current sync tip (unless
	// the store has no tip yet).
	Prev chainhash.Hash
	// Credits are outputs paying the wallet, confirmed by this block.
	Credits []UTXO
	// Debits are wallet outpoints spent by this block's transactions,
	// with the spending txid.
	Debits []Debit
	// Txs are the wallet-relevant transactions, kept for PSBTs
	// (non_witness_utxo) and audits.
	Txs []*wire.MsgTx
}

// Debit is a wallet outpoint spent by a transaction.
type Debit struct {
	OutPoint wire.OutPoint
	SpentBy  chainhash.Hash
}

// MempoolUpdate is the difference between the wallet's unconfirmed view
// and the node's mempool.
type MempoolUpdate struct {
	Credits []UTXO
	Debits  []Debit
	Txs     []*wire.MsgTx
	// Gone are txids no longer in the mempool nor in a block: their
	// unconfirmed outputs are removed and their unconfirmed spends undone.
	Gone []chainhash.Hash
}
