package daemon_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// MustFundBatches confirms txs previous transactions at height 1, each
// paying the wallet outs small coins and padded to about pad bytes (an
// exchange's batch payout to many of the reserve's deposit addresses):
// every input spending one of them carries the whole transaction.
func MustFundBatches(tb testing.TB, td *testDaemon, w *custosv1.Wallet, txs, outs, pad int) {
	tb.Helper()
	desc, err := multisig.ParseDescriptor(w.MultipathDescriptor, reserve.Regtest)
	require.NoError(tb, err)
	u := reserve.BlockUpdate{Height: 1, Hash: chainhash.HashH([]byte("batches"))}
	for t := range txs {
		tx := wire.NewMsgTx(2)
		in := chainhash.HashH(binary.BigEndian.AppendUint64(nil, uint64(t)))
		tx.AddTxIn(wire.NewTxIn(wire.NewOutPoint(&in, 0), nil, [][]byte{make([]byte, pad)}))
		for o := range outs {
			der, err := desc.Derive(reserve.BranchReceive, uint32(o%20))
			require.NoError(tb, err)
			tx.AddTxOut(wire.NewTxOut(20_000+int64(t*outs+o), der.PkScript))
		}
		u.Txs = append(u.Txs, tx)
		for o, out := range tx.TxOut {
			u.Credits = append(u.Credits, reserve.UTXO{OutPoint: wire.OutPoint{Hash: tx.TxHash(), Index: uint32(o)},
				AmountSat: out.Value, Script: out.PkScript, Branch: reserve.BranchReceive, Index: uint32(o % 20), Height: 1})
		}
	}
	require.NoError(tb, td.db.ApplyBlock(context.Background(), u))
}

// TestConsolidateLargest: the largest consolidation spend consolidate
// proposes with no --max-inputs. Coins from previous transactions of
// about 1 KB: the standard weight (400,000 WU) binds first, at the most
// inputs a node relays, and the PSBT is far under the transport limit;
// coins from batch payouts of about 60 KB: the 32 MiB PSBT bound binds,
// and the PSBT stays within it with room for the signatures and approvals
// (psbtReserve). It logs how many coins fit and the PSBT's size.
func TestConsolidateLargest(t *testing.T) {
	if testing.Short() {
		t.Skip("funds thousands of coins")
	}
	for _, tt := range []struct {
		name  string
		fund  func(td *testDaemon, w *custosv1.Wallet)
		bound string
	}{
		{name: "2000 coins, 1 KB previous transactions", fund: func(td *testDaemon, w *custosv1.Wallet) { MustFundDeposits(t, td, w, 2_000) },
			bound: "weight"},
		{name: "1000 coins, 60 KB batch payouts", fund: func(td *testDaemon, w *custosv1.Wallet) { MustFundBatches(t, td, w, 20, 50, 60_000) },
			bound: "psbt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			td := mustQuietDaemon(t)
			w := MustCreateWallet(t, td)
			MustSetPolicy(t, td, testPolicy(t))
			tt.fund(td, w)
			spend := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
			resp, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{FeeRateSatVb: 1, Consolidate: &custosv1.Consolidation{}})
			require.NoError(t, err)
			p := resp.GetProposal()
			require.True(t, p.GetConsolidate())
			stored, err := td.db.Proposal(context.Background(), p.GetId())
			require.NoError(t, err)
			size := len(stored.PSBT)
			t.Logf("%s: %d inputs, %d vB, fee %d sat, PSBT %d bytes (%.1f%% of %d)", tt.name, len(p.GetInputs()), p.GetVsize(),
				p.GetFeeSat(), size, 100*float64(size)/multisig.MaxPSBTBytes, multisig.MaxPSBTBytes)
			require.LessOrEqual(t, size, multisig.MaxPSBTBytes)
			require.LessOrEqual(t, p.GetVsize(), int64(100_000), "a standard transaction")
			switch tt.bound {
			case "weight":
				// One input more would be over the standard weight.
				require.Greater(t, p.GetVsize()+p.GetVsize()/int64(len(p.GetInputs())), int64(100_000))
				require.Less(t, size, multisig.MaxPSBTBytes/10)
			case "psbt":
				// The transport limit binds long before the weight: the
				// PSBT fills it, less the room kept for what signers add.
				require.Greater(t, size, multisig.MaxPSBTBytes*9/10, fmt.Sprint(size))
				require.Less(t, p.GetVsize(), int64(90_000))
			}
		})
	}
}
