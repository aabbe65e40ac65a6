package multisig

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// coreProofMessage is the message of MustCustosProof: printable UTF-8
// with one character beyond ASCII, so that the recordings show how each
// tool carries the exact bytes.
const coreProofMessage = "Custos reserve audit 2030-01-01, challenge 7f3a — interop"

// MustCustosProof is the proof PSBT BuildProof makes for the known 2-of-3
// of testdata/core (MustCoreWallet) over two coins:
//   - coin[0]: the output core-made.psbt.b64 spends (receive 0, which is
//     also the challenge address), with its previous transaction;
//   - coin[1]: output 1 of a fixed transaction (one input spending
//     11…11:3, sequence 0xfffffffd; outputs 1,000 sat to OP_RETURN and
//     25,000,000 sat to change address 1; version 2, locktime 0), made
//     here so that a change coin is proven too.
//
// Nothing in it is random, so it is the same on every run:
// TestCustosProofFixture holds testdata/core/custos-proof/custos-proof.psbt.b64
// (the input of every recording there and in testdata/electrum) to it.
func MustCustosProof(tb testing.TB, d *Descriptor) *psbt.Packet {
	tb.Helper()
	core := MustCorePSBT(tb, "core-made.psbt.b64")
	op := core.UnsignedTx.TxIn[0].PreviousOutPoint
	prev := core.Inputs[0].NonWitnessUtxo
	recv0, err := d.Derive(reserve.BranchReceive, 0)
	require.NoError(tb, err)
	require.Equal(tb, recv0.PkScript, prev.TxOut[op.Index].PkScript)

	change1, err := d.Derive(reserve.BranchChange, 1)
	require.NoError(tb, err)
	other := wire.NewMsgTx(2)
	var from chainhash.Hash
	for i := range from {
		from[i] = 0x11
	}
	other.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: from, Index: 3}, Sequence: wire.MaxTxInSequenceNum - 2})
	other.AddTxOut(wire.NewTxOut(1_000, opReturnScript))
	other.AddTxOut(wire.NewTxOut(25_000_000, change1.PkScript))

	coins := []ProofCoin{
		{UTXO: reserve.UTXO{OutPoint: op, AmountSat: prev.TxOut[op.Index].Value, Script: recv0.PkScript,
			Branch: reserve.BranchReceive, Index: 0}, PrevTx: MustSerializeTx(tb, prev)},
		{UTXO: reserve.UTXO{OutPoint: wire.OutPoint{Hash: other.TxHash(), Index: 1}, AmountSat: 25_000_000,
			Script: change1.PkScript, Branch: reserve.BranchChange, Index: 1}, PrevTx: MustSerializeTx(tb, other)},
	}
	p, err := d.BuildProof([]byte(coreProofMessage), coins)
	require.NoError(tb, err)
	return MustParse(tb, MustSerialize(tb, p))
}

// proofDir is where the Core recordings of MustCustosProof are.
var proofDir = filepath.Join("testdata", "core", "custos-proof")

// TestCustosProofFixture: the recorded custos-proof.psbt.b64 is what
// MustCustosProof builds today, byte for byte, and passes CheckProof.
// -update rewrites it (then record again: see the README there).
func TestCustosProofFixture(t *testing.T) {
	d := MustCoreWallet(t)
	p := MustCustosProof(t, d)
	_, err := CheckProof(p, d)
	require.NoError(t, err)
	b64 := base64.StdEncoding.EncodeToString(MustSerialize(t, p))
	name := filepath.Join(proofDir, "custos-proof.psbt.b64")
	if *update {
		require.NoError(t, os.MkdirAll(proofDir, 0o755))
		require.NoError(t, os.WriteFile(name, []byte(b64+"\n"), 0o644))
	}
	recorded, err := os.ReadFile(name)
	require.NoError(t, err)
	require.Equal(t, string(bytes.TrimSpace(recorded)), b64)
}
