package signer_test

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// proofMessage is the fixture proof's message.
const proofMessage = "Reserve audit 2026-12-01: challenge 7f3a"

// proofCoins are the fixture spend's coins as a proof takes them.
func proofCoins(tb testing.TB, sp *spend) []multisig.ProofCoin {
	tb.Helper()
	coins := make([]multisig.ProofCoin, len(sp.inputs))
	for i, in := range sp.inputs {
		var raw bytes.Buffer
		require.NoError(tb, sp.prevs[in.OutPoint.Hash].Serialize(&raw))
		coins[i] = multisig.ProofCoin{
			UTXO: reserve.UTXO{OutPoint: in.OutPoint, AmountSat: in.AmountSat, Script: MustDerive(tb, sp.d, in.Branch, in.Index).PkScript,
				Branch: in.Branch, Index: in.Index},
			PrevTx: raw.Bytes(),
		}
	}
	return coins
}

// MustProof is the unsigned proof of the fixture spend's three coins for
// message, as the coordinator builds it.
func MustProof(tb testing.TB, sp *spend, message string) *psbt.Packet {
	tb.Helper()
	p, err := sp.d.BuildProof([]byte(message), proofCoins(tb, sp))
	require.NoError(tb, err)
	return p
}

// TestSignProofEndToEnd: two ministries sign a proof built by
// multisig.BuildProof; it finalizes and the public verifier accepts it,
// proving the three coins; each ledger records it as a proof.
func TestSignProofEndToEnd(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	p := MustProof(t, sp, proofMessage)
	txid := p.UnsignedTx.TxHash()

	s, err := signer.CheckProof(p, f.desc, f.us().rules)
	require.NoError(t, err)
	require.False(t, s.Recorded())
	require.Equal(t, f.desc.WalletID(), s.WalletID)
	require.Equal(t, txid, s.TxID)
	require.Equal(t, proofMessage, string(s.Proof.Message))
	require.Equal(t, multisig.BIP322MessageHash([]byte(proofMessage)), s.Proof.MessageHash)
	require.Len(t, s.Proof.Coins, 3)
	require.Equal(t, coinA+coinB+coinC, s.Proof.TotalSat)
	require.False(t, s.Witness.Pinned)

	for i, m := range f.m[:2] {
		s, n, err := signer.SignProof(p, m.pinned, m.key, m.rules)
		require.NoError(t, err, "ministry %d", i)
		require.Equal(t, 4, n, "every input, to_spend's too")
		require.Equal(t, txid, s.TxID)
	}
	tx, err := multisig.FinalizeProof(p, f.desc)
	require.NoError(t, err)
	prevOuts := map[wire.OutPoint]*wire.TxOut{}
	for _, in := range sp.inputs {
		prevOuts[in.OutPoint] = sp.prevs[in.OutPoint.Hash].TxOut[in.OutPoint.Index]
	}
	total, err := multisig.VerifyProof(tx, []byte(proofMessage), s.Proof.Challenge, prevOuts, 0)
	require.NoError(t, err)
	require.Equal(t, coinA+coinB+coinC, total)

	// The ledger records a proof, apart from payments, and the state
	// record seals it.
	entries := MustEntries(t, f.us().rules.Ledger)
	require.Len(t, entries, 1)
	e := entries[0]
	require.Equal(t, txid, e.TxID)
	require.Equal(t, signertest.Now(), e.SignedAt)
	require.Equal(t, &signer.ProofRecord{MessageHash: s.Proof.MessageHash, Coins: 3, TotalSat: coinA + coinB + coinC}, e.Proof)
	require.Zero(t, e.IntentDigest)
	require.Empty(t, e.ProposalID)
	require.Empty(t, e.Inputs)
	n, _ := f.us().rules.Ledger.Head()
	require.Equal(t, uint64(1), n)
	line := string(MustRead(t, f.us().rules.Ledger.Path()))
	require.True(t, strings.HasPrefix(line, `{"prev":"0000000000000000000000000000000000000000000000000000000000000000","kind":"proof","message_hash":"`), line)

	// Signing it again adds no entry.
	again := MustProof(t, sp, proofMessage)
	s2, err := signer.CheckProof(again, f.desc, f.us().rules)
	require.NoError(t, err)
	require.True(t, s2.Recorded())
	_, n2, err := signer.SignProof(again, f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)
	require.Equal(t, 4, n2)
	require.Len(t, MustEntries(t, f.us().rules.Ledger), 1)
}

