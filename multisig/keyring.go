package multisig

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/custos-reserve/custos/reserve"
)

// errInvalidChild is BIP-32's "proceed with the next index" case, odds
// below 2^-127; Derive reports the same indexes as unusable.
var errInvalidChild = errors.New("the BIP-32 child key at this index is invalid")

// maxCachedBytes bounds the memory a descriptor spends remembering the
// scripts it derived (about 300 bytes per 2-of-3 address, so some 200,000
// addresses). Past it, derivations are computed and not kept.
const maxCachedBytes = 64 << 20

// keyring derives the wallet's child public keys and scripts, and keeps
// them: every Descriptor has one, so the daemon's follower, its PSBT
// builder and its signature checks, or a signer's Analyze and SignPSBT,
// derive each address once per process — the way Bitcoin Core's
// descriptor wallets keep a cache of derived keys. A child key costs one
// scalar multiplication of the generator, as much as an ECDSA signature;
// a 950-input spend needs 2,850 of them.
//
// It does what hdkeychain does, faster: the cosigners' branch keys are
// decoded once into curve points (hdkeychain decompresses the parent key
// on every derivation), and the n children of one (branch, index) share
// one field inversion. TestKeyringMatchesHDKeychain holds it to hdkeychain.
// It is safe for concurrent use.
type keyring struct {
	d *Descriptor
	// parent[b][c] is cosigner c's branch-b key as a point with Z = 1,
	// serP[b][c] its compressed form and chain[b][c] its chain code.
	parent [2][]btcec.JacobianPoint
	serP   [2][][]byte
	chain  [2][][]byte

	mu     sync.RWMutex
	cache  map[keyPath]derivedScripts
	cached int // bytes held by cache, roughly
}

// newKeyring decodes d's branch keys.
func newKeyring(d *Descriptor) (*keyring, error) {
	kr := &keyring{d: d, cache: make(map[keyPath]derivedScripts)}
	for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		n := len(d.branches[b])
		kr.parent[b] = make([]btcec.JacobianPoint, n)
		kr.serP[b] = make([][]byte, n)
		kr.chain[b] = make([][]byte, n)
		for c, key := range d.branches[b] {
			pub, err := key.ECPubKey()
			if err != nil {
				return nil, reserve.Errorf(reserve.CodeInternal, "unable to read cosigner[%d]'s %s key: %w", c, b, err)
			}
			pub.AsJacobian(&kr.parent[b][c])
			kr.serP[b][c] = pub.SerializeCompressed()
			kr.chain[b][c] = key.ChainCode()
		}
	}
	return kr, nil
}

// tweak computes BIP-32's I_L for cosigner c's child at path: I =
// HMAC-SHA512(chain code, serP(parent) || ser32(index)). CKDpub adds
// I_L·G to the parent key, CKDpriv adds I_L to the parent secret.
func (kr *keyring) tweak(c int, path keyPath) (btcec.ModNScalar, error) {
	var data [37]byte
	copy(data[:33], kr.serP[path.Branch][c])
	binary.BigEndian.PutUint32(data[33:], path.Index)
	mac := hmac.New(sha512.New, kr.chain[path.Branch][c])
	mac.Write(data[:])
	var sum [sha512.Size]byte
	mac.Sum(sum[:0])
	var il btcec.ModNScalar
	if overflow := il.SetByteSlice(sum[:32]); overflow || il.IsZero() {
		return il, errInvalidChild
	}
	return il, nil
}

// childPoint computes cosigner c's child key at path as a Jacobian point
// (BIP-32 CKDpub): I_L·G + parent.
func (kr *keyring) childPoint(c int, path keyPath, out *btcec.JacobianPoint) error {
	il, err := kr.tweak(c, path)
	if err != nil {
		return err
	}
	var ilG btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&il, &ilG)
	ilG.X.Normalize()
	ilG.Y.Normalize()
	ilG.Z.Normalize()
	btcec.AddNonConst(&ilG, &kr.parent[path.Branch][c], out)
	return nil
}

// toAffine converts points to Z = 1 with a single field inversion for all
// of them (Montgomery's trick), refusing the point at infinity.
func toAffine(pts []btcec.JacobianPoint) error {
	var buf [reserve.MaxCosigners]btcec.FieldVal
	acc := buf[:0]
	if len(pts) > len(buf) {
		acc = make([]btcec.FieldVal, 0, len(pts))
	}
	var prod btcec.FieldVal
	prod.SetInt(1)
	for i := range pts {
		pts[i].Z.Normalize()
		if pts[i].Z.IsZero() {
			return errInvalidChild
		}
		acc = append(acc, prod)
		prod.Mul(&pts[i].Z)
	}
	// prod = 1/(Z_0 … Z_k-1); walking back, acc[i]·prod = 1/Z_i.
	prod.Inverse()
	for i := len(pts) - 1; i >= 0; i-- {
		var zInv, zInv2 btcec.FieldVal
		zInv.Mul2(&acc[i], &prod)
		prod.Mul(&pts[i].Z)
		zInv2.SquareVal(&zInv)
		pts[i].X.Mul(&zInv2).Normalize()
		pts[i].Y.Mul(zInv2.Mul(&zInv)).Normalize()
		pts[i].Z.SetInt(1)
	}
	return nil
}

