package signer_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

func TestSignCorrectPSBT(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	p := f.approved(t, sp, normalFee)
	unsignedID := p.UnsignedTx.TxHash()

	s, n, err := signer.Sign(p, f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)
	require.Equal(t, len(sp.inputs), n, "one signature per input")

	// The summary, all of it worked out from the pinned descriptor.
	require.Equal(t, f.desc.WalletID(), s.WalletID)
	require.Equal(t, 2, s.Threshold)
	require.Equal(t, 3, s.Cosigners)
	require.Equal(t, unsignedID, s.TxID)
	require.Len(t, s.Payees, 1)
	require.Equal(t, payeeAddress(t), s.Payees[0].Address)
	require.Equal(t, payeeSat, s.Payees[0].AmountSat)
	require.False(t, s.Payees[0].IsChange)
	require.Len(t, s.Change, 1)
	require.Equal(t, changeIndex, s.Change[0].ChangeIndex)
	require.Equal(t, MustDerive(t, f.desc, reserve.BranchChange, changeIndex).Address, s.Change[0].Address)
	require.Equal(t, coinA+coinB+coinC-payeeSat-normalFee, s.Change[0].AmountSat)
	require.Equal(t, normalFee, s.FeeSat)
	require.Equal(t, coinA+coinB+coinC, s.InputSat)
	require.Positive(t, s.VSize)
	require.Equal(t, s.FeeSat*1000/s.VSize, s.FeeRateMilli)
	require.Regexp(t, `^\d+\.\d$`, s.FeeRate())
	require.Len(t, s.Inputs, 3)
	for i, in := range sp.inputs {
		got := s.Inputs[i]
		require.Equal(t, in.OutPoint, got.OutPoint)
		require.Equal(t, in.AmountSat, got.AmountSat)
		require.Equal(t, in.Branch, got.Branch)
		require.Equal(t, in.Index, got.Index)
	}

	// Every input now carries exactly this signer's signature.
	for i, in := range p.Inputs {
		der := MustDerive(t, f.desc, sp.inputs[i].Branch, sp.inputs[i].Index)
		require.Len(t, in.PartialSigs, 1, "input %d", i)
		require.Equal(t, der.PubKeys[f.us().pinned.Position], in.PartialSigs[0].PubKey, "input %d", i)
	}
	require.Equal(t, unsignedID, p.UnsignedTx.TxHash())
}

