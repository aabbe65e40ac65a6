package daemon_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/agent"
)

// TestAgentApprovalNeedsKey: an approval in the queue is signed only when
// it carries the MAC that custos-signer approve makes under the signer's
// key (the operator typed the passphrase). Approvals written into the
// data directory by someone without it are removed unsigned, and the
// request keeps waiting; the real one gets it signed.
func TestAgentApprovalNeedsKey(t *testing.T) {
	td := MustStartDaemon(t)
	ms := mustMinistries(t)
	w := mustAgentWallet(t, td, ms)
	id := mustSigningProposal(t, td, w)
	startAgent(t, ms[0], mustIssueSigner(t, td, "ministry-0", ms[0].rec.Fingerprint), false)
	var queued []byte
	waitFor(t, 30*time.Second, "the request queued", func() bool {
		q, err := agent.Pending(ms[0].dir)
		require.NoError(t, err)
		if len(q) == 1 && q[0].ID == id {
			queued = q[0].PSBT
			return true
		}
		return false
	})
	macHex := func(key *signer.Key, id string, psbt []byte) string {
		mac, err := signer.OperatorApprovalMAC(key, id, psbt)
		require.NoError(t, err)
		return hex.EncodeToString(mac)
	}
	approval := filepath.Join(ms[0].dir, agent.QueueDirName, id+".approved")

	forged := []struct {
		name string
		body string
	}{
		{"an empty approval file (no passphrase)", ""},
		{"not hex", "approved by the operator, honestly"},
		{"a MAC under another ministry's key", macHex(ms[1].key, id, queued)},
		{"a MAC for another proposal", macHex(ms[0].key, "other-proposal", queued)},
		{"a MAC over another PSBT", macHex(ms[0].key, id, append([]byte{}, append(queued, 0)...))},
	}
	for _, tc := range forged {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(approval, []byte(tc.body), 0o600))
			waitFor(t, 30*time.Second, "the forged approval removed", func() bool {
				_, err := os.Stat(approval)
				return os.IsNotExist(err)
			})
			require.Equal(t, 0, ledgerEntries(t, ms[0]), "a forged approval signs nothing")
			require.Empty(t, proposalOf(t, td, id).Signers)
			q, err := agent.Pending(ms[0].dir)
			require.NoError(t, err)
			require.Len(t, q, 1, "the request still waits for the operator")
			require.Empty(t, q[0].Decided)
		})
	}

	t.Run("approved with the key", func(t *testing.T) {
		require.NoError(t, agent.Approve(ms[0].dir, id, ms[0].key))
		waitFor(t, 30*time.Second, "the approved request signed", func() bool { return len(proposalOf(t, td, id).Signers) == 1 })
		require.Equal(t, 1, ledgerEntries(t, ms[0]))
		waitFor(t, 10*time.Second, "the queue emptied", func() bool {
			q, err := agent.Pending(ms[0].dir)
			require.NoError(t, err)
			return len(q) == 0
		})
	})
}

// TestSigningRequestsOpenBeforeAnyRequest: the stream's headers come as
// soon as the caller is found to be the wallet's cosigner, with no
// request waiting, so an agent knows it is connected (and its backoff
// restarts); a signer not in the wallet gets no headers, only the error.
func TestSigningRequestsOpenBeforeAnyRequest(t *testing.T) {
	td := MustStartDaemon(t)
	ms := mustMinistries(t)
	mustAgentWallet(t, td, ms)

	tests := []struct {
		name string
		fp   uint32
		code codes.Code
	}{
		{"the wallet's cosigner, nothing to sign", ms[0].rec.Fingerprint, codes.OK},
		{"a key not in the wallet", 0xdeadbeef, codes.PermissionDenied},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := mustIssueSigner(t, td, fmt.Sprintf("open-%d", i), tc.fp)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stream, err := custosv1.NewSignerServiceClient(conn).SigningRequests(ctx, &custosv1.SigningRequestsRequest{})
			require.NoError(t, err)
			md, err := stream.Header()
			if tc.code != codes.OK {
				require.Nil(t, md, "no headers for a refused signer")
				_, err = stream.Recv()
				requireCode(t, err, tc.code, "not in the wallet")
				return
			}
			require.NoError(t, err, "headers before any request")
			require.NotNil(t, md)
			require.NoError(t, ctx.Err(), "headers came before the deadline")
		})
	}
}
