package seal

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// The names and sizes a key file records for its sealed secret.
const (
	// KDFName names argon2id in a key file's "kdf" field.
	KDFName = "argon2id"
	// CipherName names XChaCha20-Poly1305 in a key file's "cipher" field.
	CipherName = "xchacha20poly1305"
	// SaltLen is the length of the salt NewBox draws.
	SaltLen = 16
	// NonceLen is the length of an XChaCha20-Poly1305 nonce.
	NonceLen = chacha20poly1305.NonceSizeX
	// Overhead is what sealing adds to a secret: the authentication tag.
	Overhead = chacha20poly1305.Overhead
)

// ErrOpen is returned by Open when a box does not decrypt: the passphrase
// is wrong, or the box or the header bound to it was changed. The AEAD
// cannot tell these apart; each key file says it in its own words.
var ErrOpen = errors.New("the sealed secret does not open")

// Box is one secret sealed under a passphrase, as a key file keeps it.
// The file's header, encoded by the file's own package, is bound to the
// ciphertext as associated data; it must cover KDF and Salt, so that
// neither can be changed without Open failing.
type Box struct {
	KDF        KDF
	Salt       []byte
	Nonce      []byte
	Ciphertext []byte
}

// NewBox starts the box of a new secret under k: a salt, then a nonce,
// read in that order from rnd. Seal fills in the ciphertext.
func NewBox(k KDF, rnd io.Reader) (*Box, error) {
	b := &Box{KDF: k, Salt: make([]byte, SaltLen), Nonce: make([]byte, NonceLen)}
	if _, err := io.ReadFull(rnd, b.Salt); err != nil {
		return nil, fmt.Errorf("unable to read a salt: %w", err)
	}
	if _, err := io.ReadFull(rnd, b.Nonce); err != nil {
		return nil, fmt.Errorf("unable to read a nonce: %w", err)
	}
	return b, nil
}

// Seal encrypts secret under passphrase into b.Ciphertext, binding ad (the
// file's header). Seal a box once: a second secret under the same nonce
// would undo the cipher.
func (b *Box) Seal(passphrase, secret, ad []byte) error {
	if b.Ciphertext != nil {
		return errors.New("the box is already sealed")
	}
	aead, err := AEAD(passphrase, b.Salt, b.KDF)
	if err != nil {
		return err
	}
	b.Ciphertext = aead.Seal(nil, b.Nonce, secret, ad)
	return nil
}

// Open decrypts b under passphrase with ad, passes the secret to use and
// clears it when use returns: the secret does not outlive use unless use
// copies it, and then the copy is use's to clear. A box that does not
// open fails with ErrOpen and use is not called; otherwise Open returns
// use's error.
func (b *Box) Open(passphrase, ad []byte, use func(secret []byte) error) error {
	aead, err := AEAD(passphrase, b.Salt, b.KDF)
	if err != nil {
		return err
	}
	secret, err := aead.Open(nil, b.Nonce, b.Ciphertext, ad)
	if err != nil {
		return ErrOpen
	}
	defer clear(secret)
	return use(secret)
}

// Fields are a box as a JSON key file stores it. A file's JSON struct
// embeds them last, so that its own fields come first.
type Fields struct {
	KDF        string `json:"kdf"`
	KDFParams  KDF    `json:"kdf_params"`
	Salt       string `json:"salt"`
	Cipher     string `json:"cipher"`
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"`
}

// Fields encodes b for a key file.
func (b *Box) Fields() Fields {
	return Fields{
		KDF: KDFName, KDFParams: b.KDF, Salt: hex.EncodeToString(b.Salt),
		Cipher: CipherName, Nonce: hex.EncodeToString(b.Nonce), Ciphertext: hex.EncodeToString(b.Ciphertext),
	}
}

// Box checks the shape of the fields read from a key file and decodes
// them; secretLen is the length of the secret the file seals. Only Open
// can say whether the box is authentic.
func (f Fields) Box(secretLen int) (*Box, error) {
	if f.KDF != KDFName {
		return nil, fmt.Errorf("unsupported kdf %q (want %s)", f.KDF, KDFName)
	}
	if err := f.KDFParams.Validate(); err != nil {
		return nil, fmt.Errorf("kdf_params: %w", err)
	}
	if f.Cipher != CipherName {
		return nil, fmt.Errorf("unsupported cipher %q (want %s)", f.Cipher, CipherName)
	}
	b := &Box{KDF: f.KDFParams}
	for _, field := range []struct {
		name string
		hex  string
		n    int
		out  *[]byte
	}{
		{"salt", f.Salt, SaltLen, &b.Salt},
		{"nonce", f.Nonce, NonceLen, &b.Nonce},
		{"ciphertext", f.Ciphertext, secretLen + Overhead, &b.Ciphertext},
	} {
		v, err := hex.DecodeString(field.hex)
		if err != nil || len(v) != field.n {
			return nil, fmt.Errorf("%s is not %d bytes of hex", field.name, field.n)
		}
		*field.out = v
	}
	return b, nil
}
