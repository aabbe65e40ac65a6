// Package console serves the officers' and auditors' browser console on
// custosd's console listener: the page's assets, embedded in the binary;
// password-less login, in which the browser signs a single-use challenge
// with a key it unsealed itself; and the API, which is the daemon's own
// gRPC server reached through a Connect transcoder (connectrpc.com/
// vanguard), so a browser call runs the same interceptors — the one
// authorization table, revocation, limits, the audit of refusals — and
// the same service implementations as custosctl's.
//
// The package knows nothing of the daemon: it hands the identity of a
// logged-in browser to the API in the request's context (IdentityFrom),
// and asks an Authenticator who holds a key and whether an identity still
// stands.
package console

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/custos-reserve/custos/reserve"
)

// assets are the built page (scripts/console-build.sh): index.html,
// app.js and app.css.
//
//go:embed assets
var assets embed.FS

// LoginTag starts every login message: the tag, one zero byte, the 32
// challenge bytes, then the console's origin as the browser sees it
// (window.location.origin). The tag keeps a login signature from being
// anything else an officer's key signs (approval intents and control
// statements carry their own tags); the origin keeps a challenge relayed
// through another site from logging in here.
const LoginTag = "custos-console-login/v1"

// Limits of the console's own endpoints.
const (
	// ChallengeTTL is how long a login challenge may be answered.
	ChallengeTTL = time.Minute
	// DefaultSessionTTL is how long a session lasts when Config says
	// nothing; MinSessionTTL and MaxSessionTTL bound what it may say.
	DefaultSessionTTL = 15 * time.Minute
	MinSessionTTL     = 5 * time.Second
	MaxSessionTTL     = 12 * time.Hour
	// maxChallenges and maxSessions bound what unauthenticated callers
	// can make the daemon hold.
	maxChallenges = 256
	maxSessions   = 1024
	// maxLoginBytes bounds a login request; MaxAPIBytes a browser's API
	// request (the console sends no PSBT: the largest is a policy
	// document, at most 1 MiB of YAML, base64 in JSON).
	maxLoginBytes = 4 << 10
	MaxAPIBytes   = 2 << 20
	// CookieName is the session cookie: __Host- makes the browser keep it
	// to this origin, over HTTPS, for the whole path.
	CookieName = "__Host-custos-session"
)

// ContentSecurityPolicy is sent with every response: scripts and styles
// from the console's own origin only, no inline code, no framing, no
// other destination.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Identity is who a session belongs to.
type Identity struct {
	Name string
	// Role is "officer" or "auditor".
	Role string
	// Serial is the identity's certificate serial: revoking that identity
	// ends the session.
	Serial string
	// ExpiresAt is when the identity itself lapses; a session never
	// outlives it.
	ExpiresAt time.Time
}

type identityKey struct{}

// IdentityFrom returns the identity of the session behind an API request.
// Only the console's handler sets it, after checking the session cookie.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Authenticator is the daemon's side of a login.
type Authenticator interface {
	// Login says who holds key: an officer of the policy in force with an
	// active officer identity, or an active auditor identity whose login
	// key it is. The error says why not, in words.
	Login(ctx context.Context, key [32]byte) (Identity, error)
	// Check says whether id still stands (not revoked, not expired).
	Check(ctx context.Context, id Identity) error
	// LoggedIn and LoginRefused record the outcome (the audit log).
	LoggedIn(ctx context.Context, id Identity, peer string)
	LoggedOut(ctx context.Context, id Identity, peer string)
	LoginRefused(ctx context.Context, peer string, err error)
}

// Config is a console.
type Config struct {
	// Origin is the console's address as the browser reaches it,
	// "https://host:port". Requests for another host and state-changing
	// requests from another origin are refused.
	Origin     string
	SessionTTL time.Duration
	// API serves the Connect protocol for the daemon's services.
	API  http.Handler
	Auth Authenticator
	Now  func() time.Time
	Rand io.Reader
	Log  *slog.Logger
}

