package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/custos-reserve/custos/cmd/internal/timing"
	"github.com/custos-reserve/custos/failpoint"
	"github.com/custos-reserve/custos/passphrase"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// errDeclined is the operator answering anything but yes.
var errDeclined = errors.New("not signed: declined by the operator")

// signOutput is what sign prints with --json: the summary the operator
// approved, then what was done.
type signOutput struct {
	WalletID  string `json:"wallet_id"`
	Threshold int    `json:"threshold"`
	Total     int    `json:"total"`
	TxID      string `json:"txid"`

	Payees []signPayee  `json:"payees"`
	Change []signChange `json:"change"`
	Inputs []signInput  `json:"inputs"`

	InputSat  int64 `json:"input_sat"`
	OutputSat int64 `json:"output_sat"`
	FeeSat    int64 `json:"fee_sat"`
	// FeeRate is sat/vB with one decimal, written as a JSON number.
	FeeRate json.Number `json:"fee_rate_sat_per_vb"`
	VSize   int64       `json:"vsize"`

	Approval signApproval `json:"approval"`

	SignaturesAdded int    `json:"signatures_added"`
	Out             string `json:"out"`
	// LedgerEntry is the ledger entry (1 for the first line) that records
	// this transaction; AlreadySignedAt (RFC 3339, UTC) is set when that
	// entry is from an earlier run, which this one only wrote out again.
	LedgerEntry     uint64 `json:"ledger_entry"`
	AlreadySignedAt string `json:"already_signed_at,omitempty"`
	// LedgerEntries and LedgerHead are this signer's ledger after the
	// signature, as its state record seals them: written down off the
	// machine, they reveal a whole older data directory restored
	// (docs/signer.md).
	LedgerEntries uint64 `json:"ledger_entries"`
	LedgerHead    string `json:"ledger_head"`
	// Witnessed is the coordinator's audit log checkpoint this signature
	// witnesses and cosigns (docs/audit.md, "Witnesses"), now recorded in
	// the state record; absent when no log key is pinned.
	Witnessed *signWitnessed `json:"witnessed,omitempty"`
}

// signWitnessed is the checkpoint a signature witnessed: its size and
// root, and the size witnessed before, which it extends (0: none).
type signWitnessed struct {
	Size         int64  `json:"size"`
	Root         string `json:"root"`
	PreviousSize int64  `json:"previous_size"`
}

// signApproval is what the officers approved and who they were, as checked
// against the pinned policy.
type signApproval struct {
	PolicyHash string `json:"policy_hash"`
	ProposalID string `json:"proposal_id"`
	// ExpiresAt is RFC 3339, UTC.
	ExpiresAt  string        `json:"expires_at"`
	FeeCapSat  int64         `json:"fee_cap_sat"`
	ApprovedBy []signOfficer `json:"approved_by"`
	Needed     int           `json:"approvals_needed"`
	// Replaces are the transactions this signer signed before for the
	// same intent, which this one (a fee bump) conflicts with.
	Replaces []string `json:"replaces"`
	// Supersedes are the proposals the officers approved this one to
	// replace; Repeat says they approved paying these payees again;
	// Cancel says it pays no one (it spends the superseded proposals'
	// inputs back to the reserve).
	Supersedes []string `json:"supersedes"`
	Repeat     bool     `json:"repeat"`
	Cancel     bool     `json:"cancel"`
	// Consolidate says it is a consolidation: it pays no one, merging its
	// inputs into outputs of this wallet.
	Consolidate bool `json:"consolidate,omitempty"`
	// Conflicts are the transactions this signer signed under other
	// approvals for the same payment, each of which this one spends an
	// input of.
	Conflicts []signConflict `json:"conflicts"`
}

