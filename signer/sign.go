package signer

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// This signer's own fee ceilings when the operator sets none (REFERENCES.md
// pitfall 13; Liana caps the feerate at the same 1,000 sat/vB).
const (
	// DefaultMaxFeeSat is the largest absolute fee signed by default:
	// 0.01 BTC.
	DefaultMaxFeeSat int64 = 1_000_000
	// DefaultMaxFeeRate is the highest fee rate signed by default, in
	// sat/vB.
	DefaultMaxFeeRate int64 = 1_000
)

var (
	// ErrOtherWallet is returned for a PSBT whose global xpubs
	// (PSBT_GLOBAL_XPUB) name a key, or a key origin, that is not in the
	// pinned descriptor: it was made for another wallet. It is
	// multisig.ErrOtherWallet, which multisig.Analyze returns.
	ErrOtherWallet = multisig.ErrOtherWallet

	// ErrFeeTooHigh is returned when the fee or the fee rate is over this
	// signer's ceiling (Limits).
	ErrFeeTooHigh = errors.New("fee over this signer's ceiling")
)

// Limits are this signer's own fee ceilings. They hold whatever the
// coordinator and the officers approved: a fee over either one is refused.
// A zero field means its default; a negative one is refused.
type Limits struct {
	// MaxFeeSat is the largest absolute fee, in satoshis
	// (default DefaultMaxFeeSat, 0.01 BTC).
	MaxFeeSat int64
	// MaxFeeRate is the highest fee rate, in sat/vB of the transaction's
	// estimated final virtual size (default DefaultMaxFeeRate).
	MaxFeeRate int64
}

// DefaultLimits returns the ceilings a signer uses when its operator sets
// none.
func DefaultLimits() Limits {
	return Limits{MaxFeeSat: DefaultMaxFeeSat, MaxFeeRate: DefaultMaxFeeRate}
}

func (l Limits) normalize() (Limits, error) {
	switch {
	case l.MaxFeeSat < 0 || l.MaxFeeSat > reserve.MaxSat:
		return l, reserve.Invalid("max-fee", "fee ceiling %d sat is outside 0..%d", l.MaxFeeSat, reserve.MaxSat)
	case l.MaxFeeRate < 0 || l.MaxFeeRate > reserve.MaxSat:
		return l, reserve.Invalid("max-feerate", "fee rate ceiling %d sat/vB is outside 0..%d", l.MaxFeeRate, reserve.MaxSat)
	}
	if l.MaxFeeSat == 0 {
		l.MaxFeeSat = DefaultMaxFeeSat
	}
	if l.MaxFeeRate == 0 {
		l.MaxFeeRate = DefaultMaxFeeRate
	}
	return l, nil
}

// Summary is what a PSBT pays, as this signer worked it out from the
// transaction and its pinned descriptor alone: the operator reads it
// before anything is signed. Every output is in Payees or in Change;
// an output is change only if its script is the one the pinned descriptor
// gives at its change index.
type Summary struct {
	// WalletID, Threshold and Cosigners describe the pinned wallet the
	// PSBT was checked against (M-of-N).
	WalletID  string
	Threshold int
	Cosigners int
	// TxID is the transaction's id; segwit inputs keep it unchanged by
	// signing, so officers can compare it with the coordinator's.
	TxID chainhash.Hash
	// Inputs are the wallet outputs spent, with their amounts and where
	// the descriptor derives them.
	Inputs []multisig.InputInfo
	// Payees are the outputs that leave the wallet.
	Payees []multisig.OutputInfo
	// Change are the outputs back to the wallet's change branch.
	Change []multisig.OutputInfo
	// InputSat, OutputSat and FeeSat are sums in satoshis; VSize is the
	// estimated virtual size of the signed transaction, and FeeRateMilli
	// the fee rate in thousandths of a sat/vB.
	InputSat, OutputSat, FeeSat, VSize int64
	FeeRateMilli                       int64
	// Approved is the approved intent and who approved it, as checked
	// against the pinned policy.
	Approved Approved
	// Witness is the audit log checkpoint the PSBT carries, checked to
	// extend the last one this signer witnessed (docs/audit.md,
	// "Witnesses"); Witness.Pinned is false when no log key is pinned.
	Witness Witnessed
}

