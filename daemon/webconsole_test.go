package daemon_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/daemon/console"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// consoleDaemon is a test daemon serving the browser console, on a clock
// the test can move forward.
type consoleDaemon struct {
	*testDaemon
	origin string
	skew   atomic.Int64
}

func (cd *consoleDaemon) advance(d time.Duration) { cd.skew.Add(int64(d)) }

func mustStartConsole(t *testing.T, ttl time.Duration) *consoleDaemon {
	t.Helper()
	dir := t.TempDir()
	db := MustStore(t, dir)
	cd := &consoleDaemon{}
	cfg := daemonConfig(t, dir, db, reserve.Regtest)
	cfg.ConsoleListen, cfg.ConsoleSessionTTL = "127.0.0.1:0", ttl
	cfg.Now = func() time.Time { return time.Now().Add(time.Duration(cd.skew.Load())) }
	cd.testDaemon = MustRunDaemon(t, db, cfg)
	cd.origin = cd.d.ConsoleOrigin()
	require.True(t, strings.HasPrefix(cd.origin, "https://127.0.0.1:"), cd.origin)
	waitFor(t, 10*time.Second, "the console address file", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, daemon.ConsoleAddrFile))
		return err == nil && strings.TrimSpace(string(b)) == cd.origin
	})
	return cd
}

// browser is an HTTPS client that trusts the daemon's CA and keeps
// cookies, as a browser would.
type browser struct {
	t      *testing.T
	origin string
	c      *http.Client
	// lastCookie is the session cookie the last answer set, as sent.
	lastCookie *http.Cookie
}

func newBrowser(t *testing.T, cd *consoleDaemon) *browser {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(MustReadTLS(t, cd.dir, daemon.CACertFile)))
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, origin: cd.origin, c: &http.Client{Transport: tr, Jar: jar, Timeout: callTimeout}}
}

// do sends a request from the console's page (its Origin) and decodes the
// JSON answer.
func (b *browser) do(method, path string, body any, hdr map[string]string) (int, map[string]any) {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(b.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.origin+path, rd)
	require.NoError(b.t, err)
	if method == http.MethodPost {
		req.Header.Set("Origin", b.origin)
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == console.CookieName {
			b.lastCookie = c
		}
	}
	raw, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	out := map[string]any{}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(b.t, json.Unmarshal(raw, &out), "%s", raw)
	}
	return resp.StatusCode, out
}

// call is a Connect unary call of the daemon's API.
func (b *browser) call(method string, req any) (int, map[string]any) {
	b.t.Helper()
	return b.do(http.MethodPost, "/api/"+strings.TrimPrefix(method, "/"), req, map[string]string{"Connect-Protocol-Version": "1"})
}

// login answers a fresh challenge with key, signing for origin.
func (b *browser) loginAs(key ed25519.PrivateKey, origin string) (int, map[string]any) {
	b.t.Helper()
	code, ch := b.do(http.MethodGet, "/session/challenge", nil, nil)
	require.Equal(b.t, http.StatusOK, code)
	c, err := hex.DecodeString(ch["challenge"].(string))
	require.NoError(b.t, err)
	sig := ed25519.Sign(key, console.LoginMessage([32]byte(c), origin))
	return b.do(http.MethodPost, "/session/login", map[string]string{
		"challenge": hex.EncodeToString(c), "public_key": hex.EncodeToString(key.Public().(ed25519.PublicKey)), "signature": hex.EncodeToString(sig),
	}, nil)
}

func (b *browser) login(key ed25519.PrivateKey) (int, map[string]any) {
	return b.loginAs(key, b.origin)
}

