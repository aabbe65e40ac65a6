package daemon_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// countingAudit is the store's audit log, counting the leaves the daemon
// reads: every leaf of a scan, and the refusals read by proposal.
type countingAudit struct {
	daemon.AuditLog

	mu       sync.Mutex
	scanned  int
	refusals map[string]int
}

func (c *countingAudit) AuditLeaves(ctx context.Context, from, to int64, limit int) ([][]byte, error) {
	ls, err := c.AuditLog.AuditLeaves(ctx, from, to, limit)
	c.mu.Lock()
	c.scanned += len(ls)
	c.mu.Unlock()
	return ls, err
}

func (c *countingAudit) SignerRefusals(ctx context.Context, id string) ([][]byte, error) {
	ls, err := c.AuditLog.SignerRefusals(ctx, id)
	c.mu.Lock()
	c.refusals[id] += len(ls)
	c.mu.Unlock()
	return ls, err
}

// refusalNotes are the notes of p's history that record a refusal.
func refusalNotes(p *custosv1.Proposal) []string {
	var out []string
	for _, h := range p.History {
		if strings.HasPrefix(h.Note, "refused by the signer") {
			out = append(out, h.Actor+": "+h.Note)
		}
	}
	return out
}

// TestGetProposalReadsOnlyItsRefusals: after a restart, GetProposal shows
// the refusals it showed before, reading that proposal's refusal leaves
// and nothing else of the log (not other proposals' refusals, not the
// leaves between them).
func TestGetProposalReadsOnlyItsRefusals(t *testing.T) {
	require.Equal(t, store.AuditSignerRefuse, daemon.AuditSignerRefuse, "the store files the daemon's refusals by this kind")
	td := MustStartDaemon(t)
	ms := mustMinistries(t)
	w := mustAgentWallet(t, td, ms)
	id := mustSigningProposal(t, td, w)
	for i, m := range ms[:2] {
		c := custosv1.NewSignerServiceClient(mustIssueSigner(t, td, fmt.Sprintf("ministry-%d", i), m.rec.Fingerprint))
		_, err := c.RefuseRequest(callCtx(t), &custosv1.RefuseRequestRequest{ProposalId: id, Reason: fmt.Sprintf("reason %d", i)})
		require.NoError(t, err)
	}
	// Other proposals' refusals, and other leaves, all over the log.
	ctx := context.Background()
	for i := range 300 {
		other := fmt.Sprintf("P%06d", 100+i%7)
		ids := map[string]string{"proposal": other, "cosigner": fmt.Sprintf("%08x", ms[2].rec.Fingerprint)}
		require.NoError(t, td.db.AppendEvent(ctx, daemon.AuditSignerRefuse, ids, "another proposal"))
		require.NoError(t, td.db.AppendEvent(ctx, "test.event", map[string]string{"proposal": id}, "not a refusal"))
	}
	before := refusalNotes(proposalOf(t, td, id))
	require.Len(t, before, 2)
	td.stop()

	counting := &countingAudit{AuditLog: td.db, refusals: map[string]int{}}
	cfg := daemonConfig(t, td.dir, td.db, reserve.Regtest)
	cfg.Audit = counting
	again := MustRunDaemon(t, td.db, cfg)
	after := refusalNotes(proposalOf(t, again, id))
	require.Equal(t, before, after)
	counting.mu.Lock()
	defer counting.mu.Unlock()
	require.Zero(t, counting.scanned, "leaves read by a scan of the log")
	require.Equal(t, map[string]int{id: 2}, counting.refusals)
}
