package main

import (
	"flag"
	"fmt"
	"text/tabwriter"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

type addressJSON struct {
	Branch        string `json:"branch"`
	Index         uint32 `json:"index"`
	Address       string `json:"address"`
	Label         string `json:"label"`
	Issued        bool   `json:"issued"`
	Received      string `json:"received"`
	ReceivedSat   int64  `json:"received_sat"`
	ReceivedCount uint32 `json:"received_count"`
}

func addressToJSON(a *custosv1.Address) addressJSON {
	return addressJSON{
		Branch: branchName(a.Branch), Index: a.Index, Address: a.Address, Label: a.Label, Issued: a.Issued,
		Received: reserve.FormatBTC(a.ReceivedSat), ReceivedSat: a.ReceivedSat, ReceivedCount: a.ReceivedCount,
	}
}

func addressNewCmd(fs *flag.FlagSet) func(*env, []string) error {
	label := fs.String("label", "", "label for the address (up to 256 bytes)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if err := textFlag("label", *label); err != nil {
			return err
		}
		r, err := custosv1.NewTreasuryServiceClient(e.conn).NewAddress(e.ctx, &custosv1.NewAddressRequest{Label: *label})
		if err != nil {
			return err
		}
		out := addressToJSON(r.Address)
		if e.common.json {
			return printJSON(e.stdout, out)
		}
		// The address alone on the first line, for scripts; then where it
		// sits, which each ministry's custos-signer must confirm.
		if out.Label != "" {
			printf(e.stdout, "%s\nlabel: %s\n", out.Address, out.Label)
		} else {
			printf(e.stdout, "%s\n", out.Address)
		}
		_, err = printf(e.stdout, "branch %s, index %d\n"+
			"Publish it only after the ministries ran 'custos-signer address verify %s'\n"+
			"and each saw branch %s, index %d.\n", out.Branch, out.Index, out.Address, out.Branch, out.Index)
		return err
	}
}

func addressListCmd(fs *flag.FlagSet) func(*env, []string) error {
	change := fs.Bool("change", false, "list the change branch instead of receive")
	all := fs.Bool("all", false, "include watched lookahead addresses never issued or used")
	limit := fs.Int("limit", 0, "stop after the first `N` addresses (0: all)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		req := &custosv1.ListAddressesRequest{Branch: custosv1.Branch_BRANCH_RECEIVE, IncludeLookahead: *all}
		if *change {
			req.Branch = custosv1.Branch_BRANCH_CHANGE
		}
		addrs, err := allPages(*limit, func(token string, size int32) ([]*custosv1.Address, string, error) {
			req.PageToken, req.PageSize = token, size
			r, err := custosv1.NewTreasuryServiceClient(e.conn).ListAddresses(e.ctx, req)
			if err != nil {
				return nil, "", err
			}
			return r.Addresses, r.NextPageToken, nil
		})
		if err != nil {
			return err
		}
		out := make([]addressJSON, len(addrs))
		for i, a := range addrs {
			out[i] = addressToJSON(a)
		}
		if e.common.json {
			return printJSON(e.stdout, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "BRANCH\tINDEX\tADDRESS\tLABEL\tRECEIVED (BTC)\tOUTPUTS")
		for _, a := range out {
			printf(tw, "%s\t%d\t%s\t%s\t%s\t%d\n", a.Branch, a.Index, a.Address, a.Label, a.Received, a.ReceivedCount)
		}
		return tw.Flush()
	}
}