// FeeRate returns the fee rate in sat/vB with one decimal, rounded to the
// nearest tenth ("12.3").
func (s Summary) FeeRate() string { return formatMilli(s.FeeRateMilli, -1) }

// formatMilli writes thousandths as a number with one decimal, rounded to
// the nearest tenth; when that would not show a rate above ceilingMilli, it
// rounds up instead, so a refusal never shows a rate that looks within the
// ceiling. ceilingMilli < 0 means plain rounding.
func formatMilli(milli, ceilingMilli int64) string {
	if milli < 0 {
		return "-" + formatMilli(-milli, -1)
	}
	tenths := (milli + 50) / 100
	if ceilingMilli >= 0 && milli > ceilingMilli && tenths*100 <= ceilingMilli {
		tenths = (milli + 99) / 100
	}
	return strconv.FormatInt(tenths/10, 10) + "." + strconv.FormatInt(tenths%10, 10)
}

// Check runs every check Sign runs before it signs, against the pinned
// descriptor d and r, and nothing the PSBT claims about itself, and
// returns what the PSBT pays and who approved it. It never changes pkt
// or the ledger. It needs no key, so a signer can show the summary, and
// refuse a bad PSBT, before the key is unlocked.
//
// A PSBT shaped as a proof of reserves (multisig.IsProof) is refused
// first, with ErrIsProof: CheckProof and SignProof take it. The spend
// checks, in order: the PSBT's global xpubs, if any, are all
// keys of d with their origins (a PSBT for another wallet fails with
// ErrOtherWallet); multisig.Analyze against d (every input recomputed from
// d and its non_witness_utxo consistent with its witness_utxo, sighash ALL
// only, change recomputed from d's change branch, anything else a payee);
// the fee and the fee rate within r.Limits (ErrFeeTooHigh); d and r.Policy
// the ones r.Ledger's state record binds (ErrStateBroken); every input's
// and change output's index below IndexWindow past the highest this signer
// has seen on its branch; at least one input.
//
// Then the approvals (docs/approvals.md, "What a signer checks"): a
// policy is pinned (ErrNoPolicy); the PSBT carries an intent for d's
// wallet (ErrNotApproved when it carries none); its payees are exactly
// the intent's and its fee within the intent's cap
// (multisig.CheckIntentOutputs); reserve.CountApprovals against the
// pinned policy, with the transaction's fee and size, velocity counted
// from the ledger and the time from r.Now, accepts them and the quorum is
// met (ErrNotApproved); the ledger holds no transaction signed under other
// approvals for the same payment (the same proposal, a supersedes link
// either way, or the same payee and amount unless the intent is a repeat)
// that this one spends no input of (ErrPaysAgain, docs/approvals.md "One
// payment, paid once"); the ledger holds no other transaction for the
// intent that this one spends no input of (ErrSignedOther). Every refusal
// is a *reserve.Error that names the input, output, officer or rule and
// the reason.
func Check(pkt *psbt.Packet, d *multisig.Descriptor, r Rules) (Summary, error) {
	return checkPSBT(pkt, d, r, r.now())
}

