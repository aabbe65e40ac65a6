package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
)

// mustIssuedCert reads and parses the certificate issue-cert wrote.
func mustIssuedCert(tb testing.TB, path string) *x509.Certificate {
	tb.Helper()
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	block, _ := pem.Decode(b)
	require.NotNil(tb, block, path)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(tb, err)
	return cert
}

// TestIssueCertFingerprint: `custosd issue-cert --fingerprint` binds a
// signer to its cosigner with one SAN URI custos:cosigner:<8 lower-case
// hex digits>; a malformed fingerprint, a signer without one and another
// role with one are refused, writing nothing. --valid-for sets the
// validity (one year by default, ten at most); outside 0..ten years it is
// refused.
func TestIssueCertFingerprint(t *testing.T) {
	dataDir, out := t.TempDir(), filepath.Join(t.TempDir(), "ids")
	// custosd makes its CA (in the clear on regtest) when it first starts.
	require.NoError(t, os.MkdirAll(daemon.TLSDir(dataDir), 0o700))
	_, _, err := daemon.IssueClientCert(dataDir, "setup", daemon.RoleAdmin, time.Now())
	require.NoError(t, err)

	issued := []struct {
		name     string
		args     []string
		uris     []string
		validFor time.Duration
	}{
		{"signer bound to its cosigner", []string{"--name", "ministry-a", "--role", "signer", "--fingerprint", "d34db33f"},
			[]string{"custos:cosigner:d34db33f"}, daemon.DefaultClientValidity},
		{"upper-case digits are written lower-case", []string{"--name", "ministry-b", "--role", "signer", "--fingerprint", "0A0B0C0D"},
			[]string{"custos:cosigner:0a0b0c0d"}, daemon.DefaultClientValidity},
		{"an officer carries no URI", []string{"--name", "alice", "--role", "officer"}, nil, daemon.DefaultClientValidity},
		{"thirty days", []string{"--name", "carol", "--role", "auditor", "--valid-for", "720h"}, nil, 30 * 24 * time.Hour},
		{"zero is the default", []string{"--name", "dave", "--role", "auditor", "--valid-for", "0s"}, nil, daemon.DefaultClientValidity},
		{"ten years", []string{"--name", "erin", "--role", "admin", "--valid-for", "87600h"}, nil, daemon.MaxClientValidity},
	}
	for _, tc := range issued {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			before := time.Now()
			args := append([]string{"issue-cert", "--datadir", dataDir, "--out", out}, tc.args...)
			require.NoError(t, run(t.Context(), args, &stdout, &stderr), stderr.String())
			cert := mustIssuedCert(t, filepath.Join(out, tc.args[1]+".pem"))
			var uris []string
			for _, u := range cert.URIs {
				uris = append(uris, u.String())
			}
			require.Equal(t, tc.uris, uris)
			require.WithinRange(t, cert.NotAfter, before.Add(tc.validFor-time.Second), time.Now().Add(tc.validFor+time.Second))
		})
	}

	refused := []struct {
		name string
		args []string
		want string
	}{
		{"seven digits", []string{"--role", "signer", "--fingerprint", "d34db33"}, "--fingerprint"},
		{"nine digits", []string{"--role", "signer", "--fingerprint", "d34db33f0"}, "--fingerprint"},
		{"not hex", []string{"--role", "signer", "--fingerprint", "d34db33g"}, "--fingerprint"},
		{"0x prefix", []string{"--role", "signer", "--fingerprint", "0xd34db33f"}, "--fingerprint"},
		{"signer without one", []string{"--role", "signer"}, "fingerprint"},
		{"officer with one", []string{"--role", "officer", "--fingerprint", "d34db33f"}, "only a signer identity is bound to a cosigner"},
		{"over ten years", []string{"--role", "auditor", "--valid-for", "87601h"}, "valid_for"},
		{"negative", []string{"--role", "auditor", "--valid-for", "-1h"}, "valid_for"},
	}
	for i, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			name := fmt.Sprintf("mallory-%d", i)
			args := append([]string{"issue-cert", "--datadir", dataDir, "--out", out, "--name", name}, tc.args...)
			err := run(t.Context(), args, &stdout, &stderr)
			require.ErrorContains(t, err, tc.want)
			require.NoFileExists(t, filepath.Join(out, name+".pem"))
			require.NoFileExists(t, filepath.Join(out, name+".key"))
		})
	}
}
