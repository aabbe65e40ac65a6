package multisig

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// MaxFeeRate is the highest fee rate SelectCoins accepts, in sat/vB. It is
// a bound against typing mistakes (sat/kvB for sat/vB), not a policy: the
// daemon and the signers apply their own, lower caps.
const MaxFeeRate int64 = 100_000

// bnbMaxTries bounds the branch-and-bound search, as Bitcoin Core does.
const bnbMaxTries = 100_000

// ErrInsufficientFunds is the cause of SelectCoins' error when the coins
// cannot pay the outputs and the fee; test for it with errors.Is.
var ErrInsufficientFunds = errors.New("insufficient funds")

// ErrPSBTTooLarge is the cause of SelectCoins' error when the coins would
// pay, but only with inputs whose PSBT (each carrying its previous
// transaction) is over SelectParams.PSBT.MaxBytes; test for it with
// errors.Is.
var ErrPSBTTooLarge = errors.New("PSBT too large")

// SelectParams is what SelectCoins chooses from and pays for.
type SelectParams struct {
	// Coins are the candidates. The caller passes only coins that may be
	// spent now: confirmed, mature, unspent and not reserved by another
	// proposal. Their order does not matter.
	Coins []reserve.Input
	// Outputs are the payees, in the order the transaction will have them.
	Outputs []*wire.TxOut
	// ChangeScript is the wallet's change output script (P2WSH), used for
	// sizing and the dust rule; the caller derives it from the descriptor.
	ChangeScript []byte
	// FeeRate is in sat/vB, 1 to MaxFeeRate.
	FeeRate int64
	// M and N are the wallet's threshold and number of keys.
	M, N int
	// PSBT bounds the bytes the inputs add to the spend's PSBT; its zero
	// value sets no bound.
	PSBT PSBTBudget
	// Required are coins the transaction must spend, whatever they are
	// worth: a replacement spends an input of each transaction it
	// supersedes, so that at most one of them confirms. They are not
	// among Coins. With Required, Outputs may be empty: the transaction
	// then pays only the change (a cancel).
	Required []reserve.Input
}

// PSBTBudget is the room a spend's PSBT has for its inputs. Every input
// costs InputBytes plus PrevTxPSBTBytes of its previous transaction: each
// input carries its own copy of that transaction, also when several spend
// outputs of the same one.
type PSBTBudget struct {
	// MaxBytes is what the inputs may take together: MaxPSBTBytes less
	// the rest of the PSBT (globals, outputs, the approvals added when
	// it goes to the signers). 0 sets no bound.
	MaxBytes int64
	// InputBytes is what every input adds besides its previous
	// transaction (Descriptor.InputPSBTBytes).
	InputBytes int64
	// PrevTxBytes is the serialized size (with witnesses) of every
	// coin's previous transaction, by txid; required when MaxBytes > 0.
	PrevTxBytes map[chainhash.Hash]int64
}

// Selection is the coins to spend and where the money goes.
type Selection struct {
	// Inputs are in a deterministic order: amount descending, then txid
	// (as displayed) and output index ascending.
	Inputs []reserve.Input
	// ChangeSat is the change output's amount, 0 when there is none; a
	// change output is never below DustThreshold(ChangeScript).
	ChangeSat int64
	// FeeSat is exactly sum(Inputs) − sum(Outputs) − ChangeSat, and at
	// least FeeRate × VSize.
	FeeSat int64
	// VSize is EstimateVSize of the result: len(Inputs) inputs, the
	// outputs, and the change output when ChangeSat > 0.
	VSize int64
}

