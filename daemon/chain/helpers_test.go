package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// FixedSeed is a fixed 32-byte seed named by label: test keys come from
// fixed seeds, never from randomness.
func FixedSeed(label string) []byte {
	sum := sha256.Sum256([]byte("custos chain test seed: " + label))
	return sum[:]
}

// MustDescriptor builds the 2-of-3 regtest descriptor of the seeds
// labelled "cosigner A", "cosigner B" and "cosigner C".
func MustDescriptor(tb testing.TB) *multisig.Descriptor {
	tb.Helper()
	var cosigners []reserve.Cosigner
	for _, label := range []string{"cosigner A", "cosigner B", "cosigner C"} {
		c, xprv, err := multisig.DeriveAccount(FixedSeed(label), reserve.Regtest, 0)
		require.NoError(tb, err)
		xprv.Zero()
		cosigners = append(cosigners, c)
	}
	d, err := multisig.NewDescriptor(reserve.Regtest, 2, cosigners)
	require.NoError(tb, err)
	return d
}

// MustScript derives the output script of the wallet at branch b, index i.
func MustScript(tb testing.TB, d *multisig.Descriptor, b reserve.Branch, i uint32) []byte {
	tb.Helper()
	der, err := d.Derive(b, i)
	require.NoError(tb, err)
	return der.PkScript
}

// MustWatchSet watches the first receive and change scripts of d and the
// given outpoints.
func MustWatchSet(tb testing.TB, d *multisig.Descriptor, receive, change uint32, outpoints ...wire.OutPoint) *watchSet {
	tb.Helper()
	w := &watchSet{scripts: make(map[string]scriptRef), outpoints: make(map[wire.OutPoint]struct{})}
	for b, n := range map[reserve.Branch]uint32{reserve.BranchReceive: receive, reserve.BranchChange: change} {
		for i := range n {
			w.scripts[string(MustScript(tb, d, b, i))] = scriptRef{branch: b, index: i}
		}
	}
	for _, op := range outpoints {
		w.outpoints[op] = struct{}{}
	}
	return w
}

// foreignScript is a P2WPKH script the wallet does not own, distinct per n.
func foreignScript(n uint32) []byte {
	s := make([]byte, 22)
	s[0], s[1] = 0x00, 0x14
	binary.BigEndian.PutUint32(s[2:], n)
	s[21] = 0xf0
	return s
}

// foreignOutPoint is an outpoint the wallet does not own, distinct per n.
func foreignOutPoint(n uint32) wire.OutPoint {
	var h chainhash.Hash
	binary.BigEndian.PutUint32(h[:], n)
	h[31] = 0xf0
	return wire.OutPoint{Hash: h, Index: n % 3}
}

// out is an output of value sat to script.
func out(sat int64, script []byte) *wire.TxOut { return wire.NewTxOut(sat, script) }

// newTx spends ins and pays outs. Distinct inputs make distinct txids.
func newTx(ins []wire.OutPoint, outs ...*wire.TxOut) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	for _, prev := range ins {
		tx.AddTxIn(wire.NewTxIn(&prev, nil, [][]byte{{0x01}}))
	}
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	return tx
}

// coinbaseTx is a coinbase of the block at height paying outs.
func coinbaseTx(height int32, outs ...*wire.TxOut) *wire.MsgTx {
	tx := wire.NewMsgTx(1)
	script := binary.LittleEndian.AppendUint32([]byte{0x04}, uint32(height))
	tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{}, wire.MaxPrevOutIndex), script, nil))
	for _, o := range outs {
		tx.AddTxOut(o)
	}
	return tx
}

// op is output vout of tx.
func op(tx *wire.MsgTx, vout uint32) wire.OutPoint {
	return wire.OutPoint{Hash: tx.TxHash(), Index: vout}
}

// ops lists outpoints, for newTx.
func ops(o ...wire.OutPoint) []wire.OutPoint { return o }

// MustReadTestdata reads testdata/name.
func MustReadTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(tb, err)
	return b
}

// MustRPCResult reads the result of a recorded JSON-RPC envelope.
func MustRPCResult(tb testing.TB, name string) json.RawMessage {
	tb.Helper()
	var env struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	require.NoError(tb, json.Unmarshal(MustReadTestdata(tb, name), &env))
	require.JSONEq(tb, "null", string(env.Error))
	require.NotEmpty(tb, env.Result)
	return env.Result
}

// MustEdit decodes a JSON object, applies edit to it and encodes it again:
// recorded responses with one field changed or removed.
func MustEdit(tb testing.TB, raw json.RawMessage, edit func(map[string]any)) json.RawMessage {
	tb.Helper()
	var m map[string]any
	require.NoError(tb, json.Unmarshal(raw, &m))
	edit(m)
	b, err := json.Marshal(m)
	require.NoError(tb, err)
	return b
}
