package multisig

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// FinalizePSBT is the finalizer and extractor: it builds each input's
// witness, [empty, m signatures in the witness_script's key order,
// witness_script], from the partial signatures, picking the first m in
// key order when more are there (a surplus signature is harmless), sets
// FinalScriptWitness and clears the fields BIP-174's finalizer clears
// (partial signatures, sighash type, scripts, derivations; the UTXOs and
// unknown fields stay). It returns the signed transaction, whose txid is
// the unsigned one's.
//
// It does not verify the signatures again: CombinePSBT did when they
// arrived, and the caller should test the result against the node
// (testmempoolaccept) before relying on it. An input that is already
// finalized keeps its witness. An input with fewer than m signatures is a
// *reserve.Error of code CodeFailedPrecondition, "input[i] has k of m
// signatures"; a witness_script that is not the wallet's shape is
// CodeInvalid. On error p is unchanged.
func FinalizePSBT(p *psbt.Packet, d *Descriptor) (*wire.MsgTx, error) {
	if err := checkPacket(p, d); err != nil {
		return nil, err
	}
	witnesses := make([]wire.TxWitness, len(p.Inputs))
	finals := make([][]byte, len(p.Inputs))
	for i := range p.Inputs {
		wit, err := inputWitness(&p.Inputs[i], i, d)
		if err != nil {
			return nil, err
		}
		witnesses[i] = wit
		if finals[i] = p.Inputs[i].FinalScriptWitness; finals[i] == nil {
			var buf bytes.Buffer
			if err := psbt.WriteTxWitness(&buf, wit); err != nil {
				return nil, reserve.Errorf(reserve.CodeInternal, "unable to serialize input[%d]'s witness: %w", i, err)
			}
			finals[i] = buf.Bytes()
		}
	}

	// Every input is ready: only now change p.
	tx := p.UnsignedTx.Copy()
	for i, wit := range witnesses {
		tx.TxIn[i].Witness = wit
		p.Inputs[i].FinalScriptWitness = finals[i]
		clearPartialFields(&p.Inputs[i])
	}
	return tx, nil
}

// inputWitness builds the witness of one input.
func inputWitness(in *psbt.PInput, i int, d *Descriptor) (wire.TxWitness, error) {
	field := inputField(i)
	if in.FinalScriptWitness != nil {
		wit, err := parseWitness(in.FinalScriptWitness)
		if err != nil {
			return nil, reserve.Invalid(field, "%w", err)
		}
		return wit, nil
	}
	switch {
	case in.FinalScriptSig != nil:
		return nil, reserve.Invalid(field, "input has a final scriptSig; the wallet's inputs are P2WSH")
	case in.WitnessUtxo == nil:
		return nil, reserve.Invalid(field, "witness_utxo is missing")
	case in.WitnessScript == nil:
		return nil, reserve.Invalid(field, "witness_script is missing")
	case !bytes.Equal(p2wsh(in.WitnessScript), in.WitnessUtxo.PkScript):
		return nil, reserve.Invalid(field, "witness_script does not hash to the witness_utxo script")
	}
	m, keys, err := parseMultisig(in.WitnessScript)
	if err != nil {
		return nil, reserve.Invalid(field, "%w", err)
	}
	if m != d.threshold || len(keys) != len(d.cosigners) {
		return nil, reserve.Invalid(field, "witness_script is %d-of-%d, the wallet is %d-of-%d", m, len(keys), d.threshold, len(d.cosigners))
	}
	wit := wire.TxWitness{nil}
	have := 0
	for _, key := range keys {
		for _, s := range in.PartialSigs {
			if s != nil && bytes.Equal(s.PubKey, key) {
				if have++; have <= m {
					wit = append(wit, s.Signature)
				}
				break
			}
		}
	}
	if have < m {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "input[%d] has %d of %d signatures", i, have, m)
	}
	return append(wit, in.WitnessScript), nil
}

