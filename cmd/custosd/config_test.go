package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/reserve"
)

// MustConfig writes a custosd config file (mode 0600) and returns its path.
func MustConfig(tb testing.TB, text string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "custosd.toml")
	require.NoError(tb, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// MustRecipient returns a fresh age recipient.
func MustRecipient(tb testing.TB) string {
	tb.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(tb, err)
	return id.Recipient().String()
}

// notFileKeys are the options no file sets: --config names the file, the
// node's password is a secret.
var notFileKeys = map[string]bool{"config": true, "node.rpcpass": true}

func TestConfigEveryOption(t *testing.T) {
	t.Parallel()
	recipient := MustRecipient(t)
	tests := []struct {
		name string // the option, its key
		toml string // its line in the file
		got  func(o *options) any
		want any
	}{
		{"datadir", `datadir = "/srv/custos"`, func(o *options) any { return o.dataDir }, "/srv/custos"},
		{"network", `network = "signet"`, func(o *options) any { return o.network }, "signet"},
		{"rpclisten", `rpclisten = "127.0.0.1:9999"`, func(o *options) any { return o.rpcListen }, "127.0.0.1:9999"},
		{"tlsextrahost", `tlsextrahost = ["custos.example", "10.0.0.5"]`, func(o *options) any { return []string(o.extraHosts) }, []string{"custos.example", "10.0.0.5"}},
		{"node.kind", `node.kind = "bitcoind"`, func(o *options) any { return o.nodeKind }, "bitcoind"},
		{"node.rpchost", `node.rpchost = "127.0.0.1:38332"`, func(o *options) any { return o.nodeHost }, "127.0.0.1:38332"},
		{"node.rpcuser", `node.rpcuser = "custos"`, func(o *options) any { return o.nodeUser }, "custos"},
		{"node.rpccookie", `node.rpccookie = "/var/lib/bitcoind/signet/.cookie"`, func(o *options) any { return o.nodeCookie }, "/var/lib/bitcoind/signet/.cookie"},
		{"node.rpctimeout", `node.rpctimeout = "45s"`, func(o *options) any { return o.nodeTimeout }, 45 * time.Second},
		{"node.notify", `node.notify = "off"`, func(o *options) any { return o.nodeNotify }, "off"},
		{"node.zmqblock", `node.zmqblock = "tcp://127.0.0.1:28332"`, func(o *options) any { return o.zmqBlock }, "tcp://127.0.0.1:28332"},
		{"node.zmqtx", `node.zmqtx = "tcp://127.0.0.1:28333"`, func(o *options) any { return o.zmqTx }, "tcp://127.0.0.1:28333"},
		{"poll", `poll = "5s"`, func(o *options) any { return o.poll }, 5 * time.Second},
		{"confirmations", `confirmations = 3`, func(o *options) any { return o.confirms }, 3},
		{"lock-timeout", `lock-timeout = "3s"`, func(o *options) any { return o.lockTimeout }, 3 * time.Second},
		{"loglevel", `loglevel = "debug"`, func(o *options) any { return o.logLevel }, "debug"},
		{"log.format", `log.format = "json"`, func(o *options) any { return o.logFormat }, "json"},
		{"metrics.listen", `metrics.listen = "127.0.0.1:9400"`, func(o *options) any { return o.metricsListen }, "127.0.0.1:9400"},
		{"metrics.allow-remote", `metrics.allow-remote = true`, func(o *options) any { return o.metricsRemote }, true},
		{"console.listen", `console.listen = "127.0.0.1:8443"`, func(o *options) any { return o.consoleListen }, "127.0.0.1:8443"},
		{"console.origin", `console.origin = "https://treasury.example:8443"`, func(o *options) any { return o.consoleOrigin }, "https://treasury.example:8443"},
		{"console.allow-remote", `console.allow-remote = true`, func(o *options) any { return o.consoleRemote }, true},
		{"console.session-ttl", `console.session-ttl = "10m"`, func(o *options) any { return o.consoleTTL }, 10 * time.Minute},
		{"health.nodegrace", `health.nodegrace = "2m"`, func(o *options) any { return o.nodeGrace }, 2 * time.Minute},
		{"ca-passphrase-file", `ca-passphrase-file = "/etc/custos/ca.pass"`, func(o *options) any { return o.caPassFile }, "/etc/custos/ca.pass"},
		{"rpc.rate", `rpc.rate = 0.5`, func(o *options) any { return o.rpcRate }, 0.5},
		{"rpc.burst", `rpc.burst = 7`, func(o *options) any { return o.rpcBurst }, 7},
		{"backup-recipient", `backup-recipient = ["` + recipient + `"]`, func(o *options) any { return []string(o.backupRecipients) }, []string{recipient}},
		{ackMainnet, ackMainnet + ` = true`, func(o *options) any { return o.mainnetAck }, true},
	}

	// Every option has its row: a new flag is a new key, and is tested.
	_, fs := flagSet(&bytes.Buffer{})
	rows := map[string]bool{}
	for _, tc := range tests {
		rows[tc.name] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !notFileKeys[f.Name] {
			require.True(t, rows[f.Name], "option %s has no row in TestConfigEveryOption", f.Name)
		}
	})

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := tc.toml + "\n"
			if tc.name != "network" {
				text += "network = \"regtest\"\n"
			}
			o, err := parseFlags([]string{"--config", MustConfig(t, text)}, &bytes.Buffer{})
			require.NoError(t, err)
			require.Equal(t, tc.want, tc.got(o))
		})
	}
}

