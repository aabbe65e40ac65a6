package daemon

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/daemon/console"
	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// DefaultRPCListen is where custosd listens unless told otherwise:
// loopback only.
const DefaultRPCListen = "127.0.0.1:7341"

// AddrFile is the file in the data dir where a running daemon writes the
// address it listens on, so custosctl --datadir finds a daemon started on
// port 0.
const AddrFile = "custosd.addr"

// MaxRequestBytes caps one gRPC message, request or response, on both
// sides (the server's receive and send limits, custosctl's call options,
// every client that talks to custosd): a PSBT of up to
// multisig.MaxPSBTBytes, the one limit on the PSBTs the system carries,
// and 1 MiB for the message's other fields. Propose keeps a proposal's
// PSBT within multisig.MaxPSBTBytes for its whole life, so every PSBT the
// daemon accepts can be exported and imported. Every field has its own,
// smaller limit checked by the handlers.
const MaxRequestBytes = multisig.MaxPSBTBytes + 1<<20

// CallOptions are the gRPC call options a client of custosd dials with
// (grpc.WithDefaultCallOptions): gRPC's default receive limit of 4 MiB
// would refuse the PSBT of any large proposal.
func CallOptions() []grpc.CallOption {
	return []grpc.CallOption{grpc.MaxCallRecvMsgSize(MaxRequestBytes), grpc.MaxCallSendMsgSize(MaxRequestBytes)}
}

// Config wires a Daemon. DataDir, Network, Node and Store are required.
type Config struct {
	DataDir string
	Network reserve.Network
	// RPCListen is host:port; DefaultRPCListen when empty.
	RPCListen string
	// TLSExtraHosts are names or IPs added to the server certificate when
	// it is first made, beyond 127.0.0.1, ::1 and localhost.
	TLSExtraHosts []string
	// CAKey unlocks the CA key so that identities can be issued over
	// the API; the zero value keeps the CA offline.
	CAKey CAKey
	Node  chain.NodeConfig
	Store Store
	// Audit is the audit log; nil means Store's own (store.DB keeps it).
	Audit        AuditLog
	PollInterval time.Duration
	// ConfirmDepth is how many confirmations make a broadcast proposal
	// CONFIRMED (default 6).
	ConfirmDepth int32
	// ShutdownTimeout bounds how long Run waits for RPCs in flight.
	ShutdownTimeout time.Duration
	// Limits bounds request sizes, keepalive and each identity's rate of
	// state-changing calls; the zero value is the defaults (limits.go).
	Limits Limits
	// BackupRecipients are the age recipients ("age1…") backups are
	// encrypted to, one per offline key; none refuses AdminService.Backup
	// (backup.go).
	BackupRecipients []string
	// MetricsListen is host:port of the Prometheus metrics listener
	// (metrics.go); empty turns it off. A non-loopback address is refused
	// unless MetricsAllowRemote is set.
	MetricsListen      string
	MetricsAllowRemote bool
	// ConsoleListen is host:port of the browser console's HTTPS listener
	// (webconsole.go); empty turns it off. A non-loopback address is
	// refused unless ConsoleAllowRemote. ConsoleOrigin is the origin
	// browsers reach it at ("https://treasury.example:8443"); empty means
	// https://<the bound address>. ConsoleSessionTTL bounds a session
	// (console.DefaultSessionTTL when zero).
	ConsoleListen      string
	ConsoleOrigin      string
	ConsoleAllowRemote bool
	ConsoleSessionTTL  time.Duration
	// NodeGrace is how long the node may stay unreachable before the gRPC
	// health says NOT_SERVING (health.go); DefaultNodeGrace when zero.
	NodeGrace time.Duration

	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader
}

