package backup

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custos-reserve/custos/reserve"
)

// Format names version 1 of the file. It is the file's first line, in the
// clear, and the header's "format".
const Format = "custos-backup/v1"

// StoreName is the name the store's part carries in the header.
const StoreName = "custos.db"

// Bounds of what a header may announce.
const (
	// MaxHeaderBytes bounds the header line inside the encryption.
	MaxHeaderBytes = 64 << 10
	// MaxFileBytes bounds each file beside the store (keys, certificates).
	MaxFileBytes = 1 << 20
	// MaxFiles bounds how many files ride beside the store.
	MaxFiles = 32
)

// Sentinels of the refusals, reachable with errors.Is through the
// *reserve.Error (CodeInvalid) that names the part at fault.
var (
	// ErrNotBackup is a file that is not a Custos backup at all, or whose
	// header is malformed.
	ErrNotBackup = errors.New("not a Custos backup")
	// ErrWrongKey is a backup none of the given age identities opens.
	ErrWrongKey = errors.New("not encrypted to any of the given age identities")
	// ErrTruncated is a backup cut short (or damaged: age cannot tell a
	// final chunk cut in two from a corrupted one).
	ErrTruncated = errors.New("truncated or damaged")
	// ErrHash is a header or part whose SHA-256 (or size) differs from
	// what the backup announced.
	ErrHash = errors.New("SHA-256 mismatch")
)

// Part is one file in the backup: the store, or a file of the data dir.
type Part struct {
	// Name is the path relative to the data dir, slash-separated
	// ("audit-log.key", "tls/ca.pem").
	Name string `json:"name"`
	// Mode is the file's permission bits, restored as written.
	Mode uint32 `json:"mode"`
	Size int64  `json:"size"`
	// SHA256 is the lower-case hex SHA-256 of the part's bytes.
	SHA256 string `json:"sha256"`
}

// Header says what a backup holds. It is the first line inside the
// encryption; its SHA-256 is also written in the clear, so whoever holds
// the file can match it against the "backup.taken" audit leaf without
// the key, and a restore refuses a header that does not match it.
type Header struct {
	Format   string `json:"format"`
	Network  string `json:"network"`
	WalletID string `json:"wallet_id,omitempty"`
	// Schema is the store's schema version.
	Schema uint32    `json:"schema"`
	Time   time.Time `json:"time"`
	// Store is the bbolt file, written first after the header.
	Store Part `json:"store"`
	// Files follow the store, in this order.
	Files []Part `json:"files,omitempty"`
	// CheckpointSize is the size of the audit log inside the store, and
	// Checkpoint the daemon's signed checkpoint of it (a signed note).
	CheckpointSize int64  `json:"checkpoint_size"`
	Checkpoint     string `json:"checkpoint"`
}

// Encode returns the header's line (without its newline).
func (h Header) Encode() ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("unable to encode backup header: %w", err)
	}
	if len(b) > MaxHeaderBytes {
		return nil, reserve.Invalid("header", "is %d bytes, more than %d", len(b), MaxHeaderBytes)
	}
	return b, nil
}

// check refuses a header this package would not read back.
func (h Header) check() error {
	if h.Format != Format {
		return reserve.Invalid("header.format", "is %q, want %q: %w", h.Format, Format, ErrNotBackup)
	}
	if _, err := reserve.ParseNetwork(h.Network); err != nil {
		return reserve.Invalid("header.network", "%v: %w", err, ErrNotBackup)
	}
	if h.Store.Name != StoreName || h.Store.Size < 0 {
		return reserve.Invalid("header.store", "names %q of %d bytes, want %s: %w", h.Store.Name, h.Store.Size, StoreName, ErrNotBackup)
	}
	if err := checkHash("header.store.sha256", h.Store.SHA256); err != nil {
		return err
	}
	if len(h.Files) > MaxFiles {
		return reserve.Invalid("header.files", "are %d, more than %d: %w", len(h.Files), MaxFiles, ErrNotBackup)
	}
	seen := map[string]bool{StoreName: true}
	for i, f := range h.Files {
		field := fmt.Sprintf("header.files[%d]", i)
		if !localName(f.Name) || seen[f.Name] {
			return reserve.Invalid(field, "name %q is not a new relative path inside the data dir: %w", f.Name, ErrNotBackup)
		}
		seen[f.Name] = true
		if f.Size < 0 || f.Size > MaxFileBytes || f.Mode&^0o777 != 0 {
			return reserve.Invalid(field, "size %d or mode %o out of bounds: %w", f.Size, f.Mode, ErrNotBackup)
		}
		if err := checkHash(field+".sha256", f.SHA256); err != nil {
			return err
		}
	}
	if h.CheckpointSize < 0 || h.Checkpoint == "" {
		return reserve.Invalid("header.checkpoint", "is missing: %w", ErrNotBackup)
	}
	return nil
}

