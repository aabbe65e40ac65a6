package audit

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custos-reserve/custos/reserve"
)

// ExportFormat names the export file format on its first line.
const ExportFormat = "custos-audit-export/v1"

// maxHeaderBytes bounds a line of an export file: a leaf, or the header
// with the checkpoint and the cosignatures and proofs of up to 64
// witnesses.
const maxHeaderBytes = MaxLeafBytes + MaxCheckpointBytes + 1024 + 64*(maxCosignatureBytes+8<<10)

// An export file is JSON Lines: line 1 is the header
// {"format":"custos-audit-export/v1","checkpoint":"<signed note>"}, lines
// 2 to Size+1 are the leaves 1 to Size in their canonical encoding, and
// nothing follows. The header comes first so a foreign file is refused at
// line 1 and a streamed export needs no trailer.
type exportHeader struct {
	Format     string `json:"format"`
	Checkpoint string `json:"checkpoint"`
	// Witnesses are the witnesses' latest cosignatures (witness.go),
	// omitted when there are none.
	Witnesses []exportWitness `json:"witnesses,omitempty"`
}

// WriteExportHeader writes line 1 of an export file for the signed
// checkpoint; the caller then writes leaves 1 to the checkpoint's size
// with WriteExportLeaf.
func WriteExportHeader(w io.Writer, signedCheckpoint []byte, witnesses ...ExportWitness) error {
	h := exportHeader{Format: ExportFormat, Checkpoint: string(signedCheckpoint)}
	for _, ew := range witnesses {
		h.Witnesses = append(h.Witnesses, ew.marshal())
	}
	b, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("unable to encode export header: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteExportLeaf writes one encoded leaf as a line.
func WriteExportLeaf(w io.Writer, encoded []byte) error {
	if _, err := w.Write(encoded); err != nil {
		return err
	}
	_, err := w.Write([]byte{'\n'})
	return err
}

// LineError names the line of an export file that fails verification
// (line 1 is the header; the leaf with seq s is on line s+1).
type LineError struct {
	Line int64
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

func badLine(line int64, format string, args ...any) error {
	le := &LineError{Line: line, Err: fmt.Errorf(format, args...)}
	return &reserve.Error{Code: reserve.CodeInvalid, Field: fmt.Sprintf("line %d", line), Msg: le.Err.Error(), Err: le}
}

// VerifyExport reads an export file offline: it opens the checkpoint with
// the log key v, reads every leaf, checks that each is canonical, numbered
// in order and commits (Prev) to the tree of the leaves before it, and that
// the tree of all of them is the checkpoint's. The first failure is a
// CodeInvalid *reserve.Error whose Field is "line N", with a *LineError in
// its chain:
//   - an edited leaf is named by its own line (the next leaf's Prev, or
//     the checkpoint for the last, no longer matches it);
//   - a deleted, inserted or moved leaf by the first line whose seq is not
//     its position;
//   - a truncated file by its last line, a foreign or malformed one by the
//     first line that is not a leaf, a checkpoint of another log or signed
//     by another key by line 1.
func VerifyExport(r io.Reader, v note.Verifier) (Checkpoint, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxHeaderBytes)
	cp, err := readHeader(sc, v)
	if err != nil {
		return Checkpoint{}, err
	}
	var (
		f    Frontier
		last int64 // line of the previous leaf
		b    batch
	)
	for {
		more, err := b.read(sc)
		if err != nil {
			return Checkpoint{}, err
		}
		b.parse()
		for i := range b.items {
			it := &b.items[i]
			line, seq := f.Size()+2, f.Size()+1
			switch {
			case seq > cp.Size:
				return Checkpoint{}, badLine(line, "the checkpoint covers %d leaves but the file has more (an inserted line?)", cp.Size)
			case it.err != nil:
				return Checkpoint{}, badLine(line, "malformed leaf (an edited, truncated or foreign line?): %w", it.err)
			case it.seq != seq:
				return Checkpoint{}, badLine(line, "holds leaf %d where leaf %d belongs (a line deleted, inserted or moved here)", it.seq, seq)
			case it.prev != f.Root():
				// This leaf's Prev is the log's tree before it; the
				// tree of the lines before it differs, and every line
				// before the previous one passed this check against its
				// own successor: the previous line is the one changed.
				return Checkpoint{}, badLine(last, "leaf %d differs from what the log recorded (leaf %d's prev hash does not match it)", seq-1, seq)
			}
			f.Add(it.hash)
			last = line
		}
		if !more {
			break
		}
	}
	if f.Size() < cp.Size {
		return Checkpoint{}, badLine(f.Size()+2, "missing: the file ends after %d leaves but the checkpoint covers %d (a truncated file or deleted lines)", f.Size(), cp.Size)
	}
	if f.Root() != cp.Root {
		return Checkpoint{}, badLine(last, "leaf %d differs from what the log recorded (the checkpoint's root does not match)", f.Size())
	}
	return cp, nil
}

// leafPosition reads a line's seq and prev without decoding the rest:
// every leaf the log writes starts with {"seq":N, and ends with
// ,"prev":"<base64>"}. It need not check more: any other byte that differs
// from what the log wrote changes the leaf hash, which the tree catches at
// this line (the next leaf's prev or the checkpoint's root). A full
// ParseLeaf of every line costs the 1,000,000-line verify most of its
// time budget.
func leafPosition(line []byte) (int64, tlog.Hash, error) {
	const head, tail = `{"seq":`, `,"prev":"`
	var prev tlog.Hash
	rest, ok := bytes.CutPrefix(line, []byte(head))
	i := bytes.IndexByte(rest, ',')
	if !ok || i < 1 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return 0, prev, errors.New(`not a Custos audit leaf (want {"seq":N,...,"prev":"..."})`)
	}
	seq, err := strconv.ParseInt(string(rest[:i]), 10, 64)
	if err != nil || seq < 1 {
		return 0, prev, fmt.Errorf("seq %q is not a count from 1", rest[:i])
	}
	const b64 = 44 // base64 of a 32-byte hash
	end := len(line) - 2
	if end-b64-len(tail) < len(head) || string(line[end-b64-len(tail):end-b64]) != tail {
		return 0, prev, errors.New(`does not end with ,"prev":"<base64 hash>"}`)
	}
	var dec [b64 * 3 / 4]byte
	if n, err := base64.StdEncoding.Decode(dec[:], line[end-b64:end]); err != nil || n != tlog.HashSize {
		return 0, prev, errors.New("prev is not a base64 32-byte hash")
	}
	copy(prev[:], dec[:])
	return seq, prev, nil
}

// batch is a run of lines parsed in parallel before the tree, which is
// sequential, takes them in order: parsing is most of a verifier's work.
type batch struct {
	buf   []byte
	ends  []int
	items []parsedLeaf
}

type parsedLeaf struct {
	seq  int64
	prev tlog.Hash
	hash tlog.Hash
	err  error
}

const batchLines = 4096

// read copies up to batchLines lines; more is false at the end of input.
func (b *batch) read(sc *bufio.Scanner) (more bool, err error) {
	b.buf, b.ends = b.buf[:0], b.ends[:0]
	for len(b.ends) < batchLines {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				if errors.Is(err, bufio.ErrTooLong) {
					// Reported at the line after those read so far.
					b.ends = append(b.ends, len(b.buf))
					b.buf = append(b.buf, "\x00too long"...)
					b.ends[len(b.ends)-1] = len(b.buf)
					return false, nil
				}
				return false, reserve.Invalid("file", "unable to read: %w", err)
			}
			return false, nil
		}
		b.buf = append(b.buf, sc.Bytes()...)
		b.ends = append(b.ends, len(b.buf))
	}
	return true, nil
}

