package signer

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/tyler-smith/go-bip39"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/seal"
)

const (
	// KeyFileName is the encrypted key file inside the data directory.
	KeyFileName = "signer.key"

	// KeyFileVersion is the format version this package writes and reads.
	KeyFileVersion = 1

	// MinPassphraseLen is the fewest characters a new key's passphrase may
	// have (seal.MinPassphraseLen).
	MinPassphraseLen = seal.MinPassphraseLen

	// EnvPassphrase is the environment variable a non-interactive signer
	// reads its key file's passphrase from (custos-signer passes it to
	// passphrase.Source).
	EnvPassphrase = "CUSTOS_SIGNER_PASSPHRASE"

	// MnemonicWords is the length of the mnemonic Init creates (256 bits of
	// entropy).
	MnemonicWords = 24

	seedLen         = 64 // BIP-39 seeds are always 512 bits
	maxKeyFileBytes = 64 << 10
	adTag           = "custos-signer key file\x00"
)

var (
	// ErrKeyExists is returned when a data directory already holds a key
	// file: Init and Restore never overwrite one.
	ErrKeyExists = errors.New("key file already exists")

	// ErrNoKey is returned when the data directory has no key file yet.
	ErrNoKey = errors.New("no key file")

	// ErrWrongPassphrase is returned when the key file does not decrypt:
	// the passphrase is wrong, or the file (header or ciphertext) was
	// changed. The AEAD cannot tell the two apart, and neither do we.
	ErrWrongPassphrase = errors.New("wrong passphrase or corrupted key file")

	// ErrKeyMismatch is returned when the decrypted seed does not derive
	// the public key record stored beside it.
	ErrKeyMismatch = errors.New("decrypted key does not match the key record in the file")
)

// KDFParams are the argon2id cost parameters used to stretch the
// passphrase (seal.KDF). They are stored in the key file, so a file keeps
// opening after the defaults change.
type KDFParams = seal.KDF

// DefaultKDFParams returns the parameters every key made by the command
// line uses: t=3, 64 MiB, 2 threads (a few hundred milliseconds per unlock).
func DefaultKDFParams() KDFParams { return seal.DefaultKDF() }

// Config says what key Init and Restore make and how.
type Config struct {
	// Network is the network the key is for; it picks the BIP-48 coin
	// type and the xpub/tpub encoding. Required.
	Network reserve.Network
	// Account is the BIP-48 account number (unhardened value, < 2^31).
	Account uint32
	// KDF is the argon2id cost; the zero value means DefaultKDFParams.
	// Only tests should set cheaper parameters.
	KDF KDFParams
	// Rand is the source of entropy, salt and nonce; nil means
	// crypto/rand. Tests pass fixed bytes.
	Rand io.Reader
}

