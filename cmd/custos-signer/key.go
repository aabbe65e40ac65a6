package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

const backupWarning = "Write these words down, in order, and keep them offline in a safe place. " +
	"They are the only backup of this ministry's key: anyone who has them can sign for the reserve, " +
	"and without them a lost or forgotten key file cannot be recovered. They will not be shown again."

// keyOutput is what init and xpub print with --json.
type keyOutput struct {
	Network     string `json:"network"`
	Account     uint32 `json:"account"`
	KeyRecord   string `json:"key_record"`
	Fingerprint string `json:"fingerprint"`
	Path        string `json:"path"`
	XPub        string `json:"xpub"`
	KeyFile     string `json:"key_file"`
	// Only init sets these.
	Restored *bool  `json:"restored,omitempty"`
	Mnemonic string `json:"mnemonic,omitempty"`
	Warning  string `json:"warning,omitempty"`
}

func newKeyOutput(n reserve.Network, account uint32, rec reserve.Cosigner, dir string) keyOutput {
	return keyOutput{
		Network:     n.String(),
		Account:     account,
		KeyRecord:   multisig.FormatKeyRecord(rec),
		Fingerprint: fmt.Sprintf("%08x", rec.Fingerprint),
		Path:        multisig.FormatPath(rec.Path),
		XPub:        rec.XPub,
		KeyFile:     filepath.Join(dir, signer.KeyFileName),
	}
}

func (c *cli) cmdInit(ctx context.Context, args []string) error {
	f := c.newFlags("init", true)
	network := f.fs.String("network", "", "network of the key: mainnet, testnet, signet or regtest (required)")
	account := f.fs.Uint("account", 0, "BIP-48 account number")
	restore := f.fs.Bool("restore", false, "restore an existing BIP-39 mnemonic, read as one line from standard input, instead of making a new one")
	mainnet := f.fs.Bool(ackMainnet, false, "required with --network mainnet: this key is meant to hold real bitcoin")
	if done, err := c.parse(f, args, progName+" init --network NET [--account N] [--restore] [--datadir DIR] [--passphrase-file FILE] [--json]",
		"Creates this signer's cosigner key from a new 24-word BIP-39 mnemonic, shown once for the\n"+
			"offline backup, or with --restore from an existing mnemonic. The key is stored encrypted in\n"+
			"DIR/"+signer.KeyFileName+"; its key record [fingerprint/48'/coin'/account'/2']xpub is printed for the\n"+
			"coordinator. An existing key file is never overwritten."); done || err != nil {
		return err
	}
	if *network == "" {
		return usageErrorf("init: --network is required (mainnet, testnet, signet or regtest)")
	}
	net, err := reserve.ParseNetwork(*network)
	if err != nil {
		return usageErrorf("init: --network: %w", err)
	}
	if net == reserve.Mainnet && !*mainnet {
		return usageErrorf("init: --network mainnet needs --%s: a key for real bitcoin is made only when its operator says so", ackMainnet)
	}
	if *account >= 1<<31 {
		return usageErrorf("init: --account %d is not below 2^31", *account)
	}
	// Refuse before asking for anything.
	if err := signer.CheckNoKey(f.datadir); err != nil {
		return err
	}
	var mnemonic string
	if *restore {
		if mnemonic, err = c.readMnemonic(ctx); err != nil {
			return err
		}
		// Name a mistyped word before the passphrase is asked for.
		if mnemonic, err = signer.ParseMnemonic(mnemonic); err != nil {
			return err
		}
	}
	pass, err := c.passphrases(f).New(ctx)
	if err != nil {
		return err
	}
	defer clear(pass)

	cfg := signer.Config{Network: net, Account: uint32(*account)}
	var rec reserve.Cosigner
	if *restore {
		rec, err = signer.Restore(f.datadir, cfg, mnemonic, pass)
		mnemonic = ""
	} else {
		mnemonic, rec, err = signer.Init(f.datadir, cfg, pass)
	}
	if err != nil {
		return err
	}

	out := newKeyOutput(net, cfg.Account, rec, f.datadir)
	restored := *restore
	out.Restored = &restored
	if f.json {
		if !restored {
			out.Mnemonic, out.Warning = mnemonic, backupWarning
		}
		return writeJSON(c.stdout, out)
	}
	var b strings.Builder
	if !restored {
		fmt.Fprintf(&b, "IMPORTANT: this is the mnemonic of the new key.\n%s\n\n%s\n", wrap(backupWarning, 78), wordGrid(mnemonic))
	} else {
		fmt.Fprintf(&b, "Restored the key of the mnemonic.\n\n")
	}
	fmt.Fprintf(&b, "Key record (give this to the coordinator):\n  %s\n\n", out.KeyRecord)
	fmt.Fprintf(&b, "Network: %s, account %d\nKey file: %s (encrypted with your passphrase)\n", out.Network, out.Account, out.KeyFile)
	_, err = io.WriteString(c.stdout, b.String())
	return err
}

func (c *cli) cmdXpub(ctx context.Context, args []string) error {
	f := c.newFlags("xpub", true)
	if done, err := c.parse(f, args, progName+" xpub [--datadir DIR] [--passphrase-file FILE] [--json]",
		"Unlocks the key, derives its key record again from the seed and prints it:\n"+
			"[fingerprint/48'/coin'/account'/2']xpub, as the wallet descriptor must list it."); done || err != nil {
		return err
	}
	key, err := c.unlock(ctx, f)
	if err != nil {
		return err
	}
	defer key.Zero()
	out := newKeyOutput(key.Network(), key.Account(), key.Record(), f.datadir)
	if f.json {
		return writeJSON(c.stdout, out)
	}
	_, err = fmt.Fprintf(c.stdout, "%s\n", out.KeyRecord)
	return err
}

// readMnemonic reads the mnemonic to restore: hidden on a terminal,
// otherwise the first line of standard input. It is never a flag.
func (c *cli) readMnemonic(ctx context.Context) (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		words, err := c.prompt(ctx, "BIP-39 mnemonic, words separated by spaces (not shown): ")
		defer clear(words)
		if err != nil {
			return "", fmt.Errorf("unable to read the mnemonic: %w", err)
		}
		return string(words), nil
	}
	line, err := bufio.NewReaderSize(io.LimitReader(c.stdin, 4096), 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("unable to read the mnemonic from standard input: %w", err)
	}
	if strings.TrimSpace(line) == "" {
		return "", reserve.Invalid("mnemonic", "no mnemonic on standard input (give the words as one line)")
	}
	return line, nil
}

// wordGrid lays the mnemonic out numbered in four columns, read down, the
// way backup cards are filled in.
func wordGrid(mnemonic string) string {
	words := strings.Fields(mnemonic)
	const cols = 4
	rows := (len(words) + cols - 1) / cols
	var b strings.Builder
	for r := 0; r < rows; r++ {
		var line strings.Builder
		for col := 0; col < cols; col++ {
			if i := col*rows + r; i < len(words) {
				fmt.Fprintf(&line, "  %2d. %-10s", i+1, words[i])
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteString("\n")
	}
	return b.String()
}

// wrap breaks s into lines of at most width characters.
func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		if n > 0 && n+1+len(w) > width {
			b.WriteString("\n")
			n = 0
		}
		if n > 0 {
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
