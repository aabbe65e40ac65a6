package audit_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// testOrigin is the origin of the fixed test log.
const testOrigin = audit.OriginPrefix + "00112233445566778899aabbccddeeff"

// MustLogKey makes the log key named origin from a fixed seed byte.
func MustLogKey(tb testing.TB, origin string, seed byte) (note.Signer, note.Verifier, string) {
	tb.Helper()
	skey, vkey, err := audit.NewLogKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), origin)
	require.NoError(tb, err)
	s, err := note.NewSigner(skey)
	require.NoError(tb, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(tb, err)
	return s, v, vkey
}

// MustLog builds a log of n leaves with fixed contents.
func MustLog(tb testing.TB, n int) *audit.Memory {
	tb.Helper()
	m := &audit.Memory{Origin: testOrigin}
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		_, err := m.Append(audit.Leaf{
			Time:   start.Add(time.Duration(i) * time.Minute),
			Actor:  reserve.Actor{Name: "alice", Role: "officer", Serial: "0a1b"},
			Kind:   "proposal.create",
			IDs:    map[string]string{"proposal": fmt.Sprintf("P%06d", i+1)},
			Detail: fmt.Sprintf("payees=1 total=%d", 1000*(i+1)),
		})
		require.NoError(tb, err)
	}
	return m
}

// MustExport returns the export file of m signed by s, split in lines
// (without their newlines).
func MustExport(tb testing.TB, m *audit.Memory, s note.Signer) [][]byte {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, m.WriteExport(&buf, s))
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	return lines
}

func join(lines [][]byte) []byte {
	return append(bytes.Join(lines, []byte("\n")), '\n')
}

// requireInvalid checks err is a CodeInvalid *reserve.Error naming field.
func requireInvalid(tb testing.TB, err error, field string) {
	tb.Helper()
	require.Error(tb, err)
	require.Equal(tb, reserve.CodeInvalid, reserve.CodeOf(err), "%v", err)
	if field != "" {
		var re *reserve.Error
		require.ErrorAs(tb, err, &re)
		require.Equal(tb, field, re.Field, "%v", err)
	}
}
