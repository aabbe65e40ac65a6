package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/flagfile"
	"github.com/custos-reserve/custos/reserve"
)

// TestMain keeps the developer's own profile out of the tests: no
// $CUSTOS_PROFILE, and a configuration directory with no profile in it.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "custosctl-config")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CONFIG_HOME", dir)
	os.Unsetenv(envProfile)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// MustProfile writes a profile (mode 0600) at path, or in a temporary
// directory when path is "", and returns its path.
func MustProfile(tb testing.TB, path, text string) string {
	tb.Helper()
	if path == "" {
		path = filepath.Join(tb.TempDir(), "profile.toml")
	}
	require.NoError(tb, os.MkdirAll(filepath.Dir(path), 0o700))
	require.NoError(tb, os.WriteFile(path, []byte(text), 0o600))
	return path
}

type shown struct {
	Profile  string `json:"profile"`
	Settings []struct {
		Key, Value, Origin string
	} `json:"settings"`
}

// show runs profile show --json with args and returns what it said.
func show(t *testing.T, args ...string) shown {
	t.Helper()
	r := ctl(t, append([]string{"profile", "show", "--json"}, args...)...)
	require.Equal(t, 0, r.code, r.stderr)
	var s shown
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &s), r.stdout)
	return s
}

func (s shown) get(key string) (value, origin string) {
	for _, x := range s.Settings {
		if x.Key == key {
			return x.Value, x.Origin
		}
	}
	return "", ""
}

func TestProfileEveryKey(t *testing.T) {
	t.Parallel()
	values := map[string]struct{ toml, want string }{
		"datadir":   {`"/home/alice/custosd"`, "/home/alice/custosd"},
		"rpcserver": {`"custos.example:7341"`, "custos.example:7341"},
		"cacert":    {`"/home/alice/custos/ca.pem"`, "/home/alice/custos/ca.pem"},
		"tlscert":   {`"/home/alice/custos/alice.pem"`, "/home/alice/custos/alice.pem"},
		"tlskey":    {`"/home/alice/custos/alice.key"`, "/home/alice/custos/alice.key"},
		"key":       {`"/home/alice/custos/alice.officer"`, "/home/alice/custos/alice.officer"},
		"json":      {`true`, "true"},
		"timeout":   {`"5s"`, "5s"},
	}
	var text strings.Builder
	for _, k := range profileKeys() {
		v, ok := values[k]
		require.True(t, ok, "profile key %s has no value in TestProfileEveryKey", k)
		text.WriteString(k + " = " + v.toml + "\n")
	}
	path := MustProfile(t, "", text.String())

	// json = true is in effect: no --json given, JSON printed.
	r := ctl(t, "profile", "show", "--profile", path)
	require.Equal(t, 0, r.code, r.stderr)
	var s shown
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &s), r.stdout)
	require.Equal(t, path, s.Profile)
	for _, k := range profileKeys() {
		v, origin := s.get(k)
		require.Equal(t, values[k].want, v, k)
		require.Equal(t, "file", origin, k)
	}

	// The daemon's CA is the profile's: a command that dials reads it.
	r = ctl(t, "status", "--profile", path)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "/home/alice/custos/ca.pem")
}

func TestProfileFlagsWin(t *testing.T) {
	t.Parallel()
	path := MustProfile(t, "", "rpcserver = \"from-profile:1\"\ntimeout = \"5s\"\n")
	s := show(t, "--profile", path, "--rpcserver", "from-flag:2")
	v, origin := s.get("rpcserver")
	require.Equal(t, "from-flag:2", v)
	require.Equal(t, "flag", origin)
	v, origin = s.get("timeout")
	require.Equal(t, "5s", v)
	require.Equal(t, "file", origin)
	_, origin = s.get("tlscert")
	require.Equal(t, "default", origin)
}

