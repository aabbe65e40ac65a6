package signer_test

import (
	"bytes"
	"encoding/base64"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// FuzzSignerParse feeds arbitrary bytes through what `custos-signer sign`
// does with a file: parse, Analyze against a fixed pinned wallet, then
// Sign with the pinned policy and a ledger. It must never panic, never
// sign a PSBT that Analyze refused, never change a PSBT it refuses, and
// whenever it signs, the signature must mean what the officers approved
// (requireSignedAsApproved, checked without the signer's code).
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
		// Each input against a ledger of its own: what one iteration
		// signed must not decide the next one's outcome.
		rules := freshRules(t, w)
		s, n, err := signer.Sign(p, us.pinned, us.key, rules)
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
		requireSignedAsApproved(t, p, w.desc, rules.Limits)
	})
}

// requireSignedAsApproved checks, from the PSBT and the pinned descriptor
// alone and without the signer's own code, what a signature must mean:
// the outputs are exactly the intent's payees, each paid once, plus change
// whose script re-derives from the descriptor's change branch; the fee,
// summed from the inputs' previous transactions, is within the intent's
// cap and the signer's ceilings.
func requireSignedAsApproved(t *testing.T, p *psbt.Packet, d *multisig.Descriptor, lim signer.Limits) {
	t.Helper()
	in, _, err := multisig.ReadApprovals(p)
	if err != nil || in == nil {
		t.Fatalf("signed a PSBT without a readable intent: %v", err)
	}
	payees := slices.Clone(in.Payees)
	scripts := make([][]byte, len(p.UnsignedTx.TxOut))
	var outSat int64
	for k, out := range p.UnsignedTx.TxOut {
		scripts[k] = out.PkScript
		outSat += out.Value
		if j := slices.IndexFunc(payees, func(py reserve.IntentPayee) bool {
			return py.AmountSat == out.Value && bytes.Equal(py.Script, out.PkScript)
		}); j >= 0 {
			payees = slices.Delete(payees, j, j+1)
			continue
		}
		if !isChange(t, d, p.Outputs[k], out.PkScript) {
			t.Fatalf("signed output[%d] (%d sat to %x), neither an approved payee nor the wallet's change", k, out.Value, out.PkScript)
		}
	}
	if len(payees) != 0 {
		t.Fatalf("signed a transaction that does not pay %d of the intent's payees", len(payees))
	}
	var inSat int64
	for i, txIn := range p.UnsignedTx.TxIn {
		prev := p.Inputs[i].NonWitnessUtxo
		op := txIn.PreviousOutPoint
		if prev == nil || prev.TxHash() != op.Hash || int(op.Index) >= len(prev.TxOut) {
			t.Fatalf("signed input[%d] without its previous transaction", i)
		}
		inSat += prev.TxOut[op.Index].Value
	}
	fee := inSat - outSat
	maxFee, maxRate := lim.MaxFeeSat, lim.MaxFeeRate
	if maxFee == 0 {
		maxFee = signer.DefaultMaxFeeSat
	}
	if maxRate == 0 {
		maxRate = signer.DefaultMaxFeeRate
	}
	vsize := multisig.EstimateVSize(d.Threshold(), len(d.Cosigners()), len(p.UnsignedTx.TxIn), scripts)
	switch {
	case fee <= 0:
		t.Fatalf("signed a transaction with fee %d sat", fee)
	case fee > in.FeeCapSat:
		t.Fatalf("signed fee %d sat over the approved cap %d sat", fee, in.FeeCapSat)
	case fee > maxFee || fee > maxRate*vsize:
		t.Fatalf("signed fee %d sat (%d vB) over the signer's ceilings %d sat, %d sat/vB", fee, vsize, maxFee, maxRate)
	}
}

// isChange reports whether an output's script is the descriptor's change
// script at the change index its derivations name.
func isChange(t *testing.T, d *multisig.Descriptor, out psbt.POutput, script []byte) bool {
	for _, e := range out.Bip32Derivation {
		if len(e.Bip32Path) < 2 || e.Bip32Path[len(e.Bip32Path)-2] != uint32(reserve.BranchChange) {
			continue
		}
		der, err := d.Derive(reserve.BranchChange, e.Bip32Path[len(e.Bip32Path)-1])
		if err == nil && bytes.Equal(der.PkScript, script) {
			return true
		}
	}
	return false
}