// SelectCoins chooses which coins pay for Outputs at FeeRate, avoiding a
// change output when it can. The same parameters, in any coin order,
// always give the same Selection. It is the specification of coin
// selection for Custos:
//
// Sizes. Every input weighs InputWeight(M, N) (m signatures of MaxSigLen),
// so a coin's effective value is its amount − FeeRate × ceil(InputWeight/4);
// coins whose effective value is ≤ 0 cost more than they bring and are
// skipped. The target for k inputs is sum(Outputs) + FeeRate × ceil(w/4),
// w the weight of the transaction without its inputs and without change
// (from the weights, with the input count's varint for k inputs).
// Selections whose effective values reach the target pay at least FeeRate
// × EstimateVSize. costOfChange = FeeRate × (OutputSize(ChangeScript) +
// ceil(InputWeight/4)): creating the change output now and spending it
// later, as Bitcoin Core counts it. No selection may make the transaction
// heavier than 400,000 weight units (the standard limit), nor, when
// PSBT.MaxBytes is set, have inputs whose PSBT bytes (PSBTBudget) total
// more than PSBT.MaxBytes: a coin that would pass the bound is passed
// over, and the search goes on with the next.
//
// Step 1, no change (Bitcoin Core's branch and bound). A depth-first
// search over the coins by effective value descending, inclusion branch
// first, skipping a coin equal to one just excluded, at most 100,000
// steps. k coins are a solution when target(k) ≤ Σ effective ≤ target(k)
// + costOfChange and the transaction stays within the standard weight.
// The one with the least excess over its target wins (without a long-term
// fee rate, excess is the whole of Core's waste); among equals the first
// found, which favours the larger coins. The excess goes to the fee.
//
// Step 2, with change. Coins are added largest first until the amounts
// pay the outputs and the exact fee of the transaction with a change
// output (FeeRate × EstimateVSize); the rest is change. A change below
// DustThreshold(ChangeScript) (330 sat for P2WSH) is dropped and goes to
// the fee. If all the coins pay the outputs but not a change output, the
// fewest largest coins that pay without change are spent and the excess
// goes to the fee. When the PSBT bound passed a coin over and nothing
// paid, step 2 runs again with the coins by effective value per PSBT byte,
// descending (coins from small previous transactions first).
//
// Step 3. When no selection pays, the error, of code
// CodeFailedPrecondition and cause ErrInsufficientFunds, reads
// "insufficient funds: need X sat (payments Y + fee Z at R sat/vB),
// spendable W sat in K coins", where Z is the fee of spending all K coins
// of positive effective value (W sat) without change. If the coins would
// pay but only with more inputs than a standard transaction holds, the
// error says so and suggests consolidating. If they would pay but only
// with a PSBT over the bound, the error, of code CodeFailedPrecondition
// and cause ErrPSBTTooLarge, says so and gives the largest total payment
// to the same outputs, at the same fee rate and without change, that the
// two orders of step 2 find within both bounds.
//
// Finally the fee is checked against FeeRate × VSize of the result; a
// shortfall is taken from the change (never happens with the sizes above,
// but the check is what callers rely on).
//
// It refuses with CodeInvalid, naming the field: m, n outside 1 ≤ m ≤ n ≤
// reserve.MaxCosigners ("m", "n"); a fee rate outside 1..MaxFeeRate
// ("fee_rate"); a change script that is not P2WSH ("change_script"); no
// outputs, or outputs that total more than 21 million BTC or cannot fit
// in a standard transaction ("outputs"); a nil output, an amount ≤ 0 or
// above reserve.MaxSat, an unspendable (OP_RETURN or unparsable) script,
// or an amount below DustThreshold of its script ("output[i]"); a coin
// amount ≤ 0 or above MaxSat, the same outpoint twice, coins that total
// more than 21 million BTC, or, with a PSBT bound, a coin whose previous
// transaction's size is not given ("coin[i]", "coins"); a negative PSBT
// bound or input size ("psbt"). It does not modify p; Selection.Inputs is
// a new slice.
//
// Required coins. When Required is set, steps 1 and 2 are replaced by one
// pass of step 2 that takes every required coin first (in the given
// order, whatever its effective value), then the other coins largest
// first; a required coin the standard weight or the PSBT bound cannot
// take is refused, naming it ("required[i]").
func SelectCoins(p SelectParams) (Selection, error) {
	s, err := newSelector(p)
	if err != nil {
		return Selection{}, err
	}
	if len(p.Required) > 0 {
		return s.withRequired()
	}
	if chosen, ok := s.branchAndBound(); ok {
		return s.finish(chosen, 0)
	}
	if sel, ok, err := s.accumulate(s.byValue()); ok || err != nil || !s.passedOver {
		if ok || err != nil {
			return sel, err
		}
		return Selection{}, s.unpaid()
	}
	if sel, ok, err := s.accumulate(s.byDensity()); ok || err != nil {
		return sel, err
	}
	return Selection{}, s.unpaid()
}