func (c *Config) normalize() error {
	if _, err := multisig.NetParams(c.Network); err != nil {
		return reserve.Invalid("network", "unsupported network %s", c.Network)
	}
	if c.Account >= 1<<31 {
		return reserve.Invalid("account", "account %d is not below 2^31", c.Account)
	}
	if c.KDF == (KDFParams{}) {
		c.KDF = DefaultKDFParams()
	}
	if err := c.KDF.Validate(); err != nil {
		return reserve.Invalid("kdf", "%w", err)
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return nil
}

// fileJSON is the on-disk shape of signer.key. Every field but Nonce and
// Ciphertext is bound into the AEAD's associated data (see
// associatedData); Nonce and Ciphertext are authenticated by the AEAD
// itself.
type fileJSON struct {
	Version   int    `json:"version"`
	Network   string `json:"network"`
	Account   uint32 `json:"account"`
	KeyRecord string `json:"key_record"`
	seal.Fields
}

// KeyFile is a key file's public header, readable without the passphrase.
// Unlock it to get the Key.
type KeyFile struct {
	// Path is where the file was read from.
	Path    string
	Version int
	Network reserve.Network
	Account uint32
	KDF     KDFParams
	// Record is the public key record stored in the file. It is only a
	// claim until Unlock re-derives it from the decrypted seed.
	Record reserve.Cosigner

	recordText string
	sealed     *seal.Box
}

// Init creates a new key in dir from 256 bits of entropy read from
// cfg.Rand, writes it encrypted under passphrase to dir/signer.key, and
// returns the 24-word mnemonic and the key record. The caller must show the
// mnemonic exactly once, for the ministry's offline backup, and keep it out
// of logs. Init refuses a dir that already holds a key file.
func Init(dir string, cfg Config, passphrase []byte) (mnemonic string, rec reserve.Cosigner, err error) {
	if err := cfg.normalize(); err != nil {
		return "", reserve.Cosigner{}, err
	}
	entropy := make([]byte, MnemonicWords/3*4)
	defer clear(entropy)
	if _, err := io.ReadFull(cfg.Rand, entropy); err != nil {
		return "", reserve.Cosigner{}, fmt.Errorf("unable to read entropy for a new key: %w", err)
	}
	mnemonic, err = bip39.NewMnemonic(entropy)
	if err != nil {
		return "", reserve.Cosigner{}, fmt.Errorf("unable to encode the new key as a mnemonic: %w", err)
	}
	rec, err = create(dir, cfg, mnemonic, passphrase)
	if err != nil {
		return "", reserve.Cosigner{}, err
	}
	return mnemonic, rec, nil
}

// Restore writes the key of an existing BIP-39 mnemonic (12 to 24 English
// words, checked with ParseMnemonic) to dir/signer.key, encrypted under
// passphrase, and returns its key record. It refuses a dir that already
// holds a key file.
func Restore(dir string, cfg Config, mnemonic string, passphrase []byte) (reserve.Cosigner, error) {
	if err := cfg.normalize(); err != nil {
		return reserve.Cosigner{}, err
	}
	norm, err := ParseMnemonic(mnemonic)
	if err != nil {
		return reserve.Cosigner{}, err
	}
	return create(dir, cfg, norm, passphrase)
}

// create derives the key of a checked mnemonic, seals its seed and writes
// the key file. cfg is normalized.
func create(dir string, cfg Config, mnemonic string, passphrase []byte) (reserve.Cosigner, error) {
	if n := utf8.RuneCount(passphrase); n < MinPassphraseLen {
		return reserve.Cosigner{}, reserve.Invalid("passphrase", "passphrase has %d characters; it needs at least %d", n, MinPassphraseLen)
	}
	path := filepath.Join(dir, KeyFileName)
	if err := CheckNoKey(dir); err != nil {
		return reserve.Cosigner{}, err
	}
	if err := ensureDir(dir); err != nil {
		return reserve.Cosigner{}, err
	}

	// BIP-39 passphrase stays empty so hardware wallets agree with us.
	seed := bip39.NewSeed(mnemonic, "")
	defer clear(seed)
	rec, xprv, err := multisig.DeriveAccount(seed, cfg.Network, cfg.Account)
	if err != nil {
		return reserve.Cosigner{}, fmt.Errorf("unable to derive the account key: %w", err)
	}
	xprv.Zero()

	sealed, err := seal.NewBox(cfg.KDF, cfg.Rand)
	if err != nil {
		return reserve.Cosigner{}, err
	}
	f := &KeyFile{
		Path:       path,
		Version:    KeyFileVersion,
		Network:    cfg.Network,
		Account:    cfg.Account,
		KDF:        cfg.KDF,
		Record:     rec,
		recordText: multisig.FormatKeyRecord(rec),
		sealed:     sealed,
	}
	if err := f.sealed.Seal(passphrase, seed, f.associatedData()); err != nil {
		return reserve.Cosigner{}, err
	}

	data, err := f.marshal()
	if err != nil {
		return reserve.Cosigner{}, err
	}
	if err := durable.Write(path, data, 0o600, false); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return reserve.Cosigner{}, reserve.Errorf(reserve.CodeConflict, "refusing to overwrite %s: %w", path, ErrKeyExists)
		}
		return reserve.Cosigner{}, fmt.Errorf("unable to write key file %s: %w", path, err)
	}
	// Read it back before anyone is shown a mnemonic for a file that the
	// disk did not keep.
	back, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(back, data) {
		return reserve.Cosigner{}, fmt.Errorf("key file %s does not read back as written", path)
	}
	return rec, nil
}

// CheckNoKey fails with ErrKeyExists when dir already holds a key file,
// so a caller can refuse before asking for a new passphrase.
func CheckNoKey(dir string) error {
	path := filepath.Join(dir, KeyFileName)
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return reserve.Errorf(reserve.CodeConflict, "refusing to overwrite %s: %w", path, ErrKeyExists)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	}
	return fmt.Errorf("unable to check for a key file: %w", err)
}

