package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// unitFile is a parsed systemd unit: section -> key -> values in order
// (a key may repeat; an empty assignment resets the list, as systemd does).
type unitFile map[string]map[string][]string

func parseUnit(text string) (unitFile, error) {
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, fmt.Errorf("line %d: %q is not key=value in a section", n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "" && k != "CapabilityBoundingSet" && k != "AmbientCapabilities" {
			u[section][k] = nil
			continue
		}
		u[section][k] = append(u[section][k], v)
	}
	return u, sc.Err()
}

// last is the value in effect of a single-valued directive of [Service].
func (u unitFile) last(key string) (string, bool) {
	vs := u["Service"][key]
	if len(vs) == 0 {
		return "", false
	}
	return vs[len(vs)-1], true
}

// hardening are the [Service] directives every unit must set, to these
// values (docs/operating.md, "Install").
var hardening = []struct{ key, value string }{
	{"NoNewPrivileges", "yes"},
	{"ProtectSystem", "strict"},
	{"ProtectHome", "yes"},
	{"PrivateTmp", "yes"},
	{"PrivateDevices", "yes"},
	{"RestrictSUIDSGID", "yes"},
	{"CapabilityBoundingSet", ""},
	{"UMask", "0077"},
	{"Restart", "on-failure"},
	{"LimitCORE", "0"},
}

// secretEnv matches an environment variable that holds a secret: those
// come from an EnvironmentFile of mode 0600 or a credential, never the
// unit, which anyone on the host may read.
var secretEnv = regexp.MustCompile(`(?i)^[A-Z0-9_]*(PASS|PASSPHRASE|SECRET|KEY)[A-Z0-9_]*=`)

// checkHardened refuses a unit that lacks a hardening directive, runs as
// root or no one in particular, may write anywhere but dataDir, or carries
// a secret in its command line or environment.
func checkHardened(u unitFile, dataDir string) error {
	for _, h := range hardening {
		v, ok := u.last(h.key)
		if !ok || v != h.value {
			return fmt.Errorf("%s=%s is required (have %q)", h.key, h.value, v)
		}
	}
	for _, key := range []string{"LimitNOFILE", "TasksMax", "MemoryMax", "RestartSec"} {
		if _, ok := u.last(key); !ok {
			return fmt.Errorf("%s is required (a limit)", key)
		}
	}
	if user, _ := u.last("User"); user == "" || user == "root" || user == "0" || user == "nobody" {
		return fmt.Errorf("User=%q: the service needs a dedicated user", user)
	}
	if _, ok := u.last("DynamicUser"); ok {
		return fmt.Errorf("DynamicUser: the data dir must keep one owner across restarts")
	}
	var paths []string
	for _, v := range u["Service"]["ReadWritePaths"] {
		paths = append(paths, strings.Fields(v)...)
	}
	if !slices.Equal(paths, []string{dataDir}) {
		return fmt.Errorf("ReadWritePaths=%q: only the data dir %s may be written", paths, dataDir)
	}
	exec, _ := u.last("ExecStart")
	if !strings.Contains(exec, "--datadir="+dataDir+" ") {
		return fmt.Errorf("ExecStart=%q does not run on the data dir %s", exec, dataDir)
	}
	for _, f := range strings.Fields(exec) {
		if name, val, ok := strings.Cut(f, "="); ok && strings.Contains(name, "pass") && !strings.HasPrefix(val, "%d/") {
			return fmt.Errorf("ExecStart names %s=%q: a secret comes from a credential (%%d/…), never the command line", name, val)
		}
	}
	for _, v := range u["Service"]["Environment"] {
		if secretEnv.MatchString(v) {
			name, _, _ := strings.Cut(v, "=")
			return fmt.Errorf("Environment=%s…: a secret comes from EnvironmentFile (mode 0600) or LoadCredential", name)
		}
	}
	return nil
}

// units are the units in this directory and the data dir each may write;
// drop-ins are appended to the unit they extend before the checks.
var units = []struct {
	name, file, instance, dataDir string
	dropIns                       []string
}{
	{name: "custosd", file: "custosd.service", instance: "custosd.service", dataDir: "/var/lib/custosd"},
	{name: "custosd with the CA online", file: "custosd.service", instance: "custosd.service", dataDir: "/var/lib/custosd",
		dropIns: []string{"custosd-ca-online.conf"}},
	{name: "signer agent", file: "custos-signer-serve@.service", instance: "custos-signer-serve@finance.service",
		dataDir: "/var/lib/custos-signer/%i"},
}