// compressed serializes an affine point (Z = 1, normalized) as a 33-byte
// compressed public key into out.
func compressed(p *btcec.JacobianPoint, out []byte) {
	out[0] = 0x02
	if p.Y.IsOdd() {
		out[0] = 0x03
	}
	p.X.PutBytesUnchecked(out[1:33])
}

// derivedScripts are the wallet's keys (descriptor order) and scripts at
// one (branch, index), as Derive gives them. The keyring shares them
// between callers: nobody may modify them.
type derivedScripts struct {
	keys          [][]byte
	witnessScript []byte
	pkScript      []byte
}

// size is roughly the memory the scripts hold.
func (s derivedScripts) size() int {
	return len(s.keys)*(33+24) + len(s.witnessScript) + len(s.pkScript) + 128
}

// derivation is the result of deriving one path: the scripts, or why
// there are none.
type derivation struct {
	derivedScripts
	err error
}

// checkPath refuses a path that names no wallet address.
func checkPath(path keyPath) error {
	if path.Branch != reserve.BranchReceive && path.Branch != reserve.BranchChange {
		return fmt.Errorf("unknown branch %d", path.Branch)
	}
	if path.Index >= hardened {
		return fmt.Errorf("index %d is not below 2^31", path.Index)
	}
	return nil
}

// lookup returns the scripts at path if they were derived before.
func (kr *keyring) lookup(path keyPath) (derivedScripts, bool) {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	s, ok := kr.cache[path]
	return s, ok
}

// keep remembers the scripts at path, while the cache has room.
func (kr *keyring) keep(path keyPath, s derivedScripts) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if _, ok := kr.cache[path]; ok || kr.cached+s.size() > maxCachedBytes {
		return
	}
	kr.cache[path] = s
	kr.cached += s.size()
}

// derive returns the wallet's keys and scripts at path, computing them
// the first time.
func (kr *keyring) derive(path keyPath) (derivedScripts, error) {
	if err := checkPath(path); err != nil {
		return derivedScripts{}, err
	}
	if s, ok := kr.lookup(path); ok {
		return s, nil
	}
	s, err := kr.compute(path)
	if err != nil {
		return derivedScripts{}, err
	}
	kr.keep(path, s)
	return s, nil
}

// deriveAll derives the wallet's scripts at every distinct path in paths,
// the ones not derived before spread over the cores. A reserve often
// holds several coins at one address; each address costs its n child
// derivations once.
func (kr *keyring) deriveAll(paths []keyPath) map[keyPath]derivation {
	out := make(map[keyPath]derivation, len(paths))
	var missing []keyPath
	kr.mu.RLock()
	for _, path := range paths {
		if _, done := out[path]; done {
			continue
		}
		if s, ok := kr.cache[path]; ok {
			out[path] = derivation{derivedScripts: s}
			continue
		}
		out[path] = derivation{}
		missing = append(missing, path)
	}
	kr.mu.RUnlock()
	results := make([]derivation, len(missing))
	_ = forEach(len(missing), 0, func(k int) error {
		s, err := kr.derive(missing[k])
		results[k] = derivation{derivedScripts: s, err: err}
		return nil
	})
	for k, path := range missing {
		out[path] = results[k]
	}
	return out
}

// compute derives the wallet's keys and scripts at a valid path.
func (kr *keyring) compute(path keyPath) (derivedScripts, error) {
	n := len(kr.d.cosigners)
	var buf [reserve.MaxCosigners]btcec.JacobianPoint
	pts := buf[:n]
	for c := range n {
		if err := kr.childPoint(c, path, &pts[c]); err != nil {
			return derivedScripts{}, fmt.Errorf("cosigner[%d]'s key at %s: %w", c, path, err)
		}
	}
	if err := toAffine(pts); err != nil {
		return derivedScripts{}, fmt.Errorf("a key at %s: %w", path, err)
	}
	keys := make([][]byte, n)
	all := make([]byte, 33*n)
	for c := range pts {
		keys[c] = all[33*c : 33*c+33 : 33*c+33]
		compressed(&pts[c], keys[c])
	}
	return kr.scripts(keys)
}

