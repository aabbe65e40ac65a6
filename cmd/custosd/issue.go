package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/durable"
)

// nameRE is what a client identity's name may be: it becomes a file name
// and the certificate's common name, shown in every history entry.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

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
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("issue-cert: unexpected argument %q", fs.Arg(0))
	case !nameRE.MatchString(*name):
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
	certPEM, keyPEM, err := daemon.IssueClientCert(*dataDir, *name, r, time.Now())
	if err != nil {
		return err
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
