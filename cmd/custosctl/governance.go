package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/custos-reserve/custos/cmd/internal/timing"
	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/officer"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// maxPolicyFile bounds a policy document read for policy set.
const maxPolicyFile = reserve.MaxPolicyBytes

// officerFlags are the flags of a command that signs with an officer key.
type officerFlags struct {
	key      *string
	passFile *string
	yes      *bool
}

func bindOfficer(fs *flag.FlagSet, what string) officerFlags {
	return officerFlags{
		key:      fs.String("key", "", "the officer key file made by 'officer keygen' (`FILE`, required)"),
		passFile: fs.String("passphrase-file", "", "read the key's passphrase from the first line of `FILE` (else "+envOfficerPassphrase+", else the terminal)"),
		yes:      fs.Bool("yes", false, what+" without asking: what is signed is still printed"),
	}
}

// show prints what the officer is about to sign: always when they are
// asked, and unless a script asked for JSON alone. Its arguments are
// statements built with safe on every value from the daemon, keeping
// their line breaks.
func (o officerFlags) show(e *env, format string, args ...any) {
	if !e.common.json || !*o.yes {
		fmt.Fprintf(e.stdout, format, args...)
	}
}

// readKey reads the officer key file, before anything is asked.
func (o officerFlags) readKey() (*officer.File, error) {
	if *o.key == "" {
		return nil, usagef("--key FILE is required")
	}
	return officer.Read(*o.key)
}

// sign asks the officer to confirm what the printed statement says,
// unlocks the key and signs digest. The statement is printed before.
func (o officerFlags) sign(e *env, kf *officer.File, question string, digest [32]byte) (*custosv1.OfficerSignature, error) {
	if !*o.yes {
		ok, err := confirm(e, question)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("not signed: declined")
		}
	}
	pass, err := officerPassphrase(*o.passFile).Existing(e.ctx)
	if err != nil {
		return nil, err
	}
	unlockStart := time.Now()
	priv, err := kf.Unlock(pass)
	clear(pass)
	if err != nil {
		return nil, err
	}
	timing.Phase("custosctl officer key unlock (kdf)", unlockStart)
	defer clear(priv)
	return &custosv1.OfficerSignature{OfficerKey: kf.PublicKey[:], Signature: ed25519.Sign(priv, digest[:])}, nil
}