// Daemon is a running custosd.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	node     nodeClient
	follower *chain.Follower
	// wake carries the follower's news to the reconcile and health loops
	// (wake.go); nil in daemons tests build by hand.
	wake *chainWake
	// descs is the wallet's parsed descriptor, shared with the follower
	// so that the addresses it derived are not derived again.
	descs  *multisig.Descriptors
	server *grpc.Server
	health *health.Server
	lis    net.Listener

	// policies parses the policy in force once per document, for every
	// request and reconcile pass that reads it.
	policies policyCache

	// pages holds the key that authenticates page tokens (page.go).
	pages pageKeyCache

	// spendMu serialises the steps after a proposal exists (decisions,
	// release, import, finalize, broadcast, bump, cancel, reconcile) and
	// every change of policy or freeze, so a transaction is never
	// broadcast twice by racing paths and approvals are counted under the
	// policy and freeze they were checked against. Proposing takes
	// proposeMu instead (below); the store refuses a coin reserved twice
	// all the same.
	spendMu sync.Mutex

	// waiting says why each FINALIZED proposal is not broadcast yet.
	waiting waitingNotes

	// parsed spares an import re-parsing what the previous one stored
	// (import_memo.go).
	parsed parsedMemo

	// addressMu serialises issuing an address with keeping the lookahead
	// derived before it: concurrent callers would otherwise issue past
	// the derived gap. proposeMu serialises coin selection with recording
	// the proposal: the store would refuse a coin two concurrent
	// selections picked, but refusing callers who did nothing wrong is no
	// answer; proposals are rare.
	addressMu, proposeMu sync.Mutex

	// ca signs identities issued over the API (its key nil: offline);
	// ids admits callers and holds the revocations.
	ca  *authority
	ids *identities

	// audit is the store's audit log, logKey signs its checkpoints and
	// refusals coalesces the refused calls it records (audit.go).
	audit    AuditLog
	logKey   *logKey
	refusals refusals

	// signer agents (signer_requests.go): quit, closed when Run stops
	// serving so that open request streams end instead of holding up the
	// graceful stop.
	quit     chan struct{}
	quitOnce sync.Once

	// metrics are the Prometheus metrics, served on metricsLis when
	// Config.MetricsListen is set (metrics.go).
	metrics    *metrics
	metricsLis net.Listener

	// The browser console (webconsole.go), nil when it is off.
	console       *console.Handler
	consoleLis    net.Listener
	consoleTLS    *tls.Config
	consoleOrigin string

	closeOnce sync.Once
	closeErr  error
}

// New checks cfg, prepares TLS material in the data dir, binds the
// listener and connects nothing yet: Run serves and follows.
func New(cfg Config) (*Daemon, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if err := cfg.Store.EnsureNetwork(ctx, cfg.Network); err != nil {
		return nil, err
	}
	hosts := append([]string{"127.0.0.1", "::1", "localhost"}, cfg.TLSExtraHosts...)
	tlsCfg, ca, err := ensureTLS(TLSDir(cfg.DataDir), hosts, cfg.Now(), cfg.Rand, cfg.CAKey)
	if err != nil {
		return nil, err
	}
	ids, err := newIdentities(ctx, cfg.Store, cfg.Now, cfg.Logger.With("component", "identity"))
	if err != nil {
		return nil, err
	}
	auditLog, logKey, err := openAudit(cfg) // audit.go
	if err != nil {
		return nil, err
	}
	node, err := chain.DialNode(cfg.Node)
	if err != nil {
		return nil, err
	}
	descs := &multisig.Descriptors{}
	wake := newChainWake() // wake.go
	follower, err := chain.NewFollower(chain.Config{
		Node: node, Store: cfg.Store, Network: cfg.Network,
		PollInterval: cfg.PollInterval, Logger: cfg.Logger.With("component", "chain"), Now: cfg.Now,
		Descriptors: descs, Changed: wake.changed,
	})
	if err != nil {
		node.Close()
		return nil, err
	}
	lis, err := net.Listen("tcp", cfg.RPCListen)
	if err != nil {
		node.Close()
		return nil, fmt.Errorf("unable to listen on %s: %w", cfg.RPCListen, err)
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, node: node, follower: follower, wake: wake, descs: descs, lis: lis, health: health.NewServer(), ca: ca, ids: ids, audit: auditLog, logKey: logKey, quit: make(chan struct{})}
	// metrics.go: broadcasts are counted at the node client; the metrics
	// listener is bound now so that a bad address fails at start.
	d.metrics = newMetrics(d)
	d.node = countingNode{nodeClient: node, m: d.metrics}
	if cfg.MetricsListen != "" {
		if d.metricsLis, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			lis.Close()
			node.Close()
			return nil, fmt.Errorf("unable to listen for metrics on %s: %w", cfg.MetricsListen, err)
		}
	}
	opts := []grpc.ServerOption{
		grpc.Creds(d.serverCreds(tlsCfg)), // tls.go: refused handshakes are logged
		grpc.MaxRecvMsgSize(MaxRequestBytes),
		grpc.MaxSendMsgSize(MaxRequestBytes),
		// metrics.go: outermost, so refused calls are counted too.
		grpc.ChainUnaryInterceptor(d.metrics.unary, d.unaryAuth),
		grpc.ChainStreamInterceptor(d.metrics.stream, d.streamAuth),
	}
	// The limits' interceptors run after authentication (limits.go).
	d.server = grpc.NewServer(append(opts, newLimiter(cfg.Limits, cfg.Now).serverOptions()...)...)
	registerServices(d.server, d, d.health)
	if cfg.ConsoleListen != "" {
		if err := d.newConsole(tlsCfg); err != nil { // webconsole.go
			lis.Close()
			if d.metricsLis != nil {
				d.metricsLis.Close()
			}
			node.Close()
			return nil, err
		}
	}
	return d, nil
}

