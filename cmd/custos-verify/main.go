// Command custos-verify checks a Custos proof of reserves (proof.json)
// against a Bitcoin node: every signature with btcd's script engine, the
// message's commitment, and that every coin was unspent at the proof's
// height. It needs no Custos state and no keys: anyone with a node can run
// it.
//
//	custos-verify proof.json --node.rpchost 127.0.0.1:8332 --node.rpccookie ~/.bitcoin/.cookie [--html report.html]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/proof"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	code := exitCode(err)
	if code != 0 {
		fmt.Fprintf(os.Stderr, "custos-verify: %s\n", err)
	}
	os.Exit(code)
}

// exitCode is the program's exit status for run's error: 0 verified (or
// help asked), 2 a mistake on the command line, 1 anything else (the
// proof fails, the file is not a proof, the node cannot be asked).
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		return 2
	}
	return 1
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ error }

// passEnv names the environment variable that holds the node's RPC
// password: a flag value would show in the process list.
const passEnv = "CUSTOS_VERIFY_RPCPASS"

type options struct {
	file, html                   string
	host, user, passFile, cookie string
	kind                         string
	scanFrom                     int
	workers                      int
	timeout                      time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("custos-verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: custos-verify proof.json --node.rpchost HOST:PORT [--node.rpcuser U] [--node.rpcpassfile F | --node.rpccookie F] [--html report.html]\n"+
			"The node's RPC password comes from $%s or --node.rpcpassfile.\n", passEnv)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.host, "node.rpchost", "", "the node's JSON-RPC host:port (btcd or bitcoind)")
	fs.StringVar(&o.user, "node.rpcuser", "", "the node's RPC user")
	fs.StringVar(&o.passFile, "node.rpcpassfile", "", "a file holding the node's RPC password (else $"+passEnv+")")
	fs.StringVar(&o.cookie, "node.rpccookie", "", "bitcoind's .cookie file, instead of user and password")
	fs.StringVar(&o.kind, "node.kind", "", "btcd or bitcoind (default: whichever answers)")
	fs.StringVar(&o.html, "html", "", "also write a human-readable HTML report to this file")
	fs.IntVar(&o.scanFrom, "scan-from", 0, "the first block height read when looking for coins spent since the proof (the wallet's birthday saves time)")
	fs.IntVar(&o.workers, "workers", 0, "goroutines checking scripts (0: one per core)")
	fs.DurationVar(&o.timeout, "node.timeout", chain.DefaultRPCTimeout, "bound on each request to the node")
	// The proof file may come first (custos-verify proof.json --node...).
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err}
	}
	rest := fs.Args()
	if o.file == "" && len(rest) > 0 {
		o.file, rest = rest[0], rest[1:]
	}
	switch {
	case o.file == "":
		return o, usageError{errors.New("name the proof file (custos-verify proof.json --node.rpchost …)")}
	case len(rest) > 0:
		return o, usageError{fmt.Errorf("unexpected argument %q", rest[0])}
	case o.host == "":
		return o, usageError{errors.New("--node.rpchost is required")}
	case o.cookie != "" && (o.user != "" || o.passFile != ""):
		return o, usageError{errors.New("--node.rpccookie replaces --node.rpcuser and the password: give one or the other")}
	case o.scanFrom < 0 || o.scanFrom > 1<<31-1:
		return o, usageError{fmt.Errorf("--scan-from %d is not a block height", o.scanFrom)}
	case o.workers < 0:
		return o, usageError{fmt.Errorf("--workers %d is negative", o.workers)}
	}
	return o, nil
}

