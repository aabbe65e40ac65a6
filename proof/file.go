package proof

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// Format is the value of a proof file's "format" field. A reader refuses
// every other value: a later version gets a new name.
const Format = "custos-proof-of-reserves/v1"

// Limits of a proof file. A proof over 10,000 coins is about 1.5 MB of
// PSBT; the caps sit far above that and below what would exhaust a
// verifier's memory.
const (
	// MaxCoins caps the number of coins one proof may cover.
	MaxCoins = 100_000
	// MaxMessageBytes caps the message, as multisig.CheckProof does.
	MaxMessageBytes = multisig.MaxProofMessageBytes
	// MaxSigners caps the signers listed (a multisig has at most 15 keys).
	MaxSigners = 15
	// MaxDescriptorBytes caps the optional descriptor.
	MaxDescriptorBytes = 16 << 10
	// MaxTxBytes caps the final transaction.
	MaxTxBytes = multisig.MaxPSBTBytes
	// MaxFileBytes caps the whole file: the PSBT in base64, the
	// transaction in hex and room for the rest.
	MaxFileBytes = multisig.MaxPSBTFileBytes + 2*MaxTxBytes + 64<<10
)

// File is a parsed proof file. Every field has passed Parse's checks; the
// proof itself (signatures, the message's commitment, the chain) is
// checked by Verify.
type File struct {
	Network reserve.Network
	// Message is what the quorum signed (UTF-8, printable, as given).
	Message string
	// ChallengeAddress is the address whose script to_spend pays: the
	// wallet's receive address 0.
	ChallengeAddress string
	// Challenge is ChallengeAddress's output script.
	Challenge []byte
	// Height and BlockHash name the block at whose end every coin was
	// unspent.
	Height    int32
	BlockHash chainhash.Hash
	// TotalSat is the claimed total of the coins.
	TotalSat int64
	// Coins is the claimed number of coins (the inputs after input 0).
	Coins int
	// PSBT is the finalized proof PSBT; Tx is its final transaction.
	PSBT *psbt.Packet
	Tx   *wire.MsgTx
	// Signers are the ministries that signed, as the coordinator lists them.
	Signers []Signer
	// Descriptor is the wallet's descriptor, or empty when withheld
	// (publishing it reveals every address of the wallet).
	Descriptor string
	// Derivations, one per coin in input order (input[i+1]), say where
	// the descriptor derives each coin's script. Present exactly when
	// Descriptor is.
	Derivations []Derivation
}

// Signer names one signing ministry by its key's BIP-32 fingerprint
// (8 lowercase hex digits) and, optionally, a name.
type Signer struct {
	Fingerprint string `json:"fingerprint"`
	Name        string `json:"name,omitempty"`
}

// fileJSON is the file's encoding. Required fields are pointers so a
// missing one is told apart from a zero.
type fileJSON struct {
	Format           *string       `json:"format"`
	Network          *string       `json:"network"`
	Message          *string       `json:"message"`
	ChallengeAddress *string       `json:"challenge_address"`
	Height           *int64        `json:"height"`
	BlockHash        *string       `json:"block_hash"`
	TotalSat         *string       `json:"total_sat"`
	Coins            *int64        `json:"coins"`
	PSBT             *string       `json:"psbt"`
	Tx               *string       `json:"tx"`
	Signers          *[]Signer     `json:"signers"`
	Descriptor       *string       `json:"descriptor,omitempty"`
	Derivations      *[]Derivation `json:"derivations,omitempty"`
}

