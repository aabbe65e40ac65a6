package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// bumpStore is a memStore with what a fee bump reads: the wallet, the
// governance, the previous transactions, and the proposals it creates.
type bumpStore struct {
	*memStore
	wallet  reserve.Wallet
	gov     reserve.Governance
	raw     map[chainhash.Hash][]byte
	created []reserve.Proposal
}

func (s *bumpStore) Wallet(context.Context) (reserve.Wallet, error) { return s.wallet, nil }

func (s *bumpStore) Governance(context.Context) (reserve.Governance, error) { return s.gov, nil }

func (s *bumpStore) RawTx(_ context.Context, txid chainhash.Hash) ([]byte, error) {
	raw, ok := s.raw[txid]
	if !ok {
		return nil, reserve.Errorf(reserve.CodeNotFound, "transaction %s", txid)
	}
	return raw, nil
}

// Proposals lists every proposal (reconcile asks for all).
func (s *bumpStore) Proposals(context.Context, reserve.State) ([]reserve.Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]reserve.Proposal, 0, len(s.proposals))
	for _, p := range s.proposals {
		out = append(out, p)
	}
	return out, nil
}

// CreateProposal records p under a new id; the reservation hand-over from
// the replaced proposal is the store's (store/approval_test.go).
func (s *bumpStore) CreateProposal(_ context.Context, p reserve.Proposal) (reserve.Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.ID = fmt.Sprintf("b%d", len(s.created)+1)
	s.proposals[p.ID] = p
	s.created = append(s.created, p)
	return p, nil
}

const (
	bumpFeeSat   = 1_000
	bumpVSize    = 200
	bumpFeeCap   = 3_000
	bumpChange   = 49_000
	bumpPayment  = 50_000
	bumpCoinSat  = 100_000
	bumpFeeRate  = bumpFeeSat / bumpVSize
	bumpMaxBelow = bumpFeeCap / bumpVSize // highest rate within the cap
)

// mustBumpFixture is a 2-of-3 regtest wallet with one coin and a
// BROADCAST proposal "p1" spending it: bumpPayment to a payee, bumpChange
// back, bumpFeeSat of fee, under an intent whose fee cap is bumpFeeCap.
func mustBumpFixture(t *testing.T) (*Daemon, *bumpStore, reserve.Proposal) {
	t.Helper()
	var cosigners []reserve.Cosigner
	for _, label := range []string{"cosigner A", "cosigner B", "cosigner C"} {
		seed := sha256.Sum256([]byte(label))
		c, xprv, err := multisig.DeriveAccount(seed[:], reserve.Regtest, 0)
		require.NoError(t, err)
		xprv.Zero()
		cosigners = append(cosigners, c)
	}
	desc, err := multisig.NewDescriptor(reserve.Regtest, 2, cosigners)
	require.NoError(t, err)
	recv, err := desc.Derive(reserve.BranchReceive, 0)
	require.NoError(t, err)
	change, err := desc.Derive(reserve.BranchChange, 0)
	require.NoError(t, err)

	funding := wire.NewMsgTx(2)
	funding.AddTxIn(wire.NewTxIn(&wire.OutPoint{Hash: chainhash.DoubleHashH([]byte("funding"))}, nil, nil))
	funding.AddTxOut(wire.NewTxOut(bumpCoinSat, recv.PkScript))
	var fb bytes.Buffer
	require.NoError(t, funding.Serialize(&fb))
	in := reserve.Input{OutPoint: wire.OutPoint{Hash: funding.TxHash()}, AmountSat: bumpCoinSat, Branch: reserve.BranchReceive}

	payee := append([]byte{0x00, 0x14}, bytes.Repeat([]byte{0x42}, 20)...)
	idx := uint32(0)
	pkt, err := multisig.CreatePSBT(multisig.CreateParams{
		Descriptor: desc, Inputs: []reserve.Input{in}, PrevTxs: map[chainhash.Hash]*wire.MsgTx{funding.TxHash(): funding},
		Outputs: []multisig.Output{{Script: payee, AmountSat: bumpPayment}, {Script: change.PkScript, AmountSat: bumpChange, ChangeIndex: &idx}},
	})
	require.NoError(t, err)
	var ub bytes.Buffer
	require.NoError(t, pkt.UnsignedTx.Serialize(&ub))

	ms := &memStore{tip: 120, proposals: map[string]reserve.Proposal{}}
	s := &bumpStore{
		memStore: ms,
		wallet:   reserve.Wallet{ID: desc.WalletID(), Descriptor: desc.String(), Network: reserve.Regtest, Threshold: 2},
		raw:      map[chainhash.Hash][]byte{funding.TxHash(): fb.Bytes()},
	}
	d := mustReplayDaemon(t, &replayNode{t: t}, ms, func() time.Time { return testStart })
	d.cfg.Store = s
	d.descs = &multisig.Descriptors{}
	old := reserve.Proposal{
		ID: "p1", WalletID: s.wallet.ID, State: reserve.StateBroadcast,
		Payees:  []reserve.Payee{{Address: "payee", AmountSat: bumpPayment}},
		FeeRate: bumpFeeRate, FeeSat: bumpFeeSat, VSize: bumpVSize,
		Inputs: []reserve.Input{in}, Change: &reserve.Change{Index: 0, AmountSat: bumpChange, Vout: 1},
		UnsignedTx: ub.Bytes(), Txid: pkt.UnsignedTx.TxHash(), FinalTx: ub.Bytes(),
		CreatedAt: testStart, ExpiresAt: testStart.Add(time.Hour),
		Intent: &reserve.Intent{Network: reserve.Regtest, WalletID: s.wallet.ID, ProposalID: "P000001",
			Payees: []reserve.IntentPayee{{Script: payee, AmountSat: bumpPayment}}, FeeCapSat: bumpFeeCap, ExpiresAt: testStart.Add(time.Hour)},
		History: []reserve.Transition{{State: reserve.StateBroadcast, At: testStart, Actor: "test"}},
	}
	ms.proposals[old.ID] = old
	ms.utxos = append(ms.utxos, reserve.UTXO{OutPoint: in.OutPoint, AmountSat: bumpCoinSat, Height: 100})
	return d, s, old
}

