package multisig

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// InputInfo is one input of an analyzed PSBT, as recomputed from the
// descriptor.
type InputInfo struct {
	OutPoint  wire.OutPoint
	AmountSat int64
	Branch    reserve.Branch
	Index     uint32
}

// OutputInfo is one output of an analyzed PSBT. Address is empty for a
// script that has no address (OP_RETURN, bare scripts).
type OutputInfo struct {
	Vout      int
	Address   string
	Script    []byte
	AmountSat int64
	// IsChange is true only for an output whose script Analyze rebuilt
	// from the descriptor's change branch at ChangeIndex.
	IsChange    bool
	ChangeIndex uint32
}

// Analysis is what a PSBT does, established from the PSBT's previous
// transactions and the descriptor alone.
type Analysis struct {
	Inputs []InputInfo
	// Payees are every output that is not proven change, in order.
	Payees []OutputInfo
	Change []OutputInfo
	// FeeSat is InputSat - OutputSat, always positive. VSize is
	// EstimateVSize's figure (largest possible signatures), and
	// FeeRateMilli the fee per 1000 vB, rounded down.
	InputSat, OutputSat, FeeSat, VSize int64
	FeeRateMilli                       int64
}

// Analyze is the check both the daemon and every signer run before
// trusting a PSBT: it recomputes everything from the descriptor and trusts
// nothing the PSBT asserts about itself.
//
// Every input must carry its previous transaction (non_witness_utxo) with
// the input's txid, whose output equals witness_utxo in amount and script
// (the segwit fee attack, CVE-2020-14199); BIP-32 derivations of every
// cosigner that name one (branch, index) — path = the cosigner's origin
// path + [branch, index], branch 0 or 1, index below 2^31 — whose keys are
// the ones Derive(branch, index) gives; and the witness_utxo script and
// witness_script that Derive gives. Its sighash type must be absent or
// ALL. No outpoint may be spent twice, and no input may be finalized or
// carry redeem-script or taproot fields.
//
// An output is change only if it carries every cosigner's derivation for
// (BranchChange, index) with the derived keys and its script (and
// witness_script, if present) is the one the descriptor gives there. Any
// other output is a payee, and must not claim to be the wallet's: one
// that carries a derivation (P2WSH or taproot) with a cosigner's master
// fingerprint, whatever its path, since devices match derivations to
// themselves by fingerprint alone, or a witness_script, is refused ("fake
// change"); derivations of foreign fingerprints only are allowed. Global
// xpubs, if present, must each be one of the wallet's cosigners, key and
// origin.
//
// The fee must be positive. Every refusal is a *reserve.Error of code
// CodeInvalid whose Field names the place ("input[3]", "output[1]",
// "xpub[0]", "fee", "psbt") and whose message says why. Analyze does not
// modify p and may run concurrently with other readers of p; it uses every
// core (GOMAXPROCS) to derive the inputs' keys.
func Analyze(p *psbt.Packet, d *Descriptor) (Analysis, error) {
	if err := checkPacket(p, d); err != nil {
		return Analysis{}, err
	}
	// Global xpubs first: a PSBT made for another wallet gets a refusal
	// that says so (ErrOtherWallet) rather than one about its inputs.
	if err := checkGlobalXPubs(p, d); err != nil {
		return Analysis{}, err
	}
	tx := p.UnsignedTx
	a := Analysis{Inputs: make([]InputInfo, len(tx.TxIn))}

	// Inputs, cheap checks first and in order, so that a PSBT with several
	// faults always gets the same error.
	paths := make([]keyPath, len(tx.TxIn))
	seen := make(map[wire.OutPoint]int, len(tx.TxIn))
	for i, txIn := range tx.TxIn {
		field := inputField(i)
		op := txIn.PreviousOutPoint
		if j, dup := seen[op]; dup {
			return Analysis{}, reserve.Invalid(field, "spends %s, as input[%d] does", op, j)
		}
		seen[op] = i
		in := &p.Inputs[i]
		if err := checkInputFields(txIn, in); err != nil {
			return Analysis{}, reserve.Invalid(field, "%w", err)
		}
		path, err := d.derivationPath(in.Bip32Derivation)
		if err != nil {
			return Analysis{}, reserve.Invalid(field, "%w", err)
		}
		paths[i] = path
		amount := in.WitnessUtxo.Value
		if a.InputSat += amount; a.InputSat > reserve.MaxSat {
			return Analysis{}, reserve.Invalid(field, "inputs total more than 21 million BTC")
		}
		a.Inputs[i] = InputInfo{OutPoint: op, AmountSat: amount, Branch: path.Branch, Index: path.Index}
	}

	// Then every input's keys and scripts, recomputed from the descriptor:
	// n child derivations per distinct (branch, index), spread over the
	// cores, and compared in input order.
	kr := d.kr
	derived := kr.deriveAll(paths)
	for i := range tx.TxIn {
		if err := derived[paths[i]].checkInput(kr.d, paths[i], &p.Inputs[i]); err != nil {
			return Analysis{}, reserve.Invalid(inputField(i), "%w", err)
		}
	}

	if err := a.addOutputs(p, kr); err != nil {
		return Analysis{}, err
	}
	return a, a.addFee(d, tx)
}

