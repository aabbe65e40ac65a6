package main

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/failpoint"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// parsePayment reads ADDRESS=AMOUNT with AMOUNT in BTC. The address is
// checked by the daemon against its network; here only its shape.
func parsePayment(s string) (string, int64, error) {
	if !utf8.ValidString(s) {
		return "", 0, fmt.Errorf("payment is not valid UTF-8")
	}
	i := strings.LastIndexByte(s, '=')
	if i <= 0 || i == len(s)-1 {
		return "", 0, fmt.Errorf("payment %q is not ADDRESS=AMOUNT", s)
	}
	addr, amount := s[:i], s[i+1:]
	if len(addr) > 128 || strings.ContainsAny(addr, " \t\r\n=") {
		return "", 0, fmt.Errorf("payment %q: malformed address", s)
	}
	sat, err := reserve.ParseBTC(amount)
	if err != nil {
		return "", 0, fmt.Errorf("payment %q: %w", s, err)
	}
	if sat == 0 {
		return "", 0, fmt.Errorf("payment %q: amount must be more than zero", s)
	}
	return addr, sat, nil
}

// payments reads the --to flags of spend propose and policy check.
func payments(to []string) ([]*custosv1.Payment, error) {
	out := make([]*custosv1.Payment, len(to))
	for i, s := range to {
		addr, sat, err := parsePayment(s)
		if err != nil {
			return nil, usageError{err.Error()}
		}
		out[i] = &custosv1.Payment{Address: addr, AmountSat: sat}
	}
	return out, nil
}

func spendProposeCmd(fs *flag.FlagSet) func(*env, []string) error {
	var to multiFlag
	fs.Var(&to, "to", "a payment ADDRESS=AMOUNT_BTC (repeat for more payees)")
	feeRate := fs.Int64("feerate", 0, "fee rate in sat/vB (required)")
	memo := fs.String("memo", "", "a note for the officers and auditors (up to 256 bytes)")
	feeCap := fs.String("max-fee", "", "the most fee, in `BTC`, the officers approve, fee bumps included (default: the policy's cap for this transaction)")
	replaces := fs.String("replaces", "", "the `ID` of a proposal whose payment this one replaces: the new transaction spends one of its inputs, so at most one of them can confirm")
	repeat := fs.Bool("repeat", false, "ask the officers to approve paying a payee an amount it was paid before, on purpose")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if len(to) == 0 {
			return usagef("at least one --to ADDRESS=AMOUNT is required")
		}
		if *feeRate <= 0 {
			return usagef("--feerate (sat/vB) is required")
		}
		if err := textFlag("memo", *memo); err != nil {
			return err
		}
		req := &custosv1.ProposeSpendRequest{FeeRateSatVb: *feeRate, Memo: *memo, Replaces: *replaces, Repeat: *repeat}
		if *feeCap != "" {
			sat, err := reserve.ParseBTC(*feeCap)
			if err != nil || sat == 0 {
				return usagef("--max-fee %q is not an amount of BTC above zero", *feeCap)
			}
			req.FeeCapSat = sat
		}
		payees, err := payments(to)
		if err != nil {
			return err
		}
		req.Payees = payees
		r, err := custosv1.NewSpendServiceClient(e.conn).ProposeSpend(e.ctx, req)
		if err != nil {
			return err
		}
		return printProposal(e, r.Proposal)
	}
}

func spendListCmd(fs *flag.FlagSet) func(*env, []string) error {
	state := fs.String("state", "", "only proposals in this state (SIGNING, BROADCAST, CONFIRMED, …)")
	limit := fs.Int("limit", 0, "only the `N` newest proposals (0: all); the list is printed oldest first")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		req := &custosv1.ListProposalsRequest{}
		if *state != "" {
			st, err := reserve.ParseState(strings.ToUpper(*state))
			if err != nil {
				return usageError{err.Error()}
			}
			req.State = custosv1.ProposalState(st)
		}
		// The daemon pages newest first; the list prints in creation
		// order, as it always has.
		ps, err := allPages(*limit, func(token string, size int32) ([]*custosv1.Proposal, string, error) {
			req.PageToken, req.PageSize = token, size
			r, err := custosv1.NewSpendServiceClient(e.conn).ListProposals(e.ctx, req)
			if err != nil {
				return nil, "", err
			}
			return r.Proposals, r.NextPageToken, nil
		})
		if err != nil {
			return err
		}
		slices.Reverse(ps)
		out := make([]proposalJSON, len(ps))
		for i, p := range ps {
			out[i] = proposalToJSON(p)
		}
		if e.common.json {
			return printJSON(e.stdout, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tPAYEES\tAMOUNT (BTC)\tFEE (BTC)\tSIGNED\tCREATED")
		for _, p := range out {
			payees := fmt.Sprint(len(p.Payees))
			if p.Consolidate {
				payees = "consolidation"
			}
			printf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", p.ID, p.State, payees, p.Total, p.Fee,
				len(p.Signers), len(p.Signers)+int(p.SignaturesNeeded), p.CreatedAt)
		}
		return tw.Flush()
	}
}