// clearPartialFields removes what BIP-174's finalizer removes once an input
// has its final witness.
func clearPartialFields(in *psbt.PInput) {
	in.PartialSigs = nil
	in.SighashType = 0
	in.RedeemScript = nil
	in.WitnessScript = nil
	in.Bip32Derivation = nil
	in.TaprootKeySpendSig = nil
	in.TaprootScriptSpendSig = nil
	in.TaprootLeafScript = nil
	in.TaprootBip32Derivation = nil
	in.TaprootInternalKey = nil
	in.TaprootMerkleRoot = nil
}

// errNoWitness reports a final witness that does not decode.
var errNoWitness = errors.New("final_scriptwitness does not decode")

// maxWitnessItems is the most items parseWitness takes: a standard P2WSH
// spend has at most 100 stack items and its witness script
// (MAX_STANDARD_P2WSH_STACK_ITEMS in Bitcoin Core); the wallet's own has
// m+2, m at most 20.
const maxWitnessItems = 101

// errWitnessItems reports a final witness with more than maxWitnessItems
// items.
var errWitnessItems = fmt.Errorf("final_scriptwitness has more than %d items, more than any standard P2WSH spend", maxWitnessItems)

// parseWitness decodes a serialized witness stack (FinalScriptWitness),
// refusing bytes after it. The input is hostile (CombinePSBT reads final
// witnesses from imported files): the item count is refused above
// maxWitnessItems before anything is allocated for it, since even a
// witness of empty items would cost 24 bytes of slice header per byte of
// input, and an item is never allocated larger than the bytes left.
func parseWitness(b []byte) (wire.TxWitness, error) {
	r := bytes.NewReader(b)
	n, err := wire.ReadVarInt(r, 0)
	if err != nil {
		return nil, errNoWitness
	}
	if n > maxWitnessItems {
		return nil, errWitnessItems
	}
	wit := make(wire.TxWitness, 0, n)
	for range n {
		item, err := wire.ReadVarBytes(r, 0, uint32(r.Len()), "witness item")
		if err != nil {
			return nil, errNoWitness
		}
		wit = append(wit, item)
	}
	if r.Len() != 0 {
		return nil, errNoWitness
	}
	return wit, nil
}

// TransactionSigners returns, per cosigner position, whether that
// cosigner's signature is in every input's witness of tx, the transaction
// finalized from p: signatures that arrive after finalization stay in the
// proposal's PSBT as evidence, and this tells them from those that made
// the transaction. A witness signature is matched to its cosigner through
// the partial signature of p that carries the same bytes and the input's
// derivations, so tx must be p's transaction (same txid); otherwise, or
// for a nil tx, no cosigner is reported.
func TransactionSigners(p *psbt.Packet, tx *wire.MsgTx, d *Descriptor) []bool {
	if d == nil {
		return nil
	}
	in := make([]bool, len(d.cosigners))
	if p == nil || p.UnsignedTx == nil || tx == nil || tx.TxHash() != p.UnsignedTx.TxHash() || len(tx.TxIn) != len(p.Inputs) {
		return in
	}
	counts := make([]int, len(d.cosigners))
	for i, txIn := range tx.TxIn {
		seen := make([]bool, len(d.cosigners))
		for _, item := range txIn.Witness {
			for _, c := range d.signerOfSignature(&p.Inputs[i], item) {
				if !seen[c] {
					seen[c] = true
					counts[c]++
				}
			}
		}
	}
	for c, n := range counts {
		in[c] = n == len(tx.TxIn)
	}
	return in
}

// signerOfSignature returns the cosigners whose partial signature in in
// is sig, byte for byte.
func (d *Descriptor) signerOfSignature(in *psbt.PInput, sig []byte) []int {
	if len(sig) == 0 {
		return nil
	}
	for _, s := range in.PartialSigs {
		if s == nil || !bytes.Equal(s.Signature, sig) {
			continue
		}
		for _, e := range in.Bip32Derivation {
			if e != nil && bytes.Equal(e.PubKey, s.PubKey) {
				return d.cosignersOf(e)
			}
		}
	}
	return nil
}
