package audit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/reserve"
)

// Witnesses (docs/audit.md, "Witnesses"): every ministry's signer checks
// that the checkpoint a PSBT carries extends the one it saw before, and
// cosigns it with its own witness key. A witness key is an Ed25519
// sumdb/note key named WitnessPrefix + the cosigner's master fingerprint,
// and a cosignature is an ordinary note signature line over the
// checkpoint text. C2SP tlog-cosignature/v1 (signature type 0x04, with a
// timestamp) would be the interoperable choice, but golang.org/x/mod's
// note verifies Ed25519 (type 0x01) only and no audited Go implementation
// of cosignature/v1 is among this module's dependencies; a hand-made one
// is what STYLE.md asks us not to write. A cosignature of this format
// carries no time: it says "this witness saw this size and root and had
// seen nothing it does not extend", which is what Custos needs.

// WitnessPrefix starts the name of every witness key.
const WitnessPrefix = "custos.witness/"

// maxCosignatureBytes bounds a cosignature field: the verifier key line
// and a checkpoint with two signatures.
const maxCosignatureBytes = 2 << 10

// ErrForked is wrapped by every refusal of a checkpoint that does not
// extend the one a witness saw before: a smaller tree, the same size with
// another root, a consistency proof that fails, another log.
var ErrForked = errors.New("rewritten or forked history")

// WitnessName is the name of the witness key of the cosigner whose master
// fingerprint is fp (key-record order, "73c5da0a").
func WitnessName(fp uint32) string { return fmt.Sprintf("%s%08x", WitnessPrefix, fp) }

// NewWitnessKey makes the witness key of cosigner fp from a 32-byte seed
// that the signer derives from its own private key under its own domain
// tag: the same seed always gives the same key. skey is secret.
func NewWitnessKey(seed []byte, fp uint32) (skey, vkey string, err error) {
	if len(seed) != 32 {
		return "", "", fmt.Errorf("witness key seed of %d bytes, want 32", len(seed))
	}
	return note.GenerateKey(bytes.NewReader(seed), WitnessName(fp))
}

// ParseWitnessKey reads a witness verifier key and refuses one that is not
// named for cosigner fp.
func ParseWitnessKey(vkey string, fp uint32) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, reserve.Invalid("witness key", "is not a note verifier key (name+hash+key): %w", err)
	}
	if v.Name() != WitnessName(fp) {
		return nil, reserve.Invalid("witness key", "is named %q, not %q: the key of another cosigner or not a Custos witness key", v.Name(), WitnessName(fp))
	}
	return v, nil
}

// Cosignature is one witness's cosignature: its verifier key (so the
// coordinator can record it the first time it is presented) and the
// checkpoint note with the log's signature and the witness's.
type Cosignature struct {
	// Fingerprint is the cosigner's master fingerprint.
	Fingerprint uint32
	// Key is the witness's verifier key.
	Key string
	// Note is the cosigned checkpoint: the log's signature line, then the
	// witness's.
	Note []byte
}

// Marshal is the value of a cosignature field: the verifier key, a
// newline, then the cosigned note.
func (c Cosignature) Marshal() []byte {
	return append([]byte(c.Key+"\n"), c.Note...)
}

// ParseCosignature reads what Marshal writes, for cosigner fp. It checks
// the shape and the key's name, no signature (OpenCosignature does).
func ParseCosignature(fp uint32, value []byte) (Cosignature, error) {
	if len(value) > maxCosignatureBytes {
		return Cosignature{}, reserve.Invalid("cosignature", "is %d bytes, more than %d", len(value), maxCosignatureBytes)
	}
	key, msg, ok := bytes.Cut(value, []byte("\n"))
	if !ok || len(msg) == 0 {
		return Cosignature{}, reserve.Invalid("cosignature", "is not a witness key line followed by a cosigned checkpoint")
	}
	if _, err := ParseWitnessKey(string(key), fp); err != nil {
		return Cosignature{}, err
	}
	return Cosignature{Fingerprint: fp, Key: string(key), Note: bytes.Clone(msg)}, nil
}