func spendShowCmd(fs *flag.FlagSet) func(*env, []string) error {
	return func(e *env, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		r, err := custosv1.NewSpendServiceClient(e.conn).GetProposal(e.ctx, &custosv1.GetProposalRequest{Id: id})
		if err != nil {
			return err
		}
		return printProposal(e, r.Proposal)
	}
}

func spendExportCmd(fs *flag.FlagSet) func(*env, []string) error {
	out := fs.String("out", "", "file to write the PSBT to (required)")
	b64 := fs.Bool("base64", false, "write base64 text instead of binary")
	return func(e *env, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		if *out == "" {
			return usagef("--out FILE is required")
		}
		r, err := custosv1.NewSpendServiceClient(e.conn).ExportPSBT(e.ctx, &custosv1.ExportPSBTRequest{Id: id})
		if err != nil {
			return err
		}
		data := exportBytes(r.Psbt, *b64)
		failpoint.Inject(failpoint.CtlExportBeforeWrite)
		if err := os.WriteFile(*out, data, 0o600); err != nil {
			return fmt.Errorf("unable to write %s: %w", *out, err)
		}
		failpoint.Inject(failpoint.CtlExportWritten)
		return reportExport(e, "the PSBT", id, *out, len(data), *b64)
	}
}

// exportBytes is an exported PSBT as written to its file: binary, or
// base64 text with a newline.
func exportBytes(raw []byte, b64 bool) []byte {
	if !b64 {
		return raw
	}
	return []byte(base64.StdEncoding.EncodeToString(raw) + "\n")
}

// reportExport says which file an export of id went to.
func reportExport(e *env, what, id, file string, n int, b64 bool) error {
	if e.common.json {
		return printJSON(e.stdout, map[string]any{"id": id, "file": file, "bytes": n, "base64": b64})
	}
	_, err := printf(e.stdout, "wrote %s of %s to %s (%d bytes)\n", what, id, file, n)
	return err
}

func spendImportCmd(fs *flag.FlagSet) func(*env, []string) error {
	return func(e *env, args []string) error {
		if len(args) != 2 {
			return usagef("want: spend import ID FILE")
		}
		id, file := args[0], args[1]
		data, err := readPSBTFile(file)
		if err != nil {
			return err
		}
		r, err := custosv1.NewSpendServiceClient(e.conn).ImportPSBT(e.ctx, &custosv1.ImportPSBTRequest{Id: id, Psbt: data})
		if err != nil {
			return err
		}
		if e.common.json {
			return printJSON(e.stdout, struct {
				SignaturesAdded uint32       `json:"signatures_added"`
				NewSigners      []uint32     `json:"new_signers"`
				Proposal        proposalJSON `json:"proposal"`
			}{r.SignaturesAdded, r.NewSigners, proposalToJSON(r.Proposal)})
		}
		printf(e.stdout, "%d signatures added\n", r.SignaturesAdded)
		return printProposal(e, r.Proposal)
	}
}