// Handler is the console's HTTP handler.
type Handler struct {
	cfg    Config
	host   string
	static fs.FS
	mux    *http.ServeMux

	mu         sync.Mutex
	challenges map[[32]byte]time.Time
	sessions   map[[32]byte]*session
}

type session struct {
	id        Identity
	expiresAt time.Time
	// ended says why a session ended before its time (its identity was
	// revoked or expired). An ended or expired session is kept until
	// endedKeep past its expiry, so that every request the page still
	// makes with it — several may be in flight — is told why, not merely
	// "not logged in".
	ended error
}

// endedKeep is how long an ended session's reason is kept.
const endedKeep = time.Hour

// New checks cfg and returns the console's handler.
func New(cfg Config) (*Handler, error) {
	u, err := url.Parse(cfg.Origin)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return nil, reserve.Invalid("console.origin", "%q is not an https origin (https://host:port)", cfg.Origin)
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SessionTTL < MinSessionTTL || cfg.SessionTTL > MaxSessionTTL {
		return nil, reserve.Invalid("console.session-ttl", "%s is outside %s to %s", cfg.SessionTTL, MinSessionTTL, MaxSessionTTL)
	}
	if cfg.API == nil || cfg.Auth == nil {
		return nil, errors.New("console needs an API and an authenticator")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	h := &Handler{
		cfg: cfg, host: u.Host, static: static,
		challenges: make(map[[32]byte]time.Time), sessions: make(map[[32]byte]*session),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.serveIndex)
	mux.HandleFunc("GET /assets/{file}", h.serveAsset)
	mux.HandleFunc("GET /session/challenge", h.challenge)
	mux.HandleFunc("POST /session/login", h.login)
	mux.HandleFunc("GET /session", h.whoami)
	mux.HandleFunc("POST /session/logout", h.logout)
	mux.Handle("POST /api/", http.StripPrefix("/api", http.HandlerFunc(h.api)))
	h.mux = mux
	return h, nil
}

// ServeHTTP checks what every request must satisfy, sets the security
// headers, and routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	hd.Set("Strict-Transport-Security", "max-age=31536000")
	// A name other than the console's own is a DNS-rebinding attempt or a
	// misconfiguration: either way, not this console.
	if !strings.EqualFold(r.Host, h.host) {
		writeError(w, http.StatusMisdirectedRequest, "host", fmt.Sprintf("this console is %s, not %s", h.cfg.Origin, r.Host))
		return
	}
	if r.Method == http.MethodPost {
		if o := r.Header.Get("Origin"); o != h.cfg.Origin {
			writeError(w, http.StatusForbidden, "origin", fmt.Sprintf("requests must come from the console's own page (%s), not from %q", h.cfg.Origin, o))
			return
		}
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "content-type", "the console takes application/json only")
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	h.serveFile(w, r, "index.html")
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "index.html" || path.Base(name) != name {
		http.NotFound(w, r)
		return
	}
	h.serveFile(w, r, name)
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	b, err := fs.ReadFile(h.static, name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	// The assets change with the binary; a page must not run an old
	// script against a new daemon.
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// challenge hands out a fresh single-use login challenge.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request) {
	var c [32]byte
	if _, err := io.ReadFull(h.cfg.Rand, c[:]); err != nil {
		writeError(w, http.StatusInternalServerError, "", "unable to read randomness")
		return
	}
	now := h.cfg.Now()
	h.mu.Lock()
	h.expireLocked(now)
	full := len(h.challenges) >= maxChallenges
	if !full {
		h.challenges[c] = now.Add(ChallengeTTL)
	}
	h.mu.Unlock()
	if full {
		writeError(w, http.StatusTooManyRequests, "", fmt.Sprintf("more than %d logins are pending: try again in a minute", maxChallenges))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"challenge": hex.EncodeToString(c[:]), "expires_at_unix": now.Add(ChallengeTTL).Unix()})
}