// selector holds one SelectCoins call's checked inputs and derived sizes.
type selector struct {
	p SelectParams
	// coins are the spendable candidates (effective value > 0), sorted;
	// eff[i] is coins[i]'s effective value.
	coins []reserve.Input
	eff   []int64
	// spendable is the sum of coins' amounts.
	spendable int64
	// skipped counts the coins worth less than their own input fee.
	skipped int
	outSum  int64
	// inWeight is InputWeight(M, N); inFee the fee each input is charged.
	inWeight, inFee int64
	// outLen and outLenChange are outputsLen without and with change.
	outLen, outLenChange int64
	costOfChange, dust   int64
	// cost[i] is coins[i]'s PSBT bytes (PSBTBudget), 0 without a bound.
	cost []int64
	// passedOver is set when step 2 passed a coin over for the PSBT bound.
	passedOver bool
	// maxIn and maxInChange are the most inputs a standard transaction
	// holds without and with the change output.
	maxIn, maxInChange int
	// tries is the steps branch and bound took, at most bnbMaxTries.
	tries int
	// density is byDensity's order, sorted once when first needed.
	density []int
}

// newSelector checks p and prepares the sorted spendable coins.
func newSelector(p SelectParams) (*selector, error) {
	outSum, err := checkSelectParams(p)
	if err != nil {
		return nil, err
	}
	s := &selector{p: p, outSum: outSum, inWeight: InputWeight(p.M, p.N)}
	s.inFee = p.FeeRate * vsize(s.inWeight)
	scripts := make([][]byte, 0, len(p.Outputs)+1)
	for _, o := range p.Outputs {
		scripts = append(scripts, o.PkScript)
	}
	s.outLen = outputsLen(scripts)
	s.outLenChange = outputsLen(append(scripts, p.ChangeScript))
	s.costOfChange = p.FeeRate*OutputSize(p.ChangeScript) + s.inFee
	s.dust = DustThreshold(p.ChangeScript)
	s.maxIn = s.maxInputs(s.outLen)
	s.maxInChange = s.maxInputs(s.outLenChange)
	if s.maxIn < 1 {
		return nil, reserve.Invalid("outputs", "%d outputs do not fit in a standard transaction (%d weight units) with even one input", len(p.Outputs), maxStandardWeight)
	}
	if err := s.loadCoins(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkSelectParams applies SelectCoins' refusals and returns the sum of
// the outputs.
func checkSelectParams(p SelectParams) (int64, error) {
	if p.N < 1 || p.N > reserve.MaxCosigners {
		return 0, reserve.Invalid("n", "%d keys is outside 1..%d", p.N, reserve.MaxCosigners)
	}
	if p.M < 1 || p.M > p.N {
		return 0, reserve.Invalid("m", "threshold %d is outside 1..%d (n)", p.M, p.N)
	}
	if p.FeeRate < 1 || p.FeeRate > MaxFeeRate {
		return 0, reserve.Invalid("fee_rate", "fee rate %d sat/vB is outside 1..%d", p.FeeRate, MaxFeeRate)
	}
	if p.PSBT.MaxBytes < 0 || p.PSBT.InputBytes < 0 {
		return 0, reserve.Invalid("psbt", "PSBT bound %d and input size %d must not be negative", p.PSBT.MaxBytes, p.PSBT.InputBytes)
	}
	if !txscript.IsPayToWitnessScriptHash(p.ChangeScript) {
		return 0, reserve.Invalid("change_script", "change script %x is not P2WSH (OP_0 <32 bytes>)", p.ChangeScript)
	}
	if len(p.Outputs) == 0 && len(p.Required) == 0 {
		return 0, reserve.Invalid("outputs", "no outputs to pay")
	}
	var sum int64
	for i, o := range p.Outputs {
		if err := checkOutput(o); err != nil {
			err.Field = fmt.Sprintf("output[%d]", i)
			return 0, err
		}
		// Each amount is at most MaxSat, so the sum cannot overflow
		// before this check stops it.
		if sum += o.Value; sum > reserve.MaxSat {
			return 0, reserve.Invalid("outputs", "outputs total more than 21,000,000 BTC")
		}
	}
	return sum, nil
}

// checkOutput checks one payee output; the caller names the field.
func checkOutput(o *wire.TxOut) *reserve.Error {
	switch {
	case o == nil:
		return reserve.Invalid("", "output is missing")
	case o.Value <= 0:
		return reserve.Invalid("", "amount %d sat is not positive", o.Value)
	case o.Value > reserve.MaxSat:
		return reserve.Invalid("", "amount %d sat is more than 21,000,000 BTC", o.Value)
	case txscript.IsUnspendable(o.PkScript):
		return reserve.Invalid("", "script %x is unspendable (OP_RETURN, oversized or unparsable): the amount would be burned", o.PkScript)
	}
	if dust := DustThreshold(o.PkScript); o.Value < dust {
		return reserve.Invalid("", "amount %d is below the dust threshold %d for this script", o.Value, dust)
	}
	return nil
}

// loadCoins checks the candidates, keeps those with a positive effective
// value (and every required coin) and sorts them once: amount descending,
// then outpoint. All inputs weigh the same, so this is also effective
// value descending. It reads each coin's previous transaction size once
// and sorts small keys rather than whole coins: with 50,000 coins this
// check and sort are most of SelectCoins' time (BenchmarkSelectCoinsScale).
func (s *selector) loadCoins() error {
	seen := make(map[wire.OutPoint]int, len(s.p.Coins)+len(s.p.Required))
	var total int64
	// kept are the coins to sort, size[j] kept[j]'s previous
	// transaction size (0 without a PSBT bound).
	kept := make([]reserve.Input, 0, len(s.p.Coins)+len(s.p.Required))
	var size []int64
	if s.p.PSBT.MaxBytes > 0 {
		size = make([]int64, 0, cap(kept))
	}
	// check applies the refusals to coin i, of Required when mark is
	// negative, and records it in seen under mark.
	check := func(c reserve.Input, i, mark int) error {
		f := func() string {
			if mark < 0 {
				return fmt.Sprintf("required[%d]", i)
			}
			return coinField(i)
		}
		if c.AmountSat <= 0 || c.AmountSat > reserve.MaxSat {
			return reserve.Invalid(f(), "amount %d sat is outside 1..%d", c.AmountSat, reserve.MaxSat)
		}
		if s.p.PSBT.MaxBytes > 0 {
			n, ok := s.p.PSBT.PrevTxBytes[c.OutPoint.Hash]
			if !ok || n <= 0 {
				return reserve.Invalid(f(), "size of previous transaction %s is not given", c.OutPoint.Hash)
			}
			size = append(size, n)
		}
		if j, dup := seen[c.OutPoint]; dup {
			return reserve.Invalid(f(), "outpoint %s is also coin[%d]", c.OutPoint, j)
		}
		seen[c.OutPoint] = mark
		if total += c.AmountSat; total > reserve.MaxSat {
			return reserve.Invalid("coins", "coins total more than 21,000,000 BTC")
		}
		return nil
	}
	for i, c := range s.p.Coins {
		if err := check(c, i, i); err != nil {
			return err
		}
		if c.AmountSat <= s.inFee {
			s.skipped++
			if size != nil {
				size = size[:len(size)-1]
			}
			continue
		}
		kept = append(kept, c)
	}
	for i, c := range s.p.Required {
		if err := check(c, i, -1-i); err != nil {
			return err
		}
		kept = append(kept, c)
	}
	s.sortCoins(kept, size)
	return nil
}

// sortCoins sets coins, eff and cost from kept (and its previous
// transactions' sizes, nil without a PSBT bound) in compareInputs order.
func (s *selector) sortCoins(kept []reserve.Input, size []int64) {
	// Amounts decide almost every comparison; the outpoints only ties.
	type key struct {
		amount int64
		at     int
	}
	keys := make([]key, len(kept))
	for j, c := range kept {
		keys[j] = key{c.AmountSat, j}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if c := cmp.Compare(b.amount, a.amount); c != 0 {
			return c
		}
		return compareInputs(kept[a.at], kept[b.at])
	})
	s.coins = make([]reserve.Input, len(kept))
	s.eff = make([]int64, len(kept))
	s.cost = make([]int64, len(kept))
	for i, k := range keys {
		c := kept[k.at]
		s.coins[i] = c
		s.spendable += c.AmountSat
		s.eff[i] = c.AmountSat - s.inFee
		if size != nil {
			s.cost[i] = s.p.PSBT.InputBytes + PrevTxPSBTBytes(size[k.at])
		}
	}
}

// fits reports whether coin i may join inputs of PSBT bytes used.
func (s *selector) fits(used int64, i int) bool {
	return s.p.PSBT.MaxBytes <= 0 || used+s.cost[i] <= s.p.PSBT.MaxBytes
}

// coinField names SelectParams.Coins[i] in errors.
func coinField(i int) string { return fmt.Sprintf("coin[%d]", i) }

// compareInputs orders by amount descending, then txid as displayed (the
// reverse of its byte order), then output index.
func compareInputs(a, b reserve.Input) int {
	if c := cmp.Compare(b.AmountSat, a.AmountSat); c != 0 {
		return c
	}
	for i := len(a.OutPoint.Hash) - 1; i >= 0; i-- {
		if c := cmp.Compare(a.OutPoint.Hash[i], b.OutPoint.Hash[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.OutPoint.Index, b.OutPoint.Index)
}

// maxInputs is the most inputs a transaction with outputs of outLen bytes
// may have and stay within the standard weight.
func (s *selector) maxInputs(outLen int64) int {
	k := int((maxStandardWeight - txWeight(s.inWeight, 0, outLen)) / s.inWeight)
	for k > 0 && txWeight(s.inWeight, k, outLen) > maxStandardWeight {
		k-- // the input count's own varint
	}
	return k
}

// target is what k coins' effective values must reach to pay the outputs
// and every byte of the transaction that is not an input, without change.
func (s *selector) target(k int) int64 {
	w := txWeight(s.inWeight, k, s.outLen) - int64(k)*s.inWeight
	return s.outSum + s.p.FeeRate*vsize(w)
}

// branchAndBound is step 1: it returns the chosen coins' indices,
// ascending, and whether any changeless selection was found. It walks the
// inclusion/exclusion tree iteratively as Core's SelectCoinsBnB does: i is
// the next coin to decide, avail the effective value of the coins from i
// on. Its work is bounded whatever the coins: at most bnbMaxTries steps,
// each moving i by one (a backtrack gives back the coins it skipped, no
// more than the steps that skipped them), and memory for two selections
// of at most maxIn coins: a better selection is copied over the best, not
// cloned.
func (s *selector) branchAndBound() ([]int, bool) {
	eff := s.eff
	var avail int64
	for _, e := range eff {
		avail += e
	}
	floor := s.target(1) // no target is lower
	var (
		cur, used  int64 // effective value and PSBT bytes of sel
		sel, best  []int
		bestExcess int64
		found      bool
	)
	s.tries = 0
	for i := 0; s.tries < bnbMaxTries; s.tries, i = s.tries+1, i+1 {
		backtrack := false
		if t := s.target(len(sel)); len(sel) > 0 && cur >= t {
			// Reached the target: more coins only add excess.
			if excess := cur - t; excess <= s.costOfChange && (!found || excess < bestExcess) {
				best, bestExcess, found = append(best[:0], sel...), excess, true
				if excess == 0 {
					s.tries++ // this step counts
					break     // nothing can do better
				}
			}
			backtrack = true
		} else if cur+avail < floor || i == len(eff) || len(sel) == s.maxIn {
			backtrack = true
		}
		if backtrack {
			if len(sel) == 0 {
				s.tries++
				break // every branch is explored
			}
			// Give back the coins skipped since the last included one,
			// then exclude it; the loop moves on to the coin after it.
			last := sel[len(sel)-1]
			for i--; i > last; i-- {
				avail += eff[i]
			}
			cur -= eff[last]
			used -= s.cost[last]
			sel = sel[:len(sel)-1]
			continue
		}
		avail -= eff[i]
		// Including a coin equal to the one just excluded would only
		// repeat that branch; a coin past the PSBT bound is excluded.
		equal := i > 0 && eff[i] == eff[i-1] && s.cost[i] == s.cost[i-1]
		if (len(sel) == 0 || sel[len(sel)-1] == i-1 || !equal) && s.fits(used, i) {
			sel = append(sel, i)
			cur += eff[i]
			used += s.cost[i]
		}
	}
	return best, found
}

// withRequired is SelectCoins with required coins: step 2 with them
// first.
func (s *selector) withRequired() (Selection, error) {
	at := make(map[wire.OutPoint]int, len(s.coins))
	for i, c := range s.coins {
		at[c.OutPoint] = i
	}
	order := make([]int, 0, len(s.coins))
	first := make(map[int]bool, len(s.p.Required))
	var used int64
	for j, c := range s.p.Required {
		i := at[c.OutPoint]
		if len(order) == s.maxIn || !s.fits(used, i) {
			return Selection{}, reserve.Errorf(reserve.CodeFailedPrecondition,
				"required[%d]: output %s does not fit in the transaction with the %d required before it (standard weight or PSBT size)", j, c.OutPoint, j)
		}
		used += s.cost[i]
		order = append(order, i)
		first[i] = true
	}
	for _, i := range s.byValue() {
		if !first[i] {
			order = append(order, i)
		}
	}
	sel, ok, err := s.accumulateFrom(order, len(s.p.Required))
	if ok || err != nil {
		return sel, err
	}
	return Selection{}, s.unpaid()
}

// accumulate is step 2: it adds coins in the given order, passing over
// those the PSBT bound refuses, until there is change, and reports whether
// it found a selection.
func (s *selector) accumulate(order []int) (Selection, bool, error) {
	return s.accumulateFrom(order, 0)
}

// accumulateFrom is accumulate whose first required coins of order are
// always taken: no selection stops before them.
func (s *selector) accumulateFrom(order []int, required int) (Selection, bool, error) {
	var (
		chosen, changeless []int
		total, used        int64
	)
	for _, i := range order {
		if len(chosen) == s.maxIn {
			break
		}
		if !s.fits(used, i) {
			s.passedOver = true
			continue
		}
		chosen = append(chosen, i)
		total, used = total+s.coins[i].AmountSat, used+s.cost[i]
		k := len(chosen)
		if k < required {
			continue
		}
		if k <= s.maxInChange {
			// A transaction with no payees (a cancel) keeps a change
			// output above dust: it must have an output.
			if change := total - s.outSum - s.p.FeeRate*vsize(txWeight(s.inWeight, k, s.outLenChange)); change >= 0 && (len(s.p.Outputs) > 0 || change >= s.dust) {
				sel, err := s.finish(sortedIndices(chosen), change)
				return sel, true, err
			}
		}
		if changeless == nil && len(s.p.Outputs) > 0 && total-s.outSum >= s.p.FeeRate*vsize(txWeight(s.inWeight, k, s.outLen)) {
			changeless = slices.Clone(chosen)
		}
	}
	if changeless != nil {
		sel, err := s.finish(sortedIndices(changeless), 0)
		return sel, true, err
	}
	return Selection{}, false, nil
}

// unpaid is step 3: why no selection pays.
func (s *selector) unpaid() error {
	switch {
	case !s.payable():
		return s.insufficient()
	case s.passedOver:
		return reserve.Errorf(reserve.CodeFailedPrecondition,
			"%w: paying %d sat at %d sat/vB needs inputs whose PSBT would be over the %d bytes it may have (every input carries its whole previous transaction): the largest payment that fits is %d sat; pay less, or consolidate the wallet's coins first",
			ErrPSBTTooLarge, s.outSum, s.p.FeeRate, s.p.PSBT.MaxBytes, max(s.largestFitting(), 0))
	default:
		return reserve.Errorf(reserve.CodeFailedPrecondition,
			"paying %d sat at %d sat/vB needs more than %d inputs, over the standard transaction weight of %d: consolidate the wallet's coins first",
			s.outSum, s.p.FeeRate, s.maxIn, maxStandardWeight)
	}
}

// largestFitting is the largest total payment to the outputs, without
// change, that the coins taken in either order of step 2 make within the
// standard weight and the PSBT bound.
func (s *selector) largestFitting() int64 {
	best := int64(0)
	for _, order := range [][]int{s.byValue(), s.byDensity()} {
		var sum, used int64
		k := 0
		for _, i := range order {
			if k == s.maxIn {
				break
			}
			if s.fits(used, i) {
				k, sum, used = k+1, sum+s.eff[i], used+s.cost[i]
			}
		}
		if k > 0 {
			best = max(best, sum-(s.target(k)-s.outSum))
		}
	}
	return best
}

// byValue is the coins' order: effective value descending.
func (s *selector) byValue() []int { return indices(len(s.coins)) }

// byDensity orders the coins by effective value per PSBT byte,
// descending, then by their order. It sorts once per call of SelectCoins:
// step 2's second pass and step 3's largest payment share the order, and
// neither modifies it.
func (s *selector) byDensity() []int {
	if s.density != nil {
		return s.density
	}
	order := indices(len(s.coins))
	slices.SortStableFunc(order, func(a, b int) int {
		// Compared as a·cb against b·ca; the products overflow int64.
		return cmp.Compare(float64(s.eff[b])*float64(s.cost[a]), float64(s.eff[a])*float64(s.cost[b]))
	})
	s.density = order
	return order
}

// sortedIndices returns chosen ascending, so the inputs keep the coins'
// order.
func sortedIndices(chosen []int) []int {
	out := slices.Clone(chosen)
	slices.Sort(out)
	return out
}

// payable reports whether all spendable coins would pay, ignoring the
// weight limit.
func (s *selector) payable() bool {
	return s.spendable-s.outSum >= s.p.FeeRate*vsize(txWeight(s.inWeight, len(s.coins), s.outLen))
}

// insufficient builds step 3's error.
func (s *selector) insufficient() error {
	fee := s.p.FeeRate * vsize(txWeight(s.inWeight, max(len(s.coins), 1), s.outLen))
	msg := fmt.Sprintf("need %d sat (payments %d + fee %d at %d sat/vB), spendable %d sat in %d coins",
		s.outSum+fee, s.outSum, fee, s.p.FeeRate, s.spendable, len(s.coins))
	if s.skipped > 0 {
		msg += fmt.Sprintf("; %d more coins are worth less than the %d sat fee to spend each at this rate", s.skipped, s.inFee)
	}
	return reserve.Errorf(reserve.CodeFailedPrecondition, "%w: %s", ErrInsufficientFunds, msg)
}

// indices returns 0, 1, …, k−1: the k largest coins.
func indices(k int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = i
	}
	return out
}

// finish builds the Selection from the chosen coins (indices ascending, so
// the inputs keep the sorted order) and change, dropping dust change and
// checking the fee against the final size.
func (s *selector) finish(chosen []int, change int64) (Selection, error) {
	inputs := make([]reserve.Input, len(chosen))
	var total int64
	for j, i := range chosen {
		inputs[j] = s.coins[i]
		total += s.coins[i].AmountSat
	}
	if change < s.dust {
		change = 0
	}
	outLen := s.outLen
	if change > 0 {
		outLen = s.outLenChange
	}
	size := vsize(txWeight(s.inWeight, len(inputs), outLen))
	fee := total - s.outSum - change
	if short := s.p.FeeRate*size - fee; short > 0 {
		if change == 0 {
			return Selection{}, reserve.Errorf(reserve.CodeInternal,
				"coin selection paid a fee of %d sat, short of %d sat for %d vB", fee, s.p.FeeRate*size, size)
		}
		return s.finish(chosen, change-short) // may fold the change into the fee
	}
	return Selection{Inputs: inputs, ChangeSat: change, FeeSat: fee, VSize: size}, nil
}
