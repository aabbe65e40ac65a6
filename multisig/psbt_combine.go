package multisig

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"

	"github.com/custos-reserve/custos/reserve"
)

// SigRef names one accepted partial signature: the input it signs and the
// position of the cosigner whose key made it.
type SigRef struct {
	Input    int
	Cosigner int
}

// CombinePSBT is the daemon's combiner: it merges the partial signatures
// of incoming, a PSBT a signer returned, into canonical, the proposal's
// PSBT. Nothing else of incoming is used — QR signers trim fields
// (liana#1581) and a returned PSBT is not trusted — so the merge is into
// canonical.
//
// incoming must carry canonical's unsigned transaction byte for byte. Every
// partial signature canonical does not already have is then checked once,
// against its one known key: the key must be a cosigner's key at the
// input's (branch, index) as derived from d, and in the input's
// witness_script; the signature strict DER with low S and sighash byte
// ALL; and ecdsa verification against the BIP-143 sighash (midstate
// computed once per call) must pass. No script engine is involved. The
// verification is spread over workers goroutines (0 means GOMAXPROCS).
//
// A co-signer that finalizes an input once it sees the threshold
// (Electrum's default, Core's walletprocesspsbt with finalize) returns
// PSBT_IN_FINAL_SCRIPTWITNESS instead of partial signatures: the
// signatures are taken out of such a witness (finalSignatures) and checked
// like any other. A returned PSBT that carries no signature at all, partial
// or final, is refused with ErrNoSignatures: it is the exported file, not
// a signed one, and "0 added" would hide that.
//
// It is all or nothing: on any error canonical is unchanged. Signatures by
// keys canonical already has a signature from are ignored, so importing
// the same PSBT twice adds nothing. It returns the signatures added,
// ordered by input and cosigner. Refusals are *reserve.Error of code
// CodeInvalid, with field "psbt" for another transaction and "input[i]"
// for a bad signature.
func CombinePSBT(canonical, incoming *psbt.Packet, d *Descriptor, workers int) ([]SigRef, error) {
	if err := checkPacket(canonical, d); err != nil {
		return nil, err
	}
	if err := sameTransaction(canonical, incoming); err != nil {
		return nil, err
	}

	// What the signatures are checked against comes from canonical.
	tx := canonical.UnsignedTx
	paths := make([]keyPath, len(tx.TxIn))
	for i := range tx.TxIn {
		in := &canonical.Inputs[i]
		if in.WitnessUtxo == nil || in.WitnessScript == nil {
			return nil, reserve.Invalid(inputField(i), "canonical PSBT has no witness_utxo or witness_script")
		}
		path, err := d.derivationPath(in.Bip32Derivation)
		if err != nil {
			return nil, reserve.Invalid(inputField(i), "canonical PSBT: %w", err)
		}
		paths[i] = path
	}
	kr := d.kr
	hashes := txscript.NewTxSigHashes(tx, prevOutFetcher(canonical))
	jobs, err := newSignatures(canonical, incoming, hashes)
	if err != nil || len(jobs) == 0 {
		return nil, err
	}

	refs := make([]SigRef, len(jobs))
	err = forEach(len(jobs), workers, func(j int) error {
		i := jobs[j].input
		c, err := verifyPartialSig(canonical, i, jobs[j].sig, paths[i], kr, hashes)
		if err != nil {
			return reserve.Invalid(inputField(i), "%w", err)
		}
		refs[j] = SigRef{Input: i, Cosigner: c}
		return nil
	})
	if err != nil {
		return nil, err
	}

	for _, job := range jobs {
		in := &canonical.Inputs[job.input]
		in.PartialSigs = append(in.PartialSigs, &psbt.PartialSig{
			PubKey:    slices.Clone(job.sig.PubKey),
			Signature: slices.Clone(job.sig.Signature),
		})
	}
	slices.SortFunc(refs, func(a, b SigRef) int {
		if a.Input != b.Input {
			return a.Input - b.Input
		}
		return a.Cosigner - b.Cosigner
	})
	return refs, nil
}

// sameTransaction refuses an incoming PSBT whose unsigned transaction is
// not canonical's, byte for byte.
func sameTransaction(canonical, incoming *psbt.Packet) error {
	if incoming == nil || incoming.UnsignedTx == nil {
		return reserve.Invalid("psbt", "no PSBT to combine")
	}
	var want, got bytes.Buffer
	if err := canonical.UnsignedTx.SerializeNoWitness(&want); err != nil {
		return reserve.Errorf(reserve.CodeInternal, "unable to serialize the proposal's transaction: %w", err)
	}
	if err := incoming.UnsignedTx.SerializeNoWitness(&got); err != nil {
		return reserve.Invalid("psbt", "unable to serialize the PSBT's transaction: %w", err)
	}
	if !bytes.Equal(want.Bytes(), got.Bytes()) {
		return reserve.Invalid("psbt", "PSBT is for a different transaction: txid %s, proposal has %s",
			incoming.UnsignedTx.TxHash(), canonical.UnsignedTx.TxHash())
	}
	if len(incoming.Inputs) != len(canonical.UnsignedTx.TxIn) {
		return reserve.Invalid("psbt", "PSBT has %d input maps for %d inputs", len(incoming.Inputs), len(canonical.UnsignedTx.TxIn))
	}
	return nil
}