// signConflict is a signer.Conflict.
type signConflict struct {
	ProposalID string `json:"proposal_id"`
	TxID       string `json:"txid"`
	// SignedAt is RFC 3339, UTC.
	SignedAt string `json:"signed_at"`
	// Input is the earlier transaction's input this one spends too.
	Input string `json:"input"`
	// Why is "same_proposal", "supersedes", "same_payee" or
	// "superseded_by".
	Why string `json:"why"`
}

type signOfficer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type signPayee struct {
	Vout      int    `json:"vout"`
	Address   string `json:"address"`
	Script    string `json:"script,omitempty"`
	AmountSat int64  `json:"amount_sat"`
}

type signChange struct {
	Vout      int    `json:"vout"`
	Address   string `json:"address"`
	AmountSat int64  `json:"amount_sat"`
	Index     uint32 `json:"index"`
}

type signInput struct {
	OutPoint  string `json:"outpoint"`
	AmountSat int64  `json:"amount_sat"`
	Branch    string `json:"branch"`
	Index     uint32 `json:"index"`
}

func newSignOutput(s signer.Summary) signOutput {
	out := signOutput{
		WalletID:  s.WalletID,
		Threshold: s.Threshold,
		Total:     s.Cosigners,
		TxID:      s.TxID.String(),
		Payees:    []signPayee{},
		Change:    []signChange{},
		Inputs:    []signInput{},
		InputSat:  s.InputSat,
		OutputSat: s.OutputSat,
		FeeSat:    s.FeeSat,
		FeeRate:   json.Number(s.FeeRate()),
		VSize:     s.VSize,
		Approval:  newSignApproval(s.Approved),
	}
	for _, p := range s.Payees {
		sp := signPayee{Vout: p.Vout, Address: p.Address, AmountSat: p.AmountSat}
		if p.Address == "" {
			sp.Script = fmt.Sprintf("%x", p.Script)
		}
		out.Payees = append(out.Payees, sp)
	}
	for _, ch := range s.Change {
		out.Change = append(out.Change, signChange{Vout: ch.Vout, Address: ch.Address, AmountSat: ch.AmountSat, Index: ch.ChangeIndex})
	}
	for _, in := range s.Inputs {
		out.Inputs = append(out.Inputs, signInput{OutPoint: in.OutPoint.String(), AmountSat: in.AmountSat, Branch: in.Branch.String(), Index: in.Index})
	}
	return out
}

func newSignApproval(a signer.Approved) signApproval {
	out := signApproval{
		PolicyHash: hex.EncodeToString(a.PolicyHash[:]),
		ProposalID: a.Intent.ProposalID,
		ExpiresAt:  a.Intent.ExpiresAt.UTC().Format(time.RFC3339),
		FeeCapSat:  a.Intent.FeeCapSat,
		ApprovedBy: []signOfficer{},
		Needed:     a.Needed,
		Replaces:   []string{},
	}
	for _, o := range a.Officers {
		out.ApprovedBy = append(out.ApprovedBy, signOfficer{ID: o.ID, Name: o.Name})
	}
	for _, id := range a.Replaces {
		out.Replaces = append(out.Replaces, id.String())
	}
	out.Supersedes = append([]string{}, a.Intent.Supersedes...)
	out.Repeat, out.Cancel, out.Consolidate = a.Intent.Repeat, a.Intent.Cancels(), a.Intent.Consolidate
	out.Conflicts = []signConflict{}
	for _, c := range a.Conflicts {
		out.Conflicts = append(out.Conflicts, signConflict{ProposalID: c.ProposalID, TxID: c.TxID.String(),
			SignedAt: c.SignedAt.UTC().Format(time.RFC3339), Input: c.Input.String(), Why: whyName(c.Why)})
	}
	return out
}

// whyName is how JSON names a signer.Why.
func whyName(w signer.Why) string {
	switch w {
	case signer.WhySameProposal:
		return "same_proposal"
	case signer.WhySupersedes:
		return "supersedes"
	case signer.WhySamePayee:
		return "same_payee"
	case signer.WhySupersededBy:
		return "superseded_by"
	}
	return fmt.Sprintf("unknown_%d", w)
}

