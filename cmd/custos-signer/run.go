package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/custos-reserve/custos/passphrase"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

const progName = "custos-signer"

// usageError is a mistake in how the program was called (unknown command
// or flag, missing required flag): exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// exitCode reports err on stderr and returns the process exit status:
// 0 on success, 2 for a usage error, 1 for anything else.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	_, _ = fmt.Fprintf(stderr, "%s: %s\n", progName, safe(err.Error()))
	var u *usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}

// cli is the program with its surroundings, so tests can replace the
// environment and the terminal.
type cli struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv func(string) (string, bool)
	prompt    passphrase.PromptFunc
	homeDir   func() (string, error)
	// openTTY opens the terminal sign asks its question on; nil, or an
	// error, means the answer is read from stdin.
	openTTY func() (*os.File, error)
	// now is the clock approvals expire by and the ledger is dated with;
	// nil means time.Now.
	now func() time.Time
	// inspect, when set, receives each command's flags as the command
	// line and the file set them, instead of the command running (tests,
	// the configuration table of docs/operating.md).
	inspect func(fs *flag.FlagSet)
	// configEnv looks up $CUSTOS_SIGNER_CONFIG (config.go); nil: no file
	// unless --config names one.
	configEnv func(string) (string, bool)
}

// run is the whole program: main only adds the process around it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{
		stdin:     stdin,
		stdout:    stdout,
		stderr:    stderr,
		lookupEnv: os.LookupEnv,
		prompt:    passphrase.TerminalPrompt,
		homeDir:   os.UserHomeDir,
		openTTY:   openTerminal,
		now:       time.Now,
		configEnv: os.LookupEnv,
	}
	return c.run(ctx, args)
}

type command struct {
	name    string
	summary string
	run     func(c *cli, ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"init", "create this signer's key (or restore it from a mnemonic)", (*cli).cmdInit},
		{"xpub", "unlock the key and show its key record", (*cli).cmdXpub},
		{"register", "check the wallet descriptor holds this key and pin it; pin the spending policy", (*cli).cmdRegister},
		{"sign", "check a PSBT against the pinned wallet and policy, show it, and sign it", (*cli).cmdSign},
		{"ledger", "export this signer's ledger and state, import them on new hardware, or upgrade a previous release's", (*cli).cmdLedger},
		{"address", "show the pinned wallet's address at an index, or verify that an address is the wallet's", (*cli).cmdAddress},
		{"witness-key", "show this signer's audit log witness key and the log it witnesses", (*cli).cmdWitnessKey},
		{"serve", "sign online: receive custosd's signing requests over mTLS and sign what passes (serve.go)", (*cli).cmdServe},
		{"pending", "list the requests serve keeps for the operator, with sign's summary", (*cli).cmdPending},
		{"approve", "approve a request serve keeps: serve signs it", (*cli).cmdApprove},
		{"refuse", "refuse a request serve keeps: serve reports why to custosd", (*cli).cmdRefuse},
	}
}

func (c *cli) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		c.printUsage(c.stderr)
		return usageErrorf("no command given")
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			c.printUsage(c.stdout)
			return nil
		}
		name, rest = rest[0], []string{"-h"}
	}
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd.run(c, ctx, rest)
		}
	}
	return usageErrorf("unknown command %q; run '%s help' for the list", name, progName)
}

func (c *cli) printUsage(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s holds one ministry's cosigner key for a Custos reserve.\n\n", progName)
	fmt.Fprintf(&b, "Usage:\n  %s <command> [flags]\n\nCommands:\n", progName)
	for _, cmd := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(&b, "\nThe key file's passphrase is never a flag: it comes from $%s,\n", signer.EnvPassphrase)
	fmt.Fprintf(&b, "--passphrase-file FILE, or a prompt on the terminal.\n")
	fmt.Fprintf(&b, "Every command takes --json. Run '%s <command> -h' for its flags.\n", progName)
	_, _ = io.WriteString(w, b.String())
}

// flags are the flags every command shares.
type flags struct {
	fs             *flag.FlagSet
	datadir        string
	json           bool
	passphraseFile string
	config         string // config.go
}

// newFlags makes a command's flag set with --datadir and --json, and
// --passphrase-file when the command unlocks or creates the key.
func (c *cli) newFlags(name string, passphrase bool) *flags {
	f := &flags{fs: flag.NewFlagSet(progName+" "+name, flag.ContinueOnError)}
	f.fs.SetOutput(io.Discard)
	def := ""
	if home, err := c.homeDir(); err == nil && home != "" {
		def = filepath.Join(home, ".custos-signer")
	}
	f.fs.StringVar(&f.datadir, "datadir", def, "signer data directory (key file, pinned descriptor and policy, ledger)")
	f.fs.BoolVar(&f.json, "json", false, "print a JSON object instead of text")
	f.fs.StringVar(&f.config, "config", "", "read lasting settings from this TOML `FILE` (default: $"+envConfig+"); flags win")
	if passphrase {
		f.fs.StringVar(&f.passphraseFile, "passphrase-file", "",
			"read the key file passphrase from the first line of `FILE` (default: $"+signer.EnvPassphrase+", then a terminal prompt)")
	}
	return f
}

