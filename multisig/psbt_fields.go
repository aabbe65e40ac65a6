package multisig

import (
	"fmt"
	"math/bits"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/txscript"
)

// The rules below are the ones Bitcoin Core applies when it decodes a
// PSBT (src/psbt.h, PSBTInput/PSBTOutput/PartiallySignedTransaction
// Unserialize): what Core refuses to decode, ParsePSBT refuses too, so a
// PSBT that a standard tool would call malformed never reaches the checks
// that read it. Each function gets one key (type byte first) and its value.

// More BIP-174, BIP-371 and BIP-373 key types.
const (
	globalXPub        = 0x01
	inSighash         = 0x03
	inRedeemScript    = 0x04
	inWitnessScript   = 0x05
	inRipemd160       = 0x0a
	inSha256          = 0x0b
	inHash160         = 0x0c
	inHash256         = 0x0d
	inTapKeySig       = 0x13
	inTapScriptSig    = 0x14
	inTapLeafScript   = 0x15
	inTapInternalKey  = 0x17
	inTapMerkleRoot   = 0x18
	inMusigPubkeys    = 0x1a
	inMusigPubNonce   = 0x1b
	inMusigPartialSig = 0x1c
	outRedeemScript   = 0x00
	outWitnessScript  = 0x01
	outTapInternalKey = 0x05
	outTapTree        = 0x06
	outMusigPubkeys   = 0x08

	// xpubKeyBytes is a PSBT_GLOBAL_XPUB key: the type and a 78-byte
	// serialized extended key.
	xpubKeyBytes = 1 + 78
	// maxTapTreeDepth is TAPROOT_CONTROL_MAX_NODE_COUNT.
	maxTapTreeDepth = 128
)

// psbtFingerprint converts a key record's master-key fingerprint
// (reserve.Cosigner.Fingerprint: the four bytes of HASH160(master key) read
// big-endian, "73c5da0a" = 0x73c5da0a) to the number btcutil/psbt keeps in
// MasterKeyFingerprint, which it writes little-endian. BIP-174 stores the
// four bytes in order, so the number is the byte-reversed one. Every
// fingerprint written into or read from a psbt.Packet goes through this
// pair and nothing else.
func psbtFingerprint(recordFP uint32) uint32 { return bits.ReverseBytes32(recordFP) }

// recordFingerprint is the inverse of psbtFingerprint: the key-record
// order of a fingerprint read from a PSBT, as errors print it.
func recordFingerprint(psbtFP uint32) uint32 { return bits.ReverseBytes32(psbtFP) }

// keySize refuses a key that is not one of the sizes its type allows.
func keySize(name string, key []byte, sizes ...int) error {
	for _, n := range sizes {
		if len(key) == n {
			return nil
		}
	}
	return fmt.Errorf("%s key of %d bytes, want %v", name, len(key), sizes)
}

// valueSize refuses a value that is not exactly n bytes.
func valueSize(name string, val []byte, n int) error {
	if len(val) != n {
		return fmt.Errorf("%s value of %d bytes, want %d", name, len(val), n)
	}
	return nil
}

// checkPubKey refuses bytes that are not a valid SEC-encoded public key on
// the curve (Core's CPubKey::IsFullyValid).
func checkPubKey(name string, b []byte) error {
	if _, err := btcec.ParsePubKey(b); err != nil {
		return fmt.Errorf("%s %x is not a valid public key: %w", name, b, err)
	}
	return nil
}

// checkGlobalPair applies Core's rules to a global key other than the
// unsigned transaction and the version.
func checkGlobalPair(key, val []byte) error {
	switch key[0] {
	case globalXPub:
		if err := keySize("global xpub", key, xpubKeyBytes); err != nil {
			return err
		}
		// The serialized key ends with the 33-byte compressed key.
		if err := checkPubKey("global xpub key", key[xpubKeyBytes-33:]); err != nil {
			return err
		}
		return checkDerivationValue(val)
	case proprietaryType:
		return checkProprietaryKey(key)
	}
	return nil
}

