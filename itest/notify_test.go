//go:build itest

package itest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testNotifyPoll1h: custosd polls the node once an hour and still follows
// each new block within a moment, woken by btcd's websocket
// notifications. The follower's height is read from the metrics, which
// ask the node nothing: a status call would itself wake the follower.
func testNotifyPoll1h(t *testing.T, h *harness) {
	if h.node.kind != "btcd" {
		t.Skip("bitcoind notifies over ZMQ only; /work/corebuild's bitcoind has no ZMQ, the ZMQ path is tested in daemon/chain")
	}
	c := h.custos
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c.flags = append(c.flags, "--poll", "1h", "--metrics.listen", addr)
	c.restart()
	createReserve(t, c, 2, 3)
	waitFor(t, 10*time.Second, "notifications connected", func() bool {
		return strings.Contains(c.log(), "node notifications connected")
	})
	synced := func() float64 { return scrape(t, addr)["custos_sync_height"] }
	waitFor(t, 10*time.Second, "the first sync", func() bool { return synced() == float64(h.node.height()) })
	for range 3 {
		h.funder.mine(h.node, 1)
		mined := time.Now()
		want := float64(h.node.height())
		waitFor(t, 5*time.Second, fmt.Sprintf("height %v by notification", want), func() bool { return synced() == want })
		t.Logf("block %v followed within %s", want, time.Since(mined).Round(time.Millisecond))
	}
	require.Equal(t, float64(h.node.height()), scrape(t, addr)["custos_node_height"])
}
