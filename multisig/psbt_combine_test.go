package multisig

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// TestRoundTrip runs the whole flow: the daemon creates the PSBT; each
// signer parses its own copy, analyzes and signs it; the daemon combines
// the returned PSBTs one at a time, in several orders and with a surplus
// signer, finalizes, and the transaction passes btcd's script engine.
func TestRoundTrip(t *testing.T) {
	w23 := MustPSBTWallet(t, "round trip", 2, 3)
	w35 := MustPSBTWallet(t, "round trip", 3, 5)
	tests := []struct {
		name  string
		w     *psbtWallet
		order []int // cosigners, in the order their PSBTs reach the daemon
	}{
		{name: "2-of-3 in order", w: w23, order: []int{0, 1}},
		{name: "2-of-3 reversed", w: w23, order: []int{2, 0}},
		{name: "2-of-3 with a surplus signer", w: w23, order: []int{1, 2, 0}},
		{name: "3-of-5", w: w35, order: []int{4, 0, 2}},
		{name: "3-of-5 with a surplus signer", w: w35, order: []int{3, 1, 4, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.w
			// A fourth coin at the first one's address: one derivation
			// serves both.
			coins := append(slices.Clone(standardCoins),
				coin{path: keyPath{reserve.BranchReceive, 41}, amount: 700_000, before: 2},
				coin{path: keyPath{reserve.BranchReceive, 0}, amount: 300_000})
			created, err := CreatePSBT(w.MustSpendParams(t, coins, 1_200_000, 3_290_000, 7))
			require.NoError(t, err)
			proposal := MustSerialize(t, created)
			unsignedTxid := created.UnsignedTx.TxHash()

			// Each signer works on its own copy of the bytes.
			returned := make(map[int][]byte)
			for _, c := range tt.order {
				mine := MustParse(t, proposal)
				a, err := Analyze(mine, w.d)
				require.NoError(t, err)
				require.Len(t, a.Inputs, 4)
				require.Len(t, a.Payees, 1)
				require.Len(t, a.Change, 1)
				require.Equal(t, int64(10_000), a.FeeSat)
				n, err := SignPSBT(mine, w.d, w.xprvs[c])
				require.NoError(t, err)
				require.Equal(t, 4, n)
				returned[c] = MustSerialize(t, mine)
			}

			// The daemon keeps the canonical PSBT as bytes between imports.
			canonical := proposal
			for k, c := range tt.order {
				p := MustParse(t, canonical)
				refs, err := CombinePSBT(p, MustParse(t, returned[c]), w.d, 0)
				require.NoError(t, err)
				require.Equal(t, []SigRef{{0, c}, {1, c}, {2, c}, {3, c}}, refs)
				canonical = MustSerialize(t, p)
				signers := Signers(p, w.d)
				for _, done := range tt.order[:k+1] {
					require.Equal(t, 4, signers[done], "cosigner %d", done)
				}
				if k+1 < w.d.Threshold() {
					_, err := FinalizePSBT(MustParse(t, canonical), w.d)
					RequireCode(t, err, reserve.CodeFailedPrecondition, "", fmt.Sprintf("input[0] has %d of %d signatures", k+1, w.d.Threshold()))
				}
			}

			p := MustParse(t, canonical)
			tx, err := FinalizePSBT(p, w.d)
			require.NoError(t, err)
			require.Equal(t, unsignedTxid, tx.TxHash())
			RequireVerifies(t, tx, p)
			for _, in := range tx.TxIn {
				require.Len(t, in.Witness, w.d.Threshold()+2)
			}
			// The finalized PSBT keeps its witnesses and survives a round
			// trip; finalizing it again gives the same transaction.
			again, err := FinalizePSBT(MustCopy(t, p), w.d)
			require.NoError(t, err)
			require.Equal(t, MustSerializeTx(t, tx), MustSerializeTx(t, again))
		})
	}
}

// flipR flips the last byte of a signature's r.
func flipR(sig []byte) []byte {
	out := slices.Clone(sig)
	rLen := int(out[3])
	out[4+rLen-1] ^= 0x01
	return out
}

