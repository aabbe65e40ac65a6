package multisig

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// bip322Address is the P2WPKH address of BIP-322's signing test vectors.
const bip322Address = "bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l"

// mustBIP322Challenge is the output script of bip322Address.
func mustBIP322Challenge(tb testing.TB) []byte {
	tb.Helper()
	addr, err := btcutil.DecodeAddress(bip322Address, &chaincfg.MainNetParams)
	require.NoError(tb, err)
	script, err := txscript.PayToAddrScript(addr)
	require.NoError(tb, err)
	return script
}

func TestBIP322MessageHash(t *testing.T) {
	tests := []struct {
		name, msg, want string
	}{
		{"empty", "", "c90c269c4f8fcbe6880f72a721ddfbf1914268a794cbb21cfafee13770ae19f1"},
		{"hello world", "Hello World", "f0eb03b1a75ac6d9847f55c624a99169b5dccba2a31f5b23bea77ba270de0a7a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := BIP322MessageHash([]byte(tt.msg))
			require.Equal(t, tt.want, hex.EncodeToString(h[:]))
		})
	}
}

// TestBIP322Transactions builds to_spend and to_sign for BIP-322's
// address and compares their txids with the BIP's.
func TestBIP322Transactions(t *testing.T) {
	tests := []struct {
		name, msg, toSpend, toSign string
	}{
		{"empty", "", "c5680aa69bb8d860bf82d4e9cd3504b55dde018de765a91bb566283c545a99a7",
			"1e9654e951a5ba44c8604c4de6c67fd78a27e81dcadcfe1edf638ba3aaebaed6"},
		{"hello world", "Hello World", "b79d196740ad5217771c1098fc4a4b51e0535c32236c71f1ea4d61a2d603352b",
			"88737ae86f2077145f93cc4b153ae9a1cb8d56afa511988c149c5c8c9d93bddf"},
	}
	challenge := mustBIP322Challenge(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spend := ToSpend(BIP322MessageHash([]byte(tt.msg)), challenge)
			require.Equal(t, tt.toSpend, spend.TxHash().String())
			require.Equal(t, tt.toSign, toSign(spend, nil).TxHash().String())
		})
	}
}

// TestBIP322SimpleSignatures verifies BIP-322's "simple" signatures (the
// witness of to_sign's input 0) with VerifyProof's engine path, and
// refuses each under the other message.
func TestBIP322SimpleSignatures(t *testing.T) {
	tests := []struct {
		name, msg, sig string
	}{
		{"empty 1", "", "AkcwRAIgM2gBAQqvZX15ZiysmKmQpDrG83avLIT492QBzLnQIxYCIBaTpOaD20qRlEylyxFSeEA2ba9YOixpX8z46TSDtS40ASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI="},
		{"empty 2", "", "AkgwRQIhAPkJ1Q4oYS0htvyuSFHLxRQpFAY56b70UvE7Dxazen0ZAiAtZfFz1S6T6I23MWI2lK/pcNTWncuyL8UL+oMdydVgzAEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy"},
		{"hello world 1", "Hello World", "AkcwRAIgZRfIY3p7/DoVTty6YZbWS71bc5Vct9p9Fia83eRmw2QCICK/ENGfwLtptFluMGs2KsqoNSk89pO7F29zJLUx9a/sASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI="},
		{"hello world 2", "Hello World", "AkgwRQIhAOzyynlqt93lOKJr+wmmxIens//zPzl9tqIOua93wO6MAiBi5n5EyAcPScOjf1lAqIUIQtr3zKNeavYabHyR8eGhowEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy"},
	}
	challenge := mustBIP322Challenge(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := base64.StdEncoding.DecodeString(tt.sig)
			require.NoError(t, err)
			wit, err := parseWitness(raw)
			require.NoError(t, err)
			signed := func(msg string) *wire.MsgTx {
				tx := toSign(ToSpend(BIP322MessageHash([]byte(msg)), challenge), nil)
				tx.TxIn[0].Witness = wit
				return tx
			}
			total, err := verifyToSign(signed(tt.msg), BIP322MessageHash([]byte(tt.msg)), challenge, nil, 1, nil)
			require.NoError(t, err)
			require.Zero(t, total)
			if tt.msg != "" {
				total, err = VerifyProof(signed(tt.msg), []byte(tt.msg), challenge, nil, 0)
				require.NoError(t, err)
				require.Zero(t, total)
			}
			// The same witness under the other message: to_sign spends
			// the other to_spend, and the signature fails.
			other := "Hello World"
			if tt.msg != "" {
				other = ""
			}
			_, err = verifyToSign(signed(other), BIP322MessageHash([]byte(tt.msg)), challenge, nil, 1, nil)
			RequireInvalid(t, err, "input[0]", "not output 0 of the BIP-322 to_spend")
			_, err = verifyToSign(signed(other), BIP322MessageHash([]byte(other)), challenge, nil, 1, nil)
			RequireInvalid(t, err, "input[0]", "script verification failed")
		})
	}
}

