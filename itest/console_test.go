//go:build itest

package itest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
)

// The console's scenarios (issue 13), driven in headless Chromium through
// the DOM contract (ids and texts the pages promise). They assert on what
// the page says and on the daemon's state read with custosctl --json.

// enableConsole restarts the daemon with its console on a loopback port
// (and the extra flags) and returns the console's origin from
// <datadir>/console.addr.
func (c *custosd) enableConsole(t *testing.T, extra ...string) string {
	t.Helper()
	addrFile := filepath.Join(c.dir, "console.addr")
	_ = os.Remove(addrFile)
	if !slices.Contains(c.flags, "--console.listen") {
		c.flags = append(c.flags, "--console.listen", "127.0.0.1:0")
	}
	c.flags = append(c.flags, extra...)
	c.restart()
	var origin string
	waitFor(t, 30*time.Second, "console.addr", func() bool {
		b, err := os.ReadFile(addrFile)
		origin = strings.TrimSpace(string(b))
		return err == nil && strings.HasPrefix(origin, "https://127.0.0.1:")
	})
	return origin
}

// serverCert is the daemon's TLS server certificate, which the browser
// pins.
func (c *custosd) serverCert(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(daemon.TLSDir(c.dir), "server.pem"))
	require.NoError(t, err)
	return b
}

// issueOfficerIdentities gives each officer an identity of role officer
// over the API, as the admin would before they use the console. The
// certificates go where officerCert keeps them, so custosctl as that
// officer (asOfficer) uses the same identity.
func (c *custosd) issueOfficerIdentities(t *testing.T, who ...officerKey) {
	t.Helper()
	for _, o := range who {
		var issued identityOut
		c.ctlJSON(&issued, "identity", "issue", "--role", "officer", "--name", o.id, "--out", filepath.Join(c.dir, "officers"))
		require.Equal(t, "officer", issued.Role)
	}
}

type freezeOut struct {
	Freeze struct {
		Frozen   bool   `json:"frozen"`
		FrozenBy string `json:"frozen_by"`
		Reason   string `json:"reason"`
		Unfreeze []struct {
			Officer string `json:"officer"`
		} `json:"unfreeze_approvals"`
	} `json:"freeze"`
}

func (c *custosd) governance(t *testing.T) freezeOut {
	t.Helper()
	var g freezeOut
	c.ctlJSON(&g, "policy", "show")
	return g
}