// readPSBTFile reads a PSBT file, binary or base64 (spend export
// --base64, custos-signer sign --base64), of at most
// multisig.MaxPSBTFileBytes, and returns the PSBT in binary: base64 is
// decoded here so that a PSBT of multisig.MaxPSBTBytes fits the daemon's
// request limit, which its base64 (4/3 the size) would not. The daemon
// checks the PSBT itself.
func readPSBTFile(path string) ([]byte, error) {
	data, err := readLimitedFile(path, multisig.MaxPSBTFileBytes, "a PSBT file")
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(data, []byte("psbt\xff")) {
		return data, nil
	}
	text := bytes.TrimSpace(data)
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Strict().Decode(raw, text)
	if err != nil {
		return nil, fmt.Errorf("%s is neither a binary PSBT nor base64: %w", path, err)
	}
	if n > multisig.MaxPSBTBytes {
		return nil, fmt.Errorf("%s holds a PSBT of %d bytes; a PSBT may have at most %d bytes", path, n, multisig.MaxPSBTBytes)
	}
	return raw[:n], nil
}

func spendCancelCmd(fs *flag.FlagSet) func(*env, []string) error {
	reason := fs.String("reason", "", "why (recorded in the history)")
	conflict := fs.Bool("conflict", false, "also propose a transaction spending one of its inputs back to the reserve: the only way to make a signed transaction unconfirmable")
	feeRate := fs.Int64("feerate", 0, "fee rate in sat/vB of the conflicting transaction (with --conflict)")
	return func(e *env, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		if err := textFlag("reason", *reason); err != nil {
			return err
		}
		switch {
		case *conflict && *feeRate <= 0:
			return usagef("--conflict needs --feerate (sat/vB)")
		case !*conflict && *feeRate != 0:
			return usagef("--feerate is only for --conflict")
		}
		req := &custosv1.CancelProposalRequest{Id: id, Reason: *reason, Conflict: *conflict, FeeRateSatVb: *feeRate}
		r, err := custosv1.NewSpendServiceClient(e.conn).CancelProposal(e.ctx, req)
		if err != nil {
			return err
		}
		if e.common.json {
			if r.Conflict == nil {
				return printProposal(e, r.Proposal)
			}
			return printJSON(e.stdout, struct {
				Proposal proposalJSON `json:"proposal"`
				Conflict proposalJSON `json:"conflict"`
			}{proposalToJSON(r.Proposal), proposalToJSON(r.Conflict)})
		}
		if r.Proposal.GetCoinsHeld() && r.Conflict == nil {
			printf(e.stdout, "warning: %s had its signatures: %s\n", id, daemon.CancelNote(daemon.SignedCancelNote, id))
		}
		if err := printProposal(e, r.Proposal); err != nil {
			return err
		}
		if r.Conflict != nil {
			printf(e.stdout, "\n%s spends an input of %s back to the reserve; once the officers approve it and it confirms, %s can never confirm:\n",
				r.Conflict.Id, id, id)
			return printProposal(e, r.Conflict)
		}
		return nil
	}
}

func oneID(args []string) (string, error) {
	if len(args) != 1 {
		return "", usagef("want exactly one proposal ID")
	}
	return args[0], nil
}

type paymentJSON struct {
	Address   string `json:"address"`
	Amount    string `json:"amount"`
	AmountSat int64  `json:"amount_sat"`
}

type signerJSON struct {
	Cosigner    uint32 `json:"cosigner"`
	Fingerprint string `json:"fingerprint"`
	At          string `json:"at"`
	// InTransaction is set once the proposal has its final transaction:
	// whether this cosigner's signatures are in it (one that came after
	// it was final, or one more than the finalizer needed, is kept but
	// not part of it).
	InTransaction *bool `json:"in_transaction,omitempty"`
}

type eventJSON struct {
	State string `json:"state"`
	At    string `json:"at"`
	Actor string `json:"actor"`
	Note  string `json:"note"`
}

