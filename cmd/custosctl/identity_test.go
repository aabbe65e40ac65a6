package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/officer"
)

// identityFlags make custosctl present the identity name that `identity
// issue --out dir` wrote, instead of the data dir's admin.
func identityFlags(dir, name string) []string {
	return []string{"--cacert", filepath.Join(dir, "ca.pem"), "--tlscert", filepath.Join(dir, name+".pem"), "--tlskey", filepath.Join(dir, name+".key")}
}

// identityByName finds name in `identity list --json`.
func identityByName(tb testing.TB, dataDir, name string) identityJSON {
	tb.Helper()
	for _, i := range decode[[]identityJSON](tb, ctlOK(tb, dataDir, "identity", "list", "--json")) {
		if i.Name == name {
			return i
		}
	}
	tb.Fatalf("identity %s not listed", name)
	return identityJSON{}
}

var serialPattern = regexp.MustCompile(`^[0-9a-f]+$`)

// TestIdentityIssueListRevoke: the admin issues an officer identity, which
// is written to --out and works; list shows it with its last call; revoked,
// its next call is refused naming the reason, and list shows why. A signer
// is issued bound to its cosigner, and revoked by serial.
func TestIdentityIssueListRevoke(t *testing.T) {
	t.Parallel()
	dataDir := MustDaemon(t)
	ctlOK(t, dataDir, createArgs(keyRecords(t, 1, 2, 3))...)
	out := filepath.Join(t.TempDir(), "ids")

	printed := ctlOK(t, dataDir, "identity", "issue", "--role", "officer", "--name", "alice", "--out", out)
	alice := identityByName(t, dataDir, "alice")
	require.Equal(t, "issued alice (officer), serial "+alice.Serial+", expires "+alice.Expires+": "+
		filepath.Join(out, "alice.pem")+", "+filepath.Join(out, "alice.key")+"\n", printed)
	require.Regexp(t, serialPattern, alice.Serial)
	require.Equal(t, "officer", alice.Role)
	require.False(t, alice.Offline, "issued over the API")
	issued, err := time.Parse(time.RFC3339, alice.Issued)
	require.NoError(t, err)
	expires, err := time.Parse(time.RFC3339, alice.Expires)
	require.NoError(t, err)
	require.InDelta(t, (365 * 24 * time.Hour).Seconds(), expires.Sub(issued).Seconds(), 3600, "one year by default")
	for name, perm := range map[string]os.FileMode{"alice.key": 0o600, "alice.pem": 0o644, "ca.pem": 0o644} {
		st, err := os.Stat(filepath.Join(out, name))
		require.NoError(t, err, name)
		require.Equal(t, perm, st.Mode().Perm(), name)
	}

	// The officer uses it.
	require.Equal(t, "regtest", decode[statusJSON](t, ctlOK(t, dataDir, append([]string{"status", "--json"}, identityFlags(out, "alice")...)...)).Network)
	ctlOK(t, dataDir, append([]string{"spend", "list"}, identityFlags(out, "alice")...)...)
	require.NotEmpty(t, identityByName(t, dataDir, "alice").LastSeen, "its first call is recorded")

	table := ctlOK(t, dataDir, "identity", "list")
	require.Regexp(t, `(?m)^NAME\s+ROLE\s+SERIAL\s+ISSUED\s+EXPIRES\s+LAST SEEN\s+REVOKED$`, table)
	require.Regexp(t, `(?m)^alice\s+officer\s+`+alice.Serial+`\s+\S+\s+\S+\s+\S+\s+-$`, table)
	require.Regexp(t, `(?m)^admin\s+admin\s+`, table, "the data dir's admin is recorded when first seen")

	// A signer, with --json, bound to its cosigner.
	signer := decode[identityJSON](t, ctlOK(t, dataDir, "identity", "issue", "--role", "signer", "--name", "ministry-a",
		"--fingerprint", "D34DB33F", "--valid-for", "720h", "--out", out, "--json"))
	require.Equal(t, "ministry-a", signer.Name)
	require.Equal(t, "signer", signer.Role)
	require.Equal(t, "d34db33f", signer.Fingerprint)
	require.Regexp(t, serialPattern, signer.Serial)
	issued, err = time.Parse(time.RFC3339, signer.Issued)
	require.NoError(t, err)
	expires, err = time.Parse(time.RFC3339, signer.Expires)
	require.NoError(t, err)
	require.InDelta(t, (720 * time.Hour).Seconds(), expires.Sub(issued).Seconds(), 60)
	require.FileExists(t, filepath.Join(out, "ministry-a.key"))

	// Revoked by name: the next call is refused, naming the reason.
	printed = ctlOK(t, dataDir, "identity", "revoke", "alice", "--reason", "laptop stolen")
	alice = identityByName(t, dataDir, "alice")
	require.Equal(t, "revoked alice (officer), serial "+alice.Serial+", at "+alice.Revoked+"\n", printed)
	require.Equal(t, "laptop stolen", alice.Reason)
	r := ctl(t, append([]string{"status", "--datadir", dataDir}, identityFlags(out, "alice")...)...)
	var rf *rpcFailure
	require.ErrorAs(t, r.err, &rf)
	require.True(t, strings.HasPrefix(r.err.Error(), "PermissionDenied: "), r.err.Error())
	require.Contains(t, r.err.Error(), "revoked")
	require.Contains(t, r.err.Error(), "laptop stolen")
	require.Equal(t, 1, r.code)
	require.Empty(t, r.stdout)
	require.Regexp(t, `(?m)^alice\s+officer\s+`+alice.Serial+`\s+.*\s`+regexp.QuoteMeta(alice.Revoked+" (laptop stolen)")+`$`,
		ctlOK(t, dataDir, "identity", "list"))

	// Revoked by serial, with --json.
	got := decode[identityJSON](t, ctlOK(t, dataDir, "identity", "revoke", signer.Serial, "--reason", "ministry closed", "--json"))
	require.Equal(t, "ministry-a", got.Name)
	require.Equal(t, "ministry closed", got.Reason)
	require.NotEmpty(t, got.Revoked)
	r = ctl(t, append([]string{"spend", "list", "--datadir", dataDir}, identityFlags(out, "ministry-a")...)...)
	require.Error(t, r.err)
	require.Contains(t, r.err.Error(), "revoked")
	require.Equal(t, 1, r.code)
}

