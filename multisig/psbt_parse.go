package multisig

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// MaxPSBTBytes caps a PSBT we parse (32 MiB): far above the largest
// standard transaction with every previous transaction attached, far below
// what could exhaust a signer's memory.
const MaxPSBTBytes = 32 << 20

// MaxPSBTFileBytes caps a PSBT file that a reader loads before ParsePSBT
// sees it: a PSBT of MaxPSBTBytes written in base64 (custosctl spend export
// --base64, custos-signer sign --base64) is 4/3 its size, and a text editor
// or a copy may add a line end or a few blanks around it, so the cap is
// base64.StdEncoding.EncodedLen(MaxPSBTBytes) plus 4 KiB of slack for that
// whitespace. ParsePSBT still refuses a PSBT over MaxPSBTBytes in either
// form; this only keeps a wrong path from filling memory. Every reader of a
// PSBT file uses it.
const MaxPSBTFileBytes = (MaxPSBTBytes+2)/3*4 + 4<<10

// psbtMagic opens every binary PSBT ("psbt" 0xff); base64Magic is how its
// base64 form starts.
var (
	psbtMagic   = []byte("psbt\xff")
	base64Magic = []byte("cHNidP8")
)

// BIP-174 and BIP-371 key types this file looks at.
const (
	globalUnsignedTx = 0x00
	globalVersion    = 0xfb
	inNonWitnessUtxo = 0x00
	inWitnessUtxo    = 0x01
	inPartialSig     = 0x02
	inBip32          = 0x06
	inFinalScriptSig = 0x07
	inFinalWitness   = 0x08
	inTaprootBip32   = 0x16
	outBip32         = 0x02
	outTaprootBip32  = 0x07
	// multiByteKeyType and above open a key type of more than one byte.
	multiByteKeyType = 0xfd
	maxKeyBytes      = psbt.MaxPsbtKeyLength
	maxValueBytes    = psbt.MaxPsbtValueLength
)

// isV2Global, isV2Input and isV2Output report the BIP-370 key types that
// BIP-370 says must be excluded from a version-0 PSBT.
func isV2Global(t byte) bool { return t >= 0x02 && t <= 0x06 }
func isV2Input(t byte) bool  { return t >= 0x0e && t <= 0x12 }
func isV2Output(t byte) bool { return t == 0x03 || t == 0x04 }

// isPartialInputType reports the input key types BIP-174's finalizer
// removes; a finalized input must not carry them (the serializer would drop
// them silently).
func isPartialInputType(t byte) bool {
	return (t >= inPartialSig && t <= inBip32) || (t >= 0x13 && t <= 0x18)
}

// ParsePSBT reads a PSBT in binary or base64 form, telling them apart by
// their first bytes ("psbt" 0xff, or "cHNidP8"); base64 may be surrounded by
// whitespace, binary may not. It refuses, as a *reserve.Error of code
// CodeInvalid with field "psbt" and a message starting "malformed PSBT: ",
// more than MaxPSBTBytes, bytes after the last map, a version other than 0
// and BIP-370 (version 2) fields, duplicate keys in any map, key types that
// do not fit in one byte, non-canonical compact sizes, witness_utxo and
// previous transactions with bytes left over, finalized inputs that still
// carry partial signing fields, and everything psbt.NewFromRawBytes
// refuses. It never panics, whatever b holds.
func ParsePSBT(b []byte) (*psbt.Packet, error) {
	raw, err := psbtBytes(b)
	if err != nil {
		return nil, err
	}
	sc, err := scanPSBT(raw, false)
	if err != nil {
		return nil, malformed("%w", err)
	}
	p, err := decodePSBT(sc.raw)
	if err != nil {
		// Say which key, if a key off the curve is why (checkSECKey).
		if _, serr := scanPSBT(raw, true); serr != nil {
			return nil, malformed("%w", serr)
		}
		return nil, err
	}
	for i, in := range p.Inputs {
		// The decoder reads each previous transaction from its own value
		// and ignores what follows the transaction; refuse leftovers, and
		// a transaction that is not the one spent (Core refuses both).
		if n := sc.nwuLen[i]; n >= 0 {
			if err := checkNonWitnessUtxo(p.UnsignedTx.TxIn[i].PreviousOutPoint, in.NonWitnessUtxo, n); err != nil {
				return nil, malformed("input[%d]: %w", i, err)
			}
		}
		// An explicit sighash type 0 decodes as none; keep the pair where
		// Analyze sees it and SerializePSBT writes it back, so that what
		// a signer refuses is what it was given (see checkSighashType).
		if sc.sighashZero[i] {
			p.Inputs[i].Unknowns = append(p.Inputs[i].Unknowns, &psbt.Unknown{
				Key: []byte{inSighash}, Value: make([]byte, 4),
			})
		}
	}
	return p, nil
}