func TestSignTwiceAddsNothing(t *testing.T) {
	f := newWalletFixture(t)
	p := f.approved(t, newSpend(t, f.desc), normalFee)
	_, n, err := signer.Sign(p, f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	once := MustSerialize(t, p)

	_, n, err = signer.Sign(p, f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)
	require.Zero(t, n)
	require.Equal(t, once, MustSerialize(t, p))
}

// TestSignReplacesAPlantedSignature: a signature under this signer's key
// that it did not make (here, another input's) must not stop it signing.
func TestSignReplacesAPlantedSignature(t *testing.T) {
	f := newWalletFixture(t)
	unsigned := f.approved(t, newSpend(t, f.desc), normalFee)
	canonical := MustClone(t, unsigned)
	p := MustClone(t, unsigned)
	_, n, err := signer.Sign(p, f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	good := MustSerialize(t, p)

	p.Inputs[1].PartialSigs[0].Signature = p.Inputs[0].PartialSigs[0].Signature
	_, err = multisig.CombinePSBT(MustClone(t, canonical), p, f.desc, 1)
	require.Error(t, err, "the daemon refuses the planted signature")

	_, n, err = signer.Sign(p, f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, good, MustSerialize(t, p))
	refs, err := multisig.CombinePSBT(canonical, p, f.desc, 1)
	require.NoError(t, err)
	require.Len(t, refs, 3)
}

// TestSignCombineFinalize runs the signer's output through the daemon's
// side: combine into the canonical PSBT, a second ministry signs, finalize,
// and the script engine accepts every input.
func TestSignCombineFinalize(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	unsigned := MustSerialize(t, f.approved(t, sp, normalFee))
	parse := func() *psbt.Packet {
		p, err := multisig.ParsePSBT(unsigned)
		require.NoError(t, err)
		return p
	}
	canonical := parse()

	ours := parse()
	_, n, err := signer.Sign(ours, f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	refs, err := multisig.CombinePSBT(canonical, ours, f.desc, 2)
	require.NoError(t, err)
	require.Len(t, refs, 3)
	for _, r := range refs {
		require.Equal(t, f.us().pinned.Position, r.Cosigner)
	}

	third := f.m[2]
	theirs := parse()
	_, n, err = signer.Sign(theirs, third.pinned, third.key, third.rules)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	refs, err = multisig.CombinePSBT(canonical, theirs, f.desc, 2)
	require.NoError(t, err)
	require.Len(t, refs, 3)
	for _, r := range refs {
		require.Equal(t, third.pinned.Position, r.Cosigner)
	}
	// Signatures per cosigner position: this signer (0) and the third (2)
	// on every input.
	require.Equal(t, []int{3, 0, 3}, multisig.Signers(canonical, f.desc))

	tx, err := multisig.FinalizePSBT(canonical, f.desc)
	require.NoError(t, err)
	prevOuts := txscript.NewMultiPrevOutFetcher(nil)
	for _, in := range sp.inputs {
		prevOuts.AddPrevOut(in.OutPoint, sp.prevs[in.OutPoint.Hash].TxOut[in.OutPoint.Index])
	}
	hashes := txscript.NewTxSigHashes(tx, prevOuts)
	for i, in := range tx.TxIn {
		out := prevOuts.FetchPrevOutput(in.PreviousOutPoint)
		vm, err := txscript.NewEngine(out.PkScript, tx, i, txscript.StandardVerifyFlags, nil, hashes, out.Value, prevOuts)
		require.NoError(t, err)
		require.NoError(t, vm.Execute(), "input %d", i)
	}
}

func TestSignGlobalXPubsOfThisWallet(t *testing.T) {
	f := newWalletFixture(t)
	p := f.approved(t, newSpend(t, f.desc), normalFee)
	p.XPubs = nil
	for _, m := range f.m {
		p.XPubs = append(p.XPubs, globalXPub(t, m.rec))
	}
	_, n, err := signer.Sign(p, f.us().pinned, f.us().key, f.us().rules)
	require.NoError(t, err)
	require.Equal(t, 3, n)
}

// TestSignRefusals tampers with one thing per row and checks that the
// refusal names the place and the reason and that the PSBT is left exactly
// as it was, without a signature.
func TestSignRefusals(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	// Another 2-of-3 wallet that also holds this signer's key.
	other := MustParse(t, MustDescriptor(t, reserve.Regtest, 2, f.us().rec, f.m[1].rec, MustCosigner(t, 9, reserve.Regtest)))
	foreign := MustCosigner(t, 8, reserve.Regtest)

	tests := []struct {
		name   string
		fee    int64
		lim    signer.Limits
		build  func(t *testing.T) *psbt.Packet
		tamper func(t *testing.T, p *psbt.Packet)
		want   []string
		is     error
	}{
		{
			name: "foreign input",
			tamper: func(t *testing.T, p *psbt.Packet) {
				out := wire.NewTxOut(coinB, MustDerive(t, other, reserve.BranchReceive, 5).PkScript)
				tx := prevTx(9, out)
				p.UnsignedTx.TxIn[1].PreviousOutPoint = wire.OutPoint{Hash: tx.TxHash(), Index: 0}
				p.Inputs[1].NonWitnessUtxo = tx
				p.Inputs[1].WitnessUtxo = wire.NewTxOut(out.Value, out.PkScript)
			},
			want: []string{"input[1]: witness_utxo script ", " is not the wallet's script at 0/5"},
		},
		{
			name: "foreign input with its own witness script",
			tamper: func(t *testing.T, p *psbt.Packet) {
				der := MustDerive(t, other, reserve.BranchReceive, 5)
				tx := prevTx(9, wire.NewTxOut(coinB, der.PkScript))
				p.UnsignedTx.TxIn[1].PreviousOutPoint = wire.OutPoint{Hash: tx.TxHash(), Index: 0}
				p.Inputs[1].NonWitnessUtxo = tx
				p.Inputs[1].WitnessUtxo = wire.NewTxOut(coinB, der.PkScript)
				p.Inputs[1].WitnessScript = der.WitnessScript
			},
			want: []string{"input[1]: witness_utxo script ", " is not the wallet's script at 0/5"},
		},
		{
			name:   "missing non_witness_utxo",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[1].NonWitnessUtxo = nil },
			want:   []string{"input[1]: non_witness_utxo is missing"},
		},
		{
			name: "non_witness_utxo is another transaction",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[1].NonWitnessUtxo = sp.prevs[sp.inputs[2].OutPoint.Hash]
			},
			want: []string{"input[1]: non_witness_utxo is transaction " + sp.inputs[2].OutPoint.Hash.String() +
				", but the input spends " + sp.inputs[1].OutPoint.Hash.String()},
		},
		{
			name: "witness_utxo amount differs from non_witness_utxo",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[1].WitnessUtxo.Value = coinB - 1_000_000
			},
			want: []string{"input[1]: witness_utxo amount 39000000 sat differs from the previous transaction's 40000000 sat"},
		},
		{
			name:   "sighash NONE",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[1].SighashType = txscript.SigHashNone },
			want:   []string{"input[1]: sighash type NONE (0x2) is not allowed, only ALL"},
		},
		{
			name:   "sighash SINGLE",
			tamper: func(t *testing.T, p *psbt.Packet) { p.Inputs[2].SighashType = txscript.SigHashSingle },
			want:   []string{"input[2]: sighash type SINGLE (0x3) is not allowed, only ALL"},
		},
		{
			name: "sighash ALL|ANYONECANPAY",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[0].SighashType = txscript.SigHashAll | txscript.SigHashAnyOneCanPay
			},
			want: []string{"input[0]: sighash type ALL|ANYONECANPAY (0x81) is not allowed, only ALL"},
		},
		{
			name: "fee over the default ceiling",
			fee:  2_000_000,
			want: []string{"fee 0.02000000 BTC is over this signer's ceiling of 0.01000000 BTC"},
			is:   signer.ErrFeeTooHigh,
		},
		{
			name: "fee over the operator's ceiling",
			lim:  signer.Limits{MaxFeeSat: 10_000},
			want: []string{"fee 0.00020000 BTC is over this signer's ceiling of 0.00010000 BTC"},
			is:   signer.ErrFeeTooHigh,
		},
		{
			name: "fee rate over the default ceiling",
			fee:  500_000,
			want: []string{"fee rate ", " sat/vB (fee 0.00500000 BTC for ", "is over this signer's ceiling of 1000 sat/vB"},
			is:   signer.ErrFeeTooHigh,
		},
		{
			name: "fee rate over the operator's ceiling",
			lim:  signer.Limits{MaxFeeRate: 10},
			want: []string{"is over this signer's ceiling of 10 sat/vB"},
			is:   signer.ErrFeeTooHigh,
		},
		{
			name: "PSBT made for another wallet",
			build: func(t *testing.T) *psbt.Packet {
				p := newSpend(t, other).create(t, normalFee)
				signertest.MustApprove(t, p, other, f.policy.Hash(), signertest.Alice(), signertest.Bob())
				return p
			},
			want: []string{"xpub[2]: this PSBT is for another wallet: its key " + multisig.FormatKeyRecord(other.Cosigners()[2]) +
				" is not a key of wallet " + f.desc.WalletID()},
			is: signer.ErrOtherWallet,
		},
		{
			name: "PSBT made for another wallet, without global xpubs",
			build: func(t *testing.T) *psbt.Packet {
				p := newSpend(t, other).create(t, normalFee)
				signertest.MustApprove(t, p, other, f.policy.Hash(), signertest.Alice(), signertest.Bob())
				p.XPubs = nil
				return p
			},
			want: []string{"input[0]: derivation of key ", "is not from a cosigner of this wallet"},
		},
		{
			name: "witness_utxo script differs from non_witness_utxo",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.Inputs[0].WitnessUtxo.PkScript = MustDerive(t, f.desc, reserve.BranchReceive, 1).PkScript
			},
			want: []string{"input[0]: witness_utxo script differs from the previous transaction's output script"},
		},
		{
			name: "global xpubs include a foreign key",
			tamper: func(t *testing.T, p *psbt.Packet) {
				p.XPubs = []psbt.XPub{globalXPub(t, f.m[0].rec), globalXPub(t, f.m[1].rec), globalXPub(t, foreign)}
			},
			want: []string{"xpub[2]: this PSBT is for another wallet: its key " + multisig.FormatKeyRecord(foreign) +
				" is not a key of wallet " + f.desc.WalletID()},
			is: signer.ErrOtherWallet,
		},
		{
			name: "global xpub of this signer's key with another origin",
			tamper: func(t *testing.T, p *psbt.Packet) {
				x := globalXPub(t, f.us().rec)
				x.MasterKeyFingerprint = 0x3fb34dd3 // written d3 4d b3 3f: btcutil writes it little-endian
				p.XPubs = []psbt.XPub{x}
			},
			want: []string{"xpub[0]: this PSBT is for another wallet: it is cosigner 1's key with the origin [d34db33f/48'/1'/0'/2']"},
			is:   signer.ErrOtherWallet,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *psbt.Packet
			if tt.build != nil {
				p = tt.build(t)
			} else {
				fee := tt.fee
				if fee == 0 {
					fee = normalFee
				}
				p = f.approved(t, sp, fee)
			}
			if tt.tamper != nil {
				tt.tamper(t, p)
			}
			before := MustSerialize(t, p)

			rules := withLimits(f.us().rules, tt.lim)
			_, err := signer.Check(p, f.desc, rules)
			require.Error(t, err)
			s, n, err := signer.Sign(p, f.us().pinned, f.us().key, rules)
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "%v", err)
			require.Zero(t, n)
			require.Zero(t, s.TxID)
			require.Equal(t, before, MustSerialize(t, p), "a refused PSBT is left as it was")
			for i, in := range p.Inputs {
				require.Empty(t, in.PartialSigs, "input %d", i)
			}
		})
	}
}

