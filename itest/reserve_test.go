//go:build itest

package itest

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// harness is what every case gets: a fresh regtest node with a funded
// harness wallet, and a custosd on a fresh data dir following it.
type harness struct {
	node   *node
	funder *funder
	custos *custosd
}

// cases is the one list of integration cases.
var cases = []struct {
	name string
	run  func(t *testing.T, h *harness)
	// own: the case starts its node and daemon itself.
	own bool
}{
	{"deposits survive restart and reorg", testDepositsRestartReorg, false},
	{"lookahead follows deposits past the gap", testLookahead, false},
	{"node down and back", testNodeDown, false},
	{"status --wait right after 30 blocks reports the new tip synced", testStatusWait, false},
	{"notifications: with --poll 1h, each new block is followed by btcd's websocket notification", testNotifyPoll1h, false},
	{"coinbase to the reserve matures after 100 blocks", testCoinbaseMaturity, true},
	{"2-of-3 spend: sign in any order, surplus signature, confirm", testSpend2of3, false},
	{"3-of-5 spend, signatures one at a time", testSpend3of5, false},
	{"a cancelled proposal's coins go to the next", testCancelRespend, false},
	{"a finalized PSBT from a finalizing co-signer completes the spend", testImportFinalized, false},
	{"custosd killed between every two steps", testCrashEveryStep, false},
	{"broadcast refused over a mempool double spend", testDoubleSpend, false},
	{"double spend confirmed while signing", testDoubleSpendWhileSigning, false},
	{"an unsigned proposal expires and frees its coin", testExpiry, false},
	{"bad spend requests and tampered files are refused", testSpendRefusals, false},
	{"officers: 2 approve a small payment, 3 and a cool-off a large one", testApprovals, false},
	{"a veto during the cool-off", testVeto, false},
	{"a freeze stops an approved proposal until unfrozen", testFreeze, false},
	{"a fee bump under the original approvals confirms", testFeeBump, false},
	{"a policy change takes every officer; signers keep theirs until re-pinned", testPolicyChange, false},
	{"the 24-hour velocity cap counts approved payments", testVelocity, false},
	{"a large spend's PSBT goes through export, sign and import; one over the limit is refused at propose", testLargePSBT, false},
	{"pay once: a coordinator that lost a signed payment (restored from a backup before it) proposes it again; the signers refuse", testPayOnceForgotten, false},
	{"pay once: restored from a backup before P1 was signed, --replaces confirms, the withheld original never", testPayOnceReplaces, false},
	{"pay once: spend cancel --conflict makes a withheld signed transaction unconfirmable", testCancelConflict, false},
	{"backup: taken mid-spend, restored into a new data dir, the spend completes after ack-restore", testBackupMidSpend, false},
	{"witnesses: two ministries witness two spends, audit verify --witness vouches; restored (custosd restore) from an older backup, the witnesses catch it", testWitnessesCatchRestore, false},
	{"metrics: what Prometheus scrapes after the README flow is what happened", testMetricsAfterFlow, false},
	{"failpoints: the README flow completes through random kills", testFailpoints, false},
	{"identities: an officer issued over the API, used, revoked, refused after a restart", testIdentityRevoke, false},
	{"agents: two serve --auto processes sign a 2-of-3 spend, reconnect across a daemon restart, sign the next; no secret in any log", testAgentsSpend, false},
	{"agents: one air-gapped file, then an agent started after SIGNING completes the spend; no secret in any log", testAgentLateAndFile, false},
	{"agents: without --auto, pending lists the request, refuse reaches spend show, approve signs; no secret in any log", testAgentOperator, false},
	{"proof of reserves: an officer requests and approves, two ministries sign, custos-verify proves the balance at the height; the node refuses the proof tx; after a spend the old proof holds and a later height fails", testProofOfReserves, false},
	{"Console harness: a pinned TLS key, separate sessions; CSP violations, exceptions and requests off loopback caught", testBrowserHarness, true},
	{"Console: two officers approve in two browser sessions, one vetoes in the cool-off, freeze and unfreeze; signed, the page shows CONFIRMED", testConsoleOfficers, false},
	{"Console: an auditor verifies the log, a proof and an export in the browser; an edited export FAILS naming the line", testConsoleAuditor, false},
	{"Console: wrong passphrase, a key outside the policy, a revoked identity, an expired session: each refused with the reason on the page", testConsoleRefusals, false},
	{"Console bench: first paint with data of a 950-input proposal page (CUSTOS_BENCH_CONSOLE=N loads)", testConsoleBench, true},
}