// signRequest is what sign was asked to do.
type signRequest struct {
	in, out string
	yes     bool
	b64     bool
	lim     signer.Limits
}

// signJob is a PSBT checked without the key against what the data
// directory pins (signer.CheckRequest, the path the online agent takes
// too): what the operator is shown and asked about.
type signJob struct {
	*signer.Request
}

// alreadyText says that the ledger records the transaction already.
func alreadyText(rec *signer.LedgerRecord) string {
	return fmt.Sprintf("Already signed on %s (ledger entry %d); writing the signed PSBT again adds no ledger entry.\n",
		rec.SignedAt.UTC().Format(time.RFC3339), rec.Entry)
}

// cmdSign is sign: the flags; the data directory's lock, held to the end;
// the checks that need no key; the summary and the question; then the key,
// the signature and its record; and what was done.
func (c *cli) cmdSign(ctx context.Context, args []string) error {
	f, req, done, err := c.signFlags(args)
	if done || err != nil {
		return err
	}
	// Everything that can be refused without the key is refused before
	// the operator types a passphrase or answers a question.
	if err := signer.CheckNoFile(req.out); err != nil {
		return err
	}
	kf, lock, err := lockKeyDir(f.datadir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	job, err := c.checkSign(f, req, kf)
	if err != nil {
		return err
	}
	if err := c.confirmSign(ctx, f, req, job); err != nil {
		return err
	}
	pinned, n, err := c.signAndWrite(ctx, f, req, job)
	if err != nil {
		return err
	}
	return c.printSigned(f, req, job, pinned, n)
}

// signFlags parses sign's flags.
func (c *cli) signFlags(args []string) (*flags, signRequest, bool, error) {
	f := c.newFlags("sign", true)
	in := f.fs.String("in", "", "the PSBT to sign, binary or base64 (`FILE`, required)")
	out := f.fs.String("out", "", "where to write the signed PSBT (`FILE`, required; must not exist)")
	yes := f.fs.Bool("yes", false, "sign without asking: the summary is still printed")
	b64 := f.fs.Bool("base64", false, "write the signed PSBT as base64 text instead of binary")
	maxFee := f.fs.String("max-fee", reserve.FormatBTC(signer.DefaultMaxFeeSat), "refuse a fee over `BTC`")
	maxRate := f.fs.Int64("max-feerate", signer.DefaultMaxFeeRate, "refuse a fee rate over `SAT_PER_VB`")
	if done, err := c.parse(f, args, progName+" sign --in FILE --out SIGNED [--yes] [--base64] [--max-fee BTC] [--max-feerate SAT_PER_VB] [--datadir DIR] [--passphrase-file FILE] [--json]",
		"Checks the PSBT in FILE against the wallet descriptor and the spending policy this signer\n"+
			"pinned, and nothing the PSBT claims about itself: every input must be the wallet's, with its full\n"+
			"previous transaction; every output is shown as a payee unless the descriptor gives its script as\n"+
			"change; sighash ALL only; the fee within --max-fee and --max-feerate; every input and change index\n"+
			"within the window past the highest this signer has seen (docs/signer.md). The PSBT must carry the\n"+
			"officers' approvals of its payment: payees exactly the approved ones, the fee within the approved\n"+
			"cap, not expired, enough officers of the pinned policy for the amount, within the policy's caps\n"+
			"and its velocity caps as counted from this signer's ledger, and no other transaction signed for\n"+
			"the same approvals, nor for the same payment under other approvals (the same proposal, one it\n"+
			"supersedes, or the same payee and amount unless the officers approved a repeat), unless this one\n"+
			"spends one of its inputs. It prints who approved, what it supersedes, every payee, the change,\n"+
			"the fee and the inputs, asks \"Sign this transaction? [y/N]\" unless --yes, and only then unlocks\n"+
			"the key, checks DIR/"+signer.StateFileName+" under it, signs, records the transaction in\n"+
			"DIR/"+signer.LedgerFileName+" and writes the PSBT with this signer's signatures to SIGNED (never\n"+
			"overwriting a file). DIR is locked for the whole command.\n\n"+
			"A proof of reserves (BIP-322: the message in global field 0x09, input 0 spending its to_spend) is\n"+
			"checked as one and never as a payment: input 0 exactly the to_spend for the message and the\n"+
			"wallet's receive address 0, every other input the wallet's, one 0 sat OP_RETURN output, sighash\n"+
			"ALL, no payment intent or approvals in it. It prints \""+proofBanner+"\", the\n"+
			"message, the coins and their total, asks \"Sign this proof of reserves? [y/N]\", signs every input\n"+
			"and records the proof in the ledger apart from payments (docs/signer.md)."); done || err != nil {
		return nil, signRequest{}, done, err
	}
	if *in == "" || *out == "" {
		return nil, signRequest{}, false, usageErrorf("sign: --in and --out are required")
	}
	lim, err := signLimits(*maxFee, *maxRate)
	if err != nil {
		return nil, signRequest{}, false, err
	}
	return f, signRequest{in: *in, out: *out, yes: *yes, b64: *b64, lim: lim}, false, nil
}

// checkSign reads the PSBT and what the data directory pins, and runs
// every check that needs no key.
func (c *cli) checkSign(f *flags, req signRequest, kf *signer.KeyFile) (*signJob, error) {
	pkt, err := signer.ReadPSBT(req.in)
	if err != nil {
		return nil, err
	}
	r, err := signer.CheckRequest(f.datadir, kf, pkt, req.lim, c.now)
	switch {
	case errors.Is(err, signer.ErrNotRegistered):
		return nil, fmt.Errorf("%w in %s: run '%s register --descriptor DESC' first", signer.ErrNotRegistered, f.datadir, progName)
	case errors.Is(err, signer.ErrNoPolicy):
		return nil, fmt.Errorf("%w in %s: run '%s register --policy FILE' first; nothing is signed without one", signer.ErrNoPolicy, f.datadir, progName)
	case err != nil:
		return nil, err
	}
	return &signJob{Request: r}, nil
}

// confirmSign prints the summary and, unless --yes, asks the operator.
func (c *cli) confirmSign(ctx context.Context, f *flags, req signRequest, job *signJob) error {
	text, question := "", "Sign this transaction? [y/N] "
	if job.Proof != nil {
		text, question = proofSummaryText(req.in, *job.Proof), "Sign this proof of reserves? [y/N] "
	} else {
		text = signSummaryText(req.in, job.Summary)
	}
	if job.Earlier != nil {
		text += "\n" + alreadyText(job.Earlier)
	}
	if !f.json {
		if _, err := io.WriteString(c.stdout, text); err != nil {
			return err
		}
	}
	if req.yes {
		return nil
	}
	// With --json, stdout is for the result only: show the summary where
	// the question is asked.
	preamble := ""
	if f.json {
		preamble = text
	}
	ok, err := c.confirm(ctx, preamble, question)
	if err != nil {
		return err
	}
	if !ok {
		return errDeclined
	}
	return nil
}

// signAndWrite unlocks the key, signs through job.Sign (which
// authenticates what the check read and records the transaction in the
// ledger and the state record) and writes the signed PSBT. job.Summary
// becomes the summary Sign checked.
func (c *cli) signAndWrite(ctx context.Context, f *flags, req signRequest, job *signJob) (*signer.Pinned, int, error) {
	// Only now is the key unlocked, and only for as long as signing takes.
	pass, err := c.passphrases(f).Existing(ctx)
	if err != nil {
		return nil, 0, err
	}
	unlockStart := time.Now()
	key, err := job.KeyFile.Unlock(pass)
	clear(pass)
	if err != nil {
		return nil, 0, err
	}
	timing.Phase("custos-signer key unlock (kdf)", unlockStart)
	defer key.Zero()
	// The signed PSBT is written only once the ledger records it.
	pinned, n, err := job.Sign(key)
	if err != nil {
		return nil, 0, err
	}
	failpoint.Inject(failpoint.SignerOutputBeforeWrite)
	if err := signer.WritePSBT(req.out, job.Packet, req.b64); err != nil {
		// The signature is recorded whatever happens to the file: say so,
		// and how to get the file, so the next run is not a mystery.
		return nil, 0, fmt.Errorf("transaction %s is recorded in the ledger %s as entry %d, but the signed PSBT was not written: %w; "+
			"run sign on the same PSBT again with an --out that can be written: it writes the signed PSBT and adds no ledger entry",
			job.TxID(), job.Rules.Ledger.Path(), job.Entry(), err)
	}
	if err := job.SaveDerived(key); err != nil {
		// The signature is written; only the next check is slower.
		fmt.Fprintf(c.stderr, "warning: %s\n", safe(err.Error()))
	}
	return pinned, n, nil
}

// printSigned says what sign did.
func (c *cli) printSigned(f *flags, req signRequest, job *signJob, pinned *signer.Pinned, n int) error {
	signed := job.Summary
	entries, head := job.Rules.Ledger.Head()
	if f.json && job.Proof != nil {
		return writeJSON(c.stdout, newProofOutput(req, job, n, entries, head))
	}
	if job.Proof != nil {
		signed.Cosigners = job.Proof.Cosigners
	}
	if f.json {
		o := newSignOutput(signed)
		o.SignaturesAdded, o.Out = n, req.out
		o.LedgerEntry = job.Entry()
		if job.Earlier != nil {
			o.AlreadySignedAt = job.Earlier.SignedAt.UTC().Format(time.RFC3339)
		}
		o.LedgerEntries, o.LedgerHead = entries, hex.EncodeToString(head[:])
		if w := signed.Witness; w.Pinned {
			o.Witnessed = &signWitnessed{Size: w.Checkpoint.Size, Root: w.Checkpoint.Root.String(), PreviousSize: w.Previous.Size}
		}
		return writeJSON(c.stdout, o)
	}
	format := "binary"
	if req.b64 {
		format = "base64"
	}
	var b strings.Builder
	if job.Earlier != nil {
		fmt.Fprintf(&b, "\n%s", alreadyText(job.Earlier))
	}
	if n == 0 {
		fmt.Fprintf(&b, "\nNothing to add: this signer (cosigner %d of %d) had already signed every input.\n", pinned.Position+1, signed.Cosigners)
	} else {
		fmt.Fprintf(&b, "\nSigned as cosigner %d of %d: %d signature(s) added.\n", pinned.Position+1, signed.Cosigners, n)
	}
	fmt.Fprintf(&b, "Wrote %s (%s PSBT); return it to the coordinator.\n", safe(req.out), format)
	fmt.Fprintf(&b, "Ledger: %d entries, head %x\n", entries, head)
	fmt.Fprintf(&b, "Write the ledger line down off this machine and compare it at the next session:\n"+
		"a data directory restored from an older copy shows fewer entries or another head.\n")
	_, err := io.WriteString(c.stdout, b.String())
	return err
}

// signLimits reads --max-fee and --max-feerate.
func signLimits(maxFee string, maxRate int64) (signer.Limits, error) {
	fee, err := reserve.ParseBTC(maxFee)
	if err != nil {
		return signer.Limits{}, usageErrorf("sign: --max-fee: %w", err)
	}
	if fee <= 0 {
		return signer.Limits{}, usageErrorf("sign: --max-fee must be more than 0")
	}
	if maxRate <= 0 {
		return signer.Limits{}, usageErrorf("sign: --max-feerate must be more than 0")
	}
	return signer.Limits{MaxFeeSat: fee, MaxFeeRate: maxRate}, nil
}

// signSummaryText is the summary the operator reads before signing: every
// payee and amount, the change and its index, the fee and the inputs.
func signSummaryText(in string, s signer.Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "PSBT %s\n", safe(in))
	fmt.Fprintf(&b, "Wallet:      %s (%d-of-%d), as pinned by this signer\n", s.WalletID, s.Threshold, s.Cosigners)
	fmt.Fprintf(&b, "Transaction: %s\n", s.TxID)
	b.WriteString(auditLogText(s.Witness))
	b.WriteString("\n")
	b.WriteString(approvalText(s.Approved))

	var paid int64
	for _, p := range s.Payees {
		paid += p.AmountSat
	}
	switch {
	case len(s.Payees) == 0 && s.Approved.Intent.Consolidate:
		fmt.Fprintf(&b, "CONSOLIDATION — pays nothing out; %d coins into one output of this wallet\n", len(s.Inputs))
	case len(s.Payees) == 0 && s.Approved.Intent.Cancels():
		fmt.Fprintf(&b, "CANCEL — pays nothing out: spends inputs of %s back to the reserve\n", safe(strings.Join(s.Approved.Intent.Supersedes, ", ")))
	case len(s.Payees) == 0:
		fmt.Fprintf(&b, "Pays: nobody outside the wallet (all outputs are change)\n")
	default:
		fmt.Fprintf(&b, "Pays %s BTC to %d payee(s) outside the wallet:\n", reserve.FormatBTC(paid), len(s.Payees))
	}
	for _, p := range s.Payees {
		dest := p.Address
		if dest == "" {
			dest = fmt.Sprintf("script %x", p.Script)
		}
		fmt.Fprintf(&b, "  output %-3d %-64s %16s BTC\n", p.Vout, dest, reserve.FormatBTC(p.AmountSat))
	}
	if len(s.Change) > 0 {
		fmt.Fprintf(&b, "Change back to this wallet (recomputed from the pinned descriptor):\n")
	}
	for _, ch := range s.Change {
		fmt.Fprintf(&b, "  output %-3d %-64s %16s BTC  change index %d\n", ch.Vout, ch.Address, reserve.FormatBTC(ch.AmountSat), ch.ChangeIndex)
	}
	fmt.Fprintf(&b, "Fee:         %s BTC  (%s sat/vB, %d vB)\n\n", reserve.FormatBTC(s.FeeSat), s.FeeRate(), s.VSize)

	fmt.Fprintf(&b, "Spends %d input(s) of this wallet, %s BTC:\n", len(s.Inputs), reserve.FormatBTC(s.InputSat))
	for i, in := range s.Inputs {
		fmt.Fprintf(&b, "  input %-4d %-69s %16s BTC  %s/%d\n", i, in.OutPoint, reserve.FormatBTC(in.AmountSat), in.Branch, in.Index)
	}
	return b.String()
}

