package proof

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// TestOwnership checks what a published descriptor shows: every coin's
// witness script is the descriptor's at its derivation, and the listed
// signers are exactly the cosigners whose keys signed every input.
func TestOwnership(t *testing.T) {
	ctx := context.Background()
	fx := newChainFixture(t)
	w := mustWallet(t)
	const msg = "Reserve audit 2025-06-30: challenge 7f3a"
	coins := fx.a[:3]
	byAB := func() *File { return w.mustProofFileBy(t, fx.c, 2, msg, coins, 0, 1) }
	byBC := func() *File { return w.mustProofFileBy(t, fx.c, 2, msg, coins, 1, 2) }
	other := mustOtherDescriptor(t)
	tests := []struct {
		name    string
		file    func() *File
		field   string
		substr  string
		checked bool
		signers []string
	}{
		{name: "A and B signed, listed", file: byAB, checked: true, signers: []string{fp(w.d, 0), fp(w.d, 1)}},
		{name: "B and C signed, listed", file: byBC, checked: true, signers: []string{fp(w.d, 1), fp(w.d, 2)}},
		{name: "B and C signed, A and B listed", file: func() *File {
			f := byBC()
			f.Signers = []Signer{{Fingerprint: fp(w.d, 0)}, {Fingerprint: fp(w.d, 1)}}
			return f
		}, field: "signers", substr: "the keys whose signatures the inputs carry are "},
		{name: "A and B signed, only A listed", file: func() *File {
			f := byAB()
			f.Signers = f.Signers[:1]
			return f
		}, field: "signers", substr: "the file lists " + fp(w.d, 0) + ", but"},
		{name: "all three signed, listed", file: func() *File {
			// The finalizer keeps two signatures per input, not the same
			// two on every input (here: all three keys show).
			return w.mustProofFileBy(t, fx.c, 2, msg, coins, 0, 1, 2)
		}, checked: true, signers: []string{fp(w.d, 0), fp(w.d, 1), fp(w.d, 2)}},
		{name: "descriptor withheld: signers unchecked", file: func() *File {
			f := byAB()
			f.Descriptor, f.Derivations = "", nil
			f.Signers = []Signer{{Fingerprint: "0badf00d"}}
			return f
		}, checked: false},
		{name: "a derivation naming another address", file: func() *File {
			f := byAB()
			f.Derivations[1].Index = 7
			return f
		}, field: "input[2]", substr: "the witness script is not the descriptor's at 0/7"},
		{name: "a derivation on the change branch", file: func() *File {
			f := byAB()
			f.Derivations[0].Branch = 1
			return f
		}, field: "input[1]", substr: "not the descriptor's at 1/1"},
		{name: "derivations one short", file: func() *File {
			f := byAB()
			f.Derivations = f.Derivations[:2]
			return f
		}, field: "derivations", substr: "2, one per coin wanted (3)"},
		{name: "another wallet's descriptor", file: func() *File {
			f := byAB()
			f.Descriptor = other.String()
			return f
		}, field: "challenge_address", substr: "is not the descriptor's receive address 0"},
		{name: "one input signed by an unlisted key", file: func() *File {
			// The same unsigned proof signed twice: input 2's witness
			// from the B+C signing is as valid as the A+B one, and C's
			// key shows there.
			f, g := byAB(), byBC()
			f.Tx.TxIn[2].Witness = g.Tx.TxIn[2].Witness
			return f
		}, field: "signers", substr: "the keys whose signatures the inputs carry are " + fp(w.d, 0) + ", " + fp(w.d, 1) + ", " + fp(w.d, 2)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Verify(ctx, tc.file(), fx.c, Options{})
			if tc.field != "" {
				requireInvalid(t, err, tc.field, tc.substr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.checked, r.Ownership.Checked)
			require.Equal(t, tc.signers, r.Ownership.Signers)
		})
	}
}

// TestWitnessSigners reads who signed from the final witnesses: the
// cosigners whose signatures the finalizer kept.
func TestWitnessSigners(t *testing.T) {
	fx := newChainFixture(t)
	w := mustWallet(t)
	for _, tc := range []struct {
		name    string
		signed  []int
		signers []string
	}{
		{name: "A and B", signed: []int{0, 1}, signers: []string{fp(w.d, 0), fp(w.d, 1)}},
		{name: "A and C", signed: []int{0, 2}, signers: []string{fp(w.d, 0), fp(w.d, 2)}},
		{name: "all three signed", signed: []int{0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := w.mustProofFileBy(t, fx.c, 2, "Reserve audit", fx.a[:2], tc.signed...)
			got, err := WitnessSigners(f)
			require.NoError(t, err)
			var fps []string
			for _, s := range got {
				fps = append(fps, s.Fingerprint)
			}
			if tc.signers != nil {
				require.Equal(t, tc.signers, fps)
			} else {
				require.GreaterOrEqual(t, len(fps), 2, "each input carries m = 2 signatures")
			}
			f.Signers = got
			_, err = Verify(context.Background(), f, fx.c, Options{})
			require.NoError(t, err)
		})
	}
}

// mustOtherDescriptor is a 2-of-3 regtest wallet of other seeds.
func mustOtherDescriptor(tb testing.TB) *multisig.Descriptor {
	tb.Helper()
	var cs []reserve.Cosigner
	for _, label := range []string{"X", "Y", "Z"} {
		seed := sha256.Sum256([]byte("custos proof other wallet: " + label))
		c, xprv, err := multisig.DeriveAccount(seed[:], reserve.Regtest, 0)
		require.NoError(tb, err)
		xprv.Zero()
		cs = append(cs, c)
	}
	d, err := multisig.NewDescriptor(reserve.Regtest, 2, cs)
	require.NoError(tb, err)
	return d
}