// TestProofThenPayment: a proof over the coins the next payment spends,
// and a proof of a total far over the velocity caps, change nothing for
// that payment: it signs, and the ledger holds both, the proof first.
func TestProofThenPayment(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	_, _, err := signer.SignProof(MustProof(t, sp, proofMessage), f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)

	pay := f.approved(t, sp, normalFee)
	s, n, err := signer.Sign(pay, f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Empty(t, s.Approved.Conflicts)
	require.Empty(t, s.Approved.Replaces)
	entries := MustEntries(t, f.us().rules.Ledger)
	require.Len(t, entries, 2)
	require.NotNil(t, entries[0].Proof)
	require.Nil(t, entries[1].Proof)
	require.Equal(t, s.TxID, entries[1].TxID)
	require.Equal(t, payeeSat, entries[1].AmountSat)

	// And a proof after the payment signs too: the pay-once rule is for
	// payments.
	_, _, err = signer.SignProof(MustProof(t, sp, proofMessage+" (again)"), f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)
	require.Len(t, MustEntries(t, f.us().rules.Ledger), 3)
}

// TestProofNeverPayment: a payment is never checked as a proof and a
// proof never as a payment, whichever entry point is called; a PSBT that
// looks like a proof but is not one is refused by the proof's rules.
func TestProofNeverPayment(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	m := f.us()
	kf, err := signer.ReadKeyFile(m.dir)
	require.NoError(t, err)

	message := &psbt.Unknown{Key: []byte{multisig.PSBTGlobalGenericSignedMessage}, Value: []byte(proofMessage)}
	bareWithMessage := sp.create(t, normalFee)
	bareWithMessage.Unknowns = append(bareWithMessage.Unknowns, message)
	payWithMessage := f.approved(t, sp, normalFee)
	payWithMessage.Unknowns = append(payWithMessage.Unknowns, message)

	tests := []struct {
		name      string
		pkt       *psbt.Packet
		wantProof bool
		// wantErr is the refusal CheckRequest gives ("" for none); the
		// other entry point refuses with wantOther.
		wantErr, wantOther string
	}{
		{name: "payment", pkt: f.approved(t, sp, normalFee), wantOther: "not a proof of reserves"},
		{name: "proof", pkt: MustProof(t, sp, proofMessage), wantProof: true, wantOther: "this PSBT is a proof of reserves, not a payment"},
		{name: "unapproved payment with a message field", pkt: bareWithMessage, wantErr: "to_sign has version 2", wantOther: "this PSBT is a proof of reserves, not a payment"},
		{name: "payment with a message field", pkt: payWithMessage, wantErr: "something else mixed in", wantOther: "this PSBT is a proof of reserves, not a payment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := MustSerialize(t, tt.pkt)
			r, err := signer.CheckRequest(m.dir, kf, tt.pkt, signer.Limits{}, signertest.Now)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.wantProof, r.Proof != nil)
			}
			if multisig.IsProof(tt.pkt) {
				_, err = signer.Check(tt.pkt, f.desc, m.rules)
				require.ErrorIs(t, err, signer.ErrIsProof)
				_, _, err = signer.Sign(tt.pkt, m.pinned, m.key, m.rules)
				require.ErrorIs(t, err, signer.ErrIsProof)
			} else {
				_, err = signer.CheckProof(tt.pkt, f.desc, m.rules)
				require.ErrorContains(t, err, tt.wantOther)
				_, _, err = signer.SignProof(tt.pkt, m.pinned, m.key, m.rules)
				require.ErrorContains(t, err, tt.wantOther)
			}
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
			require.Equal(t, before, MustSerialize(t, tt.pkt), "nothing signed")
			require.Empty(t, MustEntries(t, m.rules.Ledger))
		})
	}
}