// checkInputPair applies Core's rules to one input key-value pair.
func checkInputPair(key, val []byte, curve bool) error {
	switch key[0] {
	case inNonWitnessUtxo:
		return keySize("non_witness_utxo", key, 1)
	case inWitnessUtxo:
		if err := keySize("witness_utxo", key, 1); err != nil {
			return err
		}
		return checkTxOut(val)
	case inPartialSig:
		return checkPartialSig(key, val, curve)
	case inSighash:
		if err := keySize("sighash type", key, 1); err != nil {
			return err
		}
		return valueSize("sighash type", val, 4)
	case inRedeemScript, inWitnessScript, inFinalScriptSig:
		return keySize(fmt.Sprintf("type 0x%02x", key[0]), key, 1)
	case inFinalWitness:
		if err := keySize("final_scriptwitness", key, 1); err != nil {
			return err
		}
		return checkWitnessStack(val)
	case inBip32:
		return checkDerivation(key, val, curve)
	case inRipemd160, inHash160:
		return keySize("hash preimage", key, 1+20)
	case inSha256, inHash256:
		return keySize("hash preimage", key, 1+32)
	case inTapKeySig:
		if err := keySize("taproot key-spend signature", key, 1); err != nil {
			return err
		}
		return checkSchnorrSigSize("taproot key-spend signature", val)
	case inTapScriptSig:
		if err := keySize("taproot script-spend signature", key, 1+32+32); err != nil {
			return err
		}
		return checkSchnorrSigSize("taproot script-spend signature", val)
	case inTapLeafScript:
		if len(key) < 34 || (len(key)-2)%32 != 0 {
			return fmt.Errorf("taproot leaf script key of %d bytes is not a control block (33 + 32k bytes)", len(key)-1)
		}
		if len(val) == 0 {
			return fmt.Errorf("empty taproot leaf script")
		}
	case inTaprootBip32:
		if err := keySize("taproot BIP-32 derivation", key, 1+32); err != nil {
			return err
		}
		return checkTaprootDerivationValue(val)
	case inTapInternalKey, inTapMerkleRoot:
		if err := keySize(fmt.Sprintf("taproot type 0x%02x", key[0]), key, 1); err != nil {
			return err
		}
		return valueSize(fmt.Sprintf("taproot type 0x%02x", key[0]), val, 32)
	case inMusigPubkeys:
		return checkMusigParticipants(key, val)
	case inMusigPubNonce, inMusigPartialSig:
		return checkMusigPartyData(key, val)
	case proprietaryType:
		return checkProprietaryKey(key)
	}
	return nil
}

// checkOutputPair applies Core's rules to one output key-value pair.
func checkOutputPair(key, val []byte, curve bool) error {
	switch key[0] {
	case outRedeemScript, outWitnessScript:
		return keySize(fmt.Sprintf("type 0x%02x", key[0]), key, 1)
	case outBip32:
		return checkDerivation(key, val, curve)
	case outTapInternalKey:
		if err := keySize("taproot internal key", key, 1); err != nil {
			return err
		}
		return valueSize("taproot internal key", val, 32)
	case outTapTree:
		if err := keySize("taproot tree", key, 1); err != nil {
			return err
		}
		return checkTapTree(val)
	case outTaprootBip32:
		if err := keySize("taproot BIP-32 derivation", key, 1+32); err != nil {
			return err
		}
		return checkTaprootDerivationValue(val)
	case outMusigPubkeys:
		return checkMusigParticipants(key, val)
	case proprietaryType:
		return checkProprietaryKey(key)
	}
	return nil
}

