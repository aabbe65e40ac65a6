//go:build itest

package itest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/failpoint"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// Environment of the failpoint run: CUSTOS_FAILPOINT_SEED replays a run
// (its seed is logged), CUSTOS_KILLS is how many kills to reach before
// the last round (scripts/failpoints.sh asks for 200).
const (
	envFailpointSeed = "CUSTOS_FAILPOINT_SEED"
	envKills         = "CUSTOS_KILLS"
	defaultKills     = 20
)

// fpRun drives the README flow through random kills: before every step
// custosd is restarted with one random failpoint armed (a random number
// of hits skipped); custosctl's export and the signers run armed half of
// the time. After every kill the store is checked with custosd stopped,
// custosd is restarted, and the step goes on from what the daemon says.
//
// Some rounds add what the plain flow never does (roundPlan): a freeze
// lifted by two officers, a reorganisation two blocks deep, a broadcast
// payment made unconfirmable by `spend cancel --conflict` whose kept coins
// are released once the conflict is buried, and a fresh reserve (wallet
// create and policy set, on a new daemon) every few rounds.
type fpRun struct {
	t   *testing.T
	h   *harness
	c   *custosd
	rng *rand.Rand

	kills int
	fired map[failpoint.Name]int
	// armed is custosd's armed point; "" when none.
	armed failpoint.Name

	// What the store held at the last check, and what the CLI reported
	// done: none of it may be lost. Reset with each fresh reserve.
	audit    []store.AuditEntry
	officers map[string]map[string]bool // proposal -> officers reported approving
	signers  map[string]map[int]bool    // proposal -> cosigners reported signed
	states   map[string]string          // proposal -> last reported state
}

// fpReserve is one reserve of the run, on its own daemon and signers,
// and what it must show when its last round is done.
type fpReserve struct {
	c       *custosd
	signers []*signer
	funded  int64
	paid    int64
	// proposals is how many proposals the reserve made; ended are those
	// that must end unconfirmed (a payment cancelled by a conflicting
	// spend) with their kept coins released.
	proposals int
	ended     map[string]bool
}

// roundPlan is what round n adds to the README flow. A fresh reserve
// starts every freshEvery rounds from the second (the harness's daemon is
// the first reserve), so the short run (3 or 4 rounds) passes a freeze, a
// fresh reserve, a conflict and a reorg.
type roundPlan struct {
	fresh, freeze, conflict, reorg bool
}

const freshEvery = 3

func planRound(n int) roundPlan {
	return roundPlan{
		fresh:    n%freshEvery == 2,
		freeze:   n%2 == 1,
		conflict: n%4 == 2,
		reorg:    n%2 == 0,
	}
}

// unreachable are the listed points the flow never passes:
// store.txKind's fallback for a db.update call its table does not know,
// which store's TestTxKindsCoverUpdates proves no call reaches, and the
// restore's, an offline operator step. The fallback's stay
// listed so a new transaction without its own points still crashes
// somewhere named; the run neither arms them nor counts them.
var unreachable = map[failpoint.Name]bool{
	failpoint.StoreOtherPrecommit: true,
	failpoint.StoreOtherCommitted: true,
	// Restoring a backup is an operator's offline step (custosd restore),
	// not part of the flow: store.TestRestoreRoundTrip and the backup
	// itest cover it.
	failpoint.StoreRestorePrecommit: true,
	failpoint.StoreRestoreCommitted: true,
	// The daemon records cosignatures inside the import's own
	// transaction (the update-proposal points); RecordWitnesses alone is
	// not on the daemon's path.
	failpoint.StoreRecordWitnessesPrecommit: true,
	failpoint.StoreRecordWitnessesCommitted: true,
}

// daemonPoints are the reachable points inside custosd.
func daemonPoints() []failpoint.Name {
	var out []failpoint.Name
	for _, n := range failpoint.All() {
		if unreachable[n] {
			continue
		}
		if strings.HasPrefix(string(n), "store-") || strings.HasPrefix(string(n), "daemon-") {
			out = append(out, n)
		}
	}
	return out
}

func testFailpoints(t *testing.T, h *harness) {
	seed := time.Now().UnixNano()
	if s := os.Getenv(envFailpointSeed); s != "" {
		var err error
		seed, err = strconv.ParseInt(s, 10, 64)
		require.NoError(t, err, envFailpointSeed)
	}
	target := defaultKills
	if s := os.Getenv(envKills); s != "" {
		var err error
		target, err = strconv.Atoi(s)
		require.NoError(t, err, envKills)
	}
	t.Logf("failpoint run: %s=%d %s=%d", envFailpointSeed, seed, envKills, target)
	r := &fpRun{t: t, h: h, rng: rand.New(rand.NewSource(seed)), fired: map[failpoint.Name]int{}}
	start := time.Now()
	res := r.newReserve(h.custos, 0)
	reserves := 1
	rounds := 0
	for rounds == 0 || r.kills < target {
		rounds++
		plan := planRound(rounds)
		if plan.fresh {
			r.finish(res)
			res = r.newReserve(&custosd{t: t, dir: t.TempDir(), node: h.node, nodeHost: h.node.host()}, reserves)
			t.Cleanup(res.c.stop)
			reserves++
		}
		r.round(res, rounds, plan)
	}
	r.finish(res)
	r.summary(seed, rounds, reserves, time.Since(start))
}

