//go:build itest

package itest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// The console's browser tests drive Debian's headless Chromium with
// chromedp. A browser trusts exactly one TLS key (the daemon's, pinned by
// its SubjectPublicKeyInfo hash, never "ignore every certificate error"),
// resolves no name and may fetch nothing but loopback. Each officer or
// auditor gets a session of their own (a separate browser context: no
// shared cookies). A session records what must never happen in the
// console — an uncaught exception, a Content-Security-Policy violation, a
// request off loopback — and fails the test on it.

// browserWait bounds every wait for the page: long enough for a loaded
// 2-core machine, short enough that a broken page fails the run.
const browserWait = 45 * time.Second

// chromiumPath is the browser the tests drive: $CHROMIUM, or Debian's
// chromium that scripts/chromium.sh installs.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// spkiPin is the base64 SHA-256 of the SubjectPublicKeyInfo of the first
// certificate in certPEM: the form Chromium's
// --ignore-certificate-errors-spki-list takes.
func spkiPin(t testing.TB, certPEM []byte) string {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	require.NotNil(t, block, "no PEM block in the certificate file")
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// browser is one headless Chromium process a test started.
type browser struct {
	t *testing.T
	// ctx is the browser's first tab; it owns the process. Sessions are
	// new browser contexts beside it.
	ctx     context.Context
	dataDir string
	logFile string
	pid     int
}

// startBrowser starts Chromium trusting the TLS key of certPEM's
// certificate and nothing else, and stops it (by its pid, with every
// process it forked) when the test ends.
func startBrowser(t *testing.T, certPEM []byte) *browser {
	t.Helper()
	exe := chromiumPath()
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("no Chromium at %s (run scripts/chromium.sh, or set CHROMIUM): %v", exe, err)
	}
	b := &browser{t: t, dataDir: t.TempDir()}
	b.logFile = filepath.Join(t.TempDir(), "chromium.log")
	logf, err := os.Create(b.logFile)
	require.NoError(t, err)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(b.dataDir),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("window-size", "1280,900"),
		// No name resolves: the console names no host, and nothing may
		// leave loopback (the sessions also fail on any such request).
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiPin(t, certPEM)),
		chromedp.CombinedOutput(logf),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// Its own process group, so the stop reaches every process
			// Chromium forks; killed with the test binary.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		}),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	t.Cleanup(func() {
		b.stop(cancelTab, cancelAlloc)
		logf.Close()
		if t.Failed() {
			out, _ := os.ReadFile(b.logFile)
			t.Logf("chromium output (last 40 lines):\n%s", tail(string(out), 40))
		}
	})
	require.NoError(t, chromedp.Do(ctx), "starting %s", exe)
	b.pid = chromedp.FromContext(ctx).Browser.Process().Pid
	return b
}

