package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/failpoint"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// Limits on a spend request, checked before any work.
const (
	maxPayees     = 100
	maxMemoBytes  = 256
	maxFeeRate    = 10_000
	proposeTries  = 5
	maxReasonText = 256
	// psbtReserve is the part of multisig.MaxPSBTBytes that a proposal's
	// inputs may not use: the PSBT's header, global xpubs (20 cosigners
	// × some 130 bytes), the unsigned transaction's other fields and
	// maxPayees outputs (some 50 bytes each), the change output's
	// witness script and derivations, and what release adds: the intent
	// (maxPayees payees of at most 42-byte scripts, some 6 KB) and an
	// approval per officer (reserve.MaxOfficers × some 110 bytes). They
	// come to under 24 KiB (estimated, not yet checked by a test).
	// witness.go: export adds the audit log's witness fields, at most
	// multisig.MaxWitnessBytes.
	psbtReserve = 64<<10 + multisig.MaxWitnessBytes
)

// payeeSpec is one requested payment.
type payeeSpec struct {
	Address   string
	AmountSat int64
}

// spendSpec is what an officer asks to pay.
type spendSpec struct {
	Payees  []payeeSpec
	FeeRate int64
	Memo    string
	// FeeCap is the fee cap the officers are asked to approve; 0 for the
	// policy's.
	FeeCap int64
	// Replaces is the proposal whose payment this one replaces (spend
	// propose --replaces): the new intent supersedes it and the new
	// transaction spends one of its inputs.
	Replaces string
	// Repeat asks the officers to approve paying these payees these
	// amounts again on purpose.
	Repeat bool
	// warnings are what the officers should know of the payees' earlier
	// payments (checkRepeat), for the proposal's first history note.
	warnings []string
	// consolidate, when set, makes the proposal a consolidation
	// (consolidate.go): no payees, the coins chosen by age and size.
	consolidate *consolidateSpec
}

// propose turns a payment request into a proposal: it selects confirmed,
// unreserved coins, builds the PSBT and reserves the coins, all checked
// again by the store in the transaction that records the proposal. A
// concurrent proposal that took a coin first makes the store refuse; the
// selection is then made again without it.
func (d *Daemon) propose(ctx context.Context, caller Caller, spec spendSpec) (reserve.Proposal, error) {
	payees, outs, err := d.checkSpend(spec)
	if err != nil {
		return reserve.Proposal{}, err
	}
	return d.proposeLinked(ctx, caller, spec, payees, outs)
}

// proposeLinked is propose after the payees are checked; with none, spec
// must replace a proposal (a cancel: cancelConflict). A replacement's
// intent supersedes the replaced payment and its transaction spends the
// coins supersedeLinks requires; a payment that repeats one that went to
// the signers is refused unless it replaces it or is a declared repeat
// (checkRepeat).
func (d *Daemon) proposeLinked(ctx context.Context, caller Caller, spec spendSpec, payees []reserve.Payee, outs []*wire.TxOut) (reserve.Proposal, error) {
	if len(payees) == 0 && spec.Replaces == "" && spec.consolidate == nil {
		return reserve.Proposal{}, reserve.Invalid("payees", "a proposal pays at least one payee, unless it only cancels a proposal")
	}
	if spec.Replaces != "" {
		if err := checkID(spec.Replaces); err != nil {
			return reserve.Proposal{}, reserve.Invalid("replaces", "%v", err)
		}
	}
	if spec.FeeCap < 0 || spec.FeeCap > reserve.MaxSat {
		return reserve.Proposal{}, reserve.Invalid("fee_cap_sat", "%d sat is outside 0 to 21000000 BTC", spec.FeeCap)
	}
	g, err := d.governance(ctx)
	if err != nil {
		return reserve.Proposal{}, err
	}
	switch {
	case g.policy == nil:
		return reserve.Proposal{}, errNoPolicy()
	case g.Freeze.Frozen:
		return reserve.Proposal{}, errFrozen(g.Freeze)
	}
	// proposeMu keeps other proposals from being made while the payment's
	// links are read: each check reads only the proposals it links to
	// (store/live.go's index), never the whole history.
	d.proposeMu.Lock()
	defer d.proposeMu.Unlock()
	var ln links
	if spec.Replaces != "" {
		if ln, err = d.supersedeLinks(ctx, g.wallet.Threshold, spec.Replaces); err != nil {
			return reserve.Proposal{}, err
		}
	}
	if spec.warnings, err = d.checkRepeat(ctx, payees, ln.ids, spec.Repeat); err != nil {
		return reserve.Proposal{}, err
	}
	for try := 1; ; try++ {
		p, err := d.buildProposal(ctx, caller, g.wallet, g.desc, spec, payees, outs, ln.required)
		if err != nil {
			return reserve.Proposal{}, err
		}
		if err := d.attachIntent(ctx, g, &p, spec, ln.ids); err != nil {
			return reserve.Proposal{}, err
		}
		created, err := d.cfg.Store.CreateProposal(ctx, p)
		if reserve.CodeOf(err) == reserve.CodeConflict && try < proposeTries {
			d.log.Info("coins taken by a concurrent proposal; selecting again", "try", try, "err", err)
			continue
		}
		if err != nil {
			return reserve.Proposal{}, err
		}
		if err := d.follower.EnsureLookahead(ctx); err != nil {
			d.log.Warn("unable to extend lookahead after proposal", "err", err)
		}
		d.log.Info("proposal created", "proposal", created.ID, "txid", created.Txid.String(),
			"payees", len(created.Payees), "fee_sat", created.FeeSat, "inputs", len(created.Inputs))
		return created, nil
	}
}

