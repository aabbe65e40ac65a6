package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
)

// issueCert is `custosd issue-cert`: the operator, on the daemon's host,
// signs a client certificate with the daemon's CA for a person or a
// signer agent, and writes NAME.pem and NAME.key to --out. The key never
// leaves that directory but for the person it is for.
func issueCert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("custosd issue-cert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	home, _ := os.UserHomeDir()
	dataDir := fs.String("datadir", filepath.Join(home, ".custosd"), "custosd data dir (its CA signs the certificate)")
	name := fs.String("name", "", "the identity's name, shown in histories: [a-z0-9._-], up to 64 (required)")
	role := fs.String("role", "", "admin, officer, auditor or signer (required)")
	out := fs.String("out", "", "directory to write NAME.pem and NAME.key to (required; files are never overwritten)")
	fingerprint := fs.String("fingerprint", "", "a signer's cosigner fingerprint, 8 hex digits (required for --role signer, refused for the others)")
	validFor := fs.Duration("valid-for", daemon.DefaultClientValidity, "how long the certificate is valid (at most ten years)")
	caPassFile := fs.String("ca-passphrase-file", "", "file whose first line unlocks the sealed CA key (or "+daemon.EnvCAPassphrase+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("issue-cert: unexpected argument %q", fs.Arg(0))
	case !reserve.IdentityNameRE.MatchString(*name):
		return fmt.Errorf("issue-cert: --name %q must be 1 to 64 of [a-z0-9._-], starting with a letter or digit", *name)
	case *out == "":
		return errors.New("issue-cert: --out DIR is required")
	}
	r, err := daemon.ParseRole(*role)
	if err != nil {
		return fmt.Errorf("issue-cert: --role: %w", err)
	}
	if _, err := os.Stat(filepath.Join(daemon.TLSDir(*dataDir), daemon.CACertFile)); err != nil {
		return fmt.Errorf("issue-cert: no daemon CA in %s (start custosd with this --datadir once to make it): %w", daemon.TLSDir(*dataDir), err)
	}
	certPath, keyPath := filepath.Join(*out, *name+".pem"), filepath.Join(*out, *name+".key")
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("issue-cert: refusing to overwrite %s", p)
		}
	}
	spec := daemon.CertSpec{Name: *name, Role: r, ValidFor: *validFor}
	if *fingerprint != "" {
		if spec.Fingerprint, err = daemon.ParseFingerprint(*fingerprint); err != nil {
			return fmt.Errorf("issue-cert: --fingerprint: %w", err)
		}
		spec.HasFingerprint = true
	}
	caPass, err := caPassphrase(context.Background(), *caPassFile)
	if err != nil {
		return fmt.Errorf("issue-cert: %w", err)
	}
	defer clear(caPass)
	// A key in the clear is read only when no passphrase is given; the
	// daemon refuses one off regtest until it is sealed.
	certPEM, keyPEM, err := daemon.IssueOffline(*dataDir, spec, daemon.CAKey{Passphrase: caPass, AllowPlain: caPass == nil}, time.Now())
	if err != nil {
		return fmt.Errorf("issue-cert: %w", err)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return fmt.Errorf("issue-cert: %w", err)
	}
	// The key first: a certificate never exists without its key.
	if err := durable.Write(keyPath, keyPEM, 0o600, false); err != nil {
		return fmt.Errorf("issue-cert: %w", err)
	}
	if err := durable.Write(certPath, certPEM, 0o644, false); err != nil {
		return fmt.Errorf("issue-cert: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "issued %s (%s): %s, %s\n", *name, r, certPath, keyPath)
	return err
}
