package multisig

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/reserve"
)

// Sizes of a serialized extended key (BIP-32): version, depth, parent
// fingerprint, child number, chain code, key data; then a 4-byte checksum.
// Base58 writes the 82 bytes of a standard key as 111 characters.
const (
	xkeyPayloadLen = 4 + 1 + 4 + 4 + 32 + 33
	xkeyLen        = xkeyPayloadLen + 4
	xkeyChars      = 111
)

// keyVersion describes the four version bytes that open an extended key.
type keyVersion struct {
	name    string // as the key's text starts: "xpub", "Zprv" …
	private bool
	mainnet bool
	// slip132 marks the SLIP-132 versions (ypub, zpub, Ypub, Zpub and their
	// testnet and private forms), which encode a script type we get from
	// the descriptor instead.
	slip132 bool
}

// lookupVersion names the extended key versions BIP-32 and SLIP-132 define.
func lookupVersion(v uint32) (keyVersion, bool) {
	switch v {
	case 0x0488b21e:
		return keyVersion{name: "xpub", mainnet: true}, true
	case 0x0488ade4:
		return keyVersion{name: "xprv", mainnet: true, private: true}, true
	case 0x043587cf:
		return keyVersion{name: "tpub"}, true
	case 0x04358394:
		return keyVersion{name: "tprv", private: true}, true
	case 0x049d7cb2:
		return keyVersion{name: "ypub", mainnet: true, slip132: true}, true
	case 0x049d7878:
		return keyVersion{name: "yprv", mainnet: true, slip132: true, private: true}, true
	case 0x04b24746:
		return keyVersion{name: "zpub", mainnet: true, slip132: true}, true
	case 0x04b2430c:
		return keyVersion{name: "zprv", mainnet: true, slip132: true, private: true}, true
	case 0x0295b43f:
		return keyVersion{name: "Ypub", mainnet: true, slip132: true}, true
	case 0x0295b005:
		return keyVersion{name: "Yprv", mainnet: true, slip132: true, private: true}, true
	case 0x02aa7ed3:
		return keyVersion{name: "Zpub", mainnet: true, slip132: true}, true
	case 0x02aa7a99:
		return keyVersion{name: "Zprv", mainnet: true, slip132: true, private: true}, true
	case 0x044a5262:
		return keyVersion{name: "upub", slip132: true}, true
	case 0x044a4e28:
		return keyVersion{name: "uprv", slip132: true, private: true}, true
	case 0x045f1cf6:
		return keyVersion{name: "vpub", slip132: true}, true
	case 0x045f18bc:
		return keyVersion{name: "vprv", slip132: true, private: true}, true
	case 0x024289ef:
		return keyVersion{name: "Upub", slip132: true}, true
	case 0x024285b5:
		return keyVersion{name: "Uprv", slip132: true, private: true}, true
	case 0x02575483:
		return keyVersion{name: "Vpub", slip132: true}, true
	case 0x02575048:
		return keyVersion{name: "Vprv", slip132: true, private: true}, true
	}
	return keyVersion{}, false
}

// errBadChecksum is a base58check checksum that does not match: the key
// was mistyped or truncated.
var errBadChecksum = errors.New("extended key has a bad base58 checksum (mistyped or damaged?)")