// Cosign checks the signed checkpoint against the log key and returns it
// with the witness's signature added after the log's.
func Cosign(signedCheckpoint []byte, log note.Verifier, w note.Signer) ([]byte, error) {
	if _, err := OpenCheckpoint(signedCheckpoint, log); err != nil {
		return nil, err
	}
	n, err := note.Open(signedCheckpoint, note.VerifierList(log))
	if err != nil {
		return nil, reserve.Invalid("checkpoint", "is not a valid signed note: %w", err)
	}
	n.UnverifiedSigs = nil
	msg, err := note.Sign(n, w)
	if err != nil {
		return nil, fmt.Errorf("unable to cosign the checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCosignature checks c against the log key and the witness key it
// names (which the caller has checked is the one it trusts for c's
// cosigner) and returns the checkpoint both signed.
func OpenCosignature(c Cosignature, log note.Verifier) (Checkpoint, error) {
	w, err := ParseWitnessKey(c.Key, c.Fingerprint)
	if err != nil {
		return Checkpoint{}, err
	}
	cp, err := OpenCheckpoint(c.Note, log)
	if err != nil {
		return Checkpoint{}, err
	}
	n, err := note.Open(c.Note, note.VerifierList(w))
	var unverified *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unverified):
		return Checkpoint{}, reserve.Invalid("cosignature", "of cosigner %08x carries no signature by witness key %s (hash %08x)", c.Fingerprint, w.Name(), w.KeyHash())
	case err != nil:
		return Checkpoint{}, reserve.Invalid("cosignature", "of cosigner %08x does not verify: %w", c.Fingerprint, err)
	}
	if len(n.Sigs) != 1 {
		return Checkpoint{}, reserve.Invalid("cosignature", "of cosigner %08x does not verify under its witness key", c.Fingerprint)
	}
	return cp, nil
}

// CheckExtends refuses next unless it extends prev, the last checkpoint a
// witness saw (Size 0: none, anything extends it): the same log, a size
// no smaller, and proof (from prev.Size to next.Size) passing. Refusals
// of history wrap ErrForked and name both sizes and roots; a proof for
// other sizes, or none where one is needed, is refused naming the proof.
func CheckExtends(prev, next Checkpoint, proof *ConsistencyProof) error {
	if prev.Size == 0 {
		return nil
	}
	forked := func(format string, args ...any) error {
		return reserve.Invalid("checkpoint", "%w: "+format, append([]any{ErrForked}, args...)...)
	}
	switch {
	case next.Origin != prev.Origin:
		return forked("it is of log %q, and this witness saw log %q", next.Origin, prev.Origin)
	case next.Size < prev.Size:
		return forked("the log is at size %d (root %s), smaller than size %d (root %s) this witness saw", next.Size, next.Root, prev.Size, prev.Root)
	case next.Size == prev.Size && next.Root == prev.Root:
		// The checkpoint it saw: nothing to prove.
		return nil
	case next.Size == prev.Size:
		return forked("the log at size %d has root %s, and this witness saw root %s at that size", next.Size, next.Root, prev.Root)
	case proof == nil:
		return reserve.Invalid("consistency proof", "missing: this witness saw size %d (root %s), and nothing shows that size %d (root %s) extends it", prev.Size, prev.Root, next.Size, next.Root)
	case proof.Old != prev.Size || proof.New != next.Size:
		return reserve.Invalid("consistency proof", "is from size %d to %d; this witness saw size %d and the checkpoint is of size %d", proof.Old, proof.New, prev.Size, next.Size)
	}
	if err := proof.Check(prev, next); err != nil {
		return forked("size %d (root %s) does not extend size %d (root %s) this witness saw: %w", next.Size, next.Root, prev.Size, prev.Root, err)
	}
	return nil
}

// ParseFingerprint reads 8 hex digits (key-record order).
func ParseFingerprint(s string) (uint32, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 4 {
		return 0, reserve.Invalid("fingerprint", "%q is not 8 hex digits", s)
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), nil
}

// WitnessRecord is what the coordinator keeps of one witness: its key as
// first presented (trust on first use, recorded in the log) and the
// latest checkpoint it cosigned.
type WitnessRecord struct {
	// Fingerprint is the cosigner's master fingerprint.
	Fingerprint uint32
	// Key is the witness verifier key first presented.
	Key string
	// Checkpoint is the latest checkpoint it cosigned (Size 0: none) and
	// Cosigned the cosigned note.
	Checkpoint Checkpoint
	Cosigned   []byte
}
