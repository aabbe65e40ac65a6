package multisig

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// Output scripts of every common kind paying hashes of fixed labels.
func fakeP2WSH(label string) []byte  { return fakeWitnessProgram(0, 32, label) }
func fakeP2TR(label string) []byte   { return fakeWitnessProgram(1, 32, label) }
func fakeP2WPKH(label string) []byte { return fakeWitnessProgram(0, 20, label) }

func fakeWitnessProgram(version byte, size int, label string) []byte {
	sum := sha256.Sum256([]byte(label))
	op := byte(txscript.OP_0)
	if version > 0 {
		op = txscript.OP_1 + version - 1
	}
	return append([]byte{op, byte(size)}, sum[:size]...)
}

func fakeP2PKH(label string) []byte {
	sum := sha256.Sum256([]byte(label))
	s := []byte{txscript.OP_DUP, txscript.OP_HASH160, 20}
	return append(append(s, sum[:20]...), txscript.OP_EQUALVERIFY, txscript.OP_CHECKSIG)
}

func fakeP2SH(label string) []byte {
	sum := sha256.Sum256([]byte(label))
	return append(append([]byte{txscript.OP_HASH160, 20}, sum[:20]...), txscript.OP_EQUAL)
}

// TestInputWeight pins the weights worked out by hand from BIP-141 and
// the script layout, including the 3-byte script length from 8 keys on
// and the 2-byte pushes of 17 to 20.
func TestInputWeight(t *testing.T) {
	tests := []struct {
		name   string
		m, n   int
		weight int64
	}{
		// witness: count 1, dummy 1, 74 per signature, length, script
		{name: "1-of-1", m: 1, n: 1, weight: 164 + 1 + 1 + 74 + 1 + 37},
		{name: "2-of-3", m: 2, n: 3, weight: 164 + 1 + 1 + 148 + 1 + 105}, // 105 vB
		{name: "3-of-5", m: 3, n: 5, weight: 164 + 1 + 1 + 222 + 1 + 173},
		{name: "2-of-7 script 241 bytes", m: 2, n: 7, weight: 164 + 1 + 1 + 148 + 1 + 241},
		{name: "2-of-8 script 275 bytes", m: 2, n: 8, weight: 164 + 1 + 1 + 148 + 3 + 275},
		{name: "16-of-16", m: 16, n: 16, weight: 164 + 1 + 1 + 16*74 + 3 + 547},
		{name: "15-of-20 pushes 20", m: 15, n: 20, weight: 164 + 1 + 1 + 15*74 + 3 + 684},
		{name: "17-of-20 pushes both", m: 17, n: 20, weight: 164 + 1 + 1 + 17*74 + 3 + 685},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.weight, InputWeight(tc.m, tc.n))
		})
	}
}

// TestMultisigScriptLen compares the computed witness script length with
// the scripts sortedMultiScript really builds, for every wallet shape.
func TestMultisigScriptLen(t *testing.T) {
	keys := make([][]byte, reserve.MaxCosigners)
	for i := range keys {
		priv, _ := btcec.PrivKeyFromBytes(FixedSeed(fmt.Sprintf("script len %d", i)))
		keys[i] = priv.PubKey().SerializeCompressed()
	}
	for n := 1; n <= reserve.MaxCosigners; n++ {
		for m := 1; m <= n; m++ {
			script, err := sortedMultiScript(m, keys[:n])
			require.NoError(t, err)
			require.Equal(t, int64(len(script)), multisigScriptLen(m, n), "%d-of-%d", m, n)
		}
	}
}

func TestOutputSize(t *testing.T) {
	tests := []struct {
		name   string
		script []byte
		size   int64
	}{
		{name: "P2WPKH", script: fakeP2WPKH("a"), size: 31},
		{name: "P2WSH", script: fakeP2WSH("a"), size: 43},
		{name: "P2TR", script: fakeP2TR("a"), size: 43},
		{name: "P2PKH", script: fakeP2PKH("a"), size: 34},
		{name: "P2SH", script: fakeP2SH("a"), size: 32},
		{name: "empty", script: nil, size: 9},
		{name: "252 bytes, 1-byte length", script: make([]byte, 252), size: 8 + 1 + 252},
		{name: "253 bytes, 3-byte length", script: make([]byte, 253), size: 8 + 3 + 253},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.size, OutputSize(tc.script))
			require.Equal(t, int(tc.size), wire.NewTxOut(1, tc.script).SerializeSize())
		})
	}
}

