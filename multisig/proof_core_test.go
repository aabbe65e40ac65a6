package multisig

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// coreProofTx is the part of a decoded transaction (decodepsbt's "tx",
// decoderawtransaction) the proof interop test compares.
type coreProofTx struct {
	Txid     string `json:"txid"`
	Hash     string `json:"hash"`
	Version  int32  `json:"version"`
	Locktime uint32 `json:"locktime"`
	Vin      []struct {
		Txid     string   `json:"txid"`
		Vout     uint32   `json:"vout"`
		Sequence uint32   `json:"sequence"`
		Witness  []string `json:"txinwitness"`
	} `json:"vin"`
	Vout []struct {
		Value        json.Number `json:"value"`
		ScriptPubKey struct {
			Hex  string `json:"hex"`
			Type string `json:"type"`
		} `json:"scriptPubKey"`
	} `json:"vout"`
}

// coreProofDecoded is what the proof interop test reads of decodepsbt.
type coreProofDecoded struct {
	Tx          coreProofTx       `json:"tx"`
	PSBTVersion int               `json:"psbt_version"`
	Proprietary []coreProprietary `json:"proprietary"`
	Unknown     map[string]string `json:"unknown"`
	GlobalXPubs []struct {
		XPub        string `json:"xpub"`
		Fingerprint string `json:"master_fingerprint"`
		Path        string `json:"path"`
	} `json:"global_xpubs"`
	Inputs []struct {
		WitnessUtxo *struct {
			Amount       json.Number `json:"amount"`
			ScriptPubKey struct {
				Hex string `json:"hex"`
			} `json:"scriptPubKey"`
		} `json:"witness_utxo"`
		NonWitnessUtxo *struct {
			Txid string `json:"txid"`
		} `json:"non_witness_utxo"`
		WitnessScript *struct {
			Hex string `json:"hex"`
		} `json:"witness_script"`
		Bip32Derivs       []coreDeriv       `json:"bip32_derivs"`
		Sighash           string            `json:"sighash"`
		PartialSignatures map[string]string `json:"partial_signatures"`
		FinalWitness      []string          `json:"final_scriptwitness"`
		Unknown           map[string]string `json:"unknown"`
	} `json:"inputs"`
	Outputs []map[string]json.RawMessage `json:"outputs"`
	Fee     json.Number                  `json:"fee"`
}

// coreAnalyzed is analyzepsbt's answer.
type coreAnalyzed struct {
	Inputs []struct {
		HasUtxo bool   `json:"has_utxo"`
		IsFinal bool   `json:"is_final"`
		Next    string `json:"next"`
	} `json:"inputs"`
	Fee  json.Number `json:"fee"`
	Next string      `json:"next"`
}

// coreMempoolAccept is one answer of testmempoolaccept.
type coreMempoolAccept struct {
	Txid         string `json:"txid"`
	Allowed      bool   `json:"allowed"`
	RejectReason string `json:"reject-reason"`
}

// proofRecording reads a recording of testdata/core/custos-proof into v
// (a .json answer), or returns a recorded PSBT (the "psbt" of a .json
// answer, or a .b64 file, which may lead out to ../../electrum).
func proofRecording(tb testing.TB, name string) []byte {
	tb.Helper()
	if filepath.Ext(name) == ".json" {
		var r coreRPC
		MustReadJSON(tb, filepath.Join("core", "custos-proof", name), &r)
		require.NotEmpty(tb, r.PSBT, name)
		return []byte(r.PSBT)
	}
	b, err := os.ReadFile(filepath.Join(proofDir, name))
	require.NoError(tb, err)
	return bytes.TrimSpace(b)
}

// coreSat reads a bitcoin amount as Core prints it.
func coreSat(tb testing.TB, n json.Number) int64 {
	tb.Helper()
	f, err := strconv.ParseFloat(string(n), 64)
	require.NoError(tb, err)
	a, err := btcutil.NewAmount(f)
	require.NoError(tb, err)
	return int64(a)
}

