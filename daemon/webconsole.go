package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc/peer"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/daemon/console"
	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
)

// The browser console (package console): its own HTTPS listener, the
// same server certificate, no client certificate; a browser logs in by
// signing a challenge with an officer's approval key or an auditor's
// login key, and its API calls reach the daemon's gRPC server through a
// Connect transcoder, so they pass the same interceptors (authorize reads
// the session's identity from the request's context) and the same
// service implementations.

// ConsoleAddrFile is written into the data dir while the console serves:
// its origin ("https://127.0.0.1:8443").
const ConsoleAddrFile = "console.addr"

// DefaultConsoleListen is the console's customary address; it is off
// unless --console.listen names one.
const DefaultConsoleListen = "127.0.0.1:8443"

// Audit kinds of console events. Persisted: never rename one.
const (
	AuditConsoleLogin  = "console.login"
	AuditConsoleLogout = "console.logout"
)

// CheckConsoleListen refuses a console address beyond this host unless
// allowRemote: officers reach it from their desks only when an operator
// says so, behind a name the server certificate carries (--tlsextrahost).
func CheckConsoleListen(addr string, allowRemote bool) error {
	if addr == "" || allowRemote {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return reserve.Invalid("console.listen", "%q is not host:port: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return reserve.Invalid("console.listen", "%q is not a loopback address; serving the console beyond this host needs --console.allow-remote", addr)
}

// newConsole binds the console's listener and makes its handler; called
// by New once the gRPC server has its services.
func (d *Daemon) newConsole(tlsCfg *tls.Config) error {
	cfg := d.cfg
	lis, err := net.Listen("tcp", cfg.ConsoleListen)
	if err != nil {
		return fmt.Errorf("unable to listen for the console on %s: %w", cfg.ConsoleListen, err)
	}
	origin := cfg.ConsoleOrigin
	if origin == "" {
		origin = "https://" + lis.Addr().String()
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		lis.Close()
		return reserve.Invalid("console.origin", "%q is not an https origin (https://host:port)", origin)
	}
	// The browser checks the certificate against the origin's host: one
	// it does not name would never load.
	leaf := tlsCfg.Certificates[0].Leaf
	if leaf != nil {
		if err := leaf.VerifyHostname(u.Hostname()); err != nil {
			lis.Close()
			return reserve.Invalid("console.origin", "the server certificate does not name %s (it names %v and %v); add the name with --tlsextrahost to a new TLS dir", u.Hostname(), leaf.DNSNames, leaf.IPAddresses)
		}
	}
	api, err := vanguardgrpc.NewTranscoder(d.server)
	if err != nil {
		lis.Close()
		return fmt.Errorf("unable to make the console's API: %w", err)
	}
	h, err := console.New(console.Config{
		Origin: origin, SessionTTL: cfg.ConsoleSessionTTL, API: api, Auth: consoleAuth{d: d},
		Now: cfg.Now, Rand: cfg.Rand, Log: d.log.With("component", "console"),
	})
	if err != nil {
		lis.Close()
		return err
	}
	ctls := tlsCfg.Clone()
	// A browser has no client certificate: its session is its identity.
	ctls.ClientAuth, ctls.ClientCAs, ctls.VerifyConnection = tls.NoClientCert, nil, nil
	ctls.NextProtos = []string{"h2", "http/1.1"}
	d.consoleLis, d.console, d.consoleTLS, d.consoleOrigin = lis, h, ctls, origin
	return nil
}

// serveConsole serves the console until ctx ends; it writes the console's
// origin into the data dir while it serves.
func (d *Daemon) serveConsole(ctx context.Context) {
	addrPath := filepath.Join(d.cfg.DataDir, ConsoleAddrFile)
	if err := durable.Write(addrPath, []byte(d.consoleOrigin+"\n"), 0o644, true); err != nil {
		d.log.Error("unable to write the console address file", "err", err)
	}
	defer os.Remove(addrPath)
	srv := &http.Server{
		Handler:           d.console,
		TLSConfig:         d.consoleTLS,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.With("component", "console").Handler(), slog.LevelDebug),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.ServeTLS(d.consoleLis, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			d.log.Warn("console listener stopped", "err", err)
		}
	}()
	d.log.Info("console listening", "origin", d.consoleOrigin)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-done
}

// ConsoleOrigin is the console's origin, "" when it is off.
func (d *Daemon) ConsoleOrigin() string { return d.consoleOrigin }

// consoleAuth answers the console's questions about keys and identities.
type consoleAuth struct{ d *Daemon }

// Login finds who holds key: an officer of the policy in force, who must
// also hold an active officer identity (so that revoking it ends the
// session), or an active auditor identity with that login key.
func (a consoleAuth) Login(ctx context.Context, key [32]byte) (console.Identity, error) {
	d := a.d
	now := d.cfg.Now()
	all, err := d.cfg.Store.Identities(ctx)
	if err != nil {
		return console.Identity{}, err
	}
	if g, err := d.governance(ctx); err == nil && g.policy != nil {
		if o, ok := g.policy.OfficerByKey(key); ok {
			return activeIdentity(all, now, string(RoleOfficer), o.ID, func(i *reserve.Identity) bool { return i.Name == o.ID },
				fmt.Sprintf("an admin issues one with `custosctl identity issue --role officer --name %s`", o.ID))
		}
	}
	for i := range all {
		if all[i].HasLoginKey && all[i].LoginKey == key {
			return activeIdentity(all, now, string(RoleAuditor), all[i].Name, func(o *reserve.Identity) bool { return o.HasLoginKey && o.LoginKey == key },
				"an admin issues a new one with `custosctl identity issue --role auditor --login-key-out FILE`")
		}
	}
	return console.Identity{}, reserve.Errorf(reserve.CodeDenied,
		"key %s is not an officer's in the policy in force, nor the login key of an auditor identity", reserve.FormatOfficerKey(key))
}

// activeIdentity is the active identity of role that match picks, or the
// reason there is none (revoked, expired, never issued).
func activeIdentity(all []reserve.Identity, now time.Time, role, name string, match func(*reserve.Identity) bool, remedy string) (console.Identity, error) {
	var last *reserve.Identity
	for i := range all {
		id := &all[i]
		if id.Role != role || !match(id) {
			continue
		}
		if id.Active(now) {
			return console.Identity{Name: id.Name, Role: id.Role, Serial: id.Serial, ExpiresAt: id.ExpiresAt}, nil
		}
		last = id
	}
	switch {
	case last == nil:
		return console.Identity{}, reserve.Errorf(reserve.CodeDenied, "%s %s has no identity: %s", role, name, remedy)
	case last.Revoked():
		return console.Identity{}, reserve.Errorf(reserve.CodeDenied, "the identity of %s %s (certificate %s) was revoked at %s (%s): %s",
			role, name, last.Serial, last.RevokedAt.UTC().Format(time.RFC3339), last.RevokedReason, remedy)
	default:
		return console.Identity{}, reserve.Errorf(reserve.CodeDenied, "the identity of %s %s (certificate %s) expired at %s: %s",
			role, name, last.Serial, last.ExpiresAt.UTC().Format(time.RFC3339), remedy)
	}
}

// Check refuses a session whose identity was revoked or has expired.
func (a consoleAuth) Check(ctx context.Context, id console.Identity) error {
	d := a.d
	if !d.cfg.Now().Before(id.ExpiresAt) {
		return fmt.Errorf("the identity of %s expired at %s", id.Name, id.ExpiresAt.UTC().Format(time.RFC3339))
	}
	d.ids.mu.Lock()
	st := d.ids.known[id.Serial]
	d.ids.mu.Unlock()
	switch {
	case st == nil:
		return fmt.Errorf("identity %s (certificate %s) is not known to this daemon", id.Name, id.Serial)
	case st.revoked:
		return fmt.Errorf("identity %s (certificate %s) was revoked at %s: %s", id.Name, id.Serial, st.at.Format(time.RFC3339), st.reason)
	}
	return nil
}

func (a consoleAuth) LoggedIn(ctx context.Context, id console.Identity, peerAddr string) {
	a.record(ctx, AuditConsoleLogin, id, peerAddr, fmt.Sprintf("%s %s logged in to the console", id.Role, id.Name))
}

func (a consoleAuth) LoggedOut(ctx context.Context, id console.Identity, peerAddr string) {
	a.record(ctx, AuditConsoleLogout, id, peerAddr, fmt.Sprintf("%s %s logged out of the console", id.Role, id.Name))
}

func (a consoleAuth) record(ctx context.Context, kind string, id console.Identity, peerAddr, detail string) {
	actor := Caller{Name: id.Name, Role: Role(id.Role), Serial: id.Serial}.actor()
	ids := map[string]string{"serial": reserve.Clip(id.Serial, audit.MaxIDLen), "peer": reserve.Clip(peerAddr, audit.MaxIDLen)}
	ctx = reserve.WithActor(context.WithoutCancel(ctx), actor)
	if err := a.d.audit.AppendEvent(ctx, kind, ids, detail); err != nil {
		a.d.log.Warn("unable to record a console session in the audit log", "kind", kind, "name", id.Name, "err", err)
	}
}

// LoginRefused records a refused login as the interceptor's refusals are
// recorded (bounded in number: anyone who reaches the console can cause
// them).
func (a consoleAuth) LoginRefused(ctx context.Context, peerAddr string, err error) {
	if ap, perr := net.ResolveTCPAddr("tcp", peerAddr); perr == nil {
		ctx = peer.NewContext(ctx, &peer.Peer{Addr: ap})
	}
	a.d.recordRefusal(ctx, "console/login", AuditAuthFailed, nil, err)
}

// checkLoginKeyFree refuses a login key that already logs someone in: an
// active auditor's, or an officer's in the policy in force.
func (d *Daemon) checkLoginKeyFree(ctx context.Context, key [32]byte, now time.Time) error {
	all, err := d.cfg.Store.Identities(ctx)
	if err != nil {
		return err
	}
	for i := range all {
		if all[i].HasLoginKey && all[i].LoginKey == key && all[i].Active(now) {
			return reserve.Errorf(reserve.CodeConflict, "login_key: identity %s already logs in with this key", all[i].Name)
		}
	}
	if g, err := d.governance(ctx); err == nil && g.policy != nil {
		if o, ok := g.policy.OfficerByKey(key); ok {
			return reserve.Errorf(reserve.CodeConflict, "login_key: this is officer %s's approval key; an auditor needs a key of its own", o.ID)
		}
	}
	return nil
}
