package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/agent"
)

// cmdServe is serve: the online signer (package agent) until interrupted.
func (c *cli) cmdServe(ctx context.Context, args []string) error {
	f := c.newFlags("serve", true)
	addr := f.fs.String("daemon", "", "custosd's gRPC address (`HOST:PORT`, required)")
	idDir := f.fs.String("identity", "", "directory with this signer's identity: NAME.pem, NAME.key and ca.pem (`DIR`, required)")
	auto := f.fs.Bool("auto", false, "sign every request that passes the checks; without it requests wait for 'pending', 'approve' and 'refuse'")
	maxFee := f.fs.String("max-fee", reserve.FormatBTC(signer.DefaultMaxFeeSat), "refuse a fee over `BTC`")
	maxRate := f.fs.Int64("max-feerate", signer.DefaultMaxFeeRate, "refuse a fee rate over `SAT_PER_VB`")
	logJSON := f.fs.Bool("log-json", false, "log JSON lines instead of text (to stderr)")
	if done, err := c.parse(f, args, progName+" serve --daemon HOST:PORT --identity DIR [--auto] [--max-fee BTC] [--max-feerate SAT_PER_VB] [--datadir DIR] [--passphrase-file FILE] [--log-json]",
		"Connects to custosd over mTLS with the signer identity in DIR (issued with --role signer\n"+
			"--fingerprint of this signer's key) and receives the signing requests for this signer's cosigner.\n"+
			"Each is checked exactly as 'sign' checks a file, under the data directory's lock, with the same\n"+
			"ledger and state record. A request that fails the checks is refused and the reason reported to\n"+
			"custosd (custosctl spend show prints it). With --auto one that passes is signed and the signature\n"+
			"submitted; without it, it waits in DIR/"+agent.QueueDirName+"/ until the operator runs 'pending', then\n"+
			"'approve ID' or 'refuse ID --reason TEXT'. The passphrase is asked once, at start. Reconnects\n"+
			"with backoff until interrupted; logs every decision with the proposal id."); done || err != nil {
		return err
	}
	if *addr == "" || *idDir == "" {
		return usageErrorf("serve: --daemon and --identity are required")
	}
	lim, err := signLimits(*maxFee, *maxRate)
	if err != nil {
		return err
	}
	id, err := agent.ReadIdentity(*idDir)
	if err != nil {
		return err
	}
	conn, err := agent.Dial(*addr, id)
	if err != nil {
		return err
	}
	defer conn.Close()
	key, err := c.unlock(ctx, f)
	if err != nil {
		return err
	}
	defer key.Zero()
	var h slog.Handler = slog.NewTextHandler(c.stderr, nil)
	if *logJSON {
		h = slog.NewJSONHandler(c.stderr, nil)
	}
	a, err := agent.New(agent.Config{
		DataDir: f.datadir, Key: key, Conn: conn, Auto: *auto, Limits: lim,
		CallOptions: agent.CallOptions(), Logger: slog.New(h).With("identity", id.Name), Now: c.now,
	})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// pendingRequest is one queued request as pending --json prints it.
type pendingRequest struct {
	ID       string `json:"id"`
	QueuedAt string `json:"queued_at"`
	// Decided is "", "approved" or "refused" (serve has not acted yet).
	Decided string `json:"decided,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Summary is what sign would show; Error why the checks fail now.
	Summary *signOutput `json:"summary,omitempty"`
	Error   string      `json:"error,omitempty"`
}

// cmdPending is pending: the queue with sign's summary of each request.
func (c *cli) cmdPending(_ context.Context, args []string) error {
	f := c.newFlags("pending", false)
	if done, err := c.parse(f, args, progName+" pending [--datadir DIR] [--json]",
		"Lists the signing requests 'serve' (without --auto) keeps for the operator, each with the summary\n"+
			"'sign' shows, checked now against the pinned wallet, policy and ledger. Decide each with\n"+
			"'approve ID' or 'refuse ID --reason TEXT'."); done || err != nil {
		return err
	}
	kf, err := signer.ReadKeyFile(f.datadir)
	if err != nil {
		return err
	}
	queued, err := agent.Pending(f.datadir)
	if err != nil {
		return err
	}
	out := []pendingRequest{}
	var b strings.Builder
	for _, q := range queued {
		p := pendingRequest{ID: q.ID, QueuedAt: q.At.UTC().Format(time.RFC3339), Decided: q.Decided, Reason: q.Reason}
		fmt.Fprintf(&b, "=== request %s (queued %s)\n", q.ID, p.QueuedAt)
		switch q.Decided {
		case "approved":
			b.WriteString("Approved by the operator: serve signs it next.\n")
		case "refused":
			fmt.Fprintf(&b, "Refused by the operator (%s): serve reports it next.\n", safe(q.Reason))
		}
		sum, err := c.checkQueued(f.datadir, kf, q)
		if err != nil {
			p.Error = err.Error()
			fmt.Fprintf(&b, "Fails the checks now: %s\n\n", safe(p.Error))
		} else {
			o := newSignOutput(sum)
			p.Summary = &o
			b.WriteString(signSummaryText("request "+q.ID, sum))
			b.WriteString("\n")
		}
		out = append(out, p)
	}
	if f.json {
		return writeJSON(c.stdout, out)
	}
	if len(queued) == 0 {
		b.WriteString("No signing request waits.\n")
	}
	_, err = io.WriteString(c.stdout, b.String())
	return err
}

// checkQueued runs sign's checks on a queued request, for its summary.
func (c *cli) checkQueued(dir string, kf *signer.KeyFile, q agent.Queued) (signer.Summary, error) {
	pkt, err := multisig.ParsePSBT(q.PSBT)
	if err != nil {
		return signer.Summary{}, err
	}
	r, err := signer.CheckRequest(dir, kf, pkt, signer.DefaultLimits(), c.now)
	if err != nil {
		return signer.Summary{}, err
	}
	return r.Summary, nil
}

// cmdApprove is approve ID. It unlocks the key: the approval carries a MAC
// under it (signer.OperatorApprovalMAC), so only who holds the passphrase
// can approve, not whoever can write the data directory.
func (c *cli) cmdApprove(ctx context.Context, args []string) error {
	id, rest := leadingID(args)
	f := c.newFlags("approve", true)
	if done, err := c.parse(f, rest, progName+" approve ID [--datadir DIR] [--passphrase-file FILE] [--json]",
		"Approves queued request ID (see 'pending'): 'serve' checks it again, signs it and submits the\n"+
			"signature. The passphrase is asked: the approval is authenticated under the key, over the\n"+
			"proposal id and the queued PSBT, and serve ignores one that does not verify."); done || err != nil {
		return err
	}
	if id == "" {
		return usageErrorf("approve: the request ID is required")
	}
	if err := agent.CheckID(id); err != nil {
		return decisionError(err)
	}
	key, err := c.unlock(ctx, f)
	if err != nil {
		return err
	}
	defer key.Zero()
	if err := agent.Approve(f.datadir, id, key); err != nil {
		return decisionError(err)
	}
	if f.json {
		return writeJSON(c.stdout, map[string]string{"id": id, "decided": "approved"})
	}
	_, err = fmt.Fprintf(c.stdout, "Approved request %s: serve checks it again, signs it and submits the signature.\n", id)
	return err
}

// cmdRefuse is refuse ID --reason TEXT.
func (c *cli) cmdRefuse(_ context.Context, args []string) error {
	id, rest := leadingID(args)
	f := c.newFlags("refuse", false)
	reason := f.fs.String("reason", "", "why (`TEXT`, required; recorded by custosd and shown by custosctl spend show)")
	if done, err := c.parse(f, rest, progName+" refuse ID --reason TEXT [--datadir DIR] [--json]",
		"Refuses queued request ID (see 'pending'): 'serve' reports the refusal and its reason to custosd."); done || err != nil {
		return err
	}
	if id == "" {
		return usageErrorf("refuse: the request ID is required")
	}
	if *reason == "" {
		return usageErrorf("refuse: --reason is required")
	}
	if err := agent.Refuse(f.datadir, id, *reason); err != nil {
		return decisionError(err)
	}
	if f.json {
		return writeJSON(c.stdout, map[string]string{"id": id, "decided": "refused", "reason": *reason})
	}
	_, err := fmt.Fprintf(c.stdout, "Refused request %s: serve reports it to custosd.\n", id)
	return err
}

// leadingID takes a first argument that is not a flag as the request id.
func leadingID(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// decisionError makes a bad id or reason a usage error.
func decisionError(err error) error {
	if reserve.CodeOf(err) == reserve.CodeInvalid && !errors.Is(err, agent.ErrNotQueued) {
		return &usageError{err: err}
	}
	return err
}
