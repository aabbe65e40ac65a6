package multisig

import (
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// MustCustosCoreSpend is the PSBT CreatePSBT builds for the spend Bitcoin
// Core built for the known 2-of-3 (testdata/core/core-made.psbt.b64): its
// one input (receive 0) and two outputs, the first of them change at
// index 0, with Core's locktime.
func MustCustosCoreSpend(tb testing.TB, d *Descriptor) *psbt.Packet {
	tb.Helper()
	core := MustCorePSBT(tb, "core-made.psbt.b64")
	require.Len(tb, core.UnsignedTx.TxIn, 1)
	op := core.UnsignedTx.TxIn[0].PreviousOutPoint
	prev := core.Inputs[0].NonWitnessUtxo
	change := uint32(0)
	p, err := CreatePSBT(CreateParams{
		Descriptor: d,
		Inputs:     []reserve.Input{{OutPoint: op, AmountSat: prev.TxOut[op.Index].Value, Branch: reserve.BranchReceive, Index: 0}},
		PrevTxs:    map[chainhash.Hash]*wire.MsgTx{op.Hash: prev},
		Outputs: []Output{
			{Script: core.UnsignedTx.TxOut[0].PkScript, AmountSat: core.UnsignedTx.TxOut[0].Value, ChangeIndex: &change},
			{Script: core.UnsignedTx.TxOut[1].PkScript, AmountSat: core.UnsignedTx.TxOut[1].Value},
		},
		LockTime: core.UnsignedTx.LockTime,
	})
	require.NoError(tb, err)
	return p
}

// coreRPC is a recorded bitcoin-cli answer that carries a PSBT or a
// transaction.
type coreRPC struct {
	PSBT     string `json:"psbt"`
	Hex      string `json:"hex"`
	Complete bool   `json:"complete"`
}

// TestCoreReadsCustosPSBT checks Custos's PSBT against what Bitcoin Core
// v31.99 did with it (testdata/core/custos-export/README.md): a watch-only
// descriptor wallet of the same 2-of-3 handed it back byte for byte
// (walletprocesspsbt), decodepsbt read every fingerprint as the key
// records have it, Core signed it with one key and finalized it with a
// second, and the signatures Core wrote, partial and in its final
// witness, are the ones Custos takes and finalizes into Core's
// transaction.
func TestCoreReadsCustosPSBT(t *testing.T) {
	d := MustCoreWallet(t)
	ours := MustCustosCoreSpend(t, d)
	raw := MustSerialize(t, ours)

	var processed coreRPC
	MustReadJSON(t, "core/custos-export/custos-export.walletprocesspsbt.json", &processed)
	require.False(t, processed.Complete)
	require.Equal(t, processed.PSBT, base64.StdEncoding.EncodeToString(raw), "Core's walletprocesspsbt hands Custos's PSBT back unchanged")

	var decoded struct {
		GlobalXPubs []struct {
			XPub        string `json:"xpub"`
			Fingerprint string `json:"master_fingerprint"`
			Path        string `json:"path"`
		} `json:"global_xpubs"`
		Inputs []struct {
			Bip32Derivs []coreDeriv `json:"bip32_derivs"`
			Sighash     string      `json:"sighash"`
		} `json:"inputs"`
	}
	MustReadJSON(t, "core/custos-export/custos-export.decodepsbt.json", &decoded)
	records := map[string]reserve.Cosigner{}
	for _, c := range d.Cosigners() {
		records[FormatKeyRecord(c)] = c
	}
	require.Len(t, decoded.GlobalXPubs, 3)
	for _, x := range decoded.GlobalXPubs {
		require.Contains(t, records, "["+x.Fingerprint+"/48'/1'/0'/2']"+x.XPub, "Core's reading of a global xpub is a key record of the wallet")
		require.Equal(t, "m/48h/1h/0h/2h", x.Path)
	}
	fps := map[string]bool{}
	for _, e := range decoded.Inputs[0].Bip32Derivs {
		fps[e.Fingerprint] = true
	}
	require.Equal(t, map[string]bool{"73c5da0a": true, "b8688df1": true, "28645006": true}, fps)
	require.Equal(t, "ALL", decoded.Inputs[0].Sighash)

	abandon, legal := d.cosignerByFingerprint(t, 0x73c5da0a), d.cosignerByFingerprint(t, 0xb8688df1)
	var signed, finalized coreRPC
	MustReadJSON(t, "core/custos-export/custos-export.signed-abandon.json", &signed)
	MustReadJSON(t, "core/custos-export/custos-export.finalized.json", &finalized)
	require.True(t, finalized.Complete)

	canonical := MustParse(t, raw)
	refs, err := CombinePSBT(canonical, MustParse(t, []byte(signed.PSBT)), d, 0)
	require.NoError(t, err)
	require.Equal(t, []SigRef{{Input: 0, Cosigner: abandon}}, refs, "Core's partial signature")

	canonical = MustParse(t, raw)
	refs, err = CombinePSBT(canonical, MustParse(t, []byte(finalized.PSBT)), d, 0)
	require.NoError(t, err)
	want := []SigRef{{Input: 0, Cosigner: abandon}, {Input: 0, Cosigner: legal}}
	if abandon > legal {
		want[0], want[1] = want[1], want[0]
	}
	require.Equal(t, want, refs, "the signatures of Core's final witness")
	tx, err := FinalizePSBT(canonical, d)
	require.NoError(t, err)
	RequireVerifies(t, tx, canonical)
	require.Equal(t, finalized.Hex, hex.EncodeToString(MustSerializeTx(t, tx)), "Custos finalizes Core's transaction")
}