// TestConfigStarts runs custosd from a file alone: the options are in
// effect (the data dir, the network, the listener, the node).
func TestConfigStarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := MustConfig(t, `# custosd on regtest
network = "regtest"
datadir = "`+dir+`"
rpclisten = "127.0.0.1:0"
poll = "50ms"

[node]
rpchost = "`+MustDeadNodeHost(t)+`"
`)
	r := start(t, []string{"--config", conf})
	waitFor(t, 10*time.Second, "custosd to write "+daemon.AddrFile, func() bool {
		_, err := os.Stat(filepath.Join(dir, daemon.AddrFile))
		return err == nil
	})
	require.Contains(t, r.stdout.String(), "(regtest)")
	require.NoError(t, r.stop(t))
}

func TestConfigFlagOverFile(t *testing.T) {
	t.Parallel()
	conf := MustConfig(t, `network = "signet"
poll = "5s"
confirmations = 3
tlsextrahost = ["from-file.example"]
`)
	o, err := parseFlags([]string{"--config", conf, "--network", "regtest", "--poll", "1s", "--tlsextrahost", "from-flag.example"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "regtest", o.network)
	require.Equal(t, time.Second, o.poll)
	require.Equal(t, []string{"from-flag.example"}, []string(o.extraHosts), "the flag replaces the file's list")
	require.Equal(t, 3, o.confirms, "what the flags do not say comes from the file")
}

func TestConfigRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		toml string
		args []string
		want string
	}{
		{name: "unknown network", toml: "network = \"foonet\"", want: `line 1: network: unknown network "foonet"`},
		{name: "unknown node kind", toml: "network = \"regtest\"\n[node]\nkind = \"parity\"", want: `line 3: node.kind: unknown node kind "parity"`},
		{name: "unknown notification mode", toml: "network = \"regtest\"\n[node]\nnotify = \"push\"", want: `line 3: node.notify: unknown notification mode "push"`},
		{name: "unknown log level", toml: "network = \"regtest\"\nloglevel = \"loud\"", want: "line 2: loglevel: "},
		{name: "no confirmations", toml: "network = \"regtest\"\nconfirmations = 0", want: "line 2: confirmations: must be 1 to 1000, got 0"},
		{name: "confirmations as a string", toml: "network = \"regtest\"\nconfirmations = \"6\"", want: "line 2: confirmations: want an integer, got a string"},
		{name: "negative rate", toml: "network = \"regtest\"\nrpc.rate = -1.0", want: "line 2: rpc.rate: must be 0 or more, got -1"},
		{name: "no burst", toml: "network = \"regtest\"\nrpc.burst = 0", want: "line 2: rpc.burst: must be 1 or more, got 0"},
		{name: "bad backup recipient", toml: "network = \"regtest\"\nbackup-recipient = [\"age1nope\"]", want: "line 2: backup-recipient: "},
		{name: "malformed duration", toml: "network = \"regtest\"\npoll = \"often\"", want: `line 2: poll: time: invalid duration "often"`},
		{name: "duration as a number", toml: "network = \"regtest\"\npoll = 5", want: "line 2: poll: want a duration string"},
		{name: "bool as a string", toml: "network = \"regtest\"\nmetrics.allow-remote = \"yes\"", want: "line 2: metrics.allow-remote: want true or false, got a string"},
		{name: "unknown key", toml: "network = \"regtest\"\nturbo = true", want: "line 2: turbo: unknown option"},
		{name: "unknown key under node", toml: "network = \"regtest\"\n[node]\nrpcport = 8332", want: "line 3: node.rpcport: unknown option"},
		{name: "node password in the file", toml: "network = \"regtest\"\nnode.rpcpass = \"hunter2\"", want: "line 2: node.rpcpass: a secret is never written in a configuration file: set CUSTOSD_NODE_RPCPASS"},
		{name: "config in the config", toml: "network = \"regtest\"\nconfig = \"/etc/other.toml\"", want: "line 2: config: unknown option"},
		{name: "syntax", toml: "network = \"regtest\"\npoll = ", want: "line 2: syntax: "},
		{name: "missing network", toml: "poll = \"1s\"", want: "--network: is required"},
		{name: "flag refused, file fine", toml: "network = \"regtest\"\nconfirmations = 3", args: []string{"--confirmations", "0"}, want: "--confirmations: must be 1 to 1000, got 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "custosd")
			conf := MustConfig(t, tc.toml+"\n")
			var out, errOut syncBuffer
			err := run(context.Background(), append([]string{"--config", conf, "--datadir", dir}, tc.args...), &out, &errOut)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "err: %v", err)
			require.NotContains(t, err.Error()+errOut.String(), "hunter2", "a secret is never repeated")
			require.NoDirExists(t, dir, "nothing is made before the configuration is right")
		})
	}
}

