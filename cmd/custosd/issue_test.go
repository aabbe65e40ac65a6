package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
)

// TestIssueCert: the operator issues an officer's certificate; it is
// signed by the daemon's CA, carries the role, and the key is private.
// Refused, writing nothing: a bad name, an unknown role, no --out, a file
// that exists.
func TestIssueCert(t *testing.T) {
	dataDir, out := t.TempDir(), filepath.Join(t.TempDir(), "officers")
	var stdout, stderr bytes.Buffer
	// Without the daemon's CA there is nothing to sign with.
	err := run(t.Context(), []string{"issue-cert", "--datadir", dataDir, "--name", "alice", "--role", "officer", "--out", out}, &stdout, &stderr)
	require.ErrorContains(t, err, "no daemon CA")
	_, err = os.Stat(out)
	require.ErrorIs(t, err, os.ErrNotExist)
	// custosd makes its CA when it first starts; so does this.
	require.NoError(t, os.MkdirAll(daemon.TLSDir(dataDir), 0o700))
	_, _, err = daemon.IssueClientCert(dataDir, "setup", daemon.RoleAdmin, time.Now())
	require.NoError(t, err)

	err = run(t.Context(), []string{"issue-cert", "--datadir", dataDir, "--name", "alice", "--role", "officer", "--out", out}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Contains(t, stdout.String(), "issued alice (officer)")

	certPEM, err := os.ReadFile(filepath.Join(out, "alice.pem"))
	require.NoError(t, err)
	block, _ := pem.Decode(certPEM)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	require.Equal(t, "alice", cert.Subject.CommonName)
	require.Equal(t, []string{string(daemon.RoleOfficer)}, cert.Subject.OrganizationalUnit)
	caPEM, err := os.ReadFile(filepath.Join(daemon.TLSDir(dataDir), daemon.CACertFile))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(out, "alice.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	refused := []struct {
		name string
		args []string
		want string
	}{
		{"existing files", []string{"--name", "alice", "--role", "officer", "--out", out}, "refusing to overwrite"},
		{"name with a slash", []string{"--name", "../bob", "--role", "officer", "--out", out}, "--name"},
		{"empty name", []string{"--role", "officer", "--out", out}, "--name"},
		{"unknown role", []string{"--name", "bob", "--role", "king", "--out", out}, "--role"},
		{"no out", []string{"--name", "bob", "--role", "officer"}, "--out"},
		{"stray argument", []string{"--name", "bob", "--role", "officer", "--out", out, "extra"}, "unexpected argument"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"issue-cert", "--datadir", dataDir}, tc.args...)
			err := run(t.Context(), args, &stdout, &stderr)
			require.ErrorContains(t, err, tc.want)
			_, err = os.Stat(filepath.Join(out, "bob.pem"))
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
	// alice's files are the first ones, untouched.
	again, err := os.ReadFile(filepath.Join(out, "alice.pem"))
	require.NoError(t, err)
	require.Equal(t, certPEM, again)
}