// decodeExtendedKey reads a base58check extended key and checks everything
// BIP-32 requires of its serialization (the test vector 5 cases): a known
// version, key data that matches the version's kind (0x00-prefixed scalar
// in 1..n-1 for private, a point on the curve for public), and a depth-0
// key with no parent fingerprint and child number. It does not judge the
// network or whether a private key is welcome; callers do. Its errors
// never quote the key.
func decodeExtendedKey(s string) (*hdkeychain.ExtendedKey, keyVersion, error) {
	raw := base58.Decode(s)
	if len(raw) == 0 {
		return nil, keyVersion{}, errors.New("extended key is not base58")
	}
	if len(raw) != xkeyLen {
		return nil, keyVersion{}, fmt.Errorf("extended key decodes to %d bytes, want %d", len(raw), xkeyLen)
	}
	payload, sum := raw[:xkeyPayloadLen], raw[xkeyPayloadLen:]
	ver, ok := lookupVersion(binary.BigEndian.Uint32(payload[:4]))
	if !bytes.Equal(chainhash.DoubleHashB(payload)[:4], sum) {
		// The version still tells a damaged private key from a damaged
		// public one, and a private key is the worse news.
		return nil, ver, errBadChecksum
	}
	if !ok {
		return nil, keyVersion{}, fmt.Errorf("extended key has unknown version bytes %x", payload[:4])
	}
	depth, parentFP, childNum := payload[4], payload[5:9], binary.BigEndian.Uint32(payload[9:13])
	keyData := payload[45:]
	if depth == 0 && !bytes.Equal(parentFP, []byte{0, 0, 0, 0}) {
		return nil, ver, errors.New("extended key has depth 0 but a parent fingerprint")
	}
	if depth == 0 && childNum != 0 {
		return nil, ver, errors.New("extended key has depth 0 but a child number")
	}
	switch {
	case ver.private && keyData[0] != 0x00:
		return nil, ver, fmt.Errorf("extended key has %s version bytes but no private key data", ver.name)
	case ver.private:
		var k btcec.ModNScalar
		if overflow := k.SetByteSlice(keyData[1:]); overflow || k.IsZero() {
			return nil, ver, errors.New("extended private key is outside 1..n-1")
		}
	case keyData[0] == 0x00:
		// A public version wrapped around a private key is still a
		// private key: say so rather than call it malformed.
		ver.private = true
		return nil, ver, fmt.Errorf("extended key has %s version bytes but holds a private key", ver.name)
	case keyData[0] != 0x02 && keyData[0] != 0x03:
		return nil, ver, fmt.Errorf("extended public key data starts with %02x, want a compressed point (02 or 03)", keyData[0])
	}
	key, err := hdkeychain.NewKeyFromString(s)
	if err != nil {
		return nil, ver, fmt.Errorf("extended key is invalid: %w", err)
	}
	return key, ver, nil
}

// isBase58 reports whether r belongs to Bitcoin's base58 alphabet.
func isBase58(r rune) bool {
	switch {
	case r >= '1' && r <= '9':
		return true
	case r >= 'A' && r <= 'Z':
		return r != 'I' && r != 'O'
	case r >= 'a' && r <= 'z':
		return r != 'l'
	}
	return false
}

// parseKeyText reads the extended key that ends a key record. Anything
// after the key is refused as trailing garbage, which the error quotes
// (shortened); the key itself is never quoted.
func parseKeyText(s string) (*hdkeychain.ExtendedKey, keyVersion, error) {
	if s == "" {
		return nil, keyVersion{}, errors.New("no extended key after the key origin")
	}
	if s[0] == '[' {
		return nil, keyVersion{}, errors.New("more than one key origin")
	}
	keyText, tail := s, ""
	if i := strings.IndexFunc(s, func(r rune) bool { return !isBase58(r) }); i >= 0 {
		keyText, tail = s[:i], s[i:]
	}
	if keyText == "" {
		if looksLikePubKey(tail) {
			return nil, keyVersion{}, errors.New("plain public key given, want an extended public key (xpub or tpub)")
		}
		return nil, keyVersion{}, fmt.Errorf("no extended key after the key origin, found %s", quoteShort(tail))
	}
	key, ver, err := decodeExtendedKey(keyText)
	if err != nil && tail == "" && len(keyText) > xkeyChars {
		// Base58 garbage glued to a good key: find the key and blame
		// the rest.
		if _, _, err2 := decodeExtendedKey(keyText[:xkeyChars]); err2 == nil {
			keyText, tail = keyText[:xkeyChars], keyText[xkeyChars:]
			key, ver, err = decodeExtendedKey(keyText)
		}
	}
	if err != nil {
		return nil, ver, err
	}
	if tail != "" {
		return nil, ver, fmt.Errorf("unexpected %s after the extended key: a key record ends with the key", quoteShort(tail))
	}
	return key, ver, nil
}

// looksLikePubKey reports whether s starts with a hex SEC public key,
// compressed or not, as BIP-380 key expressions allow.
func looksLikePubKey(s string) bool {
	n := 0
	for n < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[n]) >= 0 {
		n++
	}
	switch {
	case n == 66 && (strings.HasPrefix(s, "02") || strings.HasPrefix(s, "03")):
		return true
	case n == 130 && strings.HasPrefix(s, "04"):
		return true
	}
	return false
}