func mustUnitText(t *testing.T, file string, dropIns []string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	for _, d := range dropIns {
		extra, err := os.ReadFile(d)
		require.NoError(t, err)
		b = append(append(b, '\n'), extra...)
	}
	return string(b)
}

func TestUnitsHardened(t *testing.T) {
	for _, tc := range units {
		t.Run(tc.name, func(t *testing.T) {
			u, err := parseUnit(mustUnitText(t, tc.file, tc.dropIns))
			require.NoError(t, err)
			require.NoError(t, checkHardened(u, tc.dataDir))
		})
	}
	// A credential the unit expects is loaded by the unit.
	u, err := parseUnit(mustUnitText(t, "custos-signer-serve@.service", nil))
	require.NoError(t, err)
	require.Contains(t, u["Service"]["LoadCredential"], "passphrase:/etc/custos-signer/%i/passphrase")
	u, err = parseUnit(mustUnitText(t, "custosd.service", []string{"custosd-ca-online.conf"}))
	require.NoError(t, err)
	require.Contains(t, u["Service"]["LoadCredential"], "ca-passphrase:/etc/custos/ca-passphrase")
}

// TestUnitsHardenedRefuses checks that checkHardened catches each way a
// unit can lose its hardening, on edits of custosd.service.
func TestUnitsHardenedRefuses(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{name: "no NoNewPrivileges", old: "NoNewPrivileges=yes\n", new: "", want: "NoNewPrivileges"},
		{name: "ProtectSystem full", old: "ProtectSystem=strict", new: "ProtectSystem=full", want: "ProtectSystem"},
		{name: "no PrivateTmp", old: "PrivateTmp=yes", new: "PrivateTmp=no", want: "PrivateTmp"},
		{name: "home visible", old: "ProtectHome=yes", new: "ProtectHome=read-only", want: "ProtectHome"},
		{name: "another writable path", old: "ReadWritePaths=/var/lib/custosd", new: "ReadWritePaths=/var/lib/custosd /etc", want: "ReadWritePaths"},
		{name: "writable path elsewhere", old: "ReadWritePaths=/var/lib/custosd", new: "ReadWritePaths=/srv/custos", want: "ReadWritePaths"},
		{name: "root", old: "User=custos", new: "User=root", want: "dedicated user"},
		{name: "no user", old: "User=custos\n", new: "", want: "dedicated user"},
		{name: "capabilities kept", old: "CapabilityBoundingSet=\n", new: "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", want: "CapabilityBoundingSet"},
		{name: "never restarted", old: "Restart=on-failure", new: "Restart=no", want: "Restart"},
		{name: "core dumps", old: "LimitCORE=0", new: "LimitCORE=infinity", want: "LimitCORE"},
		{name: "no file limit", old: "LimitNOFILE=8192\n", new: "", want: "LimitNOFILE"},
		{name: "password on the command line", old: "--datadir=/var/lib/custosd ", new: "--datadir=/var/lib/custosd --node.rpcpass=hunter2 ", want: "node.rpcpass"},
		{name: "passphrase in the unit's environment", old: "Environment=CUSTOSD_CA_FLAGS=\n", new: "Environment=CUSTOSD_CA_PASSPHRASE=hunter2hunter2\n", want: "CUSTOSD_CA_PASSPHRASE"},
		{name: "passphrase file outside the credentials", old: "$CUSTOSD_CA_FLAGS", new: "--ca-passphrase-file=/etc/custos/ca-passphrase", want: "ca-passphrase-file"},
	}
	text := mustUnitText(t, "custosd.service", nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, text, tc.old)
			u, err := parseUnit(strings.Replace(text, tc.old, tc.new, 1))
			require.NoError(t, err)
			err = checkHardened(u, "/var/lib/custosd")
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestUnitsVerify runs systemd-analyze verify on each unit, with the
// binary paths pointed at stubs (verify checks that ExecStart exists), and
// fails on anything it says: it exits 0 on unknown keys and bad values,
// which it only prints.
func TestUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian: apt-get install systemd); TestUnitsHardened still checks the directives")
	}
	for _, tc := range units {
		t.Run(tc.name, func(t *testing.T) {
			out, err := systemdVerify(t, analyze, tc.file, tc.instance, mustUnitText(t, tc.file, tc.dropIns))
			require.NoError(t, err, "systemd-analyze verify: %s", out)
			require.Empty(t, out, "systemd-analyze verify has something to say")
		})
	}
	// What this test relies on: verify speaks up about a key or a value
	// systemd ignores.
	refused := []struct{ name, old, new, want string }{
		{name: "a misspelt key", old: "NoNewPrivileges=yes", new: "NoNewPrivilege=yes", want: "NoNewPrivilege"},
		{name: "a bad value", old: "ProtectSystem=strict", new: "ProtectSystem=stricter", want: "stricter"},
	}
	text := mustUnitText(t, "custosd.service", nil)
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := systemdVerify(t, analyze, "custosd.service", "custosd.service", strings.Replace(text, tc.old, tc.new, 1))
			require.Contains(t, out, tc.want)
		})
	}
}

