//go:build itest

package itest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// harnessCSP is the console's Content-Security-Policy (docs: the console
// contract), so the self-test provokes the same violations.
const harnessCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// testBrowserHarness proves the browser harness on a TLS server of its
// own, without the daemon: the pinned key is trusted and another is not;
// a file reaches a file input; a screenshot is a PNG; two sessions share
// no cookie; and the harness catches a CSP violation, an uncaught
// exception and a request off loopback, and nothing on a clean page.
func testBrowserHarness(t *testing.T, _ *harness) {
	certPEM, cert := selfSignedLoopback(t)
	pinned := httptest.NewUnstartedServer(harnessPages())
	pinned.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	pinned.StartTLS()
	t.Cleanup(pinned.Close)
	// httptest's own certificate: a different key, not pinned.
	other := httptest.NewTLSServer(harnessPages())
	t.Cleanup(other.Close)

	// The self-test's page is no console view: keep it out of docs/.
	t.Setenv("CUSTOS_SCREENSHOTS_DIR", "")
	b := startBrowser(t, certPEM)
	alice := b.session("alice", pinned.URL)
	bob := b.session("bob", pinned.URL)

	// Clean page: its script runs, a click and a file reach it, nothing
	// is reported.
	alice.open("")
	require.Equal(t, "ready", alice.waitText("#out", "ready"))
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	require.NoError(t, os.WriteFile(keyFile, []byte("twelve bytes"), 0o600))
	alice.upload("#login-file", keyFile)
	alice.waitText("#out", "file key.txt: 12 bytes")
	alice.fill("#login-passphrase", "s3cret")
	alice.click("#login-submit")
	alice.waitText("#out", "submitted 6 characters")
	shot, err := os.ReadFile(alice.screenshot("harness"))
	require.NoError(t, err)
	require.Equal(t, "\x89PNG", string(shot[:4]))
	require.Empty(t, alice.takeProblems())

	// A refused request (the console's GET /session before login is a
	// 401) is a note Chromium logs, not a problem.
	alice.open("refused")
	alice.waitText("#out", "status 401")
	waitFor(t, browserWait, "the 401 noted", func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		return strings.Contains(strings.Join(alice.notes, "\n"), "401")
	})
	require.Empty(t, alice.takeProblems())

	// Separate sessions: alice's cookie is not bob's.
	alice.open("set-cookie")
	alice.waitText("#out", "set")
	alice.open("cookie")
	alice.waitText("#out", "cookie: h=alice")
	bob.open("cookie")
	bob.waitText("#out", "cookie: none")

	// The pin is the only trust: the other server's page does not load.
	bad := b.session("mallory", other.URL)
	err = bad.tryOpen("")
	require.Error(t, err)
	require.Contains(t, err.Error(), "ERR_CERT")

	// What fails a test is caught.
	alice.provoking = true
	for _, tc := range []struct {
		name, path, want string
	}{
		{name: "inline script", path: "inline", want: "Content Security Policy"},
		{name: "inline style attribute", path: "inline-style", want: "Content Security Policy"},
		{name: "uncaught exception", path: "throw", want: "uncaught exception"},
		{name: "request off loopback", path: "offsite", want: "offsite.invalid/pixel.png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice.open(tc.path)
			alice.waitText("#out", "loaded")
			var got []string
			waitFor(t, browserWait, tc.name+" reported", func() bool {
				got = append(got, alice.takeProblems()...)
				return strings.Contains(strings.Join(got, "\n"), tc.want)
			})
			t.Logf("caught: %s", strings.Join(got, "; "))
		})
	}
	alice.provoking = false
	alice.open("")
	alice.waitText("#out", "ready")
	require.Empty(t, alice.takeProblems())
}

// tryOpen navigates and returns the error instead of failing the test.
func (p *page) tryOpen(route string) error {
	p.t.Helper()
	return p.navigate(p.origin + "/" + route)
}

// harnessPages serves the self-test's pages, each with the console's CSP
// (except "offsite", whose point is a request the CSP would stop first).
func harnessPages() http.Handler {
	mux := http.NewServeMux()
	html := func(w http.ResponseWriter, csp bool, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if csp {
			w.Header().Set("Content-Security-Policy", harnessCSP)
		}
		_, _ = w.Write([]byte("<!doctype html><html><head><title>harness</title></head><body>" + body + "</body></html>"))
	}
	js := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Header().Set("Content-Security-Policy", harnessCSP)
		_, _ = w.Write([]byte(body))
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		html(w, true, `<p id="out"></p><input type="file" id="login-file"><input type="password" id="login-passphrase"><button id="login-submit">go</button><script src="/app.js"></script>`)
	})
	mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, r *http.Request) {
		js(w, `const out = document.getElementById("out");
out.textContent = "ready";
document.getElementById("login-file").addEventListener("change", async (e) => {
  const f = e.target.files[0];
  out.textContent = "file " + f.name + ": " + (await f.text()).length + " bytes";
});
document.getElementById("login-submit").addEventListener("click", () => {
  out.textContent = "submitted " + document.getElementById("login-passphrase").value.length + " characters";
});`)
	})
	mux.HandleFunc("GET /loaded.js", func(w http.ResponseWriter, r *http.Request) {
		js(w, `document.getElementById("out").textContent = "loaded";`)
	})
	mux.HandleFunc("GET /refused", func(w http.ResponseWriter, r *http.Request) {
		html(w, true, `<p id="out"></p><script src="/refused.js"></script>`)
	})
	mux.HandleFunc("GET /refused.js", func(w http.ResponseWriter, r *http.Request) {
		js(w, `fetch("/session").then((r) => { document.getElementById("out").textContent = "status " + r.status; });`)
	})
	mux.HandleFunc("GET /session", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"not logged in"}`))
	})
	mux.HandleFunc("GET /throw.js", func(w http.ResponseWriter, r *http.Request) {
		js(w, `document.getElementById("out").textContent = "loaded"; null.boom;`)
	})
	mux.HandleFunc("GET /inline", func(w http.ResponseWriter, r *http.Request) {
		html(w, true, `<p id="out"></p><script>document.title = "inline ran";</script><script src="/loaded.js"></script>`)
	})
	mux.HandleFunc("GET /inline-style", func(w http.ResponseWriter, r *http.Request) {
		html(w, true, `<p id="out" style="color: red"></p><script src="/loaded.js"></script>`)
	})
	mux.HandleFunc("GET /throw", func(w http.ResponseWriter, r *http.Request) {
		html(w, true, `<p id="out"></p><script src="/throw.js"></script>`)
	})
	mux.HandleFunc("GET /offsite", func(w http.ResponseWriter, r *http.Request) {
		html(w, false, `<p id="out"></p><img src="http://offsite.invalid/pixel.png" alt=""><script src="/loaded.js"></script>`)
	})
	mux.HandleFunc("GET /set-cookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "h", Value: "alice", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
		html(w, true, `<p id="out">set</p>`)
	})
	mux.HandleFunc("GET /cookie", func(w http.ResponseWriter, r *http.Request) {
		got := "none"
		if c, err := r.Cookie("h"); err == nil {
			got = "h=" + c.Value
		}
		html(w, true, `<p id="out">cookie: `+got+`</p>`)
	})
	return mux
}

// selfSignedLoopback makes a throwaway certificate for 127.0.0.1.
func selfSignedLoopback(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "custos harness"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	require.NoError(t, err)
	return certPEM, cert
}