// quoteShort quotes s for an error message, cut to a readable length. The
// cut also keeps a private key pasted in the wrong place out of messages:
// the first 16 base58 characters of an extended key hold only its version,
// depth, parent fingerprint and part of its child number.
func quoteShort(s string) string {
	const maxLen = 16
	if len(s) > maxLen {
		return fmt.Sprintf("%q…", s[:maxLen])
	}
	return fmt.Sprintf("%q", s)
}

// ParseKeyRecord reads a cosigner's key record, "[d34db33f/48'/1'/0'/2']tpub…",
// as exported by a signer, for a wallet on network n. The fingerprint is 8
// hex digits; the origin path marks hardened steps with ' or h (BIP-380).
//
// It refuses, with a *reserve.Error of code CodeInvalid and field "key": a
// missing or malformed origin, a fingerprint that is not 8 hex digits, a
// malformed path, a private key, a SLIP-132 key (ypub, Zpub …), a key of
// another network, a BIP-48 path (first step 48') of another network's
// coin type or of a script type other than 2' (P2WSH), a key whose depth,
// child number or (at depth 0 and 1) fingerprint disagrees with its origin,
// a bad base58 checksum, whitespace, and anything after the key.
//
// XPub in the result is the key re-encoded, which is the same text for any
// key that parses.
func ParseKeyRecord(s string, n reserve.Network) (reserve.Cosigner, error) {
	if _, err := NetParams(n); err != nil {
		return reserve.Cosigner{}, err
	}
	c, err := parseKeyRecord(s, n)
	if err != nil {
		return reserve.Cosigner{}, reserve.Invalid("key", "%w", err)
	}
	return c, nil
}

// parseKeyRecord is ParseKeyRecord with a plain error, for callers that
// name the field themselves.
func parseKeyRecord(s string, n reserve.Network) (reserve.Cosigner, error) {
	if _, err := NetParams(n); err != nil {
		return reserve.Cosigner{}, err
	}
	switch {
	case s == "":
		return reserve.Cosigner{}, errors.New("empty key record")
	case strings.TrimSpace(s) != s:
		return reserve.Cosigner{}, errors.New("key record has leading or trailing whitespace")
	case s[0] != '[':
		return reserve.Cosigner{}, errors.New("key record has no key origin: want [fingerprint/path]xpub")
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return reserve.Cosigner{}, errors.New("key origin is not closed with \"]\"")
	}
	fp, path, err := parseOrigin(s[1:end])
	if err != nil {
		return reserve.Cosigner{}, err
	}
	key, err := cosignerKey(fp, path, s[end+1:], n)
	if err != nil {
		return reserve.Cosigner{}, err
	}
	return reserve.Cosigner{Fingerprint: fp, Path: path, XPub: key.String()}, nil
}

// cosignerKey decodes a cosigner's extended public key and checks it
// against its origin (fingerprint fp, path) and the wallet's network n.
func cosignerKey(fp uint32, path []uint32, text string, n reserve.Network) (*hdkeychain.ExtendedKey, error) {
	key, ver, err := parseKeyText(text)
	if err != nil {
		if ver.private {
			// A damaged private key is still a private key where a
			// public one belongs: that is the problem to report.
			return nil, errPrivateKey
		}
		return nil, err
	}
	if err := checkKey(fp, path, key, ver, n); err != nil {
		return nil, err
	}
	return key, nil
}

// parseOrigin reads the inside of "[d34db33f/48'/1'/0'/2']".
func parseOrigin(origin string) (uint32, []uint32, error) {
	fpText, pathText, hasPath := strings.Cut(origin, "/")
	if len(fpText) != 8 {
		// Not quoted: a key pasted into the origin must not reach a log.
		return 0, nil, fmt.Errorf("key origin fingerprint has %d characters, want 8 hex digits", len(fpText))
	}
	fpBytes, err := hex.DecodeString(fpText)
	if err != nil {
		return 0, nil, fmt.Errorf("key origin fingerprint %q is not 8 hex digits", fpText)
	}
	if hasPath && pathText == "" {
		return 0, nil, errors.New("key origin path is empty after \"/\"")
	}
	path, err := parseSteps(pathText, false)
	if err != nil {
		return 0, nil, fmt.Errorf("key origin path %s: %w", quoteShort(pathText), err)
	}
	return binary.BigEndian.Uint32(fpBytes), path, nil
}

