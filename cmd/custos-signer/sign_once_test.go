package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// otherCoin is a wallet coin of 0.9 BTC at receive/1 that the fixture's
// PSBT does not spend, and the transaction that made it.
func (f *signFixture) otherCoin(t *testing.T) (reserve.Input, *wire.MsgTx) {
	t.Helper()
	der, err := f.desc.Derive(reserve.BranchReceive, 1)
	require.NoError(t, err)
	prev := wire.NewMsgTx(2)
	prev.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.Hash{2}}, nil, nil))
	prev.AddTxOut(wire.NewTxOut(90_000_000, der.PkScript))
	return reserve.Input{OutPoint: wire.OutPoint{Hash: prev.TxHash()}, AmountSat: 90_000_000, Branch: reserve.BranchReceive, Index: 1}, prev
}

// proposal writes a PSBT spending ins (from the fixture's coins and
// other), paying pays from the fixture's payee script and the rest less
// 15,000 sat to change index 4, for the intent of proposal id that edit
// makes, approved by alice and bob.
func (f *signFixture) proposal(t *testing.T, id string, ins []reserve.Input, other *wire.MsgTx, pays int64, edit func(*reserve.Intent)) string {
	t.Helper()
	prevs := map[chainhash.Hash]*wire.MsgTx{}
	for _, in := range f.pkt.Inputs {
		prevs[in.NonWitnessUtxo.TxHash()] = in.NonWitnessUtxo
	}
	if other != nil {
		prevs[other.TxHash()] = other
	}
	change := int64(-15_000)
	for _, in := range ins {
		change += in.AmountSat
	}
	var outs []multisig.Output
	var payees []reserve.IntentPayee
	if pays > 0 {
		script := f.pkt.UnsignedTx.TxOut[0].PkScript
		outs = append(outs, multisig.Output{Script: script, AmountSat: pays})
		payees = append(payees, reserve.IntentPayee{Script: script, AmountSat: pays})
		change -= pays
	}
	der, err := f.desc.Derive(reserve.BranchChange, 4)
	require.NoError(t, err)
	idx := uint32(4)
	outs = append(outs, multisig.Output{Script: der.PkScript, AmountSat: change, ChangeIndex: &idx})
	p, err := multisig.CreatePSBT(multisig.CreateParams{Descriptor: f.desc, Inputs: ins, PrevTxs: prevs, Outputs: outs})
	require.NoError(t, err)
	in := *f.intent
	in.ProposalID, in.Payees = id, payees
	if edit != nil {
		edit(&in)
	}
	signertest.MustSetApprovals(t, p, &in, signertest.Alice(), signertest.Bob())
	b, err := multisig.SerializePSBT(p)
	require.NoError(t, err)
	return f.write(t, id+".psbt", b)
}

// TestSignPaysAgainRefused: issue 10's four steps through custos-signer
// sign. P000001 is signed; P000002 pays the same payee the same amount
// from other coins, and is refused before any question or passphrase,
// with the earlier payment and the way out named; nothing is written or
// recorded.
func TestSignPaysAgainRefused(t *testing.T) {
	f := newSignFixture(t)
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", f.out(t), "--yes")
	require.NoError(t, r.err, r.stderr)
	coin, prev := f.otherCoin(t)
	second := f.proposal(t, "P000002", []reserve.Input{coin}, prev, 70_000_000, nil)
	ledger := MustReadFile(t, filepath.Join(f.dir, signer.LedgerFileName))
	state := MustReadFile(t, filepath.Join(f.dir, signer.StateFileName))

	out := f.out(t)
	r = runSign(t, testPassphrase, "y\n", "--datadir", f.dir, "--in", second, "--out", out)
	require.Equal(t, 1, r.code, r.stderr)
	for _, want := range []string{
		"custos-signer: pays an approved payment again: proposal P000002 pays 0.70000000 BTC to " + f.payee + " again: this signer signed transaction " +
			f.pkt.UnsignedTx.TxHash().String() + " for proposal P000001 at 2026-12-01T12:00:00Z",
		"the replacement must spend one of its inputs (custosctl spend propose --replaces P000001)",
		"the officers approve it as one (--repeat)",
	} {
		require.Contains(t, r.stderr, want)
	}
	require.NotContains(t, r.stderr, "Sign this transaction?")
	require.Empty(t, r.stdout)
	require.NoFileExists(t, out)
	require.Equal(t, ledger, MustReadFile(t, filepath.Join(f.dir, signer.LedgerFileName)), "nothing recorded")
	require.Equal(t, state, MustReadFile(t, filepath.Join(f.dir, signer.StateFileName)))
}

