//go:build itest

package itest

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// scrape reads custosd's Prometheus metrics from addr and returns the
// value of every sample line by its full name with labels.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^(custos_[^ ]+) ([^ \n]+)$`).FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		require.NoError(t, err, m[0])
		out[m[1]] = v
	}
	return out
}

// testMetricsAfterFlow: custosd with its metrics listener on loopback runs
// the README flow on the real node; what Prometheus scrapes afterwards is
// what happened — the node's height, one confirmed proposal holding its
// input, two approvals and two imports, the accepted broadcast, nothing
// signing, an audit log that grew.
func testMetricsAfterFlow(t *testing.T, h *harness) {
	c := h.custos
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c.flags = append(c.flags, "--metrics.listen", addr)
	c.restart()
	_, signers := createReserve(t, c, 2, 3)
	fund(t, h, 100_000_000)
	before := scrape(t, addr)
	require.Equal(t, 1.0, before["custos_node_reachable"])
	require.Zero(t, before[`custos_proposals{state="CONFIRMED"}`])

	p := c.propose(t, 3, payment{externalAddress(t), 10_000_000})
	mid := scrape(t, addr)
	require.Equal(t, 1.0, mid[`custos_proposals{state="SIGNING"}`])
	file := c.export(t, p.ID)
	c.importSigned(t, p.ID, signers[0].sign(t, file))
	c.importSigned(t, p.ID, signers[1].sign(t, file))
	c.waitState(t, p.ID, "BROADCAST")
	h.funder.mine(h.node, 1)
	c.waitState(t, p.ID, "CONFIRMED")
	c.waitSynced()

	after := scrape(t, addr)
	require.Equal(t, float64(h.node.height()), after["custos_sync_height"])
	require.Equal(t, float64(h.node.height()), after["custos_node_height"])
	require.Zero(t, after["custos_sync_lag_blocks"])
	require.Equal(t, 1.0, after[`custos_proposals{state="CONFIRMED"}`])
	require.Zero(t, after[`custos_proposals{state="SIGNING"}`])
	require.GreaterOrEqual(t, after[`custos_broadcasts_total{result="accepted"}`], 1.0)
	require.Equal(t, 2.0, after[`custos_rpc_requests_total{code="OK",method="/custos.v1.SpendService/ImportPSBT"}`])
	require.Equal(t, 2.0, after[`custos_rpc_requests_total{code="OK",method="/custos.v1.SpendService/DecideProposal"}`])
	// A confirmed proposal keeps its inputs reserved (a reorganisation
	// could make it unconfirmed again): its one input.
	require.Equal(t, float64(p.Inputs), after["custos_reservations"])
	require.Greater(t, after["custos_audit_log_size"], before["custos_audit_log_size"])
}