// TestSignRefusesFakeChange: an output is change only when the pinned
// descriptor gives its script; derivation paths or a witness script
// claiming this wallet's keys on any other output are an attempt to pass a
// payment off as change (REFERENCES.md pitfall 2), refused naming the
// output, with nothing signed and the PSBT unchanged. The same outputs
// without those records are plain payees.
func TestSignRefusesFakeChange(t *testing.T) {
	f := newWalletFixture(t)
	sp := newSpend(t, f.desc)
	attacker := MustDerive(t, MustParse(t, MustDescriptor(t, reserve.Regtest, 1, MustCosigner(t, 7, reserve.Regtest))), reserve.BranchChange, changeIndex)

	tests := []struct {
		name   string
		tamper func(p *psbt.Packet)
		want   string
	}{
		{
			name: "payee output with this wallet's change derivations",
			tamper: func(p *psbt.Packet) {
				p.Outputs[0].WitnessScript = p.Outputs[1].WitnessScript
				p.Outputs[0].Bip32Derivation = p.Outputs[1].Bip32Derivation
			},
			want: "output[0]: carries BIP-32 derivations of this wallet's cosigners at m/",
		},
		{
			name: "change derivations on another script",
			tamper: func(p *psbt.Packet) {
				p.UnsignedTx.TxOut[1].PkScript = attacker.PkScript
			},
			want: "output[1]: carries BIP-32 derivations of this wallet's cosigners at m/",
		},
		{
			name: "change derivations and witness script of another wallet",
			tamper: func(p *psbt.Packet) {
				p.UnsignedTx.TxOut[1].PkScript = attacker.PkScript
				p.Outputs[1].WitnessScript = attacker.WitnessScript
			},
			want: "output[1]: carries BIP-32 derivations of this wallet's cosigners at m/",
		},
		{
			name: "a witness script alone on a payee",
			tamper: func(p *psbt.Packet) {
				p.Outputs[0].WitnessScript = attacker.WitnessScript
			},
			want: "output[0]: carries a witness_script, but is not the wallet's change",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := f.approved(t, sp, normalFee)
			tt.tamper(p)
			before := MustSerialize(t, p)
			s, n, err := signer.Sign(p, f.us().pinned, f.us().key, f.us().rules)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
			require.Zero(t, n)
			require.Zero(t, s.TxID)
			require.Equal(t, before, MustSerialize(t, p), "a refused PSBT is left as it was")
		})
	}

	// Without the claims, an output to the attacker's script is a payee
	// like any other, for the approvals to judge.
	p := sp.create(t, normalFee)
	p.UnsignedTx.TxOut[1].PkScript = attacker.PkScript
	p.Outputs[1] = psbt.POutput{}
	signertest.MustApprove(t, p, f.desc, f.policy.Hash(), signertest.Officers()...)
	s, err := signer.Check(p, f.desc, f.us().rules)
	require.NoError(t, err)
	require.Len(t, s.Payees, 2)
	require.Empty(t, s.Change)
}

