package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/signer"
)

// registerOutput is what register prints with --json.
type registerOutput struct {
	Status    string `json:"status"`
	WalletID  string `json:"wallet_id"`
	Network   string `json:"network"`
	Threshold int    `json:"threshold"`
	Total     int    `json:"total"`
	// Position is this signer's 1-based place among the cosigners.
	Position     int             `json:"position"`
	Cosigners    []cosignerEntry `json:"cosigners"`
	FirstAddress string          `json:"first_address"`
	Descriptor   string          `json:"descriptor"`
	Replaced     string          `json:"replaced_descriptor,omitempty"`
}

type cosignerEntry struct {
	Position   int    `json:"position"`
	KeyRecord  string `json:"key_record"`
	ThisSigner bool   `json:"this_signer"`
}

func (c *cli) cmdRegister(ctx context.Context, args []string) error {
	f := c.newFlags("register", true)
	desc := f.fs.String("descriptor", "", "the wallet's multipath descriptor wsh(sortedmulti(M,...))#checksum (required)")
	replace := f.fs.Bool("replace", false, "replace a different descriptor that is already registered")
	if done, err := c.parse(f, args, progName+" register --descriptor DESC [--replace] [--datadir DIR] [--passphrase-file FILE] [--json]",
		"Unlocks the key, checks that DESC is a wallet for the key's network that holds this signer's\n"+
			"key by exact match of xpub and origin, and pins it in DIR/"+signer.DescriptorFileName+". It prints the\n"+
			"wallet id, M-of-N, this signer's position, every cosigner's key record and the first\n"+
			"receive address: compare them with the other ministries before the wallet is funded.\n"+
			"Registering the pinned descriptor again changes nothing; a different one needs --replace."); done || err != nil {
		return err
	}
	if strings.TrimSpace(*desc) == "" {
		return usageErrorf("register: --descriptor is required")
	}
	key, err := c.unlock(ctx, f)
	if err != nil {
		return err
	}
	defer key.Zero()
	reg, err := signer.Register(f.datadir, key, *desc, *replace)
	if errors.Is(err, signer.ErrOtherWalletPinned) {
		return fmt.Errorf("%w; pass --replace to replace it", err)
	}
	if err != nil {
		return err
	}

	d := reg.Descriptor
	out := registerOutput{
		Status:       reg.Status.String(),
		WalletID:     d.WalletID(),
		Network:      key.Network().String(),
		Threshold:    d.Threshold(),
		Total:        len(d.Cosigners()),
		Position:     reg.Position + 1,
		FirstAddress: reg.FirstAddress,
		Descriptor:   d.String(),
		Replaced:     reg.Previous,
	}
	for i, cs := range d.Cosigners() {
		out.Cosigners = append(out.Cosigners, cosignerEntry{Position: i + 1, KeyRecord: multisig.FormatKeyRecord(cs), ThisSigner: i == reg.Position})
	}
	if f.json {
		return writeJSON(c.stdout, out)
	}
	_, err = io.WriteString(c.stdout, registerText(out, reg.Status))
	return err
}

func registerText(out registerOutput, status signer.RegisterStatus) string {
	var b strings.Builder
	switch status {
	case signer.Unchanged:
		fmt.Fprintf(&b, "Already registered; nothing changed.\n")
	case signer.Replaced:
		prev := out.Replaced
		if prev == "" {
			prev = "(unreadable)"
		}
		fmt.Fprintf(&b, "Replaced the registered descriptor\n  %s\n", prev)
	default:
		fmt.Fprintf(&b, "Registered.\n")
	}
	fmt.Fprintf(&b, "Wallet:    %s\n", out.WalletID)
	fmt.Fprintf(&b, "Policy:    %d-of-%d P2WSH sortedmulti on %s\n", out.Threshold, out.Total, out.Network)
	fmt.Fprintf(&b, "This signer is cosigner %d of %d.\n\nCosigners:\n", out.Position, out.Total)
	for _, cs := range out.Cosigners {
		mark := ""
		if cs.ThisSigner {
			mark = "  (this signer)"
		}
		fmt.Fprintf(&b, "  %2d. %s%s\n", cs.Position, cs.KeyRecord, mark)
	}
	fmt.Fprintf(&b, "\nFirst receive address: %s\n\n", out.FirstAddress)
	fmt.Fprintf(&b, "Compare the wallet, the policy, every key and the first receive address with the\n")
	fmt.Fprintf(&b, "other ministries and the coordinator before any funds are sent to this wallet.\n")
	return b.String()
}