// TestBumpAllowed: a bump within the approved fee cap is a new SIGNING
// proposal that replaces the original, spends exactly its inputs (so it
// conflicts with it: at most one confirms), pays the same payees, takes
// the extra fee from the change and carries the intent unchanged; the
// original stays BROADCAST until one of the two confirms.
func TestBumpAllowed(t *testing.T) {
	for _, rate := range []int64{bumpFeeRate + 1, bumpMaxBelow} {
		t.Run(fmt.Sprintf("%d sat/vB", rate), func(t *testing.T) {
			d, s, old := mustBumpFixture(t)
			got, err := d.bump(context.Background(), Caller{Name: "alice"}, old.ID, rate)
			require.NoError(t, err)
			require.Len(t, s.created, 1)
			require.Equal(t, reserve.StateSigning, got.State)
			require.Equal(t, old.ID, got.Replaces)
			require.Equal(t, old.Inputs, got.Inputs, "spends the original's inputs: the two conflict")
			require.Equal(t, old.Payees, got.Payees)
			require.Equal(t, rate*bumpVSize, got.FeeSat)
			require.LessOrEqual(t, got.FeeSat, old.Intent.FeeCapSat)
			require.Equal(t, bumpChange-(got.FeeSat-bumpFeeSat), got.Change.AmountSat)
			require.True(t, old.Intent.Equal(got.Intent), "the approved intent, unchanged")
			require.NotEqual(t, old.Txid, got.Txid)

			var tx wire.MsgTx
			require.NoError(t, tx.Deserialize(bytes.NewReader(got.UnsignedTx)))
			require.Len(t, tx.TxIn, 1)
			require.Equal(t, old.Inputs[0].OutPoint, tx.TxIn[0].PreviousOutPoint)
			require.Equal(t, int64(bumpPayment), tx.TxOut[0].Value)
			require.Equal(t, got.Change.AmountSat, tx.TxOut[1].Value)

			orig, err := s.Proposal(context.Background(), old.ID)
			require.NoError(t, err)
			require.Equal(t, reserve.StateBroadcast, orig.State, "the original stays BROADCAST")
		})
	}
}

