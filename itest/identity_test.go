//go:build itest

package itest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
)

// identityOut is an identity as `identity issue|list|revoke --json`
// prints it.
type identityOut struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Serial  string `json:"serial"`
	Issued  string `json:"issued"`
	Expires string `json:"expires"`
	Seen    string `json:"last_seen"`
	Revoked string `json:"revoked"`
	Reason  string `json:"revoked_reason"`
	Offline bool   `json:"offline"`
}

// listedIdentity is name's entry in `identity list --json`.
func (c *custosd) listedIdentity(t *testing.T, name string) identityOut {
	t.Helper()
	var all []identityOut
	c.ctlJSON(&all, "identity", "list")
	for _, i := range all {
		if i.Name == name {
			return i
		}
	}
	t.Fatalf("identity %s not listed: %+v", name, all)
	return identityOut{}
}

// testIdentityRevoke is issue 11's identities end to end: custosd unlocks
// its sealed CA with --ca-passphrase-file; the admin issues an officer
// identity over the API with `custosctl identity issue`; the officer
// uses it; the admin revokes it and its next call is refused, and still
// after a restart (without the passphrase: the CA is then offline and
// issues nothing); `identity list` shows it revoked with the reason.
func testIdentityRevoke(t *testing.T, h *harness) {
	c := h.custos
	createReserve(t, c, 2, 3)
	passFile := filepath.Join(t.TempDir(), "ca-passphrase")
	require.NoError(t, os.WriteFile(passFile, []byte("itest CA passphrase\n"), 0o600))
	c.flags = append(c.flags, "--ca-passphrase-file", passFile)
	c.restart()
	require.NoFileExists(t, filepath.Join(daemon.TLSDir(c.dir), "ca.key"), "the CA key is sealed at the first start with a passphrase")

	// The admin issues alice's identity over the API.
	out := filepath.Join(t.TempDir(), "alice")
	var issued identityOut
	c.ctlJSON(&issued, "identity", "issue", "--role", "officer", "--name", "alice", "--out", out)
	require.Equal(t, "alice", issued.Name)
	require.Equal(t, "officer", issued.Role)
	require.Regexp(t, `^[0-9a-f]+$`, issued.Serial)
	require.False(t, issued.Offline)
	alice := []string{"--cacert", filepath.Join(out, "ca.pem"), "--tlscert", filepath.Join(out, "alice.pem"), "--tlskey", filepath.Join(out, "alice.key")}

	// alice uses it.
	var st statusOut
	c.ctlJSON(&st, append([]string{"status"}, alice...)...)
	require.True(t, st.WalletExists)
	var proposals []json.RawMessage
	c.ctlJSON(&proposals, append([]string{"spend", "list"}, alice...)...)
	require.Empty(t, proposals)
	listed := c.listedIdentity(t, "alice")
	require.Equal(t, issued.Serial, listed.Serial)
	require.NotEmpty(t, listed.Seen, "alice's calls are seen")
	require.Empty(t, listed.Revoked)

	// Revoked, her next call is refused.
	var revoked identityOut
	c.ctlJSON(&revoked, "identity", "revoke", "alice", "--reason", "laptop stolen")
	require.Equal(t, issued.Serial, revoked.Serial)
	refused := func(args ...string) {
		t.Helper()
		_, err := c.ctl(append(args, alice...)...)
		require.Error(t, err)
		require.Contains(t, err.Error(), "PermissionDenied")
		require.Contains(t, err.Error(), "revoked")
		require.Contains(t, err.Error(), "laptop stolen")
	}
	refused("status")

	// The revocation survives a restart, here without the CA passphrase.
	c.flags = c.flags[:len(c.flags)-2]
	c.restart()
	refused("status")
	refused("spend", "list")
	_, err := c.ctl("identity", "issue", "--role", "officer", "--name", "alice", "--out", t.TempDir())
	require.Error(t, err)
	require.Contains(t, err.Error(), "FailedPrecondition")
	require.Contains(t, err.Error(), "CA is offline")

	listed = c.listedIdentity(t, "alice")
	require.Equal(t, revoked.Revoked, listed.Revoked)
	require.NotEmpty(t, listed.Revoked)
	require.Equal(t, "laptop stolen", listed.Reason)
	table, err := c.ctl("identity", "list")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^alice\s+officer\s+`+issued.Serial+`\s+.*`+regexp.QuoteMeta("(laptop stolen)")+`$`, table)
}