// checkDerivation checks a BIP-32 derivation pair: a public key of 33 or
// 65 bytes (on the curve, when curve is set), a fingerprint and whole path
// steps.
func checkDerivation(key, val []byte, curve bool) error {
	if err := keySize("BIP-32 derivation", key, 1+33, 1+65); err != nil {
		return err
	}
	if err := checkSECKey("BIP-32 derivation key", key[1:], curve); err != nil {
		return err
	}
	return checkDerivationValue(val)
}

// checkSECKey checks a public key the decoder checks again: its encoding
// always, the point only when curve is set. A point off the curve is
// refused by psbt.NewFromRawBytes with a message that does not say which
// key; ParsePSBT then scans again with curve set, so the refusal names it
// (each check costs a square root: doing it twice per key doubled the
// time of a large parse).
func checkSECKey(name string, b []byte, curve bool) error {
	if curve {
		return checkPubKey(name, b)
	}
	switch {
	case len(b) == 33 && (b[0] == 0x02 || b[0] == 0x03):
	case len(b) == 65 && (b[0] == 0x04 || b[0] == 0x06 || b[0] == 0x07):
	default:
		return fmt.Errorf("%s %x is not a valid public key: not a SEC encoding", name, b)
	}
	return nil
}

// checkPartialSig checks a partial signature pair: a valid public key and
// a strict-DER signature with a defined sighash byte (BIP-66, Core's
// CheckSignatureEncoding with DERSIG and STRICTENC).
func checkPartialSig(key, val []byte, curve bool) error {
	if err := keySize("partial signature", key, 1+33, 1+65); err != nil {
		return err
	}
	if err := checkSECKey("partial signature key", key[1:], curve); err != nil {
		return err
	}
	if !isStrictDERSig(val) {
		return fmt.Errorf("partial signature of key %x is not a strict DER signature with a defined sighash type", key[1:])
	}
	return nil
}

// isStrictDERSig is BIP-66's IsValidSignatureEncoding followed by a
// defined sighash type byte.
func isStrictDERSig(sig []byte) bool {
	if len(sig) < 9 || len(sig) > 73 || sig[0] != 0x30 || int(sig[1]) != len(sig)-3 {
		return false
	}
	lenR := int(sig[3])
	if 5+lenR >= len(sig) {
		return false
	}
	lenS := int(sig[5+lenR])
	if lenR+lenS+7 != len(sig) {
		return false
	}
	if sig[2] != 0x02 || lenR == 0 || sig[4]&0x80 != 0 || (lenR > 1 && sig[4] == 0 && sig[5]&0x80 == 0) {
		return false
	}
	if sig[lenR+4] != 0x02 || lenS == 0 || sig[lenR+6]&0x80 != 0 || (lenS > 1 && sig[lenR+6] == 0 && sig[lenR+7]&0x80 == 0) {
		return false
	}
	t := txscript.SigHashType(sig[len(sig)-1]) &^ txscript.SigHashAnyOneCanPay
	return t >= txscript.SigHashAll && t <= txscript.SigHashSingle
}

// checkSchnorrSigSize checks a BIP-340 signature's size: 64 bytes, or 65
// with a sighash byte.
func checkSchnorrSigSize(name string, val []byte) error {
	if len(val) != 64 && len(val) != 65 {
		return fmt.Errorf("%s of %d bytes, want 64 or 65", name, len(val))
	}
	return nil
}

// checkWitnessStack checks that val is exactly one serialized witness
// stack.
func checkWitnessStack(val []byte) error {
	s := &scanner{b: val}
	n, err := s.compactSize()
	if err != nil {
		return fmt.Errorf("final_scriptwitness: %w", err)
	}
	if n > uint64(len(val)) {
		return fmt.Errorf("final_scriptwitness claims %d items in %d bytes", n, len(val))
	}
	for range n {
		size, err := s.compactSize()
		if err != nil {
			return fmt.Errorf("final_scriptwitness: %w", err)
		}
		if _, err := s.next(size, "witness item"); err != nil {
			return fmt.Errorf("final_scriptwitness: %w", err)
		}
	}
	if s.off != len(val) {
		return fmt.Errorf("final_scriptwitness has %d bytes after the stack", len(val)-s.off)
	}
	return nil
}