func checkHash(field, s string) error {
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size || strings.ToLower(s) != s {
		return reserve.Invalid(field, "is not 64 lower-case hex digits: %w", ErrNotBackup)
	}
	return nil
}

// localName accepts a clean relative slash path that stays inside the dir.
func localName(name string) bool {
	return name != "" && path.Clean(name) == name && !path.IsAbs(name) &&
		name != "." && name != ".." && !strings.HasPrefix(name, "../") && !strings.Contains(name, "\\")
}

// Digest is the SHA-256 of an encoded header, written in the clear.
func Digest(encoded []byte) [32]byte { return sha256.Sum256(encoded) }

// preamble is the clear text before the age file: the format, the
// header's digest, an empty line.
func preamble(digest [32]byte) []byte {
	return fmt.Appendf(nil, "%s\nheader-sha256 %x\n\n", Format, digest)
}

// Write writes a backup of h to w, encrypted to recipients: the store's
// bytes from store (exactly h.Store.Size of them, hashing to
// h.Store.SHA256) and then files, one per h.Files entry. It returns the
// header's digest. A store that differs from its header fails the write
// before the encryption is finished, so what was written does not open.
func Write(w io.Writer, recipients []age.Recipient, h Header, store io.Reader, files [][]byte) ([32]byte, error) {
	if len(recipients) == 0 {
		return [32]byte{}, reserve.Errorf(reserve.CodeFailedPrecondition, "no backup recipients: a backup is only written encrypted to the operators' age keys")
	}
	enc, err := h.Encode()
	if err != nil {
		return [32]byte{}, err
	}
	if len(files) != len(h.Files) {
		return [32]byte{}, reserve.Invalid("files", "are %d, the header lists %d", len(files), len(h.Files))
	}
	digest := Digest(enc)
	if _, err := w.Write(preamble(digest)); err != nil {
		return [32]byte{}, fmt.Errorf("unable to write backup: %w", err)
	}
	aw, err := age.Encrypt(w, recipients...)
	if err != nil {
		return [32]byte{}, fmt.Errorf("unable to encrypt backup: %w", err)
	}
	if _, err := aw.Write(append(enc, '\n')); err != nil {
		return [32]byte{}, fmt.Errorf("unable to write backup header: %w", err)
	}
	hs := sha256.New()
	n, err := io.Copy(io.MultiWriter(aw, hs), io.LimitReader(store, h.Store.Size+1))
	if err != nil {
		return [32]byte{}, fmt.Errorf("unable to write the store into the backup: %w", err)
	}
	if n != h.Store.Size || hex.EncodeToString(hs.Sum(nil)) != h.Store.SHA256 {
		return [32]byte{}, reserve.Errorf(reserve.CodeInternal, "the store copied into the backup (%d bytes) is not the one its header describes", n)
	}
	for i, f := range files {
		p := h.Files[i]
		if int64(len(f)) != p.Size || hashHex(f) != p.SHA256 {
			return [32]byte{}, reserve.Errorf(reserve.CodeInternal, "file %s is not the one the backup header describes", p.Name)
		}
		if _, err := aw.Write(f); err != nil {
			return [32]byte{}, fmt.Errorf("unable to write %s into the backup: %w", p.Name, err)
		}
	}
	if err := aw.Close(); err != nil {
		return [32]byte{}, fmt.Errorf("unable to finish the backup's encryption: %w", err)
	}
	return digest, nil
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ReadPreamble reads the clear text at the start of a backup and returns
// the header digest it announces; it needs no key.
func ReadPreamble(r *bufio.Reader) ([32]byte, error) {
	var digest [32]byte
	line := func() (string, error) {
		s, err := r.ReadSlice('\n')
		if err != nil {
			return "", err
		}
		return string(s[:len(s)-1]), nil
	}
	first, err := line()
	if err != nil || first != Format {
		return digest, reserve.Invalid("backup", "does not start with %q: %w", Format, ErrNotBackup)
	}
	second, err := line()
	hexDigest, ok := strings.CutPrefix(second, "header-sha256 ")
	b, herr := hex.DecodeString(hexDigest)
	if err != nil || !ok || herr != nil || len(b) != len(digest) {
		return digest, reserve.Invalid("backup", "has no header-sha256 line after the format line: %w", ErrNotBackup)
	}
	if third, err := line(); err != nil || third != "" {
		return digest, reserve.Invalid("backup", "has no empty line after the header digest: %w", ErrNotBackup)
	}
	copy(digest[:], b)
	return digest, nil
}

// Reader reads one backup: Open reads and checks the header, then
// CopyStore and ReadFiles read the parts in order.
type Reader struct {
	// Header is what the backup holds; HeaderDigest its SHA-256, as
	// written in the clear and checked against the decrypted header.
	Header       Header
	HeaderDigest [32]byte
	r            *bufio.Reader
}

// Open reads the preamble, decrypts with the first of ids that opens the
// file, reads the header and checks it against the digest in the clear.
func Open(src io.Reader, ids []age.Identity) (*Reader, error) {
	br := bufio.NewReader(src)
	digest, err := ReadPreamble(br)
	if err != nil {
		return nil, err
	}
	plain, err := age.Decrypt(br, ids...)
	if err != nil {
		return nil, decryptError("backup", err)
	}
	pr := bufio.NewReaderSize(plain, 64<<10)
	line, err := readLine(pr, MaxHeaderBytes)
	if err != nil {
		return nil, readError("header", err)
	}
	if Digest(line) != digest {
		return nil, reserve.Invalid("header", "does not hash to the header-sha256 written in the clear: %w", ErrHash)
	}
	var h Header
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, reserve.Invalid("header", "is not a backup header (%v): %w", err, ErrNotBackup)
	}
	// Nothing may follow the header's value on its line: not a second
	// value, not a stray bracket (which dec.More does not see).
	if _, err := dec.Token(); err != io.EOF {
		return nil, reserve.Invalid("header", "is not a backup header (data after the JSON value): %w", ErrNotBackup)
	}
	if err := h.check(); err != nil {
		return nil, err
	}
	return &Reader{Header: h, HeaderDigest: digest, r: pr}, nil
}

