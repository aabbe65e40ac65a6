package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// addressOutput is what address show and address verify print with
// --json.
type addressOutput struct {
	Address   string `json:"address"`
	Branch    string `json:"branch"`
	Index     uint32 `json:"index"`
	WalletID  string `json:"wallet_id"`
	Network   string `json:"network"`
	Threshold int    `json:"threshold"`
	Total     int    `json:"total"`
	// Paths are every cosigner's derivation path to its key in the
	// address, in descriptor order.
	Paths []pathEntry `json:"paths"`
	// Searched is, for verify, how many addresses of each branch were
	// searched from index 0 (absent with --index).
	Searched *searched `json:"searched,omitempty"`
	// Window is, for verify, the indexes below which this signer now
	// signs for inputs and change, per branch.
	Window *searched `json:"window,omitempty"`
}

type pathEntry struct {
	Position   int    `json:"position"`
	Path       string `json:"path"`
	ThisSigner bool   `json:"this_signer"`
}

type searched struct {
	Receive uint32 `json:"receive"`
	Change  uint32 `json:"change"`
}

func (c *cli) cmdAddress(ctx context.Context, args []string) error {
	return c.dispatch(ctx, "address", args, []subcommand{
		{"show", "show --index N [--change] [--datadir DIR] [--passphrase-file FILE] [--json]", (*cli).cmdAddressShow},
		{"verify", "verify ADDRESS [--index N [--change]] [--no-record] [--datadir DIR] [--passphrase-file FILE] [--json]", (*cli).cmdAddressVerify},
	}, "Both work offline from the pinned descriptor and unlock the key first: the descriptor is\n"+
		"trusted only once "+signer.StateFileName+" authenticates it under the key and the key is in it.\n")
}

func (c *cli) cmdAddressShow(ctx context.Context, args []string) error {
	f := c.newFlags("address show", true)
	index := f.fs.Int64("index", -1, "the address index `N` (0 is the first)")
	change := f.fs.Bool("change", false, "the change branch instead of receive")
	if done, err := c.parse(f, args, progName+" address show --index N [--change] [--datadir DIR] [--passphrase-file FILE] [--json]",
		"Unlocks the key, checks the pinned descriptor against DIR/"+signer.StateFileName+" under it and\n"+
			"that this signer's key is in it, then derives from it alone the wallet's receive (or change)\n"+
			"address at index N and prints it with every cosigner's derivation path. Needs the passphrase:\n"+
			"nothing in DIR is trusted without it."); done || err != nil {
		return err
	}
	if *index < 0 || *index > math.MaxInt32 {
		if *index == -1 {
			return usageErrorf("address show: --index is required")
		}
		return usageErrorf("address show: --index %d is not from 0 to %d", *index, math.MaxInt32)
	}
	kf, err := signer.ReadKeyFile(f.datadir)
	if err != nil {
		return err
	}
	pinned, _, key, err := c.openPinned(ctx, f, kf)
	if err != nil {
		return err
	}
	key.Zero()
	d, own := pinned.Descriptor, pinned.Position
	b := reserve.BranchReceive
	if *change {
		b = reserve.BranchChange
	}
	got, err := d.Derive(b, uint32(*index))
	if err != nil {
		return err
	}
	out := newAddressOutput(d, own, got)
	if f.json {
		return writeJSON(c.stdout, out)
	}
	return c.printAddress(out, "")
}