// TestProfileFound reads the profile from $CUSTOS_PROFILE and from the
// user's configuration directory (not parallel: it sets the environment).
func TestProfileFound(t *testing.T) {
	conf := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", conf)

	s := show(t)
	require.Equal(t, "", s.Profile, "no profile is fine")
	_, origin := s.get("rpcserver")
	require.Equal(t, "default", origin)

	def := MustProfile(t, filepath.Join(conf, "custos", "profile.toml"), "rpcserver = \"default-profile:1\"\n")
	s = show(t)
	require.Equal(t, def, s.Profile)
	v, _ := s.get("rpcserver")
	require.Equal(t, "default-profile:1", v)

	env := MustProfile(t, "", "rpcserver = \"env-profile:1\"\n")
	t.Setenv(envProfile, env)
	s = show(t)
	require.Equal(t, env, s.Profile, "$CUSTOS_PROFILE before the default")
	other := MustProfile(t, "", "rpcserver = \"flag-profile:1\"\n")
	s = show(t, "--profile", other)
	require.Equal(t, other, s.Profile, "--profile before $CUSTOS_PROFILE")

	t.Setenv(envProfile, filepath.Join(conf, "absent.toml"))
	r := ctl(t, "profile", "show")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "absent.toml", "a profile named and missing is refused")
}

func TestProfileRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		toml string
		mode os.FileMode
		want string
	}{
		{name: "syntax", toml: "rpcserver = \"h:1\"\ntlscert = /x\n", want: "line 2: syntax: "},
		{name: "unknown key", toml: "\nrpcserver = \"h:1\"\nserver = \"h:1\"\n", want: "line 3: server: unknown option"},
		{name: "passphrase file", toml: "passphrase-file = \"/x\"\n", want: "line 1: passphrase-file: unknown option"},
		{name: "yes", toml: "yes = true\n", want: "line 1: yes: unknown option"},
		{name: "wrong type", toml: "json = \"true\"\n", want: "line 1: json: want true or false, got a string"},
		{name: "malformed duration", toml: "timeout = \"soon\"\n", want: `line 1: timeout: time: invalid duration "soon"`},
		{name: "writable by others", toml: "json = true\n", mode: 0o666, want: "others may write it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := MustProfile(t, "", tc.toml)
			if tc.mode != 0 {
				require.NoError(t, os.Chmod(path, tc.mode))
			}
			for _, cmd := range [][]string{{"profile", "show"}, {"spend", "approve", "P000001"}} {
				r := ctl(t, append(cmd, "--profile", path)...)
				require.Equal(t, 1, r.code, r.stderr)
				require.Contains(t, r.stderr, tc.want)
				require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(r.err))
			}
		})
	}
}

// TestProfileDoc holds docs/operating.md's table of profile keys to the
// flags; go test ./cmd/custosctl -run TestProfileDoc -update rewrites it.
func TestProfileDoc(t *testing.T) {
	fs := flag.NewFlagSet("custosctl", flag.ContinueOnError)
	var c common
	c.bind(fs)
	bindOfficer(fs, "approve")
	// The defaults are written as they read on any machine.
	fs.Lookup("datadir").DefValue = "~/.custosd"
	var b bytes.Buffer
	require.NoError(t, flagfile.Markdown(&b, fs, profileRules(), ""))
	for _, k := range profileKeys() {
		require.NotNil(t, fs.Lookup(k), "profile key %s is no flag", k)
	}

	path := filepath.Join("..", "..", "docs", "operating.md")
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	begin, end := "<!-- begin custosctl profile -->\n", "<!-- end custosctl profile -->"
	i, j := strings.Index(string(doc), begin), strings.Index(string(doc), end)
	require.True(t, i >= 0 && j > i, "docs/operating.md has no %q … %q block", begin, end)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(string(doc[:i+len(begin)])+b.String()+string(doc[j:])), 0o644))
		return
	}
	require.Equal(t, b.String(), string(doc[i+len(begin):j]), "docs/operating.md is out of date: go test ./cmd/custosctl -run TestProfileDoc -update")
}

var update = flag.Bool("update", false, "rewrite the profile table of docs/operating.md")
