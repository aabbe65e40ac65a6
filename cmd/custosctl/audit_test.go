package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// MustAuditExportFile writes an export of a 5-entry log with a fixed key
// and returns its path and the verifier key.
func MustAuditExportFile(tb testing.TB, dir string, seed byte) (string, string) {
	tb.Helper()
	origin := audit.OriginPrefix + "c0ffee"
	skey, vkey, err := audit.NewLogKey(bytes.NewReader(bytes.Repeat([]byte{seed}, 32)), origin)
	require.NoError(tb, err)
	s, err := note.NewSigner(skey)
	require.NoError(tb, err)
	m := &audit.Memory{Origin: origin}
	for i := range 5 {
		_, err := m.Append(audit.Leaf{Time: time.Date(2025, 1, 1, 0, i, 0, 0, time.UTC), Actor: reserve.Actor{Name: "a", Role: "admin"}, Kind: "test.event", Detail: strings.Repeat("x", i)})
		require.NoError(tb, err)
	}
	var buf bytes.Buffer
	require.NoError(tb, m.WriteExport(&buf, s))
	path := filepath.Join(dir, "audit.jsonl")
	require.NoError(tb, os.WriteFile(path, buf.Bytes(), 0o600))
	return path, vkey
}

func TestAuditVerifyOffline(t *testing.T) {
	dir := t.TempDir()
	path, vkey := MustAuditExportFile(t, dir, 1)
	_, otherKey := MustAuditExportFile(t, t.TempDir(), 2)
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	edited := filepath.Join(dir, "edited.jsonl")
	require.NoError(t, os.WriteFile(edited, bytes.Replace(file, []byte(`"detail":"xx"`), []byte(`"detail":"xy"`), 1), 0o600))
	keyFile := filepath.Join(dir, "log.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(vkey+"\n"), 0o600))

	tests := []struct {
		name string
		args []string
		err  string // "" = accepted
		out  string
	}{
		{name: "good file", args: []string{path, "--log-key", vkey}, out: "ok, 5 entries"},
		{name: "key from a file, json", args: []string{path, "--log-key", keyFile, "--json"}, out: `"size": 5`},
		{name: "edited line", args: []string{edited, "--log-key", vkey}, err: "line 4"},
		{name: "wrong key", args: []string{path, "--log-key", otherKey}, err: "wrong key"},
		{name: "no key", args: []string{path}, err: "--log-key"},
		{name: "missing file", args: []string{filepath.Join(dir, "nope"), "--log-key", vkey}, err: "nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := runWith(context.Background(), append([]string{"audit", "verify", "--datadir", filepath.Join(dir, "no-daemon")}, tc.args...), strings.NewReader(""), &out, &errOut)
			if tc.err == "" {
				require.NoError(t, err)
				require.Contains(t, out.String(), tc.out)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.err)
		})
	}
}