// TestConsoleLoginAndAPI: an officer logs in by signing the challenge and
// calls the daemon's services through the console under the one role
// table; every way a login can be wrong is refused, naming why.
func TestConsoleLoginAndAPI(t *testing.T) {
	cd := mustStartConsole(t, time.Minute)
	MustCreateWallet(t, cd.testDaemon)
	MustSetPolicy(t, cd.testDaemon, testPolicy(t))
	MustGetPolicy(t, asOfficer(t, cd.testDaemon, "alice")) // records alice's officer identity; bob has none

	// The page: embedded, with its security headers.
	b := newBrowser(t, cd)
	req, err := http.NewRequest(http.MethodGet, cd.origin+"/", nil)
	require.NoError(t, err)
	resp, err := b.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, console.ContentSecurityPolicy, resp.Header.Get("Content-Security-Policy"))
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))

	// Before login the API answers nobody.
	code, body := b.call(custosv1.PolicyService_GetPolicy_FullMethodName, map[string]any{})
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body["message"], "not logged in")

	refusals := []struct {
		name  string
		login func(b *browser) (int, map[string]any)
		code  int
		want  string
	}{
		{"key of no officer", func(b *browser) (int, map[string]any) { return b.login(officerKey("mallory")) }, http.StatusForbidden, "is not an officer's in the policy in force"},
		{"officer without identity", func(b *browser) (int, map[string]any) { return b.login(officerKey("bob")) }, http.StatusForbidden, "officer bob has no identity"},
		{"signed for another origin", func(b *browser) (int, map[string]any) { return b.loginAs(officerKey("alice"), "https://evil.example") }, http.StatusUnauthorized, "not this key's over the login challenge"},
		{"signature by another key", func(b *browser) (int, map[string]any) {
			code, ch := b.do(http.MethodGet, "/session/challenge", nil, nil)
			require.Equal(t, http.StatusOK, code)
			c, _ := hex.DecodeString(ch["challenge"].(string))
			sig := ed25519.Sign(officerKey("bob"), console.LoginMessage([32]byte(c), b.origin))
			return b.do(http.MethodPost, "/session/login", map[string]string{"challenge": ch["challenge"].(string),
				"public_key": hex.EncodeToString(officerKey("alice").Public().(ed25519.PublicKey)), "signature": hex.EncodeToString(sig)}, nil)
		}, http.StatusUnauthorized, "not this key's"},
		{"unknown challenge", func(b *browser) (int, map[string]any) {
			sig := ed25519.Sign(officerKey("alice"), console.LoginMessage([32]byte{1}, b.origin))
			return b.do(http.MethodPost, "/session/login", map[string]string{"challenge": hex.EncodeToString(make([]byte, 32)),
				"public_key": hex.EncodeToString(officerKey("alice").Public().(ed25519.PublicKey)), "signature": hex.EncodeToString(sig)}, nil)
		}, http.StatusUnauthorized, "unknown, used or expired"},
		{"malformed key", func(b *browser) (int, map[string]any) {
			return b.do(http.MethodPost, "/session/login", map[string]string{"challenge": strings.Repeat("00", 32), "public_key": "zz", "signature": strings.Repeat("00", 64)}, nil)
		}, http.StatusBadRequest, "hex digits"},
		{"text after the request", func(b *browser) (int, map[string]any) {
			req, err := http.NewRequest(http.MethodPost, b.origin+"/session/login", strings.NewReader(`{"challenge":"","public_key":"","signature":""}]`))
			require.NoError(t, err)
			req.Header.Set("Origin", b.origin)
			req.Header.Set("Content-Type", "application/json")
			resp, err := b.c.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			out := map[string]any{}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
			return resp.StatusCode, out
		}, http.StatusBadRequest, "more than one JSON value"},
		{"unknown field", func(b *browser) (int, map[string]any) {
			return b.do(http.MethodPost, "/session/login", map[string]any{"challenge": "", "admin": true}, nil)
		}, http.StatusBadRequest, "not a login request"},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser(t, cd)
			code, body := tc.login(b)
			require.Equal(t, tc.code, code, "%v", body)
			require.Contains(t, body["error"], tc.want)
			code, _ = b.call(custosv1.PolicyService_GetPolicy_FullMethodName, map[string]any{})
			require.Equal(t, http.StatusUnauthorized, code, "a refused login opens no session")
		})
	}

	// A challenge answers once.
	code, ch := b.do(http.MethodGet, "/session/challenge", nil, nil)
	require.Equal(t, http.StatusOK, code)
	c, _ := hex.DecodeString(ch["challenge"].(string))
	login := map[string]string{"challenge": ch["challenge"].(string), "public_key": hex.EncodeToString(officerKey("alice").Public().(ed25519.PublicKey)),
		"signature": hex.EncodeToString(ed25519.Sign(officerKey("alice"), console.LoginMessage([32]byte(c), cd.origin)))}
	code, who := b.do(http.MethodPost, "/session/login", login, nil)
	require.Equal(t, http.StatusOK, code, "%v", who)
	require.Equal(t, "alice", who["name"])
	require.Equal(t, "officer", who["role"])
	code, body = newBrowser(t, cd).do(http.MethodPost, "/session/login", login, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body["error"], "unknown, used or expired")

	// Logged in: the services answer under the officer's role, and refuse
	// what the table refuses an officer.
	code, body = b.call(custosv1.PolicyService_GetPolicy_FullMethodName, map[string]any{})
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.Contains(t, body, "policy")
	code, body = b.call(custosv1.AuditService_ListAudit_FullMethodName, map[string]any{})
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, "permission_denied", body["code"])
	require.Contains(t, body["message"], "role officer may not call")
	code, body = b.call(custosv1.TreasuryService_GetBalanceHistory_FullMethodName, map[string]any{})
	require.Equal(t, http.StatusOK, code, "%v", body)

	// Requests from another page, for another host, or not JSON.
	code, body = b.do(http.MethodPost, "/api/"+strings.TrimPrefix(custosv1.PolicyService_GetPolicy_FullMethodName, "/"), map[string]any{},
		map[string]string{"Origin": "https://evil.example", "Connect-Protocol-Version": "1"})
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, body["error"], "console's own page")
	code, body = b.do(http.MethodPost, "/api/"+strings.TrimPrefix(custosv1.PolicyService_GetPolicy_FullMethodName, "/"), map[string]any{},
		map[string]string{"Content-Type": "application/proto", "Connect-Protocol-Version": "1"})
	require.Equal(t, http.StatusUnsupportedMediaType, code)
	require.Contains(t, body["error"], "application/json")
	req, err = http.NewRequest(http.MethodGet, cd.origin+"/session", nil)
	require.NoError(t, err)
	req.Host = "attacker.example"
	resp, err = b.c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)

	// The log has the login, with who and from where.
	leaves := auditLeaves(t, cd.testDaemon)
	require.Contains(t, leaves, `"kind":"console.login"`)
	require.Contains(t, leaves, `"kind":"auth.failed"`)

	// Revoking alice's identity ends her session at its next request and
	// refuses her next login, saying so.
	_, err = custosv1.NewIdentityServiceClient(MustDialAdmin(t, cd.testDaemon)).RevokeIdentity(callCtx(t), &custosv1.RevokeIdentityRequest{NameOrSerial: "alice", Reason: "left the treasury"})
	require.NoError(t, err)
	// Every request still in flight from the page is told why, not only
	// the first.
	for range 2 {
		code, body = b.call(custosv1.PolicyService_GetPolicy_FullMethodName, map[string]any{})
		require.Equal(t, http.StatusUnauthorized, code)
		require.Contains(t, body["message"], "was revoked")
	}
	code, body = b.do(http.MethodGet, "/session", nil, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body["error"], "was revoked")
	code, body = newBrowser(t, cd).login(officerKey("alice"))
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, body["error"], "was revoked")
	require.Contains(t, body["error"], "left the treasury")
}