// readLine reads one line of at most max bytes, without its newline.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var out []byte
	for {
		chunk, err := r.ReadSlice('\n')
		out = append(out, chunk...)
		if len(out) > max+1 {
			return nil, reserve.Invalid("header", "is longer than %d bytes: %w", max, ErrNotBackup)
		}
		switch {
		case err == nil:
			return out[:len(out)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// decryptError names why age refused the file.
func decryptError(field string, err error) error {
	var nomatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &nomatch):
		return reserve.Invalid(field, "%w (wrong age key?)", ErrWrongKey)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return reserve.Invalid(field, "ends inside its encryption header: %w", ErrTruncated)
	}
	return reserve.Invalid(field, "is not an age-encrypted backup (%v): %w", err, ErrNotBackup)
}

// readError names why reading the decrypted part failed.
func readError(field string, err error) error {
	var re *reserve.Error
	if errors.As(err, &re) {
		return err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return reserve.Invalid(field, "the backup ends before it: %w", ErrTruncated)
	}
	return reserve.Invalid(field, "cannot be decrypted: the backup is cut short or damaged (%v): %w", err, ErrTruncated)
}

// CopyStore copies the store's bytes to w and checks their size and
// SHA-256; on an error, what w received must be thrown away.
func (r *Reader) CopyStore(w io.Writer) error {
	hs := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, hs), io.LimitReader(r.r, r.Header.Store.Size))
	if err != nil {
		return readError("store", err)
	}
	if n != r.Header.Store.Size {
		return reserve.Invalid("store", "the backup ends after %d of its %d bytes: %w", n, r.Header.Store.Size, ErrTruncated)
	}
	if got := hex.EncodeToString(hs.Sum(nil)); got != r.Header.Store.SHA256 {
		return reserve.Invalid("store", "hashes to %s, the header says %s: %w", got, r.Header.Store.SHA256, ErrHash)
	}
	return nil
}

