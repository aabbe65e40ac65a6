package proof

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/gcs/builder"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// testWallet is a 2-of-3 regtest wallet from fixed seeds; keys[i] signs
// for cosigner i.
type testWallet struct {
	d    *multisig.Descriptor
	keys []*hdkeychain.ExtendedKey
}

func mustWallet(tb testing.TB) testWallet {
	tb.Helper()
	var w testWallet
	var cs []reserve.Cosigner
	for _, label := range []string{"A", "B", "C"} {
		seed := sha256.Sum256([]byte("custos proof test seed: " + label))
		c, xprv, err := multisig.DeriveAccount(seed[:], reserve.Regtest, 0)
		require.NoError(tb, err)
		cs = append(cs, c)
		w.keys = append(w.keys, xprv)
	}
	d, err := multisig.NewDescriptor(reserve.Regtest, 2, cs)
	require.NoError(tb, err)
	w.d = d
	return w
}

// memChain is a chain held in memory: blocks in height order, BIP-158
// filters built from them, the UTXO set at the tip.
type memChain struct {
	blocks  []*wire.MsgBlock
	filters [][]byte
	utxos   map[wire.OutPoint]utxoEntry
	noCF    bool
	calls   map[string]int
}

type utxoEntry struct {
	out    wire.TxOut
	height int32
}

func newMemChain() *memChain {
	c := &memChain{utxos: map[wire.OutPoint]utxoEntry{}, calls: map[string]int{}}
	c.mine() // genesis
	return c
}

// mine appends a block holding a coinbase and txs.
func (c *memChain) mine(txs ...*wire.MsgTx) {
	height := int32(len(c.blocks))
	var prev chainhash.Hash
	if height > 0 {
		prev = c.blocks[height-1].BlockHash()
	}
	cb := wire.NewMsgTx(2)
	var h [4]byte
	binary.LittleEndian.PutUint32(h[:], uint32(height))
	cb.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Index: 0xffffffff}, SignatureScript: append([]byte{4}, h[:]...)})
	cb.AddTxOut(&wire.TxOut{Value: 50e8, PkScript: []byte{0x51}})
	b := &wire.MsgBlock{Header: wire.BlockHeader{Version: 4, PrevBlock: prev, Timestamp: time.Unix(1700000000+int64(height)*600, 0)}}
	b.Transactions = append([]*wire.MsgTx{cb}, txs...)
	var spentScripts [][]byte
	for _, tx := range b.Transactions {
		for _, in := range tx.TxIn {
			if e, ok := c.utxos[in.PreviousOutPoint]; ok {
				spentScripts = append(spentScripts, e.out.PkScript)
				delete(c.utxos, in.PreviousOutPoint)
			}
		}
		for i, out := range tx.TxOut {
			c.utxos[wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}] = utxoEntry{*out, height}
		}
	}
	f, err := builder.BuildBasicFilter(b, spentScripts)
	if err != nil {
		panic(err)
	}
	nb, err := f.NBytes()
	if err != nil {
		panic(err)
	}
	c.blocks = append(c.blocks, b)
	c.filters = append(c.filters, nb)
}

func (c *memChain) BestHeight(context.Context) (int32, error) {
	c.calls["BestHeight"]++
	return int32(len(c.blocks) - 1), nil
}

func (c *memChain) BlockHashes(_ context.Context, from int32, count int) ([]chainhash.Hash, error) {
	c.calls["BlockHashes"]++
	var out []chainhash.Hash
	for h := int(from); h < int(from)+count && h < len(c.blocks); h++ {
		out = append(out, c.blocks[h].BlockHash())
	}
	return out, nil
}

func (c *memChain) UnspentOutputs(_ context.Context, ops []wire.OutPoint) ([]Output, error) {
	c.calls["UnspentOutputs"]++
	out := make([]Output, len(ops))
	for i, op := range ops {
		if e, ok := c.utxos[op]; ok {
			out[i] = Output{Unspent: true, TxOut: e.out, Height: e.height}
		}
	}
	return out, nil
}

func (c *memChain) index(h chainhash.Hash) int {
	for i, b := range c.blocks {
		if b.BlockHash() == h {
			return i
		}
	}
	return -1
}

func (c *memChain) Filters(_ context.Context, hashes []chainhash.Hash) ([][]byte, error) {
	c.calls["Filters"]++
	if c.noCF {
		return nil, ErrNoFilters
	}
	out := make([][]byte, len(hashes))
	for i, h := range hashes {
		out[i] = c.filters[c.index(h)]
	}
	return out, nil
}