// highS rewrites a signature with s replaced by n - s: the same
// signature, but not low-S.
func highS(tb testing.TB, sig []byte) []byte {
	tb.Helper()
	rLen := int(sig[3])
	r := sig[4 : 4+rLen]
	s := sig[4+rLen+2 : len(sig)-1]
	var sv btcec.ModNScalar
	var sb [32]byte
	copy(sb[32-len(s):], s)
	sv.SetBytes(&sb)
	sv.Negate()
	neg := sv.Bytes()
	hi := append([]byte{0x00}, neg[:]...)
	der := []byte{0x30, byte(2 + len(r) + 2 + len(hi)), 0x02, byte(len(r))}
	der = append(der, r...)
	der = append(der, 0x02, byte(len(hi)))
	der = append(der, hi...)
	return append(der, sig[len(sig)-1])
}

// padR encodes r with a superfluous leading zero: BER, not DER.
func padR(sig []byte) []byte {
	rLen := int(sig[3])
	out := []byte{0x30, sig[1] + 1, 0x02, byte(rLen + 1), 0x00}
	return append(out, sig[4:]...)
}

// TestCombineRefusals imports tampered PSBTs and checks that each is
// refused with the reason and that the canonical PSBT is unchanged.
func TestCombineRefusals(t *testing.T) {
	w := MustPSBTWallet(t, "combine", 2, 3)
	other := MustPSBTWallet(t, "combine other", 2, 3)
	created := w.MustStandardSpend(t)
	signedA := w.MustSigned(t, created, 0)
	firstSig := func(p *psbt.Packet) *psbt.PartialSig { return p.Inputs[0].PartialSigs[0] }

	tests := []struct {
		name   string
		tamper func(t *testing.T, in *psbt.Packet)
		field  string
		msg    string
	}{
		{name: "output amount changed", field: "psbt", msg: "PSBT is for a different transaction: txid",
			tamper: func(t *testing.T, in *psbt.Packet) { in.UnsignedTx.TxOut[0].Value++ }},
		{name: "locktime changed", field: "psbt", msg: "proposal has " + created.UnsignedTx.TxHash().String(),
			tamper: func(t *testing.T, in *psbt.Packet) { in.UnsignedTx.LockTime++ }},
		{name: "sequence changed", field: "psbt", msg: "PSBT is for a different transaction",
			tamper: func(t *testing.T, in *psbt.Packet) { in.UnsignedTx.TxIn[1].Sequence = wire32Max }},
		{name: "invalid signature", field: "input[0]", msg: "does not verify",
			tamper: func(t *testing.T, in *psbt.Packet) { firstSig(in).Signature = flipR(firstSig(in).Signature) }},
		{name: "signature of another input", field: "input[1]", msg: "does not verify",
			tamper: func(t *testing.T, in *psbt.Packet) {
				in.Inputs[1].PartialSigs[0].Signature = in.Inputs[0].PartialSigs[0].Signature
			}},
		{name: "key not in the wallet", field: "input[0]", msg: "which is not a key of this wallet at 0/0",
			tamper: func(t *testing.T, in *psbt.Packet) {
				mine := other.MustSigned(t, other.MustStandardSpend(t), 0)
				firstSig(in).PubKey = firstSig(mine).PubKey
			}},
		{name: "another cosigner's key at another index", field: "input[0]", msg: "which is not a key of this wallet at 0/0",
			tamper: func(t *testing.T, in *psbt.Packet) {
				firstSig(in).PubKey = w.MustDerived(t, reserve.BranchReceive, 1).PubKeys[0]
			}},
		{name: "sighash NONE", field: "input[0]", msg: "sighash type NONE, only ALL",
			tamper: func(t *testing.T, in *psbt.Packet) {
				s := firstSig(in).Signature
				s[len(s)-1] = byte(txscript.SigHashNone)
			}},
		{name: "sighash ALL|ANYONECANPAY", field: "input[1]", msg: "sighash type ALL|ANYONECANPAY",
			tamper: func(t *testing.T, in *psbt.Packet) {
				s := in.Inputs[1].PartialSigs[0].Signature
				s[len(s)-1] = byte(txscript.SigHashAll | txscript.SigHashAnyOneCanPay)
			}},
		{name: "not DER", field: "input[0]", msg: "not a strict DER, low-S signature",
			tamper: func(t *testing.T, in *psbt.Packet) { firstSig(in).Signature = []byte{0x30, 0x01, 0x02, 0x01} }},
		{name: "BER padding", field: "input[0]", msg: "not a strict DER, low-S signature",
			tamper: func(t *testing.T, in *psbt.Packet) { firstSig(in).Signature = padR(firstSig(in).Signature) }},
		{name: "high S", field: "input[0]", msg: "not a strict DER, low-S signature",
			tamper: func(t *testing.T, in *psbt.Packet) { firstSig(in).Signature = highS(t, firstSig(in).Signature) }},
		{name: "trailing byte after DER", field: "input[0]", msg: "not a strict DER, low-S signature",
			tamper: func(t *testing.T, in *psbt.Packet) {
				s := firstSig(in).Signature
				firstSig(in).Signature = append(append(slices.Clone(s[:len(s)-1]), 0x00), s[len(s)-1])
			}},
		{name: "empty signature", field: "input[0]", msg: "is empty",
			tamper: func(t *testing.T, in *psbt.Packet) { firstSig(in).Signature = nil }},
		{name: "bad signature on the last input only", field: "input[1]", msg: "does not verify",
			tamper: func(t *testing.T, in *psbt.Packet) {
				in.Inputs[1].PartialSigs[0].Signature = flipR(in.Inputs[1].PartialSigs[0].Signature)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			canonical := MustCopy(t, created)
			before := MustSerialize(t, canonical)
			incoming := MustCopy(t, signedA)
			tt.tamper(t, incoming)
			refs, err := CombinePSBT(canonical, incoming, w.d, 0)
			RequireCode(t, err, reserve.CodeInvalid, tt.field, tt.msg)
			require.Nil(t, refs)
			require.Equal(t, before, MustSerialize(t, canonical), "canonical changed")
		})
	}
}