// confirm asks a yes/no question on stdin; only "y" or "yes" is yes.
func confirm(e *env, question string) (bool, error) {
	if _, err := fmt.Fprint(e.stdout, question); err != nil {
		return false, err
	}
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

func policyShowCmd(fs *flag.FlagSet) func(*env, []string) error {
	out := fs.String("out", "", "also write the policy document in force to `FILE` (for custos-signer register --policy)")
	chainOut := fs.String("chain-out", "", "also write every policy that has been in force, with the officers' approvals of each change, to `FILE` (for custos-signer register --chain)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		g, err := custosv1.NewPolicyServiceClient(e.conn).GetPolicy(e.ctx, &custosv1.GetPolicyRequest{})
		if err != nil {
			return err
		}
		// The hashes shown are the documents' own, not what the daemon
		// says they are.
		for _, p := range []*custosv1.PolicyInfo{g.Policy, g.Pending} {
			if err := checkPolicyHash(p); err != nil {
				return err
			}
		}
		if (*out != "" || *chainOut != "") && g.Policy == nil {
			return fmt.Errorf("no policy is in force to write")
		}
		if *out != "" {
			if err := writeNewFile(*out, g.Policy.Text); err != nil {
				return err
			}
		}
		if *chainOut != "" {
			if err := writeChain(*chainOut, g.History); err != nil {
				return err
			}
		}
		if e.common.json {
			return printJSON(e.stdout, governanceToJSON(g))
		}
		return printGovernance(e, g)
	}
}

func policySetCmd(fs *flag.FlagSet) func(*env, []string) error {
	return func(e *env, args []string) error {
		if len(args) != 1 {
			return usagef("want: policy set FILE")
		}
		text, err := readLimitedFile(args[0], maxPolicyFile, "a policy")
		if err != nil {
			return err
		}
		// The daemon parses it too; parsing here first gives the line
		// numbers of the file the admin is editing.
		p, err := reserve.ParsePolicy(text)
		if err != nil {
			return fmt.Errorf("%s: %w", args[0], err)
		}
		r, err := custosv1.NewPolicyServiceClient(e.conn).SetPolicy(e.ctx, &custosv1.SetPolicyRequest{Text: text})
		if err != nil {
			return err
		}
		h := p.Hash()
		if e.common.json {
			return printJSON(e.stdout, struct {
				Applied    bool           `json:"applied"`
				Hash       string         `json:"hash"`
				Governance governanceJSON `json:"governance"`
			}{r.Applied, fmt.Sprintf("%x", h), governanceToJSON(r.Governance)})
		}
		if r.Applied {
			printf(e.stdout, "policy %x is in force\n", h)
		} else {
			printf(e.stdout, "policy %x is proposed; it applies when %d officers approve it with 'custosctl policy approve'\n",
				h, r.Governance.PendingNeeded)
		}
		return printGovernance(e, r.Governance)
	}
}

func policyApproveCmd(fs *flag.FlagSet) func(*env, []string) error {
	o := bindOfficer(fs, "approve")
	file := fs.String("file", "", "the proposed policy document as you reviewed it (`FILE`); its hash must be the one proposed")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		// The officer approves the document they reviewed, not whatever
		// the daemon says is pending.
		var reviewed []byte
		if *file != "" {
			var err error
			if reviewed, err = readLimitedFile(*file, maxPolicyFile, "a policy"); err != nil {
				return err
			}
		}
		s, err := o.signControl(e, reserve.ActionPolicyChange, "Approve this policy change? [y/N] ",
			func(g *custosv1.GetPolicyResponse, c *reserve.Control) (string, error) {
				if g.Pending == nil {
					return "", fmt.Errorf("no policy change is proposed")
				}
				text := g.Pending.Text
				if reviewed != nil {
					text = reviewed
				}
				p, err := reserve.ParsePolicy(text)
				if err != nil {
					return "", fmt.Errorf("the proposed policy does not parse: %w", err)
				}
				c.Epoch, c.NewPolicy = g.Policy.Seq, p.Hash()
				if !bytes.Equal(c.NewPolicy[:], g.Pending.Hash) {
					return "", fmt.Errorf("the proposed policy is %x, but the document you reviewed is %x", g.Pending.Hash, c.NewPolicy)
				}
				// The whole document is what is approved: show it, as
				// parsed here, not a summary the daemon could shade.
				var doc strings.Builder
				for _, line := range strings.Split(strings.TrimRight(string(text), "\n"), "\n") {
					doc.WriteString("  | " + safe(line) + "\n")
				}
				r := p.ProofRules()
				return fmt.Sprintf("%swallet %s: replace policy %d (%x)\n  with the policy above, %x (%d officers, %d tiers)\n  proofs of reserves: %s\n",
					doc.String(), safe(g.WalletId), g.Policy.Seq, g.Policy.Hash, c.NewPolicy, len(p.Officers), len(p.Tiers),
					proofsText(&proofsJSON{Requesters: r.Requesters, Approvals: r.Approvals, Default: r.IsDefault()})), nil
			})
		if err != nil {
			return err
		}
		r, err := s.client.ApprovePolicy(e.ctx, &custosv1.ApprovePolicyRequest{NewHash: s.control.NewPolicy[:], Signature: s.sig})
		if err != nil {
			return err
		}
		if e.common.json {
			return printJSON(e.stdout, struct {
				Applied    bool           `json:"applied"`
				Governance governanceJSON `json:"governance"`
			}{r.Applied, governanceToJSON(r.Governance)})
		}
		if r.Applied {
			_, err = printf(e.stdout, "policy %x is in force\n", s.control.NewPolicy)
		} else {
			_, err = printf(e.stdout, "approval recorded: %d of %d\n", len(r.Governance.Pending.GetApprovals()), r.Governance.PendingNeeded)
		}
		return err
	}
}

func policyCheckCmd(fs *flag.FlagSet) func(*env, []string) error {
	var to multiFlag
	fs.Var(&to, "to", "a payment ADDRESS=AMOUNT_BTC (repeat for more payees)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if len(to) == 0 {
			return usagef("at least one --to ADDRESS=AMOUNT is required")
		}
		payees, err := payments(to)
		if err != nil {
			return err
		}
		r, err := custosv1.NewPolicyServiceClient(e.conn).CheckPayment(e.ctx, &custosv1.CheckPaymentRequest{Payees: payees})
		if err != nil {
			return err
		}
		if e.common.json {
			return printJSON(e.stdout, r)
		}
		if !r.Allowed {
			_, err := printf(e.stdout, "refused: %s\n", r.Refusal)
			return err
		}
		bound := "no upper bound"
		if r.TierUpToSat != nil {
			bound = "up to " + reserve.FormatBTC(*r.TierUpToSat) + " BTC"
		}
		printf(e.stdout, "%s BTC: tier %d (%s): %d approvals, cool-off %s\n",
			reserve.FormatBTC(r.TotalSat), r.Tier, bound, r.Approvals, time.Duration(r.CoolOffSeconds)*time.Second)
		if len(r.Unlisted) > 0 {
			printf(e.stdout, "not on the allowlist (one more approval): %s\n", strings.Join(r.Unlisted, ", "))
		}
		return nil
	}
}

