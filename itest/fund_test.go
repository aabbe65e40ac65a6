//go:build itest

package itest

import (
	"crypto/sha256"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// funder is the harness's own single-key wallet, as btcd's rpctest
// harness keeps one: block rewards are mined to it, and it pays the
// reserve from them. It is test scaffolding standing in for the outside
// world, not part of Custos.
type funder struct {
	t        testing.TB
	key      *btcec.PrivateKey
	addr     btcutil.Address
	pkScript []byte
	coins    []coin
	// spent remembers what each payment consumed, to build a conflicting
	// replacement.
	spent map[chainhash.Hash]coin
}

type coin struct {
	op     wire.OutPoint
	value  int64
	height int32 // coinbase height; 0 for change, spendable at once
}

// fee is what every harness transaction pays: 10 sat/vB and more for
// these one-input transactions.
const fee = 5_000

func newFunder(t testing.TB) *funder {
	seed := sha256.Sum256([]byte("custos itest funder"))
	key, _ := btcec.PrivKeyFromBytes(seed[:])
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	script, err := txscript.PayToAddrScript(addr)
	require.NoError(t, err)
	return &funder{t: t, key: key, addr: addr, pkScript: script, spent: make(map[chainhash.Hash]coin)}
}

// collect records the coinbase outputs of the given blocks that pay the
// funder.
func (f *funder) collect(n *node, hashes []chainhash.Hash) {
	for _, h := range hashes {
		b := n.block(h)
		height := n.blockHeight(h)
		cb := b.Transactions[0]
		for i, out := range cb.TxOut {
			if string(out.PkScript) == string(f.pkScript) {
				f.coins = append(f.coins, coin{op: wire.OutPoint{Hash: cb.TxHash(), Index: uint32(i)}, value: out.Value, height: height})
			}
		}
	}
}

// mine mines count blocks and keeps their rewards.
func (f *funder) mine(n *node, count int) []chainhash.Hash {
	hashes := n.mine(count)
	f.collect(n, hashes)
	return hashes
}

// payment is one output of a harness transaction.
type payment struct {
	address string
	amount  int64
}

// pay sends the payments in one transaction signalling replaceability,
// from one mature coin, with change back to the funder.
func (f *funder) pay(n *node, pays ...payment) *wire.MsgTx {
	f.t.Helper()
	tip := n.height()
	idx := -1
	for i, c := range f.coins {
		if c.height == 0 || tip+1-c.height >= 100 {
			idx = i
			break
		}
	}
	require.GreaterOrEqual(f.t, idx, 0, "funder has no mature coin")
	c := f.coins[idx]
	f.coins = append(f.coins[:idx], f.coins[idx+1:]...)

	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: c.op, Sequence: wire.MaxTxInSequenceNum - 2})
	total := int64(0)
	for _, p := range pays {
		addr, err := btcutil.DecodeAddress(p.address, &chaincfg.RegressionNetParams)
		require.NoError(f.t, err)
		script, err := txscript.PayToAddrScript(addr)
		require.NoError(f.t, err)
		tx.AddTxOut(wire.NewTxOut(p.amount, script))
		total += p.amount
	}
	change := c.value - total - fee
	require.Positive(f.t, change, "coin too small")
	tx.AddTxOut(wire.NewTxOut(change, f.pkScript))
	f.sign(tx, c)
	id := n.send(tx)
	f.spent[id] = c
	f.coins = append(f.coins, coin{op: wire.OutPoint{Hash: id, Index: uint32(len(tx.TxOut) - 1)}, value: change})
	return tx
}

// replace double-spends the coin behind payment tx, paying it all back
// to the funder with a higher fee, so the payment can never confirm.
func (f *funder) replace(n *node, tx *wire.MsgTx) *wire.MsgTx {
	f.t.Helper()
	c, ok := f.spent[tx.TxHash()]
	require.True(f.t, ok, "not a funder payment")
	r := wire.NewMsgTx(2)
	r.AddTxIn(&wire.TxIn{PreviousOutPoint: c.op, Sequence: wire.MaxTxInSequenceNum - 2})
	r.AddTxOut(wire.NewTxOut(c.value-4*fee, f.pkScript))
	f.sign(r, c)
	n.send(r)
	// The old payment's change is gone with it.
	for i, cc := range f.coins {
		if cc.op.Hash == tx.TxHash() {
			f.coins = append(f.coins[:i], f.coins[i+1:]...)
			break
		}
	}
	return r
}

func (f *funder) sign(tx *wire.MsgTx, c coin) {
	fetcher := txscript.NewCannedPrevOutputFetcher(f.pkScript, c.value)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	wit, err := txscript.WitnessSignature(tx, hashes, 0, c.value, f.pkScript, txscript.SigHashAll, f.key, true)
	require.NoError(f.t, err)
	tx.TxIn[0].Witness = wit
}

func decodeAddress(t testing.TB, s string) btcutil.Address {
	a, err := btcutil.DecodeAddress(s, &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	return a
}