// stop closes the browser and then makes sure nothing it started lives:
// its process group, and any process still holding its profile dir (only
// this browser's processes carry that fresh temporary path).
func (b *browser) stop(cancelTab, cancelAlloc context.CancelFunc) {
	done := make(chan struct{})
	go func() {
		cancelTab()
		cancelAlloc()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		b.t.Logf("chromium %d did not close in 20s; killing it", b.pid)
	}
	if b.pid > 0 {
		_ = syscall.Kill(-b.pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pids := profilePIDs(b.dataDir); len(pids) > 0; pids = profilePIDs(b.dataDir) {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			b.t.Errorf("chromium processes %v survive", pids)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// profilePIDs lists the processes started with --user-data-dir=dir.
func profilePIDs(dir string) []int {
	want := []byte("--user-data-dir=" + dir)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			if bytes.Equal(arg, want) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// page is one person's session in the browser: a browser context of its
// own (cookies, storage) with one tab.
type page struct {
	t      *testing.T
	name   string
	origin string
	ctx    context.Context

	mu sync.Mutex
	// problems are what fails the test: uncaught exceptions, CSP
	// violations, requests off loopback.
	problems []string
	// notes are other console errors (a refused request's 401 is one),
	// logged when the test fails.
	notes []string
	// provoking: the harness self-test causes problems on purpose and
	// collects them with takeProblems instead of failing.
	provoking bool
}

// session opens a new browser context for name (e.g. "alice") on the
// console at origin ("https://127.0.0.1:PORT"). When the test ends it
// fails it on any problem the page had, and closes the context.
func (b *browser) session(name, origin string) *page {
	t := b.t
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	p := &page{t: t, name: name, origin: strings.TrimRight(origin, "/"), ctx: ctx}
	require.NoError(t, chromedp.Listen(ctx, p.onEvent))
	// Every session sees the console at 1280x900, the size of the
	// screenshots in docs/console/.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(viewportWidth, viewportHeight)))
	t.Cleanup(func() {
		p.mu.Lock()
		problems, notes := p.problems, p.notes
		p.mu.Unlock()
		for _, pr := range problems {
			t.Errorf("%s's page: %s", name, pr)
		}
		if t.Failed() && len(notes) > 0 {
			t.Logf("%s's page console:\n  %s", name, strings.Join(notes, "\n  "))
		}
		cancel()
	})
	return p
}

// onEvent sorts what the page reports; it runs on chromedp's reading
// goroutine, so it only records.
func (p *page) onEvent(ev any) {
	var problem, note string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		problem = "uncaught exception: " + exceptionText(e.ExceptionDetails)
	case *log.EventEntryAdded:
		text := fmt.Sprintf("%s %s: %s (%s)", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL)
		if isCSP(e.Entry.Text) || e.Entry.Source == log.EntrySourceSecurity {
			problem = "CSP/security: " + text
		} else if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
			note = text
		}
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range e.Args {
			if a.Value != nil {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		text := strings.Join(parts, " ")
		if isCSP(text) {
			problem = "CSP: console." + string(e.Type) + ": " + text
		} else if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
			note = "console." + string(e.Type) + ": " + text
		}
	case *network.EventLoadingFailed:
		if e.BlockedReason == network.BlockedReasonCsp {
			problem = "CSP blocked a request: " + e.ErrorText
		}
	case *network.EventRequestWillBeSent:
		if !loopbackURL(e.Request.URL) {
			problem = "request off loopback: " + e.Request.URL
		}
	}
	if problem == "" && note == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if problem != "" {
		p.problems = append(p.problems, problem)
	}
	if note != "" {
		p.notes = append(p.notes, note)
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "?"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", s, d.URL, d.LineNumber+1, d.ColumnNumber+1)
}

func isCSP(text string) bool {
	return strings.Contains(text, "Content Security Policy") || strings.Contains(text, "Content-Security-Policy")
}

// loopbackURL: data:, blob: and about: URLs, and http(s)/ws(s) to
// 127.0.0.1 only.
func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "data", "blob", "about":
		return true
	case "http", "https", "ws", "wss":
		return u.Hostname() == "127.0.0.1"
	}
	return false
}

// takeProblems returns the problems recorded so far and forgets them
// (the harness self-test provokes some on purpose).
func (p *page) takeProblems() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.problems
	p.problems = nil
	return out
}

// checkProblems fails the test now when the page had a problem.
func (p *page) checkProblems() {
	p.t.Helper()
	p.mu.Lock()
	if p.provoking {
		p.mu.Unlock()
		return
	}
	problems := p.problems
	p.problems = nil
	p.mu.Unlock()
	if len(problems) > 0 {
		p.t.Fatalf("%s's page:\n  %s", p.name, strings.Join(problems, "\n  "))
	}
}

// do runs browser actions with the harness's time bound.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s's page: %s: %v%s", p.name, what, err, p.context())
	}
	p.checkProblems()
}

// eval evaluates a JavaScript expression in the page and decodes its
// JSON value into T.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s's page: evaluating %s: %v", p.name, expr, err)
	}
	return v
}