func freezeCmd(fs *flag.FlagSet) func(*env, []string) error {
	o := bindOfficer(fs, "freeze")
	reason := fs.String("reason", "", "why (recorded and shown to everyone)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if err := textFlag("reason", *reason); err != nil {
			return err
		}
		s, err := o.signControl(e, reserve.ActionFreeze, "Freeze the reserve? [y/N] ",
			func(g *custosv1.GetPolicyResponse, c *reserve.Control) (string, error) {
				c.Epoch = g.GetFreeze().GetEpoch() + 1
				return fmt.Sprintf("wallet %s: freeze all spending (freeze %d)\n", safe(g.WalletId), c.Epoch), nil
			})
		if err != nil {
			return err
		}
		r, err := s.client.Freeze(e.ctx, &custosv1.FreezeRequest{Epoch: s.control.Epoch, Signature: s.sig, Reason: *reason})
		if err != nil {
			return err
		}
		return printFreeze(e, r.Freeze)
	}
}

func unfreezeCmd(fs *flag.FlagSet) func(*env, []string) error {
	o := bindOfficer(fs, "approve the unfreeze")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		s, err := o.signControl(e, reserve.ActionUnfreeze, "Approve lifting the freeze? [y/N] ",
			func(g *custosv1.GetPolicyResponse, c *reserve.Control) (string, error) {
				if !g.GetFreeze().GetFrozen() {
					return "", fmt.Errorf("the reserve is not frozen")
				}
				c.Epoch = g.Freeze.Epoch
				return fmt.Sprintf("wallet %s: lift freeze %d (by %s: \"%s\")\n", safe(g.WalletId), c.Epoch, safe(g.Freeze.FrozenBy), safe(g.Freeze.Reason)), nil
			})
		if err != nil {
			return err
		}
		r, err := s.client.Unfreeze(e.ctx, &custosv1.UnfreezeRequest{Epoch: s.control.Epoch, Signature: s.sig})
		if err != nil {
			return err
		}
		return printFreeze(e, r.Freeze)
	}
}

// signedControl is a control statement an officer signed.
type signedControl struct {
	client  custosv1.PolicyServiceClient
	control reserve.Control
	sig     *custosv1.OfficerSignature
}

// signControl is what the officer commands over the reserve share: read
// the key file (before asking anything), read the governance, build the
// statement for action (complete fills what is particular to it and says
// what it is), show it, ask, and sign it.
func (o officerFlags) signControl(e *env, action reserve.Action, question string,
	complete func(g *custosv1.GetPolicyResponse, c *reserve.Control) (string, error)) (signedControl, error) {
	kf, err := o.readKey()
	if err != nil {
		return signedControl{}, err
	}
	s := signedControl{client: custosv1.NewPolicyServiceClient(e.conn)}
	g, err := s.client.GetPolicy(e.ctx, &custosv1.GetPolicyRequest{})
	if err != nil {
		return signedControl{}, err
	}
	if s.control, err = control(g, action); err != nil {
		return signedControl{}, err
	}
	summary, err := complete(g, &s.control)
	if err != nil {
		return signedControl{}, err
	}
	digest, err := s.control.Digest()
	if err != nil {
		return signedControl{}, err
	}
	o.show(e, "%s", summary)
	if s.sig, err = o.sign(e, kf, question, digest); err != nil {
		return signedControl{}, err
	}
	return s, nil
}