// addOutputs sorts the outputs into payees and change.
func (a *Analysis) addOutputs(p *psbt.Packet, kr *keyring) error {
	for k, out := range p.UnsignedTx.TxOut {
		field := outputField(k)
		if out.Value < 0 || out.Value > reserve.MaxSat {
			return reserve.Invalid(field, "amount %d sat is out of range", out.Value)
		}
		if a.OutputSat += out.Value; a.OutputSat > reserve.MaxSat {
			return reserve.Invalid(field, "outputs total more than 21 million BTC")
		}
		info := OutputInfo{
			Vout:      k,
			Address:   scriptAddress(out.PkScript, kr.d.params),
			Script:    slices.Clone(out.PkScript),
			AmountSat: out.Value,
		}
		if idx, ok := kr.changeIndex(&p.Outputs[k], out.PkScript); ok {
			info.IsChange, info.ChangeIndex = true, idx
			a.Change = append(a.Change, info)
			continue
		}
		if err := kr.d.checkNotClaimed(&p.Outputs[k]); err != nil {
			return reserve.Invalid(field, "%w", err)
		}
		a.Payees = append(a.Payees, info)
	}
	return nil
}

// addFee works out the fee, the size and the fee rate.
func (a *Analysis) addFee(d *Descriptor, tx *wire.MsgTx) error {
	a.FeeSat = a.InputSat - a.OutputSat
	if a.FeeSat <= 0 {
		return reserve.Invalid("fee", "outputs total %d sat, inputs %d sat: the fee would be %d sat",
			a.OutputSat, a.InputSat, a.FeeSat)
	}
	scripts := make([][]byte, len(tx.TxOut))
	for k, out := range tx.TxOut {
		scripts[k] = out.PkScript
	}
	a.VSize = EstimateVSize(d.threshold, len(d.cosigners), len(tx.TxIn), scripts)
	if a.VSize > 0 {
		a.FeeRateMilli = a.FeeSat * 1000 / a.VSize
	}
	return nil
}

// checkPacket checks that p and d are there and p's maps match its
// transaction, as a PSBT built by hand rather than parsed might not.
func checkPacket(p *psbt.Packet, d *Descriptor) error {
	if d == nil {
		return reserve.Invalid("descriptor", "no descriptor")
	}
	if p == nil || p.UnsignedTx == nil {
		return reserve.Invalid("psbt", "no PSBT")
	}
	tx := p.UnsignedTx
	if len(p.Inputs) != len(tx.TxIn) || len(p.Outputs) != len(tx.TxOut) {
		return reserve.Invalid("psbt", "PSBT has %d input and %d output maps for a transaction with %d inputs and %d outputs",
			len(p.Inputs), len(p.Outputs), len(tx.TxIn), len(tx.TxOut))
	}
	if len(tx.TxIn) == 0 {
		return reserve.Invalid("psbt", "transaction has no inputs")
	}
	if len(tx.TxOut) == 0 {
		return reserve.Invalid("psbt", "transaction has no outputs")
	}
	return nil
}

