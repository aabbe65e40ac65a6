// Package officer owns a treasury officer's approval key: an Ed25519 key
// made and kept on the officer's side, sealed at rest under a passphrase
// (argon2id, XChaCha20-Poly1305), used only to sign approval intents
// (reserve.Intent). It refuses to write over an existing key file, and to
// open a file whose header or ciphertext was changed. It knows nothing of
// the daemon, the store or the signers.
package officer

import (
	"bytes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/chacha20poly1305"

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
	// MinPassphraseLen is the fewest characters a new passphrase may have.
	MinPassphraseLen = 8

	keyPrefix    = "ed25519:"
	kdfName      = "argon2id"
	cipherName   = "xchacha20poly1305"
	saltLen      = 16
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
	Version    int    `json:"version"`
	Type       string `json:"type"`
	PublicKey  string `json:"public_key"`
	KDF        string `json:"kdf"`
	KDFParams  KDF    `json:"kdf_params"`
	Salt       string `json:"salt"`
	Cipher     string `json:"cipher"`
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"`
}

// File is an officer key file read from disk: its public key is readable
// without the passphrase, and is only a claim until Unlock.
type File struct {
	Path      string
	PublicKey [32]byte
	KDF       KDF

	salt, nonce, ciphertext []byte
}

// FormatPublicKey writes a key as the policy document lists it
// ("ed25519:<64 hex digits>").
func FormatPublicKey(k [32]byte) string { return keyPrefix + hex.EncodeToString(k[:]) }

// Generate makes a new key from rnd (nil: crypto/rand), seals it under
// passphrase and writes it to path, which must not exist. It returns the
// public key.
func Generate(path string, passphrase []byte, kdf KDF, rnd io.Reader) ([32]byte, error) {
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
	f := &File{Path: path, KDF: kdf, salt: make([]byte, saltLen), nonce: make([]byte, chacha20poly1305.NonceSizeX)}
	for _, b := range [][]byte{seed, f.salt, f.nonce} {
		if _, err := io.ReadFull(rnd, b); err != nil {
			return [32]byte{}, fmt.Errorf("unable to read randomness: %w", err)
		}
	}
	priv := ed25519.NewKeyFromSeed(seed)
	defer clear(priv)
	copy(f.PublicKey[:], priv.Public().(ed25519.PublicKey))
	aead, err := f.aead(passphrase)
	if err != nil {
		return [32]byte{}, err
	}
	f.ciphertext = aead.Seal(nil, f.nonce, seed, f.associatedData())
	data, err := json.MarshalIndent(fileJSON{
		Version: FileVersion, Type: FileType, PublicKey: FormatPublicKey(f.PublicKey),
		KDF: kdfName, KDFParams: kdf, Salt: hex.EncodeToString(f.salt), Cipher: cipherName,
		Nonce: hex.EncodeToString(f.nonce), Ciphertext: hex.EncodeToString(f.ciphertext),
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
	data, err := durable.ReadLimited(path, maxFileBytes)
	if errors.Is(err, durable.ErrTooLarge) {
		return nil, reserve.Invalid("key", "%s is larger than %d bytes: not an officer key file", path, maxFileBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read officer key: %w", err)
	}
	f, err := parse(data)
	if err != nil {
		return nil, reserve.Invalid("key", "%s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

func parse(data []byte) (*File, error) {
	var j fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("not an officer key file: %w", err)
	}
	if j.Type != FileType {
		return nil, fmt.Errorf("not an officer key file (type %q)", j.Type)
	}
	if j.Version != FileVersion {
		return nil, fmt.Errorf("unsupported officer key file version %d (want %d)", j.Version, FileVersion)
	}
	if j.KDF != kdfName || j.Cipher != cipherName {
		return nil, fmt.Errorf("unsupported kdf %q or cipher %q", j.KDF, j.Cipher)
	}
	if err := j.KDFParams.Validate(); err != nil {
		return nil, err
	}
	f := &File{KDF: j.KDFParams}
	pub, err := ParsePublicKey(j.PublicKey)
	if err != nil {
		return nil, err
	}
	f.PublicKey = pub
	for _, field := range []struct {
		name string
		hex  string
		n    int
		out  *[]byte
	}{
		{"salt", j.Salt, saltLen, &f.salt},
		{"nonce", j.Nonce, chacha20poly1305.NonceSizeX, &f.nonce},
		{"ciphertext", j.Ciphertext, ed25519.SeedSize + chacha20poly1305.Overhead, &f.ciphertext},
	} {
		b, err := hex.DecodeString(field.hex)
		if err != nil || len(b) != field.n {
			return nil, fmt.Errorf("%s is not %d bytes of hex", field.name, field.n)
		}
		*field.out = b
	}
	return f, nil
}

// ParsePublicKey reads "ed25519:<64 hex digits>".
func ParsePublicKey(s string) ([32]byte, error) {
	var k [32]byte
	h, ok := strings.CutPrefix(s, keyPrefix)
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != 32 {
		return k, reserve.Invalid("public_key", "%q is not ed25519:<64 hex digits>", s)
	}
	copy(k[:], b)
	return k, nil
}

// Unlock opens the sealed key. The caller must clear the key when done.
func (f *File) Unlock(passphrase []byte) (ed25519.PrivateKey, error) {
	aead, err := f.aead(passphrase)
	if err != nil {
		return nil, err
	}
	seed, err := aead.Open(nil, f.nonce, f.ciphertext, f.associatedData())
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeDenied, "unable to unlock %s: %w", f.Path, ErrWrongPassphrase)
	}
	defer clear(seed)
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), f.PublicKey[:]) {
		clear(priv)
		return nil, reserve.Errorf(reserve.CodeInvalid, "unable to unlock %s: %w", f.Path, ErrKeyMismatch)
	}
	return priv, nil
}

func (f *File) aead(passphrase []byte) (cipher.AEAD, error) {
	return seal.AEAD(passphrase, f.salt, f.KDF)
}

// associatedData binds the header: type, version, public key, KDF and
// its parameters, salt and cipher.
func (f *File) associatedData() []byte {
	b := []byte(adTag)
	lp := func(s []byte) { b = binary.BigEndian.AppendUint32(b, uint32(len(s))); b = append(b, s...) }
	lp([]byte(FileType))
	b = binary.BigEndian.AppendUint32(b, FileVersion)
	lp(f.PublicKey[:])
	lp([]byte(kdfName))
	b = binary.BigEndian.AppendUint32(b, f.KDF.Time)
	b = binary.BigEndian.AppendUint32(b, f.KDF.MemoryKiB)
	b = append(b, f.KDF.Threads)
	lp(f.salt)
	lp([]byte(cipherName))
	return b
}