// auditLogText says which checkpoint of the coordinator's audit log this
// signature witnesses, and that it extends the one witnessed before.
func auditLogText(w signer.Witnessed) string {
	switch {
	case !w.Pinned:
		return "Audit log:   not witnessed (no log key pinned: register --log-key KEY)\n"
	case w.Previous.Size == 0:
		return fmt.Sprintf("Audit log:   checkpoint size %d, root %s (the first this signer witnesses)\n", w.Checkpoint.Size, w.Checkpoint.Root)
	}
	return fmt.Sprintf("Audit log:   checkpoint size %d, root %s, extends size %d witnessed before\n", w.Checkpoint.Size, w.Checkpoint.Root, w.Previous.Size)
}

// approvalText says what the officers approved and who they were.
func approvalText(a signer.Approved) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Proposal:    %s\n", safe(a.Intent.ProposalID))
	fmt.Fprintf(&b, "Policy:      %x (pinned by this signer)\n", a.PolicyHash)
	fmt.Fprintf(&b, "Expires:     %s\n", a.Intent.ExpiresAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Fee cap:     %s BTC\n", reserve.FormatBTC(a.Intent.FeeCapSat))
	fmt.Fprintf(&b, "Approved by %d officer(s), %d needed:\n", len(a.Officers), a.Needed)
	width := 0
	for _, o := range a.Officers {
		width = max(width, len(o.ID))
	}
	for _, o := range a.Officers {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, safe(o.ID), safe(o.Name))
	}
	for _, id := range a.Replaces {
		fmt.Fprintf(&b, "Replaces:    %s, signed before for this proposal (this fee bump spends one of its inputs)\n", id)
	}
	b.WriteString(linksText(a))
	b.WriteString("\n")
	return b.String()
}