// attachIntent checks a new proposal against the policy in force and
// gives it the intent the officers will approve: its payees, the fee cap
// (asked, or the policy's cap for this transaction) and the policy's
// expiry. The proposal then waits for approvals.
func (d *Daemon) attachIntent(ctx context.Context, g governed, p *reserve.Proposal, spec spendSpec, supersedes []string) error {
	askedCap := spec.FeeCap
	// The velocity count leaves out what this payment supersedes and
	// pays at least as much as (spentFor).
	probe := &reserve.Intent{Supersedes: supersedes}
	for _, py := range p.Payees {
		probe.Payees = append(probe.Payees, reserve.IntentPayee{Script: py.Script, AmountSat: py.AmountSat})
	}
	spent, err := d.spentFor(ctx, probe)
	if err != nil {
		return err
	}
	pays, _ := payments(p.Payees)
	now := d.cfg.Now().UTC()
	req, err := g.policy.Require(pays, p.FeeSat, p.VSize, spent, now)
	if err != nil {
		return err
	}
	feeCap := g.policy.FeeCap(p.VSize)
	switch {
	case askedCap > feeCap:
		return reserve.Invalid("fee_cap_sat", "%d sat is over the policy's cap for this transaction, %d sat", askedCap, feeCap)
	case askedCap > 0 && askedCap < p.FeeSat:
		return reserve.Invalid("fee_cap_sat", "%d sat is less than the proposal's fee, %d sat", askedCap, p.FeeSat)
	case askedCap > 0:
		feeCap = askedCap
	}
	in := &reserve.Intent{
		Network: g.wallet.Network, WalletID: g.wallet.ID, PolicyHash: g.Policy.Hash,
		FeeCapSat: feeCap, ExpiresAt: now.Add(g.policy.ProposalExpiry).Truncate(time.Second),
		Supersedes: supersedes, Repeat: spec.Repeat, Consolidate: spec.consolidate != nil,
	}
	for _, py := range p.Payees {
		in.Payees = append(in.Payees, reserve.IntentPayee{Script: py.Script, AmountSat: py.AmountSat})
	}
	p.Intent, p.ExpiresAt = in, in.ExpiresAt
	p.State = reserve.StatePendingApproval
	note := fmt.Sprintf("proposed; tier %d needs %d approvals", req.Tier, req.Approvals)
	if len(req.Unlisted) > 0 {
		note += fmt.Sprintf(" (one more for unlisted %s)", strings.Join(req.Unlisted, ", "))
	}
	switch {
	case spec.consolidate != nil:
		note += fmt.Sprintf("; consolidates %d coins into one output back to the reserve", len(p.Inputs))
	case len(p.Payees) == 0:
		note += fmt.Sprintf("; cancels %s by spending its input back to the reserve", strings.Join(supersedes, ", "))
	case len(supersedes) > 0:
		note += fmt.Sprintf("; replaces %s and spends one of its inputs, so at most one of them can confirm", strings.Join(supersedes, ", "))
	}
	if spec.Repeat {
		note += "; a deliberate repeat of an earlier payment"
	}
	for _, w := range spec.warnings {
		note += "; note: " + w
	}
	p.History = []reserve.Transition{{State: reserve.StatePendingApproval, At: now, Actor: p.CreatedBy, Note: note}}
	return nil
}

