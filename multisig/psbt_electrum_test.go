package multisig

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestElectrumInterop reads what Electrum 4.3.4 wrote when it signed
// Bitcoin Core's PSBT for the known 2-of-3 (testdata/electrum/README.md):
// its derivation records are the wallet's (standard fingerprint order), its
// partial signature is accepted and attributed to the abandon…about key,
// and the signatures of the input it finalized are taken out of the final
// witness. The transaction Custos finalizes from them passes btcd's script
// engine.
func TestElectrumInterop(t *testing.T) {
	d := MustCoreWallet(t)
	core := MustCorePSBT(t, "core-made.psbt.b64")
	abandon := d.cosignerByFingerprint(t, 0x73c5da0a)
	legal := d.cosignerByFingerprint(t, 0xb8688df1)

	t.Run("partial signature", func(t *testing.T) {
		signed := MustCorePSBT(t, "../electrum/core-made.signed-abandon.psbt.b64")
		require.Len(t, signed.Inputs[0].PartialSigs, 1)
		unsigned := MustCopy(t, signed)
		unsigned.Inputs[0].PartialSigs = nil
		a, err := Analyze(unsigned, d)
		require.NoError(t, err, "Electrum's records, as Analyze sees them")
		require.Len(t, a.Change, 1)

		canonical := MustCopy(t, core)
		refs, err := CombinePSBT(canonical, signed, d, 0)
		require.NoError(t, err)
		require.Equal(t, []SigRef{{Input: 0, Cosigner: abandon}}, refs)
	})
	t.Run("finalized by the second signer", func(t *testing.T) {
		final := MustCorePSBT(t, "../electrum/core-made.finalized.psbt.b64")
		require.NotNil(t, final.Inputs[0].FinalScriptWitness)
		require.Empty(t, final.Inputs[0].PartialSigs)

		canonical := MustCopy(t, core)
		refs, err := CombinePSBT(canonical, final, d, 0)
		require.NoError(t, err)
		want := []SigRef{{Input: 0, Cosigner: abandon}, {Input: 0, Cosigner: legal}}
		if abandon > legal {
			want[0], want[1] = want[1], want[0]
		}
		require.Equal(t, want, refs)
		p := MustCopy(t, canonical)
		tx, err := FinalizePSBT(p, d)
		require.NoError(t, err)
		RequireVerifies(t, tx, p)
		// The witness Custos builds is Electrum's, item for item.
		require.Equal(t, final.Inputs[0].FinalScriptWitness, mustWitnessBytes(t, tx.TxIn[0].Witness))
	})
}

// cosignerByFingerprint is the position of the cosigner whose key record
// has fingerprint fp.
func (d *Descriptor) cosignerByFingerprint(tb testing.TB, fp uint32) int {
	tb.Helper()
	for c, cs := range d.cosigners {
		if cs.Fingerprint == fp {
			return c
		}
	}
	tb.Fatalf("no cosigner %08x", fp)
	return -1
}