// LoginMessage is what a browser signs to log in with challenge at
// origin.
func LoginMessage(challenge [32]byte, origin string) []byte {
	m := make([]byte, 0, len(LoginTag)+1+32+len(origin))
	m = append(m, LoginTag...)
	m = append(m, 0)
	m = append(m, challenge[:]...)
	return append(m, origin...)
}

type loginRequest struct {
	Challenge string `json:"challenge"`
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"`
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	peer := r.RemoteAddr
	var req loginRequest
	if field, err := decodeJSON(w, r, &req); err != nil {
		h.refuseLogin(w, r, http.StatusBadRequest, field, err)
		return
	}
	c, err := hex32(req.Challenge)
	if err != nil {
		h.refuseLogin(w, r, http.StatusBadRequest, "challenge", err)
		return
	}
	key, err := hex32(req.PublicKey)
	if err != nil {
		h.refuseLogin(w, r, http.StatusBadRequest, "public_key", err)
		return
	}
	sig, err := hexBytes(req.Signature, 64)
	if err != nil {
		h.refuseLogin(w, r, http.StatusBadRequest, "signature", err)
		return
	}
	now := h.cfg.Now()
	// The challenge is spent whatever follows: one answer per challenge.
	h.mu.Lock()
	exp, ok := h.challenges[c]
	delete(h.challenges, c)
	h.mu.Unlock()
	if !ok || now.After(exp) {
		h.refuseLogin(w, r, http.StatusUnauthorized, "challenge", errors.New("the login challenge is unknown, used or expired: reload the page and log in again"))
		return
	}
	if !ed25519.Verify(key[:], LoginMessage(c, h.cfg.Origin), sig) {
		h.refuseLogin(w, r, http.StatusUnauthorized, "signature", fmt.Errorf("the signature is not this key's over the login challenge for %s", h.cfg.Origin))
		return
	}
	id, err := h.cfg.Auth.Login(r.Context(), key)
	if err != nil {
		h.refuseLogin(w, r, http.StatusForbidden, "key", err)
		return
	}
	if id.Role != "officer" && id.Role != "auditor" {
		h.refuseLogin(w, r, http.StatusForbidden, "key", fmt.Errorf("identity %s has role %s: the console is for officers and auditors", id.Name, id.Role))
		return
	}
	var token [32]byte
	if _, err := io.ReadFull(h.cfg.Rand, token[:]); err != nil {
		writeError(w, http.StatusInternalServerError, "", "unable to read randomness")
		return
	}
	expires := now.Add(h.cfg.SessionTTL)
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(expires) {
		expires = id.ExpiresAt
	}
	h.mu.Lock()
	h.expireLocked(now)
	full := len(h.sessions) >= maxSessions
	if !full {
		h.sessions[sha256.Sum256(token[:])] = &session{id: id, expiresAt: expires}
	}
	h.mu.Unlock()
	if full {
		writeError(w, http.StatusServiceUnavailable, "", fmt.Sprintf("%d sessions are open, the most the console holds: try again when one ends", maxSessions))
		return
	}
	// The cookie outlives the session by endedKeep, so that a request
	// after the session's end still carries it and is told why the
	// session ended (expired, revoked) rather than "not logged in". The
	// daemon, not the cookie, enforces the end.
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: hex.EncodeToString(token[:]), Path: "/",
		MaxAge: int((expires.Sub(now) + endedKeep) / time.Second), Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	h.cfg.Auth.LoggedIn(r.Context(), id, peer)
	h.cfg.Log.Info("console login", "name", id.Name, "role", id.Role, "peer", peer)
	writeJSON(w, http.StatusOK, whoamiJSON(id, expires))
}

func (h *Handler) refuseLogin(w http.ResponseWriter, r *http.Request, status int, field string, err error) {
	h.cfg.Auth.LoginRefused(r.Context(), r.RemoteAddr, fmt.Errorf("console login refused: %s: %w", field, err))
	writeError(w, status, field, err.Error())
}