// summary logs and prints the points that fired; the reachable ones that
// never did are listed.
func (r *fpRun) summary(seed int64, rounds, reserves int, wall time.Duration) {
	var names, never []string
	for n, k := range r.fired {
		names = append(names, fmt.Sprintf("%s=%d", n, k))
	}
	sort.Strings(names)
	reachable := 0
	for _, n := range failpoint.All() {
		if unreachable[n] {
			continue
		}
		reachable++
		if r.fired[n] == 0 {
			never = append(never, string(n))
		}
	}
	wall = wall.Round(time.Second)
	r.t.Logf("failpoint run: seed %d, %d rounds, %d reserves, %d kills, %d of %d reachable points fired (%d listed) in %s",
		seed, rounds, reserves, r.kills, len(r.fired), reachable, len(failpoint.All()), wall)
	r.t.Logf("failpoint run: fired: %s", strings.Join(names, " "))
	r.t.Logf("failpoint run: never fired: %s", strings.Join(never, " "))
	fmt.Printf("FAILPOINT-SUMMARY seed=%d rounds=%d reserves=%d kills=%d points=%d/%d reachable, %d listed wall=%s\n",
		seed, rounds, reserves, r.kills, len(r.fired), reachable, len(failpoint.All()), wall)
	if len(never) > 0 {
		fmt.Printf("FAILPOINT-SUMMARY never fired: %s\n", strings.Join(never, " "))
	}
}

// newReserve makes reserve k on c (not running, or running unarmed):
// fresh bookkeeping, the wallet from ministries 3k..3k+2 (other keys than
// every earlier reserve, so no two reserves share an address) and its
// policy, created through kills.
func (r *fpRun) newReserve(c *custosd, k int) *fpReserve {
	r.c = c
	r.audit = nil
	r.officers, r.signers, r.states = map[string]map[string]bool{}, map[string]map[int]bool{}, map[string]string{}
	return &fpReserve{c: c, signers: r.setup(k), ended: map[string]bool{}}
}