// errPrivateKey is an extended private key given where a cosigner's public
// key belongs.
var errPrivateKey = errors.New("private key given, want the public key")

// checkKey checks that a decoded extended key may be a cosigner of a
// wallet on network n and agrees with its origin (fingerprint fp, path).
func checkKey(fp uint32, path []uint32, key *hdkeychain.ExtendedKey, ver keyVersion, n reserve.Network) error {
	// Kind and network first: they say what the user must fetch instead.
	switch {
	case ver.private || key.IsPrivate():
		return errPrivateKey
	case ver.slip132:
		want := "tpub"
		if ver.mainnet {
			want = "xpub"
		}
		return fmt.Errorf("%s keys (SLIP-132) are not supported: give the same key as an %s", ver.name, want)
	case ver.mainnet && n != reserve.Mainnet:
		return fmt.Errorf("cosigner key is for mainnet, wallet is %s", n)
	case !ver.mainnet && n == reserve.Mainnet:
		return fmt.Errorf("cosigner key is for a test network (%s), wallet is mainnet", ver.name)
	}
	if err := checkBIP48(path, n); err != nil {
		return err
	}
	return checkOrigin(fp, path, key)
}

// checkBIP48 refuses a BIP-48 origin path (first step 48') made for another
// network or another script type than native segwit multisig.
func checkBIP48(path []uint32, n reserve.Network) error {
	if len(path) < 2 || path[0] != bip48Purpose {
		return nil
	}
	if want := n.CoinType() | hardened; path[1] != want {
		return fmt.Errorf("origin path %s is BIP-48 for %s, wallet is %s (want coin type %s)",
			FormatPath(path), coinTypeName(path[1]), n, FormatPath([]uint32{want}))
	}
	if len(path) >= 4 && path[3] != bip48ScriptP2WSH {
		return fmt.Errorf("origin path %s is BIP-48 script type %s, want 2' (P2WSH)",
			FormatPath(path), FormatPath(path[3:4]))
	}
	return nil
}

// coinTypeName says which network a BIP-44 coin type step belongs to.
func coinTypeName(step uint32) string {
	switch step {
	case hardened:
		return "mainnet (coin type 0')"
	case 1 | hardened:
		return "a test network (coin type 1')"
	}
	return "coin type " + FormatPath([]uint32{step})
}

// checkOrigin refuses a key whose serialized depth, child number or
// fingerprints contradict its origin. A wrong origin would put wrong BIP-32
// derivations into every PSBT, and hardware signers would refuse them.
func checkOrigin(fp uint32, path []uint32, key *hdkeychain.ExtendedKey) error {
	if int(key.Depth()) != len(path) {
		return fmt.Errorf("key depth %d disagrees with origin path %q of %d steps", key.Depth(), FormatPath(path), len(path))
	}
	switch len(path) {
	case 0:
		own, err := keyFingerprint(key)
		if err != nil {
			return err
		}
		if own != fp {
			return fmt.Errorf("origin fingerprint %08x is not this master key's fingerprint %08x", fp, own)
		}
	case 1:
		if key.ParentFingerprint() != fp {
			return fmt.Errorf("key's parent fingerprint %08x disagrees with origin fingerprint %08x", key.ParentFingerprint(), fp)
		}
	}
	if len(path) > 0 && key.ChildIndex() != path[len(path)-1] {
		return fmt.Errorf("key is child %s of its parent, origin path %q ends with %s",
			FormatPath([]uint32{key.ChildIndex()}), FormatPath(path), FormatPath(path[len(path)-1:]))
	}
	return nil
}

// FormatKeyRecord writes a cosigner as "[fingerprint/path]xpub", the
// fingerprint as 8 lowercase hex digits (the big-endian bytes in order, as
// BIP-32 prints it) and the path as FormatPath does. A cosigner with an
// empty path (a master key) is written "[fingerprint]xpub".
func FormatKeyRecord(c reserve.Cosigner) string {
	if len(c.Path) == 0 {
		return fmt.Sprintf("[%08x]%s", c.Fingerprint, c.XPub)
	}
	return fmt.Sprintf("[%08x/%s]%s", c.Fingerprint, FormatPath(c.Path), c.XPub)
}
