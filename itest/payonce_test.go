//go:build itest

package itest

import (
	"bytes"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// backup copies the daemon's store with the daemon stopped, as an
// operator's nightly copy would be, and starts it again.
func (c *custosd) backup(t *testing.T) string {
	t.Helper()
	c.stop()
	path := filepath.Join(t.TempDir(), "custos.db.backup")
	copyFile(t, filepath.Join(c.dir, "custos.db"), path)
	c.start()
	return path
}

// restore stops the daemon, puts the backup in place of its store and
// starts it again: it follows the chain from where the backup was.
func (c *custosd) restore(t *testing.T, backup string) {
	t.Helper()
	c.stop()
	copyFile(t, backup, filepath.Join(c.dir, "custos.db"))
	c.start()
	c.waitSynced()
}

// txHex is tx serialized, in hex, for the node.
func txHex(t *testing.T, tx *wire.MsgTx) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, tx.Serialize(&b))
	return hex.EncodeToString(b.Bytes())
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}

// paidTimes counts the outputs paying amount to addr in the last 20
// blocks: how many times the chain paid it.
func paidTimes(t *testing.T, h *harness, addr string, amount int64) int {
	t.Helper()
	n := 0
	hash := h.node.bestHash()
	for range 20 {
		b := h.node.block(hash)
		for _, tx := range b.Transactions {
			for _, out := range tx.TxOut {
				if out.Value == amount && scriptAddress(t, out.PkScript) == addr {
					n++
				}
			}
		}
		hash = b.Header.PrevBlock
	}
	return n
}

// testPayOnceForgotten is the four steps with a coordinator that
// has forgotten a signed payment (restored from a backup taken before it
// was proposed, as a compromised one would hide it): P1 is approved and
// signed by two ministries, the signatures never reach the daemon; the
// restored daemon proposes the same payment again from other coins, the
// officers approve it in good faith; the two ministries that signed P1
// refuse it, the third alone cannot complete it; P1's transaction,
// broadcast later, is the one payment.
func testPayOnceForgotten(t *testing.T, h *harness) {
	c := h.custos
	w, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000)
	early := c.backup(t)

	payee := externalAddress(t)
	p1 := c.propose(t, 3, payment{payee, 50_000_000})
	file1 := c.export(t, p1.ID)
	s0, s1 := signers[0].sign(t, file1), signers[1].sign(t, file1)
	withheld := finalizeOutside(t, w.Descriptor, file1, s0, s1)

	// The daemon comes back from the backup; a larger coin arrives, so
	// the same payment is built from other coins.
	c.restore(t, early)
	fund(t, h, 300_000_000)
	p2 := c.propose(t, 3, payment{payee, 50_000_000})
	require.Equal(t, p1.ID, p2.ID, "the restored daemon numbers it as it numbered P1")
	require.NotEqual(t, p1.Txid, p2.Txid)
	file2 := c.export(t, p2.ID)
	for i, s := range signers[:2] {
		err := s.signErr(t, file2)
		require.Error(t, err, "signer %d", i)
		require.Contains(t, err.Error(), "spend one of its inputs", "signer %d", i)
	}
	// The third ministry never signed P1: it signs, and one is not enough.
	require.Equal(t, p2.Inputs, c.importSigned(t, p2.ID, signers[2].sign(t, file2)), "one signature on each input")
	require.Equal(t, "SIGNING", c.show(t, p2.ID).State)

	// The withheld transaction is broadcast after all: it is the one
	// payment.
	h.node.send(withheld)
	h.funder.mine(h.node, 1)
	c.waitSynced()
	require.Equal(t, 1, paidTimes(t, h, payee, 50_000_000))
}

