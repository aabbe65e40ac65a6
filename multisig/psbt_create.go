package multisig

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// Transaction fields every spend has: version 2 (so relative locktimes
// could be used) and a sequence that signals BIP-125 replaceability and
// enables the locktime.
const (
	txVersion   = 2
	rbfSequence = wire.MaxTxInSequenceNum - 2 // 0xfffffffd
)

// Output is one output of a spend, in order. ChangeIndex, when set, marks a
// change output at BranchChange/ChangeIndex; Script must then be the
// wallet's script there.
type Output struct {
	Script      []byte
	AmountSat   int64
	ChangeIndex *uint32
}

// CreateParams is what CreatePSBT builds a spend from.
type CreateParams struct {
	Descriptor *Descriptor
	// Inputs are the wallet outputs spent, in order.
	Inputs []reserve.Input
	// PrevTxs are the full previous transactions of the inputs, keyed by
	// txid; each becomes an input's non_witness_utxo.
	PrevTxs map[chainhash.Hash]*wire.MsgTx
	// Outputs are the outputs, in order.
	Outputs  []Output
	LockTime uint32
}

// CreatePSBT builds the spend's version-2 transaction, every input with
// sequence 0xfffffffd (BIP-125 replaceable, locktime enabled), and the
// version-0 PSBT that hardware signers, Bitcoin Core and Sparrow accept as
// they are:
//
//   - per input: non_witness_utxo, witness_utxo, witness_script, a BIP-32
//     derivation for every cosigner (origin path + branch + index) and
//     sighash type ALL;
//   - per change output: witness_script and every cosigner's derivation;
//   - globally: every cosigner's xpub (PSBT_GLOBAL_XPUB) with its origin.
//
// It checks what it is given: each previous transaction has the input's
// txid and the spent output holds the input's amount and the wallet's
// script at the input's branch and index; each change output's script is
// the wallet's change script at its index; no outpoint twice; amounts in
// range; outputs below inputs. Refusals are *reserve.Error of code
// CodeInvalid naming the field ("input[2]", "output[0]"). The previous
// transactions are copied, so the caller may reuse its map.
func CreatePSBT(p CreateParams) (*psbt.Packet, error) {
	d := p.Descriptor
	if err := checkCreateParams(p); err != nil {
		return nil, err
	}
	tx := wire.NewMsgTx(txVersion)
	tx.LockTime = p.LockTime
	for _, in := range p.Inputs {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: in.OutPoint, Sequence: rbfSequence})
	}
	for _, out := range p.Outputs {
		tx.AddTxOut(wire.NewTxOut(out.AmountSat, slices.Clone(out.Script)))
	}
	packet, err := psbt.NewFromUnsignedTx(tx)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInternal, "unable to start the PSBT: %w", err)
	}
	kr := d.kr

	// Inputs: the keys of every address spent, derived once each and
	// spread over the cores.
	paths := make([]keyPath, len(p.Inputs))
	for i, in := range p.Inputs {
		paths[i] = keyPath{Branch: in.Branch, Index: in.Index}
	}
	derived := kr.deriveAll(paths)
	for i, in := range p.Inputs {
		if err := fillInput(&packet.Inputs[i], d, in, p.PrevTxs[in.OutPoint.Hash], derived[paths[i]]); err != nil {
			return nil, reserve.Invalid(inputField(i), "%w", err)
		}
	}

	// Change outputs.
	for k, out := range p.Outputs {
		if out.ChangeIndex == nil {
			continue
		}
		path := keyPath{Branch: reserve.BranchChange, Index: *out.ChangeIndex}
		der, err := kr.derive(path)
		if err != nil {
			return nil, reserve.Invalid(outputField(k), "%w", err)
		}
		if !bytes.Equal(out.Script, der.pkScript) {
			return nil, reserve.Invalid(outputField(k), "change script %x is not the wallet's change script at %s (%x)", out.Script, path, der.pkScript)
		}
		packet.Outputs[k].WitnessScript = slices.Clone(der.witnessScript)
		packet.Outputs[k].Bip32Derivation = d.derivations(der.keys, path)
	}

	packet.XPubs = d.globalXPubs()
	return packet, nil
}

// globalXPubs returns every cosigner's PSBT_GLOBAL_XPUB record in Bitcoin
// Core's order (its map is keyed by the key origin: fingerprint bytes,
// then path), so that Core's walletprocesspsbt hands back the records byte
// for byte as written.
func (d *Descriptor) globalXPubs() []psbt.XPub {
	xpubs := make([]psbt.XPub, 0, len(d.accounts))
	order := make([]int, len(d.accounts))
	for c := range order {
		order[c] = c
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ca, cb := d.cosigners[a], d.cosigners[b]
		if ca.Fingerprint != cb.Fingerprint {
			return cmp.Compare(ca.Fingerprint, cb.Fingerprint)
		}
		return slices.Compare(ca.Path, cb.Path)
	})
	for _, c := range order {
		xpubs = append(xpubs, psbt.XPub{
			ExtendedKey:          psbt.EncodeExtendedKey(d.accounts[c]),
			MasterKeyFingerprint: psbtFingerprint(d.cosigners[c].Fingerprint),
			Bip32Path:            slices.Clone(d.cosigners[c].Path),
		})
	}
	return xpubs
}

