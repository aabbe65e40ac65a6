package multisig

import (
	"fmt"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// TestAnalyze checks what Analyze reports of the standard spend.
func TestAnalyze(t *testing.T) {
	w := MustPSBTWallet(t, "analyze", 2, 3)
	p := w.MustStandardSpend(t)
	before := MustSerialize(t, p)
	a, err := Analyze(p, w.d)
	require.NoError(t, err)
	require.Equal(t, before, MustSerialize(t, p), "Analyze changed the PSBT")

	change := w.MustDerived(t, reserve.BranchChange, 7)
	payee := psbtPayee("treasury bill")
	require.Equal(t, []InputInfo{
		{OutPoint: p.UnsignedTx.TxIn[0].PreviousOutPoint, AmountSat: 1_000_000, Branch: reserve.BranchReceive, Index: 0},
		{OutPoint: p.UnsignedTx.TxIn[1].PreviousOutPoint, AmountSat: 2_500_000, Branch: reserve.BranchChange, Index: 3},
	}, a.Inputs)
	require.Equal(t, []OutputInfo{{Vout: 0, Address: scriptAddress(payee, w.d.params), Script: payee, AmountSat: 1_200_000}}, a.Payees)
	require.Equal(t, []OutputInfo{{Vout: 1, Address: change.Address, Script: change.PkScript, AmountSat: 2_290_000, IsChange: true, ChangeIndex: 7}}, a.Change)
	require.NotEmpty(t, a.Payees[0].Address)
	require.Equal(t, int64(3_500_000), a.InputSat)
	require.Equal(t, int64(3_490_000), a.OutputSat)
	require.Equal(t, int64(10_000), a.FeeSat)
	vsize := EstimateVSize(2, 3, 2, [][]byte{payee, change.PkScript})
	require.Equal(t, vsize, a.VSize)
	require.Equal(t, 10_000*1000/vsize, a.FeeRateMilli)

	// The signers get the same answer from their own parsed copy.
	b, err := Analyze(MustCopy(t, p), w.d)
	require.NoError(t, err)
	require.Equal(t, a, b)
}

// TestAnalyzeRefusals tampers with one thing per row and checks the
// refusal: code, field and reason.
func TestAnalyzeRefusals(t *testing.T) {
	w := MustPSBTWallet(t, "analyze", 2, 3)
	other := MustPSBTWallet(t, "analyze other", 2, 3)
	otherSpend := other.MustStandardSpend(t)
	setPathStep := func(fromEnd int, f func(uint32) uint32) func(*testing.T, *psbt.Packet) {
		return func(t *testing.T, p *psbt.Packet) {
			for _, e := range p.Inputs[1].Bip32Derivation {
				e.Bip32Path[len(e.Bip32Path)-fromEnd] = f(e.Bip32Path[len(e.Bip32Path)-fromEnd])
			}
		}
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, p *psbt.Packet)
		psbt   *psbt.Packet // analyzed instead of the tampered standard spend
		field  string
		msg    string
	}{
		{name: "foreign input", field: "input[2]", msg: "is not from a cosigner of this wallet",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.UnsignedTx.AddTxIn(otherSpend.UnsignedTx.TxIn[0])
				p.Inputs = append(p.Inputs, otherSpend.Inputs[0])
			}},
		{name: "foreign input without derivations", field: "input[2]", msg: "has no BIP-32 derivations",
			tamper: func(t *testing.T, p *psbt.Packet) {
				in := otherSpend.Inputs[0]
				in.Bip32Derivation = nil
				p.UnsignedTx.AddTxIn(otherSpend.UnsignedTx.TxIn[0])
				p.Inputs = append(p.Inputs, in)
			}},
		{name: "PSBT of another wallet", psbt: otherSpend, field: "xpub[0]", msg: "this PSBT is for another wallet: its key ["},
		{name: "PSBT of another wallet without global xpubs", field: "input[0]", msg: "is not from a cosigner of this wallet",
			psbt: func() *psbt.Packet { p := MustCopy(t, otherSpend); p.XPubs = nil; return p }()},
		{name: "global xpub of another wallet", field: "xpub[1]", msg: "this PSBT is for another wallet: its key [",
			tamper: func(t *testing.T, p *psbt.Packet) { p.XPubs[1] = otherSpend.XPubs[1] }},
		{name: "global xpub with another origin", field: "xpub[0]", msg: "this PSBT is for another wallet: it is cosigner 1's key with the origin [",
			tamper: func(t *testing.T, p *psbt.Packet) { p.XPubs[0].MasterKeyFingerprint++ }},
		{name: "missing non_witness_utxo", field: "input[1]", msg: "non_witness_utxo is missing",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[1].NonWitnessUtxo = nil }},
		{name: "non_witness_utxo of another transaction", field: "input[1]", msg: "non_witness_utxo is transaction " + otherSpend.Inputs[0].NonWitnessUtxo.TxHash().String(),
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[1].NonWitnessUtxo = otherSpend.Inputs[0].NonWitnessUtxo }},
		{name: "witness_utxo amount differs from non_witness_utxo", field: "input[0]", msg: "witness_utxo amount 1000001 sat differs from the previous transaction's 1000000 sat",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[0].WitnessUtxo.Value++ }},
		{name: "witness_utxo script differs from non_witness_utxo", field: "input[0]", msg: "witness_utxo script differs",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[0].WitnessUtxo.PkScript = p.Inputs[1].WitnessUtxo.PkScript
			}},
		{name: "missing witness_utxo", field: "input[1]", msg: "witness_utxo is missing",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[1].WitnessUtxo = nil }},
		{name: "spent output does not exist", field: "input[0]", msg: "non_witness_utxo has 2 outputs, the input spends output 5",
			tamper: func(t *testing.T, p *psbt.Packet) { p.UnsignedTx.TxIn[0].PreviousOutPoint.Index = 5 }},
		{name: "missing witness_script", field: "input[0]", msg: "witness_script is missing",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[0].WitnessScript = nil }},
		{name: "witness_script of another address", field: "input[0]", msg: "witness_script is not the wallet's script at 0/0",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[0].WitnessScript = w.MustDerived(t, reserve.BranchReceive, 99).WitnessScript
			}},
		{name: "derivation path of branch 2", field: "input[1]", msg: "has branch 2 at m/48'/1'/0'/2'/2/3, want 0 (receive) or 1 (change)",
			tamper: setPathStep(2, func(uint32) uint32 { return 2 })},
		{name: "hardened branch", field: "input[1]", msg: "has branch 1'",
			tamper: setPathStep(2, h)},
		{name: "hardened index", field: "input[1]", msg: "has hardened index 3'",
			tamper: setPathStep(1, h)},
		{name: "derivations of another index", field: "input[1]", msg: "is not the wallet's key there",
			tamper: setPathStep(1, func(uint32) uint32 { return 4 })},
		{name: "cosigners disagree on the index", field: "input[1]", msg: "derivations disagree",
			tamper: func(t *testing.T, p *psbt.Packet) {
				e := p.Inputs[1].Bip32Derivation[2]
				e.Bip32Path[len(e.Bip32Path)-1]++
			}},
		{name: "cosigners disagree on the branch", field: "input[0]", msg: "derivations disagree",
			tamper: func(t *testing.T, p *psbt.Packet) {
				e := p.Inputs[0].Bip32Derivation[1]
				e.Bip32Path[len(e.Bip32Path)-2] = 1
			}},
		{name: "missing cosigner derivation", field: "input[1]", msg: "no derivation for cosigner[",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[1].Bip32Derivation = p.Inputs[1].Bip32Derivation[:2]
			}},
		{name: "derivation with a swapped key", field: "input[0]", msg: "is not the wallet's key there",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[0].Bip32Derivation[1].PubKey = otherSpend.Inputs[0].Bip32Derivation[1].PubKey
			}},
		{name: "derivation with a fingerprint of no cosigner", field: "input[0]", msg: "is not from a cosigner of this wallet",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[0].Bip32Derivation[0].MasterKeyFingerprint ^= 1 }},
		{name: "explicit sighash 0 built in memory", field: "input[1]", msg: "explicit sighash type 0 (SIGHASH_DEFAULT, taproot only) is not allowed, only ALL",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[1].SighashType = 0
				p.Inputs[1].Unknowns = append(p.Inputs[1].Unknowns, &psbt.Unknown{Key: []byte{0x03}, Value: make([]byte, 4)})
			}},
		{name: "second sighash type among the unknowns", field: "input[0]", msg: "sighash type field 03 = 01000000 beside the decoded one",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[0].Unknowns = append(p.Inputs[0].Unknowns, &psbt.Unknown{Key: []byte{0x03}, Value: le32(1)})
			}},
		{name: "sighash NONE", field: "input[0]", msg: "sighash type NONE (0x2) is not allowed, only ALL",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[0].SighashType = txscript.SigHashNone }},
		{name: "sighash SINGLE", field: "input[1]", msg: "sighash type SINGLE (0x3) is not allowed",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[1].SighashType = txscript.SigHashSingle }},
		{name: "sighash ALL|ANYONECANPAY", field: "input[0]", msg: "sighash type ALL|ANYONECANPAY (0x81) is not allowed",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[0].SighashType = txscript.SigHashAll | txscript.SigHashAnyOneCanPay
			}},
		{name: "sighash unknown", field: "input[0]", msg: "sighash type unknown(16)",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[0].SighashType = 0x10 }},
		{name: "duplicate input", field: "input[2]", msg: "as input[0] does",
			tamper: func(t *testing.T, p *psbt.Packet) {
				dup := *p.UnsignedTx.TxIn[0]
				p.UnsignedTx.AddTxIn(&dup)
				p.Inputs = append(p.Inputs, p.Inputs[0])
			}},
		{name: "outputs above inputs", field: "fee", msg: "outputs total 3500001 sat, inputs 3500000 sat: the fee would be -1 sat",
			tamper: func(t *testing.T, p *psbt.Packet) { p.UnsignedTx.TxOut[0].Value += 10_001 }},
		{name: "zero fee", field: "fee", msg: "the fee would be 0 sat",
			tamper: func(t *testing.T, p *psbt.Packet) { p.UnsignedTx.TxOut[1].Value += 10_000 }},
		{name: "negative output", field: "output[0]", msg: "amount -1 sat is out of range",
			tamper: func(t *testing.T, p *psbt.Packet) { p.UnsignedTx.TxOut[0].Value = -1 }},
		{name: "already finalized", field: "input[0]", msg: "already finalized",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[0].FinalScriptWitness = []byte{0} }},
		{name: "redeem script", field: "input[1]", msg: "redeem_script",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[1].RedeemScript = []byte{txscript.OP_TRUE} }},
		{name: "taproot field", field: "input[1]", msg: "taproot fields",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[1].TaprootInternalKey = make([]byte, 32) }},
		{name: "no outputs", field: "psbt", msg: "no outputs",
			tamper: func(t *testing.T, p *psbt.Packet) { p.UnsignedTx.TxOut, p.Outputs = nil, nil }},
		{name: "maps do not match the transaction", field: "psbt", msg: "3 input and 2 output maps",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs = append(p.Inputs, psbt.PInput{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.psbt
			if p == nil {
				p = MustCopy(t, w.MustStandardSpend(t))
				tt.tamper(t, p)
			}
			_, err := Analyze(p, w.d)
			RequireCode(t, err, reserve.CodeInvalid, tt.field, tt.msg)
		})
	}
	_, err := Analyze(nil, w.d)
	RequireCode(t, err, reserve.CodeInvalid, "psbt", "no PSBT")
	_, err = Analyze(w.MustStandardSpend(t), nil)
	RequireCode(t, err, reserve.CodeInvalid, "descriptor", "no descriptor")
}

