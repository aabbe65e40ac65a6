package main

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// cliProofMessage is a message with text a screen must show as it is.
const cliProofMessage = "Réserve — audit 2026-12-01, challenge 7f3a"

// proofOf is the unsigned proof of the sign fixture's two coins for
// message, serialized.
func (f *signFixture) proofOf(t *testing.T, message string) []byte {
	t.Helper()
	coins := make([]multisig.ProofCoin, len(f.inputs))
	for i, in := range f.inputs {
		prev := f.pkt.Inputs[i].NonWitnessUtxo
		var raw bytes.Buffer
		require.NoError(t, prev.Serialize(&raw))
		der, err := f.desc.Derive(in.Branch, in.Index)
		require.NoError(t, err)
		coins[i] = multisig.ProofCoin{PrevTx: raw.Bytes(), UTXO: reserve.UTXO{OutPoint: in.OutPoint, AmountSat: in.AmountSat,
			Script: der.PkScript, Branch: in.Branch, Index: in.Index}}
	}
	p, err := f.desc.BuildProof([]byte(message), coins)
	require.NoError(t, err)
	b, err := multisig.SerializePSBT(p)
	require.NoError(t, err)
	return b
}

// TestSignProof: sign recognises a proof, shows what it proves and that it
// moves nothing, asks, signs every input and records a proof.
func TestSignProof(t *testing.T) {
	f := newSignFixture(t)
	raw := f.proofOf(t, cliProofMessage)
	p, err := multisig.ParsePSBT(raw)
	require.NoError(t, err)
	txid := p.UnsignedTx.TxHash()
	hash := multisig.BIP322MessageHash([]byte(cliProofMessage))
	in := f.write(t, "proof.psbt", raw)

	// Declined: nothing written, nothing recorded.
	out := f.out(t)
	r := runSign(t, testPassphrase, "n\n", "--datadir", f.dir, "--in", in, "--out", out)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "Sign this proof of reserves? [y/N] ")
	require.Contains(t, r.stderr, "not signed: declined by the operator")
	require.NoFileExists(t, out)
	require.Equal(t, "0", stateValue(t, f.dir, "ledger_entries"))

	r = runSign(t, testPassphrase, "y\n", "--datadir", f.dir, "--in", in, "--out", out)
	require.NoError(t, r.err, r.stderr)
	challenge, err := f.desc.Derive(reserve.BranchReceive, 0)
	require.NoError(t, err)
	want := "PSBT " + in + "\n" +
		"PROOF OF RESERVES — cannot move coins\n" +
		"It spends every coin below in a transaction that can never be mined (BIP-322): signing\n" +
		"proves this ministry holds its key to them, and pays no one.\n\n" +
		"Wallet:      " + f.desc.WalletID() + " (2-of-3), as pinned by this signer\n" +
		"Transaction: " + txid.String() + " (to_sign)\n" +
		"Audit log:   not witnessed (a proof moves nothing)\n" +
		"Message:     " + cliProofMessage + "\n" +
		"Hash:        " + hex.EncodeToString(hash[:]) + " (BIP-322 message hash)\n" +
		"Challenge:   " + challenge.Address + " (receive address 0 of this wallet)\n\n" +
		"Proves 2 coin(s) of this wallet, 1.00000000 BTC:\n" +
		"  coin 1    " + f.inputs[0].OutPoint.String() + "\n" +
		"  coin 2    " + f.inputs[1].OutPoint.String() + "\n"
	require.True(t, strings.HasPrefix(r.stdout, want), r.stdout)
	require.Contains(t, r.stdout, "Signed as cosigner 2 of 3: 3 signature(s) added.")
	require.Contains(t, r.stdout, "\nLedger: 1 entries, head "+stateValue(t, f.dir, "ledger_head")+"\n")
	require.NotContains(t, r.stdout, "Pays")
	signed, err := signer.ReadPSBT(out)
	require.NoError(t, err)
	for i, pin := range signed.Inputs {
		require.Len(t, pin.PartialSigs, 1, "input %d", i)
	}

	// --json says it is a proof, and what it proved; signing it again
	// adds no ledger entry.
	out2 := f.out(t)
	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", in, "--out", out2, "--yes", "--json")
	require.NoError(t, r.err, r.stderr)
	o := decode[proofOutput](t, r.stdout)
	require.Equal(t, proofOutput{
		Kind: "proof_of_reserves", WalletID: f.desc.WalletID(), Threshold: 2, Total: 3, TxID: txid.String(),
		Message: cliProofMessage, MessageHash: hex.EncodeToString(hash[:]), ChallengeAddress: challenge.Address,
		Coins: 2, TotalSat: 100_000_000, Outpoints: []string{f.inputs[0].OutPoint.String(), f.inputs[1].OutPoint.String()},
		SignaturesAdded: 3, Out: out2, LedgerEntry: 1, AlreadySignedAt: "2026-12-01T12:00:00Z",
		LedgerEntries: 1, LedgerHead: stateValue(t, f.dir, "ledger_head"),
	}, o)

	// A payment after the proof signs as before.
	out3 := f.out(t)
	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", out3, "--yes")
	require.NoError(t, r.err, r.stderr)
	f.requireSigned(t, out3)
	require.Equal(t, "2", stateValue(t, f.dir, "ledger_entries"))
}

// TestSignProofRefusals: a proof that breaks a rule is refused before
// any question, naming the rule, and nothing is written.
func TestSignProofRefusals(t *testing.T) {
	f := newSignFixture(t)
	mutated := func(change func(p *psbt.Packet)) []byte {
		p, err := multisig.ParsePSBT(f.proofOf(t, cliProofMessage))
		require.NoError(t, err)
		change(p)
		b, err := multisig.SerializePSBT(p)
		require.NoError(t, err)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{name: "message changed", in: mutated(func(p *psbt.Packet) { p.Unknowns[0].Value = []byte("another message") }),
			want: "custos-signer: input[0]: spends "},
		{name: "second output", in: mutated(func(p *psbt.Packet) {
			p.UnsignedTx.AddTxOut(wire.NewTxOut(1_000, f.pkt.UnsignedTx.TxOut[0].PkScript))
			p.Outputs = append(p.Outputs, psbt.POutput{})
		}), want: "custos-signer: output[1]: to_sign has 2 outputs"},
		{name: "approvals mixed in", in: mutated(func(p *psbt.Packet) {
			for _, u := range f.pkt.Unknowns {
				if u.Key[0] == 0xfc {
					p.Unknowns = append(p.Unknowns, u)
				}
			}
		}), want: "custos-signer: psbt.custos: a proof of reserves with something else mixed in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := f.write(t, "proof.psbt", tt.in)
			out := f.out(t)
			r := runSign(t, testPassphrase, "y\n", "--datadir", f.dir, "--in", in, "--out", out)
			require.Equal(t, 1, r.code, r.stderr)
			require.True(t, strings.HasPrefix(r.stderr, tt.want), r.stderr)
			require.NotContains(t, r.stderr, "Sign this")
			require.Empty(t, r.stdout)
			require.NoFileExists(t, out)
			require.Equal(t, "0", stateValue(t, f.dir, "ledger_entries"))
		})
	}
}