// globalMessageRecord is the raw global 0x09 record of the PSBT b
// (base64), read from the bytes.
func globalMessageRecord(tb testing.TB, b []byte) []rawKV {
	tb.Helper()
	raw, err := base64.StdEncoding.DecodeString(string(b))
	require.NoError(tb, err)
	var out []rawKV
	for _, kv := range parseRawMaps(tb, raw)[0] {
		if kv.key[0] == PSBTGlobalGenericSignedMessage {
			out = append(out, kv)
		}
	}
	return out
}

// requireCoreReadsProofTx checks a decoded to_sign against ours: version
// 0, locktime 0, every input's outpoint and sequence as we wrote them, and
// the one zero-value OP_RETURN output.
func requireCoreReadsProofTx(t *testing.T, name string, got coreProofTx, want *wire.MsgTx) {
	t.Helper()
	require.Equal(t, want.TxHash().String(), got.Txid, name)
	require.Equal(t, int32(0), got.Version, name)
	require.Equal(t, uint32(0), got.Locktime, name)
	require.Len(t, got.Vin, len(want.TxIn), name)
	for i, in := range want.TxIn {
		require.Equal(t, in.PreviousOutPoint.Hash.String(), got.Vin[i].Txid, "%s: vin[%d]", name, i)
		require.Equal(t, in.PreviousOutPoint.Index, got.Vin[i].Vout, "%s: vin[%d]", name, i)
		require.Equal(t, uint32(0), got.Vin[i].Sequence, "%s: vin[%d]", name, i)
	}
	require.Len(t, got.Vout, 1, name)
	require.Equal(t, int64(0), coreSat(t, got.Vout[0].Value), name)
	require.Equal(t, "6a", got.Vout[0].ScriptPubKey.Hex, name)
	require.Equal(t, "nulldata", got.Vout[0].ScriptPubKey.Type, name)
}

// pathTail is the branch/index of input i of MustCustosProof's PSBT:
// receive 0 for the challenge and coin[0], change 1 for coin[1].
func pathTail(i int) string {
	return [...]string{"0/0", "0/0", "1/1"}[i]
}

