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

	"github.com/custos-reserve/custos/backup"
	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/daemon/chain"
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
	poll        time.Duration
	lockTimeout time.Duration
	confirms    int
	logLevel    string
	caPassFile  string
	rpcRate     float64
	rpcBurst    int
	// backupRecipients are the age recipients backups are encrypted to.
	backupRecipients multiFlag
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseFlags(args []string, stderr io.Writer) (*options, error) {
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
	fs.DurationVar(&o.poll, "poll", time.Second, "how often to poll the node")
	fs.IntVar(&o.confirms, "confirmations", 6, "confirmations after which a broadcast spend is CONFIRMED")
	fs.DurationVar(&o.lockTimeout, "lock-timeout", time.Second, "how long to wait for the store's file lock")
	fs.StringVar(&o.logLevel, "loglevel", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.caPassFile, "ca-passphrase-file", "", "file whose first line unlocks the sealed CA key (or "+daemon.EnvCAPassphrase+"); without it the CA is offline and identities are issued with custosd issue-cert")
	fs.Float64Var(&o.rpcRate, "rpc.rate", float64(daemon.DefaultRate), "state-changing RPCs per second allowed to one client identity, on average (0: no limit)")
	fs.IntVar(&o.rpcBurst, "rpc.burst", daemon.DefaultBurst, "state-changing RPCs one client identity may make at once, before --rpc.rate applies")
	fs.Var(&o.backupRecipients, "backup-recipient", "age recipient (age1…) that custosctl admin backup encrypts to: one per offline key, per ministry or per safe (repeatable; none: backups are refused)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(o.backupRecipients) > 0 {
		if _, err := backup.ParseRecipients(o.backupRecipients); err != nil {
			return nil, fmt.Errorf("--backup-recipient: %w", err)
		}
	}
	if o.confirms < 1 || o.confirms > 1000 {
		return nil, fmt.Errorf("--confirmations must be 1 to 1000, got %d", o.confirms)
	}
	if o.rpcRate < 0 || o.rpcBurst < 1 {
		return nil, fmt.Errorf("--rpc.rate must be 0 or more and --rpc.burst 1 or more, got %g and %d", o.rpcRate, o.rpcBurst)
	}
	if o.nodePass == "" {
		o.nodePass = os.Getenv("CUSTOSD_NODE_RPCPASS")
	}
	return &o, nil
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
		return errors.New("--network is required (mainnet, testnet, signet or regtest)")
	}
	net, err := reserve.ParseNetwork(o.network)
	if err != nil {
		return fmt.Errorf("--network: %w", err)
	}
	kind, err := chain.ParseKind(o.nodeKind)
	if err != nil {
		return fmt.Errorf("--node.kind: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--loglevel: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

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
			RPCTimeout: o.nodeTimeout,
		},
		Store:            db,
		PollInterval:     o.poll,
		ConfirmDepth:     int32(o.confirms),
		Limits:           daemon.Limits{Rate: rpcRate(o.rpcRate), Burst: o.rpcBurst},
		BackupRecipients: o.backupRecipients,
		Logger:           log,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(stdout, "custosd listening on %s (%s)\n", d.Addr(), net)
	// Auditors check exports and checkpoints with this key (docs/audit.md).
	fmt.Fprintf(stdout, "custosd audit log key: %s\n", d.LogVerifierKey())
	return d.Run(ctx)
}

// rpcRate is the limit --rpc.rate asks for: 0 turns it off.
func rpcRate(perSecond float64) rate.Limit {
	if perSecond == 0 {
		return rate.Inf
	}
	return rate.Limit(perSecond)
}
