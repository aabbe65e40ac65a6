package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/custos-reserve/custos/backup"
	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// restore is `custosd restore FILE --datadir NEW --identity AGEKEYFILE
// [--network N]`: it decrypts a backup made by custosctl admin backup,
// checks it (header, SHA-256s, checkpoint, network) and installs the
// store and the keys into a new, empty data dir, marked restored: the
// daemon started on it exports no PSBT until an admin runs custosctl
// admin ack-restore. A refused backup leaves nothing behind.
func restore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("custosd restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: custosd restore FILE --datadir NEW --identity AGEKEYFILE [--network N]")
		fs.PrintDefaults()
	}
	dataDir := fs.String("datadir", "", "the new data dir: absent or empty (required)")
	identity := fs.String("identity", "", "age identity file (AGE-SECRET-KEY-1…) of one of the backup's recipients (required)")
	network := fs.String("network", "", "refuse a backup of any other network: mainnet, testnet, signet or regtest")
	// FILE may come before the flags, as the usage line writes it.
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("restore: unexpected argument %q", fs.Arg(0))
	case file == "":
		return errors.New("restore: the backup FILE is required")
	case *dataDir == "":
		return errors.New("restore: --datadir NEW is required")
	case *identity == "":
		return errors.New("restore: --identity AGEKEYFILE is required")
	}
	var net reserve.Network
	if *network != "" {
		var err error
		if net, err = reserve.ParseNetwork(*network); err != nil {
			return fmt.Errorf("restore: --network: %w", err)
		}
	}
	idf, err := os.Open(*identity)
	if err != nil {
		return fmt.Errorf("restore: --identity: %w", err)
	}
	ids, err := backup.ParseIdentities(idf)
	_ = idf.Close()
	if err != nil {
		return fmt.Errorf("restore: --identity %s: %w", *identity, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()

	br, err := store.Restore(ctx, f, ids, store.RestoreOptions{
		DataDir: *dataDir, Network: net, LogKeyFile: daemon.LogKeyFile,
		Timeout: time.Second, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fmt.Errorf("restore: %s: %w", file, err)
	}
	h := br.Header
	fmt.Fprintf(stdout, "restored %s into %s\n", file, *dataDir)
	fmt.Fprintf(stdout, "backup header-sha256 %x, taken %s\n", br.HeaderDigest, h.Time.UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "network %s, wallet %s, schema %d, store %d bytes sha256 %s, audit size %d\n",
		h.Network, h.WalletID, h.Schema, h.Store.Size, h.Store.SHA256, h.CheckpointSize)
	fmt.Fprintln(stdout, "exports are refused until the ministries confirm they witnessed no later log and an admin runs custosctl admin ack-restore")
	return nil
}

var _ daemon.BackupStore = (*store.DB)(nil)