func TestIntegration(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.own {
				tc.run(t, nil)
				return
			}
			f := newFunder(t)
			n := startNode(t, f.addr)
			f.mine(n, 101)
			c := startCustosd(t, n)
			tc.run(t, &harness{node: n, funder: f, custos: c})
		})
	}
}

// expectUTXOs checks the daemon's unspent outputs are exactly want
// (outpoint -> amount).
func expectUTXOs(t *testing.T, c *custosd, want map[wire.OutPoint]int64) {
	t.Helper()
	got := make(map[wire.OutPoint]int64)
	for _, u := range c.utxos() {
		op := outpoint(t, u.Txid, u.Vout)
		_, dup := got[op]
		require.False(t, dup, "outpoint %s listed twice", op)
		got[op] = u.AmountSat
	}
	require.Equal(t, want, got)
}

func outpoint(t *testing.T, txid string, vout uint32) wire.OutPoint {
	op, err := wire.NewOutPointFromString(fmt.Sprintf("%s:%d", txid, vout))
	require.NoError(t, err)
	return *op
}

// paidTo finds the output of tx paying amount (the harness never pays the
// same amount twice in one transaction).
func paidTo(t *testing.T, tx *wire.MsgTx, amount int64) wire.OutPoint {
	t.Helper()
	for i, out := range tx.TxOut {
		if out.Value == amount {
			return wire.OutPoint{Hash: tx.TxHash(), Index: uint32(i)}
		}
	}
	t.Fatalf("no output of %d sat in %s", amount, tx.TxHash())
	return wire.OutPoint{}
}

func testDepositsRestartReorg(t *testing.T, h *harness) {
	c, n, f := h.custos, h.node, h.funder
	createReserve(t, c, 2, 3)
	a1, _ := c.newAddress("customs duties")
	a2, _ := c.newAddress("bond issue")
	a3, _ := c.newAddress("gold sale")
	require.NotEqual(t, a1, a2)
	require.NotEqual(t, a2, a3)

	// Two deposits in one block.
	tx1 := f.pay(n, payment{a1, 150_000_000}, payment{a2, 25_000_000})
	f.mine(n, 1)
	c.waitSynced()
	want := map[wire.OutPoint]int64{
		paidTo(t, tx1, 150_000_000): 150_000_000,
		paidTo(t, tx1, 25_000_000):  25_000_000,
	}
	expectUTXOs(t, c, want)
	require.Equal(t, balanceOut{ConfirmedSat: 175_000_000, SyncedHeight: n.height()}, c.balance())

	// While the daemon is down: a confirmed deposit to a3 and one left in
	// the mempool to a2.
	c.stop()
	tx3 := f.pay(n, payment{a3, 200_000_000})
	reorgFrom := f.mine(n, 1)[0]
	f.mine(n, 1)
	tx4 := f.pay(n, payment{a2, 30_000_000})
	c.start()
	c.waitSynced()
	want[paidTo(t, tx3, 200_000_000)] = 200_000_000
	want[paidTo(t, tx4, 30_000_000)] = 30_000_000
	waitFor(t, 30*time.Second, "mempool deposit seen", func() bool { return c.balance().UnconfirmedSat == 30_000_000 })
	expectUTXOs(t, c, want)
	require.Equal(t, balanceOut{ConfirmedSat: 375_000_000, UnconfirmedSat: 30_000_000, SyncedHeight: n.height()}, c.balance())

	// Reorg: the block with the a3 deposit is invalidated, the deposit is
	// double-spent back to the payer, and a longer chain is mined.
	oldTip := n.height()
	n.invalidate(reorgFrom)
	f.replace(n, tx3)
	f.mine(n, 3)
	require.Greater(t, n.height(), oldTip)
	c.waitSynced()
	delete(want, paidTo(t, tx3, 200_000_000))
	expectUTXOs(t, c, want)
	// The mempool deposit was mined in the new chain.
	require.Equal(t, balanceOut{ConfirmedSat: 205_000_000, SyncedHeight: n.height()}, c.balance())

	// Received amounts per address follow the reorg too.
	var list []struct {
		Address     string `json:"address"`
		Label       string `json:"label"`
		ReceivedSat int64  `json:"received_sat"`
	}
	c.ctlJSON(&list, "address", "list")
	received := map[string]int64{}
	for _, a := range list {
		received[a.Address] = a.ReceivedSat
	}
	require.Equal(t, map[string]int64{a1: 150_000_000, a2: 55_000_000, a3: 0}, received)
}

