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
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

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
	defaultKills     = 10
)

// fpRun drives the README flow through random kills: before every step
// custosd is restarted with one random failpoint armed (a random number
// of hits skipped); custosctl's export and the signers run armed half of
// the time. After every kill the store is checked with custosd stopped,
// custosd is restarted, and the step goes on from what the daemon says.
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
	// done: none of it may be lost.
	audit    []store.AuditEntry
	officers map[string]map[string]bool // proposal -> officers reported approving
	signers  map[string]map[int]bool    // proposal -> cosigners reported signed
	states   map[string]string          // proposal -> last reported state
}

// daemonPoints are the points inside custosd.
func daemonPoints() []failpoint.Name {
	var out []failpoint.Name
	for _, n := range failpoint.All() {
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
	r := &fpRun{
		t: t, h: h, c: h.custos, rng: rand.New(rand.NewSource(seed)),
		fired: map[failpoint.Name]int{}, officers: map[string]map[string]bool{},
		signers: map[string]map[int]bool{}, states: map[string]string{},
	}
	start := time.Now()
	signers := r.setup()
	var funded, paid int64
	rounds := 0
	for rounds == 0 || r.kills < target {
		rounds++
		funded += 100_000_000
		paid += r.round(signers, rounds)
	}

	// The end: every round's proposal CONFIRMED, nothing else, and the
	// balance right.
	r.c.stop()
	r.checkStore()
	r.c.start() // unarmed
	r.c.waitSynced()
	var list []proposalOut
	r.c.ctlJSON(&list, "spend", "list")
	require.Len(t, list, rounds, "one proposal per round, none duplicated")
	for _, p := range list {
		require.Equal(t, "CONFIRMED", p.State, p.ID)
	}
	require.Equal(t, balanceOut{ConfirmedSat: funded - paid, SyncedHeight: h.node.height()}, r.c.balance())

	var names []string
	for n, k := range r.fired {
		names = append(names, fmt.Sprintf("%s=%d", n, k))
	}
	sort.Strings(names)
	var never []string
	for _, n := range failpoint.All() {
		if r.fired[n] == 0 {
			never = append(never, string(n))
		}
	}
	t.Logf("failpoint run: seed %d, %d rounds, %d kills, %d of %d points fired in %s", seed, rounds, r.kills, len(r.fired), len(failpoint.All()), time.Since(start).Round(time.Second))
	t.Logf("failpoint run: fired: %s", strings.Join(names, " "))
	t.Logf("failpoint run: never fired: %s", strings.Join(never, " "))
	fmt.Printf("FAILPOINT-SUMMARY seed=%d rounds=%d kills=%d points=%d/%d wall=%s\n", seed, rounds, r.kills, len(r.fired), len(failpoint.All()), time.Since(start).Round(time.Second))
}

// setup creates the 2-of-3 reserve and its policy, and has the signers
// pin both; it returns the signers.
func (r *fpRun) setup() []*signer {
	t, c := r.t, r.c
	signers := make([]*signer, 3)
	args := []string{"wallet", "create", "--name", "treasury reserve", "--threshold", "2"}
	for i := range signers {
		signers[i] = newSigner(t, i)
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
	for _, s := range signers {
		s.register(t, w.Descriptor, pinned)
	}
	return signers
}

// round runs one payment of the README flow on a fresh 1 BTC coin and
// returns what it took from the reserve (payment and fee).
func (r *fpRun) round(signers []*signer, n int) int64 {
	t, h := r.t, r.h
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
			h.funder.pay(h.node, payment{addr, 100_000_000})
			h.funder.mine(h.node, 1)
			funded = true
		}
		return r.waitSynced()
	})

	// Propose, unless a kill after the commit left the proposal without
	// the CLI hearing of it: then it is in the list, holding the coin.
	amount := int64(1_000_000 + n)
	payees := allowlisted(t)
	payee := payees[n%len(payees)]
	var id string
	r.step("propose", []failpoint.Name{failpoint.StoreCreateProposalPrecommit, failpoint.StoreCreateProposalCommitted}, func() error {
		var list []proposalOut
		if err := r.ctlJSON(&list, "spend", "list"); err != nil {
			return err
		}
		for _, p := range list {
			if p.State != "CONFIRMED" {
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
	// Approve with two officers, each only if the daemon does not show
	// the approval yet.
	for _, o := range officers[:2] {
		r.step("approve by "+o.id, []failpoint.Name{failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted, failpoint.DaemonReleaseBefore, failpoint.DaemonReleaseRecorded}, func() error {
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
	r.step("released", []failpoint.Name{failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted, failpoint.DaemonReleaseBefore, failpoint.DaemonReleaseRecorded}, func() error { return r.waitState(id, "SIGNING", "FINALIZED", "BROADCAST", "CONFIRMED") })

	// Export (custosctl armed half of the time), sign with two signers
	// (armed half of the time), import both.
	file := filepath.Join(t.TempDir(), id+".psbt")
	r.step("export", nil, func() error { return r.export(id, file) })
	var signed []string
	for _, s := range signers[:2] {
		signed = append(signed, r.sign(s, file))
	}
	for _, f := range signed {
		r.step("import", []failpoint.Name{failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted, failpoint.DaemonFinalized, failpoint.DaemonBroadcastBefore, failpoint.DaemonBroadcastAccepted}, func() error {
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
	r.step("broadcast", []failpoint.Name{failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted, failpoint.DaemonBroadcastBefore, failpoint.DaemonBroadcastAccepted, failpoint.StoreApplyMempoolPrecommit, failpoint.StoreApplyMempoolCommitted}, func() error { return r.waitState(id, "BROADCAST", "CONFIRMED") })
	var done proposalOut
	mined := false
	r.step("confirmed", []failpoint.Name{failpoint.StoreApplyBlockPrecommit, failpoint.StoreApplyBlockCommitted, failpoint.StoreUpdateProposalPrecommit, failpoint.StoreUpdateProposalCommitted}, func() error {
		if !mined {
			h.funder.mine(h.node, 1)
			mined = true
		}
		if err := r.waitState(id, "CONFIRMED"); err != nil {
			return err
		}
		return r.ctlJSON(&done, "spend", "show", id)
	})
	r.report(done)
	require.Len(t, done.Signers, 2)
	return amount + done.FeeSat
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
		r.armed = points[r.rng.Intn(len(points))]
		terms := fmt.Sprintf(`%s=%d*off->return("kill")`, r.armed, r.rng.Intn(2))
		if r.startArmed(terms) {
			return
		}
		r.recover()
	}
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
		if p.State.HoldsCoins() {
			for _, in := range p.Inputs {
				require.Equal(t, p.ID, res[in.OutPoint], "%s: input %s not reserved by it", p.ID, in.OutPoint)
				other, dup := holder[in.OutPoint]
				require.False(t, dup, "outpoint %s held by %s and %s", in.OutPoint, other, p.ID)
				holder[in.OutPoint] = p.ID
			}
		}
	}
	for id := range r.states {
		_, ok := byID[id]
		require.True(t, ok, "reported proposal %s lost", id)
	}
	for op, id := range res {
		_, ok := byID[id]
		require.True(t, ok, "outpoint %s reserved by unknown proposal %s", op, id)
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
