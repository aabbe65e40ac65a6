package multisig

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// A proof of reserves is a BIP-322 "proof of funds" ("full" format) in the
// shape COLDCARD documents for a PSBT: the quorum signs to_sign, a
// transaction that spends every reserve coin but can never be mined,
// because its input 0 spends the output of to_spend, which itself spends a
// coinbase-like prevout that does not exist.
//
//	to_spend: version 0, locktime 0; one input 00…00:0xffffffff, sequence 0,
//	          scriptSig OP_0 PUSH32 message_hash; one output of 0 sat paying
//	          the challenge (the wallet's receive address 0).
//	to_sign:  version 0, locktime 0; input 0 spends to_spend:0, inputs 1..n
//	          the reserve coins, every sequence 0; one output of 0 sat whose
//	          script is OP_RETURN alone. SIGHASH_ALL everywhere.
//
// The PSBT carries the message in the global field 0x09 and, on every
// input, what a Custos spend input carries (input 0's previous transaction
// is to_spend), so hardware signers and Custos signers check it the way
// they check a spend.

// PSBTGlobalGenericSignedMessage is the global PSBT key type that holds a
// proof's message, the exact bytes signed (COLDCARD's
// PSBT_GLOBAL_GENERIC_SIGNED_MESSAGE).
const PSBTGlobalGenericSignedMessage = 0x09

// MaxProofMessageBytes is the longest message a proof may commit to: a
// date, an auditor's challenge, a short statement that every signer's
// screen shows whole.
const MaxProofMessageBytes = 4096

// bip322Tag is BIP-322's tag for the message hash.
const bip322Tag = "BIP0322-signed-message"

// proofField names the global message field in errors.
const proofField = "global[0x09]"

// opReturnScript is the script of a proof's one output: OP_RETURN alone.
var opReturnScript = []byte{txscript.OP_RETURN}

// challengePath is where a proof's challenge sits: receive address 0.
var challengePath = keyPath{Branch: reserve.BranchReceive, Index: 0}

// BIP322MessageHash is BIP-322's message hash, the BIP-340 tagged hash
// sha256(sha256(tag) || sha256(tag) || msg) with tag
// "BIP0322-signed-message", msg taken as is (no length prefix).
func BIP322MessageHash(msg []byte) chainhash.Hash {
	return *chainhash.TaggedHash([]byte(bip322Tag), msg)
}

// ToSpend is BIP-322's to_spend transaction for a message hash and a
// challenge script. Its output 0 is what a proof's input 0 spends.
func ToSpend(messageHash chainhash.Hash, challenge []byte) *wire.MsgTx {
	sigScript := make([]byte, 0, 2+chainhash.HashSize)
	sigScript = append(sigScript, txscript.OP_0, txscript.OP_DATA_32)
	sigScript = append(sigScript, messageHash[:]...)
	tx := wire.NewMsgTx(0)
	tx.AddTxIn(&wire.TxIn{
		PreviousOutPoint: wire.OutPoint{Index: wire.MaxPrevOutIndex},
		SignatureScript:  sigScript,
		Sequence:         0,
	})
	tx.AddTxOut(wire.NewTxOut(0, slices.Clone(challenge)))
	return tx
}

// toSign is BIP-322's to_sign transaction spending to_spend:0 and coins,
// unsigned.
func toSign(toSpendTx *wire.MsgTx, coins []wire.OutPoint) *wire.MsgTx {
	tx := wire.NewMsgTx(0)
	tx.TxIn = make([]*wire.TxIn, 0, 1+len(coins))
	tx.AddTxIn(&wire.TxIn{PreviousOutPoint: wire.OutPoint{Hash: toSpendTx.TxHash(), Index: 0}})
	for _, op := range coins {
		tx.AddTxIn(&wire.TxIn{PreviousOutPoint: op})
	}
	tx.AddTxOut(wire.NewTxOut(0, slices.Clone(opReturnScript)))
	return tx
}

// CheckProofMessage refuses a message a signer could not show faithfully:
// empty, longer than MaxProofMessageBytes, not UTF-8, or holding a
// character that is not printable (control characters, line breaks,
// bidirectional overrides, non-ASCII spaces), which could make one message
// look like another on a screen.
func CheckProofMessage(msg []byte) error {
	switch {
	case len(msg) == 0:
		return errors.New("the message is empty")
	case len(msg) > MaxProofMessageBytes:
		return fmt.Errorf("the message is %d bytes, more than the %d allowed", len(msg), MaxProofMessageBytes)
	case !utf8.Valid(msg):
		return errors.New("the message is not valid UTF-8")
	}
	for off, r := range string(msg) {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("the message has the unprintable character %U at byte %d", r, off)
		}
	}
	return nil
}