// TestIdentityRefusals: usage errors never reach the daemon (exit 2); the
// daemon's refusals name the field (exit 1); nothing is issued or
// written by either.
func TestIdentityRefusals(t *testing.T) {
	t.Parallel()
	dataDir := MustDaemon(t)
	out := t.TempDir()
	ctlOK(t, dataDir, "identity", "issue", "--role", "officer", "--name", "alice", "--out", out)
	require.NoError(t, os.WriteFile(filepath.Join(out, "carol.pem"), []byte("someone else's"), 0o600))
	ctlOK(t, dataDir, "identity", "revoke", "alice", "--reason", "left")
	ctlOK(t, dataDir, "identity", "issue", "--role", "officer", "--name", "bob", "--out", t.TempDir())
	before := ctlOK(t, dataDir, "identity", "list", "--json")

	usage := []struct {
		name string
		args []string
		want string
	}{
		{"issue without --out", []string{"identity", "issue", "--role", "officer", "--name", "bob"}, "--out"},
		{"issue without --role", []string{"identity", "issue", "--name", "bob", "--out", out}, "--role"},
		{"issue with an unknown role", []string{"identity", "issue", "--role", "king", "--name", "bob", "--out", out}, "--role"},
		{"issue with a short fingerprint", []string{"identity", "issue", "--role", "signer", "--name", "bob", "--fingerprint", "d34db3", "--out", out}, "--fingerprint"},
		{"issue with a stray argument", []string{"identity", "issue", "--role", "officer", "--name", "bob", "--out", out, "extra"}, `unexpected argument "extra"`},
		{"list with an argument", []string{"identity", "list", "everyone"}, `unexpected argument "everyone"`},
		{"revoke without a name", []string{"identity", "revoke", "--reason", "x"}, "one NAME or SERIAL"},
		{"revoke two", []string{"identity", "revoke", "alice", "bob", "--reason", "x"}, "one NAME or SERIAL"},
		{"revoke without --reason", []string{"identity", "revoke", "bob"}, "--reason is required"},
		{"issue with a bad name", []string{"identity", "issue", "--role", "officer", "--name", "Carol Smith", "--out", out}, `--name "Carol Smith" is not an identity name`},
		{"issue with a name that is a path", []string{"identity", "issue", "--role", "officer", "--name", "../x", "--out", out}, `--name "../x"`},
		{"a login key for an officer", []string{"identity", "issue", "--role", "officer", "--name", "dave", "--out", out, "--login-key-out", filepath.Join(out, "dave.login")}, "only an auditor has a console login key"},
		{"a passphrase for no login key", []string{"identity", "issue", "--role", "auditor", "--name", "dave", "--out", out, "--passphrase-file", filepath.Join(out, "p")}, "--login-key-out, which is not given"},
	}
	for _, tc := range usage {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(t, append(tc.args, "--datadir", dataDir)...)
			var ue usageError
			require.ErrorAs(t, r.err, &ue)
			require.Contains(t, r.err.Error(), tc.want)
			require.Equal(t, 2, r.code)
			require.Empty(t, r.stdout)
		})
	}

	refused := []struct {
		name string
		args []string
		want string
	}{
		{"a name held by an active identity", []string{"identity", "issue", "--role", "auditor", "--name", "bob", "--out", t.TempDir()}, "AlreadyExists: "},
		{"files that exist", []string{"identity", "issue", "--role", "officer", "--name", "carol", "--out", out}, "refusing to overwrite"},
		{"a signer without a fingerprint", []string{"identity", "issue", "--role", "signer", "--name", "ministry-b", "--out", t.TempDir()}, "InvalidArgument: fingerprint: "},
		{"an officer with a fingerprint", []string{"identity", "issue", "--role", "officer", "--name", "dave", "--fingerprint", "d34db33f", "--out", t.TempDir()}, "InvalidArgument: fingerprint: "},
		{"eleven years", []string{"identity", "issue", "--role", "auditor", "--name", "erin", "--valid-for", "96360h", "--out", t.TempDir()}, "InvalidArgument: valid_for_seconds: "},
		{"revoke an unknown name", []string{"identity", "revoke", "mallory", "--reason", "x"}, "NotFound: "},
		{"revoke twice", []string{"identity", "revoke", findSerial(t, before, "alice"), "--reason", "again"}, "FailedPrecondition: "},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(t, append(tc.args, "--datadir", dataDir)...)
			require.Error(t, r.err)
			require.True(t, strings.HasPrefix(r.err.Error(), tc.want), r.err.Error())
			require.Equal(t, 1, r.code)
			require.Empty(t, r.stdout)
		})
	}
	require.Equal(t, before, ctlOK(t, dataDir, "identity", "list", "--json"), "nothing issued or revoked")
	b, err := os.ReadFile(filepath.Join(out, "carol.pem"))
	require.NoError(t, err)
	require.Equal(t, "someone else's", string(b))
	require.NoFileExists(t, filepath.Join(out, "carol.key"))

	// Only an admin issues: alice's certificate is revoked, so a fresh
	// officer's is used.
	officerDir := t.TempDir()
	ctlOK(t, dataDir, "identity", "issue", "--role", "officer", "--name", "frank", "--out", officerDir)
	r := ctl(t, append([]string{"identity", "issue", "--role", "admin", "--name", "eve", "--out", officerDir, "--datadir", dataDir}, identityFlags(officerDir, "frank")...)...)
	require.Error(t, r.err)
	require.True(t, strings.HasPrefix(r.err.Error(), "PermissionDenied: "), r.err.Error())
	require.NoFileExists(t, filepath.Join(officerDir, "eve.key"))
}