// ReadKeyFile reads the header of dir/signer.key without decrypting it.
// The record it holds is a claim; use Unlock before trusting it.
func ReadKeyFile(dir string) (*KeyFile, error) {
	path := filepath.Join(dir, KeyFileName)
	data, err := durable.ReadLimited(path, maxKeyFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, reserve.Errorf(reserve.CodeNotFound, "%w in %s: run init first", ErrNoKey, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read key file: %w", err)
	}
	f, err := parseKeyFile(data)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInvalid, "key file %s is corrupted: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// Unlock reads dir/signer.key and decrypts it with passphrase. See
// (*KeyFile).Unlock.
func Unlock(dir string, passphrase []byte) (*Key, error) {
	f, err := ReadKeyFile(dir)
	if err != nil {
		return nil, err
	}
	return f.Unlock(passphrase)
}

// Unlock decrypts the seed, derives the account key and refuses it unless
// it gives exactly the key record stored in the file. A wrong passphrase or
// an edited file fails with ErrWrongPassphrase and changes nothing. The
// caller must Zero the key when done with it.
func (f *KeyFile) Unlock(passphrase []byte) (*Key, error) {
	var k *Key
	err := f.sealed.Open(passphrase, f.associatedData(), func(seed []byte) error {
		var err error
		k, err = f.derive(seed)
		return err
	})
	if errors.Is(err, seal.ErrOpen) {
		return nil, reserve.Errorf(reserve.CodeDenied, "unable to unlock %s: %w", f.Path, ErrWrongPassphrase)
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// derive makes the account key of the decrypted seed and refuses it
// unless it gives the key record stored in the file.
func (f *KeyFile) derive(seed []byte) (*Key, error) {
	if len(seed) != seedLen {
		return nil, reserve.Errorf(reserve.CodeInvalid, "unable to unlock %s: sealed seed has %d bytes, want %d", f.Path, len(seed), seedLen)
	}
	rec, xprv, err := multisig.DeriveAccount(seed, f.Network, f.Account)
	if err != nil {
		return nil, fmt.Errorf("unable to derive the account key: %w", err)
	}
	if got := multisig.FormatKeyRecord(rec); got != f.recordText {
		xprv.Zero()
		return nil, reserve.Errorf(reserve.CodeInvalid, "unable to unlock %s: %w (file says %s, seed gives %s)", f.Path, ErrKeyMismatch, f.recordText, got)
	}
	if !xprv.IsPrivate() {
		return nil, fmt.Errorf("account key derived for %s is not private", f.Path)
	}
	return &Key{network: f.Network, account: f.Account, record: rec, xprv: xprv}, nil
}

// associatedData is the canonical, length-prefixed encoding of the header,
// so that no edit of version, network, account, KDF, salt, cipher or key
// record goes unnoticed by the AEAD.
func (f *KeyFile) associatedData() []byte {
	var b bytes.Buffer
	b.WriteString(adTag)
	u32 := func(v uint32) { _ = binary.Write(&b, binary.BigEndian, v) }
	lp := func(s []byte) { u32(uint32(len(s))); b.Write(s) }
	u32(uint32(f.Version))
	b.WriteByte(byte(f.Network))
	u32(f.Account)
	lp([]byte(seal.KDFName))
	u32(f.sealed.KDF.Time)
	u32(f.sealed.KDF.MemoryKiB)
	b.WriteByte(f.sealed.KDF.Threads)
	lp(f.sealed.Salt)
	lp([]byte(seal.CipherName))
	lp([]byte(f.recordText))
	return b.Bytes()
}

func (f *KeyFile) marshal() ([]byte, error) {
	data, err := json.MarshalIndent(fileJSON{
		Version:   f.Version,
		Network:   f.Network.String(),
		Account:   f.Account,
		KeyRecord: f.recordText,
		Fields:    f.sealed.Fields(),
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("unable to encode key file: %w", err)
	}
	return append(data, '\n'), nil
}

// parseKeyFile decodes and checks the shape of a key file; only the AEAD
// can say whether its contents are authentic.
func parseKeyFile(data []byte) (*KeyFile, error) {
	var j fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("not a key file: %w", err)
	}
	// Nothing but white space may follow the value: not a second value,
	// not a stray bracket (which dec.More does not see).
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not a key file: data after the JSON value")
	}
	if j.Version != KeyFileVersion {
		return nil, fmt.Errorf("unsupported key file version %d (this signer reads version %d)", j.Version, KeyFileVersion)
	}
	net, err := reserve.ParseNetwork(j.Network)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if j.Account >= 1<<31 {
		return nil, fmt.Errorf("account %d is not below 2^31", j.Account)
	}
	sealed, err := j.Fields.Box(seedLen)
	if err != nil {
		return nil, err
	}
	rec, err := multisig.ParseKeyRecord(j.KeyRecord, net)
	if err != nil {
		return nil, fmt.Errorf("key_record: %w", err)
	}
	return &KeyFile{
		Version:    j.Version,
		Network:    net,
		Account:    j.Account,
		KDF:        sealed.KDF,
		Record:     rec,
		recordText: j.KeyRecord,
		sealed:     sealed,
	}, nil
}