// TestAnalyzeChange checks that only an output whose script the
// descriptor rebuilds on the change branch is change, that an output
// claiming the wallet's keys without being its change is refused (fake
// change, naming the output and the claim), and that anything else is a
// payee.
func TestAnalyzeChange(t *testing.T) {
	w := MustPSBTWallet(t, "analyze", 2, 3)
	other := MustPSBTWallet(t, "analyze other", 2, 3)
	change := w.MustDerived(t, reserve.BranchChange, 7)
	swapped := slices.Clone(change.PubKeys)
	swapped[2] = other.MustDerived(t, reserve.BranchChange, 7).PubKeys[2]
	swappedScript, err := sortedMultiScript(2, swapped)
	require.NoError(t, err)

	// onPayee puts on the payee (output[0]) a derivation of the change's
	// first key with cosigner c's master fingerprint (or a foreign one when
	// c < 0) at path; taproot makes it a taproot derivation.
	const h = hdkeychain.HardenedKeyStart
	onPayee := func(c int, taproot bool, path ...uint32) func(t *testing.T, p *psbt.Packet) {
		return func(t *testing.T, p *psbt.Packet) {
			fp := uint32(0xdeadbeef)
			if c >= 0 {
				fp = psbtFingerprint(w.d.cosigners[c].Fingerprint)
			}
			if taproot {
				p.Outputs[0].TaprootBip32Derivation = append(p.Outputs[0].TaprootBip32Derivation, &psbt.TaprootBip32Derivation{
					XOnlyPubKey: change.PubKeys[0][1:], MasterKeyFingerprint: fp, Bip32Path: path})
				return
			}
			p.Outputs[0].Bip32Derivation = append(p.Outputs[0].Bip32Derivation, &psbt.Bip32Derivation{
				PubKey: change.PubKeys[0], MasterKeyFingerprint: fp, Bip32Path: path})
		}
	}
	claim := func(c int, path string) string {
		return fmt.Sprintf("at %s with the master fingerprint %08x of this wallet's cosigner %d, but is not the wallet's change",
			path, w.d.cosigners[c].Fingerprint, c)
	}

	tests := []struct {
		name     string
		tamper   func(t *testing.T, p *psbt.Packet)
		isChange []bool // per output
		msg      string // a refusal of output[1] (output[0] when field0)
		field0   bool
	}{
		{name: "standard", tamper: func(*testing.T, *psbt.Packet) {}, isChange: []bool{false, true}},
		{name: "change without witness_script", isChange: []bool{false, true},
			tamper: func(t *testing.T, p *psbt.Packet) { p.Outputs[1].WitnessScript = nil }},
		{name: "fake change derivations on the payee", field0: true, msg: "carries BIP-32 derivations of this wallet's cosigners at m/48'/1'/0'/2'/1/7, but its script is not the wallet's change script there",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Outputs[0] = p.Outputs[1] }},
		{name: "change script with one key swapped", msg: "carries BIP-32 derivations of this wallet's cosigners at m/48'/1'/0'/2'/1/7, but its script is not the wallet's change script there",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.UnsignedTx.TxOut[1].PkScript = p2wsh(swappedScript)
				p.Outputs[1].WitnessScript = swappedScript
			}},
		{name: "matching derivations, another script", msg: "carries BIP-32 derivations of this wallet's cosigners at m/48'/1'/0'/2'/1/7, but its script is not the wallet's change script there",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.UnsignedTx.TxOut[1].PkScript = w.MustDerived(t, reserve.BranchChange, 8).PkScript
			}},
		{name: "wrong witness_script", msg: "carries BIP-32 derivations of this wallet's cosigners at m/48'/1'/0'/2'/1/7, but its script is not the wallet's change script there",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Outputs[1].WitnessScript = swappedScript }},
		{name: "partial derivations", msg: "carries BIP-32 derivations of this wallet's cosigners at m/48'/1'/0'/2'/1/7, but its script is not the wallet's change script there",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Outputs[1].Bip32Derivation = p.Outputs[1].Bip32Derivation[1:]
			}},
		{name: "derivation with a swapped key", msg: "carries BIP-32 derivations of this wallet's cosigners at m/48'/1'/0'/2'/1/7, but its script is not the wallet's change script there",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Outputs[1].Bip32Derivation[2].PubKey = swapped[2] }},
		{name: "receive-branch address with its derivations", msg: "carries BIP-32 derivations of this wallet's cosigners at m/48'/1'/0'/2'/0/7",
			tamper: func(t *testing.T, p *psbt.Packet) {
				recv := w.MustDerived(t, reserve.BranchReceive, 7)
				p.UnsignedTx.TxOut[1].PkScript = recv.PkScript
				p.Outputs[1].WitnessScript = recv.WitnessScript
				p.Outputs[1].Bip32Derivation = w.d.derivations(recv.PubKeys, keyPath{reserve.BranchReceive, 7})
			}},
		{name: "another wallet's change with its derivations", isChange: []bool{false, false},
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.UnsignedTx.TxOut[1].PkScript = other.MustDerived(t, reserve.BranchChange, 7).PkScript
				p.Outputs[1] = other.MustStandardSpend(t).Outputs[1]
				p.Outputs[1].WitnessScript = nil
			}},
		{name: "another wallet's change with its witness_script", msg: "carries a witness_script, but is not the wallet's change",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.UnsignedTx.TxOut[1].PkScript = other.MustDerived(t, reserve.BranchChange, 7).PkScript
				p.Outputs[1] = other.MustStandardSpend(t).Outputs[1]
			}},
		{name: "claimed change index 2^31-1", msg: "carries BIP-32 derivations of this wallet's cosigners at m/48'/1'/0'/2'/1/2147483647",
			tamper: func(t *testing.T, p *psbt.Packet) {
				for _, e := range p.Outputs[1].Bip32Derivation {
					e.Bip32Path[len(e.Bip32Path)-1] = 1<<31 - 1
				}
			}},
		{name: "change without derivations", isChange: []bool{false, false},
			tamper: func(t *testing.T, p *psbt.Packet) { p.Outputs[1] = psbt.POutput{} }},
		{name: "cosigner fingerprint on the payee, another path", field0: true, msg: claim(0, "m/84'/1'/0'/1/7"),
			tamper: onPayee(0, false, 84+h, 1+h, 0+h, 1, 7)},
		{name: "cosigner fingerprint on the payee, hardened path", field0: true, msg: claim(1, "m/48'/1'/5'/2'/1'/7'"),
			tamper: onPayee(1, false, 48+h, 1+h, 5+h, 2+h, 1+h, 7+h)},
		{name: "cosigner fingerprint on the payee, short path", field0: true, msg: claim(2, "m/48'/1'/0'/2'/1"),
			tamper: onPayee(2, false, 48+h, 1+h, 0+h, 2+h, 1)},
		{name: "cosigner fingerprint on the payee, master key", field0: true, msg: claim(0, "m"),
			tamper: onPayee(0, false)},
		{name: "cosigner fingerprint on the payee, taproot derivation", field0: true,
			msg:    "carries a taproot BIP-32 derivation " + claim(2, "m/86'/1'/0'/1/7"),
			tamper: onPayee(2, true, 86+h, 1+h, 0+h, 1, 7)},
		{name: "foreign fingerprint on the payee at the wallet's change path", isChange: []bool{false, true},
			tamper: onPayee(-1, false, 48+h, 1+h, 0+h, 2+h, 1, 7)},
		{name: "foreign fingerprint on the payee, taproot derivation", isChange: []bool{false, true},
			tamper: onPayee(-1, true, 86+h, 1+h, 0+h, 1, 7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustCopy(t, w.MustStandardSpend(t))
			tt.tamper(t, p)
			a, err := Analyze(p, w.d)
			if tt.msg != "" {
				field := "output[1]"
				if tt.field0 {
					field = "output[0]"
				}
				RequireCode(t, err, reserve.CodeInvalid, field, tt.msg)
				return
			}
			require.NoError(t, err)
			var got []bool
			for k := range p.UnsignedTx.TxOut {
				isChange := slices.ContainsFunc(a.Change, func(o OutputInfo) bool { return o.Vout == k })
				isPayee := slices.ContainsFunc(a.Payees, func(o OutputInfo) bool { return o.Vout == k && !o.IsChange })
				require.NotEqual(t, isChange, isPayee, "output %d", k)
				got = append(got, isChange)
			}
			require.Equal(t, tt.isChange, got)
		})
	}
}