// TestDustThreshold checks the thresholds Bitcoin Core and btcd publish
// for their default dust relay fee.
func TestDustThreshold(t *testing.T) {
	tests := []struct {
		name   string
		script []byte
		dust   int64
	}{
		{name: "P2WSH", script: fakeP2WSH("a"), dust: 330},
		{name: "P2TR", script: fakeP2TR("a"), dust: 330},
		{name: "P2WPKH", script: fakeP2WPKH("a"), dust: 294},
		{name: "P2SH", script: fakeP2SH("a"), dust: 540},
		{name: "P2PKH", script: fakeP2PKH("a"), dust: 546},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.dust, DustThreshold(tc.script))
		})
	}
}

// TestEstimateVSizeExact builds transactions whose every signature is
// MaxSigLen bytes long: their real weight must equal the estimate exactly,
// including 3-byte input and output counts.
func TestEstimateVSizeExact(t *testing.T) {
	tests := []struct {
		name       string
		m, n, nIn  int
		outScripts [][]byte
	}{
		{name: "1-of-1, one output", m: 1, n: 1, nIn: 1, outScripts: [][]byte{fakeP2WSH("x")}},
		{name: "2-of-3, two outputs", m: 2, n: 3, nIn: 2, outScripts: [][]byte{fakeP2WPKH("x"), fakeP2WSH("c")}},
		{name: "3-of-5, mixed outputs", m: 3, n: 5, nIn: 3, outScripts: [][]byte{fakeP2PKH("x"), fakeP2SH("y"), fakeP2TR("z"), fakeP2WSH("c")}},
		{name: "15-of-20", m: 15, n: 20, nIn: 2, outScripts: [][]byte{fakeP2TR("x")}},
		{name: "20-of-20", m: 20, n: 20, nIn: 1, outScripts: [][]byte{fakeP2TR("x")}},
		{name: "253 inputs", m: 2, n: 3, nIn: 253, outScripts: [][]byte{fakeP2WSH("x")}},
		{name: "253 outputs", m: 2, n: 3, nIn: 1, outScripts: slices.Repeat([][]byte{fakeP2WPKH("x")}, 253)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := make([]byte, multisigScriptLen(tc.m, tc.n))
			tx := wire.NewMsgTx(2)
			for i := range tc.nIn {
				in := wire.NewTxIn(wire.NewOutPoint(&chainhash.Hash{byte(i), byte(i >> 8)}, 0), nil, nil)
				in.Witness = wire.TxWitness{nil}
				for range tc.m {
					in.Witness = append(in.Witness, make([]byte, MaxSigLen))
				}
				in.Witness = append(in.Witness, ws)
				tx.AddTxIn(in)
			}
			for _, s := range tc.outScripts {
				tx.AddTxOut(wire.NewTxOut(1000, s))
			}
			weight := blockchain.GetTransactionWeight(btcutil.NewTx(tx))
			require.Equal(t, weight, txWeight(InputWeight(tc.m, tc.n), tc.nIn, outputsLen(tc.outScripts)))
			require.Equal(t, (weight+3)/4, EstimateVSize(tc.m, tc.n, tc.nIn, tc.outScripts))
		})
	}
}

// TestEstimateVSizeRealSpend signs real spends of the wallet's own scripts
// (keys from fixed seeds, BIP-143 signatures from txscript, checked by the
// script engine) and compares their weight with the estimate: never
// below, and above by no more than the signatures' slack, each real
// signature being 71 to 73 bytes.
func TestEstimateVSizeRealSpend(t *testing.T) {
	tests := []struct {
		name      string
		m, n, nIn int
	}{
		{name: "1-of-1", m: 1, n: 1, nIn: 2},
		{name: "2-of-3", m: 2, n: 3, nIn: 3},
		{name: "3-of-5", m: 3, n: 5, nIn: 2},
		{name: "15-of-20", m: 15, n: 20, nIn: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outScripts := [][]byte{fakeP2WPKH("payee"), fakeP2TR("payee 2"), fakeP2PKH("payee 3"), fakeP2WSH("change")}
			tx := MustSignedMultisigSpend(t, tc.m, tc.n, tc.nIn, outScripts)
			actual := blockchain.GetTransactionWeight(btcutil.NewTx(tx))
			estimate := txWeight(InputWeight(tc.m, tc.n), tc.nIn, outputsLen(outScripts))
			slack := int64(tc.nIn * tc.m * (MaxSigLen - 71))
			require.GreaterOrEqual(t, estimate, actual)
			require.LessOrEqual(t, estimate-actual, slack)
			vsizeActual := (actual + 3) / 4
			require.GreaterOrEqual(t, EstimateVSize(tc.m, tc.n, tc.nIn, outScripts), vsizeActual)
			require.LessOrEqual(t, EstimateVSize(tc.m, tc.n, tc.nIn, outScripts)-vsizeActual, (slack+3)/4)
		})
	}
}