// writeChain writes the policy history in the form custos-signer reads
// (reserve.PolicyChain).
func writeChain(path string, history []*custosv1.PolicyInfo) error {
	c := reserve.PolicyChain{Type: reserve.PolicyChainType, Version: 1, Policies: []reserve.ChainPolicy{}}
	for _, p := range history {
		cp := reserve.ChainPolicy{Seq: p.Seq, Text: string(p.Text), Approvals: []reserve.ChainApproval{}}
		for _, a := range p.Approvals {
			if len(a.OfficerKey) != 32 {
				return fmt.Errorf("the daemon sent an officer key of %d bytes for policy %d", len(a.OfficerKey), p.Seq)
			}
			cp.Approvals = append(cp.Approvals, reserve.ChainApproval{
				Officer: a.Officer, Key: officer.FormatPublicKey([32]byte(a.OfficerKey)), Signature: hex.EncodeToString(a.Signature),
			})
		}
		c.Policies = append(c.Policies, cp)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("unable to encode the policy chain: %w", err)
	}
	return writeNewFile(path, append(data, '\n'))
}

// neededText says how many approvals a proposal needs; the daemon sends 0
// when the policy in force sets none for it (it was made under another).
func neededText(n uint32) string {
	if n == 0 {
		return "the policy in force sets no requirement for it"
	}
	return fmt.Sprintf("%d approvals needed", n)
}

// checkPolicyHash checks that a policy the daemon sent hashes to what it
// says.
func checkPolicyHash(p *custosv1.PolicyInfo) error {
	if p == nil {
		return nil
	}
	parsed, err := reserve.ParsePolicy(p.Text)
	if err != nil {
		return fmt.Errorf("the daemon sent a policy that does not parse: %w", err)
	}
	if h := parsed.Hash(); !bytes.Equal(h[:], p.Hash) {
		return fmt.Errorf("the daemon says policy %x, but the document it sent is %x", p.Hash, h)
	}
	return nil
}

// control is the statement skeleton for the governance g shows.
func control(g *custosv1.GetPolicyResponse, a reserve.Action) (reserve.Control, error) {
	if g.Policy == nil {
		return reserve.Control{}, fmt.Errorf("no policy is in force")
	}
	c := reserve.Control{Action: a, Network: reserve.Network(g.Network), WalletID: g.WalletId}
	if len(g.Policy.Hash) != len(c.PolicyHash) {
		return reserve.Control{}, fmt.Errorf("the daemon sent a policy hash of %d bytes", len(g.Policy.Hash))
	}
	copy(c.PolicyHash[:], g.Policy.Hash)
	return c, nil
}

type controlJSON struct {
	Officer string `json:"officer"`
	At      string `json:"at"`
}

type policyJSON struct {
	Seq       uint64        `json:"seq,omitempty"`
	Hash      string        `json:"hash"`
	SetBy     string        `json:"set_by"`
	SetAt     string        `json:"set_at"`
	Approvals []controlJSON `json:"approvals"`
	Text      string        `json:"text"`
	// Proofs are the document's proofs rules, defaults filled in; absent
	// when the text does not parse.
	Proofs *proofsJSON `json:"proofs,omitempty"`
}

// proofsJSON is a policy's proofs section as custosctl reads it from the
// document: who may request a proof of reserves, how many officers
// approve its message, and whether these are the defaults (no section).
type proofsJSON struct {
	Requesters []string `json:"requesters"`
	Approvals  int      `json:"approvals"`
	Default    bool     `json:"default"`
}

// proofsOf reads the proofs rules of a policy document, nil if it does
// not parse.
func proofsOf(text []byte) *proofsJSON {
	p, err := reserve.ParsePolicy(text)
	if err != nil {
		return nil
	}
	r := p.ProofRules()
	return &proofsJSON{Requesters: r.Requesters, Approvals: r.Approvals, Default: r.IsDefault()}
}

// proofsText says a policy's proofs rules in words.
func proofsText(r *proofsJSON) string {
	s := fmt.Sprintf("requested by %s; %d officer approval(s) of the message", strings.Join(r.Requesters, " or "), r.Approvals)
	if r.Default {
		s += " (the default)"
	}
	return s
}

type freezeJSON struct {
	Frozen         bool          `json:"frozen"`
	Epoch          uint64        `json:"epoch"`
	FrozenBy       string        `json:"frozen_by,omitempty"`
	FrozenAt       string        `json:"frozen_at,omitempty"`
	Reason         string        `json:"reason,omitempty"`
	Unfreeze       []controlJSON `json:"unfreeze_approvals"`
	UnfreezeNeeded uint32        `json:"unfreeze_needed"`
}

type governanceJSON struct {
	WalletID      string      `json:"wallet_id"`
	Policy        *policyJSON `json:"policy"`
	Pending       *policyJSON `json:"pending"`
	PendingNeeded uint32      `json:"pending_needed"`
	Freeze        freezeJSON  `json:"freeze"`
}

