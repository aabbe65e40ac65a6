// Package seal is how Custos keeps a secret at rest under a passphrase:
// argon2id stretches the passphrase and salt into an XChaCha20-Poly1305
// key. The signer's key file and an officer's key file both keep their
// secret in a Box: each file parses and encodes its own header, binds it
// as associated data, and leaves to Box the sealing, the opening and the
// clearing of the secret after use. It bounds the argon2id cost read
// from a file, so a damaged or hostile file cannot make an unlock take
// hours or exhaust memory. It reads no files and asks no one for a
// passphrase (package passphrase does).
package seal

import (
	"crypto/cipher"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/custos-reserve/custos/reserve"
)

// MinPassphraseLen is the fewest characters a new key file's passphrase
// may have, the signer's and an officer's alike. It is a floor against
// typos and empty input, not a strength meter: argon2id makes each guess
// expensive, and the owner chooses well.
const MinPassphraseLen = 8

// Bounds on argon2id parameters.
const (
	maxTime      = 64
	maxMemoryKiB = 4 << 20 // 4 GiB
)

// KDF are the argon2id cost parameters, stored in each file so that a
// file keeps opening after the defaults change.
type KDF struct {
	// Time is the number of passes over memory.
	Time uint32 `json:"time"`
	// MemoryKiB is the memory cost in KiB.
	MemoryKiB uint32 `json:"memory_kib"`
	// Threads is the degree of parallelism.
	Threads uint8 `json:"threads"`
}

// DefaultKDF is what every key made by the command lines uses: t=3,
// 64 MiB, 2 threads (a few hundred milliseconds per unlock).
func DefaultKDF() KDF {
	return KDF{Time: 3, MemoryKiB: 64 << 10, Threads: 2}
}

// Validate refuses parameters outside the bounds.
func (k KDF) Validate() error {
	switch {
	case k.Time < 1 || k.Time > maxTime:
		return fmt.Errorf("argon2id time %d is outside 1..%d", k.Time, maxTime)
	case k.Threads < 1:
		return errors.New("argon2id threads must be at least 1")
	case k.MemoryKiB < 8*uint32(k.Threads) || k.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB is outside %d..%d KiB", k.MemoryKiB, 8*uint32(k.Threads), maxMemoryKiB)
	}
	return nil
}

// AEAD stretches passphrase with salt under k into an XChaCha20-Poly1305
// cipher. An empty passphrase is refused.
func AEAD(passphrase, salt []byte, k KDF) (cipher.AEAD, error) {
	if len(passphrase) == 0 {
		return nil, reserve.Invalid("passphrase", "empty passphrase")
	}
	if err := k.Validate(); err != nil {
		return nil, reserve.Invalid("kdf", "%w", err)
	}
	key := argon2.IDKey(passphrase, salt, k.Time, k.MemoryKiB, k.Threads, chacha20poly1305.KeySize)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("unable to set up the cipher: %w", err)
	}
	return aead, nil
}
