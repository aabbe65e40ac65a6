package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/officer"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// identityJSON is an identity as `identity list --json` prints it.
type identityJSON struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	Serial      string `json:"serial"`
	Fingerprint string `json:"fingerprint,omitempty"`
	Issued      string `json:"issued"`
	Expires     string `json:"expires"`
	LastSeen    string `json:"last_seen,omitempty"`
	Revoked     string `json:"revoked,omitempty"`
	Reason      string `json:"revoked_reason,omitempty"`
	Offline     bool   `json:"offline"`
	// LoginKey is an auditor's console login key.
	LoginKey string `json:"login_key,omitempty"`
}

func unixText(s int64) string {
	if s == 0 {
		return ""
	}
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}

func identityToJSON(i *custosv1.Identity) identityJSON {
	out := identityJSON{
		Name: i.GetName(), Role: roleName(i.GetRole()), Serial: i.GetSerial(),
		Issued: unixText(i.GetIssuedAtUnix()), Expires: unixText(i.GetExpiresAtUnix()), LastSeen: unixText(i.GetLastSeenUnix()),
		Revoked: unixText(i.GetRevokedAtUnix()), Reason: i.GetRevokedReason(), Offline: i.GetOffline(),
	}
	if i.CosignerFingerprint != nil {
		out.Fingerprint = fmt.Sprintf("%08x", i.GetCosignerFingerprint())
	}
	if k := i.GetLoginKey(); len(k) == 32 {
		out.LoginKey = officer.FormatPublicKey([32]byte(k))
	}
	return out
}

func roleName(r custosv1.IdentityRole) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "IDENTITY_ROLE_"))
}

// identityIssueCmd is `identity issue --role ROLE --name NAME --out DIR`:
// the daemon makes the key and certificate; they are written to DIR as
// NAME.pem, NAME.key and ca.pem, never over existing files.
func identityIssueCmd(fs *flag.FlagSet) func(*env, []string) error {
	role := fs.String("role", "", "admin, officer, auditor or signer (required)")
	name := fs.String("name", "", "the identity's name; an officer's is its policy officer ID (required)")
	out := fs.String("out", "", "directory to write NAME.pem, NAME.key and ca.pem to (required)")
	fingerprint := fs.String("fingerprint", "", "a signer's cosigner fingerprint, 8 hex digits (required for --role signer)")
	validFor := fs.Duration("valid-for", 0, "validity (default one year, at most ten years)")
	loginKeyOut := fs.String("login-key-out", "", "an auditor's browser console login key: made and sealed here, written to `FILE` (never overwritten); only its public key goes to the daemon")
	passFile := fs.String("passphrase-file", "", "with --login-key-out: read the new passphrase from the first line of `FILE` (else "+envOfficerPassphrase+", else the terminal)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *out == "" {
			return usagef("--out DIR is required")
		}
		// The name becomes file names here: checked before any path is
		// made of it, not only by the daemon.
		if !reserve.IdentityNameRE.MatchString(*name) {
			return usagef("--name %q is not an identity name (%s)", *name, reserve.IdentityNameRE)
		}
		r, err := daemon.ParseRole(*role)
		if err != nil {
			return usagef("--role: %v", err)
		}
		req := &custosv1.IssueIdentityRequest{Name: *name, Role: daemon.RoleToProto(r), ValidForSeconds: int64(validFor.Seconds())}
		if *fingerprint != "" {
			fp, err := daemon.ParseFingerprint(*fingerprint)
			if err != nil {
				return usagef("--fingerprint: %v", err)
			}
			req.CosignerFingerprint = &fp
		}
		if *loginKeyOut != "" && r != daemon.RoleAuditor {
			return usagef("--login-key-out: only an auditor has a console login key; an officer logs in with the approval key the policy names")
		}
		if *passFile != "" && *loginKeyOut == "" {
			return usagef("--passphrase-file seals the key of --login-key-out, which is not given")
		}
		certPath, keyPath, caPath := filepath.Join(*out, *name+".pem"), filepath.Join(*out, *name+".key"), filepath.Join(*out, "ca.pem")
		for _, p := range []string{certPath, keyPath, *loginKeyOut} {
			if _, err := os.Lstat(p); p != "" && err == nil {
				return fmt.Errorf("refusing to overwrite %s", p)
			}
		}
		if *loginKeyOut != "" {
			// Made and sealed here; the daemon learns the public key only.
			pass, err := officerPassphrase(*passFile).New(e.ctx)
			if err != nil {
				return err
			}
			pub, err := officer.GenerateAuditor(*loginKeyOut, pass, officer.DefaultKDF(), nil)
			clear(pass)
			if err != nil {
				return err
			}
			req.LoginKey = pub[:]
		}
		issued := false
		defer func() {
			// A login key no identity holds would only confuse.
			if *loginKeyOut != "" && !issued {
				_ = os.Remove(*loginKeyOut)
			}
		}()
		oldCA, err := os.ReadFile(caPath)
		if err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
		resp, err := custosv1.NewIdentityServiceClient(e.conn).IssueIdentity(e.ctx, req)
		if err != nil {
			return err
		}
		defer clear(resp.KeyPem)
		// A ca.pem already there must be this daemon's: a client that
		// trusted another CA would not reach this daemon, or would reach
		// another.
		if oldCA != nil && !bytes.Equal(oldCA, resp.CaPem) {
			return fmt.Errorf("%s holds another CA than this daemon's: move it away and issue again (the identity %s is issued; revoke it if it is not wanted)", caPath, *name)
		}
		if err := os.MkdirAll(*out, 0o700); err != nil {
			return err
		}
		// The key first: a certificate never exists without its key.
		if err := durable.Write(keyPath, resp.KeyPem, 0o600, false); err != nil {
			return err
		}
		if err := durable.Write(certPath, resp.CertificatePem, 0o644, false); err != nil {
			return err
		}
		if err := durable.Write(caPath, resp.CaPem, 0o644, false); err != nil && !errors.Is(err, iofs.ErrExist) {
			return err
		}
		issued = true
		if e.common.json {
			return printJSON(e.stdout, identityToJSON(resp.Identity))
		}
		i := identityToJSON(resp.Identity)
		printf(e.stdout, "issued %s (%s), serial %s, expires %s: %s, %s\n", i.Name, i.Role, i.Serial, i.Expires, certPath, keyPath)
		if *loginKeyOut != "" {
			printf(e.stdout, "console login key %s sealed in %s\n", i.LoginKey, *loginKeyOut)
		}
		return nil
	}
}