// context describes the page for a failure: its URL, #error and
// #login-error.
func (p *page) context() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const t = (s) => { const e = document.querySelector(s); return e ? e.textContent.trim() : "(none)"; };
		return location.href + " | #error: " + t("#error") + " | #login-error: " + t("#login-error");
	})()`))
	if err != nil {
		return ""
	}
	return "\n  page: " + s
}

// scrollTo scrolls the page so the element matching sel is in view
// (block: "start", "center" or "end", as scrollIntoView takes it), for a
// screenshot of what lies below the fold.
func (p *page) scrollTo(sel, block string) {
	p.t.Helper()
	p.waitPresent(sel)
	eval[chromedp.Void](p, `document.querySelector(`+jsString(sel)+`).scrollIntoView({block: `+jsString(block)+`})`)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// open navigates to a route of the console ("#/reserve"); "" is the
// console's front page.
func (p *page) open(route string) {
	p.t.Helper()
	if err := p.navigate(p.origin + "/" + route); err != nil {
		p.t.Fatalf("%s's page: open %s: %v", p.name, route, err)
	}
	p.checkProblems()
}

// navigate loads url in the tab and returns why it could not.
func (p *page) navigate(url string) error {
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(url))
}

// route switches the console's hash route without reloading the page.
func (p *page) route(route string) {
	p.t.Helper()
	eval[chromedp.Void](p, "location.hash = "+jsString(route))
}

// text is the trimmed textContent of the first element matching sel,
// or "" when there is none.
func (p *page) text(sel string) string {
	p.t.Helper()
	return eval[string](p, `(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? e.textContent.trim() : ""; })()`)
}

// attr is an attribute of the first element matching sel ("" when the
// element or the attribute is missing).
func (p *page) attr(sel, name string) string {
	p.t.Helper()
	return eval[string](p, `(() => { const e = document.querySelector(`+jsString(sel)+`); return (e && e.getAttribute(`+jsString(name)+`)) || ""; })()`)
}

// count is how many elements match sel.
func (p *page) count(sel string) int {
	p.t.Helper()
	return eval[int](p, `document.querySelectorAll(`+jsString(sel)+`).length`)
}

// waitJS waits until the expression is true, failing the test (with the
// page's URL and error texts) when it is not within browserWait or the
// page has a problem meanwhile.
func (p *page) waitJS(what, expr string) {
	p.t.Helper()
	p.waitJSOr(what, expr, nil)
}

// waitJSOr is waitJS whose failure also says what last() reads then.
func (p *page) waitJSOr(what, expr string, last func() string) {
	p.t.Helper()
	deadline := time.Now().Add(browserWait)
	for {
		ok := eval[bool](p, "!!("+expr+")")
		p.checkProblems()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			now := ""
			if last != nil {
				now = fmt.Sprintf(" (it reads %q)", last())
			}
			p.t.Fatalf("%s's page: timed out after %s waiting for %s%s%s", p.name, browserWait, what, now, p.context())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitText waits until the first element matching sel contains sub in
// its text and returns that text.
func (p *page) waitText(sel, sub string) string {
	p.t.Helper()
	p.waitJSOr(fmt.Sprintf("%s to contain %q", sel, sub),
		`(() => { const e = document.querySelector(`+jsString(sel)+`); return e && e.textContent.includes(`+jsString(sub)+`); })()`,
		func() string { return p.text(sel) })
	return p.text(sel)
}

// waitNonEmpty waits until the first element matching sel has text and
// returns it.
func (p *page) waitNonEmpty(sel string) string {
	p.t.Helper()
	p.waitJS(sel+" to have text",
		`(() => { const e = document.querySelector(`+jsString(sel)+`); return e && e.textContent.trim() !== ""; })()`)
	return p.text(sel)
}

// waitPresent waits until an element matches sel.
func (p *page) waitPresent(sel string) {
	p.t.Helper()
	p.waitJS(sel+" to exist", `document.querySelector(`+jsString(sel)+`) !== null`)
}

// click clicks the first element matching sel once it is visible and
// enabled.
func (p *page) click(sel string) {
	p.t.Helper()
	p.waitJS(sel+" to be enabled", `(() => { const e = document.querySelector(`+jsString(sel)+`); return e && !e.disabled; })()`)
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// fill replaces the value of the input matching sel with s, as typed.
func (p *page) fill(sel, s string) {
	p.t.Helper()
	p.do("fill "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), s))
}

// choose selects value in the <select> matching sel and tells the page.
func (p *page) choose(sel, value string) {
	p.t.Helper()
	p.waitPresent(sel)
	eval[chromedp.Void](p, `(() => { const e = document.querySelector(`+jsString(sel)+`); e.value = `+jsString(value)+`;
		e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); })()`)
}

// upload puts file into the file input matching sel (change event
// included).
func (p *page) upload(sel, file string) {
	p.t.Helper()
	abs, err := filepath.Abs(file)
	require.NoError(p.t, err)
	p.do("upload into "+sel, chromedp.SetUploadFiles(chromedp.CSS(sel), []string{abs}))
}

// submitLogin fills the login form with the key file and passphrase and
// submits it, without waiting for the outcome.
func (p *page) submitLogin(keyFile, passphrase string) {
	p.t.Helper()
	p.open("#/login")
	p.waitPresent("#login-file")
	p.upload("#login-file", keyFile)
	p.fill("#login-passphrase", passphrase)
	p.click("#login-submit")
}

// login logs in with the key file and passphrase and waits until the
// page shows who is logged in ("alice · officer"); returns that text.
func (p *page) login(keyFile, passphrase, who string) string {
	p.t.Helper()
	p.submitLogin(keyFile, passphrase)
	return p.waitText("#whoami", who)
}

// loginRefused submits a login that must fail and returns the reason
// the page shows in #login-error.
func (p *page) loginRefused(keyFile, passphrase string) string {
	p.t.Helper()
	p.submitLogin(keyFile, passphrase)
	return p.waitNonEmpty("#login-error")
}

// The browser's viewport in every session, and so the screenshots' size.
const (
	viewportWidth  = 1280
	viewportHeight = 900
)

// screenshot takes a PNG of what the page shows now in its 1280x900
// viewport (scrolled as it is: see scrollTo), checks it is a real image
// of that size, keeps it in the test's temp dir and, when
// $CUSTOS_SCREENSHOTS_DIR is set (scripts/console-screenshots.sh), copies
// it there as name.png.
func (p *page) screenshot(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserWait)
	defer cancel()
	// Let the last change paint before the capture.
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
	require.NoError(p.t, err, "screenshot %s", name)
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(p.t, err, "screenshot %s", name)
	require.NotEmpty(p.t, buf, "screenshot %s", name)
	img, err := png.Decode(bytes.NewReader(buf))
	require.NoError(p.t, err, "screenshot %s is not a PNG", name)
	require.Equal(p.t, viewportWidth, img.Bounds().Dx(), "screenshot %s width", name)
	require.Equal(p.t, viewportHeight, img.Bounds().Dy(), "screenshot %s height", name)
	path := filepath.Join(p.t.TempDir(), name+".png")
	require.NoError(p.t, os.WriteFile(path, buf, 0o644))
	if dir := os.Getenv("CUSTOS_SCREENSHOTS_DIR"); dir != "" {
		require.NoError(p.t, os.MkdirAll(dir, 0o755))
		require.NoError(p.t, os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644))
	}
	return path
}