// sigJob is one partial signature to verify.
type sigJob struct {
	input int
	sig   *psbt.PartialSig
}

// ErrNoSignatures is returned (inside a *reserve.Error) by CombinePSBT for
// a returned PSBT that carries neither a partial signature nor a final
// witness on any input.
var ErrNoSignatures = errors.New("the PSBT carries no signatures")

// newSignatures lists incoming's signatures by keys canonical has no
// signature from, in input order: its partial signatures, and those of
// its final witnesses (finalSignatures). It fails for a final witness
// that is not the wallet's, and for a PSBT with no signature at all.
func newSignatures(canonical, incoming *psbt.Packet, hashes *txscript.TxSigHashes) ([]sigJob, error) {
	var jobs []sigJob
	carried := 0
	for i := range incoming.Inputs {
		in := &incoming.Inputs[i]
		sigs := in.PartialSigs
		switch {
		case len(in.FinalScriptSig) > 0:
			return nil, reserve.Invalid(inputField(i), "input has a final scriptSig; the wallet's inputs are P2WSH")
		case len(in.FinalScriptWitness) > 0:
			var err error
			if sigs, err = finalSignatures(canonical, i, in.FinalScriptWitness, hashes); err != nil {
				return nil, reserve.Invalid(inputField(i), "%w", err)
			}
		}
		have := canonical.Inputs[i].PartialSigs
		for k, s := range sigs {
			if s == nil {
				continue
			}
			carried++
			sameKey := func(o *psbt.PartialSig) bool { return o != nil && bytes.Equal(o.PubKey, s.PubKey) }
			if slices.ContainsFunc(have, sameKey) || slices.ContainsFunc(sigs[:k], sameKey) {
				continue
			}
			jobs = append(jobs, sigJob{input: i, sig: s})
		}
	}
	if carried == 0 {
		return nil, &reserve.Error{Code: reserve.CodeInvalid, Field: "psbt",
			Msg: "the PSBT carries no signatures, partial or final: import the file the signer wrote, not the exported one",
			Err: ErrNoSignatures}
	}
	return jobs, nil
}

// finalSignatures takes the signatures out of input i's final witness, as
// partial signatures keyed by the cosigner key each one verifies under.
// The witness must be the wallet's P2WSH spend of canonical's input:
// [empty, m signatures, witness_script] with canonical's witness_script.
// OP_CHECKMULTISIG takes signatures in the script's key order, so each is
// matched to the first key after the previous match that it verifies
// against, as the script engine would; a signature that matches none is
// refused. Each is then verified again with the partial signatures, at the
// cost of at most n verifications per finalized input here.
func finalSignatures(canonical *psbt.Packet, i int, final []byte, hashes *txscript.TxSigHashes) ([]*psbt.PartialSig, error) {
	in := &canonical.Inputs[i]
	wit, err := parseWitness(final)
	if err != nil {
		return nil, err
	}
	m, keys, err := parseMultisig(in.WitnessScript)
	if err != nil {
		return nil, fmt.Errorf("canonical PSBT: %w", err)
	}
	switch {
	case len(wit) != m+2:
		return nil, fmt.Errorf("final witness has %d items; a %d-of-%d P2WSH spend has %d (empty, %d signatures, witness script)",
			len(wit), m, len(keys), m+2, m)
	case len(wit[0]) != 0:
		return nil, errors.New("final witness does not start with the empty item OP_CHECKMULTISIG consumes")
	case !bytes.Equal(wit[len(wit)-1], in.WitnessScript):
		return nil, errors.New("final witness ends with a script that is not the input's witness_script")
	}
	hash, err := txscript.CalcWitnessSigHash(in.WitnessScript, hashes, txscript.SigHashAll,
		canonical.UnsignedTx, i, in.WitnessUtxo.Value)
	if err != nil {
		return nil, fmt.Errorf("unable to compute the sighash: %w", err)
	}
	sigs := make([]*psbt.PartialSig, 0, m)
	next := 0
	for k, raw := range wit[1 : len(wit)-1] {
		sig, err := parseSignature(raw, fmt.Sprintf("final witness signature %d", k+1))
		if err != nil {
			return nil, err
		}
		found := -1
		for ; next < len(keys) && found < 0; next++ {
			pub, err := btcec.ParsePubKey(keys[next])
			if err == nil && sig.Verify(hash, pub) {
				found = next
			}
		}
		if found < 0 {
			return nil, fmt.Errorf("final witness signature %d verifies under no key of the witness_script in OP_CHECKMULTISIG order", k+1)
		}
		sigs = append(sigs, &psbt.PartialSig{PubKey: slices.Clone(keys[found]), Signature: slices.Clone(raw)})
	}
	return sigs, nil
}