// challenge returns the wallet's proof challenge: the keys and scripts of
// receive address 0.
func (d *Descriptor) challenge() (derivedScripts, error) {
	der, err := d.kr.derive(challengePath)
	if err != nil {
		return derivedScripts{}, reserve.Invalid("descriptor", "unable to derive the challenge address %s: %w", challengePath, err)
	}
	return der, nil
}

// ProofCoin is a reserve coin to prove: the UTXO (outpoint, amount,
// script, branch, index) and its previous transaction, serialized, as a
// spend input carries it.
type ProofCoin struct {
	UTXO   reserve.UTXO
	PrevTx []byte
}

// BuildProof builds the unsigned proof PSBT over coins (each once, in the
// given order) for message: to_sign as described above, input 0 with
// to_spend as its non_witness_utxo, its output as witness_utxo, and the
// witness_script and every cosigner's derivation of receive address 0;
// every other input with the fields CreatePSBT gives a spend input; the
// cosigners' global xpubs; the message in global field 0x09.
//
// It checks what it is given: the message (printable UTF-8, 1 to
// MaxProofMessageBytes bytes), at least one coin, no outpoint twice, each
// previous transaction decodes to the coin's txid with nothing after it,
// and its spent output holds the coin's amount and script, which must be
// the wallet's script at the coin's branch and index. Refusals are
// *reserve.Error of code CodeInvalid naming "message" or "coin[i]".
// Deriving the coins' addresses is spread over the cores.
func (d *Descriptor) BuildProof(message []byte, coins []ProofCoin) (*psbt.Packet, error) {
	if err := CheckProofMessage(message); err != nil {
		return nil, reserve.Invalid("message", "%w", err)
	}
	if len(coins) == 0 {
		return nil, reserve.Invalid("coins", "no coins to prove")
	}
	prevs, err := proofPrevTxs(coins)
	if err != nil {
		return nil, err
	}
	ch, err := d.challenge()
	if err != nil {
		return nil, err
	}
	toSpendTx := ToSpend(BIP322MessageHash(message), ch.pkScript)
	ops := make([]wire.OutPoint, len(coins))
	for i, c := range coins {
		ops[i] = c.UTXO.OutPoint
	}
	packet, err := psbt.NewFromUnsignedTx(toSign(toSpendTx, ops))
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInternal, "unable to start the proof PSBT: %w", err)
	}

	// Input 0: to_spend's output, at the challenge address.
	in0 := &packet.Inputs[0]
	in0.NonWitnessUtxo = toSpendTx
	in0.WitnessUtxo = wire.NewTxOut(0, slices.Clone(ch.pkScript))
	in0.WitnessScript = slices.Clone(ch.witnessScript)
	in0.Bip32Derivation = d.derivations(ch.keys, challengePath)
	in0.SighashType = txscript.SigHashAll

	// The coins, as a spend's inputs: keys derived once per address and
	// spread over the cores.
	paths := make([]keyPath, len(coins))
	for i, c := range coins {
		paths[i] = keyPath{Branch: c.UTXO.Branch, Index: c.UTXO.Index}
	}
	derived := d.kr.deriveAll(paths)
	for i, c := range coins {
		in := reserve.Input{OutPoint: c.UTXO.OutPoint, AmountSat: c.UTXO.AmountSat, Branch: c.UTXO.Branch, Index: c.UTXO.Index}
		if err := fillInput(&packet.Inputs[1+i], d, in, prevs[i], derived[paths[i]]); err != nil {
			return nil, reserve.Invalid(coinField(i), "%w", err)
		}
	}

	packet.XPubs = d.globalXPubs()
	packet.Unknowns = []*psbt.Unknown{{Key: []byte{PSBTGlobalGenericSignedMessage}, Value: slices.Clone(message)}}
	return packet, nil
}

