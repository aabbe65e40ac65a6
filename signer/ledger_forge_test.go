package signer_test

import (
	"os"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// TestSignRefusesAForgedLedgerLine: someone who can write the data
// directory but does not hold the key appends a well-chained line that
// says this very transaction was signed already, spending another coin
// (so that a later transaction for the same intent would pass as its fee
// bump, and the real one is never recorded). Every line carries a MAC
// under the signer's key: the forged one does not authenticate, and
// nothing is signed or written. A line with the key's MAC that names the
// transaction with other inputs (which no signer writes) is refused too.
func TestSignRefusesAForgedLedgerLine(t *testing.T) {
	for _, tt := range []struct {
		name string
		// writer is the key the extra line is written with; nil: the
		// signer's own.
		writer func(t *testing.T) *signer.Key
		want   string
	}{
		{name: "another key's line", writer: func(t *testing.T) *signer.Key {
			dir := t.TempDir()
			_, err := signer.Restore(dir, testConfig(), mnemonicLegal, testPassphrase)
			require.NoError(t, err)
			return MustUnlock(t, dir)
		}, want: "line 1: the line does not authenticate under this signer's key"},
		{name: "the signer's own key, other inputs", want: "lists inputs that are not the transaction's"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newWalletFixture(t)
			us := f.us()
			p := f.approved(t, newSpend(t, f.desc), normalFee)
			in, _, err := multisig.ReadApprovals(p)
			require.NoError(t, err)
			digest, err := in.Digest(reserve.DecisionApprove)
			require.NoError(t, err)
			forged := entryFor(digest, 0, payeeSat, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{0x77}, Index: 1})
			forged.TxID = p.UnsignedTx.TxHash()

			key := us.key
			if tt.writer != nil {
				key = tt.writer(t)
			}
			scratch := MustLedgerWith(t, nil)
			require.NoError(t, scratch.Append(key, forged))
			line := MustRead(t, scratch.Path())
			require.NoError(t, os.WriteFile(us.rules.Ledger.Path(), line, 0o600))

			before, files := MustSerialize(t, p), snapshot(t, us.dir)
			l, err := signer.OpenLedger(us.dir)
			require.NoError(t, err)
			rules := us.rules
			rules.Ledger = l
			_, n, err := signer.Sign(p, us.pinned, us.key, rules)
			require.ErrorIs(t, err, signer.ErrLedgerCorrupt)
			require.ErrorContains(t, err, tt.want)
			require.Zero(t, n)
			require.Equal(t, before, MustSerialize(t, p))
			require.Equal(t, files, snapshot(t, us.dir), "nothing written")
		})
	}
}
