package multisig

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// TestSignPSBT checks which keys may sign, that signing twice adds
// nothing, and that the signatures are the cosigner's derived keys'.
func TestSignPSBT(t *testing.T) {
	w := MustPSBTWallet(t, "sign", 2, 3)
	other := MustPSBTWallet(t, "sign other", 2, 3)
	created := w.MustStandardSpend(t)
	_, account1, err := DeriveAccount(psbtSeed("sign A"), reserve.Regtest, 1)
	require.NoError(t, err)
	pub, err := w.xprvs[0].Neuter()
	require.NoError(t, err)

	t.Run("each cosigner signs with its derived key", func(t *testing.T) {
		for c := range w.xprvs {
			p := MustCopy(t, created)
			n, err := SignPSBT(p, w.d, w.xprvs[c])
			require.NoError(t, err)
			require.Equal(t, 2, n)
			for i, in := range p.Inputs {
				path := standardCoins[i].path
				require.Len(t, in.PartialSigs, 1)
				require.Equal(t, w.MustDerived(t, path.Branch, path.Index).PubKeys[c], in.PartialSigs[0].PubKey)
				sig := in.PartialSigs[0].Signature
				require.Equal(t, byte(txscript.SigHashAll), sig[len(sig)-1])
			}
			want := []int{0, 0, 0}
			want[c] = 2
			require.Equal(t, want, Signers(p, w.d))
		}
	})
	t.Run("signing twice adds nothing", func(t *testing.T) {
		p := MustCopy(t, created)
		_, err := SignPSBT(p, w.d, w.xprvs[1])
		require.NoError(t, err)
		before := MustSerialize(t, p)
		n, err := SignPSBT(p, w.d, w.xprvs[1])
		require.NoError(t, err)
		require.Zero(t, n)
		require.Equal(t, before, MustSerialize(t, p))
	})
	t.Run("no sighash type means ALL", func(t *testing.T) {
		p := MustCopy(t, created)
		p.Inputs[0].SighashType = 0
		n, err := SignPSBT(p, w.d, w.xprvs[2])
		require.NoError(t, err)
		require.Equal(t, 2, n)
		_, err = CombinePSBT(MustCopy(t, created), p, w.d, 0)
		require.NoError(t, err)
	})

	tests := []struct {
		name   string
		key    *hdkeychain.ExtendedKey
		tamper func(p *psbt.Packet)
		field  string
		msg    string
	}{
		{name: "another wallet's key", key: other.xprvs[0], field: "key", msg: "is not a cosigner of wallet " + w.d.WalletID()},
		{name: "the cosigner's seed at another account", key: account1, field: "key", msg: "is not a cosigner"},
		{name: "public key", key: pub, field: "key", msg: "needs the cosigner's private account key"},
		{name: "no key", field: "key", msg: "needs the cosigner's private account key"},
		{name: "sighash NONE", key: w.xprvs[0], field: "input[1]", msg: "sighash type NONE",
			tamper: func(p *psbt.Packet) { p.Inputs[1].SighashType = txscript.SigHashNone }},
		{name: "witness_script of another address", key: w.xprvs[0], field: "input[1]", msg: "does not hash to the witness_utxo script",
			tamper: func(p *psbt.Packet) { p.Inputs[1].WitnessScript = p.Inputs[0].WitnessScript }},
		{name: "no non_witness_utxo", key: w.xprvs[0], field: "input[0]", msg: "non_witness_utxo is missing",
			tamper: func(p *psbt.Packet) { p.Inputs[0].NonWitnessUtxo = nil }},
		{name: "no derivations", key: w.xprvs[0], field: "input[1]", msg: "has no BIP-32 derivations",
			tamper: func(p *psbt.Packet) { p.Inputs[1].Bip32Derivation = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustCopy(t, created)
			if tt.tamper != nil {
				tt.tamper(p)
			}
			before := MustSerialize(t, p)
			n, err := SignPSBT(p, w.d, tt.key)
			RequireCode(t, err, reserve.CodeInvalid, tt.field, tt.msg)
			require.Zero(t, n)
			require.Equal(t, before, MustSerialize(t, p), "PSBT changed")
		})
	}

	// The account key stays usable: SignPSBT zeroes only what it derived.
	n, err := SignPSBT(MustCopy(t, created), w.d, w.xprvs[0])
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

// TestSigningKeysMatchHDKeychain holds the signer's child secrets (branch
// secret + the keyring's tweak) to hdkeychain's private derivation.
func TestSigningKeysMatchHDKeychain(t *testing.T) {
	w := MustPSBTWallet(t, "sign", 3, 5)
	kr, err := newKeyring(w.d)
	require.NoError(t, err)
	for c, xprv := range w.xprvs {
		var paths []keyPath
		for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
			for _, index := range []uint32{0, 1, 99, 1<<31 - 1} {
				paths = append(paths, keyPath{b, index})
			}
		}
		secrets, err := newBranchSecrets(xprv, kr, c, paths)
		require.NoError(t, err)
		for _, path := range paths {
			want, err := DerivePath(xprv, []uint32{uint32(path.Branch), path.Index})
			require.NoError(t, err)
			wantPriv, err := want.ECPrivKey()
			require.NoError(t, err)
			il, err := kr.tweak(c, path)
			require.NoError(t, err)
			var got btcec.ModNScalar
			got.Add2(&il, &secrets.key[path.Branch])
			require.True(t, got.Equals(&wantPriv.Key), "cosigner %d at %s", c, path)
		}
		secrets.zero()
		require.True(t, secrets.key[0].IsZero() && secrets.key[1].IsZero())
	}
	// Another cosigner's key is refused as this cosigner's.
	_, err = newBranchSecrets(w.xprvs[1], kr, 0, []keyPath{{reserve.BranchReceive, 0}})
	RequireCode(t, err, reserve.CodeInternal, "", "is not cosigner[0]'s")
}

// TestSignPSBTReplacesPlantedSignature: a coordinator that puts a bogus
// signature under this cosigner's key on an input must not stop it from
// signing that input for real.
func TestSignPSBTReplacesPlantedSignature(t *testing.T) {
	w := MustPSBTWallet(t, "planted", 2, 3)
	p := w.MustStandardSpend(t)
	n, err := SignPSBT(p, w.d, w.xprvs[0])
	require.NoError(t, err)
	require.Equal(t, len(p.Inputs), n)
	good, err := SerializePSBT(p)
	require.NoError(t, err)

	// Plant input 0's signature on input 1: right key, wrong message.
	planted := *p.Inputs[1].PartialSigs[0]
	planted.Signature = append([]byte(nil), p.Inputs[0].PartialSigs[0].Signature...)
	p.Inputs[1].PartialSigs = []*psbt.PartialSig{&planted}

	n, err = SignPSBT(p, w.d, w.xprvs[0])
	require.NoError(t, err)
	require.Equal(t, 1, n, "the planted signature is replaced")
	again, err := SerializePSBT(p)
	require.NoError(t, err)
	require.Equal(t, good, again)

	n, err = SignPSBT(p, w.d, w.xprvs[0])
	require.NoError(t, err)
	require.Zero(t, n, "signing twice adds nothing")
}