// finish checks reserve res at its end: every proposal CONFIRMED but the
// payments cancelled by a conflict, which ended without holding coins;
// the balance is what was funded less what was paid; the store holds no
// reservation but a confirmed proposal's. custosd is left stopped.
func (r *fpRun) finish(res *fpReserve) {
	t := r.t
	r.c.stop()
	r.checkStore()
	r.c.start() // unarmed
	r.c.waitSynced()
	var list []proposalOut
	r.c.ctlJSON(&list, "spend", "list")
	require.Len(t, list, res.proposals, "one proposal per round and per conflict, none duplicated")
	for _, p := range list {
		if !res.ended[p.ID] {
			require.Equal(t, "CONFIRMED", p.State, p.ID)
			continue
		}
		require.Contains(t, []string{"FAILED", "REPLACED"}, p.State, p.ID)
		var held heldOut
		r.c.ctlJSON(&held, "spend", "show", p.ID)
		require.False(t, held.CoinsHeld, "%s still holds its coins", p.ID)
	}
	require.Equal(t, balanceOut{ConfirmedSat: res.funded - res.paid, SyncedHeight: r.h.node.height()}, r.c.balance())
	r.c.stop()

	db, err := store.Open(filepath.Join(r.c.dir, "custos.db"), store.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer db.Close()
	props, err := db.Proposals(context.Background(), reserve.StateUnspecified)
	require.NoError(t, err)
	state := map[string]reserve.State{}
	for _, p := range props {
		state[p.ID] = p.State
	}
	held, err := db.Reservations(context.Background())
	require.NoError(t, err)
	for op, id := range held {
		require.Equal(t, reserve.StateConfirmed, state[id], "outpoint %s still reserved by %s", op, id)
	}
}

// heldOut is the part of spend show that says whether an ended proposal
// keeps its coins.
type heldOut struct {
	State     string `json:"state"`
	CoinsHeld bool   `json:"coins_held"`
}

// setup creates the 2-of-3 reserve k and its policy, and has the signers
// pin both; it returns the signers.
func (r *fpRun) setup(k int) []*signer {
	t, c := r.t, r.c
	signers := make([]*signer, 3)
	args := []string{"wallet", "create", "--name", "treasury reserve", "--threshold", "2"}
	for i := range signers {
		signers[i] = newSigner(t, 3*k+i)
		args = append(args, "--cosigner", signers[i].keyRecord)
	}
	r.step("create wallet", []failpoint.Name{failpoint.StoreCreateWalletPrecommit, failpoint.StoreCreateWalletCommitted, failpoint.StoreRecordAddressesPrecommit, failpoint.StoreRecordAddressesCommitted, failpoint.StoreRecordNetworkPrecommit, failpoint.StoreRecordNetworkCommitted}, func() error {
		var s statusOut
		if err := r.ctlJSON(&s, "status"); err != nil || s.WalletExists {
			return err
		}
		return r.ctlJSON(&walletOut{}, args...)
	})
	var w walletOut
	r.step("show wallet", nil, func() error { return r.ctlJSON(&w, "wallet", "show") })
	require.Equal(t, 2, w.Threshold)

	src := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(src, []byte(itestPolicy(t, policyParams{})), 0o600))
	pinned := filepath.Join(t.TempDir(), "pinned-policy.yaml")
	r.step("set policy", []failpoint.Name{failpoint.StoreUpdateGovernancePrecommit, failpoint.StoreUpdateGovernanceCommitted}, func() error {
		var g struct {
			Policy *json.RawMessage `json:"policy"`
		}
		if err := r.ctlJSON(&g, "policy", "show"); err != nil {
			return err
		}
		if g.Policy == nil {
			if err := r.ctlJSON(&struct{}{}, "policy", "set", src); err != nil {
				return err
			}
		}
		_ = os.Remove(pinned)
		_, err := c.ctl("policy", "show", "--out", pinned)
		return err
	})
	// The ministries pin the log key: every signature below also
	// witnesses the daemon's log, so a crash that let the log go back
	// on what a signer saw would be refused by the next signing.
	var cp struct {
		LogKey string `json:"log_key"`
	}
	r.step("log key", nil, func() error { return r.ctlJSON(&cp, "audit", "checkpoint") })
	for _, s := range signers {
		s.register(t, w.Descriptor, pinned)
		s.pinLog(t, cp.LogKey)
	}
	return signers
}

// Points by the work a step does.
var (
	fpProposalPoints = []failpoint.Name{failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted, failpoint.DaemonReleaseBefore, failpoint.DaemonReleaseRecorded}
	fpImportPoints   = []failpoint.Name{failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted, failpoint.DaemonFinalized, failpoint.DaemonBroadcastBefore, failpoint.DaemonBroadcastAccepted}
	fpBroadcast      = []failpoint.Name{failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted, failpoint.DaemonBroadcastBefore, failpoint.DaemonBroadcastAccepted, failpoint.StoreApplyMempoolPrecommit, failpoint.StoreApplyMempoolCommitted}
	fpConfirmed      = []failpoint.Name{failpoint.StoreApplyBlockPrecommit, failpoint.StoreApplyBlockCommitted, failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted}
	fpGovernance     = []failpoint.Name{failpoint.StoreUpdateGovernancePrecommit, failpoint.StoreUpdateGovernanceCommitted}
	fpReorg          = []failpoint.Name{failpoint.StoreDisconnectTipPrecommit, failpoint.StoreDisconnectTipCommitted, failpoint.StoreApplyBlockPrecommit, failpoint.StoreApplyBlockCommitted}
)

// liveStates are the states of a proposal still under way.
var liveStates = []string{"PENDING_APPROVAL", "APPROVED", "SIGNING", "FINALIZED", "BROADCAST"}

