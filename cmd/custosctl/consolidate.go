package main

import (
	"flag"
	"math"
	"text/tabwriter"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// consolidationJSON is what spend consolidate --json prints: the proposal,
// as spend propose prints it, with how many coins it merges and their
// total.
type consolidationJSON struct {
	proposalJSON
	Coins     int    `json:"coins"`
	Merged    string `json:"merged"`
	MergedSat int64  `json:"merged_sat"`
}

func spendConsolidateCmd(fs *flag.FlagSet) func(*env, []string) error {
	maxInputs := fs.Int("max-inputs", 0, "merge at most `N` coins (0: as many as a standard transaction and a PSBT of 32 MiB carry; at least 2)")
	minAge := fs.Int("min-age", 0, "merge only coins with at least this many confirmations (`BLOCKS`)")
	maxAmount := fs.String("max-amount", "", "merge only coins worth at most this much, in `BTC` (default: any)")
	feeRate := fs.Int64("feerate", 0, "fee rate in sat/vB (required)")
	memo := fs.String("memo", "", "a note for the officers and auditors (up to 256 bytes)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		switch {
		case *feeRate <= 0:
			return usagef("--feerate (sat/vB) is required")
		case *maxInputs < 0 || *maxInputs == 1 || *maxInputs > math.MaxInt32:
			return usagef("--max-inputs %d: want 0 (as many as fit) or 2 or more", *maxInputs)
		case *minAge < 0 || *minAge > math.MaxInt32:
			return usagef("--min-age %d: want 0 or more blocks", *minAge)
		}
		if err := textFlag("memo", *memo); err != nil {
			return err
		}
		c := &custosv1.Consolidation{MaxInputs: int32(*maxInputs), MinAgeBlocks: int32(*minAge)}
		if *maxAmount != "" {
			sat, err := reserve.ParseBTC(*maxAmount)
			if err != nil || sat == 0 {
				return usagef("--max-amount %q is not an amount of BTC above zero", *maxAmount)
			}
			c.MaxAmountSat = sat
		}
		req := &custosv1.ProposeSpendRequest{FeeRateSatVb: *feeRate, Memo: *memo, Consolidate: c}
		r, err := custosv1.NewSpendServiceClient(e.conn).ProposeSpend(e.ctx, req)
		if err != nil {
			return err
		}
		return printConsolidation(e, r.Proposal)
	}
}

// printConsolidation prints a consolidation as spend propose prints a
// proposal, led by how many coins it merges and their total.
func printConsolidation(e *env, p *custosv1.Proposal) error {
	out := consolidationJSON{proposalJSON: proposalToJSON(p), Coins: len(p.Inputs)}
	out.MergedSat = out.InputSat
	out.Merged = reserve.FormatBTC(out.MergedSat)
	if e.common.json {
		return printJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	printf(tw, "merges\t%d coins, %s BTC, into one output back to the reserve\n", out.Coins, out.Merged)
	if err := tw.Flush(); err != nil {
		return err
	}
	return printProposal(e, p)
}