// proofMessage is the message the test proofs commit to.
const testProofMessage = "Reserve audit 2026-03-31, challenge 7f3a: the Treasury controls these coins"

// proofTestCoins are the test proof's coins: a coin at the challenge
// address itself, a change coin and a receive coin.
var proofTestCoins = []coin{
	{path: keyPath{reserve.BranchReceive, 0}, amount: 1_500_000, before: 1},
	{path: keyPath{reserve.BranchChange, 3}, amount: 2_500_000},
	{path: keyPath{reserve.BranchReceive, 7}, amount: 40_000_000, before: 2},
}

// proofSet is a wallet's coins to prove, with their previous outputs as
// a verifier takes them from the chain.
type proofSet struct {
	w        *psbtWallet
	coins    []ProofCoin
	prevOuts map[wire.OutPoint]*wire.TxOut
	total    int64
}

// MustProofSet makes the wallet's coins cs, each in its own previous
// transaction.
func MustProofSet(tb testing.TB, w *psbtWallet, cs []coin) *proofSet {
	tb.Helper()
	s := &proofSet{w: w, prevOuts: map[wire.OutPoint]*wire.TxOut{}}
	for i, c := range cs {
		der := w.MustDerived(tb, c.path.Branch, c.path.Index)
		prev := fundingTx(fmt.Sprintf("proof %s %d", w.d.WalletID(), i), c.before, der.PkScript, c.amount)
		op := wire.OutPoint{Hash: prev.TxHash(), Index: uint32(c.before)}
		s.coins = append(s.coins, ProofCoin{
			UTXO: reserve.UTXO{OutPoint: op, AmountSat: c.amount, Script: der.PkScript,
				Branch: c.path.Branch, Index: c.path.Index, Height: 100},
			PrevTx: MustSerializeTx(tb, prev),
		})
		s.prevOuts[op] = prev.TxOut[c.before]
		s.total += c.amount
	}
	return s
}

// MustBuild builds the unsigned proof PSBT for msg.
func (s *proofSet) MustBuild(tb testing.TB, msg string) *psbt.Packet {
	tb.Helper()
	p, err := s.w.d.BuildProof([]byte(msg), s.coins)
	require.NoError(tb, err)
	return p
}

// MustSignProof returns p combined with the proof signatures of the
// cosigners named, each made on its own copy as a signer makes it.
func (s *proofSet) MustSignProof(tb testing.TB, p *psbt.Packet, signers ...int) *psbt.Packet {
	tb.Helper()
	canonical := MustCopy(tb, p)
	for _, k := range signers {
		cp := MustCopy(tb, p)
		_, err := CheckProof(cp, s.w.d)
		require.NoError(tb, err)
		n, err := SignProof(cp, s.w.d, s.w.xprvs[k])
		require.NoError(tb, err)
		require.Equal(tb, len(cp.Inputs), n)
		_, err = CombinePSBT(canonical, MustCopy(tb, cp), s.w.d, 0)
		require.NoError(tb, err)
	}
	return canonical
}

// MustFinal is the finalized to_sign of the proof of s's coins for msg,
// signed by cosigners 0 and 2.
func (s *proofSet) MustFinal(tb testing.TB, msg string) *wire.MsgTx {
	tb.Helper()
	signed := s.MustSignProof(tb, s.MustBuild(tb, msg), 0, 2)
	tx, err := FinalizeProof(signed, s.w.d)
	require.NoError(tb, err)
	return tx
}

// MustChallenge is the wallet's challenge script, receive address 0.
func (s *proofSet) MustChallenge(tb testing.TB) []byte {
	tb.Helper()
	return s.w.MustDerived(tb, reserve.BranchReceive, 0).PkScript
}

