package signer

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// Why says how a transaction signed under other approvals was found to be
// for the same payment as the one being signed.
type Why uint8

// The ways an earlier transaction is the same payment, in the order
// payOnce looks for them.
const (
	// WhySameProposal: it was signed for the same proposal, approved
	// again under another intent (a new policy, fee cap or expiry).
	WhySameProposal Why = 1
	// WhySupersedes: it was signed for a proposal the intent supersedes.
	WhySupersedes Why = 2
	// WhySamePayee: it pays one of the intent's payees the same amount,
	// and the intent is no deliberate repeat.
	WhySamePayee Why = 3
	// WhySupersededBy: it was signed for a proposal whose intent
	// supersedes this one.
	WhySupersededBy Why = 4
)

// Conflict is a transaction this signer signed under other approvals for
// the payment being signed, which the new transaction conflicts with.
type Conflict struct {
	// ProposalID and TxID are the earlier proposal and the transaction
	// this signer signed for it, at SignedAt.
	ProposalID string
	TxID       chainhash.Hash
	SignedAt   time.Time
	// Input is the first of the earlier transaction's inputs, in its
	// order, that the new one spends too.
	Input wire.OutPoint
	Why   Why
}

// payOnce holds the intent in against every entry of the ledger for
// another intent digest that is the same payment (sameProposal): the
// transaction, spending the outpoints in spends, must spend at least one
// of the entry's inputs, so that at most one of the two confirms. It
// returns those entries as Conflicts, or refuses with ErrPaysAgain. A
// transaction the ledger records already (recorded) was held to the
// ledger as it was when it was signed, and its signature was handed out
// then: it is not refused again for what was signed after it.
func payOnce(in *reserve.Intent, digest [32]byte, entries []LedgerEntry, spends map[wire.OutPoint]bool, recorded bool) ([]Conflict, error) {
	var out []Conflict
	for _, e := range entries {
		if e.IntentDigest == digest {
			continue // the same intent: a fee bump (ErrSignedOther)
		}
		why, payee := samePayment(in, e)
		if why == 0 {
			continue
		}
		k := slices.IndexFunc(e.Inputs, func(op wire.OutPoint) bool { return spends[op] })
		if k >= 0 {
			out = append(out, Conflict{ProposalID: e.ProposalID, TxID: e.TxID, SignedAt: e.SignedAt, Input: e.Inputs[k], Why: why})
			continue
		}
		if recorded {
			continue
		}
		return nil, paysAgain(in, e, why, payee)
	}
	return out, nil
}

// replaced is the set of other intent digests whose every entry is the
// same payment as intent in, no larger, and spent from by the
// transaction (spends): at most one of those transactions and the new
// one can confirm, and the new one's amount is counted, so velocity need
// not count them too. An intent with an entry that is the same payment
// and shares no input is left in: payOnce refuses the transaction.
func replaced(in *reserve.Intent, digest [32]byte, entries []LedgerEntry, spends map[wire.OutPoint]bool) map[[32]byte]bool {
	skip := map[[32]byte]bool{}
	keep := map[[32]byte]bool{}
	total := in.TotalSat()
	for _, e := range entries {
		if e.IntentDigest == digest || keep[e.IntentDigest] {
			continue
		}
		why, _ := samePayment(in, e)
		if why != 0 && e.AmountSat <= total && slices.ContainsFunc(e.Inputs, func(op wire.OutPoint) bool { return spends[op] }) {
			skip[e.IntentDigest] = true
			continue
		}
		keep[e.IntentDigest] = true
		delete(skip, e.IntentDigest)
	}
	return skip
}

// samePayment says whether entry e is for the payment of intent in, and
// why; for WhySamePayee, the intent's payee that e pays too.
func samePayment(in *reserve.Intent, e LedgerEntry) (Why, int) {
	switch {
	case e.ProposalID == in.ProposalID:
		return WhySameProposal, -1
	case slices.Contains(in.Supersedes, e.ProposalID):
		return WhySupersedes, -1
	case slices.Contains(e.Supersedes, in.ProposalID):
		// Signed for a later proposal that superseded this one: the link
		// holds whichever of the two this signer signed first.
		return WhySupersededBy, -1
	case in.Repeat:
		return 0, -1
	}
	for i, p := range in.Payees {
		for _, q := range e.Payees {
			if p.AmountSat == q.AmountSat && bytes.Equal(p.Script, q.Script) {
				return WhySamePayee, i
			}
		}
	}
	return 0, -1
}

// paysAgain is the ErrPaysAgain refusal of intent in over entry e: what
// was paid, when, and the way out.
func paysAgain(in *reserve.Intent, e LedgerEntry, why Why, payee int) error {
	var what, way string
	replace := fmt.Sprintf("if that transaction can never confirm, the replacement must spend one of its inputs (custosctl spend propose --replaces %s)", e.ProposalID)
	switch why {
	case WhySameProposal:
		what = fmt.Sprintf("proposal %s is approved again under other approvals", in.ProposalID)
		way = replace
	case WhySupersedes:
		what = fmt.Sprintf("proposal %s supersedes %s", in.ProposalID, e.ProposalID)
		way = "a proposal that supersedes another must spend one of the inputs of every transaction signed for it"
		if in.Repeat {
			way += " (--repeat does not lift that)"
		}
	case WhySupersededBy:
		what = fmt.Sprintf("proposal %s was superseded by %s", in.ProposalID, e.ProposalID)
		way = replace
	default:
		p := in.Payees[payee]
		what = fmt.Sprintf("proposal %s pays %s BTC to %s again", in.ProposalID, reserve.FormatBTC(p.AmountSat), payeeName(p.Script, in.Network))
		way = replace + "; if this is a deliberate second payment, the officers approve it as one (--repeat)"
	}
	paid := ""
	if len(e.Payees) > 0 && why != WhySamePayee {
		parts := make([]string, len(e.Payees))
		for i, p := range e.Payees {
			parts[i] = fmt.Sprintf("%s BTC to %s", reserve.FormatBTC(p.AmountSat), payeeName(p.Script, in.Network))
		}
		paid = ", paying " + strings.Join(parts, ", ")
	}
	return refuse(reserve.CodeConflict, ErrPaysAgain,
		"%s: %s: this signer signed transaction %s for proposal %s at %s%s, and this transaction spends none of its inputs, so both could confirm; %s",
		ErrPaysAgain, what, e.TxID, e.ProposalID, e.SignedAt.UTC().Format(time.RFC3339), paid, way)
}

// payeeName is a payee's address on network n, or its script when it has
// none.
func payeeName(script []byte, n reserve.Network) string {
	if addr := multisig.ScriptAddress(script, n); addr != "" {
		return addr
	}
	return fmt.Sprintf("script %x", script)
}