// ErrOtherWallet is the cause (errors.Is through the *reserve.Error) of a
// refusal of a PSBT whose global xpubs (PSBT_GLOBAL_XPUB) name a key, or a
// key origin, that is not one of the descriptor's cosigners: it was made
// for another wallet. The signer shows it as such rather than as a fault.
var ErrOtherWallet = errors.New("this PSBT is for another wallet")

// checkGlobalXPubs refuses a global xpub that is not exactly one of the
// wallet's cosigners (key, fingerprint and origin path): devices that take
// the wallet from the PSBT would otherwise be shown a coordinator's keys.
// Missing ones are fine: nothing here trusts them. Refusals carry
// ErrOtherWallet.
func checkGlobalXPubs(p *psbt.Packet, d *Descriptor) error {
	for k, x := range p.XPubs {
		if d.cosignerOfXPub(x) >= 0 {
			continue
		}
		field := fmt.Sprintf("xpub[%d]", k)
		pos := slices.IndexFunc(d.accounts, func(acct *hdkeychain.ExtendedKey) bool {
			return bytes.Equal(x.ExtendedKey, psbt.EncodeExtendedKey(acct))
		})
		if pos < 0 {
			return otherWallet(field, "its key %s is not a key of wallet %s", describeXPub(x), d.WalletID())
		}
		return otherWallet(field, "it is cosigner %d's key with the origin [%08x/%s], but wallet %s has %s",
			pos+1, recordFingerprint(x.MasterKeyFingerprint), FormatPath(x.Bip32Path), d.WalletID(),
			FormatKeyRecord(d.cosigners[pos]))
	}
	return nil
}

// otherWallet is a refusal caused by ErrOtherWallet.
func otherWallet(field, format string, args ...any) *reserve.Error {
	return &reserve.Error{Code: reserve.CodeInvalid, Field: field,
		Msg: ErrOtherWallet.Error() + ": " + fmt.Sprintf(format, args...), Err: ErrOtherWallet}
}

// describeXPub writes a global xpub as a key record for an error message,
// or says it is not one. A private key there is named as such, never
// printed.
func describeXPub(x psbt.XPub) string {
	k, err := psbt.DecodeExtendedKey(slices.Clone(x.ExtendedKey))
	switch {
	case err != nil:
		return "(not a valid extended key)"
	case k.IsPrivate():
		k.Zero()
		return "(a private key)"
	}
	return fmt.Sprintf("[%08x/%s]%s", recordFingerprint(x.MasterKeyFingerprint), FormatPath(x.Bip32Path), k.String())
}

// cosignerOfXPub returns the cosigner whose serialized key, fingerprint and
// origin path x carries, or -1.
func (d *Descriptor) cosignerOfXPub(x psbt.XPub) int {
	for c, acct := range d.accounts {
		if bytes.Equal(x.ExtendedKey, psbt.EncodeExtendedKey(acct)) &&
			x.MasterKeyFingerprint == psbtFingerprint(d.cosigners[c].Fingerprint) &&
			slices.Equal(x.Bip32Path, d.cosigners[c].Path) {
			return c
		}
	}
	return -1
}

// checkInputFields makes the checks of one input that need no key
// derivation, in the order an operator fixes them.
func checkInputFields(txIn *wire.TxIn, in *psbt.PInput) error {
	if err := checkInputKind(in); err != nil {
		return err
	}
	if err := checkUtxo(txIn, in); err != nil {
		return err
	}
	if err := checkSighashType(in); err != nil {
		return err
	}
	if in.WitnessScript == nil {
		return errors.New("witness_script is missing")
	}
	return nil
}

