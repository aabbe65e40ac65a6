package signer

import (
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// This signer witnesses the coordinator's audit log (docs/audit.md,
// "Witnesses"). Once the operator pins the log's verifier key (register
// --log-key, kept in the MAC'd state record), every PSBT must carry a
// checkpoint signed by that key and, once this signer has witnessed a
// checkpoint, a consistency proof from that one; a log that does not
// extend what this signer saw is refused (audit.ErrForked). Signing
// records the new checkpoint in the state record, in the same write as the
// ledger seal, and adds this signer's cosignature to the PSBT. A state
// record without a pinned log key (a signer registered before witnessing
// existed, or one whose operator never pinned the key) signs as before and
// witnesses nothing: the summary says so.

// witnessSeedTag is the domain tag of the witness key's seed, derived like
// the state and ledger MAC keys from the account private key.
const witnessSeedTag = "custos/signer/witness/v1"

// Witnessed is what the witness check found in a PSBT.
type Witnessed struct {
	// Pinned is set when this signer pins a log key: the rest is then
	// filled in.
	Pinned bool
	// LogKey is the pinned log verifier key.
	LogKey string
	// Checkpoint is the checkpoint the PSBT carries, checked against the
	// log key; Previous the last one this signer witnessed (Size 0: none).
	Checkpoint, Previous audit.Checkpoint
	// signed is the checkpoint note, for the cosignature.
	signed []byte
}

// witnessSigner derives this signer's witness key from its private key.
func witnessSigner(key *Key) (note.Signer, string, error) {
	seed, err := keyMAC(key, witnessSeedTag, nil)
	if err != nil {
		return nil, "", err
	}
	defer clear(seed)
	skey, vkey, err := audit.NewWitnessKey(seed, key.Record().Fingerprint)
	if err != nil {
		return nil, "", err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("unable to make the witness key: %w", err)
	}
	return s, vkey, nil
}

// WitnessKey returns this signer's witness verifier key: an Ed25519 note
// key derived from its cosigner key under its own domain tag, named
// audit.WitnessName of its master fingerprint. The same key always gives
// the same witness key; auditors pass it to custosctl audit verify
// --witness.
func WitnessKey(key *Key) (string, error) {
	_, vkey, err := witnessSigner(key)
	return vkey, err
}

// PinLogKey pins the audit log's verifier key vkey in dir's state record
// under key, so that from now on this signer witnesses that log. It
// returns false when that key was pinned already. A different key than
// the one pinned is refused: a signer witnesses one log for its life (a
// new log means a new reserve; register it in a new data directory). The
// wallet must be registered first. The caller holds the directory's lock.
func PinLogKey(dir string, key *Key, vkey string) (bool, error) {
	v, err := audit.ParseLogKey(vkey)
	if err != nil {
		return false, err
	}
	if !strings.HasPrefix(v.Name(), audit.OriginPrefix) {
		return false, reserve.Invalid("log key", "is named %q: not the key of a Custos audit log (its name is the log's origin, %s…)", v.Name(), audit.OriginPrefix)
	}
	s, err := loadState(dir, key)
	if err != nil {
		return false, err
	}
	if s.st.descriptor == [32]byte{} {
		return false, reserve.Errorf(reserve.CodeFailedPrecondition, "%w in %s: register the wallet descriptor before the log key", ErrNotRegistered, dir)
	}
	switch s.st.logKey {
	case vkey:
		return false, nil
	case "":
	default:
		return false, reserve.Invalid("log key", "this signer already witnesses log %s; a signer witnesses one log (a new log is a new reserve: register it in a new data directory)", s.st.logKey)
	}
	st := s.st
	st.logKey, st.witnessedSize, st.witnessedRoot = vkey, 0, [32]byte{}
	if _, err := writeState(dir, key, st); err != nil {
		return false, err
	}
	return true, nil
}

// LogKey returns the log key dir's state record pins ("" for none) and
// the last checkpoint it witnessed, read without the key: for display
// only.
func LogKey(dir string) (string, audit.Checkpoint, error) {
	s, err := readState(dir)
	if err != nil {
		return "", audit.Checkpoint{}, err
	}
	return s.st.logKey, s.st.witnessedCheckpoint(), nil
}

// witnessedCheckpoint is the last checkpoint the record says was
// witnessed (Size 0: none).
func (st state) witnessedCheckpoint() audit.Checkpoint {
	if st.logKey == "" || st.witnessedSize == 0 {
		return audit.Checkpoint{}
	}
	v, err := audit.ParseLogKey(st.logKey)
	if err != nil {
		return audit.Checkpoint{}
	}
	return audit.Checkpoint{Origin: v.Name(), Size: st.witnessedSize, Root: st.witnessedRoot}
}

// checkWitness checks pkt's witness fields against the state record st,
// for the cosigner of master fingerprint fp.
func checkWitness(pkt *psbt.Packet, st state, fp uint32) (Witnessed, error) {
	w, err := multisig.ReadWitness(pkt)
	if err != nil {
		return Witnessed{}, err
	}
	if st.logKey == "" {
		return Witnessed{}, nil
	}
	v, err := audit.ParseLogKey(st.logKey)
	if err != nil {
		return Witnessed{}, err
	}
	if w.Checkpoint == nil {
		return Witnessed{}, reserve.Invalid("checkpoint", "the PSBT carries no audit log checkpoint, and this signer witnesses log %s: export it again from the coordinator (custosctl spend export)", v.Name())
	}
	cp, err := audit.OpenCheckpoint(w.Checkpoint, v)
	if err != nil {
		return Witnessed{}, err
	}
	prev := st.witnessedCheckpoint()
	var proof *audit.ConsistencyProof
	if text, ok := w.Proofs[fp]; ok {
		p, err := audit.ParseConsistencyProof(text)
		if err != nil {
			return Witnessed{}, reserve.Invalid("consistency proof", "of cosigner %08x: %w", fp, err)
		}
		proof = &p
	}
	if err := audit.CheckExtends(prev, cp, proof); err != nil {
		return Witnessed{}, err
	}
	return Witnessed{Pinned: true, LogKey: st.logKey, Checkpoint: cp, Previous: prev, signed: w.Checkpoint}, nil
}

// cosignature is this signer's cosignature of the checked checkpoint, as
// the PSBT field's value.
func (w Witnessed) cosignature(key *Key) ([]byte, error) {
	s, vkey, err := witnessSigner(key)
	if err != nil {
		return nil, err
	}
	v, err := audit.ParseLogKey(w.LogKey)
	if err != nil {
		return nil, err
	}
	msg, err := audit.Cosign(w.signed, v, s)
	if err != nil {
		return nil, err
	}
	return audit.Cosignature{Fingerprint: key.Record().Fingerprint, Key: vkey, Note: msg}.Marshal(), nil
}

// addCosignature puts value into pkt as cosigner fp's cosignature,
// keeping the other witness fields.
func addCosignature(pkt *psbt.Packet, fp uint32, value []byte) error {
	w, err := multisig.ReadWitness(pkt)
	if err != nil {
		return err
	}
	w.Cosignatures[fp] = value
	return multisig.SetWitness(pkt, w)
}
