package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/flagfile"
	"github.com/custos-reserve/custos/reserve"
)

// usageError is a mistake in the command line itself: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// common are the flags every command takes.
type common struct {
	dataDir   string
	rpcServer string
	caCert    string
	tlsCert   string
	tlsKey    string
	json      bool
	timeout   time.Duration
	// profile.go: the profile's file, and where each setting came from.
	profile  string
	settings *flagfile.Settings
}

func (c *common) bind(fs *flag.FlagSet) {
	home, _ := os.UserHomeDir()
	fs.StringVar(&c.dataDir, "datadir", filepath.Join(home, ".custosd"), "custosd data dir: its CA, the admin identity and the address file are found there")
	fs.StringVar(&c.rpcServer, "rpcserver", "", "custosd address host:port (default: read from <datadir>/"+daemon.AddrFile+")")
	fs.StringVar(&c.caCert, "cacert", "", "CA certificate to trust (default <datadir>/tls/ca.pem)")
	fs.StringVar(&c.tlsCert, "tlscert", "", "client certificate (default <datadir>/tls/admin.pem)")
	fs.StringVar(&c.tlsKey, "tlskey", "", "client key (default <datadir>/tls/admin.key)")
	fs.BoolVar(&c.json, "json", false, "print JSON for scripts instead of tables")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait for the daemon")
	fs.StringVar(&c.profile, "profile", "", "read settings from this TOML `FILE` (default: $"+envProfile+", else "+defaultProfile()+" if it exists); flags win")
}

// env is what a command runs with.
type env struct {
	ctx    context.Context
	common *common
	stdin  io.Reader
	stdout io.Writer
	conn   *grpc.ClientConn
}

// command is one leaf of the command tree.
type command struct {
	path  string // "wallet create"
	short string
	flags func(fs *flag.FlagSet) func(e *env, args []string) error
}

// offline are the commands that run without the daemon (e.conn is nil):
// an officer makes a key on their own machine.
var offline = map[string]bool{"officer keygen": true, "audit verify": true, "profile show": true}