// checkCreateParams checks everything about p that needs no derivation.
func checkCreateParams(p CreateParams) error {
	if p.Descriptor == nil {
		return reserve.Invalid("descriptor", "no descriptor")
	}
	if len(p.Inputs) == 0 {
		return reserve.Invalid("inputs", "no inputs")
	}
	if len(p.Outputs) == 0 {
		return reserve.Invalid("outputs", "no outputs")
	}
	var inSat, outSat int64
	seen := make(map[wire.OutPoint]int, len(p.Inputs))
	for i, in := range p.Inputs {
		field := inputField(i)
		if j, dup := seen[in.OutPoint]; dup {
			return reserve.Invalid(field, "spends %s, as input[%d] does", in.OutPoint, j)
		}
		seen[in.OutPoint] = i
		if in.AmountSat <= 0 || in.AmountSat > reserve.MaxSat {
			return reserve.Invalid(field, "amount %d sat is out of range", in.AmountSat)
		}
		if inSat += in.AmountSat; inSat > reserve.MaxSat {
			return reserve.Invalid(field, "inputs total more than 21 million BTC")
		}
		prev := p.PrevTxs[in.OutPoint.Hash]
		if prev == nil {
			return reserve.Invalid(field, "previous transaction %s is not given", in.OutPoint.Hash)
		}
		if h := prev.TxHash(); h != in.OutPoint.Hash {
			return reserve.Invalid(field, "previous transaction given for %s is %s", in.OutPoint.Hash, h)
		}
		if in.OutPoint.Index >= uint32(len(prev.TxOut)) {
			return reserve.Invalid(field, "previous transaction %s has %d outputs, the input spends output %d",
				in.OutPoint.Hash, len(prev.TxOut), in.OutPoint.Index)
		}
		if v := prev.TxOut[in.OutPoint.Index].Value; v != in.AmountSat {
			return reserve.Invalid(field, "output %s holds %d sat, the input says %d sat", in.OutPoint, v, in.AmountSat)
		}
	}
	for k, out := range p.Outputs {
		field := outputField(k)
		if len(out.Script) == 0 {
			return reserve.Invalid(field, "no output script")
		}
		if len(out.Script) > txscript.MaxScriptSize {
			return reserve.Invalid(field, "output script of %d bytes is too long", len(out.Script))
		}
		if out.AmountSat <= 0 || out.AmountSat > reserve.MaxSat {
			return reserve.Invalid(field, "amount %d sat is out of range", out.AmountSat)
		}
		if outSat += out.AmountSat; outSat > reserve.MaxSat {
			return reserve.Invalid(field, "outputs total more than 21 million BTC")
		}
	}
	if outSat >= inSat {
		return reserve.Invalid("outputs", "outputs total %d sat, inputs %d sat: nothing is left for the fee", outSat, inSat)
	}
	return nil
}

// fillInput checks one input's previous output against the wallet's script
// at its branch and index and fills its PSBT fields.
func fillInput(pin *psbt.PInput, d *Descriptor, in reserve.Input, prev *wire.MsgTx, der derivation) error {
	if der.err != nil {
		return der.err
	}
	path := keyPath{Branch: in.Branch, Index: in.Index}
	spent := prev.TxOut[in.OutPoint.Index]
	if !bytes.Equal(spent.PkScript, der.pkScript) {
		return fmt.Errorf("output %s pays script %x, not the wallet's script at %s (%x)",
			in.OutPoint, spent.PkScript, path, der.pkScript)
	}
	pin.NonWitnessUtxo = prev.Copy()
	pin.WitnessUtxo = wire.NewTxOut(spent.Value, slices.Clone(spent.PkScript))
	pin.WitnessScript = slices.Clone(der.witnessScript)
	pin.Bip32Derivation = d.derivations(der.keys, path)
	pin.SighashType = txscript.SigHashAll
	return nil
}

// derivations returns every cosigner's BIP-32 derivation of its key at
// path: the key, the master fingerprint, the origin path + branch + index.
// Nothing is shared with keys.
func (d *Descriptor) derivations(keys [][]byte, path keyPath) []*psbt.Bip32Derivation {
	out := make([]*psbt.Bip32Derivation, len(keys))
	for c, key := range keys {
		cs := d.cosigners[c]
		p := make([]uint32, 0, len(cs.Path)+2)
		p = append(append(p, cs.Path...), uint32(path.Branch), path.Index)
		out[c] = &psbt.Bip32Derivation{PubKey: slices.Clone(key), MasterKeyFingerprint: psbtFingerprint(cs.Fingerprint), Bip32Path: p}
	}
	return out
}