// checkSpend validates the request and decodes the payees' addresses for
// this daemon's network.
func (d *Daemon) checkSpend(spec spendSpec) ([]reserve.Payee, []*wire.TxOut, error) {
	if len(spec.Payees) == 0 || len(spec.Payees) > maxPayees {
		return nil, nil, reserve.Invalid("payees", "need 1 to %d payees, got %d", maxPayees, len(spec.Payees))
	}
	if spec.FeeRate < 1 || spec.FeeRate > maxFeeRate {
		return nil, nil, reserve.Invalid("fee_rate", "must be 1 to %d sat/vB, got %d", maxFeeRate, spec.FeeRate)
	}
	if err := checkText("memo", spec.Memo, maxMemoBytes); err != nil {
		return nil, nil, err
	}
	return d.checkPayees(spec.Payees)
}

// checkText refuses free text that is not valid UTF-8, is longer than max
// bytes, or holds a character that is not printable (control characters,
// terminal escapes, bidirectional overrides): officers read memos and
// reasons next to the payees they approve, and such characters could make
// a terminal show them something else.
func checkText(field, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) {
		return reserve.Invalid(field, "must be valid UTF-8 of at most %d bytes", max)
	}
	for i, r := range s {
		if !unicode.IsPrint(r) {
			return reserve.Invalid(field, "character %U at byte %d is not printable", r, i)
		}
	}
	return nil
}

// checkPayees checks the payees and decodes their addresses for this
// daemon's network.
func (d *Daemon) checkPayees(specs []payeeSpec) ([]reserve.Payee, []*wire.TxOut, error) {
	if len(specs) == 0 || len(specs) > maxPayees {
		return nil, nil, reserve.Invalid("payees", "need 1 to %d payees, got %d", maxPayees, len(specs))
	}
	params, err := multisig.NetParams(d.cfg.Network)
	if err != nil {
		return nil, nil, err
	}
	payees := make([]reserve.Payee, len(specs))
	outs := make([]*wire.TxOut, len(specs))
	total := int64(0)
	for i, ps := range specs {
		field := fmt.Sprintf("payees[%d]", i)
		script, err := payeeScript(ps.Address, params)
		if err != nil {
			return nil, nil, reserve.Invalid(field, "%v", err)
		}
		if ps.AmountSat <= 0 || ps.AmountSat > reserve.MaxSat {
			return nil, nil, reserve.Invalid(field, "amount must be more than 0 and at most 21000000 BTC, got %d sat", ps.AmountSat)
		}
		if total += ps.AmountSat; total > reserve.MaxSat {
			return nil, nil, reserve.Invalid("payees", "total is more than 21000000 BTC")
		}
		// The policy matches payees byte for byte, as the signers see
		// them (multisig.IntentPayments): the script's canonical address,
		// not the caller's spelling (bech32 in upper case).
		addr := multisig.ScriptAddress(script, d.cfg.Network)
		if addr == "" {
			addr = ps.Address
		}
		payees[i] = reserve.Payee{Address: addr, Script: script, AmountSat: ps.AmountSat}
		outs[i] = wire.NewTxOut(ps.AmountSat, script)
	}
	return payees, outs, nil
}

// payeeScript decodes an address of the daemon's network into its output
// script.
func payeeScript(addr string, params *chaincfg.Params) ([]byte, error) {
	if addr == "" || len(addr) > 128 {
		return nil, errors.New("address is empty or too long")
	}
	a, err := btcutil.DecodeAddress(addr, params)
	if err != nil {
		return nil, fmt.Errorf("address %q is not a valid %s address: %w", addr, params.Name, err)
	}
	if !a.IsForNet(params) {
		return nil, fmt.Errorf("address %q is not for %s", addr, params.Name)
	}
	script, err := txscript.PayToAddrScript(a)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", addr, err)
	}
	return script, nil
}

// wallet returns the reserve wallet and its parsed descriptor.
func (d *Daemon) wallet(ctx context.Context) (reserve.Wallet, *multisig.Descriptor, error) {
	w, err := d.cfg.Store.Wallet(ctx)
	if err != nil {
		return reserve.Wallet{}, nil, noWallet(err)
	}
	desc, err := d.descs.Parse(w.Descriptor, w.Network)
	if err != nil {
		return reserve.Wallet{}, nil, fmt.Errorf("stored descriptor of wallet %s: %w", w.ID, err)
	}
	return w, desc, nil
}