var commands = []command{
	{"status", "show network, node tip and reachability, sync progress", statusCmd},
	{"balance", "show confirmed, unconfirmed and immature balance", balanceCmd},
	{"utxos", "list the reserve's unspent outputs", utxosCmd},
	{"wallet create", "create the reserve wallet from the ministries' key records (admin)", walletCreateCmd},
	{"wallet show", "show the reserve wallet and its descriptors", walletShowCmd},
	{"address new", "issue the next unused receive address", addressNewCmd},
	{"address list", "list issued addresses and what they received", addressListCmd},
	{"spend propose", "propose a payment: coin selection, PSBT, coins reserved", spendProposeCmd},
	{"spend consolidate", "propose merging the reserve's small, old coins into one output back to the reserve", spendConsolidateCmd},
	{"spend list", "list proposals", spendListCmd},
	{"spend show", "show a proposal: payees, fee, signers, history", spendShowCmd},
	{"spend export", "write a proposal's PSBT for the signers", spendExportCmd},
	{"spend import", "import a signed PSBT; finalize and broadcast when complete", spendImportCmd},
	{"spend cancel", "cancel a proposal not yet broadcast and free its coins", spendCancelCmd},
	{"spend approve", "show a proposal's intent and approve it with an officer key", spendDecideCmd(reserve.DecisionApprove)},
	{"spend reject", "veto a proposal with an officer key", spendDecideCmd(reserve.DecisionReject)},
	{"spend bump", "replace a broadcast proposal at a higher fee rate, within its approved fee cap", spendBumpCmd},
	{"policy show", "show the spending policy, a proposed change and the freeze", policyShowCmd},
	{"policy set", "set the first policy, or propose a change for the officers (admin)", policySetCmd},
	{"policy approve", "approve the proposed policy change with an officer key", policyApproveCmd},
	{"policy check", "say which tier and how many approvals a payment needs", policyCheckCmd},
	{"reserves prove", "request a proof of reserves over the wallet's coins for --message TEXT [--utxos all|TXID:VOUT,…]", reservesProveCmd},
	{"reserves approve", "show a proof's message and coins and approve it with an officer key", reservesApproveCmd},
	{"reserves export", "write a SIGNING proof's PSBT for the signers", reservesExportCmd},
	{"reserves import", "import a signed proof PSBT", reservesImportCmd},
	{"reserves finalize", "finalize a signed proof and write proof.json to --out [--no-descriptor]", reservesFinalizeCmd},
	{"reserves list", "list proofs of reserves", reservesListCmd},
	{"reserves show", "show a proof of reserves: message, coins, approvals, signers", reservesShowCmd},
	{"freeze", "stop all spending, with an officer key", freezeCmd},
	{"unfreeze", "approve lifting the freeze, with an officer key", unfreezeCmd},
	{"officer keygen", "make an officer's Ed25519 approval key, sealed under a passphrase (offline)", officerKeygenCmd},
	{"profile show", "show the settings in effect (flags, profile, defaults) and where each came from", profileShowCmd},
	{"admin backup", "write an encrypted backup of the daemon to --out FILE (admin)", adminBackupCmd},
	{"admin ack-restore", "let a restored daemon export again, once the ministries confirm its log (admin)", adminAckRestoreCmd},
	{"identity issue", "issue a client certificate for a person or signer agent (admin)", identityIssueCmd},
	{"identity list", "list identities: name, role, serial, issued, expires, last seen, revoked", identityListCmd},
	{"identity revoke", "revoke an identity by NAME or SERIAL; its next call is refused (admin)", identityRevokeCmd},
	{"audit checkpoint", "show a signed checkpoint of the audit log and the log key (admin, auditor)", auditCheckpointCmd},
	{"audit tail", "print audit entries [--follow] [--from SEQ] (admin, auditor)", auditTailCmd},
	{"audit export", "write the audit log and a signed checkpoint to --out FILE (admin, auditor)", auditExportCmd},
	{"audit verify", "check an export FILE offline against --log-key K; names the first bad line; --witness KEY (repeat) checks the ministries' cosignatures, --witnesses N of them needed", auditVerifyCmd},
	{"audit prove", "prove entry SEQ is in the log [--size N] (admin, auditor)", auditProveCmd},
	{"audit consistency", "prove the log of OLD entries is a prefix of the log of NEW (admin, auditor)", auditConsistencyCmd},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, os.Stdin, stdout, stderr)
}

func runWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stderr)
		if len(args) == 0 {
			return usagef("no command given")
		}
		return flag.ErrHelp
	}
	cmd, rest, err := findCommand(args)
	if err != nil {
		printUsage(stderr)
		return err
	}
	fs := flag.NewFlagSet("custosctl "+cmd.path, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.bind(fs)
	action := cmd.flags(fs)
	positional, err := parseInterspersed(fs, rest)
	if err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err.Error()}
	}
	// profile.go: the profile under the flags.
	if err := applyProfile(fs, &c); err != nil {
		return err
	}
	if offline[cmd.path] {
		return action(&env{ctx: ctx, common: &c, stdin: stdin, stdout: stdout}, positional)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := dial(&c)
	if err != nil {
		return err
	}
	defer conn.Close()
	return rpcError(action(&env{ctx: ctx, common: &c, stdin: stdin, stdout: stdout, conn: conn}, positional))
}

// parseInterspersed parses flags wherever they stand among the positional
// arguments (`spend export P000001 --out f`), which the flag package alone
// stops at; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func findCommand(args []string) (command, []string, error) {
	for _, n := range []int{2, 1} {
		if len(args) < n {
			continue
		}
		path := strings.Join(args[:n], " ")
		for _, c := range commands {
			if c.path == path {
				return c, args[n:], nil
			}
		}
	}
	return command{}, nil, usagef("unknown command %q", strings.Join(args[:min(2, len(args))], " "))
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: custosctl COMMAND [flags]   (every command takes --json; COMMAND -h for its flags)")
	cmds := append([]command(nil), commands...)
	sort.SliceStable(cmds, func(i, j int) bool { return cmds[i].path < cmds[j].path })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-16s %s\n", c.path, c.short)
	}
}