// revisit shows route afresh (by way of another route, so the page
// fetches again) until sel contains sub: for what changes on the server
// while the page is open.
func (p *page) revisit(route, sel, sub string) string {
	p.t.Helper()
	other := "#/reserve"
	if route == other {
		other = "#/proposals"
	}
	deadline := time.Now().Add(browserWait)
	for {
		p.route(other)
		p.route(route)
		for i := 0; i < 10; i++ {
			if strings.Contains(p.text(sel), sub) {
				p.checkProblems()
				return p.text(sel)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.checkProblems()
		if time.Now().After(deadline) {
			p.t.Fatalf("%s's page: %s never showed %q in %s (it reads %q)%s", p.name, route, sub, sel, p.text(sel), p.context())
		}
	}
}

// errorText is what the page shows as the reason something was refused:
// #error, or #login-error when it sent the person back to log in.
func (p *page) errorText() string {
	return strings.TrimSpace(p.text("#error") + " " + p.text("#login-error"))
}

// decide opens proposal id, presses approve or reject, checks the intent
// review names every payee address, takes a screenshot of the review
// when shot is set, confirms, and waits for the result.
func (p *page) decide(id, decision string, payees []string, shot string) string {
	p.t.Helper()
	p.route("#/proposal/" + id)
	p.waitText("#proposal-id", id)
	p.click("#" + decision + "-button")
	review := p.waitNonEmpty("#intent-review")
	for _, a := range payees {
		require.Contains(p.t, review, a, "the intent review names every payee")
	}
	require.Empty(p.t, p.text("#intent-mismatch"), "server JSON and intent agree")
	if shot != "" {
		p.scrollTo("#decision-panel", "end")
		p.screenshot(shot)
	}
	p.click("#decision-confirm")
	return p.waitNonEmpty("#decision-result")
}

// testConsoleOfficers: issue 13's officer flow in the browser. alice and
// bob, each in a session of their own, approve a payment after reading
// its intent; bob vetoes another during its cool-off; alice freezes the
// reserve (custosctl is then refused) and alice and bob unfreeze it; the
// signers sign the first payment and the browser shows it CONFIRMED.
// Screenshots: reserve, proposals, proposal with the intent review,
// addresses with a QR code, policy.
func testConsoleOfficers(t *testing.T, h *harness) {
	c := h.custos
	_, signers := createReserveWith(t, c, 2, 3, policyParams{coolOff: "1h"})
	// Two large coins: whichever the small payment takes, one is left for
	// the large one. One block each: the balance chart has three steps.
	fund(t, h, 400_000_000)
	fund(t, h, 1_500_000_000)
	fund(t, h, 1_500_000_000)
	alice, bob, carol := officers[0], officers[1], officers[2]
	c.issueOfficerIdentities(t, alice, bob, carol)
	origin := c.enableConsole(t)
	c.waitSynced()

	small := c.proposeOnly(t, 3, payment{externalAddress(t), 30_000_000})
	require.Equal(t, 2, small.ApprovalsNeeded)

	b := startBrowser(t, c.serverCert(t))
	ap := b.session("alice", origin)
	bp := b.session("bob", origin)
	require.Contains(t, ap.login(alice.keyFile, officerPassphrase, "alice"), "officer")

	// The reserve as custosctl sees it.
	ap.route("#/reserve")
	bal := c.balance()
	ap.waitJS("the confirmed balance", `document.querySelector("#balance-confirmed") && document.querySelector("#balance-confirmed").getAttribute("data-sat") === `+jsString(itoa(int(bal.ConfirmedSat))))
	ap.waitPresent("#balance-chart")
	utxos := itoa(len(c.utxos()))
	ap.waitJSOr("the UTXO rows custosctl lists ("+utxos+")", `document.querySelectorAll("#utxo-table tr[data-outpoint]").length === `+utxos,
		func() string { return itoa(ap.count("#utxo-table tr[data-outpoint]")) + " rows" })
	ap.screenshot("reserve")

	// The pending proposal is listed; alice opens it and approves.
	ap.route("#/proposals")
	ap.waitPresent(`#proposal-list tr[data-id="` + small.ID + `"]`)
	ap.screenshot("proposals")
	ap.route("#/proposal/" + small.ID)
	ap.waitText("#proposal-state", "PENDING_APPROVAL")
	ap.waitText("#proposal-approvals", "0 of 2")
	ap.decide(small.ID, "approve", []string{small.Payees[0].Address}, "proposal")
	require.Equal(t, "PENDING_APPROVAL", c.show(t, small.ID).State)
	ap.revisit("#/proposal/"+small.ID, "#proposal-approvals", "1 of 2")

	// bob, in his own session, approves too: it goes to the signers.
	require.Contains(t, bp.login(bob.keyFile, officerPassphrase, "bob"), "officer")
	bp.decide(small.ID, "approve", []string{small.Payees[0].Address}, "")
	got := c.show(t, small.ID)
	require.Equal(t, "SIGNING", got.State)
	require.Len(t, got.Decisions, 2)
	bp.revisit("#/proposal/"+small.ID, "#proposal-state", "SIGNING")

	// A large payment: all three approve (custosctl); bob vetoes it in
	// the browser during its cool-off.
	large := c.proposeOnly(t, 3, payment{externalAddress(t), 1_000_000_000})
	require.Equal(t, "APPROVED", c.approve(t, large.ID, alice, bob, carol).State)
	bp.route("#/proposal/" + large.ID)
	bp.waitText("#proposal-state", "APPROVED")
	bp.waitNonEmpty("#proposal-cooloff")
	bp.decide(large.ID, "reject", []string{large.Payees[0].Address}, "")
	vetoed := c.show(t, large.ID)
	require.Equal(t, "REJECTED", vetoed.State)
	require.Contains(t, vetoed.History[len(vetoed.History)-1].Note, "vetoed by officer bob")
	bp.revisit("#/proposal/"+large.ID, "#proposal-state", "REJECTED")

	// Deposit addresses: a new one with its path and QR code.
	ap.route("#/addresses")
	ap.fill("#new-address-label", "customs duties")
	ap.click("#new-address-button")
	addr := ap.waitNonEmpty("#address-current")
	ap.waitNonEmpty("#address-path")
	ap.waitPresent("#address-qr svg, svg#address-qr")
	ap.waitNonEmpty("#address-verify-note")
	var listed []struct {
		Address string `json:"address"`
		Label   string `json:"label"`
	}
	c.ctlJSON(&listed, "address", "list", "--all")
	found := false
	for _, a := range listed {
		found = found || a.Address == addr
	}
	require.True(t, found, "the page's new address %s is the daemon's", addr)
	ap.screenshot("addresses")

	// Freeze in the browser; custosctl is refused while frozen.
	ap.route("#/policy")
	ap.waitText("#policy-current", "version: 1")
	ap.fill("#freeze-reason", "suspected compromise")
	ap.click("#freeze-button")
	ap.waitJS("frozen", `document.querySelector("#freeze-state") && document.querySelector("#freeze-state").textContent.trim() === "frozen"`)
	g := c.governance(t)
	require.True(t, g.Freeze.Frozen)
	require.Equal(t, "alice", g.Freeze.FrozenBy)
	require.Equal(t, "suspected compromise", g.Freeze.Reason)
	_, err := c.ctl("spend", "export", small.ID, "--out", filepath.Join(t.TempDir(), "frozen.psbt"))
	require.ErrorContains(t, err, "frozen")

	// Unfreeze takes two officers: alice's approval alone lifts nothing.
	ap.click("#unfreeze-button")
	ap.waitNonEmpty("#freeze-result")
	require.True(t, c.governance(t).Freeze.Frozen)
	bp.route("#/policy")
	bp.waitJS("bob sees frozen", `document.querySelector("#freeze-state") && document.querySelector("#freeze-state").textContent.trim() === "frozen"`)
	bp.click("#unfreeze-button")
	bp.waitJS("not frozen", `document.querySelector("#freeze-state") && document.querySelector("#freeze-state").textContent.trim() === "not frozen"`)
	require.False(t, c.governance(t).Freeze.Frozen)

	// The signers sign the first payment; it confirms; the page says so.
	file := c.export(t, small.ID)
	c.importSigned(t, small.ID, signers[0].sign(t, file))
	c.importSigned(t, small.ID, signers[2].sign(t, file))
	c.waitState(t, small.ID, "BROADCAST")
	h.funder.mine(h.node, 1)
	c.waitSynced()
	c.waitState(t, small.ID, "CONFIRMED")
	ap.revisit("#/proposal/"+small.ID, "#proposal-state", "CONFIRMED")
	ap.waitText("#proposal-signers", "2 of 2")

	// A policy change approved in the browser: the admin sets policy 2
	// (proposals expire after a day); the page shows the whole document
	// and the hash it computed from it; carol approves with custosctl,
	// alice and bob in their sessions; custosctl shows it in force.
	next := filepath.Join(t.TempDir(), "next.yaml")
	doc := itestPolicy(t, policyParams{coolOff: "1h", expiry: "24h"})
	require.NoError(t, os.WriteFile(next, []byte(doc), 0o600))
	var set struct {
		Applied bool   `json:"applied"`
		Hash    string `json:"hash"`
	}
	c.ctlJSON(&set, "policy", "set", next)
	require.False(t, set.Applied)
	out, err := c.asOfficer(t, carol, "policy", "approve", "--file", next, "--json")
	require.NoError(t, err, out)
	ap.revisit("#/policy", "#policy-pending", "proposal_expiry: 24h")
	require.Equal(t, strings.TrimSpace(doc), ap.text("#policy-pending"), "the page shows the whole pending document")
	require.Equal(t, set.Hash, ap.text("#policy-pending-hash"))
	require.Contains(t, ap.text("#policy-hash-computed"), set.Hash, "the page hashed the document itself")
	require.Empty(t, ap.text("#policy-mismatch"))
	ap.screenshot("policy")
	ap.click("#approve-policy-button")
	ap.waitText("#policy-result", "Approval recorded: 2 of 3")
	require.Equal(t, uint64(1), c.policyInForce(t).Seq, "two of three approvals apply nothing")
	bp.revisit("#/policy", "#policy-pending", "proposal_expiry: 24h")
	bp.click("#approve-policy-button")
	bp.waitText("#policy-result", "is in force")
	now := c.policyInForce(t)
	require.Equal(t, uint64(2), now.Seq)
	require.Equal(t, set.Hash, now.Hash)
	bp.waitText("#policy-current", "proposal_expiry: 24h")
}

type policyInfoOut struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// policyInForce is the policy custosctl policy show reports in force.
func (c *custosd) policyInForce(t *testing.T) policyInfoOut {
	t.Helper()
	var g struct {
		Policy policyInfoOut `json:"policy"`
	}
	c.ctlJSON(&g, "policy", "show")
	return g.Policy
}

// testConsoleAuditor: an auditor logs in with the login key custosctl
// wrote for them, verifies the log's checkpoint and an inclusion proof in
// the browser, and uploads a `custosctl audit export`: verified; the same
// file with one leaf line edited: FAILED naming that line.
func testConsoleAuditor(t *testing.T, h *harness) {
	c := h.custos
	createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000)
	c.propose(t, 3, payment{externalAddress(t), 10_000_000})
	origin := c.enableConsole(t)

	dir := t.TempDir()
	passFile := filepath.Join(dir, "carol.pass")
	require.NoError(t, os.WriteFile(passFile, []byte("auditor passphrase for the itest\n"), 0o600))
	keyFile := filepath.Join(dir, "carol.auditor")
	var issued identityOut
	c.ctlJSON(&issued, "identity", "issue", "--role", "auditor", "--name", "carol", "--out", filepath.Join(dir, "carol"),
		"--login-key-out", keyFile, "--passphrase-file", passFile)
	require.Equal(t, "auditor", issued.Role)

	b := startBrowser(t, c.serverCert(t))
	cp := b.session("carol", origin)
	require.Contains(t, cp.login(keyFile, "auditor passphrase for the itest", "carol"), "auditor")

	cp.route("#/audit")
	cp.waitJS("audit rows", `document.querySelectorAll("#audit-table tr[data-seq]").length > 5`)
	cp.waitJS("the pinned log key", `(document.querySelector("#audit-log-key") || {}).value`)
	cp.click("#verify-log-button")
	result := cp.waitNonEmpty("#verify-result")
	require.True(t, strings.HasPrefix(result, "verified"), "verify-result: %q", result)

	seq := cp.attr("#audit-table button[data-prove]", "data-prove")
	require.NotEmpty(t, seq)
	cp.click(`#audit-table button[data-prove="` + seq + `"]`)
	proof := cp.waitNonEmpty("#proof-result")
	require.True(t, strings.HasPrefix(proof, "verified"), "proof-result: %q", proof)
	cp.screenshot("audit")

	export := filepath.Join(dir, "audit.jsonl")
	_, err := c.ctl("audit", "export", "--out", export)
	require.NoError(t, err)
	cp.upload("#export-file", export)
	ok := cp.waitNonEmpty("#export-result")
	require.True(t, strings.HasPrefix(ok, "verified"), "export-result: %q", ok)

	edited := filepath.Join(dir, "edited.jsonl")
	require.NoError(t, os.WriteFile(edited, editLine(t, export, 4), 0o600))
	cp.upload("#export-file", edited)
	bad := cp.waitText("#export-result", "FAILED")
	require.True(t, strings.HasPrefix(bad, "FAILED: line 4"), "export-result: %q", bad)
}

// editLine returns the export file with line n's detail (or, lacking
// one, its kind) changed by one word: still JSON, no longer the leaf the
// log recorded.
func editLine(t *testing.T, path string, n int) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := bytes.Split(raw, []byte("\n"))
	require.Greater(t, len(lines), n)
	line := lines[n-1]
	for _, field := range []string{`"detail":"`, `"kind":"`} {
		if i := bytes.Index(line, []byte(field)); i >= 0 {
			at := i + len(field)
			lines[n-1] = append(append(append([]byte{}, line[:at]...), "edited "...), line[at:]...)
			return bytes.Join(lines, []byte("\n"))
		}
	}
	t.Fatalf("line %d of the export has no detail nor kind: %s", n, line)
	return nil
}