type proposalJSON struct {
	ID               string         `json:"id"`
	State            string         `json:"state"`
	Payees           []paymentJSON  `json:"payees"`
	Total            string         `json:"total"`
	TotalSat         int64          `json:"total_sat"`
	Memo             string         `json:"memo"`
	FeeRate          int64          `json:"fee_rate_sat_vb"`
	Fee              string         `json:"fee"`
	FeeSat           int64          `json:"fee_sat"`
	VSize            int64          `json:"vsize"`
	Inputs           int            `json:"inputs"`
	InputSat         int64          `json:"input_sat"`
	Change           *paymentJSON   `json:"change,omitempty"`
	ChangeIndex      uint32         `json:"change_index,omitempty"`
	Signers          []signerJSON   `json:"signers"`
	SignaturesNeeded uint32         `json:"signatures_needed"`
	Txid             string         `json:"txid"`
	Locktime         uint32         `json:"locktime"`
	Confirmations    int32          `json:"confirmations"`
	ConfirmedHeight  int32          `json:"confirmed_height,omitempty"`
	FailReason       string         `json:"fail_reason,omitempty"`
	CreatedBy        string         `json:"created_by"`
	CreatedAt        string         `json:"created_at"`
	ExpiresAt        string         `json:"expires_at"`
	History          []eventJSON    `json:"history"`
	Decisions        []decisionJSON `json:"decisions"`
	ApprovalsNeeded  uint32         `json:"approvals_needed"`
	ReleaseAt        string         `json:"release_at,omitempty"`
	FeeCap           string         `json:"fee_cap,omitempty"`
	FeeCapSat        int64          `json:"fee_cap_sat,omitempty"`
	Replaces         string         `json:"replaces,omitempty"`
	// Supersedes are the proposals whose payment this one replaces (or,
	// with no payees, cancels); Repeat: a deliberate repeat payment.
	Supersedes []string `json:"supersedes,omitempty"`
	Repeat     bool     `json:"repeat,omitempty"`
	// Consolidate: a consolidation, paying nothing out (spend
	// consolidate).
	Consolidate bool `json:"consolidate,omitempty"`
	// WaitingReason: why a FINALIZED proposal is not broadcast yet.
	WaitingReason string `json:"waiting_reason,omitempty"`
	// CoinsHeld: the proposal ended with its signatures collected, and its
	// coins stay reserved until one of its inputs is spent.
	CoinsHeld bool `json:"coins_held,omitempty"`
}

type decisionJSON struct {
	Officer  string `json:"officer"`
	Decision string `json:"decision"`
	At       string `json:"at"`
}

func unixTime(s int64) string { return time.Unix(s, 0).UTC().Format(time.RFC3339) }

func stateName(s custosv1.ProposalState) string {
	return strings.TrimPrefix(s.String(), "PROPOSAL_STATE_")
}

func proposalToJSON(p *custosv1.Proposal) proposalJSON {
	out := proposalJSON{
		ID: p.Id, State: stateName(p.State), Memo: p.Memo, FeeRate: p.FeeRateSatVb,
		Fee: reserve.FormatBTC(p.FeeSat), FeeSat: p.FeeSat, VSize: p.Vsize, Inputs: len(p.Inputs),
		SignaturesNeeded: p.SignaturesNeeded, Txid: p.Txid, Locktime: p.Locktime, Confirmations: p.Confirmations,
		ConfirmedHeight: p.ConfirmedHeight, FailReason: p.FailReason, CreatedBy: p.CreatedBy,
		CreatedAt: unixTime(p.CreatedAtUnix), ExpiresAt: unixTime(p.ExpiresAtUnix),
		Payees: []paymentJSON{}, Signers: []signerJSON{}, History: []eventJSON{},
	}
	for _, pay := range p.Payees {
		out.Payees = append(out.Payees, paymentJSON{pay.Address, reserve.FormatBTC(pay.AmountSat), pay.AmountSat})
		out.TotalSat += pay.AmountSat
	}
	out.Total = reserve.FormatBTC(out.TotalSat)
	for _, in := range p.Inputs {
		out.InputSat += in.AmountSat
	}
	if c := p.Change; c != nil {
		out.Change = &paymentJSON{c.Address, reserve.FormatBTC(c.AmountSat), c.AmountSat}
		out.ChangeIndex = c.Index
	}
	for _, s := range p.Signers {
		out.Signers = append(out.Signers, signerJSON{s.Cosigner, s.Fingerprint, unixTime(s.AtUnix), s.InTransaction})
	}
	for _, h := range p.History {
		out.History = append(out.History, eventJSON{stateName(h.State), unixTime(h.AtUnix), h.Actor, h.Note})
	}
	out.Decisions, out.ApprovalsNeeded, out.Replaces = decisionsToJSON(p.Decisions), p.ApprovalsNeeded, p.Replaces
	out.CoinsHeld, out.Supersedes, out.Repeat, out.Consolidate = p.CoinsHeld, p.Supersedes, p.Repeat, p.Consolidate
	out.WaitingReason = p.WaitingReason
	if p.ReleaseAtUnix != 0 {
		out.ReleaseAt = unixTime(p.ReleaseAtUnix)
	}
	if p.FeeCapSat != 0 {
		out.FeeCap, out.FeeCapSat = reserve.FormatBTC(p.FeeCapSat), p.FeeCapSat
	}
	return out
}

