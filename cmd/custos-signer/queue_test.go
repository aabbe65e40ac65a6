package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/agent"
	"github.com/custos-reserve/custos/signer/signertest"
)

// queuedID is the proposal id of the sign fixture's approvals.
const queuedID = "P000001"

// runQueueCLI runs the program with the passphrase (none when empty) in
// the environment and no terminal.
func runQueueCLI(t *testing.T, passphrase string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		lookupEnv: func(k string) (string, bool) {
			if k == signer.EnvPassphrase && passphrase != "" {
				return passphrase, true
			}
			return "", false
		},
		homeDir: func() (string, error) { return "", os.ErrNotExist },
		now:     signertest.Now,
	}
	err := c.run(context.Background(), args)
	code := exitCode(err, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), err: err, code: code}
}

// newQueueFixture is the sign fixture with its PSBT queued by serve as
// request queuedID.
func newQueueFixture(t *testing.T) *signFixture {
	t.Helper()
	f := newSignFixture(t)
	q := filepath.Join(f.dir, agent.QueueDirName)
	require.NoError(t, os.MkdirAll(q, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(q, queuedID+".psbt"), f.bytes(t), 0o600))
	return f
}

// TestQueueCommands: pending, approve and refuse, their usage errors,
// unknown ids, --json, and approve's passphrase: an approval is made only
// with it, and carries the MAC serve verifies.
func TestQueueCommands(t *testing.T) {
	tests := []struct {
		name       string
		queued     bool
		passphrase string
		args       []string
		code       int
		// out is in stdout when code is 0, in stderr otherwise.
		out string
		// decided is the request's decision file afterwards, "" for none.
		decided string
	}{
		{"pending, nothing queued", false, "", []string{"pending"}, 0, "No signing request waits.", ""},
		{"pending --json, nothing queued", false, "", []string{"pending", "--json"}, 0, "[]", ""},
		{"pending lists a request with sign's summary", true, "", []string{"pending"}, 0, "=== request " + queuedID, ""},
		{"pending with an argument", true, "", []string{"pending", "x"}, 2, "unexpected argument", ""},
		{"approve", true, testPassphrase, []string{"approve", queuedID}, 0, "Approved request " + queuedID, "approved"},
		{"approve --json", true, testPassphrase, []string{"approve", queuedID, "--json"}, 0, `"decided": "approved"`, "approved"},
		{"approve without the passphrase", true, "", []string{"approve", queuedID}, 1, "passphrase", ""},
		{"approve with a wrong passphrase", true, "not the passphrase", []string{"approve", queuedID}, 1, "wrong passphrase", ""},
		{"approve without an id", true, testPassphrase, []string{"approve"}, 2, "the request ID is required", ""},
		{"approve a bad id", true, testPassphrase, []string{"approve", "../key"}, 2, "character other than", ""},
		{"approve an unknown id", true, testPassphrase, []string{"approve", "P000002"}, 1, "no request with this id", ""},
		{"refuse", true, "", []string{"refuse", queuedID, "--reason", "payee unknown"}, 0, "Refused request " + queuedID, "refused"},
		{"refuse --json", true, "", []string{"refuse", queuedID, "--reason", "payee unknown", "--json"}, 0, `"reason": "payee unknown"`, "refused"},
		{"refuse without --reason", true, "", []string{"refuse", queuedID}, 2, "--reason is required", ""},
		{"refuse with a control character", true, "", []string{"refuse", queuedID, "--reason", "no\x1b[2J"}, 2, "not printable", ""},
		{"refuse an unknown id", true, "", []string{"refuse", "P000002", "--reason", "x"}, 1, "no request with this id", ""},
		{"serve without --daemon", false, testPassphrase, []string{"serve", "--identity", "x"}, 2, "--daemon and --identity are required", ""},
		{"serve without --identity", false, testPassphrase, []string{"serve", "--daemon", "127.0.0.1:1"}, 2, "--daemon and --identity are required", ""},
		{"serve with an empty identity directory", false, testPassphrase, []string{"serve", "--daemon", "127.0.0.1:1", "--identity", "EMPTY"}, 1, "no identity in", ""},
		{"serve with a bad fee rate", false, testPassphrase, []string{"serve", "--daemon", "127.0.0.1:1", "--identity", "x", "--max-feerate", "lots"}, 2, "max-feerate", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f *signFixture
			if tc.queued {
				f = newQueueFixture(t)
			} else {
				f = newSignFixture(t)
			}
			args := append([]string{}, tc.args...)
			for i, a := range args {
				if a == "EMPTY" {
					args[i] = t.TempDir()
				}
			}
			r := runQueueCLI(t, tc.passphrase, append(args, "--datadir", f.dir)...)
			require.Equal(t, tc.code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			if tc.code == 0 {
				require.Contains(t, r.stdout, tc.out)
			} else {
				require.Contains(t, r.stderr, tc.out)
			}
			if !tc.queued {
				return
			}
			q, err := agent.Pending(f.dir)
			require.NoError(t, err)
			require.Len(t, q, 1)
			require.Equal(t, tc.decided, q[0].Decided)
			if tc.decided == "approved" {
				key, err := signer.Unlock(f.dir, []byte(testPassphrase))
				require.NoError(t, err)
				defer key.Zero()
				require.NoError(t, signer.VerifyOperatorApproval(key, queuedID, q[0].PSBT, q[0].ApprovalMAC), "the approval carries the MAC")
			}
		})
	}
}

