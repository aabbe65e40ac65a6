package reserve

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Refusals of Require, each wrapped in a *Error with CodeDenied whose Field
// names the policy rule ("velocity.per_24h"). Branch on them with errors.Is.
var (
	// ErrVelocityExceeded: the payments would take the external amount
	// paid in a rolling window over the policy's cap.
	ErrVelocityExceeded = errors.New("velocity cap exceeded")
	// ErrUnlistedRefused: a payee is not on the allowlist in effect and
	// the policy refuses unlisted payees.
	ErrUnlistedRefused = errors.New("payee not on the allowlist")
	// ErrFeeOverCap: the fee is over the policy's absolute or per-vbyte cap.
	ErrFeeOverCap = errors.New("fee over the policy cap")
	// ErrTooFewOfficers: the approvals needed (the tier's plus one for an
	// unlisted payee) are more than the policy has officers, so no quorum
	// could ever be met.
	ErrTooFewOfficers = errors.New("more approvals needed than the policy has officers")
)

// maxTxVSize is the largest virtual size a transaction can have: a whole
// block (4,000,000 weight units). It bounds vsize so fee arithmetic cannot
// overflow.
const maxTxVSize = 1_000_000

// Payment is one external output of a proposal: an address that is not the
// reserve's own change.
type Payment struct {
	Address   string
	AmountSat int64
}

// Spent is what the reserve already paid to external addresses in the
// rolling windows ending now, as the caller counts it (the daemon from its
// proposals, a signer from its own ledger). Last24h is part of Last30d.
type Spent struct {
	Last24h int64
	Last30d int64
}

// Velocity windows: a payment counts in a window ending now if it was made
// less than this long before now.
const (
	Window24h = 24 * time.Hour
	Window30d = 30 * 24 * time.Hour
)

// Add counts a payment of sat satoshis (0 to MaxSat) made at time at in
// the windows ending now. A payment dated after now (a clock set back)
// counts as recent. Each sum stops at MaxSat, so adding never overflows.
func (s *Spent) Add(at, now time.Time, sat int64) {
	age := now.Sub(at)
	if age < Window30d {
		s.Last30d = min(s.Last30d+sat, MaxSat)
	}
	if age < Window24h {
		s.Last24h = min(s.Last24h+sat, MaxSat)
	}
}

// Requirement is what a proposal needs under the policy.
type Requirement struct {
	// Tier is the index in Policy.Tiers of the tier of the total external
	// amount.
	Tier int
	// Approvals is how many distinct officers must approve: the tier's,
	// plus one when Unlisted is not empty (UnlistedExtraApproval). It is
	// never more than the number of officers: Require refuses instead.
	Approvals int
	// CoolOff is the tier's delay between quorum and release to signers.
	CoolOff time.Duration
	// Unlisted are the payee addresses not on the allowlist in effect at
	// now, each once, in payment order; nil when every payee is listed.
	Unlisted []string
}