func decisionsToJSON(ds []*custosv1.ProposalDecision) []decisionJSON {
	out := []decisionJSON{}
	for _, d := range ds {
		out = append(out, decisionJSON{d.Officer, strings.ToLower(strings.TrimPrefix(d.Decision.String(), "DECISION_")), unixTime(d.AtUnix)})
	}
	return out
}

// decisionsText lists the officers' decisions for a table, "alice
// (approve), bob (reject)", or says there are none.
func decisionsText(ds []decisionJSON) string {
	if len(ds) == 0 {
		return "nobody yet"
	}
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = safe(d.Officer) + " (" + d.Decision + ")"
	}
	return strings.Join(names, ", ")
}

func printProposal(e *env, p *custosv1.Proposal) error {
	out := proposalToJSON(p)
	if e.common.json {
		return printJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	printf(tw, "proposal\t%s\n", out.ID)
	printf(tw, "state\t%s\n", out.State)
	for _, pay := range out.Payees {
		printf(tw, "pay\t%s BTC to %s\n", pay.Amount, pay.Address)
	}
	if out.Change != nil {
		printf(tw, "change\t%s BTC to %s (change/%d)\n", out.Change.Amount, out.Change.Address, out.ChangeIndex)
	}
	printf(tw, "fee\t%s BTC (%d sat/vB, %d vB)\n", out.Fee, out.FeeRate, out.VSize)
	if out.FeeCap != "" {
		printf(tw, "fee cap\t%s BTC approved\n", out.FeeCap)
	}
	if out.Replaces != "" {
		printf(tw, "replaces\t%s (fee bump)\n", out.Replaces)
	}
	printLinks(tw, len(out.Payees) == 0, out.Supersedes, out.Repeat, out.Consolidate, out.Inputs)
	printf(tw, "officers\t%s; %s\n", decisionsText(out.Decisions), neededText(out.ApprovalsNeeded))
	if out.ReleaseAt != "" {
		printf(tw, "release at\t%s\n", out.ReleaseAt)
	}
	printf(tw, "inputs\t%d, %s BTC\n", out.Inputs, reserve.FormatBTC(out.InputSat))
	if out.Memo != "" {
		printf(tw, "memo\t%s\n", safe(out.Memo))
	}
	printf(tw, "txid\t%s (locktime %d)\n", out.Txid, out.Locktime)
	signed := make([]string, len(out.Signers))
	for i, s := range out.Signers {
		signed[i] = fmt.Sprintf("cosigner %d (%s)", s.Cosigner+1, s.Fingerprint)
		if s.InTransaction != nil && !*s.InTransaction {
			signed[i] += " (not in the final transaction)"
		}
	}
	if len(signed) == 0 {
		signed = []string{"nobody yet"}
	}
	printf(tw, "signed by\t%s; %d more needed\n", strings.Join(signed, ", "), out.SignaturesNeeded)
	if out.Confirmations > 0 {
		printf(tw, "confirmations\t%d (height %d)\n", out.Confirmations, out.ConfirmedHeight)
	}
	if out.FailReason != "" {
		printf(tw, "failed\t%s\n", safe(out.FailReason))
	}
	if out.WaitingReason != "" {
		printf(tw, "waiting\t%s\n", safe(out.WaitingReason))
	}
	if out.CoinsHeld {
		printf(tw, "coins\theld until an input is spent: the signed transaction can still be broadcast by whoever holds the signatures\n")
	}
	printf(tw, "created\t%s by %s, expires %s\n", out.CreatedAt, safe(out.CreatedBy), out.ExpiresAt)
	for _, h := range out.History {
		printf(tw, "  %s\t%s %s: %s\n", h.At, h.State, safe(h.Actor), safe(h.Note))
	}
	return tw.Flush()
}

func spendDecideCmd(dec reserve.Decision) func(fs *flag.FlagSet) func(*env, []string) error {
	return func(fs *flag.FlagSet) func(*env, []string) error {
		o := bindOfficer(fs, dec.String())
		return func(e *env, args []string) error {
			id, err := oneID(args)
			if err != nil {
				return err
			}
			kf, err := o.readKey()
			if err != nil {
				return err
			}
			client := custosv1.NewSpendServiceClient(e.conn)
			r, err := client.GetProposal(e.ctx, &custosv1.GetProposalRequest{Id: id})
			if err != nil {
				return err
			}
			in, pays, err := checkIntent(r.Proposal)
			if err != nil {
				return err
			}
			if dec == reserve.DecisionApprove {
				if err := checkIntentExpiry(e, in); err != nil {
					return err
				}
			}
			if !e.common.json || !*o.yes {
				if err := printIntent(e, r.Proposal, in, pays); err != nil {
					return err
				}
			}
			digest, err := in.Digest(dec)
			if err != nil {
				return err
			}
			question := "Approve this payment? [y/N] "
			pbDec := custosv1.Decision_DECISION_APPROVE
			if dec == reserve.DecisionReject {
				question, pbDec = "Veto this payment? [y/N] ", custosv1.Decision_DECISION_REJECT
			}
			sig, err := o.sign(e, kf, question, digest)
			if err != nil {
				return err
			}
			d, err := client.DecideProposal(e.ctx, &custosv1.DecideProposalRequest{Id: id, Decision: pbDec, Signature: sig})
			if err != nil {
				return err
			}
			return printProposal(e, d.Proposal)
		}
	}
}

// checkIntentExpiry refuses to approve an intent that expires later than
// the proposal expiry of the policy it names from now (reserve.CheckExpiry,
// the bound every signer applies): approvals of it could be held and used
// long after the officer looked. The policy is the one whose hash the
// intent carries, read from the daemon's history and hashed here, so the
// daemon cannot lengthen the bound by sending another document. A veto
// needs no such check.
func checkIntentExpiry(e *env, in *reserve.Intent) error {
	g, err := custosv1.NewPolicyServiceClient(e.conn).GetPolicy(e.ctx, &custosv1.GetPolicyRequest{})
	if err != nil {
		return err
	}
	return intentExpiryError(g, in, time.Now())
}

// intentExpiryError is checkIntentExpiry's rule on the daemon's governance
// g at now.
func intentExpiryError(g *custosv1.GetPolicyResponse, in *reserve.Intent, now time.Time) error {
	for _, info := range append([]*custosv1.PolicyInfo{g.GetPolicy()}, g.GetHistory()...) {
		if info == nil || !bytes.Equal(info.Hash, in.PolicyHash[:]) {
			continue
		}
		pol, err := reserve.ParsePolicy(info.Text)
		if err != nil {
			return fmt.Errorf("the policy %x the intent names does not parse: %w", in.PolicyHash[:8], err)
		}
		if pol.Hash() != in.PolicyHash {
			return fmt.Errorf("the daemon sent a document for policy %x that hashes to %x", in.PolicyHash[:8], pol.Hash())
		}
		return pol.CheckExpiry(in.ExpiresAt, now)
	}
	return fmt.Errorf("the daemon has no policy %x, which the intent names", in.PolicyHash[:8])
}

// checkIntent decodes the intent the daemon sent and checks that it is
// the proposal it claims: the officer signs the intent, so what is shown
// is read from it (its payments as the policy sees them), and a daemon
// showing one payment while asking for a signature over another is caught
// here.
func checkIntent(p *custosv1.Proposal) (*reserve.Intent, []reserve.Payment, error) {
	if len(p.Intent) == 0 {
		return nil, nil, fmt.Errorf("proposal %s has no intent to approve", p.Id)
	}
	in, err := reserve.DecodeIntent(p.Intent)
	if err != nil {
		return nil, nil, fmt.Errorf("the daemon sent an intent that does not decode: %w", err)
	}
	if in.ProposalID != p.Id || in.WalletID != p.WalletId {
		return nil, nil, fmt.Errorf("the daemon sent the intent of proposal %s of wallet %s for proposal %s", in.ProposalID, in.WalletID, p.Id)
	}
	pays, err := multisig.IntentPayments(&in, in.Network)
	if err != nil {
		return nil, nil, err
	}
	if len(pays) != len(p.Payees) {
		return nil, nil, fmt.Errorf("the intent pays %d payees, the proposal shows %d", len(pays), len(p.Payees))
	}
	if !slices.Equal(in.Supersedes, p.Supersedes) || in.Repeat != p.Repeat {
		return nil, nil, fmt.Errorf("the intent supersedes [%s] (repeat %t), the proposal shows [%s] (repeat %t)",
			strings.Join(in.Supersedes, " "), in.Repeat, strings.Join(p.Supersedes, " "), p.Repeat)
	}
	if in.Consolidate != p.Consolidate {
		return nil, nil, fmt.Errorf("the intent's consolidate flag is %t, the proposal shows %t", in.Consolidate, p.Consolidate)
	}
	for i, pay := range pays {
		if pay.Address != p.Payees[i].Address || pay.AmountSat != p.Payees[i].AmountSat {
			return nil, nil, fmt.Errorf("the intent's payee %d is %s BTC to %s, the proposal shows %s BTC to %s", i+1,
				reserve.FormatBTC(pay.AmountSat), pay.Address, reserve.FormatBTC(p.Payees[i].AmountSat), p.Payees[i].Address)
		}
	}
	return &in, pays, nil
}

func printIntent(e *env, p *custosv1.Proposal, in *reserve.Intent, pays []reserve.Payment) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	printf(tw, "proposal\t%s of wallet %s (%s), %s\n", in.ProposalID, in.WalletID, in.Network, stateName(p.State))
	var total int64
	for _, pay := range pays {
		printf(tw, "pay\t%s BTC to %s\n", reserve.FormatBTC(pay.AmountSat), pay.Address)
		total += pay.AmountSat
	}
	printf(tw, "total\t%s BTC\n", reserve.FormatBTC(total))
	printLinks(tw, len(pays) == 0, in.Supersedes, in.Repeat, in.Consolidate, len(p.Inputs))
	printf(tw, "fee\tat most %s BTC (now %s BTC)\n", reserve.FormatBTC(in.FeeCapSat), reserve.FormatBTC(p.FeeSat))
	printf(tw, "policy\t%x\n", in.PolicyHash)
	printf(tw, "expires\t%s\n", in.ExpiresAt.UTC().Format(time.RFC3339))
	if p.Memo != "" {
		printf(tw, "memo\t%s\n", safe(p.Memo))
	}
	printf(tw, "decided\t%s; %s\n", decisionsText(decisionsToJSON(p.Decisions)), neededText(p.ApprovalsNeeded))
	return tw.Flush()
}

