package multisig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/custos-reserve/custos/reserve"
)

// The one descriptor shape the reserve wallet has.
const (
	descPrefix    = "wsh(sortedmulti("
	descSuffix    = "))"
	multipathTail = "/<0;1>/*"
	shapeMsg      = "only wsh(sortedmulti(...)) with /<0;1>/* keys is supported"
)

// Descriptor is the reserve wallet's output descriptor,
// wsh(sortedmulti(M,K1/<0;1>/*,…,Kn/<0;1>/*)): an M-of-n P2WSH multisig
// whose receive addresses come from each cosigner's account key /0/i and
// change addresses from /1/i.
//
// Build it with NewDescriptor or ParseDescriptor; the zero value is not
// usable. It is immutable and safe for concurrent use; it keeps each
// cosigner's two branch keys so that deriving an address costs one public
// child derivation per cosigner, and it remembers the addresses it
// derived (see keyring), so that each costs that once.
type Descriptor struct {
	network   reserve.Network
	params    *chaincfg.Params
	threshold int
	cosigners []reserve.Cosigner
	// accounts are the cosigners' account keys (public), and accountKeys
	// their compressed public keys, for Position.
	accounts    []*hdkeychain.ExtendedKey
	accountKeys [][]byte
	// branches[b][i] is cosigner i's account key derived at branch b.
	branches [2][]*hdkeychain.ExtendedKey
	// str and branchStr are the text forms, with their checksums.
	str       string
	branchStr [2]string
	walletID  string
	// kr derives and keeps the wallet's child keys and scripts.
	kr *keyring
}

// NewDescriptor builds the wallet descriptor for network n from a threshold
// and the cosigners' keys, in the order given (sortedmulti makes scripts
// independent of it, but String keeps it).
//
// It refuses, with a *reserve.Error of code CodeInvalid: fewer than 1 or
// more than reserve.MaxCosigners keys (field "cosigners"); a threshold
// outside 1..n (field "threshold"); any key that ParseKeyRecord would refuse
// (field "cosigner[i]", i counted from 0); and two cosigners with the same
// public key whatever their origins ("cosigner[1] and cosigner[3] are the
// same key", field naming the later one).
func NewDescriptor(n reserve.Network, threshold int, keys []reserve.Cosigner) (*Descriptor, error) {
	params, err := NetParams(n)
	if err != nil {
		return nil, err
	}
	if len(keys) < 1 || len(keys) > reserve.MaxCosigners {
		return nil, reserve.Invalid("cosigners", "%d cosigners given, want 1 to %d", len(keys), reserve.MaxCosigners)
	}
	if threshold < 1 || threshold > len(keys) {
		return nil, reserve.Invalid("threshold", "threshold %d is outside 1..%d (the number of cosigners)", threshold, len(keys))
	}
	d := &Descriptor{
		network:     n,
		params:      params,
		threshold:   threshold,
		cosigners:   make([]reserve.Cosigner, len(keys)),
		accounts:    make([]*hdkeychain.ExtendedKey, len(keys)),
		accountKeys: make([][]byte, len(keys)),
	}
	for i, c := range keys {
		if err := d.addCosigner(i, c); err != nil {
			return nil, err
		}
	}
	if err := d.deriveBranches(); err != nil {
		return nil, err
	}
	if d.kr, err = newKeyring(d); err != nil {
		return nil, err
	}
	if err := d.format(); err != nil {
		return nil, err
	}
	return d, nil
}

// addCosigner checks key i and records it, refusing a key already there.
func (d *Descriptor) addCosigner(i int, c reserve.Cosigner) error {
	field := fmt.Sprintf("cosigner[%d]", i)
	key, err := cosignerKey(c.Fingerprint, c.Path, c.XPub, d.network)
	if err != nil {
		return reserve.Invalid(field, "%w", err)
	}
	pub, err := key.ECPubKey()
	if err != nil {
		return reserve.Invalid(field, "unable to read the public key: %w", err)
	}
	pubBytes := pub.SerializeCompressed()
	for j := range i {
		if bytes.Equal(d.accountKeys[j], pubBytes) {
			return reserve.Invalid(field, "cosigner[%d] and cosigner[%d] are the same key", j, i)
		}
	}
	d.cosigners[i] = reserve.Cosigner{Fingerprint: c.Fingerprint, Path: slices.Clone(c.Path), XPub: key.String()}
	d.accounts[i] = key
	d.accountKeys[i] = pubBytes
	return nil
}

