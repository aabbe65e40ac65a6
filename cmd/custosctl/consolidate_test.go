package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer/signertest"
	"github.com/custos-reserve/custos/store"
)

// mustConsolidationDaemon runs a daemon with a wallet, the test policy
// and confirmed coins of amounts at height 101, and returns its data dir.
func mustConsolidationDaemon(t *testing.T, amounts ...int64) string {
	t.Helper()
	var db *store.DB
	dir := MustDaemonWith(t, func(s daemon.Store) daemon.Store {
		db = s.(*store.DB)
		return s
	})
	ctlOK(t, dir, createArgs(keyRecords(t, 1, 2, 3))...)
	file := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(file, signertest.PolicyYAML(signertest.Officers()), 0o600))
	ctlOK(t, dir, "policy", "set", file)

	w := decode[walletJSON](t, ctlOK(t, dir, "wallet", "show", "--json"))
	desc, err := multisig.ParseDescriptor(w.Descriptor, reserve.Regtest)
	require.NoError(t, err)
	upd := reserve.BlockUpdate{Height: 101, Hash: chainhash.Hash{0x01}}
	for i, amount := range amounts {
		der, err := desc.Derive(reserve.BranchReceive, uint32(i))
		require.NoError(t, err)
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash(sha256.Sum256([]byte(fmt.Sprint("coin ", i))))}})
		tx.AddTxOut(wire.NewTxOut(amount, der.PkScript))
		upd.Txs = append(upd.Txs, tx)
		upd.Credits = append(upd.Credits, reserve.UTXO{OutPoint: wire.OutPoint{Hash: tx.TxHash()}, AmountSat: amount,
			Script: der.PkScript, Branch: reserve.BranchReceive, Index: uint32(i), Height: 101})
	}
	require.NoError(t, db.ApplyBlock(context.Background(), upd))
	return dir
}

// TestSpendConsolidate: spend consolidate proposes merging the smallest
// coins within its bounds, prints the proposal as spend propose does with
// the coins and total merged, and spend show, spend list and --json say it
// is a consolidation; refused: bad flags before the daemon is asked, and
// bounds that leave fewer than two coins.
func TestSpendConsolidate(t *testing.T) {
	t.Parallel()
	dir := mustConsolidationDaemon(t, 900_000, 50_000, 700_000, 60_000, 40_000, 3_000_000)

	for _, tt := range []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{name: "no fee rate", args: []string{"--max-inputs", "3"}, usage: true, want: "--feerate (sat/vB) is required"},
		{name: "one input", args: []string{"--feerate", "2", "--max-inputs", "1"}, usage: true, want: "--max-inputs 1"},
		{name: "negative age", args: []string{"--feerate", "2", "--min-age", "-1"}, usage: true, want: "--min-age -1"},
		{name: "zero amount", args: []string{"--feerate", "2", "--max-amount", "0"}, usage: true, want: `--max-amount "0"`},
		{name: "an argument", args: []string{"--feerate", "2", "P000001"}, usage: true, want: "unexpected argument"},
		{name: "only one coin small enough", args: []string{"--feerate", "2", "--max-amount", "0.00045"},
			want: "FailedPrecondition: 1 spendable coins meet the consolidation's limits"},
		{name: "too young", args: []string{"--feerate", "2", "--min-age", "1000"},
			want: "FailedPrecondition: 0 spendable coins"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := ctl(t, append([]string{"spend", "consolidate", "--datadir", dir}, tt.args...)...)
			require.Error(t, r.err)
			require.Contains(t, r.err.Error(), tt.want)
			if tt.usage {
				var ue usageError
				require.ErrorAs(t, r.err, &ue)
				require.Equal(t, 2, r.code)
			}
			require.Empty(t, r.stdout)
		})
	}

	c := decode[consolidationJSON](t, ctlOK(t, dir, "spend", "consolidate", "--feerate", "2", "--max-inputs", "3",
		"--max-amount", "0.01", "--memo", "sweep deposits", "--json"))
	require.True(t, c.Consolidate)
	require.Equal(t, 3, c.Coins)
	require.Equal(t, int64(150_000), c.MergedSat, "the three smallest coins")
	require.Equal(t, "0.00150000", c.Merged)
	require.Empty(t, c.Payees)
	require.NotNil(t, c.Change)
	require.Equal(t, c.MergedSat-c.FeeSat, c.Change.AmountSat)
	require.Equal(t, "sweep deposits", c.Memo)

	table := ctlOK(t, dir, "spend", "show", c.ID)
	require.Regexp(t, `(?m)^CONSOLIDATION\s+pays nothing out: merges 3 coins into one output of this wallet$`, table)
	require.NotContains(t, table, "CANCEL")
	require.True(t, decode[proposalJSON](t, ctlOK(t, dir, "spend", "show", c.ID, "--json")).Consolidate)
	require.Regexp(t, `(?m)^`+c.ID+`\s+\S+\s+consolidation\s`, ctlOK(t, dir, "spend", "list"))

	// The text form leads with what it merges; the rest is spend propose's.
	text := ctlOK(t, dir, "spend", "consolidate", "--feerate", "2", "--max-inputs", "2")
	require.Regexp(t, `(?m)^merges\s+2 coins, 0\.01600000 BTC, into one output back to the reserve$`, text)
	require.Regexp(t, `(?m)^CONSOLIDATION\s+pays nothing out: merges 2 coins`, text)
	require.Regexp(t, `(?m)^fee\s+0\.\d{8} BTC \(2 sat/vB, \d+ vB\)$`, text)
}