func checkPSBT(pkt *psbt.Packet, d *multisig.Descriptor, r Rules, now time.Time) (Summary, error) {
	if pkt == nil || pkt.UnsignedTx == nil {
		return Summary{}, reserve.Invalid("psbt", "no PSBT")
	}
	if d == nil {
		return Summary{}, reserve.Invalid("descriptor", "no pinned descriptor")
	}
	// A proof of reserves is never taken for a payment: it has checks of
	// its own (CheckProof), and no approvals.
	if multisig.IsProof(pkt) {
		return Summary{}, reserve.Invalid("psbt", "%w (it has the message field 0x09, or input 0 spends a BIP-322 to_spend): sign it as a proof (custos-signer sign shows it as one)", ErrIsProof)
	}
	lim, err := r.Limits.normalize()
	if err != nil {
		return Summary{}, err
	}

	// Analyze checks the global xpubs first, so a PSBT for another
	// wallet gets a message that says so (ErrOtherWallet).
	a, err := multisig.Analyze(pkt, d)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{
		WalletID:     d.WalletID(),
		Threshold:    d.Threshold(),
		Cosigners:    len(d.Cosigners()),
		TxID:         pkt.UnsignedTx.TxHash(),
		Inputs:       a.Inputs,
		Payees:       a.Payees,
		Change:       a.Change,
		InputSat:     a.InputSat,
		OutputSat:    a.OutputSat,
		FeeSat:       a.FeeSat,
		VSize:        a.VSize,
		FeeRateMilli: a.FeeRateMilli,
	}
	if err := checkFee(s, lim); err != nil {
		return Summary{}, err
	}
	// The state record binds the pinned descriptor and policy and says how
	// far along each branch this signer has seen; without a policy or
	// ledger checkApprovals refuses.
	if r.Ledger != nil && r.Policy != nil {
		if err := r.Ledger.checkPinned(d, r.Policy); err != nil {
			return Summary{}, err
		}
		if err := checkIndexes(s, r.Ledger.Seen()); err != nil {
			return Summary{}, err
		}
	}
	if len(s.Inputs) == 0 || len(pkt.UnsignedTx.TxIn) == 0 {
		return Summary{}, reserve.Invalid("psbt", "the transaction has no inputs")
	}
	// The audit log the coordinator shows this signer must extend what it
	// saw before (witness.go); with no log key pinned nothing is checked.
	if r.Ledger != nil {
		if s.Witness, err = checkWitness(pkt, r.Ledger.state.st, r.Fingerprint); err != nil {
			return Summary{}, err
		}
	}
	if s.Approved, err = checkApprovals(pkt, d, a, s.TxID, r, now); err != nil {
		return Summary{}, err
	}
	return s, nil
}

// checkFee refuses a fee over either ceiling. The rate is compared
// exactly, fee > rate ceiling × vsize, not through the rounded
// FeeRateMilli.
func checkFee(s Summary, lim Limits) error {
	if s.FeeSat < 0 || s.VSize <= 0 {
		// Analyze refuses both; never sign on numbers that make no sense.
		return reserve.Invalid("fee", "fee %d sat over %d vB makes no sense", s.FeeSat, s.VSize)
	}
	if s.FeeSat > lim.MaxFeeSat {
		return refuse(reserve.CodeInvalid, ErrFeeTooHigh, "fee %s BTC is over this signer's ceiling of %s BTC",
			reserve.FormatBTC(s.FeeSat), reserve.FormatBTC(lim.MaxFeeSat))
	}
	hi, lo := bits.Mul64(uint64(lim.MaxFeeRate), uint64(s.VSize))
	if hi == 0 && lo < 1<<63 && s.FeeSat > int64(lo) {
		// FeeRateMilli is rounded down: the rate shown must be over the
		// ceiling, as the exact one is.
		milli := s.FeeSat * 1000 / s.VSize
		if s.FeeSat*1000%s.VSize != 0 {
			milli++
		}
		return refuse(reserve.CodeInvalid, ErrFeeTooHigh, "fee rate %s sat/vB (fee %s BTC for %d vB) is over this signer's ceiling of %d sat/vB",
			formatMilli(milli, lim.MaxFeeRate*1000), reserve.FormatBTC(s.FeeSat), s.VSize, lim.MaxFeeRate)
	}
	return nil
}