// SerializePSBT returns the binary form of p, its maps' keys in the order
// psbt.Packet.Serialize writes them. Serialize sorts p's partial signatures
// and derivations in place, so p must not be in use elsewhere meanwhile.
func SerializePSBT(p *psbt.Packet) ([]byte, error) {
	if p == nil || p.UnsignedTx == nil {
		return nil, reserve.Invalid("psbt", "no PSBT to serialize")
	}
	var buf bytes.Buffer
	if err := p.Serialize(&buf); err != nil {
		return nil, reserve.Errorf(reserve.CodeInternal, "unable to serialize the PSBT: %w", err)
	}
	return buf.Bytes(), nil
}

// malformed builds the error every parsing refusal returns.
func malformed(format string, args ...any) *reserve.Error {
	return reserve.Invalid("psbt", "malformed PSBT: "+format, args...)
}

// psbtBytes returns the binary PSBT that b holds, decoding base64.
func psbtBytes(b []byte) ([]byte, error) {
	if bytes.HasPrefix(b, psbtMagic) {
		if len(b) > MaxPSBTBytes {
			return nil, malformed("%d bytes is more than the %d allowed", len(b), MaxPSBTBytes)
		}
		return b, nil
	}
	text := bytes.TrimSpace(b)
	if !bytes.HasPrefix(text, base64Magic) {
		return nil, malformed("neither binary (starting \"psbt\\xff\") nor base64 (starting %q)", base64Magic)
	}
	if max := base64.StdEncoding.EncodedLen(MaxPSBTBytes); len(text) > max {
		return nil, malformed("%d base64 characters is more than the %d allowed", len(text), max)
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Strict().Decode(raw, text)
	if err != nil {
		return nil, malformed("bad base64: %w", err)
	}
	// EncodedLen(MaxPSBTBytes) characters can hold a byte or two more.
	if n > MaxPSBTBytes {
		return nil, malformed("%d bytes (in base64) is more than the %d allowed", n, MaxPSBTBytes)
	}
	return raw[:n], nil
}

// checkNonWitnessUtxo checks a decoded non_witness_utxo of n serialized
// bytes against the outpoint its input spends.
func checkNonWitnessUtxo(op wire.OutPoint, prev *wire.MsgTx, n int) error {
	switch {
	case prev == nil:
		return fmt.Errorf("non_witness_utxo did not decode")
	case prev.SerializeSize() != n:
		return fmt.Errorf("non_witness_utxo has bytes after the transaction")
	case prev.TxHash() != op.Hash:
		return fmt.Errorf("non_witness_utxo is transaction %s, but the input spends %s", prev.TxHash(), op.Hash)
	case op.Index >= uint32(len(prev.TxOut)):
		return fmt.Errorf("non_witness_utxo has %d outputs, the input spends output %d", len(prev.TxOut), op.Index)
	}
	return nil
}

// decodePSBT runs psbt.NewFromRawBytes on a binary PSBT that scanPSBT
// accepted. The recover is a safety net: psbt v1.1.10 slices values it has
// not measured in places (an empty BIP-32 derivation value panics), and
// scanPSBT refuses the cases known to do that.
func decodePSBT(raw []byte) (p *psbt.Packet, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, malformed("the decoder failed: %v", r)
		}
	}()
	r := bytes.NewReader(raw)
	p, err = psbt.NewFromRawBytes(r, false)
	if err != nil {
		return nil, malformed("%w", err)
	}
	if r.Len() != 0 {
		// scanPSBT already refused this; keep the check next to the
		// decoder that would otherwise ignore them.
		return nil, malformed("%d bytes after the last map", r.Len())
	}
	return p, nil
}

