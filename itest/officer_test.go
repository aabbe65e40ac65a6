//go:build itest

package itest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const officerPassphrase = "officer passphrase for the itest"

// officerKey is an officer's approval key, made once for the whole run
// with `custosctl officer keygen`, as an officer would on their machine.
type officerKey struct {
	id, name string
	keyFile  string
	pub      string
}

// officers are alice, bob and carol, made by makeOfficers in TestMain.
var officers []officerKey

// makeOfficers makes the three officers' sealed keys in dir.
func makeOfficers(dir string) error {
	passFile := filepath.Join(dir, "officer.pass")
	if err := os.WriteFile(passFile, []byte(officerPassphrase+"\n"), 0o600); err != nil {
		return err
	}
	for _, o := range []struct{ id, name string }{{"alice", "Alice Moreau"}, {"bob", "Bob Okafor"}, {"carol", "Carol Lindqvist"}} {
		file := filepath.Join(dir, o.id+".officer")
		out, err := exec.Command(bins.custosctl, "officer", "keygen", "--out", file, "--passphrase-file", passFile, "--json").Output()
		if err != nil {
			return fmt.Errorf("officer keygen %s: %w", o.id, err)
		}
		var res struct {
			PublicKey string `json:"public_key"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			return fmt.Errorf("officer keygen %s printed %q: %w", o.id, out, err)
		}
		officers = append(officers, officerKey{id: o.id, name: o.name, keyFile: file, pub: res.PublicKey})
	}
	return nil
}

// policyParams are the parts of the itest policy a case may change.
type policyParams struct {
	expiry  string
	coolOff string
	per24h  string
}

// itestPolicy is the reserve's policy in the integration tests: up to
// 5 BTC needs 2 of the 3 officers with no cool-off; up to 100 BTC all 3
// and a cool-off; above that all 3 and a longer one. Any payee may be
// paid with one more approval than its tier needs.
func itestPolicy(t testing.TB, p policyParams) string {
	if p.expiry == "" {
		p.expiry = "168h"
	}
	if p.coolOff == "" {
		p.coolOff = "20s"
	}
	if p.per24h == "" {
		p.per24h = "500"
	}
	var b strings.Builder
	b.WriteString("version: 1\nofficers:\n")
	for _, o := range officers {
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    key: %s\n", o.id, o.name, o.pub)
	}
	fmt.Fprintf(&b, `tiers:
  - up_to: "5"
    approvals: 2
    cool_off: 0s
  - up_to: "100"
    approvals: 3
    cool_off: %s
  - up_to: unlimited
    approvals: all
    cool_off: 1h
velocity:
  per_24h: "%s"
  per_30d: "5000"
allowlist:
  unlisted: extra_approval
  add_delay: 48h
  entries:
%s
fees:
  max_fee: "0.01"
  max_fee_rate: 500
proposal_expiry: %s
unfreeze_approvals: 2
`, p.coolOff, p.per24h, allowlistYAML(t), p.expiry)
	return b.String()
}

// allowlistYAML lists the allowlisted payees, added long ago.
func allowlistYAML(t testing.TB) string {
	var lines []string
	for i, a := range allowlisted(t) {
		lines = append(lines, fmt.Sprintf("    - address: %s\n      label: payee %d\n      added: 2026-01-01T00:00:00Z", a, i))
	}
	return strings.Join(lines, "\n")
}

// officerCert issues officer o's client certificate with `custosd
// issue-cert`, once per daemon (each data dir has its own CA).
func (c *custosd) officerCert(t testing.TB, o officerKey) []string {
	t.Helper()
	dir := filepath.Join(c.dir, "officers")
	cert, key := filepath.Join(dir, o.id+".pem"), filepath.Join(dir, o.id+".key")
	if _, err := os.Stat(cert); err != nil {
		out, err := exec.Command(bins.custosd, "issue-cert", "--datadir", c.dir, "--name", o.id, "--role", "officer", "--out", dir).CombinedOutput()
		require.NoError(t, err, "issue-cert: %s", out)
	}
	return []string{"--tlscert", cert, "--tlskey", key}
}

// asOfficer runs custosctl as officer o, with its key's passphrase in
// the environment.
func (c *custosd) asOfficer(t testing.TB, o officerKey, args ...string) (string, error) {
	t.Helper()
	args = append(append(args, c.officerCert(t, o)...), "--key", o.keyFile, "--yes")
	return c.ctlEnv([]string{"CUSTOS_OFFICER_PASSPHRASE=" + officerPassphrase}, args...)
}

// setPolicy sets the reserve's first policy and returns the file the
// signers pin, as written by `policy show --out`.
func (c *custosd) setPolicy(t testing.TB, p policyParams) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(src, []byte(itestPolicy(t, p)), 0o600))
	var set struct {
		Applied bool   `json:"applied"`
		Hash    string `json:"hash"`
	}
	c.ctlJSON(&set, "policy", "set", src)
	require.True(t, set.Applied)
	pinned := filepath.Join(t.TempDir(), "pinned-policy.yaml")
	_, err := c.ctl("policy", "show", "--out", pinned)
	require.NoError(t, err)
	return pinned
}

// approve has each officer approve proposal id and returns its state.
func (c *custosd) approve(t *testing.T, id string, by ...officerKey) proposalOut {
	t.Helper()
	var p proposalOut
	for _, o := range by {
		out, err := c.asOfficer(t, o, "spend", "approve", id, "--json")
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal([]byte(out), &p), "output: %s", out)
	}
	return p
}