// run is the program: parse, verify, print, and write the report.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	node, err := dialNode(o, getenv)
	if err != nil {
		return err
	}
	defer node.Close()
	b, err := readFile(o.file)
	if err != nil {
		return err
	}
	f, err := proof.Parse(b)
	if err != nil {
		return fmt.Errorf("%s is not a valid proof file: %w", o.file, err)
	}
	res, verr := proof.Verify(ctx, f, nodeChain{node}, proof.Options{Workers: o.workers, ScanFrom: int32(o.scanFrom)})
	if o.html != "" {
		at := res.At
		if verr != nil {
			at = time.Now().UTC()
		}
		if err := writeReport(o.html, proof.ReportData{File: f, Result: res, Err: verr, At: at, Node: o.host}); err != nil {
			return err
		}
	}
	if verr != nil {
		return fmt.Errorf("the proof FAILS: %w", verr)
	}
	fmt.Fprintf(stdout, "proof of reserves VERIFIED\n"+
		"message:  %s\n"+
		"proven:   %s BTC (%d sat) in %d coins\n"+
		"at:       height %d, block %s\n"+
		"coins:    %d still unspent now, %d spent after height %d\n",
		f.Message, proof.FormatBTC(res.TotalSat), res.TotalSat, res.Coins, f.Height, f.BlockHash,
		res.UnspentNow, res.Coins-res.UnspentNow, f.Height)
	if res.Ownership.Checked {
		fmt.Fprintf(stdout, "wallet:   every coin re-derived from the published descriptor\n"+
			"signers:  %s (read from the signatures)\n", strings.Join(res.Ownership.Signers, ", "))
	} else {
		fmt.Fprintf(stdout, "wallet:   descriptor withheld: the coins' ownership rests on the signatures alone;\n"+
			"          the signers listed (%s) are the coordinator's word\n", signerList(f.Signers))
	}
	return nil
}

func signerList(ss []proof.Signer) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Fingerprint
	}
	return strings.Join(out, ", ")
}

// dialNode makes the node client; the password never comes from a flag.
func dialNode(o options, getenv func(string) string) (*chain.Node, error) {
	cfg := chain.NodeConfig{Host: o.host, User: o.user, CookiePath: o.cookie, RPCTimeout: o.timeout}
	if o.kind != "" {
		k, err := chain.ParseKind(o.kind)
		if err != nil {
			return nil, usageError{err}
		}
		cfg.Kind = k
	}
	if o.cookie == "" {
		cfg.Pass = getenv(passEnv)
		if o.passFile != "" {
			b, err := os.ReadFile(o.passFile)
			if err != nil {
				return nil, fmt.Errorf("unable to read the node's password file: %w", err)
			}
			cfg.Pass = strings.TrimRight(string(b), "\r\n")
		}
	}
	return chain.DialNode(cfg)
}

// readFile reads the proof file, at most proof.MaxFileBytes (plus one to
// tell a larger file).
func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("unable to open the proof file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, proof.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("unable to read the proof file: %w", err)
	}
	return b, nil
}

func writeReport(path string, d proof.ReportData) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("unable to write the report: %w", err)
	}
	if err := proof.WriteReport(fh, d); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("unable to write the report: %w", err)
	}
	return nil
}

// nodeChain is the verifier's chain lookup over the team's JSON-RPC
// client of btcd and bitcoind.
type nodeChain struct{ n *chain.Node }

var _ proof.Chain = nodeChain{}

func (c nodeChain) BestHeight(ctx context.Context) (int32, error) { return c.n.BestHeight(ctx) }

func (c nodeChain) BlockHashes(ctx context.Context, from int32, count int) ([]chainhash.Hash, error) {
	return c.n.BlockHashes(ctx, from, count)
}

func (c nodeChain) UnspentOutputs(ctx context.Context, ops []wire.OutPoint) ([]proof.Output, error) {
	us, err := c.n.UnspentOutputs(ctx, ops)
	if err != nil {
		return nil, err
	}
	out := make([]proof.Output, len(us))
	for i, u := range us {
		out[i] = proof.Output{Unspent: u.Found, TxOut: u.TxOut, Height: u.Height}
	}
	return out, nil
}

func (c nodeChain) Filters(ctx context.Context, hashes []chainhash.Hash) ([][]byte, error) {
	fs, err := c.n.BlockFilters(ctx, hashes)
	if errors.Is(err, chain.ErrNoBlockFilters) {
		return nil, fmt.Errorf("%w: %w", proof.ErrNoFilters, err)
	}
	return fs, err
}

func (c nodeChain) Blocks(ctx context.Context, hashes []chainhash.Hash) ([]*wire.MsgBlock, error) {
	return c.n.Blocks(ctx, hashes)
}