// TestConsoleSessionExpires: a session lasts its TTL, then every request
// is refused saying it expired; logout ends it at once.
func TestConsoleSessionExpires(t *testing.T) {
	cd := mustStartConsole(t, time.Minute)
	MustCreateWallet(t, cd.testDaemon)
	MustSetPolicy(t, cd.testDaemon, testPolicy(t))
	MustGetPolicy(t, asOfficer(t, cd.testDaemon, "alice"))

	b := newBrowser(t, cd)
	code, _ := b.login(officerKey("alice"))
	require.Equal(t, http.StatusOK, code)
	// The cookie outlives the session by an hour, so that a browser still
	// sends it when the session has ended and is told why; it is the
	// host's only, over HTTPS, out of scripts' reach, never cross-site.
	ck := b.lastCookie
	require.NotNil(t, ck, "the session cookie")
	require.Equal(t, console.CookieName, ck.Name)
	require.InDelta(t, (time.Minute + time.Hour).Seconds(), float64(ck.MaxAge), 5)
	require.True(t, ck.Secure)
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	require.Equal(t, "/", ck.Path)
	code, _ = b.do(http.MethodGet, "/session", nil, nil)
	require.Equal(t, http.StatusOK, code)
	cd.advance(61 * time.Second)
	for range 2 {
		code, body := b.call(custosv1.TreasuryService_GetStatus_FullMethodName, map[string]any{})
		require.Equal(t, http.StatusUnauthorized, code)
		require.Contains(t, body["message"], "session expired at")
	}
	code, body := b.do(http.MethodGet, "/session", nil, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body["error"], "session expired at")

	code, _ = b.login(officerKey("alice"))
	require.Equal(t, http.StatusOK, code)
	code, _ = b.do(http.MethodPost, "/session/logout", map[string]any{}, nil)
	require.Equal(t, http.StatusOK, code)
	code, body = b.do(http.MethodGet, "/session", nil, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body["error"], "not logged in")

	// An hour past its expiry a session is forgotten.
	code, _ = b.login(officerKey("alice"))
	require.Equal(t, http.StatusOK, code)
	cd.advance(time.Minute + time.Hour + time.Second)
	code, _ = newBrowser(t, cd).do(http.MethodGet, "/session/challenge", nil, nil) // sweeps
	require.Equal(t, http.StatusOK, code)
	code, body = b.do(http.MethodGet, "/session", nil, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Contains(t, body["error"], "not logged in")
}

// TestConsoleAuditorLoginKey: an auditor identity carries a login key made
// on the auditor's side; it logs in as an auditor and reads the log. A
// login key is refused for another role, when another identity holds it,
// and when it is an officer's approval key.
func TestConsoleAuditorLoginKey(t *testing.T) {
	cd := mustStartConsole(t, time.Minute)
	MustCreateWallet(t, cd.testDaemon)
	MustSetPolicy(t, cd.testDaemon, testPolicy(t))
	ids := custosv1.NewIdentityServiceClient(MustDialAdmin(t, cd.testDaemon))
	carol := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5c}, 32))
	carolPub := []byte(carol.Public().(ed25519.PublicKey))

	refused := []struct {
		name string
		req  *custosv1.IssueIdentityRequest
		want string
	}{
		{"officer with a login key", &custosv1.IssueIdentityRequest{Name: "dave", Role: custosv1.IdentityRole_IDENTITY_ROLE_OFFICER, LoginKey: carolPub}, "only an auditor identity has a console login key"},
		{"short key", &custosv1.IssueIdentityRequest{Name: "carol", Role: custosv1.IdentityRole_IDENTITY_ROLE_AUDITOR, LoginKey: carolPub[:31]}, "is 31 bytes"},
		{"an officer's approval key", &custosv1.IssueIdentityRequest{Name: "carol", Role: custosv1.IdentityRole_IDENTITY_ROLE_AUDITOR, LoginKey: []byte(officerKey("alice").Public().(ed25519.PublicKey))}, "officer alice's approval key"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ids.IssueIdentity(callCtx(t), tc.req)
			require.ErrorContains(t, err, tc.want)
		})
	}
	got, err := ids.IssueIdentity(callCtx(t), &custosv1.IssueIdentityRequest{Name: "carol", Role: custosv1.IdentityRole_IDENTITY_ROLE_AUDITOR, LoginKey: carolPub})
	require.NoError(t, err)
	require.Equal(t, carolPub, got.GetIdentity().GetLoginKey())
	_, err = ids.IssueIdentity(callCtx(t), &custosv1.IssueIdentityRequest{Name: "carol2", Role: custosv1.IdentityRole_IDENTITY_ROLE_AUDITOR, LoginKey: carolPub})
	require.ErrorContains(t, err, "identity carol already logs in with this key")

	b := newBrowser(t, cd)
	code, who := b.login(carol)
	require.Equal(t, http.StatusOK, code, "%v", who)
	require.Equal(t, "auditor", who["role"])
	code, body := b.call(custosv1.AuditService_ListAudit_FullMethodName, map[string]any{})
	require.Equal(t, http.StatusOK, code, "%v", body)
	require.NotEmpty(t, body["leaves"])
	code, body = b.call(custosv1.PolicyService_Freeze_FullMethodName, map[string]any{"epoch": "1"})
	require.Equal(t, http.StatusForbidden, code)
	require.Contains(t, body["message"], "role auditor may not call")
}

// auditLeaves is the whole audit log as text.
func auditLeaves(t *testing.T, td *testDaemon) string {
	t.Helper()
	resp, err := custosv1.NewAuditServiceClient(MustDialAdmin(t, td)).ListAudit(callCtx(t), &custosv1.ListAuditRequest{PageSize: 1000})
	require.NoError(t, err)
	var sb strings.Builder
	for _, l := range resp.GetLeaves() {
		sb.Write(l)
		sb.WriteByte('\n')
	}
	return sb.String()
}