// parse fills items from the lines, on as many goroutines as there are
// CPUs.
func (b *batch) parse() {
	n := len(b.ends)
	b.items = slices.Grow(b.items[:0], n)[:n]
	workers := min(runtime.GOMAXPROCS(0), 1+n/256)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				start := 0
				if i > 0 {
					start = b.ends[i-1]
				}
				line := b.buf[start:b.ends[i]]
				seq, prev, err := leafPosition(line)
				b.items[i] = parsedLeaf{seq: seq, prev: prev, hash: LeafHash(line), err: err}
			}
		}()
	}
	wg.Wait()
}

func readHeader(sc *bufio.Scanner, v note.Verifier) (Checkpoint, error) {
	_, cp, err := readHeaderFull(sc, v)
	return cp, err
}

func readHeaderFull(sc *bufio.Scanner, v note.Verifier) (exportHeader, Checkpoint, error) {
	var h exportHeader
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return h, Checkpoint{}, badLine(1, "unable to read the header: %w", err)
		}
		return h, Checkpoint{}, badLine(1, "the file is empty: not a Custos audit export")
	}
	dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil || h.Format != ExportFormat {
		return h, Checkpoint{}, badLine(1, "not a Custos audit export (want a %s header)", ExportFormat)
	}
	// Nothing may follow the header's value on its line: not a second
	// value, not a stray bracket (which dec.More does not see).
	if _, err := dec.Token(); err != io.EOF {
		return h, Checkpoint{}, badLine(1, "not a Custos audit export (data after the header's JSON value)")
	}
	cp, err := OpenCheckpoint([]byte(h.Checkpoint), v)
	if err != nil {
		return h, Checkpoint{}, badLine(1, "%w", err)
	}
	return h, cp, nil
}