// TestSignProofRefusals: a proof changed in one way per row is refused,
// naming the field and the rule, with no signature added and nothing
// recorded.
func TestSignProofRefusals(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	approvedPay := f.approved(t, sp, normalFee)
	foreign := prevTx(9, wire.NewTxOut(10_000, payeeScript(t)))

	tests := []struct {
		name   string
		mutate func(p *psbt.Packet)
		field  string
		want   string
		is     error
	}{
		{name: "message changed", mutate: func(p *psbt.Packet) {
			p.Unknowns[0].Value = []byte(proofMessage + "!")
		}, field: "input[0]", want: "not output 0 of the BIP-322 to_spend"},
		{name: "foreign input", mutate: func(p *psbt.Packet) {
			op := wire.OutPoint{Hash: foreign.TxHash(), Index: 0}
			p.UnsignedTx.AddTxIn(&wire.TxIn{PreviousOutPoint: op})
			p.Inputs = append(p.Inputs, psbt.PInput{NonWitnessUtxo: foreign, WitnessUtxo: foreign.TxOut[0], SighashType: txscript.SigHashAll})
		}, field: "input[4]"},
		{name: "second output", mutate: func(p *psbt.Packet) {
			p.UnsignedTx.AddTxOut(wire.NewTxOut(0, []byte{txscript.OP_RETURN}))
			p.Outputs = append(p.Outputs, psbt.POutput{})
		}, field: "output[1]", want: "exactly one"},
		{name: "payment hidden in the output", mutate: func(p *psbt.Packet) {
			p.UnsignedTx.TxOut[0] = wire.NewTxOut(50_000_000, payeeScript(t))
		}, field: "output[0]", want: "0 sat to OP_RETURN"},
		{name: "input at a foreign script", mutate: func(p *psbt.Packet) {
			p.Inputs[2].WitnessScript = MustDerive(t, f.desc, reserve.BranchReceive, 7).WitnessScript
		}, field: "input[2]"},
		{name: "sighash NONE", mutate: func(p *psbt.Packet) {
			p.Inputs[1].SighashType = txscript.SigHashNone
		}, field: "input[1]", want: "sighash"},
		{name: "approvals mixed in", mutate: func(p *psbt.Packet) {
			for _, u := range approvedPay.Unknowns {
				if bytes.HasPrefix(u.Key, []byte{0xfc, 6, 'c', 'u', 's', 't', 'o', 's'}) {
					p.Unknowns = append(p.Unknowns, u)
				}
			}
		}, field: "psbt.custos", want: "carries a payment intent and 2 officer approval(s)", is: signer.ErrProofMixed},
		{name: "an unreadable custos field", mutate: func(p *psbt.Packet) {
			p.Unknowns = append(p.Unknowns, &psbt.Unknown{Key: []byte{0xfc, 6, 'c', 'u', 's', 't', 'o', 's', 0x7f}, Value: []byte{1}})
		}, field: "psbt.custos", want: "unknown subtype", is: signer.ErrProofMixed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustProof(t, sp, proofMessage)
			tt.mutate(p)
			before := MustSerialize(t, p)
			for _, run := range []func() error{
				func() error { _, err := signer.CheckProof(p, f.desc, f.us().rules); return err },
				func() error { _, _, err := signer.SignProof(p, f.us().pinned, f.us().key, f.us().rules); return err },
			} {
				err := run()
				var re *reserve.Error
				require.True(t, errors.As(err, &re), "%v", err)
				require.Equal(t, tt.field, re.Field, "%v", err)
				require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
				require.ErrorContains(t, err, tt.want)
				if tt.is != nil {
					require.ErrorIs(t, err, tt.is)
				}
			}
			require.Equal(t, before, MustSerialize(t, p), "no signature added")
			require.Empty(t, MustEntries(t, f.us().rules.Ledger))
		})
	}
}

