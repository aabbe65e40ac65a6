//go:build itest

package itest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/audit"
)

// witnessedOut is what custos-signer sign --json and witness-key --json
// say of the audit log.
type witnessedOut struct {
	Witnessed *struct {
		Size         int64  `json:"size"`
		Root         string `json:"root"`
		PreviousSize int64  `json:"previous_size"`
	} `json:"witnessed"`
	WitnessKey    string `json:"witness_key"`
	WitnessedSize int64  `json:"witnessed_size"`
}

// pinLog has the signer pin the daemon's log key and returns its
// witness key.
func (s *signer) pinLog(t *testing.T, logKey string) string {
	t.Helper()
	var out struct {
		Witness witnessedOut `json:"witness"`
	}
	stdout := s.run(t, "", "register", "--log-key", logKey, "--json")
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	require.True(t, strings.HasPrefix(out.Witness.WitnessKey, audit.WitnessPrefix), stdout)
	return out.Witness.WitnessKey
}

// witnessedSize is the size of the last checkpoint the signer's state
// records as witnessed.
func (s *signer) witnessedSize(t *testing.T) int64 {
	t.Helper()
	var out witnessedOut
	stdout := s.run(t, "", "witness-key", "--json")
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	return out.WitnessedSize
}

// signWitnessing signs in and returns the signed file and the checkpoint
// the signature witnessed, as sign --json reports it.
func (s *signer) signWitnessing(t *testing.T, in string) (string, witnessedOut) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "signed.psbt")
	stdout := s.run(t, "", "sign", "--in", in, "--out", out, "--yes", "--json")
	var o witnessedOut
	require.NoError(t, json.Unmarshal([]byte(stdout), &o), stdout)
	require.NotNil(t, o.Witnessed, "a signer that pins the log key witnesses: %s", stdout)
	return out, o
}

// testWitnessesCatchRestore: two ministries pin the daemon's log key
// (custosctl audit checkpoint shows it) and witness two full spends, the
// second extending the first; the audit export verifies with both
// witness keys and names the witness whose key is wrong. The daemon is
// then restored from a copy of its store taken before the spends: the
// next export shows the ministries a smaller log, and both refuse it as
// a rewritten or forked history naming the sizes, recording nothing.
func testWitnessesCatchRestore(t *testing.T, h *harness) {
	c := h.custos
	key, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "safe.agekey")
	require.NoError(t, os.WriteFile(keyFile, []byte(key.String()+"\n"), 0o600))
	c.flags = append(c.flags, "--backup-recipient", key.Recipient().String())
	c.restart()
	_, signers := createReserve(t, c, 2, 3)
	var cp struct {
		LogKey string `json:"log_key"`
	}
	c.ctlJSON(&cp, "audit", "checkpoint")
	require.NotEmpty(t, cp.LogKey)
	wkeys := []string{signers[0].pinLog(t, cp.LogKey), signers[1].pinLog(t, cp.LogKey)}
	fund(t, h, 100_000_000)
	// The backup an operator takes before the spends (custosctl admin
	// backup, encrypted to the safe's key).
	early := filepath.Join(t.TempDir(), "early.backup")
	_, err = c.ctl("admin", "backup", "--out", early)
	require.NoError(t, err)

	// Two spends, each signed by both witnessing ministries.
	var witnessed int64
	for i, amount := range []int64{30_000_000, 20_000_000} {
		payee := externalAddress(t)
		p := c.propose(t, 3, payment{payee, amount})
		file := c.export(t, p.ID)
		for j, s := range signers[:2] {
			signed, o := s.signWitnessing(t, file)
			require.Equal(t, witnessed, o.Witnessed.PreviousSize, "spend %d, signer %d: extends what it witnessed before", i, j)
			require.Greater(t, o.Witnessed.Size, witnessed)
			require.Equal(t, o.Witnessed.Size, s.witnessedSize(t), "the signer's state records the checkpoint")
			c.importSigned(t, p.ID, signed)
			if j == 1 {
				witnessed = o.Witnessed.Size
			}
		}
		c.waitState(t, p.ID, "BROADCAST")
		h.funder.mine(h.node, 1)
		c.waitState(t, p.ID, "CONFIRMED")
	}

	// The auditors' check: both witnesses vouch; a wrong key is named.
	export := filepath.Join(t.TempDir(), "audit.jsonl")
	_, err = c.ctl("audit", "export", "--out", export)
	require.NoError(t, err)
	out, err := c.ctl("audit", "verify", export, "--log-key", cp.LogKey, "--witness", wkeys[0], "--witness", wkeys[1])
	require.NoError(t, err, out)
	fps := make([]string, 2)
	for i, k := range wkeys {
		name, _, _ := strings.Cut(k, "+")
		fps[i] = strings.TrimPrefix(name, audit.WitnessPrefix)
		require.Contains(t, out, fmt.Sprintf("witness %s: vouches for size %d", fps[i], witnessed))
	}
	fp0, err := audit.ParseFingerprint(fps[0])
	require.NoError(t, err)
	_, wrong0, err := audit.NewWitnessKey(bytes.Repeat([]byte{9}, 32), fp0)
	require.NoError(t, err)
	out, err = c.ctl("audit", "verify", export, "--log-key", cp.LogKey, "--witness", wrong0, "--witness", wkeys[1])
	require.Error(t, err)
	require.ErrorContains(t, err, "not vouching: "+fps[0])
	require.Contains(t, out, fmt.Sprintf("witness %s: does NOT vouch", fps[0]))
	require.Contains(t, out, "wrong witness key")

	// The daemon is restored (custosd restore) from the backup taken
	// before the spends, and an operator acknowledges the restore without
	// asking the ministries: its log is shorter than what they witnessed.
	c.stop()
	newDir := filepath.Join(t.TempDir(), "restored")
	restored, err := exec.Command(bins.custosd, "restore", early, "--datadir", newDir, "--identity", keyFile, "--network", "regtest").CombinedOutput()
	require.NoError(t, err, "%s", restored)
	// The officers keep the certificates they hold: the same CA signed them.
	require.NoError(t, os.CopyFS(filepath.Join(newDir, "officers"), os.DirFS(filepath.Join(c.dir, "officers"))))
	r := &custosd{t: t, dir: newDir, node: h.node, nodeHost: h.node.host(), flags: c.flags}
	r.start()
	t.Cleanup(r.stop)
	r.waitSynced()
	h.custos = r
	_, err = r.ctl("admin", "ack-restore")
	require.NoError(t, err)
	fund(t, h, 50_000_000)
	p := r.propose(t, 3, payment{externalAddress(t), 10_000_000})
	file := r.export(t, p.ID)
	for i, s := range signers[:2] {
		err := s.signErr(t, file)
		require.Error(t, err, "signer %d", i)
		require.ErrorContains(t, err, "rewritten or forked history", "signer %d", i)
		require.ErrorContains(t, err, fmt.Sprintf("smaller than size %d", witnessed), "signer %d", i)
		require.Equal(t, witnessed, s.witnessedSize(t), "signer %d records nothing", i)
	}
}