// TestProofEndToEnd builds a proof over a 2-of-3 wallet's coins, checks
// it, has two cosigners sign it, finalizes it and verifies it as the
// public would.
func TestProofEndToEnd(t *testing.T) {
	w := MustPSBTWallet(t, "proof", 2, 3)
	s := MustProofSet(t, w, proofTestCoins)
	p := s.MustBuild(t, testProofMessage)
	require.True(t, IsProof(p))

	// It survives the trip through a file, message field included.
	p = MustCopy(t, p)
	sum, err := CheckProof(p, w.d)
	require.NoError(t, err)
	challenge := w.MustDerived(t, reserve.BranchReceive, 0)
	require.Equal(t, []byte(testProofMessage), sum.Message)
	require.Equal(t, BIP322MessageHash([]byte(testProofMessage)), sum.MessageHash)
	require.Equal(t, challenge.PkScript, sum.Challenge)
	require.Equal(t, challenge.Address, sum.ChallengeAddress)
	require.Equal(t, s.total, sum.TotalSat)
	require.Len(t, sum.Coins, len(s.coins))
	for i, c := range s.coins {
		require.Equal(t, c.UTXO.OutPoint, sum.Coins[i])
	}

	// The PSBT's shape, as COLDCARD and the design describe it.
	tx := p.UnsignedTx
	require.Equal(t, int32(0), tx.Version)
	require.Zero(t, tx.LockTime)
	require.Len(t, tx.TxOut, 1)
	require.Equal(t, &wire.TxOut{Value: 0, PkScript: []byte{txscript.OP_RETURN}}, tx.TxOut[0])
	require.Equal(t, ToSpend(sum.MessageHash, challenge.PkScript).TxHash(), p.Inputs[0].NonWitnessUtxo.TxHash())
	require.Equal(t, challenge.WitnessScript, p.Inputs[0].WitnessScript)
	require.Len(t, p.Inputs[0].Bip32Derivation, 3)
	for i, in := range p.Inputs {
		require.Zero(t, tx.TxIn[i].Sequence)
		require.Equal(t, txscript.SigHashAll, in.SighashType)
	}
	require.Len(t, p.XPubs, 3)

	// One signature is not enough; two are.
	one := s.MustSignProof(t, p, 1)
	_, err = FinalizeProof(one, w.d)
	RequireCode(t, err, reserve.CodeFailedPrecondition, "", "1 of 2 signatures")
	signed := s.MustSignProof(t, p, 0, 2)
	final, err := FinalizeProof(signed, w.d)
	require.NoError(t, err)
	require.Equal(t, tx.TxHash(), final.TxHash())
	for _, in := range signed.Inputs {
		require.NotNil(t, in.FinalScriptWitness)
		require.Nil(t, in.PartialSigs)
	}

	for _, workers := range []int{1, 2, 0} {
		total, err := VerifyProof(final, []byte(testProofMessage), challenge.PkScript, s.prevOuts, workers)
		require.NoError(t, err, "workers %d", workers)
		require.Equal(t, s.total, total)
	}
}

// TestIsProof tells proofs from spends.
func TestIsProof(t *testing.T) {
	w := MustPSBTWallet(t, "proof", 2, 3)
	s := MustProofSet(t, w, proofTestCoins)
	tests := []struct {
		name   string
		packet func() *psbt.Packet
		want   bool
	}{
		{"proof", func() *psbt.Packet { return s.MustBuild(t, testProofMessage) }, true},
		{"proof without its message field", func() *psbt.Packet {
			p := s.MustBuild(t, testProofMessage)
			p.Unknowns = nil
			return p
		}, true},
		{"message field alone", func() *psbt.Packet {
			p := w.MustStandardSpend(t)
			p.Unknowns = append(p.Unknowns, &psbt.Unknown{Key: []byte{0x09}, Value: []byte("x")})
			return p
		}, true},
		{"spend", func() *psbt.Packet { return w.MustStandardSpend(t) }, false},
		{"nil", func() *psbt.Packet { return nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, IsProof(tt.packet()))
		})
	}
}

// TestProofMessageRule is the message rule, as BuildProof, CheckProof
// and VerifyProof apply it.
func TestProofMessageRule(t *testing.T) {
	w := MustPSBTWallet(t, "proof", 2, 3)
	s := MustProofSet(t, w, proofTestCoins[:1])
	tests := []struct {
		name   string
		msg    string
		substr string // "" = allowed
	}{
		{"ascii", "Audit 2026-03-31", ""},
		{"accented and dashes", "Réserve d'or — audit n° 7, 2026", ""},
		{"4096 bytes", strings.Repeat("a", MaxProofMessageBytes), ""},
		{"4097 bytes", strings.Repeat("a", MaxProofMessageBytes+1), "more than the 4096 allowed"},
		{"empty", "", "the message is empty"},
		{"not utf-8", "Audit \xff 2026", "not valid UTF-8"},
		{"newline", "Audit\nPROOF OF RESERVES", "unprintable character U+000A"},
		{"nul", "Audit\x00", "unprintable character U+0000"},
		{"bidi override", "Audit \u202e6202", "unprintable character U+202E"},
		{"no-break space", "Audit\u00a02026", "unprintable character U+00A0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.d.BuildProof([]byte(tt.msg), s.coins)
			if tt.substr == "" {
				require.NoError(t, err)
				return
			}
			RequireInvalid(t, err, "message", tt.substr)

			// A proof carrying such a message, however it was made.
			p := s.MustBuild(t, "placeholder")
			p.Unknowns[0].Value = []byte(tt.msg)
			_, err = CheckProof(p, w.d)
			RequireInvalid(t, err, "global[0x09]", tt.substr)
			_, err = VerifyProof(wire.NewMsgTx(0), []byte(tt.msg), s.MustChallenge(t), s.prevOuts, 0)
			RequireInvalid(t, err, "message", tt.substr)
		})
	}
}

