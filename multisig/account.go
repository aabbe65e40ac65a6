package multisig

import (
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"github.com/custos-reserve/custos/reserve"
)

// DeriveAccount derives a signer's account key from its BIP-32 seed (the
// 16 to 64 bytes a BIP-39 mnemonic gives): the key at BIP48Path(n, account).
// It returns the key record to export (Fingerprint is the master key's) and
// the account's private extended key, which the caller must Zero when done.
// account must be below 2^31. The master key and intermediate keys are
// wiped before it returns.
func DeriveAccount(seed []byte, n reserve.Network, account uint32) (reserve.Cosigner, *hdkeychain.ExtendedKey, error) {
	params, err := NetParams(n)
	if err != nil {
		return reserve.Cosigner{}, nil, err
	}
	if account >= hardened {
		return reserve.Cosigner{}, nil, reserve.Invalid("account", "account %d is not below 2^31", account)
	}
	if len(seed) < hdkeychain.MinSeedBytes || len(seed) > hdkeychain.MaxSeedBytes {
		return reserve.Cosigner{}, nil, reserve.Invalid("seed", "seed has %d bytes, want %d to %d",
			len(seed), hdkeychain.MinSeedBytes, hdkeychain.MaxSeedBytes)
	}
	master, err := hdkeychain.NewMaster(seed, params)
	if err != nil {
		return reserve.Cosigner{}, nil, fmt.Errorf("unable to make the master key from the seed: %w", err)
	}
	defer master.Zero()
	fp, err := MasterFingerprint(master)
	if err != nil {
		return reserve.Cosigner{}, nil, err
	}
	path := BIP48Path(n, account)
	acct, err := DerivePath(master, path)
	if err != nil {
		return reserve.Cosigner{}, nil, fmt.Errorf("unable to derive account %d: %w", account, err)
	}
	pub, err := acct.Neuter()
	if err != nil {
		acct.Zero()
		return reserve.Cosigner{}, nil, fmt.Errorf("unable to take the public key of account %d: %w", account, err)
	}
	return reserve.Cosigner{Fingerprint: fp, Path: path, XPub: pub.String()}, acct, nil
}

// DerivePath derives from key along path, one BIP-32 child step at a time.
// key may be private or public; hardened steps need a private key. key
// itself is left alone and private intermediate keys are wiped; with an
// empty path the result is key itself, so only Zero it if key is yours too. Errors are *reserve.Error with code CodeInvalid and field
// "path", wrapping hdkeychain's error (ErrDeriveHardFromPublic …).
func DerivePath(key *hdkeychain.ExtendedKey, path []uint32) (*hdkeychain.ExtendedKey, error) {
	if key == nil {
		return nil, reserve.Invalid("key", "no key to derive from")
	}
	cur := key
	for i, step := range path {
		child, err := cur.Derive(step)
		if cur != key && cur.IsPrivate() {
			cur.Zero()
		}
		if err != nil {
			return nil, reserve.Invalid("path", "unable to derive step %d (%s) of path %q: %w",
				i+1, FormatPath([]uint32{step}), FormatPath(path), err)
		}
		cur = child
	}
	return cur, nil
}

// MasterFingerprint returns the BIP-32 fingerprint of a master key: the
// first 4 bytes of HASH160 of its compressed public key, as a big-endian
// uint32. It refuses a key that is not at depth 0, since the fingerprint of
// any other key is not what a key origin records.
func MasterFingerprint(master *hdkeychain.ExtendedKey) (uint32, error) {
	if master == nil {
		return 0, reserve.Invalid("key", "no master key")
	}
	if master.Depth() != 0 {
		return 0, reserve.Invalid("key", "key at depth %d is not a master key", master.Depth())
	}
	return keyFingerprint(master)
}

// keyFingerprint returns the BIP-32 fingerprint of any key.
func keyFingerprint(key *hdkeychain.ExtendedKey) (uint32, error) {
	pub, err := key.ECPubKey()
	if err != nil {
		return 0, fmt.Errorf("unable to read the public key: %w", err)
	}
	return binary.BigEndian.Uint32(btcutil.Hash160(pub.SerializeCompressed())[:4]), nil
}
