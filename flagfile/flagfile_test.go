package flagfile

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// list is a repeatable flag, as custosd's --backup-recipient.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

type opts struct {
	name    string
	level   int
	rate    float64
	verbose bool
	poll    time.Duration
	host    string
	pass    string
	yes     bool
	many    list
}

func newSet(o *opts) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	fs.StringVar(&o.name, "name", "alice", "a name")
	fs.IntVar(&o.level, "level", 1, "a level from 1 to 9")
	fs.Float64Var(&o.rate, "rpc.rate", 2.5, "a rate")
	fs.BoolVar(&o.verbose, "verbose", false, "say more")
	fs.DurationVar(&o.poll, "poll", time.Second, "how often")
	fs.StringVar(&o.host, "node.rpchost", "127.0.0.1:1", "where")
	fs.StringVar(&o.pass, "node.rpcpass", "", "a secret")
	fs.BoolVar(&o.yes, "yes", false, "sign without asking")
	fs.Var(&o.many, "many", "repeatable")
	return fs
}

func rules() Rules {
	return Rules{
		Allowed:   func(name string) bool { return name != "yes" },
		Elsewhere: func(name string) bool { return name == "max-fee" },
		Secret:    map[string]string{"node.rpcpass": "use CUSTOSD_NODE_RPCPASS"},
		Check: map[string]func(string) error{"level": func(v string) error {
			if v < "1" || v > "9" || len(v) != 1 {
				return fmt.Errorf("must be 1 to 9, got %s", v)
			}
			return nil
		}},
	}
}

// MustWrite writes a configuration file with mode 0600 and returns its path.
func MustWrite(tb testing.TB, text string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "c.toml")
	require.NoError(tb, os.WriteFile(path, []byte(text), 0o600))
	return path
}

func TestApplySetsEveryKind(t *testing.T) {
	t.Parallel()
	var o opts
	fs := newSet(&o)
	require.NoError(t, fs.Parse(nil))
	path := MustWrite(t, `
name = "bob"
level = 7
verbose = true
poll = "250ms"
many = ["a", "b"]
max-fee = "0.1"
[rpc]
rate = 0.5
[node]
rpchost = "127.0.0.1:2"
`)
	s, err := Apply(fs, path, rules())
	require.NoError(t, err)
	require.Equal(t, opts{name: "bob", level: 7, rate: 0.5, verbose: true, poll: 250 * time.Millisecond,
		host: "127.0.0.1:2", many: list{"a", "b"}}, o)
	require.Equal(t, 2, s.FromFile("name"))
	require.Equal(t, 11, s.FromFile("node.rpchost"))
	require.Equal(t, "file", s.Origin("poll"))
	require.Equal(t, "default", s.Origin("yes"))
}

func TestApplyFlagWins(t *testing.T) {
	t.Parallel()
	var o opts
	fs := newSet(&o)
	require.NoError(t, fs.Parse([]string{"--name", "carol", "--many", "z", "--level", "3"}))
	s, err := Apply(fs, MustWrite(t, "name = \"bob\"\nmany = [\"a\"]\nlevel = 8\npoll = \"2s\"\n"), rules())
	require.NoError(t, err)
	require.Equal(t, "carol", o.name)
	require.Equal(t, list{"z"}, o.many, "a repeatable flag on the command line replaces the file's list")
	require.Equal(t, 3, o.level)
	require.Equal(t, 2*time.Second, o.poll)
	require.Equal(t, "flag", s.Origin("name"))
	require.Equal(t, "file", s.Origin("poll"))
}

func TestApplyRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		file string
		mode os.FileMode
		want string
	}{
		{name: "unknown key", file: "name = \"bob\"\nturbo = true\n", want: "line 2: turbo: unknown option"},
		{name: "unknown key in a section", file: "[node]\nrpchost = \"h:1\"\nrpcport = 1\n", want: "line 3: node.rpcport: unknown option"},
		{name: "unknown section", file: "\n[metrics]\n", want: "line 2: metrics: unknown section"},
		{name: "array of tables", file: "[[node]]\nrpchost = \"h:1\"\n", want: "node: unknown option"},
		{name: "not allowed in a file", file: "yes = true\n", want: "line 1: yes: unknown option"},
		{name: "secret", file: "\n\n[node]\nrpcpass = \"hunter2\"\n", want: "line 4: node.rpcpass: a secret is never written in a configuration file: use CUSTOSD_NODE_RPCPASS"},
		{name: "string for an integer", file: "level = \"7\"\n", want: "line 1: level: want an integer, got a string"},
		{name: "integer for a bool", file: "verbose = 1\n", want: "line 1: verbose: want true or false, got an integer"},
		{name: "float for an integer", file: "level = 7.5\n", want: "line 1: level: want an integer, got a float"},
		{name: "number for a duration", file: "poll = 5\n", want: `line 1: poll: want a duration string such as "30s", got an integer`},
		{name: "malformed duration", file: "poll = \"often\"\n", want: `line 1: poll: time: invalid duration "often"`},
		{name: "malformed duration under a flag", args: []string{"--poll", "1s"}, file: "poll = \"often\"\n", want: `line 1: poll: time: invalid duration "often"`},
		{name: "array of numbers", file: "many = [1]\n", want: "line 1: many: want an array of strings, element 0 is an integer"},
		{name: "value the option refuses", file: "\nlevel = 12\n", want: "line 2: level: must be 1 to 9, got 12"},
		{name: "flag the option refuses", args: []string{"--level", "0"}, file: "level = 5\n", want: "--level: must be 1 to 9, got 0"},
		{name: "syntax", file: "name = \"bob\"\nlevel = = 3\n", want: "line 2: syntax: "},
		{name: "duplicate key", file: "name = \"a\"\nname = \"b\"\n", want: "line 2: syntax: "},
		{name: "writable by others", file: "name = \"bob\"\n", mode: 0o664, want: "others may write it (mode 0664)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var o opts
			fs := newSet(&o)
			require.NoError(t, fs.Parse(tc.args))
			path := MustWrite(t, tc.file)
			if tc.mode != 0 {
				require.NoError(t, os.Chmod(path, tc.mode))
			}
			_, err := Apply(fs, path, rules())
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "err: %v", err)
			require.NotContains(t, err.Error(), "hunter2", "a secret is never repeated")
		})
	}
}

func TestApplyNoFile(t *testing.T) {
	t.Parallel()
	var o opts
	fs := newSet(&o)
	require.NoError(t, fs.Parse(nil))
	_, err := Apply(fs, "", rules())
	require.NoError(t, err)
	require.Equal(t, "alice", o.name)

	_, err = Apply(fs, filepath.Join(t.TempDir(), "absent.toml"), rules())
	require.ErrorIs(t, err, os.ErrNotExist, "a file named and missing is refused")
	require.True(t, errors.Is(err, os.ErrNotExist))
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	var o opts
	fs := newSet(&o)
	var b bytes.Buffer
	require.NoError(t, Markdown(&b, fs, rules(), ""))
	require.Contains(t, b.String(), "| `poll` | duration | `1s` | how often |")
	require.Contains(t, b.String(), "| `node.rpcpass` | flag only |  | a secret; never in a file: use CUSTOSD_NODE_RPCPASS |")
	require.NotContains(t, b.String(), "`yes`")
}