// TestCheckProofRefusals breaks one rule of a proof PSBT at a time.
func TestCheckProofRefusals(t *testing.T) {
	w := MustPSBTWallet(t, "proof", 2, 3)
	s := MustProofSet(t, w, proofTestCoins)
	other := MustPSBTWallet(t, "proof other", 2, 3)
	otherSet := MustProofSet(t, other, proofTestCoins)
	unsigned := MustSerialize(t, s.MustBuild(t, testProofMessage))
	signedOne := MustSerialize(t, s.MustSignProof(t, MustParse(t, unsigned), 0))
	foreignProof := otherSet.MustBuild(t, testProofMessage)
	challenge := s.MustChallenge(t)

	// alterToSpend changes input 0's to_spend and, if repoint, makes
	// input 0 spend the altered one.
	alterToSpend := func(p *psbt.Packet, repoint bool, alter func(tx *wire.MsgTx)) {
		ts := p.Inputs[0].NonWitnessUtxo
		alter(ts)
		if repoint {
			p.UnsignedTx.TxIn[0].PreviousOutPoint.Hash = ts.TxHash()
		}
	}
	tests := []struct {
		name   string
		signed bool
		break_ func(p *psbt.Packet)
		field  string
		substr string
	}{
		{"message changed after signing", true, func(p *psbt.Packet) {
			p.Unknowns[0].Value = []byte(testProofMessage + " (amended)")
		}, "input[0]", "not output 0 of the BIP-322 to_spend"},
		{"message changed, to_spend rebuilt", true, func(p *psbt.Packet) {
			msg := []byte(testProofMessage + " (amended)")
			p.Unknowns[0].Value = msg
			ts := ToSpend(BIP322MessageHash(msg), challenge)
			p.Inputs[0].NonWitnessUtxo = ts
			p.UnsignedTx.TxIn[0].PreviousOutPoint.Hash = ts.TxHash()
		}, "", ""}, // structurally a proof again: only the signatures, which VerifyProof checks, fail
		{"message missing", false, func(p *psbt.Packet) { p.Unknowns = nil }, "global[0x09]", "no message"},
		{"message twice", false, func(p *psbt.Packet) {
			p.Unknowns = append(p.Unknowns, &psbt.Unknown{Key: []byte{0x09}, Value: []byte("other")})
		}, "global[0x09]", "twice"},
		{"message key with key data", false, func(p *psbt.Packet) { p.Unknowns[0].Key = []byte{0x09, 0x01} }, "global[0x09]", "key data"},
		{"a PSBT version 2 field", false, func(p *psbt.Packet) {
			p.Unknowns = append(p.Unknowns, &psbt.Unknown{Key: []byte{0xfb}, Value: []byte{2, 0, 0, 0}})
		}, "global[0xfb]", "no global field but the message"},
		{"another proprietary global field", false, func(p *psbt.Packet) {
			p.Unknowns = append(p.Unknowns, &psbt.Unknown{Key: []byte{0xfc, 0x03, 'x', 'y', 'z', 0x00}, Value: []byte("hidden")})
		}, "global[0xfc]", "no global field but the message"},
		{"an unknown input field", false, func(p *psbt.Packet) {
			p.Inputs[1].Unknowns = append(p.Inputs[1].Unknowns, &psbt.Unknown{Key: []byte{0xf0}, Value: []byte("hidden")})
		}, "input[1]", "no use for"},
		{"an unknown output field", false, func(p *psbt.Packet) {
			p.Outputs[0].Unknowns = append(p.Outputs[0].Unknowns, &psbt.Unknown{Key: []byte{0xf0}, Value: []byte("hidden")})
		}, "output[0]", "no use for"},
		{"foreign input", false, func(p *psbt.Packet) {
			p.UnsignedTx.TxIn = append(p.UnsignedTx.TxIn, &wire.TxIn{PreviousOutPoint: foreignProof.UnsignedTx.TxIn[2].PreviousOutPoint})
			p.Inputs = append(p.Inputs, foreignProof.Inputs[2])
		}, "input[4]", "not from a cosigner of this wallet"},
		{"input at a foreign script", false, func(p *psbt.Packet) {
			// The previous transaction pays someone else; the input
			// still claims the wallet's derivations.
			in := &p.Inputs[2]
			prev := in.NonWitnessUtxo
			prev.TxOut[0].PkScript = psbtPayee("someone")
			in.WitnessUtxo.PkScript = psbtPayee("someone")
			p.UnsignedTx.TxIn[2].PreviousOutPoint.Hash = prev.TxHash()
		}, "input[2]", "is not the wallet's script at 1/3"},
		{"second output", false, func(p *psbt.Packet) {
			p.UnsignedTx.AddTxOut(wire.NewTxOut(0, []byte{txscript.OP_RETURN}))
			p.Outputs = append(p.Outputs, psbt.POutput{})
		}, "output[1]", "2 outputs"},
		{"payment hidden: value", false, func(p *psbt.Packet) { p.UnsignedTx.TxOut[0].Value = 10_000 }, "output[0]", "pays 10000 sat"},
		{"payment hidden: script", false, func(p *psbt.Packet) { p.UnsignedTx.TxOut[0].PkScript = psbtPayee("thief") }, "output[0]", "OP_RETURN (6a) alone"},
		{"OP_RETURN with data", false, func(p *psbt.Packet) { p.UnsignedTx.TxOut[0].PkScript = []byte{txscript.OP_RETURN, 1, 7} }, "output[0]", "OP_RETURN (6a) alone"},
		{"output claims the wallet", false, func(p *psbt.Packet) {
			p.Outputs[0].Bip32Derivation = p.Inputs[1].Bip32Derivation
		}, "output[0]", "scripts or derivations"},
		{"sighash NONE field", false, func(p *psbt.Packet) { p.Inputs[1].SighashType = txscript.SigHashNone }, "input[1]", "NONE"},
		{"sighash SINGLE field on input 0", false, func(p *psbt.Packet) { p.Inputs[0].SighashType = txscript.SigHashSingle }, "input[0]", "SINGLE"},
		{"sighash ALL|ANYONECANPAY field", false, func(p *psbt.Packet) {
			p.Inputs[3].SighashType = txscript.SigHashAll | txscript.SigHashAnyOneCanPay
		}, "input[3]", "ALL|ANYONECANPAY"},
		{"partial signature with NONE", true, func(p *psbt.Packet) {
			sig := p.Inputs[2].PartialSigs[0].Signature
			sig[len(sig)-1] = byte(txscript.SigHashNone)
		}, "input[2]", "sighash type NONE"},
		{"partial signature with SINGLE|ANYONECANPAY on input 0", true, func(p *psbt.Packet) {
			sig := p.Inputs[0].PartialSigs[0].Signature
			sig[len(sig)-1] = byte(txscript.SigHashSingle | txscript.SigHashAnyOneCanPay)
		}, "input[0]", "SINGLE|ANYONECANPAY"},
		{"to_spend scriptSig altered", false, func(p *psbt.Packet) {
			alterToSpend(p, false, func(tx *wire.MsgTx) { tx.TxIn[0].SignatureScript[5] ^= 1 })
		}, "input[0]", "non_witness_utxo is not the BIP-322 to_spend"},
		{"to_spend scriptSig altered, input 0 repointed", false, func(p *psbt.Packet) {
			alterToSpend(p, true, func(tx *wire.MsgTx) { tx.TxIn[0].SignatureScript[5] ^= 1 })
		}, "input[0]", "not output 0 of the BIP-322 to_spend"},
		{"to_spend value altered", false, func(p *psbt.Packet) {
			alterToSpend(p, true, func(tx *wire.MsgTx) { tx.TxOut[0].Value = 1 })
		}, "input[0]", "not output 0 of the BIP-322 to_spend"},
		{"to_spend prevout altered", false, func(p *psbt.Packet) {
			alterToSpend(p, false, func(tx *wire.MsgTx) { tx.TxIn[0].PreviousOutPoint.Index = 0 })
		}, "input[0]", "non_witness_utxo is not the BIP-322 to_spend"},
		{"to_spend with a witness", false, func(p *psbt.Packet) {
			alterToSpend(p, false, func(tx *wire.MsgTx) { tx.TxIn[0].Witness = wire.TxWitness{{1}} })
		}, "input[0]", "non_witness_utxo is not the BIP-322 to_spend"},
		{"to_spend missing", false, func(p *psbt.Packet) { p.Inputs[0].NonWitnessUtxo = nil }, "input[0]", "non_witness_utxo (to_spend) is missing"},
		{"to_spend output value in witness_utxo", false, func(p *psbt.Packet) { p.Inputs[0].WitnessUtxo.Value = 5 }, "input[0]", "is not to_spend's output"},
		{"challenge at another address", false, func(p *psbt.Packet) {
			cp := MustCopy(t, s.MustBuild(t, testProofMessage))
			p.Inputs[0].Bip32Derivation = cp.Inputs[3].Bip32Derivation // receive 7
		}, "input[0]", "the challenge is receive address 0/0"},
		{"version 2", false, func(p *psbt.Packet) { p.UnsignedTx.Version = 2 }, "tx", "version 2"},
		{"locktime", false, func(p *psbt.Packet) { p.UnsignedTx.LockTime = 800_000 }, "tx", "locktime 800000"},
		{"sequence", false, func(p *psbt.Packet) { p.UnsignedTx.TxIn[2].Sequence = wire.MaxTxInSequenceNum }, "input[2]", "sequence is 0xffffffff"},
		{"sequence of input 0", false, func(p *psbt.Packet) { p.UnsignedTx.TxIn[0].Sequence = 1 }, "input[0]", "sequence is 0x1"},
		{"duplicate input", false, func(p *psbt.Packet) {
			p.UnsignedTx.TxIn = append(p.UnsignedTx.TxIn, &wire.TxIn{PreviousOutPoint: p.UnsignedTx.TxIn[1].PreviousOutPoint})
			p.Inputs = append(p.Inputs, p.Inputs[1])
		}, "input[4]", "as input[1] does"},
		{"to_spend spent twice", false, func(p *psbt.Packet) {
			p.UnsignedTx.TxIn[2].PreviousOutPoint = p.UnsignedTx.TxIn[0].PreviousOutPoint
		}, "input[2]", "as input[0] does"},
		{"no reserve coin", false, func(p *psbt.Packet) {
			p.UnsignedTx.TxIn = p.UnsignedTx.TxIn[:1]
			p.Inputs = p.Inputs[:1]
		}, "psbt", "no reserve coin"},
		{"foreign global xpub", false, func(p *psbt.Packet) { p.XPubs = foreignProof.XPubs }, "xpub[0]", "another wallet"},
		{"finalized coin", false, func(p *psbt.Packet) { p.Inputs[1].FinalScriptWitness = []byte{0} }, "input[1]", "already finalized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := unsigned
			if tt.signed {
				raw = signedOne
			}
			p := MustParse(t, raw)
			_, err := CheckProof(p, w.d)
			require.NoError(t, err, "the proof before the change")
			tt.break_(p)
			_, err = CheckProof(p, w.d)
			if tt.substr == "" {
				require.NoError(t, err)
				return
			}
			RequireInvalid(t, err, tt.field, tt.substr)
			_, err = SignProof(p, w.d, w.xprvs[1])
			RequireInvalid(t, err, tt.field, tt.substr)
		})
	}
}

