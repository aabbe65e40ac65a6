package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/signer"
)

// witnessOutput is what register --log-key and witness-key print with
// --json.
type witnessOutput struct {
	// Status is "pinned", "unchanged" (register) or "" (witness-key).
	Status string `json:"status,omitempty"`
	// LogKey is the pinned log verifier key, "" when none is pinned.
	LogKey string `json:"log_key"`
	// WitnessKey is this signer's witness verifier key.
	WitnessKey string `json:"witness_key"`
	// WitnessedSize and WitnessedRoot are the last checkpoint this
	// signer witnessed (size 0: none yet).
	WitnessedSize int64  `json:"witnessed_size"`
	WitnessedRoot string `json:"witnessed_root,omitempty"`
}

// pinLogKey pins vkey in the locked data directory and says what was done.
func pinLogKey(f *flags, key *signer.Key, vkey string) (*witnessOutput, error) {
	changed, err := signer.PinLogKey(f.datadir, key, strings.TrimSpace(vkey))
	if err != nil {
		return nil, err
	}
	out, err := witnessState(f, key)
	if err != nil {
		return nil, err
	}
	out.Status = "unchanged"
	if changed {
		out.Status = "pinned"
	}
	return out, nil
}

// witnessState reads what the data directory witnesses, and the key's
// witness key.
func witnessState(f *flags, key *signer.Key) (*witnessOutput, error) {
	wkey, err := signer.WitnessKey(key)
	if err != nil {
		return nil, err
	}
	logKey, cp, err := signer.LogKey(f.datadir)
	if err != nil {
		return nil, err
	}
	out := &witnessOutput{LogKey: logKey, WitnessKey: wkey, WitnessedSize: cp.Size}
	if cp.Size > 0 {
		out.WitnessedRoot = cp.Root.String()
	}
	return out, nil
}

// witnessText says what is witnessed, and the witness key.
func witnessText(o *witnessOutput) string {
	var b strings.Builder
	switch {
	case o.LogKey == "":
		b.WriteString("Audit log: none pinned; this signer witnesses nothing (register --log-key KEY)\n")
	case o.Status != "":
		fmt.Fprintf(&b, "Audit log key %s: %s\n", o.Status, safe(o.LogKey))
	default:
		fmt.Fprintf(&b, "Audit log key: %s\n", safe(o.LogKey))
	}
	if o.WitnessedSize > 0 {
		fmt.Fprintf(&b, "Last witnessed checkpoint: size %d, root %s\n", o.WitnessedSize, o.WitnessedRoot)
	} else if o.LogKey != "" {
		b.WriteString("Last witnessed checkpoint: none yet\n")
	}
	fmt.Fprintf(&b, "Witness key (give it to the auditors: custosctl audit verify --witness KEY):\n  %s\n", o.WitnessKey)
	return b.String()
}

func (c *cli) cmdWitnessKey(ctx context.Context, args []string) error {
	f := c.newFlags("witness-key", true)
	if done, err := c.parse(f, args, progName+" witness-key [--datadir DIR] [--passphrase-file FILE] [--json]",
		"Unlocks the key and prints this signer's audit log witness key (an Ed25519 note key derived\n"+
			"from the cosigner key, named "+audit.WitnessPrefix+"FINGERPRINT), the log key it witnesses and\n"+
			"the last checkpoint it witnessed (docs/audit.md, \"Witnesses\")."); done || err != nil {
		return err
	}
	kf, err := signer.ReadKeyFile(f.datadir)
	if err != nil {
		return err
	}
	key, err := c.unlockFile(ctx, f, kf)
	if err != nil {
		return err
	}
	defer key.Zero()
	out, err := witnessState(f, key)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(c.stdout, out)
	}
	_, err = io.WriteString(c.stdout, witnessText(out))
	return err
}
