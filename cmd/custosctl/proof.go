package main

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// Proofs of reserves (docs/proofs.md): custosctl reserves prove, approve,
// export, import, finalize, list, show.

// descriptorWarning is what finalize says about publishing the descriptor.
const descriptorWarning = "the proof file carries the wallet's descriptor: publishing it reveals every address of the reserve, past and future (--no-descriptor leaves it out)"

type proofCoinJSON struct {
	Outpoint  string `json:"outpoint"`
	Amount    string `json:"amount"`
	AmountSat int64  `json:"amount_sat"`
	Address   string `json:"address_path"`
}

type proofApprovalJSON struct {
	Officer string `json:"officer"`
	At      string `json:"at"`
}

type proofJSON struct {
	ID               string              `json:"id"`
	State            string              `json:"state"`
	Message          string              `json:"message"`
	Coins            []proofCoinJSON     `json:"coins,omitempty"`
	CoinCount        int                 `json:"coin_count"`
	Total            string              `json:"total"`
	TotalSat         int64               `json:"total_sat"`
	Height           int32               `json:"height"`
	BlockHash        string              `json:"block_hash"`
	PolicyHash       string              `json:"policy_hash"`
	Approvals        []proofApprovalJSON `json:"approvals"`
	ApprovalsNeeded  uint32              `json:"approvals_needed"`
	Signers          []signerJSON        `json:"signers"`
	SignaturesNeeded uint32              `json:"signatures_needed"`
	CreatedBy        string              `json:"created_by"`
	CreatedAt        string              `json:"created_at"`
	ExpiresAt        string              `json:"expires_at"`
	History          []proofEventJSON    `json:"history"`
}

type proofEventJSON struct {
	State string `json:"state"`
	At    string `json:"at"`
	Actor string `json:"actor"`
	Note  string `json:"note,omitempty"`
}

func proofToJSON(p *custosv1.Proof, coins bool) proofJSON {
	out := proofJSON{
		ID: p.Id, State: proofStateName(p.State), Message: p.Message, CoinCount: len(p.Coins),
		Total: reserve.FormatBTC(p.TotalSat), TotalSat: p.TotalSat, Height: p.Height, BlockHash: p.BlockHash,
		PolicyHash: hex.EncodeToString(p.PolicyHash), ApprovalsNeeded: p.ApprovalsNeeded,
		SignaturesNeeded: p.SignaturesNeeded, CreatedBy: p.CreatedBy, CreatedAt: unixText(p.CreatedAtUnix),
		ExpiresAt: unixText(p.ExpiresAtUnix), Approvals: []proofApprovalJSON{}, Signers: []signerJSON{},
	}
	if coins {
		for _, c := range p.Coins {
			branch := "receive"
			if c.ChangeBranch {
				branch = "change"
			}
			out.Coins = append(out.Coins, proofCoinJSON{Outpoint: fmt.Sprintf("%s:%d", c.Txid, c.Vout),
				Amount: reserve.FormatBTC(c.AmountSat), AmountSat: c.AmountSat, Address: fmt.Sprintf("%s/%d", branch, c.Index)})
		}
	}
	for _, a := range p.Approvals {
		out.Approvals = append(out.Approvals, proofApprovalJSON{Officer: a.Officer, At: unixText(a.AtUnix)})
	}
	for _, s := range p.Signers {
		out.Signers = append(out.Signers, signerJSON{Cosigner: s.Cosigner, Fingerprint: s.Fingerprint, At: unixText(s.AtUnix)})
	}
	for _, h := range p.History {
		out.History = append(out.History, proofEventJSON{State: proofStateName(h.State), At: unixText(h.AtUnix), Actor: h.Actor, Note: h.Note})
	}
	return out
}

// proofStateName is the state as reserve names it ("SIGNING").
func proofStateName(s custosv1.ProposalState) string { return reserve.State(s).String() }

// printProof shows a proof as text, or as JSON.
func printProof(e *env, p *custosv1.Proof, coins bool) error {
	j := proofToJSON(p, coins)
	if e.common.json {
		return printJSON(e.stdout, j)
	}
	printf(e.stdout, "proof       %s  %s\n", j.ID, j.State)
	printf(e.stdout, "message     %s\n", j.Message)
	printf(e.stdout, "coins       %d, %s BTC (%d sat)\n", j.CoinCount, j.Total, j.TotalSat)
	printf(e.stdout, "at          height %d, block %s\n", j.Height, j.BlockHash)
	printf(e.stdout, "approvals   %d of %d", len(j.Approvals), j.ApprovalsNeeded)
	for _, a := range j.Approvals {
		printf(e.stdout, "  %s", a.Officer)
	}
	printf(e.stdout, "\n")
	if j.State == reserve.StateSigning.String() {
		printf(e.stdout, "signers     %d signed, %d more needed\n", len(j.Signers), j.SignaturesNeeded)
	}
	printf(e.stdout, "requested   by %s at %s, expires %s\n", j.CreatedBy, j.CreatedAt, j.ExpiresAt)
	for _, c := range j.Coins {
		printf(e.stdout, "  %s  %s BTC  %s\n", c.Outpoint, c.Amount, c.Address)
	}
	return nil
}

