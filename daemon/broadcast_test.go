package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcjson"
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

// TestRefusalClasses pins how the daemon reads a node's refusal: a
// transaction the node already has is broadcast; "missing or spent
// inputs" is only a candidate for FAILED (the chain view decides, since it
// is also what the node says when the transaction confirmed while the
// daemon was down); everything else, policy refusals and conflicts in the
// mempool included, is retried.
func TestRefusalClasses(t *testing.T) {
	tests := []struct {
		name   string
		code   btcjson.RPCErrorCode
		reason string
		want   refusal
	}{
		{name: "btcd already has it", reason: recordedReason(t, "btcd_testmempoolaccept_in_mempool.json"), want: refusalKnown},
		{name: "bitcoind already has it", reason: recordedReason(t, "bitcoind_testmempoolaccept_in_mempool.json"), want: refusalKnown},
		{name: "btcd missing inputs", reason: recordedReason(t, "btcd_testmempoolaccept_missing_inputs.json"), want: refusalInputs},
		{name: "bitcoind missing inputs", reason: recordedReason(t, "bitcoind_testmempoolaccept_missing_inputs.json"), want: refusalInputs},
		{name: "bitcoind outputs already confirmed", reason: "txn-already-known", want: refusalKnown},
		{name: "already in chain by code", code: btcjson.ErrRPCVerifyAlreadyInChain, reason: "Transaction outputs already in utxo set", want: refusalKnown},
		{name: "bitcoind mempool full", reason: "mempool full", want: refusalRetry},
		{name: "bitcoind fee below mempool minimum", reason: "mempool min fee not met, 100 < 200", want: refusalRetry},
		{name: "locktime not reached after a reorg", reason: "non-final", want: refusalRetry},
		{name: "btcd orphan, by code", code: btcjson.ErrRPCVerify, reason: "TX rejected: orphan transaction abc references outputs of unknown or fully-spent transaction def", want: refusalInputs},
		{name: "orphan words under another code", code: btcjson.ErrRPCVerifyRejected, reason: "TX rejected: orphan transaction abc", want: refusalRetry},
		{name: "bitcoind double spend in mempool", reason: "txn-mempool-conflict", want: refusalRetry},
		{name: "btcd double spend in mempool", reason: "output already spent in mempool: output=1234:0, tx=5678", want: refusalRetry},
		{name: "bad signature", reason: "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)", want: refusalRetry},
		{name: "dust", reason: "dust", want: refusalRetry},
		{name: "a token inside another reason is not read", reason: "something about missing-inputs", want: refusalRetry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, classify(tc.code, tc.reason).class, tc.reason)
		})
	}
}