// Parse reads a proof file strictly: at most MaxFileBytes, one JSON
// object with no unknown, missing, duplicate or null fields and nothing
// after it; the format named by Format; a known network; a printable UTF-8
// message of 1..MaxMessageBytes bytes; a challenge address of that
// network; a height in 0..2^31-1; a block hash of 64 hex digits; the total
// as a decimal string of a non-negative int64 without sign or leading
// zeros; 1..MaxCoins coins; a finalized PSBT whose final transaction is
// exactly tx and whose global 0x09 field is exactly the message; coins one
// less than tx's inputs; 1..MaxSigners signers with distinct fingerprints;
// the descriptor, when present, non-empty and with one derivation per coin
// (branch 0 or 1, index below 2^31); derivations only with the
// descriptor. Errors are *reserve.Error of
// code CodeInvalid naming the JSON field.
func Parse(b []byte) (*File, error) {
	if len(b) > MaxFileBytes {
		return nil, reserve.Invalid("proof", "file is %d bytes, more than the %d a proof may take", len(b), MaxFileBytes)
	}
	if err := checkDuplicateKeys(b); err != nil {
		return nil, err
	}
	var j fileJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, reserve.Invalid("proof", "not a proof file: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, reserve.Invalid("proof", "data after the proof's JSON object")
	}
	f := &File{}
	for _, step := range []func(*fileJSON, *File) error{
		parseHeader, parseMessage, parseBlock, parseCounts, parseSigners, parseDerivations, parseTx, parsePSBT,
	} {
		if err := step(&j, f); err != nil {
			return nil, err
		}
	}
	return f, nil
}

func missing(field string) error {
	return reserve.Invalid(field, "missing (or null)")
}

func parseHeader(j *fileJSON, f *File) error {
	if j.Format == nil {
		return missing("format")
	}
	if *j.Format != Format {
		return reserve.Invalid("format", "%q is not a format this verifier reads (want %q)", truncate(*j.Format), Format)
	}
	if j.Network == nil {
		return missing("network")
	}
	n, err := reserve.ParseNetwork(*j.Network)
	if err != nil || n.String() != *j.Network {
		return reserve.Invalid("network", "%q is not mainnet, testnet, signet or regtest", truncate(*j.Network))
	}
	f.Network = n
	return nil
}

func parseMessage(j *fileJSON, f *File) error {
	if j.Message == nil {
		return missing("message")
	}
	if err := CheckMessage(*j.Message); err != nil {
		return err
	}
	f.Message = *j.Message
	if j.ChallengeAddress == nil {
		return missing("challenge_address")
	}
	params, err := multisig.NetParams(f.Network)
	if err != nil {
		return err
	}
	addr, err := btcutil.DecodeAddress(*j.ChallengeAddress, params)
	if err != nil || !addr.IsForNet(params) || addr.EncodeAddress() != *j.ChallengeAddress {
		return reserve.Invalid("challenge_address", "%q is not a %s address", truncate(*j.ChallengeAddress), f.Network)
	}
	f.ChallengeAddress = *j.ChallengeAddress
	if f.Challenge, err = txscript.PayToAddrScript(addr); err != nil {
		return reserve.Invalid("challenge_address", "unable to build its script: %v", err)
	}
	return nil
}

// CheckMessage applies the message rule: 1..MaxMessageBytes bytes of valid
// UTF-8, every character printable (a terminal or a report shows it as
// signed: no control characters that could hide or rewrite text).
func CheckMessage(m string) error {
	// One rule for the message, the one every signer applies before it
	// shows it (multisig.CheckProofMessage).
	if err := multisig.CheckProofMessage([]byte(m)); err != nil {
		return reserve.Invalid("message", "%w", err)
	}
	return nil
}

func parseBlock(j *fileJSON, f *File) error {
	if j.Height == nil {
		return missing("height")
	}
	if *j.Height < 0 || *j.Height > 1<<31-1 {
		return reserve.Invalid("height", "%d is not a block height", *j.Height)
	}
	f.Height = int32(*j.Height)
	if j.BlockHash == nil {
		return missing("block_hash")
	}
	h, err := parseHash(*j.BlockHash)
	if err != nil {
		return reserve.Invalid("block_hash", "%v", err)
	}
	f.BlockHash = h
	return nil
}

// parseHash reads a hash as nodes print it: 64 lowercase hex digits.
func parseHash(s string) (chainhash.Hash, error) {
	if len(s) != 2*chainhash.HashSize || strings.ToLower(s) != s {
		return chainhash.Hash{}, fmt.Errorf("%q is not 64 lowercase hex digits", truncate(s))
	}
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("%q is not 64 lowercase hex digits", truncate(s))
	}
	return *h, nil
}

