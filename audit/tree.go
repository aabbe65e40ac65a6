package audit

import (
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custos-reserve/custos/reserve"
)

// Append returns the hashes the store must keep after adding the encoded
// leaf as record n (the leaf with seq n+1): tlog.StoredHashes, to be
// written at tlog.StoredHashIndex(0, n) and the indexes after it. r reads
// the hashes kept for the records before n.
func Append(r tlog.HashReader, n int64, encoded []byte) ([]tlog.Hash, error) {
	return tlog.StoredHashes(n, encoded, r)
}

// Root is the root of the tree of the first size leaves.
func Root(r tlog.HashReader, size int64) (tlog.Hash, error) {
	return tlog.TreeHash(size, r)
}

// Frontier computes the roots of a growing tree in O(log n) memory: the
// hashes of the perfect subtrees the leaves so far fill, largest first.
// The verifier uses it to hash a million-line export without keeping the
// tree; its roots are tlog.TreeHash's (a test holds them equal).
type Frontier struct {
	n     int64
	stack []tlog.Hash
}

// Size is how many leaves were added.
func (f *Frontier) Size() int64 { return f.n }

// Add appends a leaf hash.
func (f *Frontier) Add(h tlog.Hash) {
	for bit := int64(1); f.n&bit != 0; bit <<= 1 {
		h = tlog.NodeHash(f.stack[len(f.stack)-1], h)
		f.stack = f.stack[:len(f.stack)-1]
	}
	f.stack = append(f.stack, h)
	f.n++
}

// Root is the RFC 6962 root of the leaves added so far (tlog's value for
// an empty tree when none).
func (f *Frontier) Root() tlog.Hash {
	if f.n == 0 {
		h, _ := tlog.TreeHash(0, nil)
		return h
	}
	r := f.stack[len(f.stack)-1]
	for i := len(f.stack) - 2; i >= 0; i-- {
		r = tlog.NodeHash(f.stack[i], r)
	}
	return r
}

// checkRange refuses a position outside a tree of size leaves.
func checkRange(field string, seq, size int64) error {
	if seq < 1 || seq > size {
		return reserve.Invalid(field, "%d is outside the log's 1..%d", seq, size)
	}
	return nil
}
