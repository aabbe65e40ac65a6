package multisig

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/txscript"

	"github.com/custos-reserve/custos/reserve"
)

// ProprietaryID is the identifier of Custos's BIP-174 proprietary global
// fields, which carry the approval intent and the officers' approvals so
// that an air-gapped signer needs nothing but the PSBT file.
// docs/approvals.md specifies them.
const ProprietaryID = "custos"

// Subtypes of the proprietary fields.
const (
	// PropIntent: key data empty; value the intent's canonical encoding.
	PropIntent = 0x00
	// PropApproval: key data the officer's 32-byte Ed25519 public key;
	// value the 64-byte signature over the intent's approve digest.
	PropApproval = 0x01
	// PropCheckpoint: key data empty; value the audit log's signed
	// checkpoint (a note) as the coordinator exported the PSBT
	// (docs/audit.md, "Witnesses").
	PropCheckpoint = 0x02
	// PropWitnessProof: key data a cosigner's 4-byte master fingerprint as
	// BIP-174 writes it; value the consistency proof text from the last
	// checkpoint that cosigner witnessed to PropCheckpoint's.
	PropWitnessProof = 0x03
	// PropCosignature: key data a cosigner's fingerprint; value its witness
	// verifier key, a newline, and the checkpoint cosigned by it.
	PropCosignature = 0x04
)

// Bounds on the witness fields' values: a checkpoint note with a few
// signatures, a consistency proof of at most 128 hashes, a key line and a
// checkpoint with two signatures.
const (
	maxCheckpointValue  = 16 << 10
	maxProofValue       = 8 << 10
	maxCosignatureValue = 2 << 10
)

// proprietaryType is BIP-174's PSBT_GLOBAL_PROPRIETARY.
const proprietaryType = 0xfc

// proprietaryKey is the full key of a Custos field: 0xFC, the identifier
// with its compact-size length, the subtype as a compact size, key data.
func proprietaryKey(subtype byte, keyData []byte) []byte {
	k := []byte{proprietaryType, byte(len(ProprietaryID))}
	k = append(k, ProprietaryID...)
	k = append(k, subtype)
	return append(k, keyData...)
}

// custosPrefix is what every Custos field's key starts with.
var custosPrefix = proprietaryKey(0, nil)[:2+len(ProprietaryID)]

// SetApprovals replaces p's Custos fields with the intent and the
// approvals, in canonical order: the intent, then the approvals by
// officer key. Other global fields are kept. Two approvals by one key are
// refused; the signatures are not checked here (CountApprovals does).
func SetApprovals(p *psbt.Packet, in *reserve.Intent, approvals []reserve.Approval) error {
	if p == nil {
		return reserve.Invalid("psbt", "no PSBT")
	}
	enc, err := in.Encode()
	if err != nil {
		return err
	}
	sorted := slices.Clone(approvals)
	slices.SortFunc(sorted, func(a, b reserve.Approval) int { return bytes.Compare(a.OfficerKey[:], b.OfficerKey[:]) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].OfficerKey == sorted[i-1].OfficerKey {
			return reserve.Invalid("approvals", "two approvals by officer key %x", sorted[i].OfficerKey)
		}
	}
	kept := slices.DeleteFunc(slices.Clone(p.Unknowns), func(u *psbt.Unknown) bool {
		return u == nil || bytes.HasPrefix(u.Key, custosPrefix)
	})
	kept = append(kept, &psbt.Unknown{Key: proprietaryKey(PropIntent, nil), Value: enc})
	for _, a := range sorted {
		kept = append(kept, &psbt.Unknown{Key: proprietaryKey(PropApproval, a.OfficerKey[:]), Value: bytes.Clone(a.Signature[:])})
	}
	p.Unknowns = kept
	return nil
}

// ReadApprovals returns the intent and approvals p carries, or a nil
// intent and no approvals when it carries no Custos field. It refuses,
// as CodeInvalid with field "psbt.custos": an unknown subtype, a field
// twice, an intent that DecodeIntent refuses, an approval key or
// signature of the wrong length, approvals without an intent. It checks
// no signature.
func ReadApprovals(p *psbt.Packet) (*reserve.Intent, []reserve.Approval, error) {
	if p == nil {
		return nil, nil, reserve.Invalid("psbt", "no PSBT")
	}
	var (
		intent    *reserve.Intent
		approvals []reserve.Approval
		seen      = map[string]bool{}
	)
	bad := func(format string, args ...any) error { return reserve.Invalid("psbt.custos", format, args...) }
	for _, u := range p.Unknowns {
		if u == nil || !bytes.HasPrefix(u.Key, custosPrefix) {
			continue
		}
		if seen[string(u.Key)] {
			return nil, nil, bad("field %x appears twice", u.Key)
		}
		seen[string(u.Key)] = true
		rest := u.Key[len(custosPrefix):]
		if len(rest) == 0 {
			return nil, nil, bad("field %x has no subtype", u.Key)
		}
		subtype, keyData := rest[0], rest[1:]
		switch subtype {
		case PropIntent:
			if len(keyData) != 0 {
				return nil, nil, bad("intent field has %d bytes of key data, want none", len(keyData))
			}
			in, err := reserve.DecodeIntent(u.Value)
			if err != nil {
				return nil, nil, bad("intent: %w", err)
			}
			intent = &in
		case PropCheckpoint, PropWitnessProof, PropCosignature:
			// Read by ReadWitness; checked here too, so that every reader
			// of the Custos fields refuses the same PSBTs.
			if _, err := witnessField(subtype, keyData, u.Value); err != nil {
				return nil, nil, err
			}
		case PropApproval:
			if len(keyData) != 32 {
				return nil, nil, bad("approval field key has %d bytes of officer key, want 32", len(keyData))
			}
			if len(u.Value) != 64 {
				return nil, nil, bad("approval by officer key %x has a %d-byte signature, want 64", keyData, len(u.Value))
			}
			var a reserve.Approval
			copy(a.OfficerKey[:], keyData)
			copy(a.Signature[:], u.Value)
			approvals = append(approvals, a)
		default:
			return nil, nil, bad("unknown subtype 0x%02x", subtype)
		}
	}
	if intent == nil && len(approvals) > 0 {
		return nil, nil, bad("%d approvals and no intent", len(approvals))
	}
	return intent, approvals, nil
}

// IntentPayments returns the intent's payees as the policy sees them:
// each script's address on network n (the script in hex when it has no
// address) and its amount, in order.
func IntentPayments(in *reserve.Intent, n reserve.Network) ([]reserve.Payment, error) {
	params, err := NetParams(n)
	if err != nil {
		return nil, err
	}
	pays := make([]reserve.Payment, len(in.Payees))
	for i, p := range in.Payees {
		addr := scriptAddress(p.Script, params)
		if addr == "" {
			addr = fmt.Sprintf("script:%x", p.Script)
		}
		pays[i] = reserve.Payment{Address: addr, AmountSat: p.AmountSat}
	}
	return pays, nil
}

// CheckIntentOutputs checks that the transaction of a PSBT that Analyze
// accepted carries out the intent: its payees (every output that is not
// the wallet's change) are exactly the intent's, script and amount, each
// matched once, and its fee is within the intent's cap. Refusals are
// CodeInvalid naming the output ("output[2]") or "fee".
func CheckIntentOutputs(a Analysis, in *reserve.Intent) error {
	used := make([]bool, len(in.Payees))
	for _, out := range a.Payees {
		k := -1
		for j, p := range in.Payees {
			if !used[j] && p.AmountSat == out.AmountSat && bytes.Equal(p.Script, out.Script) {
				k = j
				break
			}
		}
		if k < 0 {
			return reserve.Invalid(outputField(out.Vout), "pays %s BTC to %s, which the approved intent does not",
				reserve.FormatBTC(out.AmountSat), describeScript(out))
		}
		used[k] = true
	}
	for k, ok := range used {
		if !ok {
			return reserve.Invalid("outputs", "the approved payee %d (%s BTC to script %x) is not paid",
				k, reserve.FormatBTC(in.Payees[k].AmountSat), in.Payees[k].Script)
		}
	}
	if a.FeeSat > in.FeeCapSat {
		return reserve.Invalid("fee", "fee %s BTC is over the approved cap of %s BTC",
			reserve.FormatBTC(a.FeeSat), reserve.FormatBTC(in.FeeCapSat))
	}
	return nil
}

// describeScript names an output by address, or by script when it has no
// address.
func describeScript(o OutputInfo) string {
	if o.Address != "" {
		return o.Address
	}
	if class := txscript.GetScriptClass(o.Script); class != txscript.NonStandardTy {
		return fmt.Sprintf("%s script %x", class, o.Script)
	}
	return fmt.Sprintf("script %x", o.Script)
}
