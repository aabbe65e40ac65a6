// Package officer owns a treasury officer's approval key: an Ed25519 key
// made and kept on the officer's side, sealed at rest under a passphrase
// (argon2id, XChaCha20-Poly1305), used only to sign approval intents
// (reserve.Intent). It refuses to write over an existing key file, and to
// open a file whose header or ciphertext was changed. It knows nothing of
// the daemon, the store or the signers.
package officer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"unicode/utf8"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/seal"
)

const (
	// FileVersion is the key file format version.
	FileVersion = 1
	// FileType marks an officer key file, so it cannot be confused with a
	// signer's key file.
	FileType = "custos-officer-key"
	// AuditorFileType marks an auditor's console login key file: the same
	// format, its own type (bound into the associated data), so that
	// neither key file can stand in for the other.
	AuditorFileType = "custos-auditor-key"
	// MinPassphraseLen is the fewest characters a new passphrase may have.
	MinPassphraseLen = seal.MinPassphraseLen

	maxFileBytes = 16 << 10
	adTag        = "custos-officer key file\x00"
)

var (
	// ErrWrongPassphrase: the file does not decrypt (wrong passphrase, or
	// the file was changed; the AEAD cannot tell the two apart).
	ErrWrongPassphrase = errors.New("wrong passphrase or corrupted officer key file")
	// ErrKeyMismatch: the sealed key is not the public key the file
	// names.
	ErrKeyMismatch = errors.New("sealed key does not match the public key in the file")
)

// KDF is the argon2id cost, stored in the file.
type KDF = seal.KDF

// DefaultKDF is what keygen uses: t=3, 64 MiB, 2 threads.
func DefaultKDF() KDF { return seal.DefaultKDF() }

// fileJSON is the file on disk. Everything but nonce and ciphertext is
// bound into the AEAD's associated data.
type fileJSON struct {
	Version   int    `json:"version"`
	Type      string `json:"type"`
	PublicKey string `json:"public_key"`
	seal.Fields
}

// File is an officer key file read from disk: its public key is readable
// without the passphrase, and is only a claim until Unlock.
type File struct {
	Path string
	// Type is FileType or AuditorFileType.
	Type      string
	PublicKey [32]byte
	KDF       KDF

	sealed *seal.Box
}

// FormatPublicKey writes a key as the policy document lists it
// ("ed25519:<64 hex digits>", reserve.FormatOfficerKey).
func FormatPublicKey(k [32]byte) string { return reserve.FormatOfficerKey(k) }

// Generate makes a new key from rnd (nil: crypto/rand), seals it under
// passphrase and writes it to path, which must not exist. It returns the
// public key.
func Generate(path string, passphrase []byte, kdf KDF, rnd io.Reader) ([32]byte, error) {
	return generate(path, FileType, passphrase, kdf, rnd)
}

// GenerateAuditor is Generate for an auditor's console login key
// (AuditorFileType).
func GenerateAuditor(path string, passphrase []byte, kdf KDF, rnd io.Reader) ([32]byte, error) {
	return generate(path, AuditorFileType, passphrase, kdf, rnd)
}

func generate(path, fileType string, passphrase []byte, kdf KDF, rnd io.Reader) ([32]byte, error) {
	// Counted in place: a string or rune copy of the secret could not be cleared.
	if utf8.RuneCount(passphrase) < MinPassphraseLen {
		return [32]byte{}, reserve.Invalid("passphrase", "at least %d characters", MinPassphraseLen)
	}
	if err := kdf.Validate(); err != nil {
		return [32]byte{}, reserve.Invalid("kdf", "%w", err)
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return [32]byte{}, fmt.Errorf("unable to read randomness: %w", err)
	}
	sealed, err := seal.NewBox(kdf, rnd)
	if err != nil {
		return [32]byte{}, fmt.Errorf("unable to read randomness: %w", err)
	}
	f := &File{Path: path, Type: fileType, KDF: kdf, sealed: sealed}
	priv := ed25519.NewKeyFromSeed(seed)
	defer clear(priv)
	copy(f.PublicKey[:], priv.Public().(ed25519.PublicKey))
	if err := f.sealed.Seal(passphrase, seed, f.associatedData()); err != nil {
		return [32]byte{}, err
	}
	data, err := json.MarshalIndent(fileJSON{
		Version: FileVersion, Type: fileType, PublicKey: FormatPublicKey(f.PublicKey), Fields: f.sealed.Fields(),
	}, "", "  ")
	if err != nil {
		return [32]byte{}, fmt.Errorf("unable to encode the key file: %w", err)
	}
	if err := writeNew(path, append(data, '\n')); err != nil {
		return [32]byte{}, err
	}
	return f.PublicKey, nil
}

