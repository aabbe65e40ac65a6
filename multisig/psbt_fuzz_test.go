package multisig

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// psbtFuzzSeeds are the golden PSBT, unsigned, signed by one cosigner, by
// two, and by Bitcoin Core, in binary and base64, for the fuzzers to
// mutate.
func psbtFuzzSeeds(f *testing.F) (w *psbtWallet, unsigned, signedA, signedAB []byte) {
	f.Helper()
	w = MustPSBTWallet(f, "golden", 2, 3)
	unsigned = MustGoldenPSBT(f)
	p := MustParse(f, unsigned)
	a := w.MustSigned(f, p, 0)
	signedA = MustSerialize(f, a)
	_, err := CombinePSBT(a, w.MustSigned(f, p, 1), w.d, 0)
	require.NoError(f, err)
	signedAB = MustSerialize(f, a)
	var core coreVector
	MustReadJSON(f, "psbt_2of3_core.json", &core)
	coreSigned, err := base64.StdEncoding.DecodeString(core.Signed)
	require.NoError(f, err)
	for _, b := range [][]byte{unsigned, signedA, signedAB, coreSigned} {
		f.Add(b)
		f.Add([]byte(base64.StdEncoding.EncodeToString(b)))
	}
	return w, unsigned, signedA, signedAB
}

// FuzzParsePSBT checks that ParsePSBT never panics, refuses only with
// CodeInvalid, and that what it accepts serializes to a PSBT that parses
// back to the same packet and the same bytes.
func FuzzParsePSBT(f *testing.F) {
	psbtFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePSBT(b)
		if err != nil {
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "error %q", err)
			return
		}
		first, err := SerializePSBT(p)
		require.NoError(t, err)
		back, err := ParsePSBT(first)
		require.NoError(t, err, "re-parsing the serialization")
		again, err := SerializePSBT(back)
		require.NoError(t, err)
		require.Equal(t, first, again)
		require.Equal(t, p, back)
	})
}

// FuzzAnalyze checks that Analyze, and the roles that follow it, never
// panic on any PSBT ParsePSBT accepts, and that what Analyze accepts adds
// up.
func FuzzAnalyze(f *testing.F) {
	w, _, _, _ := psbtFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePSBT(b)
		if err != nil {
			return
		}
		Signers(p, w.d)
		a, err := Analyze(p, w.d)
		if err != nil {
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "error %q", err)
			if _, err := FinalizePSBT(p, w.d); err != nil {
				require.NotEqual(t, reserve.CodeInternal, reserve.CodeOf(err), "error %q", err)
			}
			return
		}
		require.Len(t, a.Inputs, len(p.UnsignedTx.TxIn))
		require.Len(t, p.UnsignedTx.TxOut, len(a.Payees)+len(a.Change))
		require.Positive(t, a.FeeSat)
		require.Equal(t, a.InputSat-a.OutputSat, a.FeeSat)
		for _, c := range a.Change {
			der, err := w.d.Derive(reserve.BranchChange, c.ChangeIndex)
			require.NoError(t, err)
			require.Equal(t, der.PkScript, c.Script)
		}
		_, err = SignPSBT(p, w.d, w.xprvs[2])
		require.NoError(t, err)
	})
}

// FuzzCombinePSBT imports mutated returned PSBTs into the fixed canonical
// one: CombinePSBT must never panic, must leave canonical unchanged when
// it refuses, and every signature it accepts must pass btcd's script
// engine once enough are in.
func FuzzCombinePSBT(f *testing.F) {
	w, unsigned, signedA, _ := psbtFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		incoming, err := ParsePSBT(b)
		if err != nil {
			return
		}
		canonical := MustParse(t, unsigned)
		refs, err := CombinePSBT(canonical, incoming, w.d, 0)
		if err != nil {
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "error %q", err)
			require.Equal(t, unsigned, MustSerialize(t, canonical), "canonical changed")
			return
		}
		// Add the one genuine signer's signatures, then finalize if two
		// keys signed every input.
		_, err = CombinePSBT(canonical, MustParse(t, signedA), w.d, 0)
		require.NoError(t, err)
		for _, n := range Signers(canonical, w.d) {
			require.LessOrEqual(t, n, len(canonical.Inputs))
		}
		tx, err := FinalizePSBT(canonical, w.d)
		if err != nil {
			require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err), "error %q", err)
			return
		}
		require.NotNil(t, refs)
		RequireVerifies(t, tx, canonical)
	})
}
