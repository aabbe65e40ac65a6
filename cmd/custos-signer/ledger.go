package main

import (
	"context"
	"encoding/hex"
	"fmt"

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
	sub := ""
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "export":
		return c.cmdLedgerExport(args)
	case "import":
		return c.cmdLedgerImport(ctx, args)
	case "", "-h", "-help", "--help":
		_, err := fmt.Fprintf(c.stdout, "Usage:\n  %s ledger export --out FILE [--datadir DIR] [--json]\n"+
			"  %s ledger import --in FILE [--datadir DIR] [--passphrase-file FILE] [--json]\n\n"+
			"Moves this signer's memory of what it signed (ledger, state record, pinned policy) to new\n"+
			"hardware: export on the old machine, restore the key and register the same descriptor on the\n"+
			"new one, then import. See README.md.\n", progName, progName)
		if err == nil && sub == "" {
			return usageErrorf("ledger: want 'ledger export' or 'ledger import'")
		}
		return err
	}
	return usageErrorf("ledger: unknown command %q; want 'ledger export' or 'ledger import'", sub)
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
		"registering the same descriptor there; compare the head it prints with this one.\n", o.Entries, o.Head, o.File, progName)
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
	kf, err := signer.ReadKeyFile(f.datadir)
	if err != nil {
		return err
	}
	lock, err := signer.LockDir(f.datadir)
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
		"Compare the head with the one the old machine printed when it exported.\n", o.Entries, o.Head, o.File)
	return err
}