// findSerial is the serial of name in the JSON of identity list.
func findSerial(tb testing.TB, listJSON, name string) string {
	tb.Helper()
	for _, i := range decode[[]identityJSON](tb, listJSON) {
		if i.Name == name {
			return i.Serial
		}
	}
	tb.Fatalf("identity %s not listed", name)
	return ""
}

// TestIdentityIssueForeignCA: a ca.pem in --out that is not this daemon's
// is not kept silently: the command fails saying so, and the same CA
// again is fine.
func TestIdentityIssueForeignCA(t *testing.T) {
	t.Parallel()
	dataDir := MustDaemon(t)
	ctlOK(t, dataDir, createArgs(keyRecords(t, 1, 2, 3))...)
	out := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(out, "ca.pem"), []byte("another daemon's CA"), 0o644))
	r := ctl(t, "identity", "issue", "--role", "auditor", "--name", "erin", "--out", out, "--datadir", dataDir)
	require.Error(t, r.err)
	require.Contains(t, r.err.Error(), "holds another CA than this daemon's")
	require.NoFileExists(t, filepath.Join(out, "erin.key"), "nothing written beside a foreign CA")

	same := t.TempDir()
	ctlOK(t, dataDir, "identity", "issue", "--role", "auditor", "--name", "frank", "--out", same)
	ctlOK(t, dataDir, "identity", "issue", "--role", "auditor", "--name", "grace", "--out", same)
	require.FileExists(t, filepath.Join(same, "grace.key"))
}

// TestIdentityAuditorLoginKey: `identity issue --role auditor
// --login-key-out` seals a new console login key on the auditor's side and
// sends the daemon its public key only, which list then shows; a refused
// issue leaves no key file behind.
func TestIdentityAuditorLoginKey(t *testing.T) {
	t.Parallel()
	dataDir := MustDaemon(t)
	out := t.TempDir()
	passFile := filepath.Join(out, "pass")
	require.NoError(t, os.WriteFile(passFile, []byte("auditor passphrase\n"), 0o600))
	keyFile := filepath.Join(out, "carol.login")
	printed := ctlOK(t, dataDir, "identity", "issue", "--role", "auditor", "--name", "carol", "--out", out, "--login-key-out", keyFile, "--passphrase-file", passFile)
	f, err := officer.ReadAuditor(keyFile)
	require.NoError(t, err)
	priv, err := f.Unlock([]byte("auditor passphrase"))
	require.NoError(t, err)
	clear(priv)
	carol := identityByName(t, dataDir, "carol")
	require.Equal(t, officer.FormatPublicKey(f.PublicKey), carol.LoginKey)
	require.Contains(t, printed, "console login key "+carol.LoginKey+" sealed in "+keyFile)

	// The name is taken now: the daemon refuses, and the new key file is gone.
	again := filepath.Join(out, "carol2.login")
	r := ctl(t, "identity", "issue", "--role", "auditor", "--name", "carol", "--out", t.TempDir(), "--login-key-out", again, "--passphrase-file", passFile, "--datadir", dataDir)
	require.Error(t, r.err)
	require.NoFileExists(t, again)
}