// printLinks says what a proposal supersedes, whether it only cancels or
// only consolidates (merging coins inputs), and whether it is a deliberate
// repeat, as the intent the officers sign says it.
func printLinks(w io.Writer, noPayees bool, supersedes []string, repeat, consolidate bool, coins int) {
	ids := strings.Join(supersedes, ", ")
	switch {
	case consolidate:
		printf(w, "CONSOLIDATION\tpays nothing out: merges %d coins into one output of this wallet\n", coins)
	case noPayees:
		printf(w, "CANCEL\tpays nothing out: spends an input of %s back to the reserve, so that it can never confirm\n", ids)
	case len(supersedes) > 0:
		printf(w, "replaces\t%s: spends one of its inputs, so at most one of them can confirm\n", ids)
	}
	if repeat {
		printf(w, "REPEAT\tpays again, on purpose, a payee and amount paid before\n")
	}
}

func spendBumpCmd(fs *flag.FlagSet) func(*env, []string) error {
	feeRate := fs.Int64("feerate", 0, "the new fee rate in sat/vB (required; above the proposal's)")
	return func(e *env, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		if *feeRate <= 0 {
			return usagef("--feerate (sat/vB) is required")
		}
		r, err := custosv1.NewSpendServiceClient(e.conn).BumpFee(e.ctx, &custosv1.BumpFeeRequest{Id: id, FeeRateSatVb: *feeRate})
		if err != nil {
			return err
		}
		return printProposal(e, r.Proposal)
	}
}
