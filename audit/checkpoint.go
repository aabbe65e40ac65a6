package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custos-reserve/custos/reserve"
)

// OriginPrefix starts every Custos log's origin. The rest is the log id
// custosd draws at its first start, before any wallet exists, so the
// origin names one reserve's log for its whole life.
const OriginPrefix = "custos.reserve/"

// MaxCheckpointBytes bounds a signed checkpoint: three short lines and a
// few signature lines (the log's, later the witnesses').
const MaxCheckpointBytes = 16 << 10

// NewOrigin draws a fresh log id from rand and returns the origin
// OriginPrefix + 32 hex digits.
func NewOrigin(rand io.Reader) (string, error) {
	var id [16]byte
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return "", fmt.Errorf("unable to draw a log id: %w", err)
	}
	return OriginPrefix + hex.EncodeToString(id[:]), nil
}

// NewLogKey makes an Ed25519 note key named origin. skey is the signer
// key (keep it 0600 in the data dir); vkey is the verifier key auditors
// pass to audit verify as --log-key.
func NewLogKey(rand io.Reader, origin string) (skey, vkey string, err error) {
	if err := checkOrigin(origin); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand, origin)
}

// ParseLogKey reads a verifier key ("origin+hash+base64"); its name is the
// origin of the log it verifies.
func ParseLogKey(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, reserve.Invalid("log key", "is not a note verifier key (origin+hash+key): %w", err)
	}
	return v, nil
}

func checkOrigin(origin string) error {
	if origin == "" || len(origin) > 256 || strings.ContainsAny(origin, "+ \t\n\r") {
		return reserve.Invalid("origin", "%q must be 1 to 256 characters without spaces or '+'", origin)
	}
	return nil
}

// Checkpoint is a commitment to the first Size leaves of the log named
// Origin: the C2SP tlog-checkpoint body.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text is the checkpoint body: the origin, the size in decimal and the
// root in standard base64, each on its own line.
func (c Checkpoint) Text() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// ParseCheckpoint reads a checkpoint body. Extension lines, which the
// format allows, are refused: Custos writes none.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	lines := strings.Split(string(text), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return Checkpoint{}, reserve.Invalid("checkpoint", "must be exactly three lines (origin, size, root)")
	}
	c := Checkpoint{Origin: lines[0]}
	if err := checkOrigin(c.Origin); err != nil {
		return Checkpoint{}, err
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return Checkpoint{}, reserve.Invalid("checkpoint", "size %q is not a decimal count", lines[1])
	}
	c.Size = n
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, reserve.Invalid("checkpoint", "root %q is not a base64 %d-byte hash", lines[2], tlog.HashSize)
	}
	copy(c.Root[:], root)
	return c, nil
}

// SignCheckpoint signs c as a note with the log key, which must be named
// for c's origin.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, reserve.Invalid("checkpoint", "origin %q is not the log key's %q", c.Origin, s.Name())
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Text())}, s)
	if err != nil {
		return nil, fmt.Errorf("unable to sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint checks a signed checkpoint against the log key v and
// returns it. It refuses, naming the problem, a malformed note, a
// checkpoint of another origin than v's, and one that v did not sign.
// Other signatures (witnesses) are ignored here.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	if len(msg) > MaxCheckpointBytes {
		return Checkpoint{}, reserve.Invalid("checkpoint", "is %d bytes, more than %d", len(msg), MaxCheckpointBytes)
	}
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return Checkpoint{}, reserve.Invalid("checkpoint", "is not a signed note (no signature block)")
	}
	c, err := ParseCheckpoint(msg[:i+1])
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, reserve.Invalid("checkpoint", "is of log %q, not %q whose key was given", c.Origin, v.Name())
	}
	_, err = note.Open(msg, note.VerifierList(v))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case err == nil:
		return c, nil
	case errors.As(err, &unverified):
		return Checkpoint{}, reserve.Invalid("checkpoint", "carries no signature by the given log key %s (hash %08x): wrong key?", v.Name(), v.KeyHash())
	case errors.As(err, &invalid):
		return Checkpoint{}, reserve.Invalid("checkpoint", "signature by %s does not verify: %w", v.Name(), err)
	default:
		return Checkpoint{}, reserve.Invalid("checkpoint", "is not a valid signed note: %w", err)
	}
}