// ReadFiles reads the files after the store, checks each one's size and
// SHA-256, and checks that nothing follows them (which is also when age
// authenticates the end of the file).
func (r *Reader) ReadFiles() ([][]byte, error) {
	out := make([][]byte, len(r.Header.Files))
	for i, p := range r.Header.Files {
		field := fmt.Sprintf("files[%d] %s", i, p.Name)
		b := make([]byte, p.Size)
		if _, err := io.ReadFull(r.r, b); err != nil {
			return nil, readError(field, err)
		}
		if hashHex(b) != p.SHA256 {
			return nil, reserve.Invalid(field, "does not hash to the SHA-256 in the header: %w", ErrHash)
		}
		out[i] = b
	}
	var one [1]byte
	switch n, err := io.ReadFull(r.r, one[:]); {
	case n > 0:
		return nil, reserve.Invalid("backup", "has bytes after its last part: %w", ErrNotBackup)
	case errors.Is(err, io.EOF):
		return out, nil
	default:
		return nil, readError("backup", err)
	}
}

// ParseRecipients reads the operators' age recipients ("age1…", one per
// string) and checks that age encrypts to them together; none is an
// error naming the flag that sets them.
func ParseRecipients(lines []string) ([]age.Recipient, error) {
	if len(lines) == 0 {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "no backup recipients are configured: start custosd with --backup-recipient age1… (one per offline key)")
	}
	out := make([]age.Recipient, 0, len(lines))
	for i, l := range lines {
		rs, err := age.ParseRecipients(strings.NewReader(strings.TrimSpace(l)))
		if err != nil || len(rs) != 1 {
			return nil, reserve.Invalid(fmt.Sprintf("backup recipient[%d]", i), "is not one age recipient (age1…)")
		}
		out = append(out, rs[0])
	}
	if _, err := age.Encrypt(io.Discard, out...); err != nil {
		return nil, reserve.Invalid("backup recipients", "cannot be used together: %v", err)
	}
	return out, nil
}

// ParseIdentities reads an age identity file (AGE-SECRET-KEY-1…). The
// error never quotes the file: it holds secret keys.
func ParseIdentities(r io.Reader) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(r)
	if err != nil {
		return nil, reserve.Invalid("identity", "is not an age identity file: %v", err)
	}
	return ids, nil
}

// Snapshot is what the store says about the copy it wrote, read in the
// same read transaction that wrote it.
type Snapshot struct {
	Network  reserve.Network
	WalletID string // "" before the wallet exists
	Schema   uint32
	// Size is how many bytes the copy is.
	Size int64
	// AuditSize and AuditRoot are the audit log inside the copy.
	AuditSize int64
	AuditRoot tlog.Hash
}

// Restored marks a store installed from a backup until an operator
// acknowledges it: the daemon refuses to export PSBTs meanwhile, because
// the ministries may have witnessed a later log than the one restored.
type Restored struct {
	// Taken is when the backup was taken; CheckpointSize the audit log's
	// size then.
	Taken          time.Time
	CheckpointSize int64
	// HeaderDigest names the backup (its header's SHA-256).
	HeaderDigest [32]byte
}