// TestSignProofWrongSighashSignature: a cosigner's signature on another
// sighash in the proof is refused before this signer adds its own.
func TestSignProofWrongSighashSignature(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	p := MustProof(t, sp, proofMessage)
	_, _, err := signer.SignProof(p, f.m[1].pinned, f.m[1].key, f.m[1].rules)
	require.NoError(t, err)
	sig := p.Inputs[3].PartialSigs[0].Signature
	sig[len(sig)-1] = byte(txscript.SigHashSingle)
	before := MustSerialize(t, p)

	_, _, err = signer.SignProof(p, f.us().pinned, f.us().key, f.us().rules)
	require.ErrorContains(t, err, "input[3]: partial signature")
	require.ErrorContains(t, err, "sighash type SINGLE")
	require.Equal(t, before, MustSerialize(t, p))
	require.Empty(t, MustEntries(t, f.us().rules.Ledger))
}

// TestProofLedgerLines: a proof's line reads back; a line of either kind
// carrying the other's fields, or of an unknown kind, is damage.
func TestProofLedgerLines(t *testing.T) {
	key := MustKey(t)
	l := MustLedgerWith(t, nil)
	proof := signer.LedgerEntry{TxID: chainhash.Hash{5}, SignedAt: signertest.Now(),
		Proof: &signer.ProofRecord{MessageHash: chainhash.Hash{0xab}, Coins: 3, TotalSat: 125_000_000}}
	pay := entryFor([32]byte{1}, 0x01, 70_000_000, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{9}, Index: 2})
	require.NoError(t, l.Append(key, proof))
	require.NoError(t, l.Append(key, pay))
	require.Equal(t, []signer.LedgerEntry{proof, pay}, MustEntries(t, l))
	data, err := os.ReadFile(l.Path())
	require.NoError(t, err)
	proofLine, payLine, _ := strings.Cut(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Equal(t, `{"prev":"0000000000000000000000000000000000000000000000000000000000000000","kind":"proof",`+
		`"message_hash":"ab00000000000000000000000000000000000000000000000000000000000000","txid":"`+chainhash.Hash{5}.String()+`",`+
		`"coins":3,"total_sat":125000000,"signed_at":"2026-12-01T12:00:00Z"`, proofLine[:strings.Index(proofLine, `,"mac":"`)])
	_ = payLine

	tests := []struct {
		name, text, want string
	}{
		{name: "unknown kind", text: strings.Replace(proofLine, `"kind":"proof"`, `"kind":"gift"`, 1), want: `kind "gift" is not a kind`},
		{name: "payment fields in a proof", text: strings.Replace(proofLine, `"coins":3`, `"amount_sat":5,"coins":3`, 1), want: "a proof's line carries a payment's fields"},
		{name: "proof fields in a payment", text: strings.Replace(payLine, `"amount_sat"`, `"coins":3,"amount_sat"`, 1), want: "a payment's line carries a proof's fields"},
		{name: "no coins", text: strings.Replace(proofLine, `"coins":3`, `"coins":0`, 1), want: "coins 0: a proof proves at least one coin"},
		{name: "no total", text: strings.Replace(proofLine, `"total_sat":125000000`, `"total_sat":0`, 1), want: "total_sat 0 is outside"},
		{name: "short hash", text: strings.Replace(proofLine, `"message_hash":"ab`, `"message_hash":"`, 1), want: "message_hash"},
		{name: "uppercase hash", text: strings.Replace(proofLine, `"message_hash":"ab`, `"message_hash":"AB`, 1), want: `message_hash "AB`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MustLedgerWith(t, []byte(tt.text+"\n")).Entries()
			require.ErrorIs(t, err, signer.ErrLedgerCorrupt)
			require.ErrorContains(t, err, "line 1: "+tt.want)
		})
	}
}

