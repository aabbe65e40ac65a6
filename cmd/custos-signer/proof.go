package main

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// proofBanner heads every proof's summary: what the operator signs moves
// nothing.
const proofBanner = "PROOF OF RESERVES — cannot move coins"

// maxProofCoinsShown bounds the coins a proof's summary lists one by one;
// the count and total are always shown.
const maxProofCoinsShown = 20

// proofOutput is what sign prints with --json for a proof of reserves.
type proofOutput struct {
	Kind      string `json:"kind"`
	WalletID  string `json:"wallet_id"`
	Threshold int    `json:"threshold"`
	Total     int    `json:"total"`
	TxID      string `json:"txid"`
	// Message is the proof's message as signed, escaped like all text
	// (writeJSON); MessageHash is its BIP-322 hash, in hex.
	Message          string   `json:"message"`
	MessageHash      string   `json:"message_hash"`
	ChallengeAddress string   `json:"challenge_address"`
	Coins            int      `json:"coins"`
	TotalSat         int64    `json:"total_sat"`
	Outpoints        []string `json:"outpoints"`

	SignaturesAdded int    `json:"signatures_added"`
	Out             string `json:"out"`
	LedgerEntry     uint64 `json:"ledger_entry"`
	AlreadySignedAt string `json:"already_signed_at,omitempty"`
	LedgerEntries   uint64 `json:"ledger_entries"`
	LedgerHead      string `json:"ledger_head"`
}

func newProofOutput(req signRequest, job *signJob, n int, entries uint64, head [32]byte) proofOutput {
	p := job.Proof
	o := proofOutput{
		Kind:             "proof_of_reserves",
		WalletID:         p.WalletID,
		Threshold:        p.Threshold,
		Total:            p.Cosigners,
		TxID:             p.TxID.String(),
		Message:          string(p.Proof.Message),
		MessageHash:      hex.EncodeToString(p.Proof.MessageHash[:]),
		ChallengeAddress: p.Proof.ChallengeAddress,
		Coins:            len(p.Proof.Coins),
		TotalSat:         p.Proof.TotalSat,
		Outpoints:        make([]string, len(p.Proof.Coins)),
		SignaturesAdded:  n,
		Out:              req.out,
		LedgerEntry:      job.Entry(),
		LedgerEntries:    entries,
		LedgerHead:       hex.EncodeToString(head[:]),
	}
	for i, op := range p.Proof.Coins {
		o.Outpoints[i] = op.String()
	}
	if job.Earlier != nil {
		o.AlreadySignedAt = job.Earlier.SignedAt.UTC().Format(time.RFC3339)
	}
	return o
}

// proofSummaryText is what the operator reads before signing a proof of
// reserves: that it moves nothing, the message exactly as signed (escaped
// as all text this program prints), the coins and their total.
func proofSummaryText(in string, s signer.ProofSummary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "PSBT %s\n", safe(in))
	fmt.Fprintf(&b, "%s\n", proofBanner)
	fmt.Fprintf(&b, "It spends every coin below in a transaction that can never be mined (BIP-322): signing\n"+
		"proves this ministry holds its key to them, and pays no one.\n\n")
	fmt.Fprintf(&b, "Wallet:      %s (%d-of-%d), as pinned by this signer\n", s.WalletID, s.Threshold, s.Cosigners)
	fmt.Fprintf(&b, "Transaction: %s (to_sign)\n", s.TxID)
	b.WriteString(proofAuditText(s.Witness))
	fmt.Fprintf(&b, "Message:     %s\n", safe(string(s.Proof.Message)))
	fmt.Fprintf(&b, "Hash:        %x (BIP-322 message hash)\n", s.Proof.MessageHash[:])
	fmt.Fprintf(&b, "Challenge:   %s (receive address 0 of this wallet)\n\n", s.Proof.ChallengeAddress)
	fmt.Fprintf(&b, "Proves %d coin(s) of this wallet, %s BTC:\n", len(s.Proof.Coins), reserve.FormatBTC(s.Proof.TotalSat))
	for i, op := range s.Proof.Coins {
		if i == maxProofCoinsShown {
			fmt.Fprintf(&b, "  … and %d more\n", len(s.Proof.Coins)-i)
			break
		}
		fmt.Fprintf(&b, "  coin %-4d %s\n", i+1, op)
	}
	return b.String()
}

// proofAuditText says what a proof's signature does with the audit log:
// nothing is witnessed, a checkpoint the PSBT carries is only checked.
func proofAuditText(w signer.Witnessed) string {
	if !w.Pinned {
		return "Audit log:   not witnessed (a proof moves nothing)\n"
	}
	return fmt.Sprintf("Audit log:   checkpoint size %d checked to extend size %d witnessed before; not witnessed (a proof moves nothing)\n",
		w.Checkpoint.Size, w.Previous.Size)
}