func proofClient(e *env) custosv1.ProofServiceClient { return custosv1.NewProofServiceClient(e.conn) }

func reservesProveCmd(fs *flag.FlagSet) func(*env, []string) error {
	message := fs.String("message", "", "what the proof commits to: a date, an auditor's challenge (printable UTF-8, 1 to 4096 bytes; required)")
	utxos := fs.String("utxos", "all", "the coins to prove: all (every confirmed unspent coin) or TXID:VOUT,TXID:VOUT,…")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *message == "" {
			return usagef("--message TEXT is required")
		}
		if err := textFlag("message", *message); err != nil {
			return err
		}
		req := &custosv1.RequestProofRequest{Message: *message}
		if *utxos != "all" {
			for i, s := range strings.Split(*utxos, ",") {
				s = strings.TrimSpace(s)
				if _, err := wire.NewOutPointFromString(s); err != nil {
					return usagef("--utxos: entry %d (%q) is not TXID:VOUT", i+1, safe(s))
				}
				req.Outpoints = append(req.Outpoints, s)
			}
		}
		r, err := proofClient(e).RequestProof(e.ctx, req)
		if err != nil {
			return err
		}
		return printProof(e, r.Proof, false)
	}
}

func reservesListCmd(fs *flag.FlagSet) func(*env, []string) error {
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		r, err := proofClient(e).ListProofs(e.ctx, &custosv1.ListProofsRequest{})
		if err != nil {
			return err
		}
		if e.common.json {
			out := []proofJSON{}
			for _, p := range r.Proofs {
				out = append(out, proofToJSON(p, false))
			}
			return printJSON(e.stdout, out)
		}
		for _, p := range r.Proofs {
			printf(e.stdout, "%s  %-16s  height %d  %d coins  %s BTC  %s\n", p.Id, proofStateName(p.State), p.Height,
				len(p.Coins), reserve.FormatBTC(p.TotalSat), p.Message)
		}
		return nil
	}
}

func reservesShowCmd(fs *flag.FlagSet) func(*env, []string) error {
	return func(e *env, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		r, err := proofClient(e).GetProof(e.ctx, &custosv1.GetProofRequest{Id: id})
		if err != nil {
			return err
		}
		return printProof(e, r.Proof, true)
	}
}

func reservesApproveCmd(fs *flag.FlagSet) func(*env, []string) error {
	o := bindOfficer(fs, "approve the proof")
	return func(e *env, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		kf, err := o.readKey()
		if err != nil {
			return err
		}
		g, err := custosv1.NewPolicyServiceClient(e.conn).GetPolicy(e.ctx, &custosv1.GetPolicyRequest{})
		if err != nil {
			return err
		}
		r, err := proofClient(e).GetProof(e.ctx, &custosv1.GetProofRequest{Id: id})
		if err != nil {
			return err
		}
		s, err := proofStatement(g, r.Proof)
		if err != nil {
			return err
		}
		digest, err := s.Digest()
		if err != nil {
			return err
		}
		if !bytes.Equal(digest[:], r.Proof.StatementDigest) {
			return fmt.Errorf("the daemon's statement digest for %s is %x, this one's %x: refusing to sign", safe(id), r.Proof.StatementDigest, digest)
		}
		o.show(e, "%s", fmt.Sprintf("PROOF OF RESERVES %s — cannot move coins\nmessage  %s\ncoins    %d, %s BTC at height %d\npolicy   %x\n",
			safe(r.Proof.Id), safe(r.Proof.Message), len(r.Proof.Coins), reserve.FormatBTC(r.Proof.TotalSat), r.Proof.Height, s.PolicyHash))
		sig, err := o.sign(e, kf, "Approve this proof's message? [y/N] ", digest)
		if err != nil {
			return err
		}
		a, err := proofClient(e).ApproveProof(e.ctx, &custosv1.ApproveProofRequest{Id: id, Signature: sig})
		if err != nil {
			return err
		}
		return printProof(e, a.Proof, false)
	}
}

