package multisig

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// SignPSBT adds this cosigner's partial signature to every input of p and
// returns how many it added. The caller runs Analyze first and signs only
// what it approves of: SignPSBT checks what a signature needs, not what the
// payment does.
//
// account is the cosigner's private key at its origin path (DeriveAccount
// gives it); the cosigner is the one of d whose xpub equals
// account.Neuter() exactly. For each input, at the (branch, index) its
// derivations name, the key signed with is account/branch/index, whose
// public key is Derive(branch, index).PubKeys[cosigner] and must be in the
// input's witness_script, which must hash to its witness_utxo script. The
// signature is BIP-143 over SIGHASH_ALL, the transaction's midstate
// computed once for all inputs, DER-encoded with the 0x01 sighash byte.
// An input that already carries this key's valid signature is left alone;
// any other signature under this key (planted by the coordinator) is
// replaced by a real one.
//
// It adds all signatures or none: on error p is unchanged. Refusals are
// *reserve.Error of code CodeInvalid ("key" for a key that is not the
// wallet's, "input[i]" for an input it cannot sign). The private keys it
// derives are zeroed before it returns; account is left alone. Signing is
// spread over every core (GOMAXPROCS).
func SignPSBT(p *psbt.Packet, d *Descriptor, account *hdkeychain.ExtendedKey) (int, error) {
	if err := checkPacket(p, d); err != nil {
		return 0, err
	}
	c, err := d.signerPosition(account)
	if err != nil {
		return 0, err
	}
	tx := p.UnsignedTx
	paths := make([]keyPath, len(tx.TxIn))
	for i, txIn := range tx.TxIn {
		in := &p.Inputs[i]
		if err := checkInputFields(txIn, in); err != nil {
			return 0, reserve.Invalid(inputField(i), "%w", err)
		}
		if paths[i], err = d.derivationPath(in.Bip32Derivation); err != nil {
			return 0, reserve.Invalid(inputField(i), "%w", err)
		}
	}
	return signAll(p, d, c, account, paths)
}

// signAll signs every input of p, checked by the caller, as cosigner c
// with account's keys at paths (one per input), all or nothing.
func signAll(p *psbt.Packet, d *Descriptor, c int, account *hdkeychain.ExtendedKey, paths []keyPath) (int, error) {
	tx := p.UnsignedTx
	kr := d.kr
	secrets, err := newBranchSecrets(account, kr, c, paths)
	if err != nil {
		return 0, err
	}
	defer secrets.zero()

	// One midstate for the whole transaction, then one signature per
	// input, spread over the cores.
	hashes := txscript.NewTxSigHashes(tx, prevOutFetcher(p))
	sigs := make([]*psbt.PartialSig, len(tx.TxIn))
	err = forEach(len(tx.TxIn), 0, func(i int) error {
		sig, err := signInput(p, i, kr, c, paths[i], secrets, hashes)
		if err != nil {
			return reserve.Invalid(inputField(i), "%w", err)
		}
		sigs[i] = sig
		return nil
	})
	if err != nil {
		return 0, err
	}
	added := 0
	for i, sig := range sigs {
		if sig == nil {
			continue
		}
		in := &p.Inputs[i]
		in.PartialSigs = slices.DeleteFunc(in.PartialSigs, func(s *psbt.PartialSig) bool {
			return s == nil || bytes.Equal(s.PubKey, sig.PubKey)
		})
		in.PartialSigs = append(in.PartialSigs, sig)
		added++
	}
	return added, nil
}

// signerPosition finds the cosigner whose xpub is account's, exactly:
// version, depth, parent fingerprint, child number, chain code and key.
func (d *Descriptor) signerPosition(account *hdkeychain.ExtendedKey) (int, error) {
	if account == nil || !account.IsPrivate() {
		return 0, reserve.Invalid("key", "signing needs the cosigner's private account key")
	}
	pub, err := account.Neuter()
	if err != nil {
		return 0, reserve.Invalid("key", "unable to take the account's public key: %w", err)
	}
	xpub := pub.String()
	for c, cs := range d.cosigners {
		if cs.XPub == xpub {
			return c, nil
		}
	}
	return 0, reserve.Invalid("key", "this key is not a cosigner of wallet %s", d.walletID)
}

// branchSecrets are the signer's private keys at its branches, for one
// SignPSBT call. A child's private key is its branch key plus the same
// BIP-32 tweak the keyring adds to the public branch key, so each input
// costs one tweak and no extra curve multiplication.
type branchSecrets struct {
	key [2]btcec.ModNScalar
}

// newBranchSecrets derives account's branch keys that paths use and checks
// each against cosigner c's public branch key.
func newBranchSecrets(account *hdkeychain.ExtendedKey, kr *keyring, c int, paths []keyPath) (*branchSecrets, error) {
	s := &branchSecrets{}
	var have [2]bool
	for _, path := range paths {
		if have[path.Branch] {
			continue
		}
		if err := s.derive(account, kr, c, path.Branch); err != nil {
			s.zero()
			return nil, err
		}
		have[path.Branch] = true
	}
	return s, nil
}

