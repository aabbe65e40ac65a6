package main

import (
	"flag"
	"fmt"
	"math"
	"text/tabwriter"
	"time"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

type cosignerJSON struct {
	Fingerprint string `json:"fingerprint"`
	Path        string `json:"path"`
	Xpub        string `json:"xpub"`
	KeyRecord   string `json:"key_record"`
}

type walletJSON struct {
	ID                string         `json:"id"`
	Name              string         `json:"name"`
	Network           string         `json:"network"`
	Threshold         uint32         `json:"threshold"`
	N                 int            `json:"n"`
	Cosigners         []cosignerJSON `json:"cosigners"`
	Descriptor        string         `json:"descriptor"`
	ReceiveDescriptor string         `json:"receive_descriptor"`
	ChangeDescriptor  string         `json:"change_descriptor"`
	GapLimit          uint32         `json:"gap_limit"`
	BirthdayHeight    int32          `json:"birthday_height"`
	CreatedAt         string         `json:"created_at"`
}

func walletToJSON(w *custosv1.Wallet) walletJSON {
	out := walletJSON{
		ID: w.Id, Name: w.Name, Network: networkName(w.Network), Threshold: w.Threshold, N: len(w.Cosigners),
		Descriptor: w.MultipathDescriptor, ReceiveDescriptor: w.ReceiveDescriptor, ChangeDescriptor: w.ChangeDescriptor,
		GapLimit: w.GapLimit, BirthdayHeight: w.BirthdayHeight,
		CreatedAt: time.Unix(w.CreatedAtUnix, 0).UTC().Format(time.RFC3339),
	}
	for _, c := range w.Cosigners {
		out.Cosigners = append(out.Cosigners, cosignerJSON{Fingerprint: c.Fingerprint, Path: c.Path, Xpub: c.Xpub, KeyRecord: c.KeyRecord})
	}
	return out
}

func printWallet(e *env, w *custosv1.Wallet) error {
	out := walletToJSON(w)
	if e.common.json {
		return printJSON(e.stdout, out)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	printf(tw, "wallet\t%s (%s)\n", out.Name, out.ID)
	printf(tw, "network\t%s\n", out.Network)
	printf(tw, "policy\t%d of %d, P2WSH sortedmulti\n", out.Threshold, out.N)
	printf(tw, "birthday\theight %d\n", out.BirthdayHeight)
	printf(tw, "gap limit\t%d\n", out.GapLimit)
	for i, c := range out.Cosigners {
		printf(tw, "cosigner %d\t%s  %s\n", i+1, c.Fingerprint, c.KeyRecord)
	}
	printf(tw, "descriptor\t%s\n", out.Descriptor)
	printf(tw, "receive\t%s\n", out.ReceiveDescriptor)
	printf(tw, "change\t%s\n", out.ChangeDescriptor)
	return tw.Flush()
}

func walletCreateCmd(fs *flag.FlagSet) func(*env, []string) error {
	name := fs.String("name", "", "wallet name (required)")
	threshold := fs.Int("threshold", 0, "m: signatures needed to spend (required)")
	gap := fs.Uint("gap-limit", 0, "unused addresses watched ahead on each branch (default 20)")
	birthday := fs.Int("birthday", -1, "first block height to scan (default: the node's tip now)")
	var cosigners multiFlag
	fs.Var(&cosigners, "cosigner", "a ministry's key record [fingerprint/48'/1'/0'/2']tpub… (repeat, once per cosigner)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if err := textFlag("name", *name); err != nil {
			return err
		}
		for _, c := range cosigners {
			if err := textFlag("cosigner", c); err != nil {
				return err
			}
		}
		if *threshold < 1 || *threshold > math.MaxInt32 {
			return usagef("--threshold must be at least 1")
		}
		if *gap > math.MaxUint32 || *birthday > math.MaxInt32 || *birthday < -1 {
			return usagef("--gap-limit or --birthday out of range")
		}
		req := &custosv1.CreateWalletRequest{
			Name: *name, Threshold: uint32(*threshold), Cosigners: cosigners, GapLimit: uint32(*gap),
		}
		if *birthday >= 0 {
			h := int32(*birthday)
			req.BirthdayHeight = &h
		}
		r, err := custosv1.NewAdminServiceClient(e.conn).CreateWallet(e.ctx, req)
		if err != nil {
			return err
		}
		return printWallet(e, r.Wallet)
	}
}

func walletShowCmd(fs *flag.FlagSet) func(*env, []string) error {
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		r, err := custosv1.NewTreasuryServiceClient(e.conn).GetWallet(e.ctx, &custosv1.GetWalletRequest{})
		if err != nil {
			return err
		}
		return printWallet(e, r.Wallet)
	}
}

// multiFlag collects a repeatable flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint([]string(*m)) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
