package multisig

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// finalizedBy is a copy of p signed by cosigners and finalized, as a
// co-signer that finalizes once it sees the threshold returns it (Electrum,
// Core's walletprocesspsbt with finalize): final witnesses, no partial
// signatures.
func (w *psbtWallet) finalizedBy(tb testing.TB, p *psbt.Packet, cosigners ...int) *psbt.Packet {
	tb.Helper()
	cp := MustCopy(tb, p)
	for _, c := range cosigners {
		_, err := SignPSBT(cp, w.d, w.xprvs[c])
		require.NoError(tb, err)
	}
	_, err := FinalizePSBT(cp, w.d)
	require.NoError(tb, err)
	out := MustCopy(tb, cp)
	for _, in := range out.Inputs {
		require.NotNil(tb, in.FinalScriptWitness)
		require.Empty(tb, in.PartialSigs)
	}
	return out
}

// TestCombineFinalWitness checks that signatures inside final witnesses
// are taken, verified and attributed like partial signatures, and that a
// witness that is not the wallet's spend is refused with canonical
// unchanged.
func TestCombineFinalWitness(t *testing.T) {
	w := MustPSBTWallet(t, "combine final", 2, 3)
	created := w.MustStandardSpend(t)
	final01 := w.finalizedBy(t, created, 0, 1)
	final12 := w.finalizedBy(t, created, 2, 1)

	t.Run("complete witnesses finalize the proposal", func(t *testing.T) {
		for _, tt := range []struct {
			name      string
			incoming  *psbt.Packet
			cosigners []int
		}{
			{"cosigners 0 and 1", final01, []int{0, 1}},
			{"cosigners 1 and 2", final12, []int{1, 2}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				canonical := MustCopy(t, created)
				refs, err := CombinePSBT(canonical, MustCopy(t, tt.incoming), w.d, 0)
				require.NoError(t, err)
				var want []SigRef
				for i := range canonical.Inputs {
					for _, c := range tt.cosigners {
						want = append(want, SigRef{Input: i, Cosigner: c})
					}
				}
				require.Equal(t, want, refs)
				p := MustParse(t, MustSerialize(t, canonical))
				tx, err := FinalizePSBT(p, w.d)
				require.NoError(t, err)
				RequireVerifies(t, tx, p)
			})
		}
	})
	t.Run("a witness beside signatures already held adds the rest", func(t *testing.T) {
		canonical := MustCopy(t, created)
		_, err := CombinePSBT(canonical, w.MustSigned(t, created, 1), w.d, 0)
		require.NoError(t, err)
		refs, err := CombinePSBT(canonical, MustCopy(t, final01), w.d, 0)
		require.NoError(t, err)
		require.Equal(t, []SigRef{{0, 0}, {1, 0}}, refs)
		refs, err = CombinePSBT(canonical, MustCopy(t, final01), w.d, 0)
		require.NoError(t, err)
		require.Empty(t, refs, "a repeat adds nothing")
	})
	t.Run("one input finalized, the other with a partial signature", func(t *testing.T) {
		mixed := MustCopy(t, final01)
		signed := w.MustSigned(t, created, 2)
		mixed.Inputs[1] = signed.Inputs[1]
		canonical := MustCopy(t, created)
		refs, err := CombinePSBT(canonical, MustParse(t, MustSerialize(t, mixed)), w.d, 0)
		require.NoError(t, err)
		require.Equal(t, []SigRef{{0, 0}, {0, 1}, {1, 2}}, refs)
	})

	// witness edits input 0's final witness of a copy of final01.
	witness := func(edit func(wit wire.TxWitness) wire.TxWitness) func(t *testing.T, p *psbt.Packet) {
		return func(t *testing.T, p *psbt.Packet) {
			wit, err := parseWitness(p.Inputs[0].FinalScriptWitness)
			require.NoError(t, err)
			p.Inputs[0].FinalScriptWitness = mustWitnessBytes(t, edit(wit))
		}
	}
	other := w.MustDerived(t, reserve.BranchReceive, 99)
	tests := []struct {
		name   string
		tamper func(t *testing.T, p *psbt.Packet)
		field  string
		msg    string
		cause  error
	}{
		{name: "the exported PSBT, no signature at all", field: "psbt", msg: "carries no signatures",
			cause: ErrNoSignatures, tamper: func(t *testing.T, p *psbt.Packet) { *p = *MustCopy(t, created) }},
		{name: "signatures in the wrong order", field: "input[0]", msg: "verifies under no key of the witness_script in OP_CHECKMULTISIG order",
			tamper: witness(func(wit wire.TxWitness) wire.TxWitness { wit[1], wit[2] = wit[2], wit[1]; return wit })},
		{name: "a signature that does not verify", field: "input[0]", msg: "final witness signature 2 verifies under no key",
			tamper: witness(func(wit wire.TxWitness) wire.TxWitness { wit[2] = flipR(wit[2]); return wit })},
		{name: "the same signature twice", field: "input[0]", msg: "final witness signature 2 verifies under no key",
			tamper: witness(func(wit wire.TxWitness) wire.TxWitness { wit[2] = slices.Clone(wit[1]); return wit })},
		{name: "one signature short", field: "input[0]", msg: "final witness has 3 items; a 2-of-3 P2WSH spend has 4",
			tamper: witness(func(wit wire.TxWitness) wire.TxWitness { return slices.Delete(wit, 2, 3) })},
		{name: "no empty first item", field: "input[0]", msg: "does not start with the empty item",
			tamper: witness(func(wit wire.TxWitness) wire.TxWitness { wit[0] = []byte{1}; return wit })},
		{name: "another script", field: "input[0]", msg: "not the input's witness_script",
			tamper: witness(func(wit wire.TxWitness) wire.TxWitness { wit[3] = other.WitnessScript; return wit })},
		{name: "sighash NONE", field: "input[0]", msg: "final witness signature 1 has sighash type NONE",
			tamper: witness(func(wit wire.TxWitness) wire.TxWitness { wit[1][len(wit[1])-1] = 0x02; return wit })},
		{name: "not a witness", field: "input[0]", msg: "final_scriptwitness does not decode",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[0].FinalScriptWitness = []byte{0x05, 0x00} }},
		{name: "a final scriptSig", field: "input[1]", msg: "final scriptSig",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[1].FinalScriptWitness = nil
				p.Inputs[1].FinalScriptSig = []byte{0x00}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			canonical := MustCopy(t, created)
			before := MustSerialize(t, canonical)
			incoming := MustCopy(t, final01)
			tt.tamper(t, incoming)
			refs, err := CombinePSBT(canonical, incoming, w.d, 0)
			RequireCode(t, err, reserve.CodeInvalid, tt.field, tt.msg)
			if tt.cause != nil {
				require.True(t, errors.Is(err, tt.cause), "error %q does not wrap %v", err, tt.cause)
			}
			require.Nil(t, refs)
			require.Equal(t, before, MustSerialize(t, canonical), "canonical changed")
		})
	}
}