func parseCounts(j *fileJSON, f *File) error {
	if j.TotalSat == nil {
		return missing("total_sat")
	}
	total, err := ParseSat(*j.TotalSat)
	if err != nil {
		return reserve.Invalid("total_sat", "%v", err)
	}
	f.TotalSat = total
	if j.Coins == nil {
		return missing("coins")
	}
	if *j.Coins < 1 || *j.Coins > MaxCoins {
		return reserve.Invalid("coins", "%d is not in 1..%d", *j.Coins, MaxCoins)
	}
	f.Coins = int(*j.Coins)
	return nil
}

// ParseSat reads an amount of satoshis written as a decimal string: digits
// only, no sign, no leading zero (but "0"), at most the int64 range.
func ParseSat(s string) (int64, error) {
	if s == "" || len(s) > 19 || (len(s) > 1 && s[0] == '0') || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a decimal amount of satoshis", truncate(s))
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not an amount of satoshis an int64 holds", truncate(s))
	}
	return v, nil
}

func parseSigners(j *fileJSON, f *File) error {
	if j.Signers == nil {
		return missing("signers")
	}
	ss := *j.Signers
	if len(ss) == 0 || len(ss) > MaxSigners {
		return reserve.Invalid("signers", "%d signers, want 1..%d", len(ss), MaxSigners)
	}
	seen := make(map[string]bool, len(ss))
	for i, s := range ss {
		field := fmt.Sprintf("signers[%d]", i)
		if len(s.Fingerprint) != 8 || strings.Trim(s.Fingerprint, "0123456789abcdef") != "" {
			return reserve.Invalid(field+".fingerprint", "%q is not 8 lowercase hex digits", truncate(s.Fingerprint))
		}
		if seen[s.Fingerprint] {
			return reserve.Invalid(field+".fingerprint", "%s is listed twice", s.Fingerprint)
		}
		seen[s.Fingerprint] = true
		if len(s.Name) > 64 || CheckMessage(s.Name) != nil && s.Name != "" {
			return reserve.Invalid(field+".name", "not a printable name of at most 64 bytes")
		}
	}
	f.Signers = ss
	if j.Descriptor != nil {
		d := *j.Descriptor
		if d == "" || len(d) > MaxDescriptorBytes || CheckMessage(d) != nil {
			return reserve.Invalid("descriptor", "present but empty, longer than %d bytes or not printable (omit it to withhold it)", MaxDescriptorBytes)
		}
		f.Descriptor = d
	}
	return nil
}

func parseDerivations(j *fileJSON, f *File) error {
	switch {
	case j.Derivations == nil && f.Descriptor != "":
		return reserve.Invalid("derivations", "missing: a proof that publishes its descriptor lists each coin's branch and index")
	case j.Derivations == nil:
		return nil
	case f.Descriptor == "":
		return reserve.Invalid("derivations", "present without the descriptor they refer to")
	case len(*j.Derivations) != f.Coins:
		return reserve.Invalid("derivations", "%d, one per coin wanted (%d)", len(*j.Derivations), f.Coins)
	}
	for i, d := range *j.Derivations {
		if d.Branch > uint32(reserve.BranchChange) || d.Index >= 1<<31 {
			return reserve.Invalid(fmt.Sprintf("derivations[%d]", i), "%s is not a receive (0) or change (1) index below 2^31", d)
		}
	}
	f.Derivations = *j.Derivations
	return nil
}

func parseTx(j *fileJSON, f *File) error {
	if j.Tx == nil {
		return missing("tx")
	}
	if len(*j.Tx) > 2*MaxTxBytes {
		return reserve.Invalid("tx", "more than %d bytes", MaxTxBytes)
	}
	raw, err := hex.DecodeString(*j.Tx)
	if err != nil || strings.ToLower(*j.Tx) != *j.Tx {
		return reserve.Invalid("tx", "not lowercase hex")
	}
	var tx wire.MsgTx
	r := bytes.NewReader(raw)
	if err := tx.Deserialize(r); err != nil {
		return reserve.Invalid("tx", "not a transaction: %v", err)
	}
	if r.Len() != 0 {
		return reserve.Invalid("tx", "%d bytes after the transaction", r.Len())
	}
	if len(tx.TxIn)-1 != f.Coins {
		return reserve.Invalid("coins", "%d, but the transaction proves %d (its inputs after input 0)", f.Coins, len(tx.TxIn)-1)
	}
	f.Tx = &tx
	return nil
}