// scanner walks a binary PSBT's key-value maps without decoding values.
type scanner struct {
	b   []byte
	off int
}

// compactSize reads a canonical compact-size integer.
func (s *scanner) compactSize() (uint64, error) {
	if s.off >= len(s.b) {
		return 0, fmt.Errorf("truncated at byte %d", s.off)
	}
	v, n, err := readCompactSize(s.b[s.off:])
	if err != nil {
		return 0, fmt.Errorf("at byte %d: %w", s.off, err)
	}
	s.off += n
	return v, nil
}

// next returns the next n bytes.
func (s *scanner) next(n uint64, what string) ([]byte, error) {
	if n > uint64(len(s.b)-s.off) {
		return nil, fmt.Errorf("%s of %d bytes at byte %d runs past the end", what, n, s.off)
	}
	out := s.b[s.off : s.off+int(n)]
	s.off += int(n)
	return out, nil
}

// readCompactSize decodes a Bitcoin compact-size integer from the start of
// b, refusing encodings longer than needed.
func readCompactSize(b []byte) (uint64, int, error) {
	var v uint64
	var n int
	switch b[0] {
	case 0xfd:
		n = 3
	case 0xfe:
		n = 5
	case 0xff:
		n = 9
	default:
		return uint64(b[0]), 1, nil
	}
	if len(b) < n {
		return 0, 0, fmt.Errorf("truncated compact size")
	}
	var min uint64
	switch n {
	case 3:
		v, min = uint64(binary.LittleEndian.Uint16(b[1:3])), 0xfd
	case 5:
		v, min = uint64(binary.LittleEndian.Uint32(b[1:5])), 1<<16
	default:
		v, min = binary.LittleEndian.Uint64(b[1:9]), 1<<32
	}
	if v < min {
		return 0, 0, fmt.Errorf("non-canonical compact size %d", v)
	}
	return v, n, nil
}

// mapKind names a map for errors and selects its key-type rules.
type mapKind struct {
	global bool
	input  int // input index, or -1
	output int // output index, or -1
}

func (k mapKind) String() string {
	switch {
	case k.global:
		return "global map"
	case k.input >= 0:
		return fmt.Sprintf("input[%d]", k.input)
	}
	return fmt.Sprintf("output[%d]", k.output)
}

// scanned is what scanPSBT learned on its way through a PSBT.
type scanned struct {
	// raw is the PSBT with its unsigned transaction as the first global
	// pair, as psbt.NewFromRawBytes insists (BIP-174 fixes no key order).
	raw []byte
	// nwuLen is, per input, the length of its non_witness_utxo value (-1
	// if none), which ParsePSBT compares with the decoded transaction.
	nwuLen []int
	// sighashZero is, per input, whether it carries an explicit
	// PSBT_IN_SIGHASH_TYPE of 0, which the decoder cannot tell from none.
	sighashZero []bool
	// curve is set when the keys the decoder checks again are checked
	// on the curve here too (checkSECKey).
	curve bool
}

// scanPSBT checks the map structure of a binary PSBT (magic included)
// before psbt.NewFromRawBytes decodes it, refusing what that decoder
// accepts or would mangle but BIP-174 (or Bitcoin Core's decoder) does not
// allow (see ParsePSBT).
func scanPSBT(raw []byte, curve bool) (scanned, error) {
	s := &scanner{b: raw, off: len(psbtMagic)}
	// The unsigned transaction's input and output counts say how many
	// maps follow the global one.
	tx, canonical, err := s.globalMap()
	if err != nil {
		return scanned{}, err
	}
	out := scanned{
		raw:         canonical,
		nwuLen:      make([]int, len(tx.TxIn)),
		sighashZero: make([]bool, len(tx.TxIn)),
		curve:       curve,
	}
	seen := make(map[string]struct{})
	for m := range len(tx.TxIn) + len(tx.TxOut) {
		kind := mapKind{input: -1, output: -1}
		if m < len(tx.TxIn) {
			kind.input = m
			out.nwuLen[m] = -1
		} else {
			kind.output = m - len(tx.TxIn)
		}
		clear(seen)
		if err := s.scanMap(kind, seen, &out); err != nil {
			return scanned{}, err
		}
	}
	if s.off != len(raw) {
		return scanned{}, fmt.Errorf("%d bytes after the last map", len(raw)-s.off)
	}
	return out, nil
}

