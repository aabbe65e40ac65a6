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
	// MaxInputs bounds the coins merged; 0 for as many as the PSBT bound
	// lets one transaction carry.
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

// pickConsolidation chooses the coins a consolidation merges: those with
// at least MinAge confirmations and worth at most MaxAmountSat, oldest
// first and within a height smallest first, as many as MaxInputs allows
// and the PSBT bound carries (each input with its previous transaction).
// coins are in Spendable's order (oldest first).
func pickConsolidation(c *consolidateSpec, coins []reserve.UTXO, sizes map[chainhash.Hash]int64, tip int32, inputBytes int64) ([]reserve.Input, error) {
	eligible := slices.DeleteFunc(slices.Clone(coins), func(u reserve.UTXO) bool {
		return u.Confirmations(tip) < c.MinAge || c.MaxAmountSat > 0 && u.AmountSat > c.MaxAmountSat
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
		if c.MaxInputs > 0 && len(picked) == c.MaxInputs {
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
			"%d spendable coins meet the consolidation's limits (min age %d blocks, max amount %d sat); it merges at least %d",
			len(picked), c.MinAge, c.MaxAmountSat, minConsolidation)
	}
	return picked, nil
}