// scripts builds the scripts of one address from its keys.
func (kr *keyring) scripts(keys [][]byte) (derivedScripts, error) {
	ws, err := sortedMultiScript(kr.d.threshold, keys)
	if err != nil {
		return derivedScripts{}, err
	}
	return derivedScripts{keys: keys, witnessScript: ws, pkScript: p2wsh(ws)}, nil
}

// Prederive derives and keeps the wallet's addresses from index from to
// index to (exclusive) on branch b, spread over the cores, so that later
// operations on them are lookups. Indexes at or above 2^31 are refused.
func (d *Descriptor) Prederive(b reserve.Branch, from, to uint32) error {
	if to <= from {
		return nil
	}
	if err := checkPath(keyPath{b, to - 1}); err != nil {
		return reserve.Invalid("index", "%w", err)
	}
	// Only the missing ones, without building a result: a signer calls
	// this after every signing over its whole window.
	var missing []keyPath
	kr := d.kr
	kr.mu.RLock()
	for i := from; i < to; i++ {
		if _, ok := kr.cache[keyPath{b, i}]; !ok {
			missing = append(missing, keyPath{b, i})
		}
	}
	kr.mu.RUnlock()
	_ = forEach(len(missing), 0, func(k int) error {
		// An error here is BIP-32's invalid child, odds below 2^-127:
		// that index is unusable, Derive says so when it is asked for
		// it, and the others are still derived.
		_, _ = kr.derive(missing[k])
		return nil
	})
	return nil
}

// derivedRecordVersion is the first byte of ExportDerived's output.
const derivedRecordVersion = 1

// ExportDerived returns every address the descriptor has derived and
// kept, for a process that wants to start with them (a signer keeps them
// in a file it authenticates): a version byte, then per address, in
// (branch, index) order, the branch (1 byte), the index (4 bytes, big
// endian) and the cosigners' 33-byte keys in descriptor order.
func (d *Descriptor) ExportDerived() []byte {
	d.kr.mu.RLock()
	paths := make([]keyPath, 0, len(d.kr.cache))
	for path := range d.kr.cache {
		paths = append(paths, path)
	}
	d.kr.mu.RUnlock()
	slices.SortFunc(paths, func(a, b keyPath) int {
		if a.Branch != b.Branch {
			return int(a.Branch) - int(b.Branch)
		}
		return cmp.Compare(a.Index, b.Index)
	})
	n := len(d.cosigners)
	out := make([]byte, 1, 1+len(paths)*(5+33*n))
	out[0] = derivedRecordVersion
	for _, path := range paths {
		s, _ := d.kr.lookup(path)
		out = append(out, byte(path.Branch))
		out = binary.BigEndian.AppendUint32(out, path.Index)
		for _, k := range s.keys {
			out = append(out, k...)
		}
	}
	return out
}

// ImportDerived takes addresses that ExportDerived wrote for this very
// descriptor, and returns how many. It checks the format, not the keys:
// recomputing them would cost what the import saves, so the caller must
// have authenticated data as its own export (the signer's file carries a
// MAC under a key only the signer holds). Nothing is kept on error.
func (d *Descriptor) ImportDerived(data []byte) (int, error) {
	n := len(d.cosigners)
	rec := 5 + 33*n
	if len(data) < 1 || data[0] != derivedRecordVersion {
		return 0, reserve.Invalid("derived", "not a derived-address record of version %d", derivedRecordVersion)
	}
	body := data[1:]
	if len(body)%rec != 0 {
		return 0, reserve.Invalid("derived", "%d bytes is not a whole number of %d-byte records", len(body), rec)
	}
	type entry struct {
		path keyPath
		s    derivedScripts
	}
	entries := make([]entry, 0, len(body)/rec)
	for off := 0; off < len(body); off += rec {
		r := body[off : off+rec]
		path := keyPath{reserve.Branch(r[0]), binary.BigEndian.Uint32(r[1:5])}
		if err := checkPath(path); err != nil {
			return 0, reserve.Invalid("derived", "record %d: %w", off/rec, err)
		}
		all := bytes.Clone(r[5:])
		keys := make([][]byte, n)
		for c := range keys {
			keys[c] = all[33*c : 33*c+33 : 33*c+33]
			if keys[c][0] != 0x02 && keys[c][0] != 0x03 {
				return 0, reserve.Invalid("derived", "record %d: key %d is not a compressed public key", off/rec, c)
			}
		}
		s, err := d.kr.scripts(keys)
		if err != nil {
			return 0, reserve.Invalid("derived", "record %d: %w", off/rec, err)
		}
		entries = append(entries, entry{path, s})
	}
	for _, e := range entries {
		d.kr.keep(e.path, e.s)
	}
	return len(entries), nil
}
