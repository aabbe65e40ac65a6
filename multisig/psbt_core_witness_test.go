package multisig

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/audit"
)

// rawField is one key-value record of a PSBT map, as bytes.
type rawField struct {
	Key, Value []byte
}

// custosFields are the Custos records of the global map of the PSBT b
// (binary or base64), in file order, read from the bytes (not through
// btcd's parser, so nothing is normalized on the way).
func custosFields(tb testing.TB, b []byte) []rawField {
	tb.Helper()
	raw := b
	if !bytes.HasPrefix(b, []byte("psbt\xff")) {
		var err error
		raw, err = base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
		require.NoError(tb, err)
	}
	var out []rawField
	for _, kv := range parseRawMaps(tb, raw)[0] {
		if bytes.HasPrefix(kv.key, custosPrefix) {
			out = append(out, rawField{kv.key, kv.value})
		}
	}
	return out
}

// coreProprietary is one entry of decodepsbt's "proprietary" array.
type coreProprietary struct {
	Identifier string `json:"identifier"`
	Subtype    int    `json:"subtype"`
	Key        string `json:"key"`
	Value      string `json:"value"`
}

// coreWitnessDecoded is what the witness tests read of a decodepsbt.
type coreWitnessDecoded struct {
	Proprietary []coreProprietary `json:"proprietary"`
	Unknown     map[string]string `json:"unknown"`
}

// wantCustosFields is the Custos records MustCustosWitnessSpend writes,
// built from what it put in (not from the PSBT): the intent, the
// approvals by officer key, the checkpoint, the proofs and the
// cosignatures by fingerprint.
func wantCustosFields(tb testing.TB, f witnessFixture) []rawField {
	tb.Helper()
	enc, err := f.Intent.Encode()
	require.NoError(tb, err)
	want := []rawField{{proprietaryKey(PropIntent, nil), enc}}
	for _, a := range f.Approvals {
		want = append(want, rawField{proprietaryKey(PropApproval, a.OfficerKey[:]), a.Signature[:]})
	}
	want = append(want, rawField{proprietaryKey(PropCheckpoint, nil), f.Witness.Checkpoint})
	for _, fp := range []uint32{0x73c5da0a, 0xb8688df1} {
		want = append(want, rawField{proprietaryKey(PropWitnessProof, fingerprintKey(fp)), f.Witness.Proofs[fp]})
	}
	for _, fp := range []uint32{0x28645006, 0x73c5da0a} {
		want = append(want, rawField{proprietaryKey(PropCosignature, fingerprintKey(fp)), f.Witness.Cosignatures[fp]})
	}
	return want
}

// witnessRecording reads a recorded PSBT: a .b64 file (Electrum's, or
// what bitcoin-cli printed for combinepsbt) or the "psbt" of a recorded
// bitcoin-cli JSON answer.
func witnessRecording(tb testing.TB, name string) []byte {
	tb.Helper()
	if filepath.Ext(name) == ".json" {
		var r coreRPC
		MustReadJSON(tb, filepath.Join("core", "custos-witness", name), &r)
		require.NotEmpty(tb, r.PSBT, name)
		return []byte(r.PSBT)
	}
	b, err := os.ReadFile(filepath.Join(witnessDir, name))
	require.NoError(tb, err)
	return bytes.TrimSpace(b)
}