// TestBuildProofRefusals gives BuildProof coins it must refuse.
func TestBuildProofRefusals(t *testing.T) {
	w := MustPSBTWallet(t, "proof", 2, 3)
	tests := []struct {
		name   string
		break_ func(s *proofSet)
		field  string
		substr string
	}{
		{"no coins", func(s *proofSet) { s.coins = nil }, "coins", "no coins"},
		{"duplicate coin", func(s *proofSet) { s.coins = append(s.coins, s.coins[0]) }, "coin[3]", "is coin[0] too"},
		{"previous transaction of another coin", func(s *proofSet) { s.coins[1].PrevTx = s.coins[0].PrevTx }, "coin[1]", "previous transaction given for"},
		{"bytes after the previous transaction", func(s *proofSet) {
			s.coins[2].PrevTx = append(slices.Clone(s.coins[2].PrevTx), 0)
		}, "coin[2]", "1 bytes after it"},
		{"amount differs", func(s *proofSet) { s.coins[0].UTXO.AmountSat++ }, "coin[0]", "holds 1500000 sat, the coin says 1500001"},
		{"script differs", func(s *proofSet) { s.coins[0].UTXO.Script = psbtPayee("x") }, "coin[0]", "the coin says"},
		{"output index out of range", func(s *proofSet) { s.coins[1].UTXO.OutPoint.Index = 5 }, "coin[1]", "has 1 outputs"},
		{"coin at another path", func(s *proofSet) { s.coins[1].UTXO.Index = 4 }, "coin[1]", "not the wallet's script at 1/4"},
		{"coin at a foreign script", func(s *proofSet) {
			prev := fundingTx("foreign", 0, psbtPayee("someone"), 7_000)
			s.coins[2] = ProofCoin{
				UTXO:   reserve.UTXO{OutPoint: wire.OutPoint{Hash: prev.TxHash()}, AmountSat: 7_000, Script: psbtPayee("someone"), Index: 2},
				PrevTx: MustSerializeTx(t, prev),
			}
		}, "coin[2]", "not the wallet's script at 0/2"},
		{"amount zero", func(s *proofSet) { s.coins[0].UTXO.AmountSat = 0 }, "coin[0]", "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustProofSet(t, w, proofTestCoins)
			tt.break_(s)
			_, err := w.d.BuildProof([]byte(testProofMessage), s.coins)
			RequireInvalid(t, err, tt.field, tt.substr)
		})
	}
}

