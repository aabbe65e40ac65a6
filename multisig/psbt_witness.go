package multisig

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"

	"github.com/btcsuite/btcd/btcutil/psbt"

	"github.com/custos-reserve/custos/reserve"
)

// Witness is what the Custos witness fields of a PSBT carry
// (docs/approvals.md, "PSBT fields"; docs/audit.md, "Witnesses"): the
// audit log's checkpoint as the coordinator exported the PSBT, per
// cosigner a consistency proof from the last checkpoint it witnessed, and
// the cosignatures the signers returned. Fingerprints are in key-record
// order (reserve.Cosigner.Fingerprint). The values are the texts
// docs/audit.md specifies; package audit parses and checks them.
type Witness struct {
	// Checkpoint is the signed checkpoint note; nil when absent.
	Checkpoint []byte
	// Proofs are the consistency proof texts by cosigner fingerprint.
	Proofs map[uint32][]byte
	// Cosignatures are the cosignature values by cosigner fingerprint.
	Cosignatures map[uint32][]byte
}

// isWitness reports whether a Custos subtype is a witness field.
func isWitness(subtype byte) bool {
	return subtype == PropCheckpoint || subtype == PropWitnessProof || subtype == PropCosignature
}

// fingerprintKey is a fingerprint as BIP-174 writes it: the four bytes in
// order, "73c5da0a" as 73 c5 da 0a.
func fingerprintKey(fp uint32) []byte { return binary.BigEndian.AppendUint32(nil, fp) }

// witnessField checks one witness field's key data and value and returns
// the fingerprint its key data names (0 for the checkpoint).
func witnessField(subtype byte, keyData, value []byte) (uint32, error) {
	bad := func(format string, args ...any) error { return reserve.Invalid("psbt.custos", format, args...) }
	var fp uint32
	switch subtype {
	case PropCheckpoint:
		if len(keyData) != 0 {
			return 0, bad("checkpoint field has %d bytes of key data, want none", len(keyData))
		}
		if len(value) == 0 || len(value) > maxCheckpointValue {
			return 0, bad("checkpoint field of %d bytes, want 1 to %d", len(value), maxCheckpointValue)
		}
		return 0, nil
	case PropWitnessProof, PropCosignature:
		name, limit := "consistency proof", maxProofValue
		if subtype == PropCosignature {
			name, limit = "cosignature", maxCosignatureValue
		}
		if len(keyData) != 4 {
			return 0, bad("%s field key has %d bytes of fingerprint, want 4", name, len(keyData))
		}
		fp = binary.BigEndian.Uint32(keyData)
		if len(value) == 0 || len(value) > limit {
			return 0, bad("%s of cosigner %08x is %d bytes, want 1 to %d", name, fp, len(value), limit)
		}
		return fp, nil
	}
	return 0, bad("unknown subtype 0x%02x", subtype)
}

// ReadWitness returns the witness fields p carries (all empty when none).
// It refuses, as CodeInvalid with field "psbt.custos", a field twice, key
// data or a value of the wrong size, and proofs or cosignatures without a
// checkpoint. It checks no signature and parses no proof.
func ReadWitness(p *psbt.Packet) (Witness, error) {
	if p == nil {
		return Witness{}, reserve.Invalid("psbt", "no PSBT")
	}
	w := Witness{Proofs: map[uint32][]byte{}, Cosignatures: map[uint32][]byte{}}
	seen := map[string]bool{}
	for _, u := range p.Unknowns {
		if u == nil || !bytes.HasPrefix(u.Key, custosPrefix) || len(u.Key) == len(custosPrefix) {
			continue
		}
		subtype, keyData := u.Key[len(custosPrefix)], u.Key[len(custosPrefix)+1:]
		if !isWitness(subtype) {
			continue
		}
		if seen[string(u.Key)] {
			return Witness{}, reserve.Invalid("psbt.custos", "field %x appears twice", u.Key)
		}
		seen[string(u.Key)] = true
		fp, err := witnessField(subtype, keyData, u.Value)
		if err != nil {
			return Witness{}, err
		}
		switch subtype {
		case PropCheckpoint:
			w.Checkpoint = bytes.Clone(u.Value)
		case PropWitnessProof:
			w.Proofs[fp] = bytes.Clone(u.Value)
		case PropCosignature:
			w.Cosignatures[fp] = bytes.Clone(u.Value)
		}
	}
	if w.Checkpoint == nil && len(w.Proofs)+len(w.Cosignatures) > 0 {
		return Witness{}, reserve.Invalid("psbt.custos", "%d consistency proofs and %d cosignatures and no checkpoint", len(w.Proofs), len(w.Cosignatures))
	}
	return w, nil
}

// SetWitness replaces p's witness fields with w's, in canonical order
// after every other field: the checkpoint, the proofs by fingerprint, the
// cosignatures by fingerprint. Other fields are kept. A value SetWitness
// would refuse to read back is refused.
func SetWitness(p *psbt.Packet, w Witness) error {
	if p == nil {
		return reserve.Invalid("psbt", "no PSBT")
	}
	var add []*psbt.Unknown
	put := func(subtype byte, keyData, value []byte) error {
		if _, err := witnessField(subtype, keyData, value); err != nil {
			return err
		}
		add = append(add, &psbt.Unknown{Key: proprietaryKey(subtype, keyData), Value: bytes.Clone(value)})
		return nil
	}
	if w.Checkpoint != nil {
		if err := put(PropCheckpoint, nil, w.Checkpoint); err != nil {
			return err
		}
	} else if len(w.Proofs)+len(w.Cosignatures) > 0 {
		return reserve.Invalid("psbt.custos", "consistency proofs or cosignatures without a checkpoint")
	}
	for _, fp := range slices.Sorted(maps.Keys(w.Proofs)) {
		if err := put(PropWitnessProof, fingerprintKey(fp), w.Proofs[fp]); err != nil {
			return err
		}
	}
	for _, fp := range slices.Sorted(maps.Keys(w.Cosignatures)) {
		if err := put(PropCosignature, fingerprintKey(fp), w.Cosignatures[fp]); err != nil {
			return err
		}
	}
	kept := slices.DeleteFunc(slices.Clone(p.Unknowns), func(u *psbt.Unknown) bool {
		return u == nil || (bytes.HasPrefix(u.Key, custosPrefix) && len(u.Key) > len(custosPrefix) && isWitness(u.Key[len(custosPrefix)]))
	})
	p.Unknowns = append(kept, add...)
	return nil
}

// MaxWitnessBytes bounds what the witness fields add to a PSBT: the
// checkpoint, and a consistency proof and a cosignature for each of at
// most reserve.MaxCosigners cosigners, each field with its key and
// length prefixes (64 bytes is more than either takes). The coordinator
// keeps it out of what a proposal's inputs may use.
const MaxWitnessBytes = maxCheckpointValue + 64 + reserve.MaxCosigners*(maxProofValue+maxCosignatureValue+2*64)