// testPayOnceReplaces: the daemon is restored from a backup taken after
// P1 went to the signers but before it heard of their signatures; the
// officers cancel the stuck P1. Proposing the same payment again from
// other coins is refused with the way out; `spend propose --replaces`
// spends one of P1's inputs, the ministries that signed P1 sign it, it
// confirms, and P1's withheld transaction never can.
func testPayOnceReplaces(t *testing.T, h *harness) {
	c := h.custos
	w, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000, 200_000_000)
	payee := externalAddress(t)
	p1 := c.propose(t, 3, payment{payee, 50_000_000})
	file1 := c.export(t, p1.ID)
	beforeSigned := c.backup(t)
	s0, s1 := signers[0].sign(t, file1), signers[1].sign(t, file1)
	c.importSigned(t, p1.ID, s0)
	withheld := finalizeOutside(t, w.Descriptor, file1, s0, s1)

	c.restore(t, beforeSigned)
	require.Empty(t, c.show(t, p1.ID).Signers, "the restored daemon has not seen the signatures")
	var cancelled proposalOut
	c.ctlJSON(&cancelled, "spend", "cancel", p1.ID, "--reason", "stuck")
	require.Equal(t, "CANCELLED", cancelled.State)
	require.Contains(t, cancelled.History[len(cancelled.History)-1].Note, "spend cancel --conflict "+p1.ID)

	_, err := c.ctl("spend", "propose", "--to", payee+"=0.5", "--feerate", "3")
	require.ErrorContains(t, err, "spend propose --replaces "+p1.ID)

	var p2 proposalOut
	c.ctlJSON(&p2, "spend", "propose", "--to", payee+"=0.5", "--feerate", "4", "--replaces", p1.ID)
	require.Equal(t, []string{p1.ID}, p2.Supersedes)
	p2 = c.approve(t, p2.ID, officers[0], officers[1])
	require.Equal(t, "SIGNING", p2.State)
	file2 := c.export(t, p2.ID)
	c.importSigned(t, p2.ID, signers[0].sign(t, file2))
	c.importSigned(t, p2.ID, signers[1].sign(t, file2))
	c.waitState(t, p2.ID, "BROADCAST")
	h.funder.mine(h.node, 1)
	c.waitState(t, p2.ID, "CONFIRMED")

	_, err = h.node.call("sendrawtransaction", txHex(t, withheld))
	require.Error(t, err, "the original can never confirm")
	require.Equal(t, 1, paidTimes(t, h, payee, 50_000_000))
}

// testCancelConflict: a fully signed transaction withheld outside the
// daemon is made unconfirmable by `spend cancel --conflict`: a
// self-payment spending one of its inputs, approved by the officers,
// signed by the very ministries that signed the original.
func testCancelConflict(t *testing.T, h *harness) {
	c := h.custos
	w, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000)
	payee := externalAddress(t)
	p1 := c.propose(t, 3, payment{payee, 50_000_000})
	file1 := c.export(t, p1.ID)
	s0, s1 := signers[0].sign(t, file1), signers[1].sign(t, file1)
	withheld := finalizeOutside(t, w.Descriptor, file1, s0, s1)

	var out struct {
		Proposal proposalOut `json:"proposal"`
		Conflict proposalOut `json:"conflict"`
	}
	c.ctlJSON(&out, "spend", "cancel", p1.ID, "--conflict", "--feerate", "5", "--reason", "signed copy withheld")
	require.Equal(t, "CANCELLED", out.Proposal.State)
	conflict := out.Conflict
	require.Empty(t, conflict.Payees)
	require.Equal(t, []string{p1.ID}, conflict.Supersedes)
	require.Equal(t, "PENDING_APPROVAL", conflict.State)
	conflict = c.approve(t, conflict.ID, officers[0], officers[1])
	file := c.export(t, conflict.ID)
	c.importSigned(t, conflict.ID, signers[0].sign(t, file))
	c.importSigned(t, conflict.ID, signers[1].sign(t, file))
	c.waitState(t, conflict.ID, "BROADCAST")
	h.funder.mine(h.node, 1)
	done := c.waitState(t, conflict.ID, "CONFIRMED")

	_, err := h.node.call("sendrawtransaction", txHex(t, withheld))
	require.Error(t, err, "the withheld transaction can never confirm")
	require.Equal(t, 0, paidTimes(t, h, payee, 50_000_000))
	// Nothing left the reserve but the fee.
	require.Equal(t, int64(100_000_000)-done.FeeSat, c.balance().ConfirmedSat)
}