// testConsoleRefusals: each refusal shows its reason on the page: a wrong
// passphrase, the key of someone who is not an officer of the policy, a
// revoked identity (the open session's next action, then a new login),
// an expired session. Screenshots: login, a refusal.
func testConsoleRefusals(t *testing.T, h *harness) {
	c := h.custos
	createReserve(t, c, 2, 3)
	alice, bob := officers[0], officers[1]
	c.issueOfficerIdentities(t, alice, bob)
	origin := c.enableConsole(t)
	b := startBrowser(t, c.serverCert(t))
	ap := b.session("alice", origin)

	ap.open("#/login")
	ap.waitPresent("#login-file")
	ap.screenshot("login")

	// A wrong passphrase: the key file does not open, nothing is sent.
	why := ap.loginRefused(alice.keyFile, "not the passphrase")
	require.Contains(t, why, "wrong passphrase")
	ap.screenshot("refusal")

	// An officer key that the policy does not list.
	dave := filepath.Join(t.TempDir(), "dave.officer")
	passFile := filepath.Join(t.TempDir(), "dave.pass")
	require.NoError(t, os.WriteFile(passFile, []byte(officerPassphrase+"\n"), 0o600))
	_, err := c.ctl("officer", "keygen", "--out", dave, "--passphrase-file", passFile)
	require.NoError(t, err)
	why = ap.loginRefused(dave, officerPassphrase)
	require.Contains(t, strings.ToLower(why), "officer", "refusal of a key outside the policy: %q", why)

	// alice logs in; her identity is revoked; her next action says so and
	// a new login is refused.
	ap.login(alice.keyFile, officerPassphrase, "alice")
	ap.route("#/proposals")
	ap.waitPresent("#proposal-list")
	var revoked identityOut
	c.ctlJSON(&revoked, "identity", "revoke", "alice", "--reason", "laptop stolen")
	require.NotEmpty(t, revoked.Revoked)
	ap.route("#/reserve")
	ap.waitJS("the revocation shown", `(document.querySelector("#error") || {}).textContent?.includes("revoked") || (document.querySelector("#login-error") || {}).textContent?.includes("revoked")`)
	why = ap.loginRefused(alice.keyFile, officerPassphrase)
	require.Contains(t, why, "revoked")

	// A session that outlives --console.session-ttl: the next action says
	// it expired.
	origin = c.enableConsole(t, "--console.session-ttl", "5s")
	bp := b.session("bob", origin)
	bp.login(bob.keyFile, officerPassphrase, "bob")
	deadline := time.Now().Add(browserWait)
	for !strings.Contains(bp.errorText(), "expired") {
		require.True(t, time.Now().Before(deadline), "bob's session never expired; the page reads %q", bp.errorText())
		bp.route("#/proposals")
		bp.route("#/reserve")
		time.Sleep(500 * time.Millisecond)
	}
	bp.checkProblems()
}