// systemdVerify writes text as file in a temporary directory, with the
// binaries it starts replaced by stubs, verifies instance there and
// returns what systemd-analyze said.
func systemdVerify(t *testing.T, analyze, file, instance, text string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.Mkdir(bin, 0o755))
	for _, name := range []string{"custosd", "custos-signer"} {
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755))
	}
	text = strings.ReplaceAll(text, "/usr/local/bin/", bin+"/")
	require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644))
	var out bytes.Buffer
	cmd := exec.Command(analyze, "verify", "--man=no", "./"+instance)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// alertRules is the part of a Prometheus rules file the checks read.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var metricName = regexp.MustCompile(`\bcustos_[a-z_]+\b`)

// exportedMetrics are the custos_* names custosd registers (string
// literals in daemon/metrics*.go) and those audit-verify.sh writes.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "daemon", "metrics*.go"))
	require.NoError(t, err)
	files = append(files, "audit-verify.sh")
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`"(custos_[a-z_]+)"|\n(custos_[a-z_]+) `).FindAllSubmatch(b, -1) {
			names[string(m[1])+string(m[2])] = true
		}
	}
	require.NotEmpty(t, names)
	return names
}

// checkAlerts refuses a rules file whose alert names a metric nobody
// exports, has no severity, summary or runbook, or whose runbook is not a
// heading of docs/operating.md.
func checkAlerts(text []byte, exported map[string]bool, doc string) error {
	var rules alertRules
	if err := yaml.Unmarshal(text, &rules); err != nil {
		return err
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				if !exported[m] {
					return fmt.Errorf("alert %s: metric %s is exported by nothing", r.Alert, m)
				}
			}
			if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				return fmt.Errorf("alert %s: needs a severity and a summary", r.Alert)
			}
			_, anchor, ok := strings.Cut(r.Annotations["runbook"], "docs/operating.md#")
			if !ok || !strings.Contains(doc, "\n### "+anchor+"\n") && !strings.Contains(strings.ToLower(doc), "\n### "+anchor+"\n") {
				return fmt.Errorf("alert %s: runbook %q is not a heading of docs/operating.md", r.Alert, r.Annotations["runbook"])
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("no alerts")
	}
	return nil
}

func TestAlertRules(t *testing.T) {
	text, err := os.ReadFile("custos-alerts.yml")
	require.NoError(t, err)
	doc, err := os.ReadFile(filepath.Join("..", "docs", "operating.md"))
	require.NoError(t, err)
	exported := exportedMetrics(t)
	require.NoError(t, checkAlerts(text, exported, string(doc)))

	tests := []struct {
		name     string
		old, new string
		want     string
	}{
		{name: "a metric nobody exports", old: "custos_node_reachable == 0", new: "custos_node_up == 0", want: "custos_node_up"},
		{name: "no severity", old: "severity: warn\n", new: "team: ops\n", want: "severity"},
		{name: "a runbook that is no heading", old: "#custossynclag", new: "#custos-sync-lag", want: "runbook"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Contains(t, string(text), tc.old)
			err := checkAlerts([]byte(strings.Replace(string(text), tc.old, tc.new, 1)), exported, string(doc))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