// spendable returns the coins a new proposal may use (confirmed, mature,
// not spent even in the mempool, not reserved), oldest first, the size of
// each one's previous transaction and the tip: one store read, whatever
// the history.
func (d *Daemon) spendable(ctx context.Context) ([]reserve.UTXO, map[chainhash.Hash]int64, int32, error) {
	if _, err := d.cfg.Store.Wallet(ctx); err != nil {
		return nil, nil, 0, noWallet(err)
	}
	return d.cfg.Store.Spendable(ctx)
}

// inputsOf is the coins as inputs.
func inputsOf(utxos []reserve.UTXO) []reserve.Input {
	out := make([]reserve.Input, len(utxos))
	for i, u := range utxos {
		out[i] = reserve.Input{OutPoint: u.OutPoint, AmountSat: u.AmountSat, Branch: u.Branch, Index: u.Index}
	}
	return out
}

// buildProposal selects coins and builds the PSBT for one attempt.
func (d *Daemon) buildProposal(ctx context.Context, caller Caller, w reserve.Wallet, desc *multisig.Descriptor,
	spec spendSpec, payees []reserve.Payee, outs []*wire.TxOut, required []reserve.Input) (reserve.Proposal, error) {
	utxos, sizes, tip, err := d.spendable(ctx)
	if err != nil {
		return reserve.Proposal{}, err
	}
	coins := inputsOf(utxos)
	if spec.consolidate != nil {
		if required, err = pickConsolidation(spec.consolidate, utxos, sizes, tip, desc, spec.FeeRate); err != nil {
			return reserve.Proposal{}, err
		}
		coins = nil
	}
	// A required coin may also be free: it is spent as required.
	coins = slices.DeleteFunc(coins, func(c reserve.Input) bool {
		return slices.ContainsFunc(required, func(r reserve.Input) bool { return r.OutPoint == c.OutPoint })
	})
	changeIndex, err := d.cfg.Store.Horizon(ctx, reserve.BranchChange)
	if err != nil {
		return reserve.Proposal{}, err
	}
	change, err := desc.Derive(reserve.BranchChange, changeIndex)
	if err != nil {
		return reserve.Proposal{}, err
	}
	if err := d.addPrevTxSizes(ctx, sizes, required); err != nil {
		return reserve.Proposal{}, err
	}
	// Every input carries its whole previous transaction, and signatures
	// and approvals are added later: the PSBT must stay within the limit
	// every transfer path carries for the proposal's whole life.
	sel, err := multisig.SelectCoins(multisig.SelectParams{
		Coins: coins, Required: required, Outputs: outs, ChangeScript: change.PkScript, FeeRate: spec.FeeRate,
		M: desc.Threshold(), N: len(desc.Cosigners()),
		PSBT: multisig.PSBTBudget{
			MaxBytes: multisig.MaxPSBTBytes - psbtReserve, InputBytes: desc.InputPSBTBytes(), PrevTxBytes: sizes,
		},
	})
	if err != nil {
		return reserve.Proposal{}, err
	}

	outputs := make([]multisig.Output, 0, len(outs)+1)
	for _, o := range outs {
		outputs = append(outputs, multisig.Output{Script: o.PkScript, AmountSat: o.Value})
	}
	var ch *reserve.Change
	if sel.ChangeSat > 0 {
		// The change goes at a random position, so its place does not
		// tell which output is the reserve's.
		pos, err := d.randInt(len(outputs) + 1)
		if err != nil {
			return reserve.Proposal{}, err
		}
		idx := changeIndex
		outputs = append(outputs[:pos], append([]multisig.Output{{Script: change.PkScript, AmountSat: sel.ChangeSat, ChangeIndex: &idx}}, outputs[pos:]...)...)
		ch = &reserve.Change{Index: changeIndex, AmountSat: sel.ChangeSat, Vout: uint32(pos)}
	}
	prevTxs, err := d.prevTxs(ctx, sel.Inputs)
	if err != nil {
		return reserve.Proposal{}, err
	}
	lockTime, err := d.antiFeeSniping(tip)
	if err != nil {
		return reserve.Proposal{}, err
	}
	pkt, err := multisig.CreatePSBT(multisig.CreateParams{
		Descriptor: desc, Inputs: sel.Inputs, PrevTxs: prevTxs, Outputs: outputs, LockTime: lockTime,
	})
	if err != nil {
		return reserve.Proposal{}, err
	}
	raw, unsigned, err := packetBytes(pkt)
	if err != nil {
		return reserve.Proposal{}, err
	}
	now := d.cfg.Now().UTC()
	// attachIntent sets the state, the expiry and the history from the
	// policy.
	return reserve.Proposal{
		WalletID: w.ID, Payees: payees, Memo: spec.Memo,
		FeeRate: spec.FeeRate, FeeSat: sel.FeeSat, VSize: sel.VSize, Inputs: sel.Inputs, Change: ch,
		UnsignedTx: unsigned, PSBT: raw, Txid: pkt.UnsignedTx.TxHash(),
		CreatedBy: caller.Name, CreatedAt: now,
	}, nil
}