// parse parses args. It returns done=true when it printed the help (the
// command then returns nil), and a usage error for bad flags or extra
// arguments.
func (c *cli) parse(f *flags, args []string, synopsis, about string) (done bool, err error) {
	err = f.fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(c.stdout, "Usage:\n  %s\n\n%s\n\nFlags:\n", synopsis, about)
		f.fs.SetOutput(c.stdout)
		f.fs.PrintDefaults()
		return true, nil
	}
	if err != nil {
		return false, usageErrorf("%s: %w; run '%s -h' for usage", f.fs.Name(), err, f.fs.Name())
	}
	if f.fs.NArg() > 0 {
		return false, usageErrorf("%s: unexpected argument %q; run '%s -h' for usage", f.fs.Name(), f.fs.Arg(0), f.fs.Name())
	}
	// config.go: the file under the flags. A bad value the command line
	// gave is a usage error, like any other bad flag; one from the file
	// names the file and line.
	if err := c.applyConfig(f); err != nil {
		var re *reserve.Error
		if errors.As(err, &re) && strings.HasPrefix(re.Field, "--") {
			return false, usageErrorf("%s: %w; run '%s -h' for usage", f.fs.Name(), err, f.fs.Name())
		}
		return false, err
	}
	if c.inspect != nil {
		c.inspect(f.fs)
		return true, nil
	}
	if f.datadir == "" {
		return false, usageErrorf("%s: no home directory; pass --datadir", f.fs.Name())
	}
	return false, nil
}

func (c *cli) passphrases(f *flags) passphrase.Source {
	return passphrase.Source{LookupEnv: c.lookupEnv, EnvName: signer.EnvPassphrase, File: f.passphraseFile, Prompt: c.prompt}
}

// unlock asks for the passphrase and unlocks the key of f.datadir. The
// caller must Zero the key.
func (c *cli) unlock(ctx context.Context, f *flags) (*signer.Key, error) {
	// Read the header first: a missing or damaged file is reported
	// before anyone types a passphrase.
	kf, err := signer.ReadKeyFile(f.datadir)
	if err != nil {
		return nil, err
	}
	return c.unlockFile(ctx, f, kf)
}

// unlockFile asks for the passphrase and unlocks kf. The caller must Zero
// the key.
func (c *cli) unlockFile(ctx context.Context, f *flags, kf *signer.KeyFile) (*signer.Key, error) {
	pass, err := c.passphrases(f).Existing(ctx)
	if err != nil {
		return nil, err
	}
	defer clear(pass)
	return kf.Unlock(pass)
}

func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	// Descriptors hold "<0;1>": keep them as typed, not \u003c-escaped.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("unable to write JSON output: %w", err)
	}
	// encoding/json leaves a bidirectional override in a string as it is.
	if _, err := w.Write(reserve.EscapeJSON(buf.Bytes())); err != nil {
		return fmt.Errorf("unable to write JSON output: %w", err)
	}
	return nil
}

// subcommand is one command of a group (address show, ledger export).
type subcommand struct {
	name     string
	synopsis string // after "custos-signer GROUP "
	run      func(c *cli, ctx context.Context, args []string) error
}

// dispatch runs the subcommand args[0] of group, or prints the group's
// usage (about after the synopses) for none or -h; none, or one it does
// not know, is a usage error naming the ones there are.
func (c *cli) dispatch(ctx context.Context, group string, args []string, subs []subcommand, about string) error {
	name := ""
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	for _, s := range subs {
		if s.name == name {
			return s.run(c, ctx, args)
		}
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = "'" + group + " " + s.name + "'"
	}
	want := strings.Join(names, " or ")
	if len(names) > 2 {
		want = strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}
	switch name {
	case "", "-h", "-help", "--help":
		var b strings.Builder
		b.WriteString("Usage:\n")
		for _, s := range subs {
			fmt.Fprintf(&b, "  %s %s %s\n", progName, group, s.synopsis)
		}
		b.WriteString("\n" + about)
		if _, err := io.WriteString(c.stdout, b.String()); err != nil || name != "" {
			return err
		}
		return usageErrorf("%s: want %s", group, want)
	}
	return usageErrorf("%s: unknown command %q; want %s", group, name, want)
}

// lockKeyDir reads dir's key file header (a missing or damaged key is
// reported before anything else) and takes the data directory's lock; the
// caller unlocks it.
func lockKeyDir(dir string) (*signer.KeyFile, *signer.DirLock, error) {
	kf, err := signer.ReadKeyFile(dir)
	if err != nil {
		return nil, nil, err
	}
	lock, err := signer.LockDir(dir)
	if err != nil {
		return nil, nil, err
	}
	return kf, lock, nil
}
