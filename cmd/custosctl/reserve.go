package main

import (
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

func networkName(n custosv1.Network) string {
	switch n {
	case custosv1.Network_NETWORK_MAINNET:
		return reserve.Mainnet.String()
	case custosv1.Network_NETWORK_TESTNET:
		return reserve.Testnet.String()
	case custosv1.Network_NETWORK_SIGNET:
		return reserve.Signet.String()
	case custosv1.Network_NETWORK_REGTEST:
		return reserve.Regtest.String()
	case custosv1.Network_NETWORK_UNSPECIFIED:
	}
	return "unspecified"
}

func branchName(b custosv1.Branch) string {
	switch b {
	case custosv1.Branch_BRANCH_RECEIVE:
		return "receive"
	case custosv1.Branch_BRANCH_CHANGE:
		return "change"
	case custosv1.Branch_BRANCH_UNSPECIFIED:
	}
	return "unspecified"
}

type statusJSON struct {
	Network       string `json:"network"`
	NodeKind      string `json:"node_kind"`
	NodeReachable bool   `json:"node_reachable"`
	NodeError     string `json:"node_error,omitempty"`
	NodeHeight    int32  `json:"node_height"`
	NodeBestHash  string `json:"node_best_hash,omitempty"`
	SyncedHeight  int32  `json:"synced_height"`
	SyncedHash    string `json:"synced_hash,omitempty"`
	Synced        bool   `json:"synced"`
	WalletExists  bool   `json:"wallet_exists"`
	LastPoll      string `json:"last_poll,omitempty"`
}

func statusCmd(fs *flag.FlagSet) func(*env, []string) error {
	wait := fs.Bool("wait", false, "wait until the wallet is synced to the node's tip (bounded by --timeout)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		r, err := getStatus(e, *wait)
		if err != nil {
			return err
		}
		out := statusJSON{
			Network: networkName(r.Network), NodeKind: r.NodeKind, NodeReachable: r.NodeReachable,
			NodeError: r.NodeError, NodeHeight: r.NodeHeight, NodeBestHash: r.NodeBestHash,
			SyncedHeight: r.SyncedHeight, SyncedHash: r.SyncedHash, Synced: r.Synced, WalletExists: r.WalletExists,
		}
		if r.LastPollUnix > 0 {
			out.LastPoll = time.Unix(r.LastPollUnix, 0).UTC().Format(time.RFC3339)
		}
		if e.common.json {
			return printJSON(e.stdout, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		reach := "yes"
		if !out.NodeReachable {
			reach = "NO"
			if out.NodeError != "" {
				reach += " (" + out.NodeError + ")"
			}
		}
		printf(tw, "network\t%s\n", out.Network)
		printf(tw, "node\t%s, reachable: %s\n", out.NodeKind, reach)
		printf(tw, "node tip\t%d %s\n", out.NodeHeight, out.NodeBestHash)
		printf(tw, "synced\t%d %s (in sync: %t)\n", out.SyncedHeight, out.SyncedHash, out.Synced)
		printf(tw, "wallet\t%t\n", out.WalletExists)
		if out.LastPoll != "" {
			printf(tw, "last poll\t%s\n", out.LastPoll)
		}
		return tw.Flush()
	}
}

type balanceJSON struct {
	Confirmed      string `json:"confirmed"`
	ConfirmedSat   int64  `json:"confirmed_sat"`
	Unconfirmed    string `json:"unconfirmed"`
	UnconfirmedSat int64  `json:"unconfirmed_sat"`
	Immature       string `json:"immature"`
	ImmatureSat    int64  `json:"immature_sat"`
	SyncedHeight   int32  `json:"synced_height"`
}

func balanceCmd(fs *flag.FlagSet) func(*env, []string) error {
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		r, err := custosv1.NewTreasuryServiceClient(e.conn).GetBalance(e.ctx, &custosv1.GetBalanceRequest{})
		if err != nil {
			return err
		}
		out := balanceJSON{
			Confirmed: reserve.FormatBTC(r.ConfirmedSat), ConfirmedSat: r.ConfirmedSat,
			Unconfirmed: reserve.FormatBTC(r.UnconfirmedSat), UnconfirmedSat: r.UnconfirmedSat,
			Immature: reserve.FormatBTC(r.ImmatureSat), ImmatureSat: r.ImmatureSat,
			SyncedHeight: r.SyncedHeight,
		}
		if e.common.json {
			return printJSON(e.stdout, out)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		printf(tw, "confirmed\t%s BTC\t\n", out.Confirmed)
		printf(tw, "unconfirmed\t%s BTC\t\n", out.Unconfirmed)
		printf(tw, "immature\t%s BTC\t\n", out.Immature)
		printf(tw, "at height\t%d\t\n", out.SyncedHeight)
		return tw.Flush()
	}
}

type utxoJSON struct {
	Txid          string `json:"txid"`
	Vout          uint32 `json:"vout"`
	Amount        string `json:"amount"`
	AmountSat     int64  `json:"amount_sat"`
	Address       string `json:"address"`
	Branch        string `json:"branch"`
	Index         uint32 `json:"index"`
	Height        int32  `json:"height"`
	Confirmations int32  `json:"confirmations"`
	Coinbase      bool   `json:"coinbase"`
	Mature        bool   `json:"mature"`
}

func utxosCmd(fs *flag.FlagSet) func(*env, []string) error {
	limit := fs.Int("limit", 0, "stop after the `N` oldest outputs (0: all)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		var synced int32
		utxos, err := allPages(*limit, func(token string, size int32) ([]*custosv1.Utxo, string, error) {
			r, err := custosv1.NewTreasuryServiceClient(e.conn).ListUtxos(e.ctx, &custosv1.ListUtxosRequest{PageSize: size, PageToken: token})
			if err != nil {
				return nil, "", err
			}
			synced = r.SyncedHeight
			return r.Utxos, r.NextPageToken, nil
		})
		if err != nil {
			return err
		}
		out := make([]utxoJSON, len(utxos))
		for i, u := range utxos {
			out[i] = utxoJSON{
				Txid: u.Txid, Vout: u.Vout, Amount: reserve.FormatBTC(u.AmountSat), AmountSat: u.AmountSat,
				Address: u.Address, Branch: branchName(u.Branch), Index: u.Index, Height: u.Height,
				Confirmations: u.Confirmations, Coinbase: u.Coinbase, Mature: u.Mature,
			}
		}
		if e.common.json {
			return printJSON(e.stdout, struct {
				SyncedHeight int32      `json:"synced_height"`
				Utxos        []utxoJSON `json:"utxos"`
			}{synced, out})
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "OUTPOINT\tAMOUNT (BTC)\tADDRESS\tPATH\tCONF\tNOTE")
		for _, u := range out {
			note := ""
			if u.Coinbase && !u.Mature {
				note = "immature coinbase"
			}
			printf(tw, "%s:%d\t%s\t%s\t%s/%d\t%d\t%s\n", u.Txid, u.Vout, u.Amount, u.Address, u.Branch, u.Index, u.Confirmations, note)
		}
		return tw.Flush()
	}
}

// statusSynced reports whether r says the wallet is synced to the node's
// tip as the daemon saw it while answering (GetStatus asks the node):
// the same block, by hash, on both sides.
func statusSynced(r *custosv1.GetStatusResponse) bool {
	if !r.Synced || !r.NodeReachable || !r.WalletExists {
		return false
	}
	// A wallet born above the node's tip is synced before its first block.
	return r.SyncedHeight < 0 || (r.SyncedHeight == r.NodeHeight && r.SyncedHash == r.NodeBestHash)
}

// getStatus asks for the status, and with wait polls until the daemon
// reports the wallet synced to a reachable node's tip; each answer judges
// that against the node's tip as of the call, so blocks mined before
// --wait started, or while it waits, are waited for.
func getStatus(e *env, wait bool) (*custosv1.GetStatusResponse, error) {
	client := custosv1.NewTreasuryServiceClient(e.conn)
	var last *custosv1.GetStatusResponse
	for {
		r, err := client.GetStatus(e.ctx, &custosv1.GetStatusRequest{})
		switch {
		case err == nil && (!wait || statusSynced(r)):
			return r, nil
		case err == nil:
			last = r
		case !wait || last == nil || e.ctx.Err() == nil:
			return nil, err
		}
		// Not synced yet, or the call that --timeout cut short: report
		// the last status seen.
		select {
		case <-e.ctx.Done():
			return nil, fmt.Errorf("not synced after --timeout (node reachable: %t, node height %d, synced height %d): %w",
				last.NodeReachable, last.NodeHeight, last.SyncedHeight, e.ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
