package daemon_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// TestImportReusesParsedPSBT: the import that completes a spend takes the
// packet the previous import left in memory instead of parsing the stored
// PSBT again, and the signers shown from what finalizing computed instead
// of parsing it a third time (import_memo.go). What it stores and answers
// is what parsing the stored bytes gives; and when the stored PSBT is no
// longer the bytes the memo was made from, the memo is not used.
func TestImportReusesParsedPSBT(t *testing.T) {
	tests := []struct {
		name string
		// rewind puts the exported PSBT back in the store between the
		// imports, as any other writer of the proposal could change it.
		rewind bool
		state  custosv1.ProposalState
		sigs   int
	}{
		{"second import completes", false, custosv1.ProposalState_PROPOSAL_STATE_FINALIZED, 2},
		{"stored PSBT changed between imports", true, custosv1.ProposalState_PROPOSAL_STATE_SIGNING, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := mustQuietDaemon(t)
			spend, id, inputs, files := mustTwoSignerFiles(t, td, 5)
			ctx := context.Background()
			exported, err := td.db.Proposal(ctx, id)
			require.NoError(t, err)
			_, err = spend.ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: files[0]}, daemon.CallOptions()...)
			require.NoError(t, err)
			if tt.rewind {
				_, err = td.db.UpdateProposal(ctx, id, func(p *reserve.Proposal) error {
					p.PSBT, p.Signatures = exported.PSBT, exported.Signatures
					return nil
				})
				require.NoError(t, err)
			}
			before, err := td.db.Proposal(ctx, id)
			require.NoError(t, err)

			imp, err := spend.ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: files[1]}, daemon.CallOptions()...)
			require.NoError(t, err)
			require.Equal(t, uint32(inputs), imp.SignaturesAdded)
			// A node that is not there leaves it FINALIZED.
			require.Equal(t, tt.state, imp.Proposal.State)

			// What the landed code computed, from the stored bytes.
			after, err := td.db.Proposal(ctx, id)
			require.NoError(t, err)
			w, err := td.db.Wallet(ctx)
			require.NoError(t, err)
			desc, err := multisig.ParseDescriptor(w.Descriptor, reserve.Regtest)
			require.NoError(t, err)
			canonical, err := multisig.ParsePSBT(before.PSBT)
			require.NoError(t, err)
			incoming, err := multisig.ParsePSBT(files[1])
			require.NoError(t, err)
			_, err = multisig.CombinePSBT(canonical, incoming, desc, 0)
			require.NoError(t, err)
			want, err := multisig.SerializePSBT(canonical)
			require.NoError(t, err)
			require.Equal(t, want, after.PSBT)
			stored, err := multisig.ParsePSBT(after.PSBT)
			require.NoError(t, err)
			for i, in := range stored.Inputs {
				require.Len(t, in.PartialSigs, tt.sigs, "input[%d]", i)
			}
			if len(after.FinalTx) == 0 {
				require.NotEqual(t, custosv1.ProposalState_PROPOSAL_STATE_FINALIZED, tt.state)
				return
			}
			tx, err := multisig.FinalizePSBT(canonical, desc)
			require.NoError(t, err)
			require.Equal(t, after.Txid, tx.TxHash())
			inTx := multisig.TransactionSigners(stored, tx, desc)
			require.Len(t, imp.Proposal.Signers, 2)
			for _, s := range imp.Proposal.Signers {
				require.NotNil(t, s.InTransaction)
				require.Equal(t, inTx[s.Cosigner], s.GetInTransaction(), "cosigner %d", s.Cosigner)
				require.True(t, s.GetInTransaction())
			}
		})
	}
}