// proofPrevTxs decodes and checks the coins' previous transactions, each
// distinct one once, and returns them per coin.
func proofPrevTxs(coins []ProofCoin) ([]*wire.MsgTx, error) {
	type decoded struct {
		raw []byte
		tx  *wire.MsgTx
	}
	byHash := make(map[chainhash.Hash]decoded, len(coins))
	seen := make(map[wire.OutPoint]int, len(coins))
	out := make([]*wire.MsgTx, len(coins))
	var total int64
	for i, c := range coins {
		field := coinField(i)
		u := c.UTXO
		if j, dup := seen[u.OutPoint]; dup {
			return nil, reserve.Invalid(field, "coin %s is coin[%d] too", u.OutPoint, j)
		}
		seen[u.OutPoint] = i
		if u.AmountSat <= 0 || u.AmountSat > reserve.MaxSat {
			return nil, reserve.Invalid(field, "amount %d sat is out of range", u.AmountSat)
		}
		if total += u.AmountSat; total > reserve.MaxSat {
			return nil, reserve.Invalid(field, "coins total more than 21 million BTC")
		}
		prev, ok := byHash[u.OutPoint.Hash]
		switch {
		case ok && !bytes.Equal(prev.raw, c.PrevTx):
			return nil, reserve.Invalid(field, "previous transaction %s differs from the one given with an earlier coin", u.OutPoint.Hash)
		case !ok:
			tx, err := decodePrevTx(c.PrevTx)
			if err != nil {
				return nil, reserve.Invalid(field, "%w", err)
			}
			if h := tx.TxHash(); h != u.OutPoint.Hash {
				return nil, reserve.Invalid(field, "previous transaction given for %s is %s", u.OutPoint.Hash, h)
			}
			prev = decoded{raw: c.PrevTx, tx: tx}
			byHash[u.OutPoint.Hash] = prev
		}
		if u.OutPoint.Index >= uint32(len(prev.tx.TxOut)) {
			return nil, reserve.Invalid(field, "previous transaction %s has %d outputs, the coin is output %d",
				u.OutPoint.Hash, len(prev.tx.TxOut), u.OutPoint.Index)
		}
		spent := prev.tx.TxOut[u.OutPoint.Index]
		if spent.Value != u.AmountSat {
			return nil, reserve.Invalid(field, "output %s holds %d sat, the coin says %d sat", u.OutPoint, spent.Value, u.AmountSat)
		}
		if !bytes.Equal(spent.PkScript, u.Script) {
			return nil, reserve.Invalid(field, "output %s pays script %x, the coin says %x", u.OutPoint, spent.PkScript, u.Script)
		}
		out[i] = prev.tx
	}
	return out, nil
}