// TestProofWitness: a signer that witnesses the audit log signs a proof
// without a checkpoint, checks one the proof carries (a forked log is
// refused) and neither records nor cosigns it.
func TestProofWitness(t *testing.T) {
	f := newWalletFixture(t)
	l := newTestLog(t, witnessOrigin, 1, 5, "main")
	pinLog(t, f, l)
	fp := f.us().rec.Fingerprint
	sp := newSpend(t, f.desc)
	_, err := witnessSign(t, f, withWitness(t, f.approved(t, sp, normalFee), l.signed(t, 3), fp, nil))
	require.NoError(t, err)
	fork := newTestLog(t, witnessOrigin, 1, 8, "fork")

	tests := []struct {
		name   string
		p      *psbt.Packet
		pinned bool
		forked bool
	}{
		{name: "no checkpoint", p: MustProof(t, sp, proofMessage)},
		{name: "extending checkpoint", p: withWitness(t, MustProof(t, sp, proofMessage), l.signed(t, 5), fp, l.proof(t, 3, 5)), pinned: true},
		{name: "forked log", p: withWitness(t, MustProof(t, sp, proofMessage), fork.signed(t, 8), fp, fork.proof(t, 3, 8)), forked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := MustSerialize(t, tt.p)
			s, _, err := signer.SignProof(tt.p, f.us().pinned, f.us().key, f.us().rules)
			if tt.forked {
				require.ErrorIs(t, err, audit.ErrForked)
				require.Equal(t, before, MustSerialize(t, tt.p))
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.pinned, s.Witness.Pinned)
				w, err := multisig.ReadWitness(tt.p)
				require.NoError(t, err)
				require.Empty(t, w.Cosignatures, "a proof is not cosigned")
			}
			_, cp, err := signer.LogKey(f.us().dir)
			require.NoError(t, err)
			require.EqualValues(t, 3, cp.Size, "a proof records no checkpoint")
		})
	}
}

// TestProofIndexWindow: a proof's coins are held to the index window as a
// spend's inputs are; once the ministry verified the address, it signs.
func TestProofIndexWindow(t *testing.T) {
	f := newWalletFixture(t)
	far := uint32(signer.IndexWindow + 10)
	prev := prevTx(3, wire.NewTxOut(coinA, MustDerive(t, f.desc, reserve.BranchReceive, far).PkScript))
	var raw bytes.Buffer
	require.NoError(t, prev.Serialize(&raw))
	coin := multisig.ProofCoin{PrevTx: raw.Bytes(), UTXO: reserve.UTXO{OutPoint: wire.OutPoint{Hash: prev.TxHash()}, AmountSat: coinA,
		Script: prev.TxOut[0].PkScript, Branch: reserve.BranchReceive, Index: far}}
	p, err := f.desc.BuildProof([]byte(proofMessage), []multisig.ProofCoin{coin})
	require.NoError(t, err)

	_, _, err = signer.SignProof(p, f.us().pinned, f.us().key, f.us().rules)
	require.ErrorContains(t, err, "input[1]: receive index 1010 is beyond this signer's window")
	require.Empty(t, MustEntries(t, f.us().rules.Ledger))

	_, err = signer.RecordSeen(f.us().dir, f.us().key, reserve.BranchReceive, far)
	require.NoError(t, err)
	rules, err := signer.LoadRules(f.us().dir, signer.Limits{}, signertest.Now)
	require.NoError(t, err)
	_, n, err := signer.SignProof(p, f.us().pinned, f.us().key, rules)
	require.NoError(t, err)
	require.Equal(t, 2, n)
}