// MustSignedMultisigSpend spends nIn outputs of an m-of-n test wallet (receive
// addresses 0, 1, …) to outScripts, signed by the last m cosigners, and
// checks every input with the script engine.
func MustSignedMultisigSpend(tb testing.TB, m, n, nIn int, outScripts [][]byte) *wire.MsgTx {
	tb.Helper()
	d := MustDescriptor(tb, reserve.Regtest, m, n)
	signers := make([]*hdkeychain.ExtendedKey, 0, m)
	for i := n - m; i < n; i++ {
		_, xprv, err := DeriveAccount(FixedSeed("cosigner "+string(rune('A'+i))), reserve.Regtest, 0)
		require.NoError(tb, err)
		signers = append(signers, xprv)
	}
	tx := wire.NewMsgTx(2)
	prevOuts := txscript.NewMultiPrevOutFetcher(nil)
	derived := make([]Derived, nIn)
	for i := range nIn {
		var err error
		derived[i], err = d.Derive(reserve.BranchReceive, uint32(i))
		require.NoError(tb, err)
		op := wire.NewOutPoint(&chainhash.Hash{0xc0, byte(i)}, uint32(i))
		tx.AddTxIn(wire.NewTxIn(op, nil, nil))
		prevOuts.AddPrevOut(*op, wire.NewTxOut(int64(1_000_000*(i+1)), derived[i].PkScript))
	}
	for _, s := range outScripts {
		tx.AddTxOut(wire.NewTxOut(100_000, s))
	}
	hashes := txscript.NewTxSigHashes(tx, prevOuts)
	for i, in := range tx.TxIn {
		amount := prevOuts.FetchPrevOutput(in.PreviousOutPoint).Value
		in.Witness = mustMultisigWitness(tb, tx, hashes, i, amount, derived[i], signers)
	}
	for i, in := range tx.TxIn {
		prev := prevOuts.FetchPrevOutput(in.PreviousOutPoint)
		vm, err := txscript.NewEngine(prev.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, prev.Value, prevOuts)
		require.NoError(tb, err)
		require.NoError(tb, vm.Execute(), "input %d", i)
	}
	return tx
}

// mustMultisigWitness signs input i with every signer's key at derived's
// index and returns [empty, signatures in the script's key order, script].
func mustMultisigWitness(tb testing.TB, tx *wire.MsgTx, hashes *txscript.TxSigHashes, i int, amount int64, derived Derived, signers []*hdkeychain.ExtendedKey) wire.TxWitness {
	tb.Helper()
	type keySig struct{ pub, sig []byte }
	sigs := make([]keySig, 0, len(signers))
	for _, acct := range signers {
		child, err := DerivePath(acct, []uint32{uint32(derived.Branch), derived.Index})
		require.NoError(tb, err)
		priv, err := child.ECPrivKey()
		require.NoError(tb, err)
		pub := priv.PubKey().SerializeCompressed()
		require.True(tb, slices.ContainsFunc(derived.PubKeys, func(k []byte) bool { return bytes.Equal(k, pub) }))
		sig, err := txscript.RawTxInWitnessSignature(tx, hashes, i, amount, derived.WitnessScript, txscript.SigHashAll, priv)
		require.NoError(tb, err)
		require.True(tb, len(sig) >= 71 && len(sig) <= MaxSigLen, "signature of %d bytes", len(sig))
		sigs = append(sigs, keySig{pub, sig})
	}
	slices.SortFunc(sigs, func(a, b keySig) int { return bytes.Compare(a.pub, b.pub) })
	witness := wire.TxWitness{nil}
	for _, s := range sigs {
		witness = append(witness, s.sig)
	}
	return append(witness, derived.WitnessScript)
}