// derive sets the secret of branch b.
func (s *branchSecrets) derive(account *hdkeychain.ExtendedKey, kr *keyring, c int, b reserve.Branch) error {
	k, err := account.Derive(uint32(b))
	if err != nil {
		return reserve.Invalid("key", "unable to derive the %s branch: %w", b, err)
	}
	defer k.Zero()
	priv, err := k.ECPrivKey()
	if err != nil {
		return reserve.Invalid("key", "unable to read the %s branch key: %w", b, err)
	}
	defer priv.Zero()
	if !bytes.Equal(priv.PubKey().SerializeCompressed(), kr.serP[b][c]) {
		return reserve.Errorf(reserve.CodeInternal, "the account's %s branch key is not cosigner[%d]'s", b, c)
	}
	s.key[b].Set(&priv.Key)
	return nil
}

// zero wipes the secrets.
func (s *branchSecrets) zero() {
	for i := range s.key {
		s.key[i].Zero()
	}
}

// signInput signs input i with cosigner c's key at path, returning nil if
// the input already carries that key's signature.
func signInput(p *psbt.Packet, i int, kr *keyring, c int, path keyPath,
	secrets *branchSecrets, hashes *txscript.TxSigHashes) (*psbt.PartialSig, error) {

	in := &p.Inputs[i]
	der, err := kr.derive(path)
	if err != nil {
		return nil, err
	}
	pubBytes := slices.Clone(der.keys[c])
	if err := checkWitnessScript(in, pubBytes); err != nil {
		return nil, err
	}
	il, err := kr.tweak(c, path)
	if err != nil {
		return nil, err
	}
	defer il.Zero()
	var secret btcec.ModNScalar
	if secret.Add2(&il, &secrets.key[path.Branch]).IsZero() {
		return nil, errInvalidChild
	}
	priv := btcec.PrivKeyFromScalar(&secret)
	secret.Zero()
	defer priv.Zero()
	sig, err := txscript.RawTxInWitnessSignature(p.UnsignedTx, hashes, i, in.WitnessUtxo.Value,
		in.WitnessScript, txscript.SigHashAll, priv)
	if err != nil {
		return nil, fmt.Errorf("unable to sign: %w", err)
	}
	// RFC 6979 signatures are deterministic: an identical signature under
	// our key means this input is signed already. A different one was not
	// made by us over this transaction, so it is replaced, never trusted.
	if slices.ContainsFunc(in.PartialSigs, func(s *psbt.PartialSig) bool {
		return s != nil && bytes.Equal(s.PubKey, pubBytes) && bytes.Equal(s.Signature, sig)
	}) {
		return nil, nil
	}
	return &psbt.PartialSig{PubKey: pubBytes, Signature: sig}, nil
}

// checkWitnessScript checks that an input's witness_script is the one its
// witness_utxo commits to and holds key: otherwise a signature would be
// useless.
func checkWitnessScript(in *psbt.PInput, key []byte) error {
	if !bytes.Equal(p2wsh(in.WitnessScript), in.WitnessUtxo.PkScript) {
		return errors.New("witness_script does not hash to the witness_utxo script")
	}
	_, keys, err := parseMultisig(in.WitnessScript)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(keys, func(k []byte) bool { return bytes.Equal(k, key) }) {
		return fmt.Errorf("witness_script does not hold key %x", key)
	}
	return nil
}

// prevOutFetcher gives the sighash code every input's witness_utxo, which
// callers have checked is present.
func prevOutFetcher(p *psbt.Packet) *txscript.MultiPrevOutFetcher {
	prevOuts := make(map[wire.OutPoint]*wire.TxOut, len(p.Inputs))
	for i, txIn := range p.UnsignedTx.TxIn {
		prevOuts[txIn.PreviousOutPoint] = p.Inputs[i].WitnessUtxo
	}
	return txscript.NewMultiPrevOutFetcher(prevOuts)
}

// parseMultisig reads a witness script of the form OP_m <33-byte keys>
// OP_n OP_CHECKMULTISIG, m and n pushed as small integers or (above 16)
// as one-byte numbers, and returns m and the keys in script order.
func parseMultisig(script []byte) (int, [][]byte, error) {
	tok := txscript.MakeScriptTokenizer(0, script)
	var ops []byte
	var data [][]byte
	for tok.Next() {
		ops = append(ops, tok.Opcode())
		data = append(data, tok.Data())
	}
	bad := errors.New("witness_script is not an m-of-n CHECKMULTISIG script")
	if tok.Err() != nil || len(ops) < 4 || ops[len(ops)-1] != txscript.OP_CHECKMULTISIG {
		return 0, nil, bad
	}
	last := len(ops) - 2
	m, okM := scriptNumber(ops[0], data[0])
	n, okN := scriptNumber(ops[last], data[last])
	keys := data[1:last]
	if !okM || !okN || n != len(keys) || m < 1 || m > n {
		return 0, nil, bad
	}
	for _, k := range keys {
		if len(k) != 33 {
			return 0, nil, bad
		}
	}
	return m, keys, nil
}

// scriptNumber reads a small number pushed as OP_1…OP_16 or as a one-byte
// push of 17 to 127.
func scriptNumber(op byte, data []byte) (int, bool) {
	switch {
	case op >= txscript.OP_1 && op <= txscript.OP_16:
		return int(op-txscript.OP_1) + 1, true
	case op == txscript.OP_DATA_1 && data[0] > 16 && data[0] < 0x80:
		return int(data[0]), true
	}
	return 0, false
}
