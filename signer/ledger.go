package signer

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
)

// LedgerFileName is this signer's own record of what it signed, in the
// data directory: append-only, one JSON object per line.
const LedgerFileName = "ledger.jsonl"

// maxLedgerLine bounds one ledger line; an entry lists the inputs it
// spent, and a PSBT of MaxPSBTBytes can hold some hundred thousand.
const maxLedgerLine = 16 << 20

// ErrLedgerCorrupt is returned when a line of the ledger is not an entry
// this package wrote. Nothing is signed until the operator has looked at
// the file: skipping the line could forget a payment.
var ErrLedgerCorrupt = errors.New("the signing ledger is damaged")

// LedgerEntry is one transaction this signer signed for an approved
// intent.
type LedgerEntry struct {
	// IntentDigest is the intent's approve digest
	// (Intent.Digest(DecisionApprove)): every transaction for one intent
	// has the same.
	IntentDigest [32]byte
	ProposalID   string
	PolicyHash   [32]byte
	TxID         chainhash.Hash
	// Inputs are the outpoints the transaction spends: two transactions
	// for one intent that share one cannot both confirm.
	Inputs []wire.OutPoint
	// AmountSat is the intent's total external amount.
	AmountSat int64
	// SignedAt is when it was signed, by this signer's clock, to the
	// second.
	SignedAt time.Time
}

// ledgerLine is a LedgerEntry as written in the file.
type ledgerLine struct {
	IntentDigest string   `json:"intent_digest"`
	ProposalID   string   `json:"proposal_id"`
	PolicyHash   string   `json:"policy_hash"`
	TxID         string   `json:"txid"`
	Inputs       []string `json:"inputs"`
	AmountSat    int64    `json:"amount_sat"`
	SignedAt     string   `json:"signed_at"`
}

// Ledger is the signer's ledger file. It is read whole before every
// signature and appended to after it; it is not locked, so one signer data
// directory signs one PSBT at a time.
type Ledger struct {
	path string
}

// OpenLedger names the ledger of dir; a missing file is an empty ledger.
// It reads nothing: Check reads the ledger (so a damaged one is reported
// before the operator is asked anything) and Sign reads it again, as it
// is when the signature is made.
func OpenLedger(dir string) (*Ledger, error) {
	if dir == "" {
		return nil, errors.New("no data directory given")
	}
	return &Ledger{path: filepath.Join(dir, LedgerFileName)}, nil
}

// Path is the ledger file's path.
func (l *Ledger) Path() string { return l.path }

// Entries reads every entry, in the order they were written. A line that
// is not a complete entry fails with ErrLedgerCorrupt naming the line.
func (l *Ledger) Entries() ([]LedgerEntry, error) {
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unable to open the ledger: %w", err)
	}
	defer f.Close()

	var entries []LedgerEntry
	r := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return entries, nil
		}
		if errors.Is(err, io.EOF) {
			// A line without its line end: a write was cut short.
			return nil, l.corrupt(n, errors.New("the line is incomplete (no line end)"))
		}
		if err != nil {
			return nil, l.corrupt(n, err)
		}
		e, err := decodeLedgerLine(line)
		if err != nil {
			return nil, l.corrupt(n, err)
		}
		entries = append(entries, e)
	}
}

// readLine reads one line without its '\n', refusing one longer than
// maxLedgerLine. It returns io.EOF, with what it read, when the file ends
// before a line end.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLedgerLine {
			return nil, fmt.Errorf("the line is longer than %d bytes", maxLedgerLine)
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		}
		return line, err
	}
}

func (l *Ledger) corrupt(n int, err error) error {
	return reserve.Errorf(reserve.CodeFailedPrecondition, "%w: %s line %d: %w; nothing was signed. Check the file against the signatures given out (a copy elsewhere, the coordinator's record) and repair it",
		ErrLedgerCorrupt, l.path, n, err)
}

