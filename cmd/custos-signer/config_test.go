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

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/flagfile"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// MustConfig writes a custos-signer config file (mode 0600) and returns
// its path.
func MustConfig(tb testing.TB, text string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "custos-signer.toml")
	require.NoError(tb, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// inspectAll runs every command and subcommand with args and env, and
// returns their flag sets as the command line and the file left them.
func inspectAll(t *testing.T, env map[string]string, args ...string) map[string]*flag.FlagSet {
	t.Helper()
	sets := map[string]*flag.FlagSet{}
	newCLI := func(stdout *bytes.Buffer, into string) *cli {
		return &cli{
			stdin: strings.NewReader(""), stdout: stdout, stderr: &bytes.Buffer{},
			lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			configEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			homeDir:   func() (string, error) { return "/home/ministry", nil },
			inspect:   func(fs *flag.FlagSet) { sets[into] = fs },
		}
	}
	sub := regexp.MustCompile(`(?m)^  ` + progName + ` (\S+) (\S+)`)
	for _, cmd := range commands() {
		var out bytes.Buffer
		err := newCLI(&bytes.Buffer{}, cmd.name).run(context.Background(), append([]string{cmd.name}, args...))
		if _, ok := sets[cmd.name]; ok {
			require.NoError(t, err, cmd.name)
			continue
		}
		// A group: its usage names its commands.
		_ = newCLI(&out, cmd.name).run(context.Background(), []string{cmd.name})
		for _, m := range sub.FindAllStringSubmatch(out.String(), -1) {
			name := m[1] + " " + m[2]
			err := newCLI(&bytes.Buffer{}, name).run(context.Background(), append([]string{m[1], m[2]}, args...))
			if _, ok := sets[name]; ok {
				require.NoError(t, err, name)
			}
		}
	}
	require.Contains(t, sets, "sign")
	require.Contains(t, sets, "ledger export")
	return sets
}

func TestConfigEveryOption(t *testing.T) {
	t.Parallel()
	values := map[string]struct{ toml, want string }{
		"datadir":         {`"/srv/ministry-a"`, "/srv/ministry-a"},
		"json":            {`true`, "true"},
		"passphrase-file": {`"/etc/custos/signer.pass"`, "/etc/custos/signer.pass"},
		"max-fee":         {`"0.05"`, "0.05"},
		"max-feerate":     {`250`, "250"},
		"daemon":          {`"custos.example:7341"`, "custos.example:7341"},
		"identity":        {`"/etc/custos/identity"`, "/etc/custos/identity"},
		"log-json":        {`true`, "true"},
	}
	var text strings.Builder
	for _, key := range configKeys() {
		v, ok := values[key]
		require.True(t, ok, "config key %s has no value in TestConfigEveryOption", key)
		text.WriteString(key + " = " + v.toml + "\n")
	}
	conf := MustConfig(t, text.String())

	// From --config and from $CUSTOS_SIGNER_CONFIG alike.
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
	}{
		{name: "flag", args: []string{"--config", conf}},
		{name: "environment", env: map[string]string{envConfig: conf}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sets := inspectAll(t, tc.env, tc.args...)
			taken := map[string]bool{}
			for cmd, fs := range sets {
				for _, key := range configKeys() {
					if f := fs.Lookup(key); f != nil {
						taken[key] = true
						require.Equal(t, values[key].want, f.Value.String(), "%s of %s", key, cmd)
					}
				}
			}
			for _, key := range configKeys() {
				require.True(t, taken[key], "no command takes config key %s", key)
			}
		})
	}
}

// TestConfigInEffect runs xpub with its data dir, passphrase file and
// --json from the file alone, then with flags over the file.
func TestConfigInEffect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	MustRestore(t, dir)
	pass := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(pass, []byte(testPassphrase+"\n"), 0o600))
	conf := MustConfig(t, "datadir = \""+dir+"\"\npassphrase-file = \""+pass+"\"\njson = true\n")

	r := runCLI(t, "", "xpub", "--config", conf)
	require.Equal(t, 0, r.code, r.stderr)
	out := decode[keyOutput](t, r.stdout)
	require.Equal(t, filepath.Join(dir, signer.KeyFileName), out.KeyFile)
	require.Equal(t, "regtest", out.Network)

	// Flags win: text instead of JSON; another data dir, which is empty.
	r = runCLI(t, "", "xpub", "--config", conf, "--json=false")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, out.KeyRecord+"\n", r.stdout)
	r = runCLI(t, "", "xpub", "--config", conf, "--datadir", t.TempDir())
	require.Equal(t, 1, r.code)
	require.NotContains(t, r.stderr, dir, "the file's data dir was not used")
}

func TestConfigRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		toml string
		args []string
		want string
	}{
		{name: "unknown key", toml: "datadir = \"/x\"\nturbo = true", want: "line 2: turbo: unknown option"},
		{name: "yes is never in a file", toml: "yes = true", want: "line 1: yes: unknown option"},
		{name: "auto is never in a file", toml: "auto = true", want: "line 1: auto: unknown option"},
		{name: "network is never in a file", toml: "network = \"mainnet\"", want: "line 1: network: unknown option"},
		{name: "config in the config", toml: "config = \"/x\"", want: "line 1: config: unknown option"},
		{name: "zero max fee", toml: "max-fee = \"0\"", want: "line 1: max-fee: must be more than 0"},
		{name: "max fee as a number", toml: "max-fee = 0.1", want: "line 1: max-fee: want a string, got a float"},
		{name: "malformed max fee", toml: "\nmax-fee = \"lots\"", want: "line 2: max-fee: "},
		{name: "zero max fee rate", toml: "max-feerate = 0", want: "line 1: max-feerate: must be more than 0"},
		{name: "json as a string", toml: "json = \"yes\"", want: "line 1: json: want true or false, got a string"},
		{name: "syntax", toml: "datadir = ", want: "line 1: syntax: "},
		{name: "flag refused, file fine", toml: "max-feerate = 10", args: []string{"--max-feerate", "0"}, want: "--max-feerate: must be more than 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"sign", "--config", MustConfig(t, tc.toml+"\n"), "--in", "x.psbt", "--out", "y.psbt"}, tc.args...)
			r := runCLI(t, "", args...)
			require.Error(t, r.err)
			require.Contains(t, r.err.Error(), tc.want)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(r.err), "err: %v", r.err)
		})
	}
}

func TestInitMainnet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	MustRestore(t, dir) // an existing key: init refuses it after the network is settled
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "mainnet alone", args: []string{"--network", "mainnet"}, want: "init: --network mainnet needs --" + ackMainnet},
		{name: "main alone", args: []string{"--network", "main"}, want: "needs --" + ackMainnet},
		{name: "mainnet acknowledged", args: []string{"--network", "mainnet", "--" + ackMainnet}, want: "already"},
		{name: "signet", args: []string{"--network", "signet"}, want: "already"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, "", append([]string{"init", "--datadir", dir}, tc.args...)...)
			require.Error(t, r.err)
			require.Contains(t, r.err.Error(), tc.want)
			if tc.want == "already" {
				require.NotContains(t, r.err.Error(), ackMainnet)
			}
		})
	}
}

// TestConfigDoc holds docs/operating.md's table of custos-signer's config
// keys to the commands' flags; -update rewrites it.
func TestConfigDoc(t *testing.T) {
	sets := inspectAll(t, nil)
	names := make([]string, 0, len(sets))
	for name := range sets {
		names = append(names, name)
	}
	sort.Strings(names)
	ordered := make([]*flag.FlagSet, len(names))
	for i, name := range names {
		ordered[i] = sets[name]
	}
	var b bytes.Buffer
	require.NoError(t, flagfile.Markdown(&b, configFlags(ordered), configRules(), "/home/ministry"))
	checkDoc(t, "custos-signer", b.String())
}

var update = flag.Bool("update", false, "rewrite the configuration table of docs/operating.md")

// checkDoc compares the block between "<!-- begin NAME options -->" and
// "<!-- end NAME options -->" in docs/operating.md with want, or writes it
// with -update.
func checkDoc(t *testing.T, name, want string) {
	t.Helper()
	path := filepath.Join("..", "..", "docs", "operating.md")
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	begin, end := "<!-- begin "+name+" options -->\n", "<!-- end "+name+" options -->"
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	require.True(t, i >= 0 && j > i, "docs/operating.md has no %q … %q block", begin, end)
	if *update {
		out := string(doc[:i+len(begin)]) + want + string(doc[j:])
		require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
		return
	}
	require.Equal(t, want, string(doc[i+len(begin):j]), "docs/operating.md is out of date: go test ./cmd/%s -run TestConfigDoc -update", name)
}
