package daemon_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// MustFundCoins confirms one coin of each amount at the first receive
// addresses, each from its own small funding transaction, straight into
// the store at height 101.
func MustFundCoins(tb testing.TB, td *testDaemon, w *custosv1.Wallet, amounts ...int64) {
	tb.Helper()
	desc, err := multisig.ParseDescriptor(w.MultipathDescriptor, reserve.Regtest)
	require.NoError(tb, err)
	upd := reserve.BlockUpdate{Height: 101, Hash: chainhash.Hash{0x01}}
	for i, amount := range amounts {
		der, err := desc.Derive(reserve.BranchReceive, uint32(i%20))
		require.NoError(tb, err)
		tx := wire.NewMsgTx(2)
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: chainhash.Hash(sha256.Sum256([]byte(fmt.Sprint("coin ", i))))}})
		tx.AddTxOut(wire.NewTxOut(amount, der.PkScript))
		upd.Txs = append(upd.Txs, tx)
		upd.Credits = append(upd.Credits, reserve.UTXO{
			OutPoint: wire.OutPoint{Hash: tx.TxHash()}, AmountSat: amount, Script: der.PkScript,
			Branch: reserve.BranchReceive, Index: uint32(i % 20), Height: 101,
		})
	}
	require.NoError(tb, td.db.ApplyBlock(context.Background(), upd))
}

// signedAndCancelled gives proposal id two cosigners' signatures (as if
// the ministries had signed and the daemon had heard) and cancels it:
// its coins stay held.
func signedAndCancelled(t *testing.T, td *testDaemon, id string) {
	t.Helper()
	moveTo(t, td, id, reserve.StateApproved, reserve.StateSigning)
	now := time.Now().UTC()
	_, err := td.db.UpdateProposal(context.Background(), id, func(p *reserve.Proposal) error {
		p.Signatures = []reserve.Signature{{Cosigner: 0, At: now}, {Cosigner: 2, At: now}}
		return nil
	})
	require.NoError(t, err)
	moveTo(t, td, id, reserve.StateCancelled)
}

// moveTo moves proposal id through the states, one store update each.
func moveTo(t *testing.T, td *testDaemon, id string, states ...reserve.State) {
	t.Helper()
	for _, s := range states {
		_, err := td.db.UpdateProposal(context.Background(), id, func(p *reserve.Proposal) error {
			if s == reserve.StateFinalized {
				// Signed by two; the final transaction itself is not
				// needed here (rendering would parse it).
				p.Signatures = []reserve.Signature{{Cosigner: 0, At: time.Now().UTC()}, {Cosigner: 1, At: time.Now().UTC()}}
			}
			return p.Move(s, time.Now().UTC(), "test", "to "+s.String())
		})
		require.NoError(t, err)
	}
}

func inputsOf(p *custosv1.Proposal) map[string]bool {
	out := map[string]bool{}
	for _, in := range p.Inputs {
		out[fmt.Sprintf("%s:%d", in.Txid, in.Vout)] = true
	}
	return out
}

func sharesInput(a, b *custosv1.Proposal) bool {
	ai := inputsOf(a)
	for k := range inputsOf(b) {
		if ai[k] {
			return true
		}
	}
	return false
}

// TestSupersedingProposals: a payment that went to the signers is not
// proposed again from other coins (the signers would refuse it); --replaces
// spends one of its inputs and its intent says so; --repeat is a declared
// second payment; cancel --conflict proposes a self-payment spending an
// input of the whole chain; a signed transaction cannot be cancelled
// without one.
func TestSupersedingProposals(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	MustSetPolicy(t, td, testPolicy(t))
	MustFundCoins(t, td, w, 100_000_000, 100_000_000, 100_000_000, 100_000_000)
	spend := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	pay := []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 50_000_000}}
	propose := func(replaces string, repeat bool) (*custosv1.Proposal, error) {
		r, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{Payees: pay, FeeRateSatVb: 2, Replaces: replaces, Repeat: repeat})
		if err != nil {
			return nil, err
		}
		return r.Proposal, nil
	}
	intentOf := func(p *custosv1.Proposal) reserve.Intent {
		in, err := reserve.DecodeIntent(p.Intent)
		require.NoError(t, err)
		return in
	}

	p1, err := propose("", false)
	require.NoError(t, err)
	require.Empty(t, p1.Supersedes)
	require.Equal(t, byte(reserve.IntentVersion), p1.Intent[0], "an unlinked intent keeps encoding version 1")
	// Not yet sent to the signers: the same payment again is no repeat.
	other, err := propose("", false)
	require.NoError(t, err)
	_, err = spend.CancelProposal(callCtx(t), &custosv1.CancelProposalRequest{Id: other.Id})
	require.NoError(t, err)

	signedAndCancelled(t, td, p1.Id)
	held, err := td.db.Reservations(context.Background())
	require.NoError(t, err)
	require.Len(t, held, len(p1.Inputs), "a signed, cancelled proposal keeps its coins")

	// The four-step scenario's second proposal: refused here already.
	_, err = propose("", false)
	requireCode(t, err, codes.FailedPrecondition, "what proposal "+p1.Id+" (CANCELLED) pays", "spend propose --replaces "+p1.Id, "--repeat")

	p2, err := propose(p1.Id, false)
	require.NoError(t, err)
	require.Equal(t, []string{p1.Id}, p2.Supersedes)
	require.True(t, sharesInput(p1, p2), "a replacement spends an input of the proposal it replaces")
	require.Equal(t, []string{p1.Id}, intentOf(p2).Supersedes)
	require.Equal(t, byte(reserve.IntentVersionLinked), p2.Intent[0])
	require.Contains(t, p2.History[0].Note, "replaces "+p1.Id)

	// A declared repeat is proposed, and says so.
	p3, err := propose("", true)
	require.NoError(t, err)
	require.True(t, p3.Repeat)
	require.Contains(t, p3.History[0].Note, "was also paid 0.50000000 BTC by proposal "+p1.Id)
	require.True(t, intentOf(p3).Repeat)
	_, err = spend.CancelProposal(callCtx(t), &custosv1.CancelProposalRequest{Id: p3.Id})
	require.NoError(t, err)
	// Another amount to the same payee is no repeat the signers know:
	// proposed, with a warning the officers read.
	r4, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{
		Payees: []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 50_000_001}}, FeeRateSatVb: 2})
	require.NoError(t, err)
	require.Contains(t, r4.Proposal.History[0].Note, "note: payee "+listedAddr(t)+" was also paid 0.50000000 BTC by proposal "+p1.Id)
	_, err = spend.CancelProposal(callCtx(t), &custosv1.CancelProposalRequest{Id: r4.Proposal.Id})
	require.NoError(t, err)

	// Cancelling the replacement with a conflict spends the coin both
	// share, and supersedes both payments.
	r, err := spend.CancelProposal(callCtx(t), &custosv1.CancelProposalRequest{Id: p2.Id, Reason: "withheld", Conflict: true, FeeRateSatVb: 3})
	require.NoError(t, err)
	require.Equal(t, "PROPOSAL_STATE_CANCELLED", r.Proposal.State.String())
	c := r.Conflict
	require.NotNil(t, c)
	require.Empty(t, c.Payees, "a cancel pays no one")
	require.Equal(t, []string{p1.Id, p2.Id}, c.Supersedes)
	require.True(t, sharesInput(c, p1) && sharesInput(c, p2))
	require.Len(t, c.Inputs, 1)
	require.NotNil(t, c.Change)
	require.Equal(t, c.Inputs[0].AmountSat-c.FeeSat, c.Change.AmountSat)
	cin := intentOf(c)
	require.True(t, cin.Cancels())
	require.Equal(t, "PROPOSAL_STATE_PENDING_APPROVAL", c.State.String(), "a cancel goes through the approval flow")
}