func whoamiJSON(id Identity, expires time.Time) map[string]any {
	return map[string]any{"name": id.Name, "role": id.Role, "expires_at_unix": expires.Unix()}
}

// sessionOf finds the request's session; the error, for a request
// without a live one, says why in words.
func (h *Handler) sessionOf(r *http.Request) (*session, [32]byte, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return nil, [32]byte{}, errors.New("not logged in")
	}
	token, err := hex32(ck.Value)
	if err != nil {
		return nil, [32]byte{}, errors.New("not logged in (the session cookie is malformed)")
	}
	key := sha256.Sum256(token[:])
	now := h.cfg.Now()
	h.mu.Lock()
	s := h.sessions[key]
	var ended error
	switch {
	case s == nil:
	case s.ended != nil:
		ended = s.ended
	case !now.Before(s.expiresAt):
		ended = fmt.Errorf("session expired at %s: log in again", s.expiresAt.UTC().Format(time.RFC3339))
	}
	h.mu.Unlock()
	if s == nil {
		return nil, key, errors.New("not logged in (the session ended: it expired, was logged out, or custosd restarted)")
	}
	if ended != nil {
		return nil, key, ended
	}
	if err := h.cfg.Auth.Check(r.Context(), s.id); err != nil {
		err = fmt.Errorf("session ended: %w", err)
		h.mu.Lock()
		s.ended = err
		h.mu.Unlock()
		return nil, key, err
	}
	return s, key, nil
}

func (h *Handler) whoami(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s, _, err := h.sessionOf(r)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "session", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, whoamiJSON(s.id, s.expiresAt))
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if s, key, err := h.sessionOf(r); err == nil {
		h.mu.Lock()
		delete(h.sessions, key)
		h.mu.Unlock()
		h.cfg.Auth.LoggedOut(r.Context(), s.id, r.RemoteAddr)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]any{})
}

// api hands a Connect request of a live session to the daemon's services.
// Only unary JSON calls pass: the console streams nothing, and JSON is
// what the page speaks.
func (h *Handler) api(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s, _, err := h.sessionOf(r)
	if err != nil {
		writeConnectError(w, http.StatusUnauthorized, "unauthenticated", err.Error())
		return
	}
	if r.Header.Get("Connect-Protocol-Version") != "1" {
		writeConnectError(w, http.StatusBadRequest, "invalid_argument", "the console API speaks the Connect protocol, version 1 (header Connect-Protocol-Version: 1)")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxAPIBytes)
	h.cfg.API.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, s.id)))
}

// expireLocked forgets expired challenges, and sessions endedKeep past
// their expiry.
func (h *Handler) expireLocked(now time.Time) {
	for c, exp := range h.challenges {
		if now.After(exp) {
			delete(h.challenges, c)
		}
	}
	for k, s := range h.sessions {
		if !now.Before(s.expiresAt.Add(endedKeep)) {
			delete(h.sessions, k)
		}
	}
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) (string, error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxLoginBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return "body", fmt.Errorf("not a login request: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "body", errors.New("not a login request: more than one JSON value")
	}
	return "", nil
}

// hexBytes decodes exactly n bytes of hex.
func hexBytes(s string, n int) ([]byte, error) {
	if len(s) != 2*n {
		return nil, fmt.Errorf("want %d hex digits, got %d", 2*n, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("not hex")
	}
	return b, nil
}

func hex32(s string) ([32]byte, error) {
	b, err := hexBytes(s, 32)
	if err != nil {
		return [32]byte{}, err
	}
	return [32]byte(b), nil
}

// writeError answers a console endpoint's refusal.
func writeError(w http.ResponseWriter, status int, field, msg string) {
	writeJSON(w, status, map[string]any{"error": msg, "field": field})
}

// writeConnectError answers an API call as the Connect protocol does.
func writeConnectError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"code": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
