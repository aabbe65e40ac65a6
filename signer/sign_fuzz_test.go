package signer_test

import (
	"encoding/base64"
	"testing"

	"github.com/btcsuite/btcd/txscript"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/signer"
)

// FuzzSignerParse feeds arbitrary bytes through what `custos-signer sign`
// does with a file: parse, Analyze against a fixed pinned wallet, then
// Sign with the pinned policy and a ledger. It must never panic, never
// sign a PSBT that Analyze refused, and never change a PSBT it refuses.
func FuzzSignerParse(f *testing.F) {
	w := newWalletFixture(f)
	sp := newSpend(f, w.desc)
	valid := MustSerialize(f, w.approved(f, sp, normalFee))
	f.Add(valid)
	f.Add([]byte(base64.StdEncoding.EncodeToString(valid)))
	signed := w.approved(f, sp, normalFee)
	_, _, err := signer.Sign(signed, w.m[1].pinned, w.m[1].key, w.m[1].rules)
	require.NoError(f, err)
	f.Add(MustSerialize(f, signed))
	bad := w.approved(f, sp, normalFee)
	bad.Inputs[1].SighashType = txscript.SigHashNone
	f.Add(MustSerialize(f, bad))
	f.Add(valid[:len(valid)/2])
	f.Add([]byte("psbt\xff"))

	us := w.us()
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := multisig.ParsePSBT(data)
		if err != nil {
			return
		}
		before, err := multisig.SerializePSBT(p)
		if err != nil {
			return
		}
		_, analyzeErr := multisig.Analyze(p, w.desc)
		s, n, err := signer.Sign(p, us.pinned, us.key, us.rules)
		if analyzeErr != nil || err != nil {
			if err == nil {
				t.Fatalf("signed %d inputs of a PSBT that Analyze refused: %v", n, analyzeErr)
			}
			if n != 0 || s.TxID != ([32]byte{}) {
				t.Fatalf("refused (%v) but reported %d signatures", err, n)
			}
			after, serr := multisig.SerializePSBT(p)
			if serr != nil || string(after) != string(before) {
				t.Fatalf("refused (%v) but changed the PSBT", err)
			}
			return
		}
		if n > len(p.Inputs) {
			t.Fatalf("%d signatures for %d inputs", n, len(p.Inputs))
		}
	})
}
