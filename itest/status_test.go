//go:build itest

package itest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// testStatusWait is issue 10's "status tells the truth": right after
// blocks are mined, status --wait returns only once the wallet is synced
// to the node's new tip, and says so with one height and one hash.
func testStatusWait(t *testing.T, h *harness) {
	c, n := h.custos, h.node
	createReserve(t, c, 2, 3)
	c.waitSynced()
	for try := range 5 {
		n.mine(30)
		raw, err := n.call("getblockcount")
		require.NoError(t, err)
		var height int32
		require.NoError(t, json.Unmarshal(raw, &height))
		best := n.bestHash().String()

		out, err := c.ctl("status", "--wait", "--json")
		require.NoError(t, err)
		var st struct {
			NodeHeight   int32  `json:"node_height"`
			NodeBestHash string `json:"node_best_hash"`
			SyncedHeight int32  `json:"synced_height"`
			SyncedHash   string `json:"synced_hash"`
			Synced       bool   `json:"synced"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		require.True(t, st.Synced, "try %d: %s", try, out)
		require.Equal(t, height, st.NodeHeight, "try %d: %s", try, out)
		require.Equal(t, height, st.SyncedHeight, "try %d: %s", try, out)
		require.Equal(t, best, st.NodeBestHash, "try %d", try)
		require.Equal(t, best, st.SyncedHash, "try %d", try)
	}
}
