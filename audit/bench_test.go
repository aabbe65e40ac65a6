package audit_test

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// benchLeaves is the size of the log the verify benchmarks read; the
// speed target is audit verify of 1,000,000 entries in under 10 s
// (scripts/bench-audit.sh runs it with AUDIT_BENCH_LEAVES=1000000).
func benchLeaves() int {
	if os.Getenv("AUDIT_BENCH_LEAVES") == "1000000" {
		return 1_000_000
	}
	return 100_000
}

// MustExportFile writes an export of n leaves to a file and returns its
// path. It streams: the leaves go to a scratch file while a Frontier keeps
// the roots, then the header and the leaves are written to the export.
func MustExportFile(b *testing.B, n int) string {
	b.Helper()
	s, _, _ := MustLogKey(b, testOrigin, 1)
	dir := b.TempDir()
	scratch, err := os.Create(filepath.Join(dir, "leaves"))
	require.NoError(b, err)
	w := bufio.NewWriterSize(scratch, 1<<20)
	var f audit.Frontier
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		l := audit.Leaf{
			Seq: int64(i + 1), Prev: f.Root(), Time: start.Add(time.Duration(i) * time.Second),
			Actor: reserve.Actor{Name: "alice", Role: "officer", Serial: "0a1b"}, Kind: "proposal.create",
			IDs: map[string]string{"proposal": fmt.Sprintf("P%06d", i+1)}, Detail: fmt.Sprintf("payees=1 total=%d", 1000*(i+1)),
		}
		enc, err := l.Encode()
		require.NoError(b, err)
		require.NoError(b, audit.WriteExportLeaf(w, enc))
		f.Add(audit.LeafHash(enc))
	}
	require.NoError(b, w.Flush())
	signed, err := audit.SignCheckpoint(audit.Checkpoint{Origin: testOrigin, Size: f.Size(), Root: f.Root()}, s)
	require.NoError(b, err)
	path := filepath.Join(dir, "audit.jsonl")
	out, err := os.Create(path)
	require.NoError(b, err)
	require.NoError(b, audit.WriteExportHeader(out, signed))
	_, err = scratch.Seek(0, io.SeekStart)
	require.NoError(b, err)
	_, err = io.Copy(out, scratch)
	require.NoError(b, err)
	require.NoError(b, out.Close())
	require.NoError(b, scratch.Close())
	return path
}

// BenchmarkVerifyExport is audit verify of a whole export file;
// BenchmarkVerifyBaseline, run on the same file, only reads its lines and
// SHA-256s each: the ratio is what parsing, canonical checks and the tree
// add to the least any verifier must do.
func BenchmarkVerifyExport(b *testing.B) {
	path := MustExportFile(b, benchLeaves())
	_, v, _ := MustLogKey(b, testOrigin, 1)
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(path)
			require.NoError(b, err)
			cp, err := audit.VerifyExport(bufio.NewReaderSize(f, 1<<20), v)
			require.NoError(b, err)
			require.Equal(b, int64(benchLeaves()), cp.Size)
			f.Close()
		}
	})
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(path)
			require.NoError(b, err)
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			var n int
			for sc.Scan() {
				sum := sha256.Sum256(sc.Bytes())
				n += int(sum[0] & 1)
			}
			require.NoError(b, sc.Err())
			f.Close()
		}
	})
}