// packetBytes is what a proposal records of its PSBT: the PSBT and its
// transaction without witnesses.
func packetBytes(pkt *psbt.Packet) (raw, unsigned []byte, err error) {
	if raw, err = multisig.SerializePSBT(pkt); err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	if err := pkt.UnsignedTx.SerializeNoWitness(&buf); err != nil {
		return nil, nil, fmt.Errorf("unable to serialize unsigned transaction: %w", err)
	}
	return raw, buf.Bytes(), nil
}

// addPrevTxSizes adds to sizes the size of each coin's previous
// transaction that it lacks, as its non_witness_utxo field would carry it:
// the required coins of a replacement, which may be reserved or
// unconfirmed and so not among the spendable ones.
func (d *Daemon) addPrevTxSizes(ctx context.Context, sizes map[chainhash.Hash]int64, coins []reserve.Input) error {
	for _, c := range coins {
		id := c.OutPoint.Hash
		if _, ok := sizes[id]; ok {
			continue
		}
		raw, err := d.cfg.Store.RawTx(ctx, id)
		if err != nil {
			return fmt.Errorf("previous transaction %s of coin %s: %w", id, c.OutPoint, err)
		}
		sizes[id] = int64(len(raw))
	}
	return nil
}

// prevTxs loads the full transactions that created the inputs, for the
// PSBT's non_witness_utxo fields.
func (d *Daemon) prevTxs(ctx context.Context, inputs []reserve.Input) (map[chainhash.Hash]*wire.MsgTx, error) {
	out := make(map[chainhash.Hash]*wire.MsgTx, len(inputs))
	for _, in := range inputs {
		id := in.OutPoint.Hash
		if _, ok := out[id]; ok {
			continue
		}
		raw, err := d.cfg.Store.RawTx(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("previous transaction %s of input %s: %w", id, in.OutPoint, err)
		}
		var tx wire.MsgTx
		if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
			return nil, fmt.Errorf("stored transaction %s: %w", id, err)
		}
		out[id] = &tx
	}
	return out, nil
}

// antiFeeSniping picks the locktime as Bitcoin Core does: the current tip,
// or with one chance in ten up to 99 blocks less, so a miner gains nothing
// by re-mining the tip and wallets that do this look alike.
func (d *Daemon) antiFeeSniping(tip int32) (uint32, error) {
	if tip <= 0 {
		return 0, nil
	}
	lock := tip
	roll, err := d.randInt(10)
	if err != nil {
		return 0, err
	}
	if roll == 0 {
		back, err := d.randInt(100)
		if err != nil {
			return 0, err
		}
		lock = max(tip-int32(back), 0)
	}
	return uint32(lock), nil
}

// randInt draws uniformly from [0, n) from the configured randomness.
func (d *Daemon) randInt(n int) (int, error) {
	v, err := rand.Int(d.cfg.Rand, big.NewInt(int64(n)))
	if err != nil {
		return 0, fmt.Errorf("unable to draw randomness: %w", err)
	}
	return int(v.Int64()), nil
}