// TestCoreWitnessFields checks the Custos fields (0x00 intent, 0x01
// approvals, 0x02 checkpoint, 0x03 consistency proofs, 0x04
// cosignatures) against what Bitcoin Core v31.99 and Electrum 4.3.4 did
// with them (testdata/core/custos-witness/README.md,
// testdata/electrum/README.md): Core's decodepsbt shows each one as a
// BIP-174 proprietary field with Custos's identifier, subtype, key and
// value bytes, in Custos's order; every PSBT Core or Electrum wrote back
// (processed by a watch-only and by a signing wallet, signed, combined,
// finalized) carries them byte for byte, in the same order; and
// ReadApprovals and ReadWitness read from each what Custos wrote, the
// cosignatures still verifying under the log key.
func TestCoreWitnessFields(t *testing.T) {
	d := MustCoreWallet(t)
	p, f := MustCustosWitnessSpend(t, d)
	raw := MustSerialize(t, p)
	want := wantCustosFields(t, f)
	require.Equal(t, want, custosFields(t, raw), "what Custos writes")

	t.Run("decodepsbt", func(t *testing.T) {
		for _, name := range []string{
			"custos-witness.decodepsbt.json",
			"custos-witness.signed-abandon.decodepsbt.json",
			"custos-witness.combined.decodepsbt.json",
			"custos-witness.finalized.decodepsbt.json",
		} {
			var got coreWitnessDecoded
			MustReadJSON(t, filepath.Join("core", "custos-witness", name), &got)
			require.Empty(t, got.Unknown, "%s: Core reads no Custos field as an unknown one", name)
			require.Len(t, got.Proprietary, len(want), name)
			for i, w := range want {
				require.Equal(t, coreProprietary{
					Identifier: hex.EncodeToString([]byte(ProprietaryID)),
					Subtype:    int(w.Key[len(custosPrefix)]),
					Key:        hex.EncodeToString(w.Key),
					Value:      hex.EncodeToString(w.Value),
				}, got.Proprietary[i], "%s: proprietary[%d]", name, i)
			}
		}
	})

	t.Run("written back", func(t *testing.T) {
		// Core hands the PSBT back unchanged when it adds nothing.
		require.Equal(t, string(witnessRecording(t, "custos-witness.psbt.b64")), b64(raw))
		require.Equal(t, b64(raw), string(witnessRecording(t, "custos-witness.walletprocesspsbt.json")), "watch-only walletprocesspsbt")
		require.Equal(t, b64(raw), string(witnessRecording(t, "custos-witness.combinepsbt-self.b64")), "combinepsbt of it with itself")

		for _, name := range []string{
			"custos-witness.walletprocesspsbt.signer.json",
			"custos-witness.signed-abandon.json",
			"custos-witness.signed-legal.json",
			"custos-witness.combinepsbt.b64",
			"custos-witness.finalizepsbt.psbt.json",
			"../../electrum/custos-witness.signed-abandon.psbt.b64",
			"../../electrum/custos-witness.finalized.psbt.b64",
		} {
			b := witnessRecording(t, name)
			require.Equal(t, want, custosFields(t, b), "%s: the Custos fields, byte for byte and in order", name)
			q := MustParse(t, b)
			in, approvals, err := ReadApprovals(q)
			require.NoError(t, err, name)
			require.Equal(t, f.Intent, *in, name)
			require.Equal(t, f.Approvals, approvals, name)
			w, err := ReadWitness(q)
			require.NoError(t, err, name)
			require.Equal(t, f.Witness, w, name)
			requireCosignaturesOpen(t, f, w)
		}
	})

	t.Run("signatures", func(t *testing.T) {
		// The fields change nothing in signing: Core's combined PSBT
		// gives Custos the two signatures, and the transaction is the
		// one Core finalized, which is also the one of the plain export
		// (custos-export.finalized.json): signing is deterministic.
		abandon, legal := d.cosignerByFingerprint(t, 0x73c5da0a), d.cosignerByFingerprint(t, 0xb8688df1)
		for _, name := range []string{"custos-witness.combinepsbt.b64", "../../electrum/custos-witness.finalized.psbt.b64"} {
			canonical := MustParse(t, raw)
			refs, err := CombinePSBT(canonical, MustParse(t, witnessRecording(t, name)), d, 0)
			require.NoError(t, err, name)
			wantRefs := []SigRef{{Input: 0, Cosigner: abandon}, {Input: 0, Cosigner: legal}}
			if abandon > legal {
				wantRefs[0], wantRefs[1] = wantRefs[1], wantRefs[0]
			}
			require.Equal(t, wantRefs, refs, name)
			tx, err := FinalizePSBT(canonical, d)
			require.NoError(t, err)
			RequireVerifies(t, tx, canonical)
			var final, plain coreRPC
			MustReadJSON(t, "core/custos-witness/custos-witness.finalizepsbt.json", &final)
			MustReadJSON(t, "core/custos-export/custos-export.finalized.json", &plain)
			require.True(t, final.Complete)
			require.Equal(t, final.Hex, hex.EncodeToString(MustSerializeTx(t, tx)), name)
			require.Equal(t, plain.Hex, final.Hex)
		}
	})
}

// requireCosignaturesOpen checks that each cosignature of w verifies under
// f's log key and its cosigner's witness key, over w's checkpoint.
func requireCosignaturesOpen(t *testing.T, f witnessFixture, w Witness) {
	t.Helper()
	logV, err := audit.ParseLogKey(f.LogKey)
	require.NoError(t, err)
	cp, err := audit.OpenCheckpoint(w.Checkpoint, logV)
	require.NoError(t, err)
	require.Len(t, w.Cosignatures, 2)
	for fp, value := range w.Cosignatures {
		c, err := audit.ParseCosignature(fp, value)
		require.NoError(t, err)
		require.Equal(t, f.WitnessKeys[fp], c.Key)
		got, err := audit.OpenCosignature(c, logV)
		require.NoError(t, err)
		require.Equal(t, cp, got)
	}
}

// b64 is a PSBT's base64 text.
func b64(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }
