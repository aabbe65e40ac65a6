package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/officer"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// registerOutput is what register prints with --json: the wallet when
// --descriptor was given, the policy when --policy was.
type registerOutput struct {
	Status    string `json:"status,omitempty"`
	WalletID  string `json:"wallet_id,omitempty"`
	Network   string `json:"network,omitempty"`
	Threshold int    `json:"threshold,omitempty"`
	Total     int    `json:"total,omitempty"`
	// Position is this signer's 1-based place among the cosigners.
	Position     int             `json:"position,omitempty"`
	Cosigners    []cosignerEntry `json:"cosigners,omitempty"`
	FirstAddress string          `json:"first_address,omitempty"`
	Descriptor   string          `json:"descriptor,omitempty"`
	Replaced     string          `json:"replaced_descriptor,omitempty"`

	Policy *policyOutput `json:"policy,omitempty"`
	// Witness is set when --log-key was given.
	Witness *witnessOutput `json:"witness,omitempty"`
}

type cosignerEntry struct {
	Position   int    `json:"position"`
	KeyRecord  string `json:"key_record"`
	ThisSigner bool   `json:"this_signer"`
}

// policyOutput is the pinned policy as the officers and the other
// ministries compare it.
type policyOutput struct {
	Status string `json:"status"`
	File   string `json:"file"`
	Hash   string `json:"hash"`
	// Replaced is the hash of the policy this one replaced.
	Replaced string         `json:"replaced_hash,omitempty"`
	Officers []officerEntry `json:"officers"`
	// Per24hSat and Per30dSat are the velocity caps; 0 is none.
	Per24hSat int64 `json:"per_24h_sat"`
	Per30dSat int64 `json:"per_30d_sat"`
	// ProofRequesters and ProofApprovals are the policy's proofs rules
	// (defaults filled in): the roles that may request a proof of
	// reserves and how many officers approve its message.
	ProofRequesters []string `json:"proof_requesters"`
	ProofApprovals  int      `json:"proof_approvals"`
}

type officerEntry struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Key is "ed25519:" and the public key in hex, as the policy lists it.
	Key string `json:"key"`
}

func (c *cli) cmdRegister(ctx context.Context, args []string) error {
	f := c.newFlags("register", true)
	desc := f.fs.String("descriptor", "", "the wallet's multipath descriptor wsh(sortedmulti(M,...))#checksum")
	replace := f.fs.Bool("replace", false, "replace a different descriptor that is already registered")
	policyFile := f.fs.String("policy", "", "pin the spending policy in `FILE` (YAML, as 'custosctl policy show --out FILE' writes it)")
	chainFile := f.fs.String("chain", "", "the reserve's policy history with the officers' approvals (`FILE`, from 'custosctl policy show --chain-out FILE'); needed to replace a pinned policy")
	logKey := f.fs.String("log-key", "", "witness the coordinator's audit log of verifier key `KEY` (origin+hash+base64, as custosd prints it)")
	if done, err := c.parse(f, args, progName+" register [--descriptor DESC [--replace]] [--policy FILE [--chain FILE]] [--log-key KEY] [--datadir DIR] [--passphrase-file FILE] [--json]",
		"With --descriptor, unlocks the key, checks that DESC is a wallet for the key's network that\n"+
			"holds this signer's key by exact match of xpub and origin, and pins it in DIR/"+signer.DescriptorFileName+". It\n"+
			"prints the wallet id, M-of-N, this signer's position, every cosigner's key record and the first\n"+
			"receive address: compare them with the other ministries before the wallet is funded.\n"+
			"Registering the pinned descriptor again changes nothing; a different one needs --replace.\n\n"+
			"With --policy, checks the spending policy in FILE and pins it, byte for byte, in\n"+
			"DIR/"+signer.PolicyFileName+". It prints the policy hash and every officer's\n"+
			"id, name and key: compare them with the officers. A different policy replaces the pinned one\n"+
			"only with --chain, whose signatures must show that the pinned policy's officers approved every\n"+
			"change to it (the old and new hashes are printed). Nothing is signed without a pinned policy.\n\n"+
			"With --log-key, pins the audit log's verifier key (after the descriptor): from then on every\n"+
			"PSBT must carry a checkpoint of that log that extends the last one this signer witnessed, and\n"+
			"signing adds this signer's cosignature (docs/audit.md, \"Witnesses\"). It prints this signer's\n"+
			"witness key: give it to the auditors ('custosctl audit verify --witness KEY'); '"+progName+" witness-key'\n"+
			"prints it again.\n\n"+
			"Both unlock the key: the descriptor's and the policy's hashes are recorded in\n"+
			"DIR/"+signer.StateFileName+", authenticated under it. DIR is locked for the whole command."); done || err != nil {
		return err
	}
	if strings.TrimSpace(*desc) == "" && *policyFile == "" && *logKey == "" {
		return usageErrorf("register: --descriptor, --policy or --log-key is required")
	}
	if *logKey != "" {
		if _, err := audit.ParseLogKey(*logKey); err != nil {
			return err
		}
	}
	if *replace && strings.TrimSpace(*desc) == "" {
		return usageErrorf("register: --replace replaces a descriptor; pass --descriptor")
	}
	if *chainFile != "" && *policyFile == "" {
		return usageErrorf("register: --chain goes with --policy")
	}
	if *replace && *policyFile != "" {
		// A new wallet and a new policy are two decisions: one command
		// must not leave the first made and the second refused.
		return usageErrorf("register: replace the descriptor and pin the policy in two steps (--replace without --policy)")
	}
	// Everything that needs no key is checked before the data directory
	// is locked (which creates its lock file) and before anyone types a
	// passphrase: such a refusal leaves DIR as it was.
	kf, err := signer.ReadKeyFile(f.datadir)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*desc) != "" {
		if _, err := signer.ParseRegistration(*desc, kf.Network); err != nil {
			return err
		}
	}
	var policyText []byte
	if *policyFile != "" {
		text, err := readLimited(*policyFile, "the policy", reserve.MaxPolicyBytes)
		if err != nil {
			return err
		}
		if _, err := reserve.ParsePolicy(text); err != nil {
			return err
		}
		policyText = text
	}
	var chain []reserve.PolicyLink
	if *chainFile != "" {
		data, err := readLimited(*chainFile, "the policy chain", reserve.MaxPolicyChainBytes)
		if err != nil {
			return err
		}
		if chain, err = reserve.ParsePolicyChain(data); err != nil {
			return err
		}
	}

	// Then the key, and what needs it, still before the lock: a wrong
	// passphrase or a descriptor without this signer's key leaves DIR as
	// it was. Both are recorded in the state record, sealed under the
	// key, with the data directory locked; the checks run again there.
	key, err := c.unlockFile(ctx, f, kf)
	if err != nil {
		return err
	}
	defer key.Zero()
	if strings.TrimSpace(*desc) != "" {
		if _, err := checkDescriptor(f, key, *desc, *replace); err != nil {
			return err
		}
	}
	lock, err := signer.LockDir(f.datadir)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	var out registerOutput
	var status signer.RegisterStatus
	// With both, neither is written unless both pass: the descriptor's
	// checks run first without writing, then the policy is pinned (which
	// writes nothing when it refuses), then the descriptor.
	if strings.TrimSpace(*desc) != "" && policyText != nil {
		if _, err := checkDescriptor(f, key, *desc, *replace); err != nil {
			return err
		}
	}
	if policyText != nil {
		pin, err := signer.PinPolicy(f.datadir, key, policyText, chain)
		if err != nil {
			return err
		}
		out.Policy = newPolicyOutput(pin, filepath.Join(f.datadir, signer.PolicyFileName))
	}
	if strings.TrimSpace(*desc) != "" {
		reg, err := registerDescriptor(f, key, *desc, *replace)
		if err != nil {
			return err
		}
		policy := out.Policy
		out, status = walletOutput(reg, key.Network()), reg.Status
		out.Policy = policy
	}
	if *logKey != "" {
		if out.Witness, err = pinLogKey(f, key, *logKey); err != nil {
			return err
		}
	}

	if f.json {
		return writeJSON(c.stdout, out)
	}
	var text string
	if out.Status != "" {
		text = registerText(out, status)
	}
	if out.Policy != nil {
		if text != "" {
			text += "\n"
		}
		text += pinnedPolicyText(out.Policy)
	}
	if out.Witness != nil {
		if text != "" {
			text += "\n"
		}
		text += witnessText(out.Witness)
	}
	_, err = io.WriteString(c.stdout, text)
	return err
}

// registerDescriptor pins desc.
func registerDescriptor(f *flags, key *signer.Key, desc string, replace bool) (*signer.Registration, error) {
	return registerWith(signer.Register, f, key, desc, replace)
}

// checkDescriptor makes registerDescriptor's checks and writes nothing.
func checkDescriptor(f *flags, key *signer.Key, desc string, replace bool) (*signer.Registration, error) {
	return registerWith(signer.CheckRegister, f, key, desc, replace)
}

func registerWith(register func(string, *signer.Key, string, bool) (*signer.Registration, error),
	f *flags, key *signer.Key, desc string, replace bool) (*signer.Registration, error) {
	reg, err := register(f.datadir, key, desc, replace)
	if errors.Is(err, signer.ErrOtherWalletPinned) {
		return nil, fmt.Errorf("%w; pass --replace to replace it", err)
	}
	if err != nil {
		return nil, err
	}
	return reg, nil
}

func walletOutput(reg *signer.Registration, n reserve.Network) registerOutput {
	d := reg.Descriptor
	out := registerOutput{
		Status:       reg.Status.String(),
		WalletID:     d.WalletID(),
		Network:      n.String(),
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
	return out
}

func newPolicyOutput(pin *signer.PolicyPin, file string) *policyOutput {
	out := &policyOutput{
		Status:    pin.Status.String(),
		File:      file,
		Hash:      hex.EncodeToString(pin.Hash[:]),
		Officers:  []officerEntry{},
		Per24hSat: pin.Policy.Velocity.Per24hSat,
		Per30dSat: pin.Policy.Velocity.Per30dSat,
	}
	proofs := pin.Policy.ProofRules()
	out.ProofRequesters, out.ProofApprovals = proofs.Requesters, proofs.Approvals
	if pin.Status == signer.Replaced {
		out.Replaced = hex.EncodeToString(pin.Previous[:])
	}
	for _, o := range pin.Policy.Officers {
		out.Officers = append(out.Officers, officerEntry{ID: o.ID, Name: o.Name, Key: officer.FormatPublicKey(o.Key)})
	}
	return out
}

// readLimited reads the file of what at path, of at most limit bytes.
func readLimited(path, what string, limit int64) ([]byte, error) {
	data, err := durable.ReadLimited(path, limit)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return nil, reserve.Errorf(reserve.CodeNotFound, "unable to open %s: %w", what, err)
	}
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInvalid, "%s: %w", what, err)
	}
	return data, nil
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
		fmt.Fprintf(&b, "Replaced the registered descriptor\n  %s\n", safe(prev))
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
	if 2*out.Threshold <= out.Total {
		// Each signer's ledger refuses a second payment for one approved
		// intent; that stops a double payment only if any two groups of
		// M signers share one.
		fmt.Fprintf(&b, "\nNote: in a %d-of-%d wallet two groups of %d ministries share no signer, so each could\n"+
			"sign a different transaction for the same approved payment without any ledger seeing both.\n"+
			"Against a compromised coordinator this wallet relies on the ministries comparing what they sign.\n",
			out.Threshold, out.Total, out.Threshold)
	}
	return b.String()
}

// pinnedPolicyText is the pinned policy as the officers compare it: its
// hash and every officer's id, name and key.
func pinnedPolicyText(p *policyOutput) string {
	var b strings.Builder
	switch p.Status {
	case signer.Unchanged.String():
		fmt.Fprintf(&b, "The pinned spending policy is unchanged (%s).\n", safe(p.File))
	case signer.Replaced.String():
		fmt.Fprintf(&b, "Replaced the pinned spending policy in %s.\n", safe(p.File))
		fmt.Fprintf(&b, "old policy %s\n", p.Replaced)
	default:
		fmt.Fprintf(&b, "Pinned the spending policy in %s.\n", safe(p.File))
	}
	fmt.Fprintf(&b, "policy %s\n\nOfficers:\n", p.Hash)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, o := range p.Officers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", safe(o.ID), safe(o.Name), o.Key)
	}
	// A strings.Builder never fails a write.
	_ = tw.Flush()
	fmt.Fprintf(&b, "\nVelocity caps, counted from this signer's own ledger: %s per 24 hours, %s per 30 days.\n",
		capText(p.Per24hSat), capText(p.Per30dSat))
	fmt.Fprintf(&b, "Proofs of reserves: requested by %s; %d officer approval(s) of the message.\n",
		strings.Join(p.ProofRequesters, " or "), p.ProofApprovals)
	fmt.Fprintf(&b, "Compare the policy hash and every officer's key with the officers and the other ministries.\n")
	return b.String()
}

func capText(sat int64) string {
	if sat == 0 {
		return "no cap"
	}
	return reserve.FormatBTC(sat) + " BTC"
}