// MustProofWitness signs input i of tx as cosigners 0 and 1 of w with
// hashType, the coin at path holding prev.
func (s *proofSet) MustProofWitness(tb testing.TB, tx *wire.MsgTx, msg string, i int, path keyPath, prev *wire.TxOut, hashType txscript.SigHashType) wire.TxWitness {
	tb.Helper()
	ts := ToSpend(BIP322MessageHash([]byte(msg)), s.MustChallenge(tb))
	f := &proofFetcher{toSpend: wire.OutPoint{Hash: ts.TxHash()}, out: ts.TxOut[0], prevOuts: s.prevOuts}
	hashes := txscript.NewTxSigHashes(tx, f)
	der := s.w.MustDerived(tb, path.Branch, path.Index)
	byKey := map[string][]byte{}
	for _, c := range []int{0, 1} {
		k, err := s.w.xprvs[c].Derive(uint32(path.Branch))
		require.NoError(tb, err)
		k, err = k.Derive(path.Index)
		require.NoError(tb, err)
		priv, err := k.ECPrivKey()
		require.NoError(tb, err)
		sig, err := txscript.RawTxInWitnessSignature(tx, hashes, i, prev.Value, der.WitnessScript, hashType, priv)
		require.NoError(tb, err)
		byKey[string(priv.PubKey().SerializeCompressed())] = sig
	}
	_, keys, err := parseMultisig(der.WitnessScript)
	require.NoError(tb, err)
	wit := wire.TxWitness{nil}
	for _, k := range keys {
		if sig, ok := byKey[string(k)]; ok {
			wit = append(wit, sig)
		}
	}
	return append(wit, der.WitnessScript)
}