// mustWitnessBytes serializes a witness stack as PSBT_IN_FINAL_SCRIPTWITNESS
// holds it.
func mustWitnessBytes(tb testing.TB, wit wire.TxWitness) []byte {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, psbt.WriteTxWitness(&buf, wit))
	return buf.Bytes()
}

// TestTransactionSigners: the cosigners whose signatures are in the
// finalized transaction, not those whose signatures arrived after it.
func TestTransactionSigners(t *testing.T) {
	w := MustPSBTWallet(t, "transaction signers", 2, 3)
	created := w.MustStandardSpend(t)
	canonical := MustCopy(t, created)
	for _, c := range []int{2, 0} {
		_, err := CombinePSBT(canonical, w.MustSigned(t, created, c), w.d, 0)
		require.NoError(t, err)
	}
	tx, err := FinalizePSBT(MustCopy(t, canonical), w.d)
	require.NoError(t, err)
	require.Equal(t, []bool{true, false, true}, TransactionSigners(canonical, tx, w.d))

	// A late signature is kept as evidence, never counted as in it.
	_, err = CombinePSBT(canonical, w.MustSigned(t, created, 1), w.d, 0)
	require.NoError(t, err)
	require.Equal(t, []int{2, 2, 2}, Signers(canonical, w.d))
	require.Equal(t, []bool{true, false, true}, TransactionSigners(canonical, tx, w.d))

	// Another transaction, or none, names nobody.
	other := tx.Copy()
	other.LockTime++
	require.Equal(t, []bool{false, false, false}, TransactionSigners(canonical, other, w.d))
	require.Equal(t, []bool{false, false, false}, TransactionSigners(canonical, nil, w.d))
}