func controlsToJSON(cs []*custosv1.ControlApproval) []controlJSON {
	out := []controlJSON{}
	for _, c := range cs {
		out = append(out, controlJSON{c.Officer, unixTime(c.AtUnix)})
	}
	return out
}

func policyToJSON(p *custosv1.PolicyInfo) *policyJSON {
	if p == nil {
		return nil
	}
	return &policyJSON{Seq: p.Seq, Hash: hex.EncodeToString(p.Hash), SetBy: p.SetBy, SetAt: unixTime(p.SetAtUnix),
		Approvals: controlsToJSON(p.Approvals), Text: string(p.Text), Proofs: proofsOf(p.Text)}
}

func freezeToJSON(f *custosv1.FreezeInfo) freezeJSON {
	out := freezeJSON{Frozen: f.GetFrozen(), Epoch: f.GetEpoch(), FrozenBy: f.GetFrozenBy(), Reason: f.GetReason(),
		Unfreeze: controlsToJSON(f.GetUnfreezeApprovals()), UnfreezeNeeded: f.GetUnfreezeNeeded()}
	if f.GetFrozenAtUnix() != 0 {
		out.FrozenAt = unixTime(f.GetFrozenAtUnix())
	}
	return out
}

func governanceToJSON(g *custosv1.GetPolicyResponse) governanceJSON {
	return governanceJSON{WalletID: g.WalletId, Policy: policyToJSON(g.Policy), Pending: policyToJSON(g.Pending),
		PendingNeeded: g.PendingNeeded, Freeze: freezeToJSON(g.Freeze)}
}

func printGovernance(e *env, g *custosv1.GetPolicyResponse) error {
	out := governanceToJSON(g)
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	if out.Policy == nil {
		printf(tw, "policy\tnone: the admin sets one with 'custosctl policy set FILE'\n")
	} else {
		printf(tw, "policy\t%d, %s\n", out.Policy.Seq, out.Policy.Hash)
		printf(tw, "set\t%s by %s%s\n", out.Policy.SetAt, safe(out.Policy.SetBy), approvedBy(out.Policy.Approvals))
		if out.Policy.Proofs != nil {
			printf(tw, "proofs\t%s\n", proofsText(out.Policy.Proofs))
		}
	}
	if out.Pending != nil {
		printf(tw, "proposed\t%s by %s at %s: %d of %d approvals%s\n", out.Pending.Hash, safe(out.Pending.SetBy), out.Pending.SetAt,
			len(out.Pending.Approvals), out.PendingNeeded, approvedBy(out.Pending.Approvals))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := printFreeze(e, g.Freeze); err != nil {
		return err
	}
	if out.Policy != nil {
		_, err := io.WriteString(e.stdout, "\n"+safeLines(out.Policy.Text))
		return err
	}
	return nil
}

func approvedBy(cs []controlJSON) string {
	if len(cs) == 0 {
		return ""
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = safe(c.Officer)
	}
	return ", approved by " + strings.Join(names, ", ")
}

func printFreeze(e *env, f *custosv1.FreezeInfo) error {
	out := freezeToJSON(f)
	if e.common.json {
		return printJSON(e.stdout, out)
	}
	if !out.Frozen {
		_, err := printf(e.stdout, "frozen\tno (%d freezes so far)\n", out.Epoch)
		return err
	}
	_, err := printf(e.stdout, "frozen\tYES since %s by %s: \"%s\"; %d of %d approvals to unfreeze%s\n",
		out.FrozenAt, out.FrozenBy, out.Reason, len(out.Unfreeze), out.UnfreezeNeeded, approvedBy(out.Unfreeze))
	return err
}

// readLimitedFile reads a file of at most limit bytes, what naming what it
// holds.
func readLimitedFile(path string, limit int64, what string) ([]byte, error) {
	data, err := durable.ReadLimited(path, limit)
	switch {
	case errors.Is(err, durable.ErrTooLarge):
		return nil, fmt.Errorf("%s is more than the %d bytes %s may have", path, limit, what)
	case err != nil:
		return nil, fmt.Errorf("unable to read %s: %w", path, err)
	}
	return data, nil
}

// writeNewFile writes data to a file that must not exist, whole or not at
// all.
func writeNewFile(path string, data []byte) error {
	err := durable.Write(path, data, 0o644, false)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("refusing to overwrite %s: it already exists", path)
	}
	return err
}