// Sign checks pkt against the pinned wallet and r exactly as Check does
// and, if every check passes, adds this signer's partial signature to
// every input and records the transaction in r.Ledger. It returns the
// summary and the number of signatures added: 0 when pkt already holds
// this signer's signatures. A signature that claims this signer's key but
// is not the one it makes is replaced, and counts as added.
//
// The ledger entry is on disk before Sign returns, so the caller hands the
// signed PSBT out only after it is recorded; signing a transaction that
// is already recorded adds no entry. On any error pkt is left as it was,
// without a new signature, and nothing is recorded: Check only reads pkt,
// multisig.SignPSBT adds every signature or none, and the signatures are
// taken back if the ledger cannot be written. The caller must have the
// pinned wallet from LoadPinned (or Place) with the same key, and must not
// change pkt while Sign runs: what Check approved is what gets signed.
// Sign first verifies r.Ledger's state record under key (ErrStateBroken),
// and after the ledger entry seals the record again with the new ledger
// head and indexes. The caller holds the data directory's lock (LockDir)
// from the Check it showed the operator through Sign.
func Sign(pkt *psbt.Packet, pinned *Pinned, key *Key, r Rules) (Summary, int, error) {
	if pinned == nil || pinned.Descriptor == nil {
		return Summary{}, 0, reserve.Invalid("descriptor", "no pinned descriptor")
	}
	if key == nil {
		return Summary{}, 0, errors.New("no key")
	}
	// LoadPinned placed the key; a Pinned built any other way is checked
	// here again rather than trusted.
	pos, err := key.PositionIn(pinned.Descriptor)
	if err != nil {
		return Summary{}, 0, err
	}
	if pos != pinned.Position {
		return Summary{}, 0, reserve.Errorf(reserve.CodeInvalid, "this signer is cosigner %d of the pinned wallet, not %d", pos+1, pinned.Position+1)
	}
	// The state record must authenticate before the ledger it binds is
	// read for the check.
	if r.Ledger != nil {
		if err := r.Ledger.Verify(key); err != nil {
			return Summary{}, 0, err
		}
	}
	now := r.now()
	r.Fingerprint = key.Record().Fingerprint
	s, err := checkPSBT(pkt, pinned.Descriptor, r, now)
	if err != nil {
		return Summary{}, 0, err
	}
	// The cosignature is made before anything is recorded, and added to
	// the PSBT only once the state record holds the checkpoint.
	var cosig []byte
	if s.Witness.Pinned {
		if cosig, err = s.Witness.cosignature(key); err != nil {
			return Summary{}, 0, err
		}
	}
	account, err := key.AccountKey()
	if err != nil {
		return Summary{}, 0, err
	}
	before := partialSigs(pkt)
	n, err := multisig.SignPSBT(pkt, pinned.Descriptor, account)
	account.Zero()
	if err != nil {
		return Summary{}, 0, err
	}
	// SignPSBT signs every input or fails, and replaces any signature under
	// this key that it did not make itself; it never touches the
	// transaction.
	if pkt.UnsignedTx.TxHash() != s.TxID {
		setPartialSigs(pkt, before)
		return Summary{}, 0, reserve.Errorf(reserve.CodeInternal, "signing changed transaction %s", s.TxID)
	}
	if !s.Approved.recorded {
		if err := r.Ledger.Append(key, ledgerEntry(s, now)); err != nil {
			setPartialSigs(pkt, before)
			return Summary{}, 0, fmt.Errorf("unable to record transaction %s in the ledger, so nothing was signed: %w", s.TxID, err)
		}
	}
	// The entry is on disk; a record not resealed here is found one entry
	// behind by the next signing, which reads the entry all the same.
	if err := r.Ledger.seal(key, s); err != nil {
		setPartialSigs(pkt, before)
		return Summary{}, 0, fmt.Errorf("unable to record transaction %s in the signer state, so nothing was signed: %w", s.TxID, err)
	}
	if cosig != nil {
		if err := addCosignature(pkt, r.Fingerprint, cosig); err != nil {
			setPartialSigs(pkt, before)
			return Summary{}, 0, fmt.Errorf("unable to add this signer's cosignature of the audit checkpoint, so nothing was signed: %w", err)
		}
	}
	return s, n, nil
}

// Recorded reports whether the signer's ledger already recorded this
// transaction when it was checked: signing it again adds no entry, so a
// caller can say the signature is not a first one (a signed PSBT that was
// not written, or is wanted again).
func (a Approved) Recorded() bool { return a.recorded }

// partialSigs copies the lists of partial signatures of pkt's inputs.
func partialSigs(pkt *psbt.Packet) [][]*psbt.PartialSig {
	sigs := make([][]*psbt.PartialSig, len(pkt.Inputs))
	for i, in := range pkt.Inputs {
		sigs[i] = slices.Clone(in.PartialSigs)
	}
	return sigs
}

// setPartialSigs puts back what partialSigs copied.
func setPartialSigs(pkt *psbt.Packet, sigs [][]*psbt.PartialSig) {
	for i := range pkt.Inputs {
		pkt.Inputs[i].PartialSigs = sigs[i]
	}
}