// checkInputKind refuses an input that is finalized or carries fields of
// another script type than native P2WSH.
func checkInputKind(in *psbt.PInput) error {
	switch {
	case in.FinalScriptSig != nil || in.FinalScriptWitness != nil:
		return errors.New("input is already finalized")
	case in.RedeemScript != nil:
		return errors.New("input has a redeem_script; the wallet's inputs are native P2WSH")
	case hasTaprootFields(in):
		return errors.New("input has taproot fields; the wallet's inputs are P2WSH")
	}
	return nil
}

// checkUtxo checks an input's previous output: the whole previous
// transaction must be there with the input's txid, and witness_utxo must
// be its spent output. BIP-143 signs only the amount of the input being
// signed, so without this a coordinator could lie about other inputs'
// amounts across two signing rounds and turn the difference into fee
// (CVE-2020-14199).
func checkUtxo(txIn *wire.TxIn, in *psbt.PInput) error {
	op := txIn.PreviousOutPoint
	prev := in.NonWitnessUtxo
	if prev == nil {
		return errors.New("non_witness_utxo is missing: signers need the previous transaction to check the amount (segwit fee attack, CVE-2020-14199)")
	}
	if h := prev.TxHash(); h != op.Hash {
		return fmt.Errorf("non_witness_utxo is transaction %s, but the input spends %s", h, op.Hash)
	}
	if op.Index >= uint32(len(prev.TxOut)) {
		return fmt.Errorf("non_witness_utxo has %d outputs, the input spends output %d", len(prev.TxOut), op.Index)
	}
	spent := prev.TxOut[op.Index]
	utxo := in.WitnessUtxo
	switch {
	case utxo == nil:
		return errors.New("witness_utxo is missing")
	case utxo.Value != spent.Value:
		return fmt.Errorf("witness_utxo amount %d sat differs from the previous transaction's %d sat (segwit fee attack, CVE-2020-14199)",
			utxo.Value, spent.Value)
	case !bytes.Equal(utxo.PkScript, spent.PkScript):
		return errors.New("witness_utxo script differs from the previous transaction's output script")
	case utxo.Value <= 0 || utxo.Value > reserve.MaxSat:
		return fmt.Errorf("amount %d sat is out of range", utxo.Value)
	}
	return nil
}

// hasTaprootFields reports whether an input carries any BIP-371 field.
func hasTaprootFields(in *psbt.PInput) bool {
	return in.TaprootKeySpendSig != nil || len(in.TaprootScriptSpendSig) > 0 ||
		len(in.TaprootLeafScript) > 0 || len(in.TaprootBip32Derivation) > 0 ||
		in.TaprootInternalKey != nil || in.TaprootMerkleRoot != nil
}

// checkSighashType accepts an absent sighash type or ALL. NONE, SINGLE
// and ANYONECANPAY let whoever holds the signature change the outputs or
// inputs afterwards. An explicit 0 (SIGHASH_DEFAULT, which BIP-341 defines
// for taproot only) is refused too: BIP-174 says a signer must refuse a
// sighash type it will not use, and btcutil/psbt cannot tell it from none
// (PInput.SighashType 0), so ParsePSBT keeps it as an unknown pair with
// key 0x03. Any pair of that key type among the unknowns, however it got
// there (a PSBT built in memory too), is refused: the serializer would
// write it beside the decoded type.
func checkSighashType(in *psbt.PInput) error {
	for _, u := range in.Unknowns {
		if len(u.Key) == 0 || u.Key[0] != inSighash {
			continue
		}
		if len(u.Key) == 1 && len(u.Value) == 4 && binary.LittleEndian.Uint32(u.Value) == 0 && in.SighashType == 0 {
			return errors.New("explicit sighash type 0 (SIGHASH_DEFAULT, taproot only) is not allowed, only ALL")
		}
		return fmt.Errorf("sighash type field %x = %x beside the decoded one is not allowed", u.Key, u.Value)
	}
	t := in.SighashType
	if t == 0 || t == txscript.SigHashAll {
		return nil
	}
	return fmt.Errorf("sighash type %s (0x%x) is not allowed, only ALL", sighashName(uint32(t)), uint32(t))
}

// sighashName names a sighash type ("NONE", "ALL|ANYONECANPAY").
func sighashName(t uint32) string {
	var name string
	switch t &^ uint32(txscript.SigHashAnyOneCanPay) {
	case uint32(txscript.SigHashAll):
		name = "ALL"
	case uint32(txscript.SigHashNone):
		name = "NONE"
	case uint32(txscript.SigHashSingle):
		name = "SINGLE"
	default:
		return fmt.Sprintf("unknown(%d)", t)
	}
	if t&uint32(txscript.SigHashAnyOneCanPay) != 0 {
		name += "|ANYONECANPAY"
	}
	return name
}

// keyPath is where a wallet script sits: branch and index.
type keyPath struct {
	Branch reserve.Branch
	Index  uint32
}

func (k keyPath) String() string { return fmt.Sprintf("%d/%d", k.Branch, k.Index) }

// cosignersOf returns the cosigners whose key origin a derivation extends
// by exactly two steps: same fingerprint, the origin path, then branch and
// index. Two cosigners can share an origin (fingerprints are easy to
// copy), so there may be more than one; the keys decide.
func (d *Descriptor) cosignersOf(e *psbt.Bip32Derivation) []int {
	var out []int
	for c, cs := range d.cosigners {
		if e.MasterKeyFingerprint == psbtFingerprint(cs.Fingerprint) && len(e.Bip32Path) == len(cs.Path)+2 &&
			slices.Equal(e.Bip32Path[:len(cs.Path)], cs.Path) {
			out = append(out, c)
		}
	}
	return out
}

// cosignerOfFingerprint returns the first cosigner whose master key
// fingerprint is fp (as a PSBT record holds it), or -1.
func (d *Descriptor) cosignerOfFingerprint(fp uint32) int {
	for c, cs := range d.cosigners {
		if fp == psbtFingerprint(cs.Fingerprint) {
			return c
		}
	}
	return -1
}

// derivationPath reads the one (branch, index) that an input's or output's
// BIP-32 derivations name. Each derivation must extend a cosigner's origin
// by [branch, index] with branch 0 or 1 and index below 2^31, all must name
// the same place, and every cosigner must have one. It reads paths only;
// checkKeys compares the keys with the descriptor's.
func (d *Descriptor) derivationPath(ders []*psbt.Bip32Derivation) (keyPath, error) {
	if len(ders) == 0 {
		return keyPath{}, errors.New("has no BIP-32 derivations, so it is not known to be the wallet's")
	}
	covered := make([]bool, len(d.cosigners))
	var path keyPath
	first := -1
	for k, e := range ders {
		if e == nil {
			return keyPath{}, errors.New("has an empty BIP-32 derivation")
		}
		cs := d.cosignersOf(e)
		if len(cs) == 0 {
			return keyPath{}, fmt.Errorf("derivation of key %x (fingerprint %08x, path %s) is not from a cosigner of this wallet",
				e.PubKey, recordFingerprint(e.MasterKeyFingerprint), formatOrigin(e.Bip32Path))
		}
		tail := e.Bip32Path[len(e.Bip32Path)-2:]
		if tail[0] != uint32(reserve.BranchReceive) && tail[0] != uint32(reserve.BranchChange) {
			return keyPath{}, fmt.Errorf("derivation of key %x has branch %s at %s, want 0 (receive) or 1 (change)",
				e.PubKey, FormatPath(tail[:1]), formatOrigin(e.Bip32Path))
		}
		if tail[1] >= hardened {
			return keyPath{}, fmt.Errorf("derivation of key %x has hardened index %s at %s; wallet addresses are unhardened",
				e.PubKey, FormatPath(tail[1:]), formatOrigin(e.Bip32Path))
		}
		here := keyPath{Branch: reserve.Branch(tail[0]), Index: tail[1]}
		if first < 0 {
			path, first = here, k
		} else if here != path {
			return keyPath{}, fmt.Errorf("derivations disagree: key %x is at %s, key %x at %s",
				ders[first].PubKey, path, e.PubKey, here)
		}
		for _, c := range cs {
			covered[c] = true
		}
	}
	for c, ok := range covered {
		if !ok {
			return keyPath{}, fmt.Errorf("no derivation for cosigner[%d] (fingerprint %08x)", c, d.cosigners[c].Fingerprint)
		}
	}
	return path, nil
}