// dial connects to custosd with the identity and CA found through the
// data dir, unless given one by one.
func dial(c *common) (*grpc.ClientConn, error) {
	tlsDir := daemon.TLSDir(c.dataDir)
	pick := func(given, file string) string {
		if given != "" {
			return given
		}
		return filepath.Join(tlsDir, file)
	}
	caPEM, err := os.ReadFile(pick(c.caCert, daemon.CACertFile))
	if err != nil {
		return nil, fmt.Errorf("unable to read the daemon's CA certificate (is --datadir right?): %w", err)
	}
	certPEM, err := os.ReadFile(pick(c.tlsCert, daemon.AdminCertFile))
	if err != nil {
		return nil, fmt.Errorf("unable to read client certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(pick(c.tlsKey, daemon.AdminKeyFile))
	if err != nil {
		return nil, fmt.Errorf("unable to read client key: %w", err)
	}
	tlsCfg, err := daemon.ClientTLS(caPEM, certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	addr := c.rpcServer
	if addr == "" {
		b, err := os.ReadFile(filepath.Join(c.dataDir, daemon.AddrFile))
		if err != nil {
			return nil, fmt.Errorf("no --rpcserver given and custosd is not running on %s: %w", c.dataDir, err)
		}
		addr = strings.TrimSpace(string(b))
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithDefaultCallOptions(daemon.CallOptions()...))
}

// rpcError turns a gRPC status into "kind: message" for the user.
func rpcError(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return &rpcFailure{code: s.Code().String(), msg: s.Message()}
	}
	return err
}

// rpcFailure is an error the daemon returned.
type rpcFailure struct{ code, msg string }

func (e *rpcFailure) Error() string { return e.code + ": " + e.msg }

// printJSON writes v as indented JSON, every character that is not
// printable written as a \u escape (reserve.EscapeJSON): encoding/json
// writes a bidirectional override inside a string as it is.
func printJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	// Descriptors carry < and >: keep them as they are, for scripts.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(reserve.EscapeJSON(buf.Bytes()))
	return err
}

// textFlag refuses a flag value that is not valid UTF-8: the API carries
// text as protobuf strings, which must be UTF-8, and gRPC would otherwise
// fail the call with an internal error that names no flag.
func textFlag(name, value string) error {
	if !utf8.ValidString(value) {
		return usagef("--%s must be valid UTF-8", name)
	}
	return nil
}

// safe is text from the daemon or a file as custosctl shows it: every
// character that is not printable (control characters, terminal escapes,
// bidirectional overrides, newlines) is written as \u{…} (reserve.Escape),
// so a label, a memo or a note cannot make the terminal show an officer
// something else than the payees they approve. It is the one rule: printf
// applies it to every string it formats, and text built otherwise calls
// it on each value from outside.
func safe(s string) string { return reserve.Escape(s) }

// printf is fmt.Fprintf for text output with every string argument passed
// through safe: the format is custosctl's own, the arguments may come from
// the daemon or a file. Text that was already made safe may pass through
// again (safe changes nothing in it), but then without its newlines: write
// such text with io.WriteString.
func printf(w io.Writer, format string, args ...any) (int, error) {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = safe(s)
		}
	}
	return fmt.Fprintf(w, format, args...)
}

// safeLines is safe applied to each line of a multi-line document (a
// policy), keeping its line breaks.
func safeLines(text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = safe(l)
	}
	return strings.Join(lines, "\n")
}

// noArgs refuses positional arguments for commands that take none.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}