// TestBumpRefused: every refusal leaves nothing created and the original
// as it was.
func TestBumpRefused(t *testing.T) {
	tests := []struct {
		name string
		id   string
		rate int64
		edit func(s *bumpStore, p *reserve.Proposal)
		code reserve.Code
		msg  string
	}{
		{name: "over the approved fee cap", rate: bumpMaxBelow + 1, code: reserve.CodeDenied, msg: "over the 3000 sat the officers approved"},
		{name: "not above the current rate", rate: bumpFeeRate, code: reserve.CodeInvalid, msg: "fee_rate"},
		{name: "below BIP-125's increment", rate: bumpFeeRate + 1,
			edit: func(_ *bumpStore, p *reserve.Proposal) { p.FeeSat = bumpFeeSat + 100 }, code: reserve.CodeInvalid, msg: "BIP-125"},
		{name: "fee rate zero", rate: 0, code: reserve.CodeInvalid, msg: "fee_rate"},
		{name: "fee rate over the daemon's ceiling", rate: maxFeeRate + 1, code: reserve.CodeInvalid, msg: "fee_rate"},
		{name: "unknown id", id: "P404", rate: bumpFeeRate + 1, code: reserve.CodeNotFound},
		{name: "FINALIZED, not yet broadcast", rate: bumpFeeRate + 1,
			edit: func(_ *bumpStore, p *reserve.Proposal) { p.State = reserve.StateFinalized }, code: reserve.CodeFailedPrecondition, msg: "only a BROADCAST"},
		{name: "CONFIRMED", rate: bumpFeeRate + 1,
			edit: func(_ *bumpStore, p *reserve.Proposal) { p.State = reserve.StateConfirmed }, code: reserve.CodeFailedPrecondition, msg: "only a BROADCAST"},
		{name: "SIGNING", rate: bumpFeeRate + 1,
			edit: func(_ *bumpStore, p *reserve.Proposal) { p.State = reserve.StateSigning }, code: reserve.CodeFailedPrecondition, msg: "only a BROADCAST"},
		{name: "approvals expired", rate: bumpFeeRate + 1,
			edit: func(_ *bumpStore, p *reserve.Proposal) { p.Intent.ExpiresAt = testStart }, code: reserve.CodeFailedPrecondition, msg: "expired"},
		{name: "no intent", rate: bumpFeeRate + 1,
			edit: func(_ *bumpStore, p *reserve.Proposal) { p.Intent = nil }, code: reserve.CodeFailedPrecondition, msg: "no approved intent"},
		{name: "no change to pay from", rate: bumpFeeRate + 1,
			edit: func(_ *bumpStore, p *reserve.Proposal) { p.Change = nil }, code: reserve.CodeFailedPrecondition, msg: "no change output"},
		{name: "change would become dust", rate: bumpMaxBelow,
			edit: func(_ *bumpStore, p *reserve.Proposal) {
				p.Change.AmountSat = bumpMaxBelow*bumpVSize - bumpFeeSat + 100
			}, code: reserve.CodeFailedPrecondition, msg: "dust"},
		{name: "reserve frozen", rate: bumpFeeRate + 1,
			edit: func(s *bumpStore, _ *reserve.Proposal) { s.gov.Freeze.Frozen = true }, code: reserve.CodeFailedPrecondition},
		{name: "approved under a replaced policy", rate: bumpFeeRate + 1,
			edit: func(s *bumpStore, p *reserve.Proposal) {
				p.Intent.PolicyHash = [32]byte{1}
				s.gov.Policy = &reserve.PolicyRecord{Hash: [32]byte{2}}
			}, code: reserve.CodeFailedPrecondition, msg: "policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, s, old := mustBumpFixture(t)
			if tc.edit != nil {
				in := *old.Intent
				ch := *old.Change
				old.Intent, old.Change = &in, &ch
				tc.edit(s, &old)
				s.proposals[old.ID] = old
			}
			id := old.ID
			if tc.id != "" {
				id = tc.id
			}
			_, err := d.bump(context.Background(), Caller{Name: "alice"}, id, tc.rate)
			require.Error(t, err)
			require.Equal(t, tc.code.String(), reserve.CodeOf(err).String(), "%v", err)
			if tc.msg != "" {
				require.ErrorContains(t, err, tc.msg)
			}
			require.Empty(t, s.created, "nothing created")
			got, err := s.Proposal(context.Background(), old.ID)
			require.NoError(t, err)
			require.Equal(t, old.State, got.State)
		})
	}
}

// TestBumpThenReconcile: once the bump confirms, reconcile marks the
// original REPLACED, not FAILED: the payment was made. (Moving the
// input's reservation to the bump, and back when a bump ends first, is
// the store's work: store/approval_test.go.)
func TestBumpThenReconcile(t *testing.T) {
	d, s, old := mustBumpFixture(t)
	bumped, err := d.bump(context.Background(), Caller{Name: "alice"}, old.ID, bumpFeeRate+2)
	require.NoError(t, err)
	s.mu.Lock()
	bumped.State = reserve.StateBroadcast
	s.proposals[bumped.ID] = bumped
	s.mu.Unlock()
	s.spend(old, bumped.Txid, 121)
	s.tip = 121

	// reconcile's own pass, over the store's proposals.
	require.NoError(t, d.reconcile(context.Background()))
	got, err := s.Proposal(context.Background(), old.ID)
	require.NoError(t, err)
	require.Equal(t, reserve.StateReplaced.String(), got.State.String(), "history: %+v", got.History)
	require.Contains(t, got.History[len(got.History)-1].Note, "replaced by proposal "+bumped.ID)
	require.Empty(t, got.FailReason)
}