// TestPendingJSON: pending --json shows each request with sign's summary
// and the operator's decision serve has not acted on yet.
func TestPendingJSON(t *testing.T) {
	f := newQueueFixture(t)
	type entry struct {
		ID       string         `json:"id"`
		QueuedAt string         `json:"queued_at"`
		Decided  string         `json:"decided"`
		Reason   string         `json:"reason"`
		Summary  map[string]any `json:"summary"`
		Error    string         `json:"error"`
	}
	r := runQueueCLI(t, "", "pending", "--json", "--datadir", f.dir)
	require.Zero(t, r.code, r.stderr)
	got := decode[[]entry](t, r.stdout)
	require.Len(t, got, 1)
	require.Equal(t, queuedID, got[0].ID)
	require.Empty(t, got[0].Error)
	require.NotEmpty(t, got[0].Summary)
	require.NotEmpty(t, got[0].QueuedAt)

	r = runQueueCLI(t, "", "refuse", queuedID, "--reason", "payee unknown", "--datadir", f.dir)
	require.Zero(t, r.code, r.stderr)
	r = runQueueCLI(t, "", "pending", "--json", "--datadir", f.dir)
	got = decode[[]entry](t, r.stdout)
	require.Equal(t, "refused", got[0].Decided)
	require.Equal(t, "payee unknown", got[0].Reason)

	// A decided request is not decided again.
	r = runQueueCLI(t, testPassphrase, "approve", queuedID, "--datadir", f.dir)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "decided already")
}

// TestApprovalFileIsTheMAC: what approve writes is the hex of the MAC
// over the id and the queued PSBT, nothing else (docs/signer.md).
func TestApprovalFileIsTheMAC(t *testing.T) {
	f := newQueueFixture(t)
	r := runQueueCLI(t, testPassphrase, "approve", queuedID, "--datadir", f.dir)
	require.Zero(t, r.code, r.stderr)
	b, err := os.ReadFile(filepath.Join(f.dir, agent.QueueDirName, queuedID+".approved"))
	require.NoError(t, err)
	key, err := signer.Unlock(f.dir, []byte(testPassphrase))
	require.NoError(t, err)
	defer key.Zero()
	mac, err := signer.OperatorApprovalMAC(key, queuedID, f.bytes(t))
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(mac)+"\n", string(b))
}