func (c *memChain) Blocks(_ context.Context, hashes []chainhash.Hash) ([]*wire.MsgBlock, error) {
	c.calls["Blocks"]++
	out := make([]*wire.MsgBlock, len(hashes))
	for i, h := range hashes {
		out[i] = c.blocks[c.index(h)]
	}
	return out, nil
}

// fund makes a transaction paying amounts to the wallet's receive
// addresses from index first on, from a made-up coin.
func (w testWallet) fund(tb testing.TB, first uint32, amounts ...int64) (*wire.MsgTx, []multisig.ProofCoin) {
	tb.Helper()
	tx := wire.NewMsgTx(2)
	seed := sha256.Sum256([]byte{byte(first), byte(first >> 8), byte(len(amounts))})
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: seed, Index: 0}})
	var scripts [][]byte
	var idx []uint32
	for i, a := range amounts {
		der, err := w.d.Derive(reserve.BranchReceive, first+uint32(i))
		require.NoError(tb, err)
		tx.AddTxOut(&wire.TxOut{Value: a, PkScript: der.PkScript})
		scripts = append(scripts, der.PkScript)
		idx = append(idx, first+uint32(i))
	}
	var buf bytes.Buffer
	require.NoError(tb, tx.Serialize(&buf))
	coins := make([]multisig.ProofCoin, len(amounts))
	for i := range amounts {
		coins[i] = multisig.ProofCoin{UTXO: reserve.UTXO{
			OutPoint: wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}, AmountSat: amounts[i],
			Script: scripts[i], Branch: reserve.BranchReceive, Index: idx[i],
		}, PrevTx: buf.Bytes()}
	}
	return tx, coins
}

// spendTx spends op to an anyone-can-spend output.
func spendTx(ops ...wire.OutPoint) *wire.MsgTx {
	tx := wire.NewMsgTx(2)
	for _, op := range ops {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: op})
	}
	tx.AddTxOut(&wire.TxOut{Value: 1000, PkScript: []byte{0x51}})
	return tx
}

// mustProofFile builds, signs (cosigners 0 and 1) and finalizes a proof
// over coins and returns its file at height, whose hash is c's.
func (w testWallet) mustProofFile(tb testing.TB, c *memChain, height int32, msg string, coins []multisig.ProofCoin) *File {
	tb.Helper()
	return w.mustProofFileBy(tb, c, height, msg, coins, 0, 1)
}

// mustProofFileBy is mustProofFile signed by the cosigners signers (listed
// as the file's signers).
func (w testWallet) mustProofFileBy(tb testing.TB, c *memChain, height int32, msg string, coins []multisig.ProofCoin, signers ...int) *File {
	tb.Helper()
	p, err := w.d.BuildProof([]byte(msg), coins)
	require.NoError(tb, err)
	var listed []Signer
	for _, i := range signers {
		_, err := multisig.SignProof(p, w.d, w.keys[i])
		require.NoError(tb, err)
		listed = append(listed, Signer{Fingerprint: fp(w.d, i)})
	}
	tx, err := multisig.FinalizeProof(p, w.d)
	require.NoError(tb, err)
	der, err := w.d.Derive(reserve.BranchReceive, 0)
	require.NoError(tb, err)
	var total int64
	for _, c := range coins {
		total += c.UTXO.AmountSat
	}
	f := &File{
		Network: reserve.Regtest, Message: msg, ChallengeAddress: der.Address, Challenge: der.PkScript,
		Height: height, BlockHash: c.blocks[height].BlockHash(), TotalSat: total, Coins: len(coins),
		PSBT: p, Tx: tx, Signers: listed,
		Descriptor: w.d.String(), Derivations: derivationsOf(coins),
	}
	// Round trip: what Verify sees is what Parse reads.
	b, err := Marshal(f)
	require.NoError(tb, err)
	got, err := Parse(b)
	require.NoError(tb, err)
	return got
}

func derivationsOf(coins []multisig.ProofCoin) []Derivation {
	out := make([]Derivation, len(coins))
	for i, c := range coins {
		out[i] = Derivation{Branch: uint32(c.UTXO.Branch), Index: c.UTXO.Index}
	}
	return out
}

func fp(d *multisig.Descriptor, i int) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], d.Cosigners()[i].Fingerprint)
	return hexString(b[:])
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

var _ = psbt.Packet{}