// pair reads one key-value pair of a map, or its separator (done).
func (s *scanner) pair(kind mapKind) (key, val []byte, done bool, err error) {
	keyLen, err := s.compactSize()
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", kind, err)
	}
	if keyLen == 0 {
		return nil, nil, true, nil
	}
	if keyLen > maxKeyBytes {
		return nil, nil, false, fmt.Errorf("%s: key of %d bytes is too long", kind, keyLen)
	}
	if key, err = s.next(keyLen, "key"); err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", kind, err)
	}
	valLen, err := s.compactSize()
	if err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", kind, err)
	}
	if valLen > maxValueBytes {
		return nil, nil, false, fmt.Errorf("%s: value of %d bytes is too large", kind, valLen)
	}
	if val, err = s.next(valLen, "value"); err != nil {
		return nil, nil, false, fmt.Errorf("%s: %w", kind, err)
	}
	if key[0] >= multiByteKeyType {
		return nil, nil, false, fmt.Errorf("%s: key type 0x%x… is a multi-byte compact size; no such type is defined", kind, key[0])
	}
	return key, val, false, nil
}

// globalMap reads the global map: the version, if stated, must be 0, the
// unsigned transaction must be there, wherever it sits, and be decodable
// as BIP-174 requires (no witness serialization, nothing after it). It
// returns the transaction and the PSBT with the transaction's pair moved
// first (s.b itself when it is first already).
func (s *scanner) globalMap() (*wire.MsgTx, []byte, error) {
	kind := mapKind{global: true, input: -1, output: -1}
	start := s.off
	seen := make(map[string]struct{})
	txStart, txEnd := -1, -1
	var txVal []byte
	var version uint32
	var v2Field int = -1
	for {
		pairStart := s.off
		key, val, done, err := s.pair(kind)
		if err != nil {
			return nil, nil, err
		}
		if done {
			break
		}
		if _, dup := seen[string(key)]; dup {
			return nil, nil, fmt.Errorf("%s: duplicate key %x", kind, key)
		}
		seen[string(key)] = struct{}{}
		switch t := key[0]; {
		case t == globalUnsignedTx:
			if len(key) != 1 {
				return nil, nil, fmt.Errorf("%s: unsigned transaction key %x has key data", kind, key)
			}
			txStart, txEnd, txVal = pairStart, s.off, val
		case t == globalVersion:
			if len(key) != 1 || len(val) != 4 {
				return nil, nil, fmt.Errorf("%s: bad version field", kind)
			}
			version = binary.LittleEndian.Uint32(val)
		case isV2Global(t):
			if v2Field < 0 {
				v2Field = int(t)
			}
		default:
			if err := checkGlobalPair(key, val); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", kind, err)
			}
		}
	}
	switch {
	case version != 0:
		return nil, nil, fmt.Errorf("PSBT version %d is not supported, only version 0", version)
	case txStart < 0:
		return nil, nil, fmt.Errorf("%s: no unsigned transaction (key 0x00)", kind)
	case v2Field >= 0:
		return nil, nil, fmt.Errorf("%s: PSBT version 2 field (type 0x%02x) in a version 0 PSBT", kind, v2Field)
	}
	tx, err := decodeUnsignedTx(txVal)
	if err != nil {
		return nil, nil, err
	}
	if txStart == start {
		return tx, s.b, nil
	}
	canonical := make([]byte, 0, len(s.b))
	canonical = append(canonical, s.b[:start]...)
	canonical = append(canonical, s.b[txStart:txEnd]...)
	canonical = append(canonical, s.b[start:txStart]...)
	canonical = append(canonical, s.b[txEnd:]...)
	return tx, canonical, nil
}