// TestForEach checks that forEach reports the lowest failing index
// whatever the scheduling, and runs every index when nothing fails.
func TestForEach(t *testing.T) {
	for _, workers := range []int{0, 1, 2, 7} {
		var ran [100]bool
		require.NoError(t, forEach(100, workers, func(i int) error { ran[i] = true; return nil }))
		require.NotContains(t, ran[:], false)
		for range 20 {
			err := forEach(100, workers, func(i int) error {
				if i == 37 || i == 38 || i == 90 {
					return reserve.Invalid(inputField(i), "bad")
				}
				return nil
			})
			RequireCode(t, err, reserve.CodeInvalid, "input[37]", "bad")
		}
	}
	require.NoError(t, forEach(0, 0, func(int) error { return nil }))
}

// TestForEachPanics checks that a panic in a worker reaches the caller.
func TestForEachPanics(t *testing.T) {
	require.PanicsWithValue(t, "boom", func() {
		_ = forEach(50, 1, func(i int) error {
			if i == 20 {
				panic("boom")
			}
			return nil
		})
	})
	defer func() {
		r := recover()
		require.NotNil(t, r)
		require.Contains(t, r, "boom at 20")
	}()
	_ = forEach(50, 4, func(i int) error {
		if i == 20 {
			panic("boom at 20")
		}
		return nil
	})
}
