package signer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// ErrKeyNotInDescriptor is returned when a descriptor does not hold this
// signer's key by exact match of extended public key and origin.
var ErrKeyNotInDescriptor = errors.New("this signer's key is not in the descriptor")

// Key is an unlocked cosigner key: the BIP-48 account private key and the
// public key record it was checked against. It lives only in memory; call
// Zero as soon as it is no longer needed.
type Key struct {
	network reserve.Network
	account uint32
	record  reserve.Cosigner
	xprv    *hdkeychain.ExtendedKey
}

// Network is the network the key was made for.
func (k *Key) Network() reserve.Network { return k.network }

// Account is the BIP-48 account number.
func (k *Key) Account() uint32 { return k.account }

// Record is the key's public record: master fingerprint, BIP-48 path and
// account xpub, as the wallet descriptor must list it.
func (k *Key) Record() reserve.Cosigner {
	r := k.record
	r.Path = slices.Clone(r.Path)
	return r
}

// RecordString is Record formatted as "[fingerprint/48'/1'/0'/2']tpub…".
func (k *Key) RecordString() string { return multisig.FormatKeyRecord(k.record) }

// PrivKey derives the private key at branch/index below the account key,
// the path a descriptor's /<0;1>/* step gives. The caller must Zero it
// after signing.
func (k *Key) PrivKey(b reserve.Branch, index uint32) (*btcec.PrivateKey, error) {
	if k.xprv == nil {
		return nil, errors.New("key is locked")
	}
	if b != reserve.BranchReceive && b != reserve.BranchChange {
		return nil, reserve.Invalid("branch", "unknown branch %d", b)
	}
	if index >= hdkeychain.HardenedKeyStart {
		return nil, reserve.Invalid("index", "index %d is hardened; wallet addresses use unhardened indexes", index)
	}
	branch, err := k.xprv.Derive(uint32(b))
	if err != nil {
		return nil, fmt.Errorf("unable to derive %s branch: %w", b, err)
	}
	defer branch.Zero()
	child, err := branch.Derive(index)
	if err != nil {
		return nil, fmt.Errorf("unable to derive %s key %d: %w", b, index, err)
	}
	defer child.Zero()
	priv, err := child.ECPrivKey()
	if err != nil {
		return nil, fmt.Errorf("unable to derive %s key %d: %w", b, index, err)
	}
	return priv, nil
}

// AccountKey returns a copy of the BIP-48 account private key, the key at
// the origin path of this signer's key record, for multisig.SignPSBT. The
// copy shares no memory with the Key, so the caller must Zero it as soon as
// signing is done, and Zeroing it leaves the Key usable.
func (k *Key) AccountKey() (*hdkeychain.ExtendedKey, error) {
	if k.xprv == nil {
		return nil, errors.New("key is locked")
	}
	priv, err := k.xprv.ECPrivKey()
	if err != nil {
		return nil, fmt.Errorf("unable to read the account key: %w", err)
	}
	defer priv.Zero()
	var parentFP [4]byte
	binary.BigEndian.PutUint32(parentFP[:], k.xprv.ParentFingerprint())
	// hdkeychain's CloneWithVersion shares the key bytes, and Zero on the
	// clone would wipe this Key too: build the copy from fresh slices.
	return hdkeychain.NewExtendedKey(slices.Clone(k.xprv.Version()), priv.Serialize(), k.xprv.ChainCode(),
		parentFP[:], k.xprv.Depth(), k.xprv.ChildIndex(), true), nil
}

// PositionIn returns the 0-based position of this key among d's
// cosigners. The key must be there by exact match of public key and chain
// code (Descriptor.Position) and with this key's own fingerprint and path:
// a fingerprint alone is trivial to spoof (BIP-129), and a wrong origin
// would make hardware wallets and PSBT derivation paths disagree with us.
func (k *Key) PositionIn(d *multisig.Descriptor) (int, error) {
	pos := d.Position(k.record.XPub)
	cos := d.Cosigners()
	if pos < 0 || pos >= len(cos) {
		return -1, notInDescriptor("this signer's key %s is not in the descriptor", k.RecordString())
	}
	if c := cos[pos]; c.Fingerprint != k.record.Fingerprint || !slices.Equal(c.Path, k.record.Path) {
		return -1, notInDescriptor("this signer's key %s is not in the descriptor: cosigner %d has its xpub but the origin [%08x/%s]",
			k.RecordString(), pos+1, c.Fingerprint, multisig.FormatPath(c.Path))
	}
	return pos, nil
}

func notInDescriptor(format string, args ...any) error {
	return &reserve.Error{Code: reserve.CodeInvalid, Msg: fmt.Sprintf(format, args...), Err: ErrKeyNotInDescriptor}
}

// Zero wipes the private key from memory; the Key is unusable afterwards.
// It is safe to call more than once.
func (k *Key) Zero() {
	if k.xprv != nil {
		k.xprv.Zero()
		k.xprv = nil
	}
}