// Require says what a proposal paying pays, with a transaction of vsize
// virtual bytes and fee feeSat, needs at time now under the policy, or
// refuses it. The daemon calls it when a proposal is made and again before
// release; signers call it on their pinned policy with their own Spent.
//
// Bad arguments are CodeInvalid. A payment the policy forbids is CodeDenied
// wrapping ErrUnlistedRefused, ErrFeeOverCap, ErrVelocityExceeded or
// ErrTooFewOfficers, checked in that order; the message gives the figures.
// The tier is chosen by the total of pays: an amount exactly at a tier's
// up_to belongs to it, one satoshi more to the next tier.
func (p *Policy) Require(pays []Payment, feeSat, vsize int64, spent Spent, now time.Time) (Requirement, error) {
	total, err := paymentsTotal(pays)
	if err != nil {
		return Requirement{}, err
	}
	if err := checkCosts(feeSat, vsize, spent); err != nil {
		return Requirement{}, err
	}

	unlisted, pending := p.unlisted(pays, now)
	if len(unlisted) > 0 && p.Allowlist.Unlisted != UnlistedExtraApproval {
		return Requirement{}, refuseUnlisted(unlisted, pending)
	}
	if err := p.checkFee(feeSat, vsize); err != nil {
		return Requirement{}, err
	}
	if err := p.checkVelocity(total, spent); err != nil {
		return Requirement{}, err
	}

	i := p.tierFor(total)
	if i < 0 {
		return Requirement{}, Errorf(CodeInternal, "policy has no tier for %s BTC", FormatBTC(total))
	}
	tier := p.Tiers[i]
	if tier.Approvals < 1 {
		return Requirement{}, Errorf(CodeInternal, "policy tiers[%d] needs no approvals", i)
	}
	req := Requirement{Tier: i, Approvals: tier.Approvals, CoolOff: tier.CoolOff, Unlisted: unlisted}
	rule, why := fmt.Sprintf("tiers[%d].approvals", i), ""
	if len(unlisted) > 0 {
		req.Approvals++
		rule, why = "allowlist.unlisted", ", one more for unlisted payee "+strings.Join(unlisted, ", ")
	}
	if req.Approvals > len(p.Officers) {
		e := Errorf(CodeDenied, "%w: tiers[%d] needs %d%s, but the policy has %d officers",
			ErrTooFewOfficers, i, tier.Approvals, why, len(p.Officers))
		e.Field = rule
		return Requirement{}, e
	}
	return req, nil
}

// paymentsTotal checks each payment and returns their sum, at most MaxSat.
// No payments total 0: an intent that cancels (Intent.Cancels) pays no
// one and needs what the lowest tier needs; the intent's own rules say
// which intents may pay no one.
func paymentsTotal(pays []Payment) (int64, error) {
	var total int64
	for i, pay := range pays {
		if pay.Address == "" {
			return 0, Invalid(fmt.Sprintf("pays[%d].address", i), "empty address")
		}
		if pay.AmountSat <= 0 || pay.AmountSat > MaxSat {
			return 0, Invalid(fmt.Sprintf("pays[%d].amount", i), "%d sat is outside 1 sat to 21000000 BTC", pay.AmountSat)
		}
		// Both are at most MaxSat, so the sum cannot overflow.
		total += pay.AmountSat
		if total > MaxSat {
			return 0, Invalid("pays", "the payments add up to more than 21000000 BTC")
		}
	}
	return total, nil
}

func checkCosts(feeSat, vsize int64, spent Spent) error {
	switch {
	case feeSat < 0 || feeSat > MaxSat:
		return Invalid("fee", "%d sat is outside 0 to 21000000 BTC", feeSat)
	case vsize < 1 || vsize > maxTxVSize:
		return Invalid("vsize", "%d vB is outside 1 to %d", vsize, maxTxVSize)
	case spent.Last24h < 0 || spent.Last24h > MaxSat:
		return Invalid("spent.last_24h", "%d sat is outside 0 to 21000000 BTC", spent.Last24h)
	case spent.Last30d < 0 || spent.Last30d > MaxSat:
		return Invalid("spent.last_30d", "%d sat is outside 0 to 21000000 BTC", spent.Last30d)
	case spent.Last24h > spent.Last30d:
		return Invalid("spent", "%s BTC in 24 hours is more than %s BTC in 30 days, which contain them",
			FormatBTC(spent.Last24h), FormatBTC(spent.Last30d))
	}
	return nil
}