// decodePrevTx decodes a serialized previous transaction, refusing bytes
// after it.
func decodePrevTx(raw []byte) (*wire.MsgTx, error) {
	tx := new(wire.MsgTx)
	r := bytes.NewReader(raw)
	if err := tx.Deserialize(r); err != nil {
		return nil, fmt.Errorf("previous transaction does not decode: %w", err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("previous transaction has %d bytes after it", r.Len())
	}
	return tx, nil
}

// ProofSummary is what a proof PSBT proves: the message, the challenge,
// the coins (inputs 1..n) and their total.
type ProofSummary struct {
	Message          []byte
	MessageHash      chainhash.Hash
	Challenge        []byte
	ChallengeAddress string
	Coins            []wire.OutPoint
	TotalSat         int64
}

// IsProof reports whether p is shaped as a proof: the global message field
// 0x09 is there, or input 0's previous transaction looks like a to_spend
// (one input spending 00…00:0xffffffff with the scriptSig OP_0 PUSH32,
// one output). It decides nothing: a signer routes on it and then runs
// CheckProof, so a PSBT that looks like a proof is never treated as a
// spend.
func IsProof(p *psbt.Packet) bool {
	if p == nil {
		return false
	}
	if slices.ContainsFunc(p.Unknowns, func(u *psbt.Unknown) bool {
		return u != nil && len(u.Key) > 0 && u.Key[0] == PSBTGlobalGenericSignedMessage
	}) {
		return true
	}
	if len(p.Inputs) == 0 {
		return false
	}
	prev := p.Inputs[0].NonWitnessUtxo
	return prev != nil && len(prev.TxIn) == 1 && len(prev.TxOut) == 1 &&
		prev.TxIn[0].PreviousOutPoint == wire.OutPoint{Index: wire.MaxPrevOutIndex} &&
		len(prev.TxIn[0].SignatureScript) == 2+chainhash.HashSize &&
		prev.TxIn[0].SignatureScript[0] == txscript.OP_0 && prev.TxIn[0].SignatureScript[1] == txscript.OP_DATA_32
}

// proofMessage returns the message in p's global field 0x09.
func proofMessage(p *psbt.Packet) ([]byte, error) {
	var msg []byte
	found := false
	for _, u := range p.Unknowns {
		if u == nil || len(u.Key) == 0 || u.Key[0] != PSBTGlobalGenericSignedMessage {
			continue
		}
		switch {
		case len(u.Key) != 1:
			return nil, reserve.Invalid(proofField, "message key %x has key data", u.Key)
		case found:
			return nil, reserve.Invalid(proofField, "the message is there twice")
		}
		msg, found = u.Value, true
	}
	if !found {
		return nil, reserve.Invalid(proofField, "no message: a proof carries it in global field 0x09")
	}
	if err := CheckProofMessage(msg); err != nil {
		return nil, reserve.Invalid(proofField, "%w", err)
	}
	return msg, nil
}

// CheckProof is the check both the daemon and every signer run before
// trusting a proof PSBT: it recomputes everything from the message and the
// descriptor and returns what the proof proves.
//
// The message in global field 0x09 must be printable UTF-8 of 1 to
// MaxProofMessageBytes bytes. to_sign must have version 0, locktime 0,
// every sequence 0, no outpoint twice, and exactly one output, of 0 sat,
// whose script is OP_RETURN alone and whose map carries no script or
// derivation. Input 0 must spend output 0 of ToSpend(hash(message),
// challenge), the challenge being d's receive address 0, carry exactly
// that transaction as non_witness_utxo and its output as witness_utxo, and
// the witness_script and every cosigner's derivation of receive address 0.
// Every other input is a reserve coin and must pass what Analyze asks of a
// spend input (previous transaction, amounts, derivations, keys and
// scripts re-derived from d: no foreign input, no foreign script). Sighash
// types must be absent or ALL, and every partial signature already there
// must end in the ALL byte. Global xpubs, if any, must be d's cosigners'.
//
// Refusals are *reserve.Error of code CodeInvalid naming the field
// ("global[0x09]", "tx" for to_sign's version and locktime, "input[2]",
// "output[1]", "xpub[0]", "psbt"). CheckProof
// does not modify p; it uses every core to derive the coins' keys.
func CheckProof(p *psbt.Packet, d *Descriptor) (ProofSummary, error) {
	sum, _, err := checkProof(p, d)
	return sum, err
}

// checkProof is CheckProof, returning also every input's key path.
func checkProof(p *psbt.Packet, d *Descriptor) (ProofSummary, []keyPath, error) {
	if err := checkPacket(p, d); err != nil {
		return ProofSummary{}, nil, err
	}
	if err := checkGlobalXPubs(p, d); err != nil {
		return ProofSummary{}, nil, err
	}
	msg, err := proofMessage(p)
	if err != nil {
		return ProofSummary{}, nil, err
	}
	if err := checkProofUnknowns(p); err != nil {
		return ProofSummary{}, nil, err
	}
	tx := p.UnsignedTx
	if err := checkToSignShape(tx); err != nil {
		return ProofSummary{}, nil, err
	}
	if len(tx.TxIn) < 2 {
		return ProofSummary{}, nil, reserve.Invalid("psbt", "the proof spends no reserve coin, only to_spend")
	}
	if err := checkProofOutputMap(&p.Outputs[0]); err != nil {
		return ProofSummary{}, nil, reserve.Invalid(outputField(0), "%w", err)
	}
	ch, err := d.challenge()
	if err != nil {
		return ProofSummary{}, nil, err
	}
	sum := ProofSummary{
		Message:          slices.Clone(msg),
		MessageHash:      BIP322MessageHash(msg),
		Challenge:        slices.Clone(ch.pkScript),
		ChallengeAddress: scriptAddress(ch.pkScript, d.params),
		Coins:            make([]wire.OutPoint, 0, len(tx.TxIn)-1),
	}
	if err := checkProofInput0(p, d, ch, sum.MessageHash); err != nil {
		return ProofSummary{}, nil, reserve.Invalid(inputField(0), "%w", err)
	}

	// The coins, cheap checks first and in order, then every key and
	// script re-derived from the descriptor.
	paths := make([]keyPath, len(tx.TxIn))
	paths[0] = challengePath
	for i := 1; i < len(tx.TxIn); i++ {
		in := &p.Inputs[i]
		if err := checkInputFields(tx.TxIn[i], in); err != nil {
			return ProofSummary{}, nil, reserve.Invalid(inputField(i), "%w", err)
		}
		if err := checkPartialSighashes(in); err != nil {
			return ProofSummary{}, nil, reserve.Invalid(inputField(i), "%w", err)
		}
		path, err := d.derivationPath(in.Bip32Derivation)
		if err != nil {
			return ProofSummary{}, nil, reserve.Invalid(inputField(i), "%w", err)
		}
		paths[i] = path
		if sum.TotalSat += in.WitnessUtxo.Value; sum.TotalSat > reserve.MaxSat {
			return ProofSummary{}, nil, reserve.Invalid(inputField(i), "coins total more than 21 million BTC")
		}
		sum.Coins = append(sum.Coins, tx.TxIn[i].PreviousOutPoint)
	}
	derived := d.kr.deriveAll(paths[1:])
	for i := 1; i < len(tx.TxIn); i++ {
		if err := derived[paths[i]].checkInput(d, paths[i], &p.Inputs[i]); err != nil {
			return ProofSummary{}, nil, reserve.Invalid(inputField(i), "%w", err)
		}
	}
	return sum, paths, nil
}

// checkProofUnknowns refuses every field a proof has no use for, so that
// nothing rides along unseen: globally only the message (0x09) and Custos
// fields may be there besides the xpubs (which fields of Custos a signer
// accepts in a proof is the signer's rule: the audit checkpoint, not an
// intent or approvals), and no input or output carries a field this
// parser does not know. A PSBT_GLOBAL_VERSION (0xfb) other than 0 is such
// a field: btcd's parser reads version 0 only.
func checkProofUnknowns(p *psbt.Packet) error {
	for _, u := range p.Unknowns {
		if u == nil || len(u.Key) == 0 {
			return reserve.Invalid("psbt", "a global field with an empty key")
		}
		if u.Key[0] == PSBTGlobalGenericSignedMessage || bytes.HasPrefix(u.Key, custosPrefix) {
			continue
		}
		return reserve.Invalid(fmt.Sprintf("global[0x%02x]", u.Key[0]),
			"a proof carries no global field but the message (0x09), the cosigners' xpubs and Custos fields (key %x)", u.Key)
	}
	for i := range p.Inputs {
		if u := p.Inputs[i].Unknowns; len(u) > 0 {
			return reserve.Invalid(inputField(i), "carries a field a proof has no use for (key %x)", u[0].Key)
		}
	}
	for k := range p.Outputs {
		if u := p.Outputs[k].Unknowns; len(u) > 0 {
			return reserve.Invalid(outputField(k), "carries a field a proof has no use for (key %x)", u[0].Key)
		}
	}
	return nil
}

// checkToSignShape checks what every proof's to_sign has, whoever checks
// it: version 0, locktime 0, every sequence 0, no outpoint twice, and one
// output of 0 sat paying OP_RETURN alone. A payment cannot hide in it.
func checkToSignShape(tx *wire.MsgTx) error {
	switch {
	case tx.Version != 0:
		return reserve.Invalid("tx", "to_sign has version %d, a proof has version 0", tx.Version)
	case tx.LockTime != 0:
		return reserve.Invalid("tx", "to_sign has locktime %d, a proof has locktime 0", tx.LockTime)
	case len(tx.TxIn) == 0:
		return reserve.Invalid("tx", "to_sign has no inputs")
	case len(tx.TxOut) != 1:
		return reserve.Invalid(outputField(min(1, len(tx.TxOut))), "to_sign has %d outputs, a proof has exactly one (0 sat to OP_RETURN)", len(tx.TxOut))
	}
	if out := tx.TxOut[0]; out.Value != 0 || !bytes.Equal(out.PkScript, opReturnScript) {
		return reserve.Invalid(outputField(0), "output pays %d sat to script %x; a proof's one output pays 0 sat to OP_RETURN (6a) alone",
			out.Value, out.PkScript)
	}
	seen := make(map[wire.OutPoint]int, len(tx.TxIn))
	for i, txIn := range tx.TxIn {
		if j, dup := seen[txIn.PreviousOutPoint]; dup {
			return reserve.Invalid(inputField(i), "spends %s, as input[%d] does", txIn.PreviousOutPoint, j)
		}
		seen[txIn.PreviousOutPoint] = i
		if txIn.Sequence != 0 {
			return reserve.Invalid(inputField(i), "sequence is %#x, a proof's are 0", txIn.Sequence)
		}
	}
	return nil
}

// checkProofOutputMap refuses scripts and derivations on the proof's
// OP_RETURN output: nothing there is the wallet's, and a device shown the
// wallet's derivations might take it for change.
func checkProofOutputMap(out *psbt.POutput) error {
	if out.RedeemScript != nil || out.WitnessScript != nil || len(out.Bip32Derivation) > 0 ||
		out.TaprootInternalKey != nil || out.TaprootTapTree != nil || len(out.TaprootBip32Derivation) > 0 {
		return errors.New("the OP_RETURN output carries scripts or derivations")
	}
	return nil
}

// checkProofInput0 checks that input 0 spends exactly to_spend's output
// for the message hash and the challenge, and carries its fields.
func checkProofInput0(p *psbt.Packet, d *Descriptor, ch derivedScripts, hash chainhash.Hash) error {
	in := &p.Inputs[0]
	if err := checkInputKind(in); err != nil {
		return err
	}
	want := ToSpend(hash, ch.pkScript)
	wantOp := wire.OutPoint{Hash: want.TxHash(), Index: 0}
	if op := p.UnsignedTx.TxIn[0].PreviousOutPoint; op != wantOp {
		return fmt.Errorf("spends %s, not output 0 of the BIP-322 to_spend for the message and the challenge (%s)", op, wantOp.Hash)
	}
	prev := in.NonWitnessUtxo
	if prev == nil {
		return errors.New("non_witness_utxo (to_spend) is missing")
	}
	var got, exp bytes.Buffer
	if err := prev.Serialize(&got); err != nil {
		return fmt.Errorf("non_witness_utxo does not serialize: %w", err)
	}
	if err := want.Serialize(&exp); err != nil {
		return fmt.Errorf("unable to serialize to_spend: %w", err)
	}
	if !bytes.Equal(got.Bytes(), exp.Bytes()) {
		return errors.New("non_witness_utxo is not the BIP-322 to_spend for the message and the challenge")
	}
	switch utxo := in.WitnessUtxo; {
	case utxo == nil:
		return errors.New("witness_utxo is missing")
	case utxo.Value != 0 || !bytes.Equal(utxo.PkScript, ch.pkScript):
		return fmt.Errorf("witness_utxo (%d sat to %x) is not to_spend's output (0 sat to %x)", utxo.Value, utxo.PkScript, ch.pkScript)
	}
	if err := checkSighashType(in); err != nil {
		return err
	}
	if err := checkPartialSighashes(in); err != nil {
		return err
	}
	if in.WitnessScript == nil {
		return errors.New("witness_script is missing")
	}
	path, err := d.derivationPath(in.Bip32Derivation)
	if err != nil {
		return err
	}
	if path != challengePath {
		return fmt.Errorf("derivations name %s, the challenge is receive address %s", path, challengePath)
	}
	return derivation{derivedScripts: ch}.checkInput(d, path, in)
}

// checkPartialSighashes refuses a partial signature whose sighash byte is
// not ALL: a proof signed with NONE, SINGLE or ANYONECANPAY would commit
// to less than the whole to_sign.
func checkPartialSighashes(in *psbt.PInput) error {
	for _, s := range in.PartialSigs {
		if s == nil || len(s.Signature) == 0 {
			return errors.New("has an empty partial signature")
		}
		if t := s.Signature[len(s.Signature)-1]; t != byte(txscript.SigHashAll) {
			return fmt.Errorf("partial signature by key %x has sighash type %s (0x%x), a proof is signed with ALL only",
				s.PubKey, sighashName(uint32(t)), t)
		}
	}
	return nil
}

// SignProof adds this cosigner's signature to every input of the proof p
// (input 0 too) and returns how many it added. It runs CheckProof first
// and signs nothing unless that passes; the caller shows the summary and
// signs only what its officers approve. The signatures are SIGHASH_ALL,
// made as SignPSBT makes a spend's; it adds all or none, and refuses like
// CheckProof and SignPSBT.
func SignProof(p *psbt.Packet, d *Descriptor, account *hdkeychain.ExtendedKey) (int, error) {
	_, paths, err := checkProof(p, d)
	if err != nil {
		return 0, err
	}
	c, err := d.signerPosition(account)
	if err != nil {
		return 0, err
	}
	return signAll(p, d, c, account, paths)
}

// FinalizeProof builds every input's witness from the partial signatures
// (m per input, as FinalizePSBT does), checks the result with VerifyProof
// against the PSBT's own previous outputs, and returns the final to_sign.
// p must pass CheckProof. On success p's inputs are finalized as
// FinalizePSBT leaves them; on any error p is unchanged. An input with
// fewer than m signatures is CodeFailedPrecondition; a signature that does
// not verify is CodeInvalid naming its input.
func FinalizeProof(p *psbt.Packet, d *Descriptor) (*wire.MsgTx, error) {
	sum, err := CheckProof(p, d)
	if err != nil {
		return nil, err
	}
	// Finalize a copy of the input maps, so that p changes only once the
	// transaction verifies.
	cp := *p
	cp.Inputs = slices.Clone(p.Inputs)
	tx, err := FinalizePSBT(&cp, d)
	if err != nil {
		return nil, err
	}
	prevOuts := make(map[wire.OutPoint]*wire.TxOut, len(tx.TxIn))
	for i, txIn := range tx.TxIn[1:] {
		prevOuts[txIn.PreviousOutPoint] = p.Inputs[1+i].WitnessUtxo
	}
	total, err := VerifyProof(tx, sum.Message, sum.Challenge, prevOuts, 0)
	if err != nil {
		return nil, err
	}
	if total != sum.TotalSat {
		return nil, reserve.Errorf(reserve.CodeInternal, "the finalized proof proves %d sat, the PSBT %d sat", total, sum.TotalSat)
	}
	copy(p.Inputs, cp.Inputs)
	return tx, nil
}

// VerifyProof is the public verifier's check, needing no descriptor and no
// keys: tx must be a proof for message with challenge — the message
// printable UTF-8 of 1 to MaxProofMessageBytes bytes, input 0 spending
// ToSpend(BIP322MessageHash(message), challenge):0, version 0, locktime 0,
// every sequence 0, no outpoint twice, one 0-sat OP_RETURN output — and
// every input must pass btcd's script engine (txscript.StandardVerifyFlags,
// BIP-143 midstate computed once) against its previous output: to_spend's
// output for input 0, prevOuts[outpoint] for the others (the caller takes
// them from the chain at the proof's height). Every signature must be
// SIGHASH_ALL; the previous outputs must be native P2WSH whose witness
// script is an m-of-n CHECKMULTISIG, or P2WPKH, as otherwise the signatures
// cannot be told apart to check that. The scripts run in parallel over
// workers goroutines (0 = GOMAXPROCS).
//
// It returns the total of inputs 1..n. The error is a *reserve.Error of
// code CodeInvalid naming the first input ("input[3]") or other field that
// fails, and why.
func VerifyProof(tx *wire.MsgTx, message, challenge []byte, prevOuts map[wire.OutPoint]*wire.TxOut, workers int) (int64, error) {
	return VerifyProofCached(tx, message, challenge, prevOuts, workers, nil)
}

// VerifyProofCached is VerifyProof recording every signature the script
// engine verified in cache (nil: none), so that a caller who must then
// tell which key made each signature (the public verifier, with the
// descriptor) looks it up instead of verifying it again. Size the cache
// for every signature: inputs × the wallet's threshold.
func VerifyProofCached(tx *wire.MsgTx, message, challenge []byte, prevOuts map[wire.OutPoint]*wire.TxOut, workers int, cache *txscript.SigCache) (int64, error) {
	if err := CheckProofMessage(message); err != nil {
		return 0, reserve.Invalid("message", "%w", err)
	}
	return verifyToSign(tx, BIP322MessageHash(message), challenge, prevOuts, workers, cache)
}

// proofFetcher gives the script engine every input's previous output:
// to_spend's for input 0, the caller's map for the rest.
type proofFetcher struct {
	toSpend  wire.OutPoint
	out      *wire.TxOut
	prevOuts map[wire.OutPoint]*wire.TxOut
}

// FetchPrevOutput implements txscript.PrevOutputFetcher.
func (f *proofFetcher) FetchPrevOutput(op wire.OutPoint) *wire.TxOut {
	if op == f.toSpend {
		return f.out
	}
	return f.prevOuts[op]
}

// verifyToSign is VerifyProof for a message hash: BIP-322's check of a
// full signature, without the rules on the message itself.
func verifyToSign(tx *wire.MsgTx, hash chainhash.Hash, challenge []byte, prevOuts map[wire.OutPoint]*wire.TxOut, workers int, cache *txscript.SigCache) (int64, error) {
	if tx == nil {
		return 0, reserve.Invalid("tx", "no transaction")
	}
	if err := checkToSignShape(tx); err != nil {
		return 0, err
	}
	toSpendTx := ToSpend(hash, challenge)
	f := &proofFetcher{
		toSpend:  wire.OutPoint{Hash: toSpendTx.TxHash(), Index: 0},
		out:      toSpendTx.TxOut[0],
		prevOuts: prevOuts,
	}
	if op := tx.TxIn[0].PreviousOutPoint; op != f.toSpend {
		return 0, reserve.Invalid(inputField(0), "spends %s, not output 0 of the BIP-322 to_spend for the message and the challenge (%s)",
			op, f.toSpend.Hash)
	}

	// Every previous output is known and of a kind whose signatures can
	// be checked, before anything reads them.
	var total int64
	for i, txIn := range tx.TxIn {
		out := f.FetchPrevOutput(txIn.PreviousOutPoint)
		if out == nil {
			return 0, reserve.Invalid(inputField(i), "previous output %s is not given", txIn.PreviousOutPoint)
		}
		if err := checkProofWitness(out.PkScript, txIn.Witness); err != nil {
			return 0, reserve.Invalid(inputField(i), "%w", err)
		}
		if i == 0 {
			continue
		}
		if out.Value < 0 || out.Value > reserve.MaxSat {
			return 0, reserve.Invalid(inputField(i), "previous output %s holds %d sat, out of range", txIn.PreviousOutPoint, out.Value)
		}
		if total += out.Value; total > reserve.MaxSat {
			return 0, reserve.Invalid(inputField(i), "coins total more than 21 million BTC")
		}
	}

	// One script execution per input, spread over the cores, the BIP-143
	// midstate shared.
	hashes := txscript.NewTxSigHashes(tx, f)
	err := forEach(len(tx.TxIn), workers, func(i int) error {
		out := f.FetchPrevOutput(tx.TxIn[i].PreviousOutPoint)
		vm, err := txscript.NewEngine(out.PkScript, tx, i, txscript.StandardVerifyFlags, cache, hashes, out.Value, f)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return reserve.Invalid(inputField(i), "script verification failed: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// checkProofWitness checks that a previous output is native P2WSH or
// P2WPKH and that every signature in the witness spending it ends in the
// SIGHASH_ALL byte: the engine checks the signatures, not their type.
func checkProofWitness(pkScript []byte, wit wire.TxWitness) error {
	var sigs [][]byte
	switch {
	case txscript.IsPayToWitnessPubKeyHash(pkScript):
		if len(wit) != 2 {
			return fmt.Errorf("P2WPKH witness has %d items, not 2", len(wit))
		}
		sigs = wit[:1]
	case txscript.IsPayToWitnessScriptHash(pkScript):
		if len(wit) < 2 {
			return fmt.Errorf("P2WSH witness has %d items, too few for a multisig spend", len(wit))
		}
		if _, _, err := parseMultisig(wit[len(wit)-1]); err != nil {
			return fmt.Errorf("the witness script is not an m-of-n CHECKMULTISIG, so its sighash types cannot be checked: %w", err)
		}
		sigs = wit[1 : len(wit)-1]
	default:
		return fmt.Errorf("previous output script %x is neither P2WSH nor P2WPKH; this verifier cannot check it", pkScript)
	}
	for _, s := range sigs {
		if len(s) == 0 {
			return errors.New("the witness has an empty signature")
		}
		if t := s[len(s)-1]; t != byte(txscript.SigHashAll) {
			return fmt.Errorf("a signature has sighash type %s (0x%x), a proof is signed with ALL only", sighashName(uint32(t)), t)
		}
	}
	return nil
}