// TestVerifyProofRefusals breaks one rule of a finalized proof at a time,
// as the public verifier sees it.
func TestVerifyProofRefusals(t *testing.T) {
	w := MustPSBTWallet(t, "proof", 2, 3)
	s := MustProofSet(t, w, proofTestCoins)
	final := s.MustFinal(t, testProofMessage)
	challenge := s.MustChallenge(t)
	other := MustProofSet(t, MustPSBTWallet(t, "proof other", 2, 3), proofTestCoins)
	otherFinal := other.MustFinal(t, testProofMessage)

	type args struct {
		tx       *wire.MsgTx
		msg      []byte
		prevOuts map[wire.OutPoint]*wire.TxOut
	}
	// resign replaces input i's witness by signatures of hashType.
	resign := func(a *args, i int, hashType txscript.SigHashType) {
		c := proofTestCoins[i-1]
		a.tx.TxIn[i].Witness = s.MustProofWitness(t, a.tx, testProofMessage, i, c.path, a.prevOuts[a.tx.TxIn[i].PreviousOutPoint], hashType)
	}
	tests := []struct {
		name   string
		break_ func(a *args)
		field  string
		substr string
	}{
		{"resigned with ALL (control)", func(a *args) { resign(a, 2, txscript.SigHashAll) }, "", ""},
		{"message changed after signing", func(a *args) { a.msg = []byte(testProofMessage + " (amended)") }, "input[0]", "not output 0 of the BIP-322 to_spend"},
		{"message changed, input 0 repointed", func(a *args) {
			a.msg = []byte(testProofMessage + " (amended)")
			a.tx.TxIn[0].PreviousOutPoint.Hash = ToSpend(BIP322MessageHash(a.msg), challenge).TxHash()
		}, "input[0]", "script verification failed"},
		{"to_spend altered", func(a *args) {
			ts := ToSpend(BIP322MessageHash(a.msg), challenge)
			ts.TxOut[0].Value = 1
			a.tx.TxIn[0].PreviousOutPoint.Hash = ts.TxHash()
		}, "input[0]", "not output 0 of the BIP-322 to_spend"},
		{"foreign input", func(a *args) {
			a.tx.TxIn = append(a.tx.TxIn, otherFinal.TxIn[1])
			a.prevOuts[otherFinal.TxIn[1].PreviousOutPoint] = other.prevOuts[otherFinal.TxIn[1].PreviousOutPoint]
		}, "", "script verification failed"},
		{"second output", func(a *args) { a.tx.AddTxOut(wire.NewTxOut(0, []byte{txscript.OP_RETURN})) }, "output[1]", "2 outputs"},
		{"payment hidden: value", func(a *args) { a.tx.TxOut[0].Value = 1 }, "output[0]", "pays 1 sat"},
		{"payment hidden: script", func(a *args) { a.tx.TxOut[0].PkScript = psbtPayee("thief") }, "output[0]", "OP_RETURN (6a) alone"},
		{"input at a foreign script", func(a *args) {
			op := a.tx.TxIn[1].PreviousOutPoint
			a.prevOuts[op] = wire.NewTxOut(a.prevOuts[op].Value, p2wsh(w.MustDerived(t, reserve.BranchReceive, 9).WitnessScript))
		}, "input[1]", "script verification failed"},
		{"input at a P2WPKH", func(a *args) {
			op := a.tx.TxIn[1].PreviousOutPoint
			a.prevOuts[op] = wire.NewTxOut(a.prevOuts[op].Value, psbtPayee("someone"))
		}, "input[1]", "P2WPKH witness has 4 items"},
		{"input at a bare script", func(a *args) {
			op := a.tx.TxIn[3].PreviousOutPoint
			a.prevOuts[op] = wire.NewTxOut(a.prevOuts[op].Value, []byte{txscript.OP_TRUE})
		}, "input[3]", "neither P2WSH nor P2WPKH"},
		{"amount inflated", func(a *args) {
			op := a.tx.TxIn[3].PreviousOutPoint
			a.prevOuts[op] = wire.NewTxOut(a.prevOuts[op].Value+1, a.prevOuts[op].PkScript)
		}, "input[3]", "script verification failed"},
		{"previous output unknown", func(a *args) { delete(a.prevOuts, a.tx.TxIn[2].PreviousOutPoint) }, "input[2]", "is not given"},
		{"signature with SIGHASH_NONE", func(a *args) { resign(a, 2, txscript.SigHashNone) }, "input[2]", "sighash type NONE"},
		{"signature with SIGHASH_SINGLE", func(a *args) { resign(a, 1, txscript.SigHashSingle) }, "input[1]", "sighash type SINGLE"},
		{"signature with ALL|ANYONECANPAY", func(a *args) {
			resign(a, 3, txscript.SigHashAll|txscript.SigHashAnyOneCanPay)
		}, "input[3]", "sighash type ALL|ANYONECANPAY"},
		{"signature missing", func(a *args) {
			wit := a.tx.TxIn[2].Witness
			a.tx.TxIn[2].Witness = append(wire.TxWitness{nil, wit[1]}, wit[3])
		}, "input[2]", "script verification failed"},
		{"witness of input 0 emptied", func(a *args) { a.tx.TxIn[0].Witness = nil }, "input[0]", "too few"},
		{"version 2", func(a *args) { a.tx.Version = 2 }, "tx", "version 2"},
		{"locktime", func(a *args) { a.tx.LockTime = 1 }, "tx", "locktime 1"},
		{"sequence", func(a *args) { a.tx.TxIn[1].Sequence = 0xfffffffd }, "input[1]", "sequence is 0xfffffffd"},
		{"duplicate input", func(a *args) { a.tx.TxIn = append(a.tx.TxIn, a.tx.TxIn[2]) }, "input[4]", "as input[2] does"},
		{"no inputs", func(a *args) { a.tx.TxIn = nil }, "tx", "no inputs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &args{tx: final.Copy(), msg: []byte(testProofMessage), prevOuts: map[wire.OutPoint]*wire.TxOut{}}
			for op, out := range s.prevOuts {
				a.prevOuts[op] = out
			}
			total, err := VerifyProof(a.tx, a.msg, challenge, a.prevOuts, 0)
			require.NoError(t, err, "the proof before the change")
			require.Equal(t, s.total, total)
			tt.break_(a)
			total, err = VerifyProof(a.tx, a.msg, challenge, a.prevOuts, 0)
			if tt.substr == "" {
				require.NoError(t, err)
				require.Equal(t, s.total, total)
				return
			}
			RequireInvalid(t, err, tt.field, tt.substr)
			require.Zero(t, total)
		})
	}
}