func parsePSBT(j *fileJSON, f *File) error {
	if j.PSBT == nil {
		return missing("psbt")
	}
	if len(*j.PSBT) > multisig.MaxPSBTFileBytes {
		return reserve.Invalid("psbt", "more than %d bytes", multisig.MaxPSBTFileBytes)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(*j.PSBT)
	if err != nil {
		return reserve.Invalid("psbt", "not base64")
	}
	p, err := multisig.ParsePSBT(raw)
	if err != nil {
		return err
	}
	if !p.IsComplete() {
		return reserve.Invalid("psbt", "not finalized: every input needs its final witness")
	}
	final, err := psbt.Extract(p)
	if err != nil {
		return reserve.Invalid("psbt", "unable to extract the final transaction: %v", err)
	}
	var a, b bytes.Buffer
	if err := final.Serialize(&a); err != nil {
		return reserve.Invalid("psbt", "unable to serialize the final transaction: %v", err)
	}
	if err := f.Tx.Serialize(&b); err != nil {
		return reserve.Invalid("tx", "unable to serialize: %v", err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		return reserve.Invalid("tx", "is not the PSBT's final transaction")
	}
	msg, ok := globalMessage(p)
	if !ok {
		return reserve.Invalid("psbt", "global[0x09]: the signed message is missing")
	}
	if !bytes.Equal(msg, []byte(f.Message)) {
		return reserve.Invalid("message", "differs from the message the PSBT carries (global[0x09])")
	}
	f.PSBT = p
	return nil
}

// globalMessage returns the PSBT's global 0x09 field
// (PSBT_GLOBAL_GENERIC_SIGNED_MESSAGE), which btcd keeps as an unknown.
func globalMessage(p *psbt.Packet) ([]byte, bool) {
	for _, u := range p.Unknowns {
		if len(u.Key) == 1 && u.Key[0] == globalSignedMessage {
			return u.Value, true
		}
	}
	return nil, false
}

// globalSignedMessage is PSBT_GLOBAL_GENERIC_SIGNED_MESSAGE.
const globalSignedMessage = 0x09

// Marshal writes f as a proof file, indented, ending in a newline. It
// writes what Parse reads back; it does not check f.
func Marshal(f *File) ([]byte, error) {
	var psbtBuf, txBuf bytes.Buffer
	if err := f.PSBT.Serialize(&psbtBuf); err != nil {
		return nil, fmt.Errorf("unable to serialize the proof PSBT: %w", err)
	}
	if err := f.Tx.Serialize(&txBuf); err != nil {
		return nil, fmt.Errorf("unable to serialize the proof transaction: %w", err)
	}
	format, network, height := Format, f.Network.String(), int64(f.Height)
	hash, total, coins := f.BlockHash.String(), strconv.FormatInt(f.TotalSat, 10), int64(f.Coins)
	p64, txHex, signers := base64.StdEncoding.EncodeToString(psbtBuf.Bytes()), hex.EncodeToString(txBuf.Bytes()), f.Signers
	j := fileJSON{
		Format: &format, Network: &network, Message: &f.Message, ChallengeAddress: &f.ChallengeAddress,
		Height: &height, BlockHash: &hash, TotalSat: &total, Coins: &coins,
		PSBT: &p64, Tx: &txHex, Signers: &signers,
	}
	if f.Descriptor != "" {
		j.Descriptor = &f.Descriptor
	}
	if f.Derivations != nil {
		j.Derivations = &f.Derivations
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("unable to encode the proof file: %w", err)
	}
	return append(b, '\n'), nil
}

// checkDuplicateKeys refuses an object with a key twice (encoding/json
// would keep the last silently, so two readers could see two proofs).
func checkDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var walk func(path string) error
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return reserve.Invalid("proof", "not a proof file: %v", err)
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return reserve.Invalid("proof", "not a proof file: %v", err)
				}
				key, _ := k.(string)
				if seen[key] {
					return reserve.Invalid(path+key, "appears twice")
				}
				seen[key] = true
				if err := walk(path + key + "."); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := walk(strings.TrimSuffix(path, ".") + fmt.Sprintf("[%d].", i)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
		}
		if err != nil {
			return reserve.Invalid("proof", "not a proof file: %v", err)
		}
		return nil
	}
	return walk("")
}

// truncate shortens what a refusal quotes from the file.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