// importPSBT verifies the partial signatures of a returned PSBT (parsed
// once by the caller) and stores the new ones; with m signatures on every
// input it finalizes, and then broadcasts. Nothing is stored unless every
// new signature verifies and the witness keys the PSBT presents for the
// first time come as witnessed.checkFirstUse allows (witness.go).
func (d *Daemon) importPSBT(ctx context.Context, caller Caller, id string, incoming *psbt.Packet, witnessed cosigned) (reserve.Proposal, []multisig.SigRef, error) {
	_, desc, err := d.wallet(ctx)
	if err != nil {
		return reserve.Proposal{}, nil, err
	}
	d.spendMu.Lock()
	defer d.spendMu.Unlock()
	// Read under the lock that freezes and policy changes take: a freeze
	// that lands while this import waits is seen here.
	g, err := d.cfg.Store.Governance(ctx)
	if err != nil {
		return reserve.Proposal{}, nil, err
	}

	var added []multisig.SigRef
	// keep is the packet this import stored unfinalized, for the next.
	var keep *psbt.Packet
	p, err := d.updateImported(ctx, id, witnessed, func(p *reserve.Proposal) error {
		keep = nil
		switch p.State {
		case reserve.StateSigning, reserve.StateFinalized, reserve.StateBroadcast, reserve.StateConfirmed:
		default:
			return reserve.Errorf(reserve.CodeFailedPrecondition, "proposal %s is %s and takes no signatures", p.ID, p.State)
		}
		if p.State == reserve.StateSigning {
			if err := inForce(g, p); err != nil {
				return err
			}
		}
		canonical := d.parsed.takeStored(p)
		if canonical == nil {
			if canonical, err = storedPSBT(p); err != nil {
				return err
			}
		}
		if added, err = multisig.CombinePSBT(canonical, incoming, desc, 0); err != nil {
			return err
		}
		if err := checkSignerAdds(caller, added, desc); err != nil {
			return err
		}
		if err := witnessed.checkFirstUse(caller, added, desc); err != nil {
			return err
		}
		if len(added) == 0 {
			return nil
		}
		if p.PSBT, err = multisig.SerializePSBT(canonical); err != nil {
			return err
		}
		d.recordSigners(p, canonical, desc)
		if p.State != reserve.StateSigning || !complete(canonical, desc) {
			keep = canonical
			return nil
		}
		return d.finalize(p, canonical, desc, caller)
	})
	if err != nil {
		return reserve.Proposal{}, nil, err
	}
	if keep != nil {
		d.parsed.putStored(&p, keep)
	}
	if len(added) > 0 {
		d.log.Info("signatures imported", "proposal", p.ID, "added", len(added), "by", caller.Name, "state", p.State.String())
	}
	if p.State == reserve.StateFinalized {
		failpoint.Inject(failpoint.DaemonFinalized)
		p = d.broadcast(ctx, p)
	}
	return p, added, nil
}

// storedPSBT parses a proposal's own PSBT. It is our record, not a
// caller's input: a failure is internal, whatever the parser's code.
func storedPSBT(p *reserve.Proposal) (*psbt.Packet, error) {
	pkt, err := multisig.ParsePSBT(p.PSBT)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInternal, "stored PSBT of proposal %s does not parse: %v", p.ID, err)
	}
	return pkt, nil
}

// recordSigners notes every cosigner that has now signed all inputs.
func (d *Daemon) recordSigners(p *reserve.Proposal, pkt *psbt.Packet, desc *multisig.Descriptor) {
	cosigners := desc.Cosigners()
	for i, n := range multisig.Signers(pkt, desc) {
		if n == len(pkt.Inputs) && !p.Signed(i) {
			p.Signatures = append(p.Signatures, reserve.Signature{
				Cosigner: i, Fingerprint: cosigners[i].Fingerprint, At: d.cfg.Now().UTC(),
			})
		}
	}
}

// complete reports whether every input has the threshold of signatures.
func complete(pkt *psbt.Packet, desc *multisig.Descriptor) bool {
	for _, in := range pkt.Inputs {
		if len(in.PartialSigs) < desc.Threshold() {
			return false
		}
	}
	return true
}

// finalize builds the signed transaction inside the import's store
// transaction, so FINALIZED and its transaction are recorded together.
func (d *Daemon) finalize(p *reserve.Proposal, pkt *psbt.Packet, desc *multisig.Descriptor, caller Caller) error {
	// The inputs as stored in p.PSBT: finalizing clears their partial
	// fields, which say who signed.
	stored := *pkt
	stored.Inputs = slices.Clone(pkt.Inputs)
	tx, err := multisig.FinalizePSBT(pkt, desc)
	if err != nil {
		return err
	}
	if tx.TxHash() != p.Txid {
		return fmt.Errorf("finalized transaction %s differs from proposal txid %s", tx.TxHash(), p.Txid)
	}
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return fmt.Errorf("unable to serialize final transaction: %w", err)
	}
	p.FinalTx = buf.Bytes()
	d.parsed.putSigners(p, multisig.TransactionSigners(&stored, tx, desc))
	return p.Move(reserve.StateFinalized, d.cfg.Now().UTC(), caller.Name,
		fmt.Sprintf("%d of %d signatures", desc.Threshold(), len(desc.Cosigners())))
}