// checkKeys checks that the derivations carry exactly the keys derived
// from the descriptor: every derivation's key is the derived key of a
// cosigner whose origin it names, and every cosigner's derived key is
// there.
func (d *Descriptor) checkKeys(ders []*psbt.Bip32Derivation, keys [][]byte, at keyPath) error {
	for _, e := range ders {
		ok := false
		for _, c := range d.cosignersOf(e) {
			ok = ok || bytes.Equal(e.PubKey, keys[c])
		}
		if !ok {
			return fmt.Errorf("derivation of key %x at %s is not the wallet's key there", e.PubKey, formatOrigin(e.Bip32Path))
		}
	}
	for c, key := range keys {
		if !slices.ContainsFunc(ders, func(e *psbt.Bip32Derivation) bool { return bytes.Equal(e.PubKey, key) }) {
			return fmt.Errorf("no derivation for cosigner[%d]'s key %x at %s", c, key, at)
		}
	}
	return nil
}

// formatOrigin writes a derivation path as "m/48'/1'/0'/2'/0/5".
func formatOrigin(path []uint32) string {
	if len(path) == 0 {
		return "m"
	}
	return "m/" + FormatPath(path)
}

// inputField and outputField name an input or output in errors.
func inputField(i int) string  { return fmt.Sprintf("input[%d]", i) }
func outputField(k int) string { return fmt.Sprintf("output[%d]", k) }

// ScriptAddress is the address of an output script on network n, as the
// policy and every display see a payee; "" when the script has no single
// address (bare multisig, OP_RETURN, non-standard) or n is unknown.
func ScriptAddress(script []byte, n reserve.Network) string {
	params, err := NetParams(n)
	if err != nil {
		return ""
	}
	return scriptAddress(script, params)
}

// scriptAddress is ScriptAddress for a network's parameters.
func scriptAddress(script []byte, params *chaincfg.Params) string {
	class, addrs, _, err := txscript.ExtractPkScriptAddrs(script, params)
	if err != nil || len(addrs) != 1 || class == txscript.MultiSigTy {
		return ""
	}
	return addrs[0].EncodeAddress()
}

// checkInput compares an input's keys, witness_utxo script and
// witness_script with the ones derived from the descriptor at path.
func (der derivation) checkInput(d *Descriptor, path keyPath, in *psbt.PInput) error {
	if der.err != nil {
		return der.err
	}
	if err := d.checkKeys(in.Bip32Derivation, der.keys, path); err != nil {
		return err
	}
	if !bytes.Equal(in.WitnessUtxo.PkScript, der.pkScript) {
		return fmt.Errorf("witness_utxo script %x is not the wallet's script at %s (%x)", in.WitnessUtxo.PkScript, path, der.pkScript)
	}
	if !bytes.Equal(in.WitnessScript, der.witnessScript) {
		return fmt.Errorf("witness_script is not the wallet's script at %s", path)
	}
	return nil
}

