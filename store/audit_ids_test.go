package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// TestUpdateProposalLeaves: an update that adds signatures names the
// cosigners in a proposal.sign leaf with the proposal's ids; one that
// changes nothing writes nothing and leaves no leaf; one that changes
// something else leaves proposal.update.
func TestUpdateProposalLeaves(t *testing.T) {
	u := fundingUTXOs()
	for _, tc := range []struct {
		name     string
		fn       func(p *reserve.Proposal) error
		wantKind string // "" for no leaf
		wantIDs  map[string]string
	}{
		{name: "signatures added", wantKind: store.AuditProposalSign,
			wantIDs: map[string]string{"signers": "0:11111111,2:33333333", "finalized": "false"},
			fn: func(p *reserve.Proposal) error {
				p.Signatures = append(p.Signatures,
					reserve.Signature{Cosigner: 0, Fingerprint: 0x11111111, At: fixedNow},
					reserve.Signature{Cosigner: 2, Fingerprint: 0x33333333, At: fixedNow})
				return nil
			}},
		{name: "memo changed", wantKind: store.AuditProposalUpdate,
			fn: func(p *reserve.Proposal) error { p.Memo = "second lot"; return nil }},
		{name: "nothing changed",
			fn: func(p *reserve.Proposal) error { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := MustFunded(t)
			p := MustCreate(t, db, testProposal(u[0]))
			p = MustMove(t, db, p.ID, reserve.StateApproved)
			p = MustMove(t, db, p.ID, reserve.StateSigning)
			before := takeSnapshot(t, db)
			_, err := db.UpdateProposal(context.Background(), p.ID, tc.fn)
			require.NoError(t, err)
			after := takeSnapshot(t, db)
			if tc.wantKind == "" {
				require.Equal(t, before, after, "an update that changes nothing writes nothing")
				return
			}
			require.Len(t, after.Audit, len(before.Audit)+1)
			l := after.Audit[len(after.Audit)-1]
			require.Equal(t, tc.wantKind, l.Kind)
			require.Equal(t, p.ID, l.IDs["proposal"])
			require.Equal(t, p.Txid.String(), l.IDs["txid"])
			for k, v := range tc.wantIDs {
				require.Equal(t, v, l.IDs[k], "ids %s", k)
			}
		})
	}
}