// registerServices registers every service the daemon serves on srv: the
// one list the role matrix test reads too, so a service added here
// without rules fails the tests.
func registerServices(srv *grpc.Server, d *Daemon, h *health.Server) {
	custosv1.RegisterAdminServiceServer(srv, &adminServer{d: d})
	custosv1.RegisterTreasuryServiceServer(srv, &treasuryServer{d: d})
	custosv1.RegisterSpendServiceServer(srv, &spendServer{d: d})
	custosv1.RegisterPolicyServiceServer(srv, &policyServer{d: d})
	custosv1.RegisterIdentityServiceServer(srv, &identityServer{d: d})
	custosv1.RegisterAuditServiceServer(srv, &auditServer{d: d})
	custosv1.RegisterSignerServiceServer(srv, &signerServer{d: d}) // rpc_signer.go
	custosv1.RegisterProofServiceServer(srv, &proofServer{d: d})   // rpc_proof.go
	healthpb.RegisterHealthServer(srv, h)
	reflection.Register(srv)
}

func (c *Config) fill() error {
	if c.DataDir == "" || c.Store == nil {
		return errors.New("daemon needs a data dir and a store")
	}
	if c.Network == reserve.NetworkUnspecified {
		return errors.New("daemon needs a network")
	}
	if c.RPCListen == "" {
		c.RPCListen = DefaultRPCListen
	}
	if c.ConfirmDepth <= 0 {
		c.ConfirmDepth = 6
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.NodeGrace <= 0 {
		c.NodeGrace = DefaultNodeGrace
	}
	if err := CheckMetricsListen(c.MetricsListen, c.MetricsAllowRemote); err != nil {
		return err
	}
	if err := CheckConsoleListen(c.ConsoleListen, c.ConsoleAllowRemote); err != nil {
		return err
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return nil
}

// Addr is the address the gRPC server listens on.
func (d *Daemon) Addr() net.Addr { return d.lis.Addr() }

// Run serves gRPC and follows the node until ctx ends, then stops both.
func (d *Daemon) Run(ctx context.Context) error {
	addrPath := filepath.Join(d.cfg.DataDir, AddrFile)
	if err := durable.Write(addrPath, []byte(d.Addr().String()+"\n"), 0o644, true); err != nil {
		return err
	}
	defer os.Remove(addrPath)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// What the follower and reconcile change is logged as the daemon's.
	ctx = reserve.WithActor(ctx, chainActor)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := d.follower.Run(ctx); err != nil {
			d.log.Error("chain follower stopped", "err", err)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.reconcileLoop(ctx)
	}()
	// health.go: the status follows the node and the store; the first
	// is set before the server answers.
	healthReady := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.healthLoop(ctx, healthReady)
	}()
	<-healthReady
	if d.metricsLis != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.serveMetrics(ctx, d.metricsLis) // metrics.go
		}()
		d.log.Info("metrics listening", "addr", d.metricsLis.Addr().String())
	}
	if d.console != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.serveConsole(ctx) // webconsole.go
		}()
	}
	d.log.Info("custosd serving", "addr", d.Addr().String(), "network", d.cfg.Network.String())

	serveErr := make(chan error, 1)
	go func() { serveErr <- d.server.Serve(d.lis) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("gRPC server stopped: %w", err)
	}
	d.health.Shutdown()
	d.quitOnce.Do(func() { close(d.quit) }) // signer_requests.go: streams end
	d.stopServer()
	cancel()
	wg.Wait()
	return err
}

// reconcileLoop keeps proposals in line with the chain, starting at once
// so a proposal finalized before a crash is broadcast on restart, then
// whenever the follower records a block or mempool transactions, and
// every PollInterval (expiry, rebroadcast, and a fallback).
func (d *Daemon) reconcileLoop(ctx context.Context) {
	ticker := time.NewTicker(d.cfg.PollInterval)
	defer ticker.Stop()
	for {
		if err := d.reconcile(ctx); err != nil && ctx.Err() == nil && reserve.CodeOf(err) != reserve.CodeNotFound {
			d.log.Warn("reconcile pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-d.wake.reconcileC():
		}
	}
}

// stopServer lets RPCs in flight finish, up to ShutdownTimeout.
func (d *Daemon) stopServer() {
	done := make(chan struct{})
	go func() {
		d.server.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d.cfg.ShutdownTimeout):
		d.server.Stop()
	}
}

// Close releases the listener and the node clients. It is idempotent and
// safe after Run returned.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		d.server.Stop()
		d.node.Close()
		if d.metricsLis != nil {
			d.metricsLis.Close()
		}
	})
	return d.closeErr
}