// verifyPartialSig checks one partial signature of input i and returns the
// position of the cosigner whose key made it.
func verifyPartialSig(canonical *psbt.Packet, i int, s *psbt.PartialSig, path keyPath,
	kr *keyring, hashes *txscript.TxSigHashes) (int, error) {

	sig, err := parseSignature(s.Signature, fmt.Sprintf("signature by key %x", s.PubKey))
	if err != nil {
		return 0, err
	}
	c, pub, err := kr.signerOf(s.PubKey, path)
	if err != nil {
		return 0, err
	}
	in := &canonical.Inputs[i]
	if err := checkWitnessScript(in, s.PubKey); err != nil {
		return 0, err
	}
	hash, err := txscript.CalcWitnessSigHash(in.WitnessScript, hashes, txscript.SigHashAll,
		canonical.UnsignedTx, i, in.WitnessUtxo.Value)
	if err != nil {
		return 0, fmt.Errorf("unable to compute the sighash: %w", err)
	}
	if !sig.Verify(hash, pub) {
		return 0, fmt.Errorf("signature by key %x (cosigner[%d]) does not verify", s.PubKey, c)
	}
	return c, nil
}

// parseSignature reads a signature as a witness carries it: a strict DER
// signature with low S (BIP-66, BIP-146: anything else is not relayed),
// then the sighash byte, which must be ALL. who names it in errors.
func parseSignature(b []byte, who string) (*ecdsa.Signature, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", who)
	}
	der, hashType := b[:len(b)-1], b[len(b)-1]
	if txscript.SigHashType(hashType) != txscript.SigHashAll {
		return nil, fmt.Errorf("%s has sighash type %s, only ALL is accepted", who, sighashName(uint32(hashType)))
	}
	sig, err := ecdsa.ParseDERSignature(der)
	// Serialize writes strict DER with low S; any other encoding of the
	// same signature differs from it.
	if err != nil || !bytes.Equal(sig.Serialize(), der) {
		return nil, fmt.Errorf("%s is not a strict DER, low-S signature", who)
	}
	return sig, nil
}

// signerOf finds the cosigner whose child key at path is key and returns
// it with the key as a curve point. The cosigners' keys are distinct
// (NewDescriptor refuses the same key twice), so at most one matches, and
// only that one is decompressed.
func (kr *keyring) signerOf(key []byte, path keyPath) (int, *btcec.PublicKey, error) {
	s, err := kr.derive(path)
	if err != nil {
		return 0, nil, fmt.Errorf("signature by key %x which is not a key of this wallet at %s: %w", key, path, err)
	}
	c := slices.IndexFunc(s.keys, func(k []byte) bool { return bytes.Equal(k, key) })
	if c < 0 {
		return 0, nil, fmt.Errorf("signature by key %x which is not a key of this wallet at %s", key, path)
	}
	pub, err := btcec.ParsePubKey(key)
	if err != nil {
		return 0, nil, fmt.Errorf("cosigner[%d]'s key %x at %s: %w", c, key, path, err)
	}
	return c, pub, nil
}

// Signers returns, per cosigner position, how many inputs of p carry a
// partial signature by that cosigner's key. It matches signatures to
// cosigners through the inputs' BIP-32 derivations and does not verify
// them again: use it on a PSBT whose signatures CombinePSBT accepted. A
// finalized PSBT has no partial signatures left and counts zero.
func Signers(p *psbt.Packet, d *Descriptor) []int {
	if d == nil {
		return nil
	}
	counts := make([]int, len(d.cosigners))
	if p == nil {
		return counts
	}
	signed := make([]bool, len(d.cosigners))
	for _, in := range p.Inputs {
		clear(signed)
		for _, s := range in.PartialSigs {
			for _, e := range in.Bip32Derivation {
				if s != nil && e != nil && bytes.Equal(e.PubKey, s.PubKey) {
					for _, c := range d.cosignersOf(e) {
						signed[c] = true
					}
				}
			}
		}
		for c, ok := range signed {
			if ok {
				counts[c]++
			}
		}
	}
	return counts
}
