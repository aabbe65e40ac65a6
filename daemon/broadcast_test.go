package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// recordedReason reads the reject reason of a testmempoolaccept response
// recorded from a real node (daemon/chain/testdata/README.md).
func recordedReason(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("chain", "testdata", file))
	require.NoError(t, err)
	var env struct {
		Result []struct {
			Reason string `json:"reject-reason"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal(b, &env))
	require.Len(t, env.Result, 1)
	require.NotEmpty(t, env.Result[0].Reason)
	return env.Result[0].Reason
}

// TestRefusalClasses pins how the daemon reads a node's refusal: only a
// definite one may end a signed proposal FAILED (and free its coins); a
// transaction the node already has, or one it cannot judge now (which is
// also what it says when the transaction confirmed while the daemon was
// down), keeps the proposal FINALIZED.
func TestRefusalClasses(t *testing.T) {
	tests := []struct {
		name      string
		reason    string
		known     bool
		transient bool
	}{
		{name: "btcd already has it", reason: recordedReason(t, "btcd_testmempoolaccept_in_mempool.json"), known: true},
		{name: "bitcoind already has it", reason: recordedReason(t, "bitcoind_testmempoolaccept_in_mempool.json"), known: true},
		{name: "btcd missing inputs", reason: recordedReason(t, "btcd_testmempoolaccept_missing_inputs.json"), transient: true},
		{name: "bitcoind missing inputs", reason: recordedReason(t, "bitcoind_testmempoolaccept_missing_inputs.json"), transient: true},
		{name: "bitcoind outputs already confirmed", reason: "txn-already-known", known: true},
		{name: "bitcoind mempool full", reason: "mempool full", transient: true},
		{name: "bitcoind fee below mempool minimum", reason: "mempool min fee not met, 100 < 200", transient: true},
		{name: "locktime not reached after a reorg", reason: "non-final", transient: true},
		{name: "btcd orphan", reason: "orphan transaction abc references outputs of unknown or fully-spent transaction def", transient: true},
		{name: "bitcoind double spend in mempool", reason: "txn-mempool-conflict"},
		{name: "btcd double spend in mempool", reason: "output 1234:0 already spent by transaction 5678 in the memory pool"},
		{name: "bad signature", reason: "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)"},
		{name: "dust", reason: "dust"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.known, alreadyKnown(tc.reason), tc.reason)
			require.Equal(t, tc.transient, transient(tc.reason), tc.reason)
		})
	}
}
