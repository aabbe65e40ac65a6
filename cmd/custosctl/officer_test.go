package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/officer"
)

// TestOfficerKeygen makes keys without a daemon, from each passphrase
// source, and refuses what it must with nothing written.
func TestOfficerKeygen(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(envOfficerPassphrase, "alice's long passphrase")
	path := filepath.Join(dir, "alice.key")
	r := ctl(t, "officer", "keygen", "--out", path, "--datadir", filepath.Join(dir, "no-daemon-here"))
	require.NoError(t, r.err, r.stderr)
	f, err := officer.Read(path)
	require.NoError(t, err)
	require.Contains(t, r.stdout, "    key: "+officer.FormatPublicKey(f.PublicKey)+"\n")
	_, err = f.Unlock([]byte("alice's long passphrase"))
	require.NoError(t, err)

	// Never over an existing file.
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	r = ctl(t, "officer", "keygen", "--out", path)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "refusing to overwrite "+path)
	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after)

	// Passphrase from a file, JSON out.
	t.Setenv(envOfficerPassphrase, "")
	require.NoError(t, os.Unsetenv(envOfficerPassphrase))
	passFile := filepath.Join(dir, "pass")
	require.NoError(t, os.WriteFile(passFile, []byte("bob's long passphrase\nignored\n"), 0o600))
	bob := filepath.Join(dir, "bob.key")
	r = ctl(t, "officer", "keygen", "--out", bob, "--passphrase-file", passFile, "--json")
	require.NoError(t, r.err, r.stderr)
	var out officerKeyJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	fb, err := officer.Read(bob)
	require.NoError(t, err)
	require.Equal(t, officerKeyJSON{File: bob, PublicKey: officer.FormatPublicKey(fb.PublicKey)}, out)
	_, err = fb.Unlock([]byte("bob's long passphrase"))
	require.NoError(t, err)

	for name, tt := range map[string]struct {
		env  string
		args []string
		code int
		msg  string
	}{
		"no --out":        {"", []string{}, 2, "--out is required"},
		"short":           {"short", []string{"--out", filepath.Join(dir, "x.key")}, 1, "it needs at least 8"},
		"two sources":     {"a long passphrase", []string{"--out", filepath.Join(dir, "y.key"), "--passphrase-file", passFile}, 1, "both CUSTOS_OFFICER_PASSPHRASE and --passphrase-file are set; use one"},
		"positional args": {"a long passphrase", []string{"extra", "--out", filepath.Join(dir, "w.key")}, 2, ""},
	} {
		t.Run(name, func(t *testing.T) {
			// (With no source at all it would ask on the terminal: not
			// something a test run may do.)
			t.Setenv(envOfficerPassphrase, tt.env)
			r := ctl(t, append([]string{"officer", "keygen"}, tt.args...)...)
			require.Equal(t, tt.code, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.msg)
			for _, f := range []string{"x.key", "y.key", "z.key", "w.key"} {
				require.NoFileExists(t, filepath.Join(dir, f))
			}
		})
	}
}