// changeIndex reports whether an output is the wallet's change, and at
// which index: every cosigner's derivation for the change branch with the
// derived keys, the derived script, and a witness_script, if any, that is
// the derived one. Anything less makes it a payee, never an error.
func (kr *keyring) changeIndex(out *psbt.POutput, script []byte) (uint32, bool) {
	if len(out.Bip32Derivation) == 0 || out.RedeemScript != nil || out.TaprootInternalKey != nil ||
		len(out.TaprootBip32Derivation) > 0 || out.TaprootTapTree != nil {
		return 0, false
	}
	path, err := kr.d.derivationPath(out.Bip32Derivation)
	if err != nil || path.Branch != reserve.BranchChange {
		return 0, false
	}
	der, err := kr.derive(path)
	if err != nil || !bytes.Equal(script, der.pkScript) {
		return 0, false
	}
	if out.WitnessScript != nil && !bytes.Equal(out.WitnessScript, der.witnessScript) {
		return 0, false
	}
	if kr.d.checkKeys(out.Bip32Derivation, der.keys, path) != nil {
		return 0, false
	}
	return path.Index, true
}

// checkNotClaimed refuses an output that is not the wallet's change but
// claims the wallet's keys ("fake change"): a BIP-32 derivation (P2WSH or
// taproot) whose master fingerprint is one of the cosigners', whatever its
// path, or a witness_script. Hardware wallets match a derivation to
// themselves by the fingerprint alone, so a device shown such a record
// would take the output for its own and hide a payment, as would a
// coordinator that trusts it. Derivations of foreign fingerprints only (a
// payee's own wallet, which Core may describe) are allowed.
func (d *Descriptor) checkNotClaimed(out *psbt.POutput) error {
	for _, e := range out.Bip32Derivation {
		if e == nil {
			continue
		}
		if len(d.cosignersOf(e)) > 0 {
			return fmt.Errorf("carries BIP-32 derivations of this wallet's cosigners at %s, but its script is not the wallet's change script there",
				formatOrigin(e.Bip32Path))
		}
		if c := d.cosignerOfFingerprint(e.MasterKeyFingerprint); c >= 0 {
			return fmt.Errorf("carries a BIP-32 derivation at %s with the master fingerprint %08x of this wallet's cosigner %d, but is not the wallet's change",
				formatOrigin(e.Bip32Path), recordFingerprint(e.MasterKeyFingerprint), c)
		}
	}
	for _, e := range out.TaprootBip32Derivation {
		if e == nil {
			continue
		}
		if c := d.cosignerOfFingerprint(e.MasterKeyFingerprint); c >= 0 {
			return fmt.Errorf("carries a taproot BIP-32 derivation at %s with the master fingerprint %08x of this wallet's cosigner %d, but is not the wallet's change",
				formatOrigin(e.Bip32Path), recordFingerprint(e.MasterKeyFingerprint), c)
		}
	}
	if out.WitnessScript != nil {
		return errors.New("carries a witness_script, but is not the wallet's change")
	}
	return nil
}

// p2wsh returns the P2WSH output script of a witness script.
func p2wsh(witnessScript []byte) []byte {
	h := sha256.Sum256(witnessScript)
	return append([]byte{txscript.OP_0, txscript.OP_DATA_32}, h[:]...)
}

// minParallel is the fewest items worth spreading over goroutines.
const minParallel = 8

// forEach calls fn(i) for every i in [0, n) on up to workers goroutines
// (0 means GOMAXPROCS) and returns the error of the lowest i that failed,
// so the result does not depend on scheduling: indexes are handed out in
// order, and after a failure at i no index above i is started. A panic in
// fn is raised again in the caller's goroutine, where the caller's own
// recovery (or the test framework) sees it.
func forEach(n, workers int, fn func(i int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, n)
	if workers <= 1 || n < minParallel {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		next     atomic.Int64
		failedAt atomic.Int64
		mu       sync.Mutex
		firstErr error
		panicked any
		wg       sync.WaitGroup
	)
	failedAt.Store(int64(n))
	for range workers {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					mu.Lock()
					panicked = fmt.Sprintf("%v\n%s", r, debug.Stack())
					failedAt.Store(-1)
					mu.Unlock()
				}
			}()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || i > failedAt.Load() {
					return
				}
				if err := fn(int(i)); err != nil {
					mu.Lock()
					if i < failedAt.Load() {
						failedAt.Store(i)
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
	return firstErr
}