// firstPaint loads route in a fresh tab of p's session and returns the
// page's time (ms since navigation start) at the first animation frame
// where the element matching sel contains sub: first paint with data.
func (p *page) firstPaint(route, sel, sub string) float64 {
	p.t.Helper()
	require.NoError(p.t, p.navigate("about:blank"))
	p.open(route)
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`new Promise((resolve) => {
		const tick = () => {
			const e = document.querySelector(`+jsString(sel)+`);
			if (e && e.textContent.includes(`+jsString(sub)+`)) { resolve(performance.now()); } else { requestAnimationFrame(tick); }
		};
		tick();
	})`, chromedp.EvalAwaitPromise))
	require.NoError(p.t, err, "first paint of %s%s", route, p.context())
	p.checkProblems()
	return ms
}

// testConsoleBench is scripts/bench-console.sh's measurement, skipped
// unless CUSTOS_BENCH_CONSOLE names the number of loads: the proposal
// page of a 950-input proposal, first paint with data (its input count
// shown), median of N loads, against the login page's first paint in
// the same run and browser.
func testConsoleBench(t *testing.T, _ *harness) {
	loads, _ := strconv.Atoi(os.Getenv("CUSTOS_BENCH_CONSOLE"))
	if loads <= 0 {
		t.Skip("CUSTOS_BENCH_CONSOLE is not set (scripts/bench-console.sh sets it)")
	}
	f := newFunder(t)
	n := startNode(t, f.addr)
	f.mine(n, 101)
	c := startCustosd(t, n)
	h := &harness{node: n, funder: f, custos: c}
	createReserve(t, c, 2, 3)
	c.issueOfficerIdentities(t, officers[0])
	// 950 coins of 0.001 BTC, from 5 transactions of 190 outputs: small
	// previous transactions, so the PSBT stays under the limit.
	for range 5 {
		addr, _ := c.newAddress("bench funding")
		h.funder.payMany(h.node, addr, 190, 100_000, 0)
	}
	c.waitSynced()
	require.Equal(t, int64(950*100_000), c.balance().ConfirmedSat)
	// 94.85 BTC and a fee of about 0.001 BTC (950 inputs of about 105 vB
	// at 1 sat/vB) need every one of the 950 coins.
	p := c.proposeOnly(t, 1, payment{externalAddress(t), 94_850_000})
	require.Equal(t, 950, p.Inputs)
	origin := c.enableConsole(t)

	b := startBrowser(t, c.serverCert(t))
	ap := b.session("alice", origin)
	ap.login(officers[0].keyFile, officerPassphrase, "alice")
	fresh := b.session("visitor", origin)
	var page, login []float64
	for range loads {
		page = append(page, ap.firstPaint("#/proposal/"+p.ID, "#proposal-inputs", itoa(p.Inputs)))
		login = append(login, fresh.firstPaint("#/login", "#login-submit", ""))
	}
	slices.Sort(page)
	slices.Sort(login)
	// bench-console.sh reads these lines.
	t.Logf("BENCH proposal-page inputs=%d loads=%d median_ms=%.1f all=%v", p.Inputs, loads, page[len(page)/2], page)
	t.Logf("BENCH login-page loads=%d median_ms=%.1f all=%v", loads, login[len(login)/2], login)
}