func (c *cli) cmdAddressVerify(ctx context.Context, args []string) error {
	f := c.newFlags("address verify", true)
	at := f.fs.Int64("index", -1, "check the address at index `N` only (as 'custosctl address new' printed it) instead of searching")
	change := f.fs.Bool("change", false, "with --index: the change branch instead of receive")
	noRecord := f.fs.Bool("no-record", false, "only check: do not widen this signer's window to the address")
	synopsis := progName + " address verify ADDRESS [--index N [--change]] [--no-record] [--datadir DIR] [--passphrase-file FILE] [--json]"
	about := "Unlocks the key and checks the pinned descriptor against DIR/" + signer.StateFileName + " under it and\n" +
		"that this signer's key is in it (nothing in DIR is trusted without the passphrase). Then derives\n" +
		"the pinned wallet's addresses from the pinned descriptor alone (no cached file) and\n" +
		"looks for ADDRESS among the receive and change addresses up to " + fmt.Sprint(signer.IndexWindow) + " past the highest index this\n" +
		"signer has seen, or only at --index N. Prints the branch, index and every cosigner's path when\n" +
		"found; exits non-zero when not. A found address past the window this signer signs for widens\n" +
		"the window to it (docs/signer.md); --no-record skips that.\n" +
		"A deposit address is published only after enough ministries verified it this way."
	// The address may come before or after the flags.
	var positional []string
	rest := args
	for {
		err := f.fs.Parse(rest)
		if errors.Is(err, flag.ErrHelp) {
			return ignoreDone(c.parse(f, []string{"-h"}, synopsis, about))
		}
		if err != nil || f.fs.NArg() == 0 {
			break
		}
		positional = append(positional, f.fs.Arg(0))
		rest = f.fs.Args()[1:]
	}
	if done, err := c.parse(f, rest, synopsis, about); done || err != nil {
		return err
	}
	switch {
	case len(positional) == 0:
		return usageErrorf("address verify: want the ADDRESS to verify")
	case len(positional) > 1:
		return usageErrorf("address verify: unexpected argument %q; verify one address at a time", positional[1])
	case *at < -1 || *at > math.MaxInt32:
		return usageErrorf("address verify: --index %d is not from 0 to %d", *at, math.MaxInt32)
	case *change && *at < 0:
		return usageErrorf("address verify: --change goes with --index")
	}
	kf, err := signer.ReadKeyFile(f.datadir)
	if err != nil {
		return err
	}
	// The address is checked before anyone types a passphrase.
	script, err := signer.ParseWalletAddress(strings.TrimSpace(positional[0]), kf.Network)
	if err != nil {
		return err
	}
	pinned, seen, key, err := c.openPinned(ctx, f, kf)
	if err != nil {
		return err
	}
	defer key.Zero()
	d, own := pinned.Descriptor, pinned.Position
	var got multisig.Derived
	var end [2]uint32
	if *at >= 0 {
		b := reserve.BranchReceive
		if *change {
			b = reserve.BranchChange
		}
		got, err = signer.AddressAt(d, script, b, uint32(*at))
	} else {
		end = signer.SearchEnd(seen)
		got, err = signer.FindAddress(d, script, end)
	}
	if err != nil {
		return err
	}
	out := newAddressOutput(d, own, got)
	if *at < 0 {
		out.Searched = &searched{Receive: end[reserve.BranchReceive], Change: end[reserve.BranchChange]}
	}
	// Inside the window the address is signed for already; past it, the
	// window moves to it (with the key), unless the operator only checks.
	if !*noRecord && uint64(got.Index) >= uint64(seen[got.Branch])+signer.IndexWindow {
		if seen, err = recordSeen(f.datadir, key, got); err != nil {
			return err
		}
	}
	out.Window = &searched{Receive: seen[reserve.BranchReceive] + signer.IndexWindow, Change: seen[reserve.BranchChange] + signer.IndexWindow}
	if f.json {
		return writeJSON(c.stdout, out)
	}
	return c.printAddress(out, fmt.Sprintf("VERIFIED: this address belongs to wallet %s.\n", out.WalletID))
}

// recordSeen widens the signer's window to the address verified, under
// the data directory's lock; RecordSeen checks the pinned wallet again
// under it.
func recordSeen(dir string, key *signer.Key, got multisig.Derived) ([2]uint32, error) {
	lock, err := signer.LockDir(dir)
	if err != nil {
		return [2]uint32{}, err
	}
	defer lock.Unlock()
	return signer.RecordSeen(dir, key, got.Branch, got.Index)
}

// ignoreDone drops parse's done flag: the help was printed.
func ignoreDone(_ bool, err error) error { return err }

// openPinned unlocks kf and opens the pinned wallet with it
// (signer.OpenPinned): the state record's MAC, the descriptor's recorded
// hash and this signer's key in it. It returns the wallet, the indexes
// this signer has seen and the key, which the caller must Zero.
func (c *cli) openPinned(ctx context.Context, f *flags, kf *signer.KeyFile) (*signer.Pinned, [2]uint32, *signer.Key, error) {
	key, err := c.unlockFile(ctx, f, kf)
	if err != nil {
		return nil, [2]uint32{}, nil, err
	}
	pinned, seen, err := signer.OpenPinned(f.datadir, key)
	if err != nil {
		key.Zero()
		return nil, [2]uint32{}, nil, err
	}
	return pinned, seen, key, nil
}

func newAddressOutput(d *multisig.Descriptor, own int, got multisig.Derived) addressOutput {
	out := addressOutput{
		Address:   got.Address,
		Branch:    got.Branch.String(),
		Index:     got.Index,
		WalletID:  d.WalletID(),
		Network:   d.Network().String(),
		Threshold: d.Threshold(),
		Paths:     []pathEntry{},
	}
	cos := d.Cosigners()
	out.Total = len(cos)
	for i, cs := range cos {
		out.Paths = append(out.Paths, pathEntry{Position: i + 1, Path: signer.CosignerPath(cs, got.Branch, got.Index), ThisSigner: i == own})
	}
	return out
}

func (c *cli) printAddress(out addressOutput, head string) error {
	var b strings.Builder
	b.WriteString(head)
	fmt.Fprintf(&b, "Address:  %s\n", out.Address)
	fmt.Fprintf(&b, "Branch:   %s, index %d\n", out.Branch, out.Index)
	fmt.Fprintf(&b, "Wallet:   %s (%d-of-%d P2WSH sortedmulti on %s)\n\nCosigner paths:\n",
		out.WalletID, out.Threshold, out.Total, out.Network)
	for _, p := range out.Paths {
		mark := ""
		if p.ThisSigner {
			mark = "  (this signer)"
		}
		fmt.Fprintf(&b, "  %2d. %s%s\n", p.Position, p.Path, mark)
	}
	if out.Window != nil {
		fmt.Fprintf(&b, "\nCompare the branch and index with what 'custosctl address new' printed.\n")
		fmt.Fprintf(&b, "This signer signs for receive indexes below %d and change below %d.\n", out.Window.Receive, out.Window.Change)
	}
	// Everything shown here is derived from the pinned descriptor, none
	// of it free text.
	_, err := io.WriteString(c.stdout, b.String())
	return err
}