// round runs one payment of the README flow on a fresh 1 BTC coin of
// reserve res, with what plan adds.
func (r *fpRun) round(res *fpReserve, n int, plan roundPlan) {
	t, h := r.t, r.h
	// A conflict round pays more than any one coin from two fresh ones:
	// the conflict spends one input back, the payment keeps the other
	// until the conflict is buried (store.DB.ReleaseSpent).
	coins, amount := 1, int64(1_000_000+n)
	if plan.conflict {
		coins, amount = 2, int64(150_000_000+n)
	}
	res.funded += int64(coins) * 100_000_000
	if plan.freeze {
		r.freezeThaw()
	}
	var addr string
	r.step("new address", []failpoint.Name{failpoint.StoreIssueAddressPrecommit, failpoint.StoreIssueAddressCommitted, failpoint.StoreRecordAddressesPrecommit, failpoint.StoreRecordAddressesCommitted}, func() error {
		var a struct {
			Address string `json:"address"`
		}
		err := r.ctlJSON(&a, "address", "new", "--label", fmt.Sprintf("round %d", n))
		addr = a.Address
		return err
	})
	// Paid and mined inside the step, so the armed custosd sees them.
	funded := false
	r.step("synced after funding", []failpoint.Name{failpoint.StoreApplyBlockPrecommit, failpoint.StoreApplyBlockCommitted, failpoint.StoreApplyMempoolPrecommit, failpoint.StoreApplyMempoolCommitted, failpoint.StoreRecordAddressesPrecommit, failpoint.StoreRecordAddressesCommitted}, func() error {
		if !funded {
			pays := []payment{{addr, 100_000_000}}
			if coins == 2 {
				pays = append(pays, payment{addr, 100_000_000})
			}
			h.funder.pay(h.node, pays...)
			h.funder.mine(h.node, 1)
			funded = true
		}
		return r.waitSynced()
	})

	// Propose, unless a kill after the commit left the proposal without
	// the CLI hearing of it: then it is in the list, holding the coin.
	payees := allowlisted(t)
	payee := payees[n%len(payees)]
	var id string
	r.step("propose", []failpoint.Name{failpoint.StoreCreateProposalPrecommit, failpoint.StoreCreateProposalCommitted}, func() error {
		var list []proposalOut
		if err := r.ctlJSON(&list, "spend", "list"); err != nil {
			return err
		}
		for _, p := range list {
			if slices.Contains(liveStates, p.State) {
				require.Empty(t, id, "two live proposals: %s and %s", id, p.ID)
				id = p.ID
			}
		}
		if id != "" {
			return nil
		}
		var p proposalOut
		err := r.ctlJSON(&p, "spend", "propose", "--feerate", "3", "--memo", "itest",
			"--to", payee+"="+reserve.FormatBTC(amount))
		if err == nil {
			id = p.ID
			r.report(p)
		}
		return err
	})
	res.proposals++
	r.carryOut(id, res.signers)
	if plan.conflict {
		// The payment is broadcast, not mined: a conflicting spend
		// replaces it in the mempool, confirms, and the payment ends
		// with its signatures, keeping its coins until the daemon sees
		// the conflict buried.
		cid := r.cancelConflict(id)
		res.proposals++
		res.ended[id] = true
		r.carryOut(cid, res.signers)
		res.paid += r.confirm(cid, id).FeeSat
	} else {
		done := r.confirm(id, "")
		require.Len(t, done.Signers, 2)
		res.paid += amount + done.FeeSat
	}
	if plan.reorg {
		r.reorg()
	}
}

// carryOut takes proposal id from its approvals to BROADCAST: two
// officers approve (each only if the daemon does not show the approval
// yet), it is exported (custosctl armed half of the time), signed by two
// signers (armed half of the time), and both signatures imported.
func (r *fpRun) carryOut(id string, signers []*signer) {
	t := r.t
	for _, o := range officers[:2] {
		r.step("approve by "+o.id, fpProposalPoints, func() error {
			var p proposalOut
			if err := r.ctlJSON(&p, "spend", "show", id); err != nil {
				return err
			}
			for _, d := range p.Decisions {
				if d.Officer == o.id && d.Decision == "approve" {
					return nil
				}
			}
			out, err := r.asOfficer(o, "spend", "approve", id, "--json")
			if err != nil {
				return err
			}
			require.NoError(t, json.Unmarshal([]byte(out), &p), out)
			r.report(p)
			return nil
		})
	}
	r.step("released", fpProposalPoints, func() error { return r.waitState(id, "SIGNING", "FINALIZED", "BROADCAST", "CONFIRMED") })

	file := filepath.Join(t.TempDir(), id+".psbt")
	r.step("export", nil, func() error { return r.export(id, file) })
	var signed []string
	for _, s := range signers[:2] {
		signed = append(signed, r.sign(s, file))
	}
	for _, f := range signed {
		r.step("import", fpImportPoints, func() error {
			var out struct {
				Added int `json:"signatures_added"`
			}
			if err := r.ctlJSON(&out, "spend", "import", id, f); err != nil {
				return err
			}
			var p proposalOut
			if err := r.ctlJSON(&p, "spend", "show", id); err != nil {
				return err
			}
			r.report(p)
			return nil
		})
	}
	r.step("broadcast", fpBroadcast, func() error { return r.waitState(id, "BROADCAST", "CONFIRMED") })
}

// confirm mines a block and waits for proposal id to confirm and, when
// released is not "", for that payment, its input spent by id's
// transaction, to release its kept coins: custosd does both in the ticks
// after the block, so the release's points are armed here.
func (r *fpRun) confirm(id, released string) proposalOut {
	var done proposalOut
	mined := false
	points := fpConfirmed
	if released != "" {
		points = append(slices.Clone(fpConfirmed), failpoint.StoreReleaseSpentPrecommit, failpoint.StoreReleaseSpentCommitted)
	}
	r.step("confirmed", points, func() error {
		if !mined {
			r.h.funder.mine(r.h.node, 1)
			mined = true
		}
		if err := r.waitState(id, "CONFIRMED"); err != nil {
			return err
		}
		if released != "" {
			if err := r.waitReleased(released); err != nil {
				return err
			}
		}
		return r.ctlJSON(&done, "spend", "show", id)
	})
	r.report(done)
	return done
}