// unlisted returns the payee addresses not on the allowlist in effect at
// now, each once, and for those listed but not yet in effect, when they
// will be.
func (p *Policy) unlisted(pays []Payment, now time.Time) ([]string, map[string]time.Time) {
	effective := make(map[string]time.Time, len(p.Allowlist.Entries))
	for _, e := range p.Allowlist.Entries {
		effective[e.Address] = e.Added.Add(p.Allowlist.AddDelay)
	}
	var out []string
	var pending map[string]time.Time
	seen := map[string]bool{}
	for _, pay := range pays {
		if seen[pay.Address] {
			continue
		}
		seen[pay.Address] = true
		from, listed := effective[pay.Address]
		if listed && !now.Before(from) {
			continue
		}
		out = append(out, pay.Address)
		if listed {
			if pending == nil {
				pending = map[string]time.Time{}
			}
			pending[pay.Address] = from
		}
	}
	return out, pending
}

func refuseUnlisted(unlisted []string, pending map[string]time.Time) error {
	parts := make([]string, len(unlisted))
	for i, a := range unlisted {
		parts[i] = a
		if from, ok := pending[a]; ok {
			parts[i] += " (listed, in effect from " + from.UTC().Format(time.RFC3339) + ")"
		}
	}
	e := Errorf(CodeDenied, "%w: %s, and the policy refuses unlisted payees", ErrUnlistedRefused, strings.Join(parts, ", "))
	e.Field = "allowlist.unlisted"
	return e
}

// FeeCap is the most fee the policy allows a transaction of vsize (at
// least 1) virtual bytes: the lower of max_fee and max_fee_rate × vsize.
func (p *Policy) FeeCap(vsize int64) int64 {
	if limit, ok := p.rateCap(vsize); ok {
		return min(p.Fees.MaxFeeSat, limit)
	}
	return p.Fees.MaxFeeSat
}

// rateCap is max_fee_rate × vsize; false when vsize is not positive or the
// product overflows (a rate cap that large caps nothing).
func (p *Policy) rateCap(vsize int64) (int64, bool) {
	if vsize < 1 || p.Fees.MaxFeeRate > math.MaxInt64/vsize {
		return 0, false
	}
	return p.Fees.MaxFeeRate * vsize, true
}

func (p *Policy) checkFee(feeSat, vsize int64) error {
	if feeSat > p.Fees.MaxFeeSat {
		e := Errorf(CodeDenied, "%w: %d sat is more than max_fee %s BTC (%d sat)",
			ErrFeeOverCap, feeSat, FormatBTC(p.Fees.MaxFeeSat), p.Fees.MaxFeeSat)
		e.Field = "fees.max_fee"
		return e
	}
	if limit, ok := p.rateCap(vsize); ok {
		if feeSat > limit {
			e := Errorf(CodeDenied, "%w: %d sat for %d vB is more than max_fee_rate %d sat/vB × %d vB = %d sat",
				ErrFeeOverCap, feeSat, vsize, p.Fees.MaxFeeRate, vsize, limit)
			e.Field = "fees.max_fee_rate"
			return e
		}
	}
	return nil
}

func (p *Policy) checkVelocity(total int64, spent Spent) error {
	windows := []struct {
		field, span string
		cap, spent  int64
	}{
		{"velocity.per_24h", "24 hours", p.Velocity.Per24hSat, spent.Last24h},
		{"velocity.per_30d", "30 days", p.Velocity.Per30dSat, spent.Last30d},
	}
	for _, w := range windows {
		// Both terms are at most MaxSat: no overflow.
		if w.cap == 0 || w.spent+total <= w.cap {
			continue
		}
		e := Errorf(CodeDenied, "%w: %s BTC already paid in %s + %s BTC in this proposal = %s BTC, more than the cap of %s BTC",
			ErrVelocityExceeded, FormatBTC(w.spent), w.span, FormatBTC(total), FormatBTC(w.spent+total), FormatBTC(w.cap))
		e.Field = w.field
		return e
	}
	return nil
}

// tierFor returns the index of the first tier whose bound is at or above
// total, or -1 if there is none (a policy not made by ParsePolicy).
func (p *Policy) tierFor(total int64) int {
	for i, t := range p.Tiers {
		if total <= t.UpToSat {
			return i
		}
	}
	return -1
}