// wire32Max is a sequence other than the one CreatePSBT sets.
const wire32Max = 0xffffffff

// TestCombineMerges checks what CombinePSBT accepts: trimmed PSBTs, the
// same PSBT twice, and PSBTs carrying signatures canonical already has.
func TestCombineMerges(t *testing.T) {
	w := MustPSBTWallet(t, "combine", 2, 3)
	created := w.MustStandardSpend(t)
	signedA := w.MustSigned(t, created, 0)
	signedB := w.MustSigned(t, created, 1)

	t.Run("duplicate import", func(t *testing.T) {
		canonical := MustCopy(t, created)
		refs, err := CombinePSBT(canonical, MustCopy(t, signedA), w.d, 0)
		require.NoError(t, err)
		require.Len(t, refs, 2)
		before := MustSerialize(t, canonical)
		refs, err = CombinePSBT(canonical, MustCopy(t, signedA), w.d, 0)
		require.NoError(t, err)
		require.Empty(t, refs)
		require.Equal(t, before, MustSerialize(t, canonical))
	})
	t.Run("trimmed by a QR signer", func(t *testing.T) {
		trimmed := MustCopy(t, signedB)
		trimmed.XPubs = nil
		for i := range trimmed.Inputs {
			sigs := trimmed.Inputs[i].PartialSigs
			trimmed.Inputs[i] = psbt.PInput{PartialSigs: sigs}
		}
		for k := range trimmed.Outputs {
			trimmed.Outputs[k] = psbt.POutput{}
		}
		canonical := MustCopy(t, created)
		refs, err := CombinePSBT(canonical, MustParse(t, MustSerialize(t, trimmed)), w.d, 1)
		require.NoError(t, err)
		require.Equal(t, []SigRef{{0, 1}, {1, 1}}, refs)
		// Nothing but the signatures came from the trimmed PSBT.
		require.NotNil(t, canonical.Inputs[0].NonWitnessUtxo)
		require.Len(t, canonical.XPubs, 3)
	})
	t.Run("one signer's PSBT carrying another's signatures", func(t *testing.T) {
		canonical := MustCopy(t, created)
		_, err := CombinePSBT(canonical, MustCopy(t, signedA), w.d, 0)
		require.NoError(t, err)
		both := MustCopy(t, canonical)
		_, err = CombinePSBT(both, MustCopy(t, signedB), w.d, 0)
		require.NoError(t, err)
		refs, err := CombinePSBT(canonical, both, w.d, 0)
		require.NoError(t, err)
		require.Equal(t, []SigRef{{0, 1}, {1, 1}}, refs)
		require.Equal(t, []int{2, 2, 0}, Signers(canonical, w.d))
	})
	t.Run("another signature by a key already there is ignored", func(t *testing.T) {
		canonical := MustCopy(t, created)
		_, err := CombinePSBT(canonical, MustCopy(t, signedA), w.d, 0)
		require.NoError(t, err)
		before := MustSerialize(t, canonical)
		incoming := MustCopy(t, signedA)
		incoming.Inputs[0].PartialSigs[0].Signature = flipR(incoming.Inputs[0].PartialSigs[0].Signature)
		refs, err := CombinePSBT(canonical, incoming, w.d, 0)
		require.NoError(t, err)
		require.Empty(t, refs)
		require.Equal(t, before, MustSerialize(t, canonical))
	})
	t.Run("no descriptor, no PSBT", func(t *testing.T) {
		_, err := CombinePSBT(MustCopy(t, created), MustCopy(t, signedA), nil, 0)
		RequireCode(t, err, reserve.CodeInvalid, "descriptor", "no descriptor")
		_, err = CombinePSBT(MustCopy(t, created), nil, w.d, 0)
		RequireCode(t, err, reserve.CodeInvalid, "psbt", "no PSBT")
	})
	t.Run("Signers", func(t *testing.T) {
		require.Equal(t, []int{0, 0, 0}, Signers(created, w.d))
		require.Equal(t, []int{2, 0, 0}, Signers(signedA, w.d))
		require.Equal(t, []int{0, 0, 0}, Signers(nil, w.d))
		require.Nil(t, Signers(created, nil))
	})
}

