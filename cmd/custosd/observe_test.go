package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
)

// TestRunJSONLogsAndMetrics: with --log.format json every line custosd
// logs is one JSON object; --metrics.listen serves the metrics on the
// loopback address it names.
func TestRunJSONLogsAndMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := start(t, args(t, dir, "--log.format", "json", "--metrics.listen", "127.0.0.1:0"))
	var metricsAddr string
	waitFor(t, 10*time.Second, "custosd to log its metrics address", func() bool {
		for _, line := range strings.Split(r.stderr.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "metrics listening" {
				metricsAddr, _ = rec["addr"].(string)
				return true
			}
		}
		return false
	})
	resp, err := http.Get("http://" + metricsAddr + daemon.MetricsPath)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "custos_node_reachable 0")
	require.NoError(t, r.stop(t))

	lines := strings.Split(strings.TrimSpace(r.stderr.String()), "\n")
	require.NotEmpty(t, lines)
	for _, line := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "log line %q", line)
		require.Contains(t, rec, "msg")
		require.Contains(t, rec, "level")
	}
}

// TestRunObservationFlags: the log format, the metrics address and the
// node grace are checked before anything is made.
func TestRunObservationFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		extra []string
		want  string // empty: accepted
	}{
		{"text logs", []string{"--log.format", "text"}, ""},
		{"json logs", []string{"--log.format", "json"}, ""},
		{"unknown log format", []string{"--log.format", "xml"}, "--log.format"},
		{"metrics on loopback", []string{"--metrics.listen", "127.0.0.1:9464"}, ""},
		{"metrics on every interface", []string{"--metrics.listen", "0.0.0.0:9464"}, "--metrics.allow-remote"},
		{"metrics without a host", []string{"--metrics.listen", ":9464"}, "not a loopback address"},
		{"metrics elsewhere, allowed", []string{"--metrics.listen", "0.0.0.0:9464", "--metrics.allow-remote"}, ""},
		{"no node grace", []string{"--health.nodegrace", "0s"}, "--health.nodegrace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "custosd")
			o, err := parseFlags(args(t, dir, tc.extra...), io.Discard)
			if tc.want == "" {
				require.NoError(t, err)
				require.NotNil(t, o)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			err = run(context.Background(), args(t, dir, tc.extra...), io.Discard, io.Discard)
			require.Error(t, err)
			require.NoDirExists(t, dir, "nothing is made before the flags are right")
		})
	}
}