func TestSignRefusesAMismatchedPinned(t *testing.T) {
	f := newWalletFixture(t)
	p := f.approved(t, newSpend(t, f.desc), normalFee)
	before := MustSerialize(t, p)
	// The third ministry's pinned wallet with this signer's key.
	_, n, err := signer.Sign(p, f.m[2].pinned, f.us().key, f.us().rules)
	require.ErrorContains(t, err, "this signer is cosigner 1 of the pinned wallet, not 3")
	require.Zero(t, n)
	require.Equal(t, before, MustSerialize(t, p))

	_, _, err = signer.Sign(p, f.us().pinned, f.us().key, withLimits(f.us().rules, signer.Limits{MaxFeeSat: -1}))
	require.ErrorContains(t, err, "max-fee")
	_, _, err = signer.Sign(p, nil, f.us().key, f.us().rules)
	require.Error(t, err)
}

func TestAccountKeyIsACopy(t *testing.T) {
	f := newWalletFixture(t)
	k := f.us().key
	acct, err := k.AccountKey()
	require.NoError(t, err)
	require.True(t, acct.IsPrivate())
	pub, err := acct.Neuter()
	require.NoError(t, err)
	require.Equal(t, f.us().rec.XPub, pub.String())
	acct.Zero()

	again, err := k.AccountKey()
	require.NoError(t, err)
	defer again.Zero()
	pub, err = again.Neuter()
	require.NoError(t, err)
	require.Equal(t, f.us().rec.XPub, pub.String(), "zeroing a copy must leave the key intact")

	k.Zero()
	_, err = k.AccountKey()
	require.ErrorContains(t, err, "locked")
}

