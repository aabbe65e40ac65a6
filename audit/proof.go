package audit

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custos-reserve/custos/reserve"
)

// Headers of the proof text formats (docs/audit.md).
const (
	inclusionHeader   = "custos-audit-inclusion/v1"
	consistencyHeader = "custos-audit-consistency/v1"
	// maxProofHashes bounds a parsed proof: a tree of 2^63 leaves needs
	// fewer than 2*63 hashes.
	maxProofHashes = 128
)

// InclusionProof shows that leaf Seq is in the tree of Size leaves.
type InclusionProof struct {
	Seq    int64
	Size   int64
	Hashes tlog.RecordProof
}

// ProveInclusion builds the proof that leaf seq is in the tree of size
// leaves. A seq past size (or below 1) is refused naming it.
func ProveInclusion(r tlog.HashReader, seq, size int64) (InclusionProof, error) {
	if err := checkRange("seq", seq, size); err != nil {
		return InclusionProof{}, err
	}
	p, err := tlog.ProveRecord(size, seq-1, r)
	if err != nil {
		return InclusionProof{}, fmt.Errorf("unable to prove leaf %d in tree %d: %w", seq, size, err)
	}
	return InclusionProof{Seq: seq, Size: size, Hashes: p}, nil
}

// Check verifies that the encoded leaf is leaf p.Seq of the tree cp
// commits to.
func (p InclusionProof) Check(encoded []byte, cp Checkpoint) error {
	if p.Size != cp.Size {
		return reserve.Invalid("proof", "is for a tree of %d leaves, the checkpoint has %d", p.Size, cp.Size)
	}
	if err := checkRange("seq", p.Seq, cp.Size); err != nil {
		return err
	}
	l, err := ParseLeaf(encoded)
	if err != nil {
		return err
	}
	if l.Seq != p.Seq {
		return reserve.Invalid("leaf", "has seq %d, the proof is for %d", l.Seq, p.Seq)
	}
	if err := tlog.CheckRecord(p.Hashes, cp.Size, cp.Root, p.Seq-1, LeafHash(encoded)); err != nil {
		return reserve.Invalid("proof", "does not show leaf %d in the checkpoint's tree: %w", p.Seq, err)
	}
	return nil
}

// MarshalText writes the proof: the header line, "seq N", "size M", then
// one base64 hash per line.
func (p InclusionProof) MarshalText() ([]byte, error) {
	return formatProof(inclusionHeader, "seq", p.Seq, "size", p.Size, p.Hashes), nil
}

// ParseInclusionProof reads what MarshalText writes.
func ParseInclusionProof(text []byte) (InclusionProof, error) {
	seq, size, hashes, err := parseProof(text, inclusionHeader, "seq", "size")
	if err != nil {
		return InclusionProof{}, err
	}
	if err := checkRange("seq", seq, size); err != nil {
		return InclusionProof{}, err
	}
	return InclusionProof{Seq: seq, Size: size, Hashes: hashes}, nil
}

// ConsistencyProof shows that the tree of Old leaves is a prefix of the
// tree of New leaves: the later checkpoint extends the earlier one.
type ConsistencyProof struct {
	Old    int64
	New    int64
	Hashes tlog.TreeProof
}

// ProveConsistency builds the proof that the tree of old leaves is a
// prefix of the tree of new leaves; 1 <= old <= new <= the log's size.
func ProveConsistency(r tlog.HashReader, old, new, size int64) (ConsistencyProof, error) {
	if err := checkRange("new", new, size); err != nil {
		return ConsistencyProof{}, err
	}
	if err := checkRange("old", old, new); err != nil {
		return ConsistencyProof{}, err
	}
	p, err := tlog.ProveTree(new, old, r)
	if err != nil {
		return ConsistencyProof{}, fmt.Errorf("unable to prove tree %d extends %d: %w", new, old, err)
	}
	return ConsistencyProof{Old: old, New: new, Hashes: p}, nil
}

// Check verifies that newer extends older, both checkpoints of the same
// log.
func (p ConsistencyProof) Check(older, newer Checkpoint) error {
	if older.Origin != newer.Origin {
		return reserve.Invalid("checkpoint", "logs differ: %q and %q", older.Origin, newer.Origin)
	}
	if p.Old != older.Size || p.New != newer.Size {
		return reserve.Invalid("proof", "is for sizes %d..%d, the checkpoints have %d..%d", p.Old, p.New, older.Size, newer.Size)
	}
	if err := checkRange("old", p.Old, p.New); err != nil {
		return err
	}
	if err := tlog.CheckTree(p.Hashes, p.New, newer.Root, p.Old, older.Root); err != nil {
		return reserve.Invalid("proof", "does not show that tree %d extends tree %d (a rewritten or forked history?): %w", p.New, p.Old, err)
	}
	return nil
}

// MarshalText writes the proof: the header line, "old N", "new M", then
// one base64 hash per line.
func (p ConsistencyProof) MarshalText() ([]byte, error) {
	return formatProof(consistencyHeader, "old", p.Old, "new", p.New, p.Hashes), nil
}

// ParseConsistencyProof reads what MarshalText writes.
func ParseConsistencyProof(text []byte) (ConsistencyProof, error) {
	old, new, hashes, err := parseProof(text, consistencyHeader, "old", "new")
	if err != nil {
		return ConsistencyProof{}, err
	}
	if err := checkRange("old", old, new); err != nil {
		return ConsistencyProof{}, err
	}
	return ConsistencyProof{Old: old, New: new, Hashes: hashes}, nil
}

func formatProof(header, k1 string, v1 int64, k2 string, v2 int64, hashes []tlog.Hash) []byte {
	b := fmt.Appendf(nil, "%s\n%s %d\n%s %d\n", header, k1, v1, k2, v2)
	for _, h := range hashes {
		b = append(b, base64.StdEncoding.EncodeToString(h[:])...)
		b = append(b, '\n')
	}
	return b
}

func parseProof(text []byte, header, k1, k2 string) (int64, int64, []tlog.Hash, error) {
	lines := strings.Split(string(text), "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" || lines[0] != header {
		return 0, 0, nil, reserve.Invalid("proof", "is not a %s text (header line, two counts, hashes, each line ending in a newline)", header)
	}
	lines = lines[:len(lines)-1]
	v1, err := parseCount(lines[1], k1)
	if err != nil {
		return 0, 0, nil, err
	}
	v2, err := parseCount(lines[2], k2)
	if err != nil {
		return 0, 0, nil, err
	}
	if len(lines)-3 > maxProofHashes {
		return 0, 0, nil, reserve.Invalid("proof", "has %d hashes, more than %d", len(lines)-3, maxProofHashes)
	}
	var hashes []tlog.Hash
	for i, l := range lines[3:] {
		b, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(b) != tlog.HashSize {
			return 0, 0, nil, reserve.Invalid(fmt.Sprintf("proof line %d", i+4), "is not a base64 %d-byte hash", tlog.HashSize)
		}
		hashes = append(hashes, tlog.Hash(b))
	}
	return v1, v2, hashes, nil
}

func parseCount(line, key string) (int64, error) {
	v, ok := strings.CutPrefix(line, key+" ")
	n, err := strconv.ParseInt(v, 10, 64)
	if !ok || err != nil || strconv.FormatInt(n, 10) != v {
		return 0, reserve.Invalid("proof", "line %q is not %q and a decimal count", line, key+" N")
	}
	return n, nil
}
