package multisig

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// psbtWallet is an m-of-n regtest wallet made from fixed 64-byte seeds,
// with every cosigner's private account key, as each ministry's signer
// holds its own.
type psbtWallet struct {
	d     *Descriptor
	xprvs []*hdkeychain.ExtendedKey
}

// psbtSeed is the fixed 64-byte seed named label.
func psbtSeed(label string) []byte {
	sum := sha512.Sum512([]byte("custos psbt test seed: " + label))
	return sum[:]
}

// MustPSBTWallet builds an m-of-n wallet from the seeds "<name> A", "<name>
// B", … so two names give two unrelated wallets.
func MustPSBTWallet(tb testing.TB, name string, m, n int) *psbtWallet {
	tb.Helper()
	w := &psbtWallet{}
	keys := make([]reserve.Cosigner, n)
	for i := range n {
		c, xprv, err := DeriveAccount(psbtSeed(fmt.Sprintf("%s %c", name, 'A'+i)), reserve.Regtest, 0)
		require.NoError(tb, err)
		keys[i] = c
		w.xprvs = append(w.xprvs, xprv)
	}
	d, err := NewDescriptor(reserve.Regtest, m, keys)
	require.NoError(tb, err)
	w.d = d
	return w
}

// psbtPayee is a P2WPKH script paying a hash of label.
func psbtPayee(label string) []byte {
	sum := sha256.Sum256([]byte("payee " + label))
	return append([]byte{txscript.OP_0, txscript.OP_DATA_20}, sum[:20]...)
}

// MustDerived derives the wallet's script at branch b, index.
func (w *psbtWallet) MustDerived(tb testing.TB, b reserve.Branch, index uint32) Derived {
	tb.Helper()
	der, err := w.d.Derive(b, index)
	require.NoError(tb, err)
	return der
}

// fundingTx is a previous transaction: one input spending an outpoint
// named by label, then `before` outputs paying someone else, then amount
// to script.
func fundingTx(label string, before int, script []byte, amount int64) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash(sha256.Sum256([]byte("funding " + label))), Index: 3},
		SignatureScript:  []byte{txscript.OP_TRUE},
		Sequence:         wire.MaxTxInSequenceNum,
	})
	for k := range before {
		tx.AddTxOut(wire.NewTxOut(5_000+int64(k), psbtPayee(label+" other")))
	}
	tx.AddTxOut(wire.NewTxOut(amount, script))
	return tx
}

// coin is one wallet output a test spends.
type coin struct {
	path   keyPath
	amount int64
	before int // outputs before ours in its previous transaction
}

// MustSpendParams builds CreateParams spending coins to one payee and,
// when change > 0, change at 1/changeIndex, with a fixed locktime.
func (w *psbtWallet) MustSpendParams(tb testing.TB, coins []coin, pay int64, change int64, changeIndex uint32) CreateParams {
	tb.Helper()
	p := CreateParams{Descriptor: w.d, PrevTxs: map[chainhash.Hash]*wire.MsgTx{}, LockTime: 500}
	for i, c := range coins {
		der := w.MustDerived(tb, c.path.Branch, c.path.Index)
		prev := fundingTx(fmt.Sprintf("%s %d", w.d.WalletID(), i), c.before, der.PkScript, c.amount)
		h := prev.TxHash()
		p.PrevTxs[h] = prev
		p.Inputs = append(p.Inputs, reserve.Input{
			OutPoint:  wire.OutPoint{Hash: h, Index: uint32(c.before)},
			AmountSat: c.amount,
			Branch:    c.path.Branch,
			Index:     c.path.Index,
		})
	}
	p.Outputs = append(p.Outputs, Output{Script: psbtPayee("treasury bill"), AmountSat: pay})
	if change > 0 {
		idx := changeIndex
		der := w.MustDerived(tb, reserve.BranchChange, idx)
		p.Outputs = append(p.Outputs, Output{Script: der.PkScript, AmountSat: change, ChangeIndex: &idx})
	}
	return p
}

// standardCoins are the test spend's two inputs: a receive coin at vout 1
// and a change coin at vout 0.
var standardCoins = []coin{
	{path: keyPath{reserve.BranchReceive, 0}, amount: 1_000_000, before: 1},
	{path: keyPath{reserve.BranchChange, 3}, amount: 2_500_000},
}

// MustStandardSpend is the usual test spend: 3,500,000 sat in, 1,200,000
// to a payee, 2,290,000 change at 1/7, 10,000 sat fee.
func (w *psbtWallet) MustStandardSpend(tb testing.TB) *psbt.Packet {
	tb.Helper()
	p, err := CreatePSBT(w.MustSpendParams(tb, standardCoins, 1_200_000, 2_290_000, 7))
	require.NoError(tb, err)
	return p
}

// MustSerialize serializes a PSBT.
func MustSerialize(tb testing.TB, p *psbt.Packet) []byte {
	tb.Helper()
	b, err := SerializePSBT(p)
	require.NoError(tb, err)
	return b
}

// MustParse parses a PSBT.
func MustParse(tb testing.TB, b []byte) *psbt.Packet {
	tb.Helper()
	p, err := ParsePSBT(b)
	require.NoError(tb, err)
	return p
}

// MustCopy is a deep copy of p, through its serialization, as a signer
// or the daemon gets it.
func MustCopy(tb testing.TB, p *psbt.Packet) *psbt.Packet {
	tb.Helper()
	return MustParse(tb, MustSerialize(tb, p))
}

// MustSigned is a copy of p after cosigner i analyzed and signed it.
func (w *psbtWallet) MustSigned(tb testing.TB, p *psbt.Packet, i int) *psbt.Packet {
	tb.Helper()
	cp := MustCopy(tb, p)
	_, err := Analyze(cp, w.d)
	require.NoError(tb, err)
	n, err := SignPSBT(cp, w.d, w.xprvs[i])
	require.NoError(tb, err)
	require.Equal(tb, len(cp.Inputs), n)
	return MustCopy(tb, cp)
}

// MustSerializeTx serializes a transaction with its witnesses.
func MustSerializeTx(tb testing.TB, tx *wire.MsgTx) []byte {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, tx.Serialize(&buf))
	return buf.Bytes()
}

// RequireCode checks that err is a *reserve.Error of code, with field
// (when not empty) and a message containing substr.
func RequireCode(tb testing.TB, err error, code reserve.Code, field, substr string) {
	tb.Helper()
	require.Error(tb, err)
	require.Equal(tb, code, reserve.CodeOf(err), "error %q", err)
	if field != "" {
		var e *reserve.Error
		require.ErrorAs(tb, err, &e)
		require.Equal(tb, field, e.Field, "error %q", err)
	}
	require.Contains(tb, err.Error(), substr)
}

// RequireVerifies runs every input of tx through btcd's script engine
// with the standard verification flags.
func RequireVerifies(tb testing.TB, tx *wire.MsgTx, p *psbt.Packet) {
	tb.Helper()
	prevOuts := make(map[wire.OutPoint]*wire.TxOut)
	for i, in := range tx.TxIn {
		prev := p.Inputs[i].NonWitnessUtxo
		prevOuts[in.PreviousOutPoint] = prev.TxOut[in.PreviousOutPoint.Index]
	}
	fetcher := txscript.NewMultiPrevOutFetcher(prevOuts)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	for i, in := range tx.TxIn {
		out := prevOuts[in.PreviousOutPoint]
		vm, err := txscript.NewEngine(out.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, out.Value, fetcher)
		require.NoError(tb, err)
		require.NoError(tb, vm.Execute(), "input %d", i)
	}
}
