// Command custosd is the Custos coordinator daemon: it follows a Bitcoin
// node for the reserve wallet and serves the gRPC API over mutual TLS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/daemon/console"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

var _ daemon.Store = (*store.DB)(nil)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "custosd: %v\n", err)
		os.Exit(1)
	}
}

// StoreFile is the bbolt file in the data dir.
const StoreFile = "custos.db"

type options struct {
	dataDir     string
	network     string
	rpcListen   string
	extraHosts  multiFlag
	nodeKind    string
	nodeHost    string
	nodeUser    string
	nodePass    string
	nodeCookie  string
	nodeTimeout time.Duration
	nodeNotify  string
	zmqBlock    string
	zmqTx       string
	poll        time.Duration
	lockTimeout time.Duration
	confirms    int
	logLevel    string
	caPassFile  string
	rpcRate     float64
	rpcBurst    int
	// backupRecipients are the age recipients backups are encrypted to.
	backupRecipients multiFlag
	// config.go: the configuration file, and the operator's word that a
	// mainnet start is meant.
	configFile string
	mainnetAck bool

	// Observation: log format; metrics and health (daemon/metrics.go, health.go).
	logFormat     string
	metricsListen string
	metricsRemote bool
	nodeGrace     time.Duration

	// The browser console (daemon/webconsole.go).
	consoleListen string
	consoleOrigin string
	consoleRemote bool
	consoleTTL    time.Duration
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// flagSet binds every option of custosd to a new options. One line per
// option: it is at once a flag, a config file key (config.go), a line of
// --help and of docs/operating.md.
func flagSet(stderr io.Writer) (*options, *flag.FlagSet) {
	var o options
	fs := flag.NewFlagSet("custosd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	home, _ := os.UserHomeDir()
	fs.StringVar(&o.dataDir, "datadir", filepath.Join(home, ".custosd"), "data directory: store, TLS material, address file")
	fs.StringVar(&o.network, "network", "", "bitcoin network: mainnet, testnet, signet or regtest (required)")
	fs.StringVar(&o.rpcListen, "rpclisten", daemon.DefaultRPCListen, "gRPC listen address (host:port; port 0 picks one)")
	fs.Var(&o.extraHosts, "tlsextrahost", "extra host name or IP for the server certificate (repeatable; only when it is first made)")
	fs.StringVar(&o.nodeKind, "node.kind", "btcd", "node implementation: btcd or bitcoind")
	fs.StringVar(&o.nodeHost, "node.rpchost", "127.0.0.1:18334", "node JSON-RPC host:port (plain HTTP; keep it on loopback)")
	fs.StringVar(&o.nodeUser, "node.rpcuser", "", "node RPC user")
	fs.StringVar(&o.nodePass, "node.rpcpass", "", "node RPC password (or CUSTOSD_NODE_RPCPASS)")
	fs.StringVar(&o.nodeCookie, "node.rpccookie", "", "bitcoind .cookie file, instead of user and password")
	fs.DurationVar(&o.nodeTimeout, "node.rpctimeout", chain.DefaultRPCTimeout, "bound on one request to the node (a batch of blocks included); a node that does not answer in time is retried later")
	fs.StringVar(&o.nodeNotify, "node.notify", string(chain.NotifyAuto), "auto: also be woken by the node's notifications (btcd's websocket; bitcoind's ZMQ with --node.zmqblock), polling stays as the fallback; off: only poll")
	fs.StringVar(&o.zmqBlock, "node.zmqblock", "", "bitcoind's -zmqpubhashblock address, tcp://host:port (empty: no ZMQ)")
	fs.StringVar(&o.zmqTx, "node.zmqtx", "", "bitcoind's -zmqpubhashtx address, tcp://host:port: new mempool transactions wake the follower too (optional)")
	fs.DurationVar(&o.poll, "poll", time.Second, "how often to poll the node (while notifications are configured but down, every second at most)")
	fs.IntVar(&o.confirms, "confirmations", 6, "confirmations after which a broadcast spend is CONFIRMED")
	fs.DurationVar(&o.lockTimeout, "lock-timeout", time.Second, "how long to wait for the store's file lock")
	fs.StringVar(&o.logLevel, "loglevel", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log.format", "text", "log format on stderr: text (key=value) or json (one object per line)")
	fs.StringVar(&o.metricsListen, "metrics.listen", "", "Prometheus metrics listen address, e.g. "+daemon.DefaultMetricsListen+" (host:port, loopback only unless --metrics.allow-remote; empty: off)")
	fs.BoolVar(&o.metricsRemote, "metrics.allow-remote", false, "allow --metrics.listen on an address that is not loopback (the metrics name officers and cosigners)")
	fs.StringVar(&o.consoleListen, "console.listen", "", "browser console HTTPS listen address for officers and auditors, e.g. "+daemon.DefaultConsoleListen+" (host:port, loopback only unless --console.allow-remote; empty: off)")
	fs.StringVar(&o.consoleOrigin, "console.origin", "", "the console's origin as browsers reach it, https://host:port (a name the server certificate carries); empty: https://<the listen address>")
	fs.BoolVar(&o.consoleRemote, "console.allow-remote", false, "allow --console.listen on an address that is not loopback")
	fs.DurationVar(&o.consoleTTL, "console.session-ttl", console.DefaultSessionTTL, "how long a console login lasts before the officer or auditor signs in again")
	fs.DurationVar(&o.nodeGrace, "health.nodegrace", daemon.DefaultNodeGrace, "how long the node may be unreachable before gRPC health says NOT_SERVING")
	fs.StringVar(&o.caPassFile, "ca-passphrase-file", "", "file whose first line unlocks the sealed CA key (or "+daemon.EnvCAPassphrase+"); without it the CA is offline and identities are issued with custosd issue-cert")
	fs.Float64Var(&o.rpcRate, "rpc.rate", float64(daemon.DefaultRate), "state-changing RPCs per second allowed to one client identity, on average (0: no limit)")
	fs.IntVar(&o.rpcBurst, "rpc.burst", daemon.DefaultBurst, "state-changing RPCs one client identity may make at once, before --rpc.rate applies")
	fs.Var(&o.backupRecipients, "backup-recipient", "age recipient (age1…) that custosctl admin backup encrypts to: one per offline key, per ministry or per safe (repeatable; none: backups are refused)")
	fs.StringVar(&o.configFile, "config", "", "read options from this TOML `FILE`: keys are these flags' names, flags win (docs/operating.md)")
	fs.BoolVar(&o.mainnetAck, ackMainnet, false, "required with --network mainnet: this daemon is meant to hold real bitcoin")
	return &o, fs
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o, fs := flagSet(stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// config.go: the file under the flags, then the options' rules.
	if err := applyConfig(fs, o); err != nil {
		return nil, err
	}
	if err := daemon.CheckMetricsListen(o.metricsListen, o.metricsRemote); err != nil {
		return nil, fmt.Errorf("--metrics.listen: %w", err)
	}
	if err := daemon.CheckConsoleListen(o.consoleListen, o.consoleRemote); err != nil {
		return nil, fmt.Errorf("--console.listen: %w", err)
	}
	if o.consoleTTL < console.MinSessionTTL || o.consoleTTL > console.MaxSessionTTL {
		return nil, fmt.Errorf("--console.session-ttl must be from %s to %s, got %s", console.MinSessionTTL, console.MaxSessionTTL, o.consoleTTL)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return nil, fmt.Errorf("--log.format must be text or json, got %q", o.logFormat)
	}
	if o.nodeGrace <= 0 {
		return nil, fmt.Errorf("--health.nodegrace must be positive, got %s", o.nodeGrace)
	}
	if o.nodePass == "" {
		o.nodePass = os.Getenv("CUSTOSD_NODE_RPCPASS")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "issue-cert" {
		return issueCert(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "restore" {
		return restore(ctx, args[1:], stdout, stderr) // restore.go
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.network == "" {
		return reserve.Invalid("--network", "is required (mainnet, testnet, signet or regtest), as a flag or in --config")
	}
	net, err := reserve.ParseNetwork(o.network)
	if err != nil {
		return fmt.Errorf("--network: %w", err)
	}
	kind, err := chain.ParseKind(o.nodeKind)
	if err != nil {
		return fmt.Errorf("--node.kind: %w", err)
	}
	notify, err := notifyConfig(o, kind)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--loglevel: %w", err)
	}
	log := newLogger(stderr, o.logFormat, level)

	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("unable to make data dir: %w", err)
	}
	db, err := store.Open(filepath.Join(o.dataDir, StoreFile), store.Options{Timeout: o.lockTimeout, Logger: log.With("component", "store")})
	if err != nil {
		return err
	}
	defer db.Close()

	caPass, err := caPassphrase(ctx, o.caPassFile)
	if err != nil {
		return err
	}
	defer clear(caPass)
	d, err := daemon.New(daemon.Config{
		// A CA key in the clear is accepted on regtest only (tests, the
		// demo); elsewhere custosd refuses it until it is sealed.
		CAKey:         daemon.CAKey{Passphrase: caPass, AllowPlain: net == reserve.Regtest && caPass == nil},
		DataDir:       o.dataDir,
		Network:       net,
		RPCListen:     o.rpcListen,
		TLSExtraHosts: o.extraHosts,
		Node: chain.NodeConfig{
			Kind: kind, Host: o.nodeHost, User: o.nodeUser, Pass: o.nodePass, CookiePath: o.nodeCookie,
			RPCTimeout: o.nodeTimeout, Notify: notify,
		},
		Store:            db,
		PollInterval:     o.poll,
		ConfirmDepth:     int32(o.confirms),
		Limits:           daemon.Limits{Rate: rpcRate(o.rpcRate), Burst: o.rpcBurst},
		BackupRecipients: o.backupRecipients,
		Logger:           log,

		MetricsListen:      o.metricsListen,
		MetricsAllowRemote: o.metricsRemote,
		NodeGrace:          o.nodeGrace,

		ConsoleListen:      o.consoleListen,
		ConsoleOrigin:      o.consoleOrigin,
		ConsoleAllowRemote: o.consoleRemote,
		ConsoleSessionTTL:  o.consoleTTL,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(stdout, "custosd listening on %s (%s)\n", d.Addr(), net)
	// Auditors check exports and checkpoints with this key (docs/audit.md).
	fmt.Fprintf(stdout, "custosd audit log key: %s\n", d.LogVerifierKey())
	if o := d.ConsoleOrigin(); o != "" {
		fmt.Fprintf(stdout, "custosd console at %s\n", o)
	}
	return d.Run(ctx)
}

// newLogger is custosd's logger on w: --log.format text or json.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// rpcRate is the limit --rpc.rate asks for: 0 turns it off.
func rpcRate(perSecond float64) rate.Limit {
	if perSecond == 0 {
		return rate.Inf
	}
	return rate.Limit(perSecond)
}

// notifyConfig reads --node.notify, --node.zmqblock and --node.zmqtx.
func notifyConfig(o *options, kind chain.Kind) (chain.NotifyConfig, error) {
	mode, err := chain.ParseNotifyMode(o.nodeNotify)
	if err != nil {
		return chain.NotifyConfig{}, fmt.Errorf("--node.notify: %w", err)
	}
	cfg := chain.NotifyConfig{Mode: mode, ZMQBlock: o.zmqBlock, ZMQTx: o.zmqTx}
	if err := cfg.Check(kind); err != nil {
		return chain.NotifyConfig{}, reserve.Invalid("--node.zmqblock", "%v", err)
	}
	return cfg, nil
}