// deriveBranches caches every cosigner's receive and change branch keys.
func (d *Descriptor) deriveBranches() error {
	for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		d.branches[b] = make([]*hdkeychain.ExtendedKey, len(d.accounts))
		for i, acct := range d.accounts {
			k, err := acct.Derive(uint32(b))
			if err != nil {
				// Only ErrInvalidChild, with odds below 2^-127.
				return reserve.Invalid(fmt.Sprintf("cosigner[%d]", i), "unable to derive the %s branch: %w", b, err)
			}
			d.branches[b][i] = k
		}
	}
	return nil
}

// format writes the descriptor's text forms once, at construction.
func (d *Descriptor) format() error {
	body := d.text(multipathTail)
	var err error
	if d.str, err = withChecksum(body); err != nil {
		return err
	}
	for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		if d.branchStr[b], err = withChecksum(d.text(fmt.Sprintf("/%d/*", b))); err != nil {
			return err
		}
	}
	id := sha256.Sum256([]byte(body))
	d.walletID = hex.EncodeToString(id[:8])
	return nil
}

// text writes the descriptor without checksum, with tail after every key.
func (d *Descriptor) text(tail string) string {
	var b strings.Builder
	b.WriteString(descPrefix)
	b.WriteString(strconv.Itoa(d.threshold))
	for _, c := range d.cosigners {
		b.WriteByte(',')
		b.WriteString(FormatKeyRecord(c))
		b.WriteString(tail)
	}
	b.WriteString(descSuffix)
	return b.String()
}

// withChecksum appends "#" and the BIP-380 checksum to a descriptor we
// wrote ourselves. It cannot fail for the characters we write; if it does,
// that is a bug, reported as CodeInternal.
func withChecksum(body string) (string, error) {
	sum, err := DescriptorChecksum(body)
	if err != nil {
		return "", reserve.Errorf(reserve.CodeInternal, "unable to checksum the descriptor: %w", err)
	}
	return body + "#" + sum, nil
}

// ParseDescriptor reads the wallet descriptor in the multipath form String
// writes, for network n, with or without its "#checksum"; a checksum that
// is there must be right, and the error for a wrong one gives the expected
// value. It accepts only wsh(sortedmulti(M,KEY/<0;1>/*,…)) with every KEY a
// key record as ParseKeyRecord reads it, and no whitespace anywhere; then
// it applies every NewDescriptor rule. Shape errors have field
// "descriptor"; key errors "cosigner[i]".
func ParseDescriptor(s string, n reserve.Network) (*Descriptor, error) {
	if _, err := NetParams(n); err != nil {
		return nil, err
	}
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return nil, reserve.Invalid("descriptor", "descriptor has whitespace at offset %d", i)
	}
	body, err := splitChecksum(s)
	if err != nil {
		return nil, reserve.Invalid("descriptor", "%w", err)
	}
	inner, ok := strings.CutPrefix(body, descPrefix)
	if ok {
		inner, ok = strings.CutSuffix(inner, descSuffix)
	}
	if !ok {
		return nil, reserve.Invalid("descriptor", "%s", shapeMsg)
	}
	parts := strings.Split(inner, ",")
	threshold, err := parseThreshold(parts[0])
	if err != nil {
		return nil, reserve.Invalid("threshold", "%w", err)
	}
	parts = parts[1:]
	if len(parts) > reserve.MaxCosigners {
		// Refuse before parsing: each key costs a curve point parse.
		return nil, reserve.Invalid("cosigners", "%d cosigners given, want 1 to %d", len(parts), reserve.MaxCosigners)
	}
	keys := make([]reserve.Cosigner, len(parts))
	for i, part := range parts {
		record, ok := strings.CutSuffix(part, multipathTail)
		if !ok {
			return nil, reserve.Invalid(fmt.Sprintf("cosigner[%d]", i), "key does not end with %s: %s", multipathTail, shapeMsg)
		}
		c, err := parseKeyRecord(record, n)
		if err != nil {
			return nil, reserve.Invalid(fmt.Sprintf("cosigner[%d]", i), "%w", err)
		}
		keys[i] = c
	}
	return NewDescriptor(n, threshold, keys)
}