func identityListCmd(fs *flag.FlagSet) func(*env, []string) error {
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		r, err := custosv1.NewIdentityServiceClient(e.conn).ListIdentities(e.ctx, &custosv1.ListIdentitiesRequest{})
		if err != nil {
			return err
		}
		out := make([]identityJSON, len(r.Identities))
		for i, id := range r.Identities {
			out[i] = identityToJSON(id)
		}
		if e.common.json {
			return printJSON(e.stdout, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tSERIAL\tISSUED\tEXPIRES\tLAST SEEN\tREVOKED")
		for _, i := range out {
			revoked := "-"
			if i.Revoked != "" {
				revoked = i.Revoked + " (" + i.Reason + ")"
			}
			printf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Name, i.Role, i.Serial, i.Issued, i.Expires, orDash(i.LastSeen), revoked)
		}
		return tw.Flush()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func identityRevokeCmd(fs *flag.FlagSet) func(*env, []string) error {
	reason := fs.String("reason", "", "why the identity is revoked (required; recorded)")
	return func(e *env, args []string) error {
		if len(args) != 1 {
			return usagef("identity revoke takes one NAME or SERIAL")
		}
		if *reason == "" {
			return usagef("--reason is required")
		}
		r, err := custosv1.NewIdentityServiceClient(e.conn).RevokeIdentity(e.ctx, &custosv1.RevokeIdentityRequest{NameOrSerial: args[0], Reason: *reason})
		if err != nil {
			return err
		}
		i := identityToJSON(r.Identity)
		if e.common.json {
			return printJSON(e.stdout, i)
		}
		printf(e.stdout, "revoked %s (%s), serial %s, at %s\n", i.Name, i.Role, i.Serial, i.Revoked)
		return nil
	}
}
