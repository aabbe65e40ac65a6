package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/signer"
)

// ledgerOutput is what ledger export and ledger import print with --json.
type ledgerOutput struct {
	// File is the export written or read.
	File    string `json:"file"`
	Entries uint64 `json:"entries"`
	// Head is the ledger's head hash, to compare between the two
	// machines.
	Head string `json:"head"`
}

func (c *cli) cmdLedger(ctx context.Context, args []string) error {
	return c.dispatch(ctx, "ledger", args, []subcommand{
		{"export", "export --out FILE [--datadir DIR] [--json]", func(c *cli, _ context.Context, args []string) error { return c.cmdLedgerExport(args) }},
		{"import", "import --in FILE [--datadir DIR] [--passphrase-file FILE] [--json]", (*cli).cmdLedgerImport},
		{"upgrade", "upgrade [--yes] [--datadir DIR] [--passphrase-file FILE] [--json]", (*cli).cmdLedgerUpgrade},
	}, "Moves this signer's memory of what it signed (ledger, state record, pinned policy) to new\n"+
		"hardware: export on the old machine, restore the key and register the same descriptor on the\n"+
		"new one, then import. See README.md. Upgrade turns a data directory of the previous release\n"+
		"into one this release signs from (docs/signer.md).\n")
}

func (c *cli) cmdLedgerExport(args []string) error {
	f := c.newFlags("ledger export", false)
	out := f.fs.String("out", "", "write the export to `FILE` (required; must not exist)")
	if done, err := c.parse(f, args, progName+" ledger export --out FILE [--datadir DIR] [--json]",
		"Writes DIR's ledger, its state record and the pinned policy to FILE, after checking\n"+
			"without the key that the ledger is the one the record holds. Needs no passphrase: the\n"+
			"record's MAC under this signer's key is what 'ledger import' verifies."); done || err != nil {
		return err
	}
	if *out == "" {
		return usageErrorf("ledger export: --out is required")
	}
	if err := signer.CheckNoFile(*out); err != nil {
		return err
	}
	if _, err := signer.ReadKeyFile(f.datadir); err != nil {
		return err
	}
	lock, err := signer.LockDir(f.datadir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	data, x, err := signer.ExportLedger(f.datadir)
	if err != nil {
		return err
	}
	if err := durable.Write(*out, data, 0o600, false); err != nil {
		return fmt.Errorf("unable to write the export %s: %w", *out, err)
	}
	o := ledgerOutput{File: *out, Entries: x.Entries, Head: hex.EncodeToString(x.Head[:])}
	if f.json {
		return writeJSON(c.stdout, o)
	}
	_, err = fmt.Fprintf(c.stdout, "Exported %d ledger entries (head %s) to %s.\n"+
		"Import it on the new machine with '%s ledger import --in FILE' after restoring the key and\n"+
		"registering the same descriptor there; compare the head it prints with this one.\n", o.Entries, o.Head, safe(o.File), progName)
	return err
}

func (c *cli) cmdLedgerImport(ctx context.Context, args []string) error {
	f := c.newFlags("ledger import", true)
	in := f.fs.String("in", "", "the export to import (`FILE`, required)")
	if done, err := c.parse(f, args, progName+" ledger import --in FILE [--datadir DIR] [--passphrase-file FILE] [--json]",
		"Unlocks the key and installs the ledger, state record and policy of an export made by\n"+
			"'ledger export' in DIR, whose wallet descriptor must already be registered. It refuses an\n"+
			"export that does not authenticate under this key (another signer's, or edited), one cut short,\n"+
			"one for another wallet, and one that lacks an entry DIR's ledger holds."); done || err != nil {
		return err
	}
	if *in == "" {
		return usageErrorf("ledger import: --in is required")
	}
	data, err := readLimited(*in, "the ledger export", signer.MaxLedgerExportBytes)
	if err != nil {
		return err
	}
	kf, lock, err := lockKeyDir(f.datadir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	key, err := c.unlockFile(ctx, f, kf)
	if err != nil {
		return err
	}
	defer key.Zero()
	x, err := signer.ImportLedger(f.datadir, key, data)
	if err != nil {
		return err
	}
	o := ledgerOutput{File: *in, Entries: x.Entries, Head: hex.EncodeToString(x.Head[:])}
	if f.json {
		return writeJSON(c.stdout, o)
	}
	_, err = fmt.Fprintf(c.stdout, "Imported %d ledger entries (head %s) from %s.\n"+
		"Compare the head with the one the old machine printed when it exported.\n", o.Entries, o.Head, safe(o.File))
	return err
}

// errUpgradeDeclined is the operator answering anything but yes to
// ledger upgrade.
var errUpgradeDeclined = errors.New("not upgraded: declined by the operator")

// upgradeOutput is what ledger upgrade prints with --json.
type upgradeOutput struct {
	Datadir  string `json:"datadir"`
	WalletID string `json:"wallet_id"`
	Entries  uint64 `json:"entries"`
	// OldLedger is the SHA-256 of ledger.jsonl before the upgrade (""
	// when there was none), Head the chained ledger's head hash.
	OldLedger string `json:"old_ledger_sha256"`
	Head      string `json:"head"`
	// PolicyHash is "" when no policy is pinned; PolicySeq is 0 when no
	// number was recorded.
	PolicyHash string `json:"policy_hash"`
	PolicySeq  uint64 `json:"policy_seq"`
	// Resumed is set when an upgrade cut short was finished.
	Resumed bool `json:"resumed"`
}

func (c *cli) cmdLedgerUpgrade(ctx context.Context, args []string) error {
	f := c.newFlags("ledger upgrade", true)
	yes := f.fs.Bool("yes", false, "upgrade without asking: the summary is still printed (required with --json)")
	if done, err := c.parse(f, args, progName+" ledger upgrade [--yes] [--datadir DIR] [--passphrase-file FILE] [--json]",
		"Turns a data directory written by the previous release of custos-signer (no signer.state,\n"+
			"ledger lines without \"prev\", policy.seq) into one this release signs from: the same ledger\n"+
			"entries, chained, and a state record sealed under this signer's key that binds them, the\n"+
			"pinned descriptor and the policy with its number. Those files are not authenticated: it\n"+
			"prints what they hold and asks \"Seal these files as this signer's history? [y/N]\" unless\n"+
			"--yes, and only then unlocks the key. See docs/signer.md."); done || err != nil {
		return err
	}
	if f.json && !*yes {
		return usageErrorf("ledger upgrade: --json needs --yes")
	}
	kf, err := signer.ReadKeyFile(f.datadir)
	if err != nil {
		return err
	}
	// Everything is read and checked before anything is written, the lock
	// file included, so a refusal leaves the directory as it was.
	plan, err := signer.PlanUpgrade(f.datadir, kf.Network)
	if err != nil {
		return err
	}
	o := newUpgradeOutput(f.datadir, plan)
	if !f.json {
		if _, err := io.WriteString(c.stdout, upgradeSummaryText(o, plan)); err != nil {
			return err
		}
	}
	if !*yes {
		ok, err := c.confirm(ctx, "", "Seal these files as this signer's history? [y/N] ")
		if err != nil {
			return err
		}
		if !ok {
			return errUpgradeDeclined
		}
	}
	key, err := c.unlockFile(ctx, f, kf)
	if err != nil {
		return err
	}
	defer key.Zero()
	if _, err := signer.LoadPinned(f.datadir, key); err != nil {
		return err
	}
	lock, err := signer.LockDir(f.datadir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	rep, err := signer.UpgradeState(f.datadir, key, &plan)
	if err != nil {
		return err
	}
	o = newUpgradeOutput(f.datadir, rep)
	if f.json {
		return writeJSON(c.stdout, o)
	}
	policy := "no policy pinned"
	if o.PolicyHash != "" {
		policy = fmt.Sprintf("policy %s, number %d", o.PolicyHash, o.PolicySeq)
	}
	_, err = fmt.Fprintf(c.stdout, "Upgraded %s: %d ledger entries chained (head %s) and %s sealed in %s.\n"+
		"The signer accepts wallet indexes below %d on each branch until '%s address verify'\n"+
		"widens its window (docs/signer.md). Export the ledger now: '%s ledger export --out FILE'.\n",
		safe(o.Datadir), o.Entries, o.Head, policy, signer.StateFileName, signer.IndexWindow, progName, progName)
	return err
}

func newUpgradeOutput(dir string, r signer.UpgradeReport) upgradeOutput {
	o := upgradeOutput{Datadir: dir, WalletID: r.WalletID, Entries: r.Entries, Head: hex.EncodeToString(r.Head[:]),
		PolicySeq: r.PolicySeq, Resumed: r.Resumed}
	if r.OldLedger != ([32]byte{}) {
		o.OldLedger = hex.EncodeToString(r.OldLedger[:])
	}
	if r.PolicyHash != ([32]byte{}) {
		o.PolicyHash = hex.EncodeToString(r.PolicyHash[:])
	}
	return o
}

// upgradeSummaryText is what the operator vouches for.
func upgradeSummaryText(o upgradeOutput, r signer.UpgradeReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Upgrade of %s, written by the previous release of %s:\n", safe(o.Datadir), progName)
	fmt.Fprintf(&b, "  Wallet:   %s\n", safe(o.WalletID))
	switch {
	case o.OldLedger == "":
		fmt.Fprintf(&b, "  Ledger:   none (nothing signed)\n")
	case o.Entries == 0:
		fmt.Fprintf(&b, "  Ledger:   empty (nothing signed)\n")
	default:
		fmt.Fprintf(&b, "  Ledger:   %d entries, signed from %s to %s\n", o.Entries,
			r.FirstSignedAt.UTC().Format(time.RFC3339), r.LastSignedAt.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "            %s SHA-256 %s\n", signer.LedgerFileName, o.OldLedger)
	}
	switch {
	case o.PolicyHash == "":
		fmt.Fprintf(&b, "  Policy:   none pinned\n")
	case o.PolicySeq == 0:
		fmt.Fprintf(&b, "  Policy:   %s (number not recorded)\n", o.PolicyHash)
	default:
		fmt.Fprintf(&b, "  Policy:   %s, number %d in the reserve's history\n", o.PolicyHash, o.PolicySeq)
	}
	if r.Resumed {
		fmt.Fprintf(&b, "  (an upgrade of these files was cut short after sealing them; this finishes it)\n")
	}
	fmt.Fprintf(&b, "\nThese files are not authenticated: whoever could write the directory could have changed them.\n"+
		"Upgrading seals them under this signer's key as its own history, so every payment and velocity\n"+
		"figure it counts from now on starts from them. Check the entry count and dates against the\n"+
		"coordinator's record of what this ministry signed before you answer.\n\n")
	return b.String()
}