// TestFinalizeRefusals checks that FinalizePSBT leaves p alone when it
// cannot finish.
func TestFinalizeRefusals(t *testing.T) {
	w := MustPSBTWallet(t, "finalize", 2, 3)
	created := w.MustStandardSpend(t)
	canonical := MustCopy(t, created)
	_, err := CombinePSBT(canonical, w.MustSigned(t, created, 2), w.d, 0)
	require.NoError(t, err)
	_, err = CombinePSBT(canonical, w.MustSigned(t, created, 0), w.d, 0)
	require.NoError(t, err)

	tests := []struct {
		name   string
		tamper func(p *psbt.Packet)
		code   reserve.Code
		msg    string
	}{
		{name: "one signature on the last input", code: reserve.CodeFailedPrecondition, msg: "input[1] has 1 of 2 signatures",
			tamper: func(p *psbt.Packet) { p.Inputs[1].PartialSigs = p.Inputs[1].PartialSigs[:1] }},
		{name: "no signatures", code: reserve.CodeFailedPrecondition, msg: "input[0] has 0 of 2 signatures",
			tamper: func(p *psbt.Packet) { p.Inputs[0].PartialSigs = nil }},
		{name: "no witness_script", code: reserve.CodeInvalid, msg: "input[0]: witness_script is missing",
			tamper: func(p *psbt.Packet) { p.Inputs[0].WitnessScript = nil }},
		{name: "witness_script of another address", code: reserve.CodeInvalid, msg: "does not hash to the witness_utxo script",
			tamper: func(p *psbt.Packet) { p.Inputs[0].WitnessScript = p.Inputs[1].WitnessScript }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustCopy(t, canonical)
			tt.tamper(p)
			before := MustSerialize(t, p)
			tx, err := FinalizePSBT(p, w.d)
			RequireCode(t, err, tt.code, "", tt.msg)
			require.Nil(t, tx)
			require.Equal(t, before, MustSerialize(t, p))
		})
	}
}