// TestSupersedeRefusals: what --replaces and --conflict refuse, naming the
// problem, with nothing reserved or recorded.
func TestSupersedeRefusals(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	MustSetPolicy(t, td, testPolicy(t))
	MustFundCoins(t, td, w, 100_000_000, 100_000_000)
	spend := custosv1.NewSpendServiceClient(MustDialAs(t, td, daemon.RoleOfficer))
	pay := []*custosv1.Payment{{Address: listedAddr(t), AmountSat: 50_000_000}}
	p1, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{Payees: pay, FeeRateSatVb: 2})
	require.NoError(t, err)
	id := p1.Proposal.Id
	// P1 finalized: a signed transaction exists.
	moveTo(t, td, id, reserve.StateApproved, reserve.StateSigning, reserve.StateFinalized)

	for _, tc := range []struct {
		name string
		call func() error
		code codes.Code
		msg  []string
	}{
		{"replaces an unknown proposal", func() error {
			_, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{Payees: pay, FeeRateSatVb: 2, Replaces: "P000099"})
			return err
		}, codes.InvalidArgument, []string{`proposal "P000099" does not exist`}},
		{"replaces a malformed id", func() error {
			_, err := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{Payees: pay, FeeRateSatVb: 2, Replaces: "P 1"})
			return err
		}, codes.InvalidArgument, []string{"replaces"}},
		{"plain cancel of a finalized proposal", func() error {
			_, err := spend.CancelProposal(callCtx(t), &custosv1.CancelProposalRequest{Id: id})
			return err
		}, codes.FailedPrecondition, []string{"is FINALIZED", "cancelling cannot stop it", "spend cancel --conflict " + id}},
		{"conflict without a fee rate", func() error {
			_, err := spend.CancelProposal(callCtx(t), &custosv1.CancelProposalRequest{Id: id, Conflict: true})
			return err
		}, codes.InvalidArgument, []string{"fee_rate"}},
		{"a fee rate without conflict", func() error {
			_, err := spend.CancelProposal(callCtx(t), &custosv1.CancelProposalRequest{Id: id, FeeRateSatVb: 5})
			return err
		}, codes.InvalidArgument, []string{"only for a conflicting transaction"}},
		{"conflict with an unknown proposal", func() error {
			_, err := spend.CancelProposal(callCtx(t), &custosv1.CancelProposalRequest{Id: "P000099", Conflict: true, FeeRateSatVb: 2})
			return err
		}, codes.NotFound, []string{"P000099"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := td.db.Proposals(context.Background(), reserve.StateUnspecified)
			require.NoError(t, err)
			heldBefore, err := td.db.Reservations(context.Background())
			require.NoError(t, err)
			requireCode(t, tc.call(), tc.code, tc.msg...)
			after, err := td.db.Proposals(context.Background(), reserve.StateUnspecified)
			require.NoError(t, err)
			require.Equal(t, before, after)
			heldAfter, err := td.db.Reservations(context.Background())
			require.NoError(t, err)
			require.Equal(t, heldBefore, heldAfter)
		})
	}

	// A FINALIZED proposal is not cancelled by --conflict; the conflict
	// spends one of its coins.
	r, err := spend.CancelProposal(callCtx(t), &custosv1.CancelProposalRequest{Id: id, Conflict: true, FeeRateSatVb: 2})
	require.NoError(t, err)
	require.Equal(t, "PROPOSAL_STATE_FINALIZED", r.Proposal.State.String())
	require.True(t, sharesInput(r.Proposal, r.Conflict))
}