// proofStatement builds, from the proof PSBT itself, the statement an
// officer signs: the message in the PSBT's global 0x09 field and the
// coins its inputs 1..n spend, each checked against what the daemon says
// the proof is, so the officer signs what the cosigners will see.
func proofStatement(g *custosv1.GetPolicyResponse, p *custosv1.Proof) (reserve.ProofStatement, error) {
	if g.Policy == nil {
		return reserve.ProofStatement{}, fmt.Errorf("no policy is in force")
	}
	if !bytes.Equal(g.Policy.Hash, p.PolicyHash) {
		return reserve.ProofStatement{}, fmt.Errorf("proof %s was requested under policy %x, and policy %x is in force", safe(p.Id), p.PolicyHash, g.Policy.Hash)
	}
	pkt, err := multisig.ParsePSBT(p.Psbt)
	if err != nil {
		return reserve.ProofStatement{}, fmt.Errorf("the proof PSBT: %w", err)
	}
	var msg []byte
	for _, u := range pkt.Unknowns {
		if len(u.Key) == 1 && u.Key[0] == multisig.PSBTGlobalGenericSignedMessage {
			msg = u.Value
		}
	}
	if string(msg) != p.Message {
		return reserve.ProofStatement{}, fmt.Errorf("the proof PSBT's message (global 0x09) is not the message the daemon shows")
	}
	tx := pkt.UnsignedTx
	if len(tx.TxIn) != len(p.Coins)+1 {
		return reserve.ProofStatement{}, fmt.Errorf("the proof PSBT spends %d coins, the daemon shows %d", len(tx.TxIn)-1, len(p.Coins))
	}
	ops := make([]wire.OutPoint, len(p.Coins))
	amounts := make([]int64, len(p.Coins))
	for i, c := range p.Coins {
		in, wu := tx.TxIn[i+1], pkt.Inputs[i+1].WitnessUtxo
		if in.PreviousOutPoint.String() != fmt.Sprintf("%s:%d", c.Txid, c.Vout) || wu == nil || wu.Value != c.AmountSat {
			return reserve.ProofStatement{}, fmt.Errorf("input %d of the proof PSBT is not coin %s:%d of %d sat", i+1, safe(c.Txid), c.Vout, c.AmountSat)
		}
		ops[i], amounts[i] = in.PreviousOutPoint, wu.Value
	}
	s := reserve.ProofStatement{
		Network: reserve.Network(g.Network), WalletID: g.WalletId, ProofID: p.Id,
		MessageHash: multisig.BIP322MessageHash(msg), CoinsHash: reserve.ProofCoinsHashOf(ops, amounts),
		ExpiresAt: time.Unix(p.ExpiresAtUnix, 0),
	}
	copy(s.PolicyHash[:], g.Policy.Hash)
	return s, nil
}

func reservesExportCmd(fs *flag.FlagSet) func(*env, []string) error {
	out := fs.String("out", "", "file to write the proof PSBT to (required)")
	b64 := fs.Bool("base64", false, "write base64 text instead of binary")
	return func(e *env, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		if *out == "" {
			return usagef("--out FILE is required")
		}
		r, err := proofClient(e).ExportProof(e.ctx, &custosv1.ExportProofRequest{Id: id})
		if err != nil {
			return err
		}
		data := exportBytes(r.Psbt, *b64)
		if err := os.WriteFile(*out, data, 0o600); err != nil {
			return fmt.Errorf("unable to write %s: %w", *out, err)
		}
		return reportExport(e, "the proof PSBT", id, *out, len(data), *b64)
	}
}

func reservesImportCmd(fs *flag.FlagSet) func(*env, []string) error {
	return func(e *env, args []string) error {
		if len(args) != 2 {
			return usagef("want: reserves import ID FILE")
		}
		data, err := readPSBTFile(args[1])
		if err != nil {
			return err
		}
		r, err := proofClient(e).ImportProof(e.ctx, &custosv1.ImportProofRequest{Id: args[0], Psbt: data})
		if err != nil {
			return err
		}
		if e.common.json {
			return printJSON(e.stdout, struct {
				SignaturesAdded uint32    `json:"signatures_added"`
				Proof           proofJSON `json:"proof"`
			}{r.SignaturesAdded, proofToJSON(r.Proof, false)})
		}
		printf(e.stdout, "%d signatures added\n", r.SignaturesAdded)
		return printProof(e, r.Proof, false)
	}
}

func reservesFinalizeCmd(fs *flag.FlagSet) func(*env, []string) error {
	out := fs.String("out", "", "file to write the proof to (proof.json; required, never overwritten)")
	noDesc := fs.Bool("no-descriptor", false, "leave the wallet's descriptor out of the proof: publishing it reveals every address of the reserve")
	return func(e *env, args []string) error {
		id, err := oneID(args)
		if err != nil {
			return err
		}
		if *out == "" {
			return usagef("--out FILE is required")
		}
		if _, err := os.Stat(*out); err == nil {
			return fmt.Errorf("refusing to overwrite %s: it already exists", *out)
		}
		r, err := proofClient(e).FinalizeProof(e.ctx, &custosv1.FinalizeProofRequest{Id: id, IncludeDescriptor: !*noDesc})
		if err != nil {
			return err
		}
		if err := writeNewFile(*out, r.ProofJson); err != nil {
			return err
		}
		if e.common.json {
			return printJSON(e.stdout, struct {
				File       string    `json:"file"`
				Descriptor bool      `json:"descriptor"`
				Proof      proofJSON `json:"proof"`
			}{*out, !*noDesc, proofToJSON(r.Proof, false)})
		}
		printf(e.stdout, "wrote the proof %s to %s: %d coins, %s BTC at height %d\n", r.Proof.Id, *out,
			len(r.Proof.Coins), reserve.FormatBTC(r.Proof.TotalSat), r.Proof.Height)
		if !*noDesc {
			printf(e.stdout, "warning: %s\n", descriptorWarning)
		} else {
			printf(e.stdout, "the descriptor is left out: a verifier checks the coins and signatures, not which wallet's keys signed\n")
		}
		return nil
	}
}
