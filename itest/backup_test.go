//go:build itest

package itest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/require"
)

// testBackupMidSpend: an admin takes an encrypted backup while a spend has
// one of its two signatures; the backup is restored into a new data dir
// on this host, the restored daemon refuses exports until an admin
// acknowledges the restore, then completes the spend with the second
// signature, which confirms.
func testBackupMidSpend(t *testing.T, h *harness) {
	c := h.custos
	key, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "safe.agekey")
	require.NoError(t, os.WriteFile(keyFile, []byte(key.String()+"\n"), 0o600))
	c.flags = append(c.flags, "--backup-recipient", key.Recipient().String())
	c.restart()

	_, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000)
	payee := externalAddress(t)
	p := c.propose(t, 3, payment{payee, 40_000_000})
	file := c.export(t, p.ID)
	s0, s1 := signers[0].sign(t, file), signers[1].sign(t, file)
	c.importSigned(t, p.ID, s0)
	require.Equal(t, "SIGNING", c.show(t, p.ID).State)

	backup := filepath.Join(t.TempDir(), "custos.backup")
	_, err = c.ctl("admin", "backup", "--out", backup)
	require.NoError(t, err)
	// The file is encrypted: the store's bytes are not in it.
	raw, err := os.ReadFile(backup)
	require.NoError(t, err)
	require.NotContains(t, string(raw), p.ID)
	c.stop()

	// Restored elsewhere (another data dir), with a key that is not a
	// recipient: refused, nothing written.
	other, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	otherFile := filepath.Join(t.TempDir(), "other.agekey")
	require.NoError(t, os.WriteFile(otherFile, []byte(other.String()+"\n"), 0o600))
	newDir := filepath.Join(t.TempDir(), "restored")
	out, err := exec.Command(bins.custosd, "restore", backup, "--datadir", newDir, "--identity", otherFile, "--network", "regtest").CombinedOutput()
	require.Error(t, err, "a key that is not a recipient: %s", out)
	_, statErr := os.Stat(filepath.Join(newDir, "custos.db"))
	require.True(t, os.IsNotExist(statErr), "nothing installed")
	out, err = exec.Command(bins.custosd, "restore", backup, "--datadir", newDir, "--identity", keyFile, "--network", "mainnet").CombinedOutput()
	require.Error(t, err, "another network: %s", out)
	require.Contains(t, string(out), "regtest")

	out, err = exec.Command(bins.custosd, "restore", backup, "--datadir", newDir, "--identity", keyFile, "--network", "regtest").CombinedOutput()
	require.NoError(t, err, "%s", out)
	r := &custosd{t: t, dir: newDir, node: h.node, nodeHost: h.node.host(), flags: c.flags}
	r.start()
	t.Cleanup(r.stop)
	r.waitSynced()

	got := r.show(t, p.ID)
	require.Equal(t, "SIGNING", got.State)
	require.Len(t, got.Signers, 1, "the signature imported before the backup is in it")
	_, err = r.ctl("spend", "export", p.ID, "--out", filepath.Join(t.TempDir(), "again.psbt"))
	require.ErrorContains(t, err, "ack-restore", "exports wait for an admin's acknowledgement")
	_, err = r.ctl("admin", "ack-restore")
	require.NoError(t, err)
	r.export(t, p.ID)

	r.importSigned(t, p.ID, s1)
	r.waitState(t, p.ID, "BROADCAST")
	h.funder.mine(h.node, 1)
	done := r.waitState(t, p.ID, "CONFIRMED")
	require.Equal(t, 1, paidTimes(t, h, payee, 40_000_000))
	require.Equal(t, int64(100_000_000-40_000_000)-done.FeeSat, r.balance().ConfirmedSat)
}