// writeNew writes data to a new file path, mode 0600, whole or not at all;
// an existing path is refused.
func writeNew(path string, data []byte) error {
	err := durable.Write(path, data, 0o600, false)
	if errors.Is(err, fs.ErrExist) {
		return reserve.Errorf(reserve.CodeConflict, "refusing to overwrite %s: it already exists", path)
	}
	return err
}

// Read reads and checks the shape of an officer key file.
func Read(path string) (*File, error) {
	return read(path, FileType)
}

// ReadAuditor reads an auditor's console login key file.
func ReadAuditor(path string) (*File, error) {
	return read(path, AuditorFileType)
}

func read(path, fileType string) (*File, error) {
	data, err := durable.ReadLimited(path, maxFileBytes)
	if errors.Is(err, durable.ErrTooLarge) {
		return nil, reserve.Invalid("key", "%s is larger than %d bytes: not an officer key file", path, maxFileBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read officer key: %w", err)
	}
	f, err := parse(data, fileType)
	if err != nil {
		return nil, reserve.Invalid("key", "%s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

func parse(data []byte, fileType string) (*File, error) {
	var j fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("not an officer key file: %w", err)
	}
	// Nothing but white space may follow the value: not a second value,
	// not a stray bracket (which dec.More does not see).
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not an officer key file: data after the JSON value")
	}
	if j.Type != fileType {
		what := "an officer key file"
		if fileType == AuditorFileType {
			what = "an auditor login key file"
		}
		return nil, fmt.Errorf("not %s (type %q)", what, j.Type)
	}
	if j.Version != FileVersion {
		return nil, fmt.Errorf("unsupported officer key file version %d (want %d)", j.Version, FileVersion)
	}
	sealed, err := j.Fields.Box(ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	pub, err := ParsePublicKey(j.PublicKey)
	if err != nil {
		return nil, err
	}
	return &File{Type: fileType, PublicKey: pub, KDF: sealed.KDF, sealed: sealed}, nil
}

// ParsePublicKey reads "ed25519:<64 hex digits>" (reserve.ParseOfficerKey).
func ParsePublicKey(s string) ([32]byte, error) { return reserve.ParseOfficerKey(s) }

// Unlock opens the sealed key. The caller must clear the key when done.
func (f *File) Unlock(passphrase []byte) (ed25519.PrivateKey, error) {
	var priv ed25519.PrivateKey
	err := f.sealed.Open(passphrase, f.associatedData(), func(seed []byte) error {
		priv = ed25519.NewKeyFromSeed(seed)
		return nil
	})
	if errors.Is(err, seal.ErrOpen) {
		return nil, reserve.Errorf(reserve.CodeDenied, "unable to unlock %s: %w", f.Path, ErrWrongPassphrase)
	}
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), f.PublicKey[:]) {
		clear(priv)
		return nil, reserve.Errorf(reserve.CodeInvalid, "unable to unlock %s: %w", f.Path, ErrKeyMismatch)
	}
	return priv, nil
}

// associatedData binds the header: type, version, public key, KDF and
// its parameters, salt and cipher.
func (f *File) associatedData() []byte {
	b := []byte(adTag)
	lp := func(s []byte) { b = binary.BigEndian.AppendUint32(b, uint32(len(s))); b = append(b, s...) }
	lp([]byte(f.Type))
	b = binary.BigEndian.AppendUint32(b, FileVersion)
	lp(f.PublicKey[:])
	lp([]byte(seal.KDFName))
	b = binary.BigEndian.AppendUint32(b, f.sealed.KDF.Time)
	b = binary.BigEndian.AppendUint32(b, f.sealed.KDF.MemoryKiB)
	b = append(b, f.sealed.KDF.Threads)
	lp(f.sealed.Salt)
	lp([]byte(seal.CipherName))
	return b
}