// cancelConflict is `spend cancel --conflict` on the broadcast proposal
// id, unless a kill after the commit left the conflict without the CLI
// hearing of it: then it is in the list, superseding id. It returns the
// conflict's id.
func (r *fpRun) cancelConflict(id string) string {
	var cid string
	r.step("cancel by conflict", []failpoint.Name{failpoint.StoreCreateProposalPrecommit, failpoint.StoreCreateProposalCommitted, failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted}, func() error {
		var list []proposalOut
		if err := r.ctlJSON(&list, "spend", "list"); err != nil {
			return err
		}
		for _, p := range list {
			if slices.Contains(p.Supersedes, id) {
				cid = p.ID
				return nil
			}
		}
		var out struct {
			Proposal proposalOut `json:"proposal"`
			Conflict proposalOut `json:"conflict"`
		}
		if err := r.ctlJSON(&out, "spend", "cancel", id, "--conflict", "--feerate", "25", "--reason", "failpoint drill"); err != nil {
			return err
		}
		r.report(out.Proposal)
		r.report(out.Conflict)
		cid = out.Conflict.ID
		return nil
	})
	require.NotEmpty(r.t, cid)
	return cid
}

// waitReleased waits for the payment id, its input spent by a buried
// conflict, to end without holding coins.
func (r *fpRun) waitReleased(id string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var p heldOut
		if err := r.ctlJSON(&p, "spend", "show", id); err != nil {
			return err
		}
		if (p.State == "FAILED" || p.State == "REPLACED") && !p.CoinsHeld {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("%s never released its coins; log:\n%s", id, tail(r.c.log(), 40))
	return nil
}

// freezeThaw has one officer freeze the reserve and two others lift the
// freeze, each only if the daemon does not show it done yet.
func (r *fpRun) freezeThaw() {
	var g governanceOut
	r.step("policy show", nil, func() error { return r.ctlJSON(&g, "policy", "show") })
	epoch := g.Freeze.Epoch + 1
	r.step("freeze", fpGovernance, func() error {
		if err := r.ctlJSON(&g, "policy", "show"); err != nil {
			return err
		}
		if g.Freeze.Epoch >= epoch {
			return nil
		}
		_, err := r.asOfficer(officers[1], "freeze", "--reason", "failpoint drill")
		return err
	})
	for _, o := range []officerKey{officers[0], officers[2]} {
		r.step("unfreeze by "+o.id, fpGovernance, func() error {
			if err := r.ctlJSON(&g, "policy", "show"); err != nil {
				return err
			}
			if !g.Freeze.Frozen {
				return nil
			}
			for _, a := range g.Freeze.Unfreeze {
				if a.Officer == o.id {
					return nil
				}
			}
			_, err := r.asOfficer(o, "unfreeze")
			return err
		})
	}
	// A call the role table refuses is a security event: recorded in the
	// audit log in a transaction of its own.
	r.step("a refused call", []failpoint.Name{failpoint.StoreAppendAuditEventPrecommit, failpoint.StoreAppendAuditEventCommitted}, func() error {
		_, err := r.c.ctl(append([]string{"identity", "list"}, r.c.officerCert(r.t, officers[0])...)...)
		if err != nil && strings.Contains(err.Error(), "PermissionDenied") {
			return nil
		}
		if err == nil {
			return errors.New("an officer listed the identities")
		}
		return err
	})
	r.step("thawed", nil, func() error { return r.ctlJSON(&g, "policy", "show") })
	require.False(r.t, g.Freeze.Frozen, "two unfreeze approvals lift the freeze")
	require.Equal(r.t, epoch, g.Freeze.Epoch)
}

// governanceOut is the part of policy show the freeze steps read.
type governanceOut struct {
	Freeze struct {
		Frozen   bool   `json:"frozen"`
		Epoch    uint64 `json:"epoch"`
		Unfreeze []struct {
			Officer string `json:"officer"`
		} `json:"unfreeze_approvals"`
	} `json:"freeze"`
}

// reorg mines two blocks, waits for custosd to record them, then has the
// node invalidate them and mine three others: custosd disconnects two
// tips and applies the new chain. The blocks hold none of the reserve's
// transactions (the mempool is empty between rounds) and their rewards
// are not the funder's to spend.
func (r *fpRun) reorg() {
	n := r.h.node
	var doomed chainhash.Hash
	mined := false
	r.step("synced before reorg", fpConfirmed, func() error {
		if !mined {
			doomed = n.mine(2)[0]
			mined = true
		}
		return r.waitSynced()
	})
	reorged := false
	r.step("reorg", fpReorg, func() error {
		if !reorged {
			n.invalidate(doomed)
			n.mine(3)
			reorged = true
		}
		return r.waitSynced()
	})
}

// step runs fn until it succeeds, arming custosd afresh before each try
// with one of points (the ones the step's work passes; any daemon point
// a quarter of the time, or when points is empty); an error while
// custosd died is a kill: the store is checked, custosd restarted, and fn
// tried again. Any other error fails the test.
func (r *fpRun) step(what string, points []failpoint.Name, fn func() error) {
	r.t.Helper()
	for try := 0; ; try++ {
		require.Less(r.t, try, 50, "step %q never completes", what)
		r.rearm(points)
		err := fn()
		if err == nil {
			if r.died() {
				r.recover()
			}
			return
		}
		if !r.died() {
			r.t.Fatalf("step %q: %v\nlog tail:\n%s", what, err, tail(r.c.log(), 40))
		}
		r.recover()
	}
}

// died waits a little for custosd to exit, as a kill makes the CLI's
// call fail a moment before the process is reaped.
func (r *fpRun) died() bool {
	if r.c.cmd == nil {
		return true
	}
	select {
	case <-r.c.done:
		return true
	case <-time.After(300 * time.Millisecond):
		return false
	}
}

// recover accounts for the kill, checks the store with custosd stopped.
// The next step (or try) restarts it armed.
func (r *fpRun) recover() {
	t := r.t
	t.Helper()
	if r.c.cmd != nil {
		<-r.c.done
		code := r.c.cmd.ProcessState
		require.False(t, code.Success(), "custosd exited without a kill")
		r.c.cmd = nil
		r.c.logf.Close()
	}
	require.NotEmpty(t, r.armed, "custosd died with no failpoint armed; log:\n%s", tail(r.c.log(), 40))
	require.Contains(t, tail(r.c.log(), 5), "failpoint: "+string(r.armed)+": kill", "custosd died elsewhere than its armed point")
	r.killed(r.armed)
	r.armed = ""
	r.checkStore()
}

func (r *fpRun) killed(n failpoint.Name) {
	r.kills++
	r.fired[n]++
	r.t.Logf("kill %d at %s", r.kills, n)
}

// rearm restarts custosd with one random point of points armed
// (any daemon point a quarter of the time), skipping 0 or 1 of its hits;
// a kill while it starts is recovered from and it is armed again.
func (r *fpRun) rearm(points []failpoint.Name) {
	if len(points) == 0 || r.rng.Intn(4) == 0 {
		points = daemonPoints()
	}
	for {
		if r.c.cmd != nil {
			r.c.stop()
		}
		r.armed = r.pick(points)
		terms := fmt.Sprintf(`%s=%d*off->return("kill")`, r.armed, r.rng.Intn(2))
		if r.startArmed(terms) {
			return
		}
		r.recover()
	}
}

// pick chooses the point to arm: three times in four one of points that
// fired least so far, so the steps that pass a point rarely (a reorg,
// a release) still fire it in a short run; otherwise any of points.
func (r *fpRun) pick(points []failpoint.Name) failpoint.Name {
	if r.rng.Intn(4) == 0 {
		return points[r.rng.Intn(len(points))]
	}
	var least []failpoint.Name
	for _, n := range points {
		switch {
		case len(least) == 0 || r.fired[n] < r.fired[least[0]]:
			least = []failpoint.Name{n}
		case r.fired[n] == r.fired[least[0]]:
			least = append(least, n)
		}
	}
	return least[r.rng.Intn(len(least))]
}

// startArmed is custosd.start on the failpoints build with terms in
// GOFAIL_FAILPOINTS; it returns false if custosd died before it listened.
func (r *fpRun) startArmed(terms string) bool {
	c, t := r.c, r.t
	logf, err := os.OpenFile(filepath.Join(c.dir, "custosd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	c.logf = logf
	addrFile := filepath.Join(c.dir, "custosd.addr")
	_ = os.Remove(addrFile)
	args := []string{
		"--datadir", c.dir, "--network", "regtest", "--rpclisten", "127.0.0.1:0",
		"--node.kind", c.node.kind, "--node.rpchost", c.nodeHost, "--node.rpcuser", c.node.user,
		"--poll", "200ms", "--loglevel", "debug", "--confirmations", "1",
	}
	c.cmd = exec.Command(bins.custosdFP, append(args, c.flags...)...)
	c.cmd.Env = append(os.Environ(), "CUSTOSD_NODE_RPCPASS="+c.node.pass, failpoint.EnvVar+"="+terms)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	require.NoError(t, c.cmd.Start())
	c.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(c.cmd, c.done)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return false
		case <-time.After(20 * time.Millisecond):
		}
		if _, err := os.Stat(addrFile); err == nil {
			return true
		}
	}
	t.Fatalf("custosd did not start; log:\n%s", tail(c.log(), 40))
	return false
}

// ctlJSON is custosd.ctlJSON returning the error.
func (r *fpRun) ctlJSON(v any, args ...string) error {
	out, err := r.c.ctl(append(args, "--json")...)
	if err != nil {
		return err
	}
	require.NoError(r.t, json.Unmarshal([]byte(out), v), "output: %s", out)
	return nil
}

func (r *fpRun) asOfficer(o officerKey, args ...string) (string, error) {
	args = append(append(args, r.c.officerCert(r.t, o)...), "--key", o.keyFile, "--yes")
	return r.c.ctlEnv([]string{"CUSTOS_OFFICER_PASSPHRASE=" + officerPassphrase}, args...)
}

func (r *fpRun) waitSynced() error {
	want := r.h.node.bestHash().String()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var s statusOut
		if err := r.ctlJSON(&s, "status"); err != nil {
			return err
		}
		if s.Synced && s.SyncedHash == want {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("custosd not synced to %s", want)
	return nil
}

// waitState waits for proposal id to reach one of states.
func (r *fpRun) waitState(id string, states ...string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var p proposalOut
		if err := r.ctlJSON(&p, "spend", "show", id); err != nil {
			return err
		}
		for _, s := range states {
			if p.State == s {
				r.report(p)
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("%s never reached %v; log:\n%s", id, states, tail(r.c.log(), 40))
	return nil
}

// export writes the proposal's PSBT to file; half of the time custosctl
// runs armed at one of its points and is killed there: then the file is
// absent or whole, and exporting again writes it.
func (r *fpRun) export(id, file string) error {
	_ = os.Remove(file)
	if r.rng.Intn(2) == 0 {
		point := []failpoint.Name{failpoint.CtlExportBeforeWrite, failpoint.CtlExportWritten}[r.rng.Intn(2)]
		cmd := exec.Command(bins.custosctlFP, "spend", "export", id, "--out", file, "--datadir", r.c.dir)
		cmd.Env = append(os.Environ(), failpoint.EnvVar+"="+string(point)+`=return("kill")`)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if !strings.Contains(string(out), "failpoint: "+string(point)+": kill") {
			return fmt.Errorf("custosctl export: %w: %s", err, out)
		}
		r.killed(point)
		if _, statErr := os.Stat(file); point == failpoint.CtlExportBeforeWrite {
			require.True(r.t, errors.Is(statErr, os.ErrNotExist), "killed before the write, yet %s exists", file)
		} else {
			require.NoError(r.t, statErr, "killed after the write, yet %s is missing", file)
		}
		_ = os.Remove(file)
	}
	_, err := r.c.ctl("spend", "export", id, "--out", file)
	return err
}

// sign has s sign file and returns the signed file. Half of the time the
// signer runs armed at one of its points and is killed there; its next
// run must say the transaction is signed already (the ledger has it) and
// write the file without a second ledger entry.
func (r *fpRun) sign(s *signer, file string) string {
	t := r.t
	out := filepath.Join(t.TempDir(), "signed.psbt")
	if r.rng.Intn(2) == 0 {
		points := []failpoint.Name{failpoint.SignerLedgerWritten, failpoint.SignerLedgerSynced, failpoint.SignerOutputBeforeWrite}
		point := points[r.rng.Intn(len(points))]
		cmd := exec.Command(bins.signerFP, "sign", "--in", file, "--out", out, "--yes", "--datadir", s.dir)
		cmd.Env = append(os.Environ(), "CUSTOS_SIGNER_PASSPHRASE="+signerPassphrase, failpoint.EnvVar+"="+string(point)+`=return("kill")`)
		o, err := cmd.CombinedOutput()
		require.Error(t, err, "%s", o)
		require.Contains(t, string(o), "failpoint: "+string(point)+": kill")
		r.killed(point)
		_, statErr := os.Stat(out)
		require.True(t, errors.Is(statErr, os.ErrNotExist), "the signed PSBT was written before the kill")
		before := ledgerLines(t, s)
		stdout := s.run(t, "", "sign", "--in", file, "--out", out, "--yes")
		require.Contains(t, stdout, "Already signed on ", "the run after a kill at %s explains the ledger entry", point)
		require.Equal(t, before, ledgerLines(t, s), "signing again adds no ledger entry")
		return out
	}
	s.run(t, "", "sign", "--in", file, "--out", out, "--yes")
	return out
}

// ledgerLines counts the lines of the signer's ledger.
func ledgerLines(t *testing.T, s *signer) int {
	b, err := os.ReadFile(filepath.Join(s.dir, "ledger.jsonl"))
	require.NoError(t, err)
	return strings.Count(string(b), "\n")
}

// report notes what the CLI reported about a proposal: none of it may be
// lost after a kill.
func (r *fpRun) report(p proposalOut) {
	if p.ID == "" {
		return
	}
	if r.officers[p.ID] == nil {
		r.officers[p.ID], r.signers[p.ID] = map[string]bool{}, map[int]bool{}
	}
	for _, d := range p.Decisions {
		if d.Decision == "approve" {
			r.officers[p.ID][d.Officer] = true
		}
	}
	for _, s := range p.Signers {
		r.signers[p.ID][s.Cosigner] = true
	}
	r.states[p.ID] = p.State
}

// checkStore opens the store while custosd is stopped: the audit log
// numbers its entries 1..N and keeps every entry seen before; every
// approval, signature and state the CLI reported is there, none twice;
// no outpoint is reserved for two proposals, and every proposal holding
// coins holds each of its inputs.
func (r *fpRun) checkStore() {
	t := r.t
	t.Helper()
	db, err := store.Open(filepath.Join(r.c.dir, "custos.db"), store.Options{Timeout: 5 * time.Second})
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()

	audit, err := db.AuditLog(ctx)
	require.NoError(t, err)
	for i, a := range audit {
		require.Equal(t, uint64(i+1), a.Seq, "audit sequence has a gap or a duplicate at %d", i)
	}
	require.GreaterOrEqual(t, len(audit), len(r.audit), "audit entries lost")
	for i, a := range r.audit {
		require.Equal(t, a, audit[i], "audit entry %d changed", a.Seq)
	}
	r.audit = audit

	props, err := db.Proposals(ctx, reserve.StateUnspecified)
	require.NoError(t, err)
	res, err := db.Reservations(ctx)
	require.NoError(t, err)
	byID := map[string]reserve.Proposal{}
	holder := map[wire.OutPoint]string{}
	for _, p := range props {
		byID[p.ID] = p
		seenOfficer, seenCosigner := map[string]bool{}, map[int]bool{}
		for _, d := range p.Decisions {
			if d.Decision != reserve.DecisionApprove {
				continue
			}
			require.False(t, seenOfficer[d.Officer], "%s: approval by %s twice", p.ID, d.Officer)
			seenOfficer[d.Officer] = true
		}
		for _, s := range p.Signatures {
			require.False(t, seenCosigner[s.Cosigner], "%s: signature of cosigner %d twice", p.ID, s.Cosigner)
			seenCosigner[s.Cosigner] = true
		}
		for o := range r.officers[p.ID] {
			require.True(t, seenOfficer[o], "%s: reported approval by %s lost", p.ID, o)
		}
		for c := range r.signers[p.ID] {
			require.True(t, seenCosigner[c], "%s: reported signature of cosigner %d lost", p.ID, c)
		}
		if st, ok := r.states[p.ID]; ok {
			reached := false
			for _, h := range p.History {
				reached = reached || h.State.String() == st
			}
			require.True(t, reached, "%s: reported state %s lost (now %s)", p.ID, st, p.State)
		}
	}
	// A proposal holding coins holds each input, or has handed it to a
	// proposal that replaces it (a conflict spending it back); no two
	// unlinked proposals hold one outpoint.
	supersedes := func(a, b reserve.Proposal) bool {
		return a.Replaces == b.ID || (a.Intent != nil && b.Intent != nil && slices.Contains(a.Intent.Supersedes, b.Intent.ProposalID))
	}
	linked := func(a, b string) bool { return supersedes(byID[a], byID[b]) || supersedes(byID[b], byID[a]) }
	for _, p := range props {
		if !p.State.HoldsCoins() {
			continue
		}
		for _, in := range p.Inputs {
			h, ok := res[in.OutPoint]
			require.True(t, ok && (h == p.ID || linked(h, p.ID)), "%s: input %s not reserved by it (but by %q)", p.ID, in.OutPoint, h)
			other, dup := holder[in.OutPoint]
			require.False(t, dup && !linked(other, p.ID), "outpoint %s held by %s and %s", in.OutPoint, other, p.ID)
			holder[in.OutPoint] = p.ID
		}
	}
	for id := range r.states {
		_, ok := byID[id]
		require.True(t, ok, "reported proposal %s lost", id)
	}
	for op, id := range res {
		_, ok := byID[id]
		require.True(t, ok, "outpoint %s reserved by unknown proposal %s", op, id)
		p := byID[id]
		require.True(t, p.State.HoldsCoins() || p.MaySpend(2), "outpoint %s still reserved by %s, %s without its signatures", op, id, p.State)
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