func testLookahead(t *testing.T, h *harness) {
	c, n, f := h.custos, h.node, h.funder
	w, _ := createReserve(t, c, 2, 3)
	desc, err := multisig.ParseDescriptor(w.Descriptor, reserve.Regtest)
	require.NoError(t, err)
	derive := func(b reserve.Branch, i uint32) string {
		d, err := desc.Derive(b, i)
		require.NoError(t, err)
		return d.Address
	}
	// Nothing issued: receive 0..19 and change 0..19 are watched. A
	// payment to receive 19 must make 20..39 watched in the same block,
	// so the payment to 38 in the next transaction is seen too.
	tx1 := f.pay(n, payment{derive(reserve.BranchReceive, 19), 10_000_000})
	tx2 := f.pay(n, payment{derive(reserve.BranchReceive, 38), 20_000_000}, payment{derive(reserve.BranchChange, 7), 30_000_000})
	f.mine(n, 1)
	c.waitSynced()
	expectUTXOs(t, c, map[wire.OutPoint]int64{
		paidTo(t, tx1, 10_000_000): 10_000_000,
		paidTo(t, tx2, 20_000_000): 20_000_000,
		paidTo(t, tx2, 30_000_000): 30_000_000,
	})
	// The next issued address is past the last used one.
	_, idx := c.newAddress("after lookahead")
	require.Equal(t, uint32(39), idx)

	var all []struct {
		Index uint32 `json:"index"`
	}
	c.ctlJSON(&all, "address", "list", "--all")
	require.Len(t, all, 40+20, "receive addresses 0..59 derived after issuing 39")
	indexes := make([]int, len(all))
	for i, a := range all {
		indexes[i] = int(a.Index)
	}
	require.True(t, sort.IntsAreSorted(indexes))
}

func testNodeDown(t *testing.T, h *harness) {
	n, f := h.node, h.funder
	// This case's daemon reaches the node through a link it can cut.
	h.custos.stop()
	p := startProxy(t, n.host())
	c := startCustosd(t, n)
	c.nodeHost = p.addr
	c.restart()

	createReserve(t, c, 1, 2)
	addr, _ := c.newAddress("")
	c.waitSynced()

	p.down()
	waitFor(t, 60*time.Second, "status to report the node unreachable", func() bool {
		s := c.status()
		return !s.NodeReachable && s.NodeError != ""
	})
	// Reads still work while the node is unreachable, and the chain moves
	// on without the daemon.
	require.Equal(t, int64(0), c.balance().ConfirmedSat)
	tx := f.pay(n, payment{addr, 70_000_000})
	f.mine(n, 2)

	p.up()
	c.waitSynced()
	require.True(t, c.status().NodeReachable)
	expectUTXOs(t, c, map[wire.OutPoint]int64{paidTo(t, tx, 70_000_000): 70_000_000})
}

// testCoinbaseMaturity mines block rewards straight to the reserve. btcd
// takes its mining address at start and cannot change it, so the node
// starts only once the reserve has an address; the daemon waits for it.
func testCoinbaseMaturity(t *testing.T, _ *harness) {
	n := newNode(t)
	c := startCustosd(t, n)
	createReserve(t, c, 2, 2)
	addr, _ := c.newAddress("mining")
	n.mineTo = decodeAddress(t, addr)
	n.start()

	reward := func(hashes []chainhash.Hash) (sum int64) {
		for _, h := range hashes {
			sum += n.block(h).Transactions[0].TxOut[0].Value
		}
		return sum
	}
	first := reward(n.mine(1))
	c.waitSynced()
	require.Equal(t, balanceOut{ImmatureSat: first, SyncedHeight: 1}, c.balance())

	more := reward(n.mine(98))
	c.waitSynced()
	require.Equal(t, balanceOut{ImmatureSat: first + more, SyncedHeight: 99}, c.balance(), "99 confirmations: still immature")

	last := reward(n.mine(1))
	c.waitSynced()
	require.Equal(t, balanceOut{ConfirmedSat: first, ImmatureSat: more + last, SyncedHeight: 100}, c.balance())
	for _, u := range c.utxos() {
		require.Equal(t, u.Height == 1, u.Confirmations == 100)
	}
}