// decodeUnsignedTx decodes the unsigned transaction as BIP-174 requires:
// no witness serialization and nothing after it.
func decodeUnsignedTx(val []byte) (*wire.MsgTx, error) {
	tx := new(wire.MsgTx)
	r := bytes.NewReader(val)
	if err := tx.DeserializeNoWitness(r); err != nil {
		return nil, fmt.Errorf("unsigned transaction: %w", err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("unsigned transaction has %d bytes after it", r.Len())
	}
	return tx, nil
}

// scanMap reads one input or output map's key-value pairs up to its
// separator.
func (s *scanner) scanMap(kind mapKind, seen map[string]struct{}, out *scanned) error {
	var types [256]bool
	for {
		key, val, done, err := s.pair(kind)
		if err != nil {
			return err
		}
		if done {
			break
		}
		if _, dup := seen[string(key)]; dup {
			return fmt.Errorf("%s: duplicate key %x", kind, key)
		}
		seen[string(key)] = struct{}{}
		types[key[0]] = true
		if err := checkValue(kind, key, val, out); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
	}
	if kind.input >= 0 && (types[inFinalScriptSig] || types[inFinalWitness]) {
		for t := range types {
			if types[t] && isPartialInputType(byte(t)) {
				return fmt.Errorf("%s: finalized input still carries key type 0x%02x", kind, t)
			}
		}
	}
	return nil
}

// checkValue applies the per-type rules of scanPSBT to one pair of an
// input or output map.
func checkValue(kind mapKind, key, val []byte, out *scanned) error {
	t := key[0]
	if kind.input >= 0 {
		switch {
		case isV2Input(t):
			return fmt.Errorf("PSBT version 2 field (type 0x%02x) in a version 0 PSBT", t)
		case t == inNonWitnessUtxo && len(key) == 1:
			out.nwuLen[kind.input] = len(val)
		case t == inSighash && len(key) == 1 && len(val) == 4 && binary.LittleEndian.Uint32(val) == 0:
			out.sighashZero[kind.input] = true
		}
		return checkInputPair(key, val, out.curve)
	}
	if isV2Output(t) {
		return fmt.Errorf("PSBT version 2 field (type 0x%02x) in a version 0 PSBT", t)
	}
	return checkOutputPair(key, val, out.curve)
}

// checkTxOut checks that val is exactly one serialized transaction output:
// an 8-byte amount, a compact size and that many script bytes. The decoder
// assumes a one-byte length and takes the rest as the script.
func checkTxOut(val []byte) error {
	if len(val) < 9 {
		return fmt.Errorf("witness_utxo of %d bytes is too short", len(val))
	}
	n, size, err := readCompactSize(val[8:])
	if err != nil {
		return fmt.Errorf("witness_utxo: %w", err)
	}
	if uint64(len(val)-8-size) != n {
		return fmt.Errorf("witness_utxo script length %d does not match its %d bytes", n, len(val)-8-size)
	}
	if size != 1 {
		return fmt.Errorf("witness_utxo script of %d bytes is longer than the decoder reads", n)
	}
	return nil
}

// checkDerivationValue checks a BIP-32 derivation value: a fingerprint
// and whole path steps.
func checkDerivationValue(val []byte) error {
	if len(val) < 4 || len(val)%4 != 0 {
		return fmt.Errorf("BIP-32 derivation value of %d bytes is not a fingerprint and whole path steps", len(val))
	}
	return nil
}

// checkTaprootDerivationValue checks a BIP-371 derivation value: a compact
// size count of 32-byte leaf hashes, then a BIP-32 derivation value.
func checkTaprootDerivationValue(val []byte) error {
	if len(val) == 0 {
		return fmt.Errorf("empty taproot BIP-32 derivation value")
	}
	n, size, err := readCompactSize(val)
	if err != nil {
		return fmt.Errorf("taproot BIP-32 derivation: %w", err)
	}
	rest := uint64(len(val) - size)
	if n > rest/32 {
		return fmt.Errorf("taproot BIP-32 derivation claims %d leaf hashes in %d bytes", n, rest)
	}
	return checkDerivationValue(val[size+int(n)*32:])
}