// TestCoreProofInterop checks the proof PSBT against what Bitcoin Core
// v31.99 and Electrum 4.3.4 did with it
// (testdata/core/custos-proof/README.md, testdata/electrum/README.md):
// Core reads global 0x09 as an unknown global field holding the message
// byte for byte, reads every input and the OP_RETURN output as we wrote
// them, and writes the 0x09 record back unchanged in every PSBT it
// returns (Electrum too); a watch-only wallet hands the PSBT back byte for
// byte; the PSBTs Core and Electrum signed pass CheckProof; Core's
// combined PSBT finalizes with FinalizeProof into the transaction Core
// finalized, whose script checks pass VerifyProof; the PSBTs Core and
// Electrum finalized are refused by CheckProof (finalized inputs) but give
// their signatures to CombinePSBT; and testmempoolaccept refuses the
// final to_sign for its version 0 (and with -acceptnonstdtxn, for its
// missing inputs).
func TestCoreProofInterop(t *testing.T) {
	d := MustCoreWallet(t)
	ours := MustCustosProof(t, d)
	raw := MustSerialize(t, ours)
	sum, err := CheckProof(ours, d)
	require.NoError(t, err)
	message := []byte(coreProofMessage)
	wantRecord := []rawKV{{key: []byte{PSBTGlobalGenericSignedMessage}, value: message}}
	require.Equal(t, wantRecord, globalMessageRecord(t, []byte(b64(raw))), "what Custos writes")
	require.Equal(t, string(proofRecording(t, "custos-proof.psbt.b64")), b64(raw), "the recorded input")

	t.Run("decodepsbt", func(t *testing.T) {
		tests := []struct {
			name string
			file string
			// signed: partial signatures per input; final: finalized.
			signed int
			final  bool
		}{
			{name: "unsigned", file: "custos-proof.decodepsbt.json"},
			{name: "combined", file: "custos-proof.combined.decodepsbt.json", signed: 2},
			{name: "finalized", file: "custos-proof.finalized.decodepsbt.json", final: true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var got coreProofDecoded
				MustReadJSON(t, filepath.Join("core", "custos-proof", tt.file), &got)
				require.Equal(t, 0, got.PSBTVersion)
				require.Empty(t, got.Proprietary, "0x09 is not a proprietary field")
				require.Equal(t, map[string]string{"09": hex.EncodeToString(message)}, got.Unknown,
					"Core reads 0x09 as an unknown global field, the message byte for byte")
				requireCoreReadsProofTx(t, tt.file, got.Tx, ours.UnsignedTx)
				require.Len(t, got.GlobalXPubs, len(ours.XPubs))
				require.Len(t, got.Outputs, 1)
				require.Empty(t, got.Outputs[0], "Core sees nothing on the OP_RETURN output")
				require.Len(t, got.Inputs, len(ours.Inputs))
				for i := range ours.Inputs {
					in, gin := &ours.Inputs[i], got.Inputs[i]
					require.Empty(t, gin.Unknown, "input[%d]", i)
					require.NotNil(t, gin.WitnessUtxo, "input[%d]", i)
					require.Equal(t, in.WitnessUtxo.Value, coreSat(t, gin.WitnessUtxo.Amount), "input[%d]", i)
					require.Equal(t, hex.EncodeToString(in.WitnessUtxo.PkScript), gin.WitnessUtxo.ScriptPubKey.Hex, "input[%d]", i)
					require.NotNil(t, gin.NonWitnessUtxo, "input[%d]", i)
					require.Equal(t, in.NonWitnessUtxo.TxHash().String(), gin.NonWitnessUtxo.Txid, "input[%d]", i)
					if tt.final {
						require.Len(t, gin.FinalWitness, 4, "input[%d]: empty, two signatures, the script", i)
						require.Equal(t, hex.EncodeToString(in.WitnessScript), gin.FinalWitness[3], "input[%d]", i)
						require.Nil(t, gin.WitnessScript, "input[%d]", i)
						require.Empty(t, gin.Bip32Derivs, "input[%d]", i)
						continue
					}
					require.Equal(t, "ALL", gin.Sighash, "input[%d]", i)
					require.NotNil(t, gin.WitnessScript, "input[%d]", i)
					require.Equal(t, hex.EncodeToString(in.WitnessScript), gin.WitnessScript.Hex, "input[%d]", i)
					require.Len(t, gin.Bip32Derivs, len(in.Bip32Derivation), "input[%d]", i)
					for k, der := range in.Bip32Derivation {
						require.Equal(t, hex.EncodeToString(der.PubKey), gin.Bip32Derivs[k].PubKey, "input[%d]", i)
						require.Equal(t, fingerprintBytes(der.MasterKeyFingerprint), gin.Bip32Derivs[k].Fingerprint, "input[%d]", i)
						require.Equal(t, "m/48h/1h/0h/2h/"+pathTail(i), gin.Bip32Derivs[k].Path, "input[%d]", i)
					}
					require.Len(t, gin.PartialSignatures, tt.signed, "input[%d]", i)
				}
				// The challenge and coin[0] are both receive address 0.
				require.Equal(t, got.Inputs[0].WitnessUtxo.ScriptPubKey.Hex, hex.EncodeToString(sum.Challenge))
			})
		}
	})

	t.Run("decoderawtransaction", func(t *testing.T) {
		var unsigned, final coreProofTx
		MustReadJSON(t, "core/custos-proof/custos-proof.unsigned.decoderawtransaction.json", &unsigned)
		requireCoreReadsProofTx(t, "unsigned", unsigned, ours.UnsignedTx)
		require.Equal(t, unsigned.Txid, unsigned.Hash, "no witness yet")
		MustReadJSON(t, "core/custos-proof/custos-proof.finalized.decoderawtransaction.json", &final)
		requireCoreReadsProofTx(t, "finalized", final, ours.UnsignedTx)
		for i := range final.Vin {
			require.Len(t, final.Vin[i].Witness, 4, "vin[%d]", i)
		}
	})

	t.Run("analyzepsbt", func(t *testing.T) {
		// Core reads the proof as a spend whose fee is every coin (the
		// output is 0 sat): 50.25 BTC, the proven total. It names no
		// problem: it does not know BIP-322.
		for file, next := range map[string]string{
			"custos-proof.analyzepsbt.json":           "signer",
			"custos-proof.combined.analyzepsbt.json":  "finalizer",
			"custos-proof.finalized.analyzepsbt.json": "extractor",
		} {
			var got coreAnalyzed
			MustReadJSON(t, filepath.Join("core", "custos-proof", file), &got)
			require.Equal(t, next, got.Next, file)
			require.Equal(t, sum.TotalSat, coreSat(t, got.Fee), file)
			require.Len(t, got.Inputs, len(ours.Inputs), file)
			for i, in := range got.Inputs {
				require.True(t, in.HasUtxo, "%s: input[%d]", file, i)
				require.Equal(t, next, in.Next, "%s: input[%d]", file, i)
			}
		}
	})

	t.Run("written back", func(t *testing.T) {
		// A watch-only wallet (sign false or true) and combinepsbt of the
		// PSBT with itself hand it back byte for byte.
		for _, name := range []string{
			"custos-proof.walletprocesspsbt.json",
			"custos-proof.walletprocesspsbt.sign.json",
			"custos-proof.combinepsbt-self.b64",
		} {
			require.Equal(t, b64(raw), string(proofRecording(t, name)), name)
		}
		// Every PSBT Core or Electrum wrote keeps the 0x09 record byte for
		// byte; Core keeps the whole global map as we wrote it.
		for _, name := range []string{
			"custos-proof.walletprocesspsbt.signer.json",
			"custos-proof.signed-abandon.json",
			"custos-proof.signed-legal.json",
			"custos-proof.combinepsbt.b64",
			"custos-proof.finalizepsbt.psbt.json",
			"../../electrum/custos-proof.signed-abandon.psbt.b64",
			"../../electrum/custos-proof.finalized.psbt.b64",
		} {
			b := proofRecording(t, name)
			require.Equal(t, wantRecord, globalMessageRecord(t, b), name)
			if filepath.Dir(name) == "." {
				got, err := base64.StdEncoding.DecodeString(string(b))
				require.NoError(t, err)
				require.Equal(t, parseRawMaps(t, raw)[0], parseRawMaps(t, got)[0], "%s: Core's global map", name)
			}
		}
		// The signing wallet and descriptorprocesspsbt sign alike.
		require.Equal(t, proofRecording(t, "custos-proof.signed-abandon.json"), proofRecording(t, "custos-proof.walletprocesspsbt.signer.json"))
	})

	t.Run("signed", func(t *testing.T) {
		// Core and Electrum sign every input, input 0 (to_spend's
		// output) too, with SIGHASH_ALL; what they return passes
		// CheckProof and its signatures combine into ours.
		abandon, legal := d.cosignerByFingerprint(t, 0x73c5da0a), d.cosignerByFingerprint(t, 0xb8688df1)
		tests := []struct {
			name string
			file string
			by   []int
		}{
			{name: "core abandon", file: "custos-proof.signed-abandon.json", by: []int{abandon}},
			{name: "core legal", file: "custos-proof.signed-legal.json", by: []int{legal}},
			{name: "core combined", file: "custos-proof.combinepsbt.b64", by: []int{abandon, legal}},
			{name: "electrum abandon", file: "../../electrum/custos-proof.signed-abandon.psbt.b64", by: []int{abandon}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				q := MustParse(t, proofRecording(t, tt.file))
				got, err := CheckProof(q, d)
				require.NoError(t, err)
				require.Equal(t, sum, got)
				canonical := MustParse(t, raw)
				refs, err := CombinePSBT(canonical, q, d, 0)
				require.NoError(t, err)
				require.Len(t, refs, len(ours.Inputs)*len(tt.by))
				for _, r := range refs {
					require.Contains(t, tt.by, r.Cosigner)
				}
			})
		}
	})

	t.Run("finalized", func(t *testing.T) {
		var final coreRPC
		MustReadJSON(t, "core/custos-proof/custos-proof.finalizepsbt.json", &final)
		require.True(t, final.Complete)
		var nonext coreRPC
		MustReadJSON(t, "core/custos-proof/custos-proof.finalizepsbt.psbt.json", &nonext)
		require.True(t, nonext.Complete)

		// Core's combined PSBT finalizes, with FinalizeProof, into the
		// transaction Core finalized (signing is deterministic).
		combined := MustParse(t, proofRecording(t, "custos-proof.combinepsbt.b64"))
		tx, err := FinalizeProof(combined, d)
		require.NoError(t, err)
		require.Equal(t, final.Hex, hex.EncodeToString(MustSerializeTx(t, tx)))

		// Core's and Electrum's final transactions pass VerifyProof.
		prevOuts := make(map[wire.OutPoint]*wire.TxOut, len(ours.Inputs))
		for i, in := range ours.UnsignedTx.TxIn[1:] {
			prevOuts[in.PreviousOutPoint] = ours.Inputs[1+i].WitnessUtxo
		}
		coreTx := new(wire.MsgTx)
		txBytes, err := hex.DecodeString(final.Hex)
		require.NoError(t, err)
		require.NoError(t, coreTx.Deserialize(bytes.NewReader(txBytes)))
		total, err := VerifyProof(coreTx, message, sum.Challenge, prevOuts, 0)
		require.NoError(t, err)
		require.Equal(t, sum.TotalSat, total)
		electrum := MustParse(t, proofRecording(t, "../../electrum/custos-proof.finalized.psbt.b64"))
		etx, err := psbt.Extract(electrum)
		require.NoError(t, err)
		require.Equal(t, final.Hex, hex.EncodeToString(MustSerializeTx(t, etx)), "Electrum's final to_sign is Core's")
		total, err = VerifyProof(etx, message, sum.Challenge, prevOuts, 0)
		require.NoError(t, err)
		require.Equal(t, sum.TotalSat, total)

		// A PSBT finalized by Core (finalizepsbt, extract=false) or
		// Electrum (a co-signer that sees the threshold finalizes) has
		// final witnesses and no derivations: CheckProof, the pre-signing
		// check, refuses it; CombinePSBT takes its signatures out of the
		// final witnesses, and the canonical PSBT then finalizes into the
		// same transaction.
		for _, name := range []string{"custos-proof.finalizepsbt.psbt.json", "../../electrum/custos-proof.finalized.psbt.b64"} {
			q := MustParse(t, proofRecording(t, name))
			_, err := CheckProof(q, d)
			var rerr *reserve.Error
			require.True(t, errors.As(err, &rerr), "%s: %v", name, err)
			require.Equal(t, reserve.CodeInvalid, rerr.Code, name)
			require.Equal(t, "input[0]", rerr.Field, name)
			require.ErrorContains(t, err, "already finalized", name)

			canonical := MustParse(t, raw)
			refs, err := CombinePSBT(canonical, q, d, 0)
			require.NoError(t, err, name)
			require.Len(t, refs, 2*len(ours.Inputs), name)
			tx, err := FinalizeProof(canonical, d)
			require.NoError(t, err, name)
			require.Equal(t, final.Hex, hex.EncodeToString(MustSerializeTx(t, tx)), name)
		}
	})

	t.Run("testmempoolaccept", func(t *testing.T) {
		// Refused for its version 0 (non-standard) before any input is
		// looked up; with -acceptnonstdtxn=1, for its missing inputs:
		// input 0 spends to_spend, which can never exist.
		for file, reason := range map[string]string{
			"custos-proof.testmempoolaccept.json":                 "version",
			"custos-proof.testmempoolaccept.acceptnonstdtxn.json": "missing-inputs",
		} {
			var got []coreMempoolAccept
			MustReadJSON(t, filepath.Join("core", "custos-proof", file), &got)
			require.Len(t, got, 1, file)
			require.False(t, got[0].Allowed, file)
			require.Equal(t, reason, got[0].RejectReason, file)
			require.Equal(t, ours.UnsignedTx.TxHash().String(), got[0].Txid, file)
		}
	})
}