// parseThreshold reads sortedmulti's first argument: a plain decimal
// number, no sign, no leading zero.
func parseThreshold(s string) (int, error) {
	if !allDigits(s) || (len(s) > 1 && s[0] == '0') || len(s) > 2 {
		return 0, fmt.Errorf("threshold %s is not a number from 1 to %d", quoteShort(s), reserve.MaxCosigners)
	}
	m, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("threshold %s: %w", quoteShort(s), err)
	}
	return m, nil
}

// Network returns the network the wallet lives on.
func (d *Descriptor) Network() reserve.Network { return d.network }

// Threshold returns M, the number of signatures a spend needs.
func (d *Descriptor) Threshold() int { return d.threshold }

// Cosigners returns a copy of the cosigners' key records in descriptor
// order; the caller may change it freely.
func (d *Descriptor) Cosigners() []reserve.Cosigner {
	out := make([]reserve.Cosigner, len(d.cosigners))
	for i, c := range d.cosigners {
		c.Path = slices.Clone(c.Path)
		out[i] = c
	}
	return out
}

// String returns the multipath descriptor with its checksum,
// "wsh(sortedmulti(2,[fp/48'/1'/0'/2']tpub…/<0;1>/*,…))#checksum" (BIP-389):
// the form the wallet is stored and shown in.
func (d *Descriptor) String() string { return d.str }

// BranchString returns the single-path descriptor of one branch with its
// checksum, every key ending "/0/*" for BranchReceive and "/1/*" for
// BranchChange: the form Bitcoin Core's importdescriptors accepts. It
// returns "" for any other branch value.
func (d *Descriptor) BranchString(b reserve.Branch) string {
	if b != reserve.BranchReceive && b != reserve.BranchChange {
		return ""
	}
	return d.branchStr[b]
}

// WalletID returns the wallet's identifier: 16 lowercase hex characters,
// the first 8 bytes of SHA-256 of String() without its checksum. Two
// descriptors share it only if they have the same network-encoded keys,
// origins, order and threshold.
func (d *Descriptor) WalletID() string { return d.walletID }

// Position returns the index (from 0) of the cosigner whose key is xpub,
// or -1. A match needs the same public key and chain code, never just a
// fingerprint, which anyone can copy. xpub may also be a whole key record;
// its origin is then ignored here, and the caller compares it with
// Cosigners()[i] if it matters.
func (d *Descriptor) Position(xpub string) int {
	if strings.HasPrefix(xpub, "[") {
		end := strings.IndexByte(xpub, ']')
		if end < 0 {
			return -1
		}
		xpub = xpub[end+1:]
	}
	key, _, err := parseKeyText(xpub)
	if err != nil || key.IsPrivate() {
		return -1
	}
	pub, err := key.ECPubKey()
	if err != nil {
		return -1
	}
	pubBytes, chain := pub.SerializeCompressed(), key.ChainCode()
	for i, acct := range d.accounts {
		if bytes.Equal(d.accountKeys[i], pubBytes) && bytes.Equal(acct.ChainCode(), chain) {
			return i
		}
	}
	return -1
}

// Descriptors hands out one parsed Descriptor per descriptor text, so
// that every part of a process working on one wallet shares the addresses
// it derived (the daemon's follower derives each address it watches; its
// PSBT builder and signature checks then find them). It keeps the last
// descriptor only: a daemon serves one wallet. The zero value is ready to
// use and safe for concurrent use.
type Descriptors struct {
	mu      sync.Mutex
	text    string
	network reserve.Network
	d       *Descriptor
}

// Parse is ParseDescriptor, remembered: the same text and network give
// the same *Descriptor.
func (c *Descriptors) Parse(text string, n reserve.Network) (*Descriptor, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.d != nil && c.text == text && c.network == n {
		return c.d, nil
	}
	d, err := ParseDescriptor(text, n)
	if err != nil {
		return nil, err
	}
	c.text, c.network, c.d = text, n, d
	return d, nil
}