// decodeLedgerLine parses and checks one line.
func decodeLedgerLine(line []byte) (LedgerEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var ll ledgerLine
	if err := dec.Decode(&ll); err != nil {
		return LedgerEntry{}, fmt.Errorf("not a ledger entry: %w", err)
	}
	// Nothing may follow the entry: not another value, not a stray
	// bracket (which More does not see).
	if _, err := dec.Token(); err != io.EOF {
		return LedgerEntry{}, errors.New("data after the entry on the line")
	}
	var e LedgerEntry
	var err error
	if e.IntentDigest, err = decodeHash32("intent_digest", ll.IntentDigest); err != nil {
		return LedgerEntry{}, err
	}
	if e.PolicyHash, err = decodeHash32("policy_hash", ll.PolicyHash); err != nil {
		return LedgerEntry{}, err
	}
	if ll.ProposalID == "" {
		return LedgerEntry{}, errors.New("proposal_id is empty")
	}
	e.ProposalID = ll.ProposalID
	txid, err := chainhash.NewHashFromStr(ll.TxID)
	if err != nil || len(ll.TxID) != 2*chainhash.HashSize {
		return LedgerEntry{}, fmt.Errorf("txid %q is not a transaction id", ll.TxID)
	}
	e.TxID = *txid
	if len(ll.Inputs) == 0 {
		return LedgerEntry{}, errors.New("inputs is empty")
	}
	for i, s := range ll.Inputs {
		op, err := wire.NewOutPointFromString(s)
		if err != nil {
			return LedgerEntry{}, fmt.Errorf("inputs[%d] %q is not an outpoint: %w", i, s, err)
		}
		e.Inputs = append(e.Inputs, *op)
	}
	if ll.AmountSat < 1 || ll.AmountSat > reserve.MaxSat {
		return LedgerEntry{}, fmt.Errorf("amount_sat %d is outside 1 sat to 21000000 BTC", ll.AmountSat)
	}
	e.AmountSat = ll.AmountSat
	if e.SignedAt, err = time.Parse(time.RFC3339, ll.SignedAt); err != nil {
		return LedgerEntry{}, fmt.Errorf("signed_at %q is not an RFC 3339 time", ll.SignedAt)
	}
	return e, nil
}

func decodeHash32(field, s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%s %q is not 64 hex digits", field, s)
	}
	copy(h[:], b)
	return h, nil
}

// Append writes e as one line at the end of the ledger and syncs it to
// disk before it returns, so an entry is on disk before the signature it
// records is handed out.
func (l *Ledger) Append(e LedgerEntry) error {
	ll := ledgerLine{
		IntentDigest: hex.EncodeToString(e.IntentDigest[:]),
		ProposalID:   e.ProposalID,
		PolicyHash:   hex.EncodeToString(e.PolicyHash[:]),
		TxID:         e.TxID.String(),
		Inputs:       make([]string, len(e.Inputs)),
		AmountSat:    e.AmountSat,
		SignedAt:     e.SignedAt.UTC().Format(time.RFC3339),
	}
	for i, op := range e.Inputs {
		ll.Inputs[i] = op.String()
	}
	line, err := json.Marshal(ll)
	if err != nil {
		return fmt.Errorf("unable to encode the ledger entry: %w", err)
	}
	// Check it as a reader will, so nothing unreadable is ever written.
	if _, err := decodeLedgerLine(line); err != nil {
		return fmt.Errorf("unable to record transaction %s in the ledger: %w", e.TxID, err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("unable to open the ledger: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		_ = f.Close()
		return fmt.Errorf("unable to write to the ledger %s: %w", l.path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("unable to sync the ledger %s: %w", l.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("unable to close the ledger %s: %w", l.path, err)
	}
	// The directory entry too, for a ledger this call created.
	return durable.SyncDir(filepath.Dir(l.path))
}

// ledgerView is what the ledger says about one transaction for one
// intent.
type ledgerView struct {
	// spent is what the other intents paid in the windows ending now.
	spent reserve.Spent
	// signed is set when this very transaction is already recorded.
	signed bool
	// others are the entries for the same intent with another txid.
	others []LedgerEntry
}

// view reads what entries say about transaction txid for the intent with
// digest: velocity counts each other intent once, at its latest
// signature, and never this intent (its amount is the payment being
// checked). Entries dated after now (a clock set back) count as recent.
func view(entries []LedgerEntry, digest [32]byte, txid chainhash.Hash, now time.Time) ledgerView {
	var v ledgerView
	latest := map[[32]byte]LedgerEntry{}
	for _, e := range entries {
		if e.IntentDigest == digest {
			if e.TxID == txid {
				v.signed = true
			} else {
				v.others = append(v.others, e)
			}
			continue
		}
		if l, ok := latest[e.IntentDigest]; !ok || e.SignedAt.After(l.SignedAt) {
			latest[e.IntentDigest] = e
		}
	}
	for _, e := range latest {
		v.spent.Add(e.SignedAt, now, e.AmountSat)
	}
	return v
}

// sharesInput reports whether any of ins is in e.Inputs.
func sharesInput(e LedgerEntry, ins map[wire.OutPoint]bool) bool {
	for _, op := range e.Inputs {
		if ins[op] {
			return true
		}
	}
	return false
}