// checkMusigParticipants checks a BIP-373 participant-pubkeys pair: the
// aggregate key in the key, the participants' keys in the value, every
// one a valid compressed key.
func checkMusigParticipants(key, val []byte) error {
	if err := keySize("MuSig2 participant pubkeys", key, 1+33); err != nil {
		return err
	}
	if err := checkPubKey("MuSig2 aggregate key", key[1:]); err != nil {
		return err
	}
	if len(val)%33 != 0 {
		return fmt.Errorf("MuSig2 participant pubkeys value of %d bytes is not a multiple of 33", len(val))
	}
	for k := 0; k < len(val); k += 33 {
		if err := checkPubKey("MuSig2 participant key", val[k:k+33]); err != nil {
			return err
		}
	}
	return nil
}

// checkMusigPartyData checks a BIP-373 public nonce or partial signature
// pair: participant key, aggregate key and an optional leaf hash in the
// key; a 66-byte nonce or a 32-byte partial signature as the value.
func checkMusigPartyData(key, val []byte) error {
	name, size := "MuSig2 public nonce", 66
	if key[0] == inMusigPartialSig {
		name, size = "MuSig2 partial signature", 32
	}
	if err := keySize(name, key, 1+33+33, 1+33+33+32); err != nil {
		return err
	}
	if err := checkPubKey(name+" aggregate key", key[34:67]); err != nil {
		return err
	}
	if err := checkPubKey(name+" participant key", key[1:34]); err != nil {
		return err
	}
	return valueSize(name, val, size)
}

// checkProprietaryKey checks that a proprietary key holds a length-prefixed
// identifier and a compact-size subtype.
func checkProprietaryKey(key []byte) error {
	s := &scanner{b: key, off: 1}
	n, err := s.compactSize()
	if err == nil {
		_, err = s.next(n, "proprietary identifier")
	}
	if err == nil {
		_, err = s.compactSize()
	}
	if err != nil {
		return fmt.Errorf("proprietary key %x: %w", key, err)
	}
	return nil
}

// checkTapTree checks a BIP-371 taproot tree: (depth, leaf version,
// script) triples whose depths describe a complete binary tree in
// depth-first order (Core's TaprootBuilder).
func checkTapTree(val []byte) error {
	if len(val) == 0 {
		return fmt.Errorf("empty taproot tree")
	}
	s := &scanner{b: val}
	var branch []bool
	for s.off < len(val) {
		hdr, err := s.next(2, "taproot leaf")
		if err != nil {
			return fmt.Errorf("taproot tree: %w", err)
		}
		n, err := s.compactSize()
		if err == nil {
			_, err = s.next(n, "taproot leaf script")
		}
		if err != nil {
			return fmt.Errorf("taproot tree: %w", err)
		}
		depth, leafVer := int(hdr[0]), hdr[1]
		if depth > maxTapTreeDepth {
			return fmt.Errorf("taproot tree has a leaf at depth %d, deeper than %d", depth, maxTapTreeDepth)
		}
		if leafVer&^txscript.TaprootLeafMask != 0 {
			return fmt.Errorf("taproot tree has a leaf of version 0x%02x", leafVer)
		}
		if depth+1 < len(branch) {
			return fmt.Errorf("taproot tree is malformed")
		}
		for len(branch) > depth && branch[depth] {
			branch = branch[:len(branch)-1]
			if depth == 0 {
				return fmt.Errorf("taproot tree is malformed")
			}
			depth--
		}
		for len(branch) <= depth {
			branch = append(branch, false)
		}
		branch[depth] = true
	}
	if !(len(branch) == 1 && branch[0]) {
		return fmt.Errorf("taproot tree is malformed")
	}
	return nil
}