// linksText says which earlier payments this one replaces and how: each
// superseded proposal and the transactions this signer signed for it,
// the other transactions it conflicts with, and a deliberate repeat.
func linksText(a signer.Approved) string {
	var b strings.Builder
	for _, id := range a.Intent.Supersedes {
		n := 0
		for _, c := range a.Conflicts {
			if c.Why == signer.WhySupersedes && c.ProposalID == id {
				fmt.Fprintf(&b, "Supersedes:  %s (spends input %s of transaction %s this signer signed for it)\n", safe(id), c.Input, c.TxID)
				n++
			}
		}
		if n == 0 {
			fmt.Fprintf(&b, "Supersedes:  %s (this signer signed nothing for it)\n", safe(id))
		}
	}
	for _, c := range a.Conflicts {
		var why string
		switch c.Why {
		case signer.WhySameProposal:
			why = "signed for this proposal under earlier approvals"
		case signer.WhySamePayee:
			why = "pays the same payee the same amount"
		case signer.WhySupersededBy:
			why = "signed for the proposal that superseded this one"
		default:
			continue
		}
		fmt.Fprintf(&b, "Conflicts:   transaction %s of %s, signed %s, %s (this one spends its input %s)\n",
			c.TxID, safe(c.ProposalID), c.SignedAt.UTC().Format(time.RFC3339), why, c.Input)
	}
	if a.Intent.Repeat {
		b.WriteString("REPEAT PAYMENT approved by the officers: these payees were paid before\n")
	}
	return b.String()
}

