//go:build itest

package itest

import (
	"os"
	"testing"

	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// payMany pays count outputs of amount to address in one large
// transaction, padded with filler outputs back to the funder (as an
// exchange's batch payout is), at 2 sat/vB, and mines it: the reserve's
// coins then each carry a previous transaction of some 95 KB.
func (f *funder) payMany(n *node, address string, count int, amount int64, filler int) *wire.MsgTx {
	f.t.Helper()
	tip := n.height()
	idx := -1
	for i, c := range f.coins {
		if (c.height == 0 || tip+1-c.height >= 100) && c.value > int64(count)*amount+int64(filler)*1_000+1_000_000 {
			idx = i
			break
		}
	}
	require.GreaterOrEqual(f.t, idx, 0, "funder has no mature coin large enough")
	c := f.coins[idx]
	f.coins = append(f.coins[:idx], f.coins[idx+1:]...)

	script, err := txscript.PayToAddrScript(decodeAddress(f.t, address))
	require.NoError(f.t, err)
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: c.op, Sequence: wire.MaxTxInSequenceNum - 2})
	for range count {
		tx.AddTxOut(wire.NewTxOut(amount, script))
	}
	for k := range filler {
		tx.AddTxOut(wire.NewTxOut(1_000+int64(k), f.pkScript))
	}
	change := wire.NewTxOut(0, f.pkScript)
	tx.AddTxOut(change)
	fee := 2 * int64(tx.SerializeSize()+200)
	change.Value = c.value - int64(count)*amount - fillerSum(filler) - fee
	require.Positive(f.t, change.Value)
	f.sign(tx, c)
	id := n.send(tx)
	f.coins = append(f.coins, coin{op: wire.OutPoint{Hash: id, Index: uint32(len(tx.TxOut) - 1)}, value: change.Value})
	f.mine(n, 1) // one at a time: the mempool's ancestor size limit
	return tx
}

// fillerSum is what payMany's filler outputs pay.
func fillerSum(filler int) int64 {
	var s int64
	for k := range filler {
		s += 1_000 + int64(k)
	}
	return s
}

// testLargePSBT: a spend whose PSBT is between gRPC's default 4 MiB and
// the 32 MiB limit goes through export, two ministries' signatures, import
// and broadcast; one whose PSBT would pass the limit is refused at
// propose with the reason and the largest payment that fits, reserving
// nothing.
func testLargePSBT(t *testing.T, h *harness) {
	c := h.custos
	_, signers := createReserve(t, c, 2, 3)
	// 12 transactions of some 95 KB, each paying the reserve 40 coins of
	// 0.0025 BTC: 480 coins, of which some 330 fit in one PSBT.
	for range 12 {
		addr, _ := c.newAddress("large funding")
		h.funder.payMany(h.node, addr, 40, 250_000, 3_000)
	}
	c.waitSynced()
	require.Equal(t, int64(480*250_000), c.balance().ConfirmedSat)

	// Some 380 coins: over the limit.
	_, err := c.ctl("spend", "propose", "--feerate", "1", "--memo", "itest", "--to", externalAddress(t)+"=0.95")
	require.Error(t, err)
	require.Contains(t, err.Error(), "every input carries its whole previous transaction")
	require.Contains(t, err.Error(), "the largest payment that fits is")
	list, err := c.ctl("spend", "list")
	require.NoError(t, err)
	require.NotContains(t, list, "PENDING_APPROVAL", "a refused proposal reserves nothing")

	// Some 61 coins: a PSBT of some 5.8 MB.
	p := c.propose(t, 1, payment{externalAddress(t), 15_000_000})
	file := c.export(t, p.ID)
	st, err := os.Stat(file)
	require.NoError(t, err)
	require.Greater(t, st.Size(), int64(4<<20), "the PSBT file (base64 or binary) is over gRPC's default limit")
	for _, i := range []int{0, 2} {
		require.Positive(t, c.importSigned(t, p.ID, signers[i].sign(t, file)))
	}
	got := c.waitState(t, p.ID, "BROADCAST")
	require.Contains(t, h.node.mempool(), got.Txid)
	h.funder.mine(h.node, 1)
	c.waitSynced()
	c.waitState(t, p.ID, "CONFIRMED")
}