func TestReadWritePSBT(t *testing.T) {
	f := newWalletFixture(t)
	p := newSpend(t, f.desc).create(t, normalFee)
	dir := t.TempDir()

	bin := filepath.Join(dir, "tx.psbt")
	require.NoError(t, signer.WritePSBT(bin, p, false))
	st, err := os.Stat(bin)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.Equal(t, MustSerialize(t, p), data)
	back, err := signer.ReadPSBT(bin)
	require.NoError(t, err)
	require.Equal(t, data, MustSerialize(t, back))

	err = signer.WritePSBT(bin, p, true)
	require.ErrorIs(t, err, signer.ErrOutputExists)
	require.ErrorContains(t, err, "refusing to overwrite "+bin)
	again, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.Equal(t, data, again)

	b64 := filepath.Join(dir, "tx.txt")
	require.NoError(t, signer.WritePSBT(b64, p, true))
	text, err := os.ReadFile(b64)
	require.NoError(t, err)
	require.Equal(t, base64.StdEncoding.EncodeToString(data), string(text))
	back, err = signer.ReadPSBT(b64)
	require.NoError(t, err)
	require.Equal(t, data, MustSerialize(t, back))

	big := filepath.Join(dir, "big.psbt")
	require.NoError(t, os.WriteFile(big, data, 0o600))
	require.NoError(t, os.Truncate(big, multisig.MaxPSBTBytes+1))
	_, err = signer.ReadPSBT(big)
	require.ErrorContains(t, err, "is more than the 33554432 allowed")
	require.NoError(t, os.Truncate(big, multisig.MaxPSBTFileBytes+1))
	_, err = signer.ReadPSBT(big)
	require.ErrorContains(t, err, "a PSBT file may have at most")

	empty := filepath.Join(dir, "empty.psbt")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	_, err = signer.ReadPSBT(empty)
	require.ErrorContains(t, err, "is empty")

	_, err = signer.ReadPSBT(filepath.Join(dir, "missing.psbt"))
	require.Error(t, err)
	_, err = signer.ReadPSBT(dir)
	require.ErrorContains(t, err, "is a directory")
}

func MustParse(tb testing.TB, desc string) *multisig.Descriptor {
	tb.Helper()
	d, err := multisig.ParseDescriptor(desc, reserve.Regtest)
	require.NoError(tb, err)
	return d
}
