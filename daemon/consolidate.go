package daemon

import (
	"cmp"
	"context"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// consolidateSpec is what an officer asks to merge (spend consolidate):
// the coins are chosen by the daemon, oldest first and, within a height,
// smallest first.
type consolidateSpec struct {
	// MaxInputs bounds the coins merged; 0 for as many as a standard
	// transaction and the PSBT bound let one transaction carry.
	MaxInputs int
	// MinAge is the fewest confirmations a merged coin has; 0 for any.
	MinAge int32
	// MaxAmountSat leaves out coins worth more; 0 for none left out.
	MaxAmountSat int64
}

// minConsolidation is the fewest coins a consolidation merges.
const minConsolidation = 2

// consolidate proposes a transaction that merges the reserve's coins into
// one output to its next change address, under an intent with
// Consolidate set: the same approvals, expiry and fee rules as a payment
// of nothing (the policy's lowest tier, the fee within its cap).
func (d *Daemon) consolidate(ctx context.Context, caller Caller, spec spendSpec) (reserve.Proposal, error) {
	c := spec.consolidate
	switch {
	case c == nil:
		return reserve.Proposal{}, reserve.Invalid("consolidate", "is missing")
	case c.MaxInputs < 0:
		return reserve.Proposal{}, reserve.Invalid("max_inputs", "is %d, want 0 (as many as fit) or more", c.MaxInputs)
	case c.MaxInputs == 1:
		return reserve.Proposal{}, reserve.Invalid("max_inputs", "is 1: a consolidation merges at least %d coins", minConsolidation)
	case c.MinAge < 0:
		return reserve.Proposal{}, reserve.Invalid("min_age_blocks", "is %d, want 0 or more", c.MinAge)
	case c.MaxAmountSat < 0 || c.MaxAmountSat > reserve.MaxSat:
		return reserve.Proposal{}, reserve.Invalid("max_amount_sat", "%d sat is outside 0 to 21000000 BTC", c.MaxAmountSat)
	case spec.FeeRate < 1 || spec.FeeRate > maxFeeRate:
		return reserve.Proposal{}, reserve.Invalid("fee_rate", "must be 1 to %d sat/vB, got %d", maxFeeRate, spec.FeeRate)
	case spec.Replaces != "" || spec.Repeat || len(spec.Payees) > 0:
		return reserve.Proposal{}, reserve.Invalid("consolidate", "a consolidation pays no payee, replaces nothing and is no repeat")
	}
	if err := checkText("memo", spec.Memo, maxMemoBytes); err != nil {
		return reserve.Proposal{}, err
	}
	return d.proposeLinked(ctx, caller, spec, nil, nil)
}

// maxStandardVSize is the largest transaction, in vbytes, Bitcoin Core
// and btcd relay (400,000 weight units).
const maxStandardVSize = 100_000

// maxConsolidationInputs is the most inputs a consolidation of desc's
// coins into one change output may have and stay a standard transaction
// that nodes relay.
func maxConsolidationInputs(desc *multisig.Descriptor) (int, error) {
	change, err := desc.Derive(reserve.BranchChange, 0) // every change script has the same size
	if err != nil {
		return 0, err
	}
	m, n := desc.Threshold(), len(desc.Cosigners())
	k := int(4*maxStandardVSize/multisig.InputWeight(m, n)) + 1
	for k > 0 && multisig.EstimateVSize(m, n, k, [][]byte{change.PkScript}) > maxStandardVSize {
		k--
	}
	return k, nil
}

// pickConsolidation chooses the coins a consolidation merges: those with
// at least MinAge confirmations and worth at most MaxAmountSat, oldest
// first and within a height smallest first, as many as MaxInputs allows,
// a standard transaction's weight allows (maxConsolidationInputs) and the
// PSBT bound carries (each input with its previous transaction). coins
// are in Spendable's order (oldest first).
//
// A coin worth no more than the fee its own input costs at feeRate is left
// where it is: merging it would spend more than it brings (Core's coin
// selection drops such coins too).
func pickConsolidation(c *consolidateSpec, coins []reserve.UTXO, sizes map[chainhash.Hash]int64, tip int32, desc *multisig.Descriptor, feeRate int64) ([]reserve.Input, error) {
	limit, err := maxConsolidationInputs(desc)
	if err != nil {
		return nil, err
	}
	if c.MaxInputs > 0 {
		limit = min(limit, c.MaxInputs)
	}
	inputBytes := desc.InputPSBTBytes()
	inputFee := feeRate * int64((multisig.InputWeight(desc.Threshold(), len(desc.Cosigners()))+3)/4)
	eligible := slices.DeleteFunc(slices.Clone(coins), func(u reserve.UTXO) bool {
		return u.Confirmations(tip) < c.MinAge || c.MaxAmountSat > 0 && u.AmountSat > c.MaxAmountSat || u.AmountSat <= inputFee
	})
	slices.SortStableFunc(eligible, func(a, b reserve.UTXO) int {
		if r := cmp.Compare(a.Height, b.Height); r != 0 {
			return r
		}
		return cmp.Compare(a.AmountSat, b.AmountSat)
	})
	budget := multisig.MaxPSBTBytes - int64(psbtReserve)
	var picked []reserve.Input
	for _, u := range eligible {
		if len(picked) == limit {
			break
		}
		cost := inputBytes + multisig.PrevTxPSBTBytes(sizes[u.OutPoint.Hash])
		if cost > budget {
			break
		}
		budget -= cost
		picked = append(picked, reserve.Input{OutPoint: u.OutPoint, AmountSat: u.AmountSat, Branch: u.Branch, Index: u.Index})
	}
	if len(picked) < minConsolidation {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition,
			"%d spendable coins meet the consolidation's limits (min age %d blocks, max amount %d sat, worth more than the %d sat their input costs at %d sat/vB); it merges at least %d",
			len(picked), c.MinAge, c.MaxAmountSat, inputFee, feeRate, minConsolidation)
	}
	return picked, nil
}