// TestFinalizeProofChecks finalizes only a proof whose signatures verify,
// leaving the PSBT unchanged otherwise.
func TestFinalizeProofChecks(t *testing.T) {
	w := MustPSBTWallet(t, "proof", 2, 3)
	s := MustProofSet(t, w, proofTestCoins)
	signed := MustSerialize(t, s.MustSignProof(t, s.MustBuild(t, testProofMessage), 0, 1))
	tests := []struct {
		name   string
		break_ func(p *psbt.Packet)
		code   reserve.Code
		field  string
		substr string
	}{
		{"bad signature", func(p *psbt.Packet) {
			sig := p.Inputs[2].PartialSigs[0].Signature
			sig[10] ^= 1
		}, reserve.CodeInvalid, "input[2]", "script verification failed"},
		{"payment hidden after signing", func(p *psbt.Packet) { p.UnsignedTx.TxOut[0].Value = 1 }, reserve.CodeInvalid, "output[0]", "pays 1 sat"},
		{"not a proof", func(p *psbt.Packet) { p.Unknowns = nil }, reserve.CodeInvalid, "global[0x09]", "no message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustParse(t, signed)
			tt.break_(p)
			before := MustSerialize(t, p)
			_, err := FinalizeProof(p, w.d)
			RequireCode(t, err, tt.code, tt.field, tt.substr)
			require.Equal(t, before, MustSerialize(t, p), "the PSBT changed")
		})
	}
}

// TestSignProofRefusesSpends keeps the proof signer from signing a spend:
// a spend is not a proof, whatever it carries.
func TestSignProofRefusesSpends(t *testing.T) {
	w := MustPSBTWallet(t, "proof", 2, 3)
	spend := w.MustStandardSpend(t)
	_, err := SignProof(spend, w.d, w.xprvs[0])
	RequireInvalid(t, err, "global[0x09]", "no message")
	spend.Unknowns = append(spend.Unknowns, &psbt.Unknown{Key: []byte{0x09}, Value: []byte(testProofMessage)})
	_, err = SignProof(spend, w.d, w.xprvs[0])
	RequireInvalid(t, err, "tx", "version 2")
	require.Empty(t, spend.Inputs[0].PartialSigs)
}

// TestVerifyProofParallel verifies a proof large enough to be spread over
// goroutines, and names the first bad input whatever the workers.
func TestVerifyProofParallel(t *testing.T) {
	s := MustProofSet(t, MustPSBTWallet(t, "proof", 2, 3), benchCoins(24))
	final := s.MustFinal(t, testProofMessage)
	challenge := s.MustChallenge(t)
	for _, workers := range []int{1, 2, 4, 0} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			total, err := VerifyProof(final, []byte(testProofMessage), challenge, s.prevOuts, workers)
			require.NoError(t, err)
			require.Equal(t, s.total, total)

			bad := final.Copy()
			for _, i := range []int{21, 13, 17} {
				sig := bad.TxIn[i].Witness[1]
				sig[8] ^= 1
			}
			_, err = VerifyProof(bad, []byte(testProofMessage), challenge, s.prevOuts, workers)
			RequireInvalid(t, err, "input[13]", "script verification failed")
		})
	}
}