// confirm shows preamble and question and reports whether the operator
// answered y or yes. It asks on the terminal when there is one, so the
// answer comes from a person; otherwise it reads one line of standard
// input. No answer is no.
func (c *cli) confirm(ctx context.Context, preamble, question string) (bool, error) {
	var r io.Reader = c.stdin
	var w io.Writer = c.stderr
	onTTY := false
	if c.openTTY != nil {
		if tty, err := c.openTTY(); err == nil {
			defer tty.Close()
			r, w, onTTY = tty, tty, true
		}
	}
	if _, err := io.WriteString(w, preamble+question); err != nil {
		return false, fmt.Errorf("unable to ask for confirmation: %w", err)
	}
	line, err := readAnswer(ctx, r)
	if !onTTY {
		// Nobody typed Enter: end the question's line.
		_, _ = io.WriteString(w, "\n")
	}
	if err != nil {
		return false, fmt.Errorf("unable to read the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// readAnswer reads one short line, a byte at a time so nothing past it is
// consumed, and gives up when ctx ends.
func readAnswer(ctx context.Context, r io.Reader) (string, error) {
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var line []byte
		buf := make([]byte, 1)
		for len(line) < 256 {
			n, err := r.Read(buf)
			if n == 1 {
				if buf[0] == '\n' {
					break
				}
				line = append(line, buf[0])
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				done <- result{err: err}
				return
			}
		}
		done <- result{line: string(line)}
	}()
	select {
	case res := <-done:
		return res.line, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// openTerminal opens the controlling terminal for the sign confirmation.
func openTerminal() (*os.File, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	if !term.IsTerminal(int(tty.Fd())) {
		tty.Close()
		return nil, passphrase.ErrNoTerminal
	}
	return tty, nil
}