func TestConfigMainnet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		toml string
		args []string
		want string // "" when allowed
	}{
		{name: "file says mainnet alone", toml: "network = \"mainnet\"", want: "line 1: network: mainnet needs the operator's word: pass --" + ackMainnet},
		{name: "flag says mainnet alone", args: []string{"--network", "mainnet"}, want: "--network: mainnet needs the operator's word"},
		{name: "alias main alone", args: []string{"--network", "main"}, want: "--network: mainnet needs"},
		{name: "acknowledged false", toml: "network = \"mainnet\"\n" + ackMainnet + " = false", want: "mainnet needs the operator's word"},
		{name: "acknowledged in the file", toml: "network = \"mainnet\"\n" + ackMainnet + " = true"},
		{name: "acknowledged by flag", toml: "network = \"mainnet\"", args: []string{"--" + ackMainnet}},
		{name: "testnet needs nothing", toml: "network = \"testnet\""},
		{name: "signet needs nothing", toml: "network = \"signet\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--config", MustConfig(t, tc.toml+"\n")}, tc.args...)
			o, err := parseFlags(args, &bytes.Buffer{})
			if tc.want == "" {
				require.NoError(t, err)
				require.NotEmpty(t, o.network)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Contains(t, err.Error(), ackMainnet)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
		})
	}
}

func TestHelpListsEveryOption(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	err := run(context.Background(), []string{"--help"}, &out, &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	_, fs := flagSet(&bytes.Buffer{})
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, name := range names {
		require.Regexp(t, `(?m)^  -`+regexp.QuoteMeta(name)+`( |$)`, out.String(), "--help lists %s", name)
	}
	require.Contains(t, out.String(), "(default 6)", "and the defaults")
}

// TestConfigDoc holds docs/operating.md's table of custosd's options to the
// flags; go test ./cmd/custosd -run TestConfigDoc -update rewrites it.
func TestConfigDoc(t *testing.T) {
	_, fs := flagSet(&bytes.Buffer{})
	home, _ := os.UserHomeDir()
	checkDoc(t, "custosd", func(b *bytes.Buffer) error { return markdown(b, fs, home) })
}

var update = flag.Bool("update", false, "rewrite the configuration tables of docs/operating.md")

// checkDoc compares the block between "<!-- begin NAME options -->" and
// "<!-- end NAME options -->" in docs/operating.md with gen's output, or
// writes it with -update.
func checkDoc(t *testing.T, name string, gen func(*bytes.Buffer) error) {
	t.Helper()
	path := filepath.Join("..", "..", "docs", "operating.md")
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	begin, end := "<!-- begin "+name+" options -->\n", "<!-- end "+name+" options -->"
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	require.True(t, i >= 0 && j > i, "docs/operating.md has no %q … %q block", begin, end)
	var b bytes.Buffer
	require.NoError(t, gen(&b))
	if *update {
		out := string(doc[:i+len(begin)]) + b.String() + string(doc[j:])
		require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
		return
	}
	require.Equal(t, b.String(), string(doc[i+len(begin):j]), "docs/operating.md is out of date: go test ./cmd/%s -run TestConfigDoc -update", name)
}
