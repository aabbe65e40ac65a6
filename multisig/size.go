package multisig

import (
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// MaxSigLen is the largest DER ECDSA signature plus its sighash byte (73):
// 0x30, a length, then r and s as INTEGERs of at most 33 bytes each with
// their tag and length bytes (72), and the sighash type. Real signatures are
// 71 to 73 bytes; sizing every one at 73 makes estimates an upper bound.
const MaxSigLen = 73

// Weights of the parts of a segwit transaction (BIP-141): every byte
// outside the witness counts four times.
const (
	witnessScale = 4
	// txOverhead is version (4) and locktime (4).
	txOverhead = 4 + 4
	// txInNonWitness is outpoint (36), the empty scriptSig's length (1)
	// and sequence (4).
	txInNonWitness = 36 + 1 + 4
	// segwitMarker is the marker and flag bytes, witness data.
	segwitMarker = 2
	// maxStandardWeight is the heaviest transaction Bitcoin Core and btcd
	// relay (MAX_STANDARD_TX_WEIGHT, mempool's maxStandardTxWeight).
	maxStandardWeight = 400_000
)

// InputWeight returns the weight of one wsh(sortedmulti(m, n keys)) input
// spent with m signatures of MaxSigLen bytes:
//
//	non-witness: 41 bytes (outpoint 36, empty scriptSig length 1, sequence 4) ×4
//	witness:     item count varint(m+2), the empty dummy item (1) that
//	             OP_CHECKMULTISIG pops, m × (1 + 73), varint(len(ws)) + len(ws)
//
// where the witness script ws is OP_m, n × (push 33 + key), OP_n,
// OP_CHECKMULTISIG: 3 + 34n bytes while m and n are at most 16, one more
// byte for each of them above 16 (17 to 20 are pushed as one-byte numbers,
// there is no OP_17). A witness script above 252 bytes (n ≥ 8) has a
// 3-byte length.
//
// It sizes what it is told: the caller keeps 1 ≤ m ≤ n ≤ 20
// (SelectCoins checks).
func InputWeight(m, n int) int64 {
	ws := multisigScriptLen(m, n)
	witness := varIntLen(m+2) + 1 + int64(m)*(1+MaxSigLen) + varIntLen(int(ws)) + ws
	return txInNonWitness*witnessScale + witness
}

// multisigScriptLen is the length of OP_m <n 33-byte keys> OP_n
// OP_CHECKMULTISIG as txscript's ScriptBuilder writes it (sortedMultiScript).
func multisigScriptLen(m, n int) int64 {
	return smallIntLen(m) + int64(n)*(1+33) + smallIntLen(n) + 1
}

// smallIntLen is how many bytes AddInt64 uses for 1 ≤ v ≤ 75: OP_1..OP_16
// are one opcode, larger numbers a one-byte push of one byte.
func smallIntLen(v int) int64 {
	if v <= 16 {
		return 1
	}
	return 2
}

// OutputSize returns the serialized size of an output paying script:
// 8 (amount) + varint(len(script)) + len(script). Outputs carry no
// witness, so their weight is four times this.
func OutputSize(script []byte) int64 {
	return 8 + varIntLen(len(script)) + int64(len(script))
}

// EstimateVSize returns the virtual size, ceil(weight/4), of a segwit
// transaction spending nIn wsh(sortedmulti(m, n keys)) inputs, each at
// InputWeight(m, n), to outputs with these scripts:
//
//	(4 version + varint(nIn) + varint(nOut) + Σ OutputSize + 4 locktime) × 4
//	+ 2 (marker, flag) + nIn × InputWeight(m, n)
//
// Because every signature is sized at MaxSigLen, the real transaction is
// never heavier; it is lighter by at most 2 weight units per signature.
// nIn must be at least 1 (a transaction with no inputs has no marker).
func EstimateVSize(m, n, nIn int, outputScripts [][]byte) int64 {
	return vsize(txWeight(InputWeight(m, n), nIn, outputsLen(outputScripts)))
}

// outputsLen is the output count's varint and the outputs' serialized size.
func outputsLen(scripts [][]byte) int64 {
	total := varIntLen(len(scripts))
	for _, s := range scripts {
		total += OutputSize(s)
	}
	return total
}

// txWeight is the weight of a segwit transaction with nIn inputs of
// inWeight each and outputs serialized in outputsLen bytes (count included).
// EstimateVSize and the coin selector share it so they cannot disagree.
func txWeight(inWeight int64, nIn int, outputsLen int64) int64 {
	base := txOverhead + varIntLen(nIn) + outputsLen
	return base*witnessScale + segwitMarker + int64(nIn)*inWeight
}

// vsize rounds a weight up to virtual bytes.
func vsize(weight int64) int64 {
	return (weight + witnessScale - 1) / witnessScale
}

// varIntLen is the size of n as a Bitcoin compact size.
func varIntLen(n int) int64 {
	return int64(wire.VarIntSerializeSize(uint64(n)))
}

// DustThreshold returns the smallest amount an output paying pkScript may
// carry and still be relayed by Bitcoin Core and btcd at their default
// dust relay fee (3 × 1,000 sat/kvB): three times the size of the output
// plus the smallest input that could spend it, 41 bytes and a 107-byte
// signature-and-key, discounted to 107/4 for witness programs. That is 330
// sat for P2WSH and P2TR, 294 for P2WPKH, 540 for P2SH and 546 for P2PKH.
// An amount below it is dust.
//
// It is btcd's mempool.GetDustThreshold (and IsDust's rule, value × 1000 /
// threshold < 1000) and Core's GetDustThreshold, restated here because
// importing btcd's mempool would pull btcjson, mining and testify/mock into
// the offline signer's binary. Core exempts OP_RETURN outputs, btcd calls
// them always dust; this package refuses to pay an amount to them at all.
func DustThreshold(pkScript []byte) int64 {
	spend := int64(txInNonWitness)
	if txscript.IsWitnessProgram(pkScript) {
		spend += 107 / witnessScale
	} else {
		spend += 107
	}
	return 3 * (OutputSize(pkScript) + spend)
}