// TestRoundTripManyInputs runs the flow on a spend large enough for every
// role to spread its work over goroutines (run it with -race).
func TestRoundTripManyInputs(t *testing.T) {
	w := MustPSBTWallet(t, "many", 2, 3)
	coins := benchCoins(40)
	var in int64
	for _, c := range coins {
		in += c.amount
	}
	created, err := CreatePSBT(w.MustSpendParams(t, coins, 30_000_000, in-30_000_000-50_000, 9))
	require.NoError(t, err)
	canonical := MustCopy(t, created)
	for _, c := range []int{2, 1} {
		refs, err := CombinePSBT(canonical, w.MustSigned(t, created, c), w.d, 3)
		require.NoError(t, err)
		require.Len(t, refs, 40)
	}
	require.Equal(t, []int{0, 40, 40}, Signers(canonical, w.d))
	tx, err := FinalizePSBT(canonical, w.d)
	require.NoError(t, err)
	RequireVerifies(t, tx, canonical)

	// A bad signature deep in the list is reported, whatever the workers.
	bad := w.MustSigned(t, created, 0)
	bad.Inputs[33].PartialSigs[0].Signature = flipR(bad.Inputs[33].PartialSigs[0].Signature)
	bad.Inputs[37].PartialSigs[0].Signature = flipR(bad.Inputs[37].PartialSigs[0].Signature)
	fresh := MustCopy(t, created)
	before := MustSerialize(t, fresh)
	_, err = CombinePSBT(fresh, bad, w.d, 4)
	RequireCode(t, err, reserve.CodeInvalid, "input[33]", "does not verify")
	require.Equal(t, before, MustSerialize(t, fresh))
}

// coreVector is what Bitcoin Core made of the golden PSBT.
type coreVector struct {
	Version string `json:"core_version"`
	Signed  string `json:"signed_by_cosigner_1"`
	FinalTx string `json:"final_tx"`
}

// reverseFingerprints byte-reverses every master-key fingerprint of p, as
// a PSBT written before the fingerprints were fixed needs.
func reverseFingerprints(p *psbt.Packet) {
	for k := range p.XPubs {
		p.XPubs[k].MasterKeyFingerprint = bits.ReverseBytes32(p.XPubs[k].MasterKeyFingerprint)
	}
	for i := range p.Inputs {
		for _, e := range p.Inputs[i].Bip32Derivation {
			e.MasterKeyFingerprint = bits.ReverseBytes32(e.MasterKeyFingerprint)
		}
	}
	for k := range p.Outputs {
		for _, e := range p.Outputs[k].Bip32Derivation {
			e.MasterKeyFingerprint = bits.ReverseBytes32(e.MasterKeyFingerprint)
		}
	}
}

// TestBitcoinCoreInterop checks the golden PSBT against Bitcoin Core's
// handling of it: Core signed it as it is (descriptorprocesspsbt),
// CombinePSBT accepts Core's signatures, and FinalizePSBT extracts the
// very transaction Core's finalizepsbt does.
func TestBitcoinCoreInterop(t *testing.T) {
	var v coreVector
	MustReadJSON(t, "psbt_2of3_core.json", &v)
	w := MustPSBTWallet(t, "golden", 2, 3)
	golden := MustGoldenPSBT(t)
	core := MustParse(t, []byte(v.Signed))
	// Core was given the golden PSBT of commit ca00284, whose fingerprints
	// were byte-reversed, and copied its derivation records through; its
	// signatures do not cover them. Put them in BIP-174 order.
	reverseFingerprints(core)
	_, err := Analyze(core, w.d)
	require.NoError(t, err, "Core's PSBT, as Analyze sees it")

	canonical := MustParse(t, golden)
	refs, err := CombinePSBT(canonical, core, w.d, 0)
	require.NoError(t, err, "Core %s signatures", v.Version)
	require.Equal(t, []SigRef{{0, 1}, {1, 1}}, refs)
	refs, err = CombinePSBT(canonical, w.MustSigned(t, MustParse(t, golden), 0), w.d, 0)
	require.NoError(t, err)
	require.Len(t, refs, 2)
	tx, err := FinalizePSBT(canonical, w.d)
	require.NoError(t, err)
	require.Equal(t, v.FinalTx, hex.EncodeToString(MustSerializeTx(t, tx)))
	RequireVerifies(t, tx, canonical)
}
