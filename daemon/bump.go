package daemon

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// incrementalRelayFee is BIP-125 rule 4's minimum relay fee rate, in
// sat/vB, that a replacement must pay for its own size on top of the fee
// of the transaction it replaces (Bitcoin Core's and btcd's default).
const incrementalRelayFee = 1

// bump builds a BIP-125 replacement of a broadcast proposal at feeRate:
// the same inputs and payees, the change lowered by the extra fee. It
// carries the original's intent and approvals, so it goes to the signers
// at once (SIGNING) without new approvals; the fee must stay within the
// cap the officers approved, or a new proposal (and new approvals) is
// needed. The original stays BROADCAST until one of the two confirms.
func (d *Daemon) bump(ctx context.Context, caller Caller, id string, feeRate int64) (reserve.Proposal, error) {
	if feeRate < 1 || feeRate > maxFeeRate {
		return reserve.Proposal{}, reserve.Invalid("fee_rate", "must be 1 to %d sat/vB, got %d", maxFeeRate, feeRate)
	}
	_, desc, err := d.wallet(ctx)
	if err != nil {
		return reserve.Proposal{}, err
	}
	d.spendMu.Lock()
	defer d.spendMu.Unlock()
	g, err := d.cfg.Store.Governance(ctx)
	if err != nil {
		return reserve.Proposal{}, err
	}
	if g.Freeze.Frozen {
		return reserve.Proposal{}, errFrozen(g.Freeze)
	}
	old, err := d.cfg.Store.Proposal(ctx, id)
	if err != nil {
		return reserve.Proposal{}, err
	}
	if err := inForce(g, &old); err != nil {
		return reserve.Proposal{}, err
	}
	now := d.cfg.Now().UTC()
	newFee := feeRate * old.VSize
	switch {
	case old.State != reserve.StateBroadcast:
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is %s; only a BROADCAST proposal's fee can be bumped", old.ID, old.State)
	case old.Intent == nil:
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s has no approved intent to bump under", old.ID)
	case !now.Before(old.Intent.ExpiresAt):
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeFailedPrecondition, "the approvals of proposal %s expired at %s: propose its replacement for new approvals (custosctl spend propose --replaces %s): it spends one of the same inputs, so only one of the two can confirm",
			old.ID, old.Intent.ExpiresAt.Format(time.RFC3339), old.ID)
	case feeRate <= old.FeeRate:
		return reserve.Proposal{}, reserve.Invalid("fee_rate", "%d sat/vB is not above the proposal's %d sat/vB", feeRate, old.FeeRate)
	case newFee < old.FeeSat+incrementalRelayFee*old.VSize:
		return reserve.Proposal{}, reserve.Invalid("fee_rate", "a fee of %d sat does not pay the %d sat of the replaced transaction plus %d sat/vB for its %d vB (BIP-125)",
			newFee, old.FeeSat, incrementalRelayFee, old.VSize)
	case newFee > old.Intent.FeeCapSat:
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeDenied, "a fee of %d sat is over the %d sat the officers approved: propose its replacement for new approvals (custosctl spend propose --replaces %s): it spends one of the same inputs, so only one of the two can confirm",
			newFee, old.Intent.FeeCapSat, old.ID)
	case old.Change == nil:
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s has no change output to pay a higher fee from", old.ID)
	}
	p, err := d.buildReplacement(ctx, desc, old, newFee, feeRate, caller, now)
	if err != nil {
		return reserve.Proposal{}, err
	}
	created, err := d.cfg.Store.CreateProposal(ctx, p)
	if err != nil {
		return reserve.Proposal{}, err
	}
	d.log.Info("fee bump created", "proposal", created.ID, "replaces", old.ID, "fee_sat", created.FeeSat, "txid", created.Txid.String())
	return created, nil
}

// buildReplacement is old's transaction with the change lowered to pay
// newFee, as a new proposal in SIGNING whose PSBT carries old's intent and
// approvals.
func (d *Daemon) buildReplacement(ctx context.Context, desc *multisig.Descriptor, old reserve.Proposal, newFee, feeRate int64,
	caller Caller, now time.Time) (reserve.Proposal, error) {
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(old.UnsignedTx)); err != nil {
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeInternal, "stored transaction of proposal %s does not decode: %v", old.ID, err)
	}
	change := *old.Change
	change.AmountSat -= newFee - old.FeeSat
	if dust := multisig.DustThreshold(tx.TxOut[change.Vout].PkScript); change.AmountSat < dust {
		return reserve.Proposal{}, reserve.Errorf(reserve.CodeFailedPrecondition,
			"the change of proposal %s (%d sat) cannot pay %d sat more and stay above the dust threshold", old.ID, old.Change.AmountSat, newFee-old.FeeSat)
	}
	outputs := make([]multisig.Output, len(tx.TxOut))
	for i, o := range tx.TxOut {
		outputs[i] = multisig.Output{Script: o.PkScript, AmountSat: o.Value}
		if uint32(i) == change.Vout {
			idx := change.Index
			outputs[i].AmountSat, outputs[i].ChangeIndex = change.AmountSat, &idx
		}
	}
	prevTxs, err := d.prevTxs(ctx, old.Inputs)
	if err != nil {
		return reserve.Proposal{}, err
	}
	pkt, err := multisig.CreatePSBT(multisig.CreateParams{
		Descriptor: desc, Inputs: old.Inputs, PrevTxs: prevTxs, Outputs: outputs, LockTime: tx.LockTime,
	})
	if err != nil {
		return reserve.Proposal{}, err
	}
	if err := multisig.SetApprovals(pkt, old.Intent, old.Approvals()); err != nil {
		return reserve.Proposal{}, err
	}
	raw, unsigned, err := packetBytes(pkt)
	if err != nil {
		return reserve.Proposal{}, err
	}
	in := *old.Intent
	return reserve.Proposal{
		WalletID: old.WalletID, State: reserve.StateSigning, Payees: old.Payees, Memo: old.Memo,
		FeeRate: feeRate, FeeSat: newFee, VSize: old.VSize, Inputs: old.Inputs, Change: &change,
		UnsignedTx: unsigned, PSBT: raw, Txid: pkt.UnsignedTx.TxHash(),
		CreatedBy: caller.Name, CreatedAt: now, ExpiresAt: old.ExpiresAt,
		Intent: &in, Decisions: old.Decisions, ReleaseAt: now, Replaces: old.ID,
		History: []reserve.Transition{{State: reserve.StateSigning, At: now, Actor: caller.Name,
			Note: fmt.Sprintf("fee bump of %s to %d sat/vB under its approvals", old.ID, feeRate)}},
	}, nil
}