// TestSignShowsLinks: the operator reads, before the question, what a
// superseding proposal replaces and which input of the transaction signed
// for it the new one spends, that a proposal superseded nothing this
// signer signed, that a repeat is one, and that a cancel pays nothing out.
func TestSignShowsLinks(t *testing.T) {
	f := newSignFixture(t)
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", f.out(t), "--yes")
	require.NoError(t, r.err, r.stderr)
	tx1 := f.pkt.UnsignedTx.TxHash()
	coin, prev := f.otherCoin(t)

	tests := []struct {
		name    string
		psbt    func(t *testing.T) string
		want    []string
		notWant []string
	}{
		{
			name: "supersedes P000001, spending its first input",
			psbt: func(t *testing.T) string {
				return f.proposal(t, "P000002", []reserve.Input{f.inputs[0]}, nil, 50_000_000, func(in *reserve.Intent) {
					in.Supersedes = []string{"P000001"}
				})
			},
			want: []string{"Supersedes:  P000001 (spends input " + f.inputs[0].OutPoint.String() + " of transaction " + tx1.String() + " this signer signed for it)\n",
				"Pays 0.50000000 BTC to 1 payee(s)"},
			notWant: []string{"REPEAT", "CANCEL"},
		},
		{
			name: "supersedes a proposal this signer signed nothing for",
			psbt: func(t *testing.T) string {
				return f.proposal(t, "P000003", []reserve.Input{coin}, prev, 50_000_000, func(in *reserve.Intent) {
					in.Supersedes = []string{"P000000"}
				})
			},
			want: []string{"Supersedes:  P000000 (this signer signed nothing for it)\n"},
		},
		{
			name: "a repeat",
			psbt: func(t *testing.T) string {
				return f.proposal(t, "P000004", []reserve.Input{coin}, prev, 70_000_000, func(in *reserve.Intent) { in.Repeat = true })
			},
			want:    []string{"REPEAT PAYMENT approved by the officers: these payees were paid before\n", "Pays 0.70000000 BTC to 1 payee(s)"},
			notWant: []string{"Supersedes:"},
		},
		{
			name: "a cancel",
			psbt: func(t *testing.T) string {
				return f.proposal(t, "P000005", []reserve.Input{f.inputs[1]}, nil, 0, func(in *reserve.Intent) {
					in.Supersedes = []string{"P000001"}
				})
			},
			want: []string{"CANCEL — pays nothing out: spends inputs of P000001 back to the reserve\n",
				"Supersedes:  P000001 (spends input " + f.inputs[1].OutPoint.String() + " of transaction " + tx1.String() + " this signer signed for it)\n"},
			notWant: []string{"payee(s)", "Pays: nobody"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := f.out(t)
			// "n": the summary is read, and nothing signed.
			r := runSign(t, testPassphrase, "n\n", "--datadir", f.dir, "--in", tt.psbt(t), "--out", out)
			require.ErrorIs(t, r.err, errDeclined, r.stderr)
			summary, _, ok := strings.Cut(r.stdout+r.stderr, "Sign this transaction?")
			require.True(t, ok, r.stdout+r.stderr)
			for _, w := range tt.want {
				require.Contains(t, summary, w)
			}
			for _, w := range tt.notWant {
				require.NotContains(t, summary, w)
			}
			require.NoFileExists(t, out)
		})
	}

	// The cancel signs, and --json names what it supersedes and conflicts
	// with.
	cancel := f.proposal(t, "P000005", []reserve.Input{f.inputs[1]}, nil, 0, func(in *reserve.Intent) { in.Supersedes = []string{"P000001"} })
	r = runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", cancel, "--out", f.out(t), "--yes", "--json")
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, `"supersedes": [
      "P000001"
    ],
    "repeat": false,
    "cancel": true,
    "conflicts": [
      {
        "proposal_id": "P000001",
        "txid": "`+tx1.String()+`",
        "signed_at": "`+signertest.Now().Format(time.RFC3339)+`",
        "input": "`+f.inputs[1].OutPoint.String()+`",
        "why": "supersedes"
      }
    ]`)
}

func MustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}
