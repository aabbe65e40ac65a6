package audit

import (
	"fmt"
	"io"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Memory is a log held in memory: the encoded leaves and the tree's stored
// hashes. Tests, benchmarks and tools that generate a log use it (the
// daemon's log lives in the store); it is not safe for concurrent use.
type Memory struct {
	// Origin names the log in its checkpoints.
	Origin string
	leaves [][]byte
	hashes []tlog.Hash
}

// ReadHashes implements tlog.HashReader.
func (m *Memory) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("no stored hash %d (log holds %d)", x, len(m.hashes))
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

// Size is the number of leaves.
func (m *Memory) Size() int64 { return int64(len(m.leaves)) }

// Append numbers l as the next leaf, links it to the tree before it and
// adds it; it returns the encoding.
func (m *Memory) Append(l Leaf) ([]byte, error) {
	n := m.Size()
	prev, err := Root(m, n)
	if err != nil {
		return nil, err
	}
	l.Seq, l.Prev = n+1, prev
	b, err := l.Encode()
	if err != nil {
		return nil, err
	}
	hs, err := Append(m, n, b)
	if err != nil {
		return nil, err
	}
	m.hashes = append(m.hashes, hs...)
	m.leaves = append(m.leaves, b)
	return b, nil
}

// Leaf returns the encoding of leaf seq (1-based).
func (m *Memory) Leaf(seq int64) []byte { return m.leaves[seq-1] }

// Checkpoint commits to the first size leaves.
func (m *Memory) Checkpoint(size int64) (Checkpoint, error) {
	root, err := Root(m, size)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: m.Origin, Size: size, Root: root}, nil
}

// WriteExport writes the whole log as an export file signed by s.
func (m *Memory) WriteExport(w io.Writer, s note.Signer) error {
	cp, err := m.Checkpoint(m.Size())
	if err != nil {
		return err
	}
	signed, err := SignCheckpoint(cp, s)
	if err != nil {
		return err
	}
	if err := WriteExportHeader(w, signed); err != nil {
		return err
	}
	for _, b := range m.leaves {
		if err := WriteExportLeaf(w, b); err != nil {
			return err
		}
	}
	return nil
}
