package signer

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/failpoint"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// LedgerFileName is this signer's own record of what it signed, in the
// data directory: append-only, one JSON object per line, each naming the
// hash of the line before it ("prev"), so the lines form a chain whose
// count and head hash the state record (StateFileName) holds under the
// signer's MAC.
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
	// AmountSat is the intent's total external amount: 0 for a cancel,
	// which pays no one.
	AmountSat int64
	// Payees are the intent's payees, in its order: what the signer
	// holds a later payment against (docs/approvals.md, "One payment,
	// paid once"). Entries written before payees were recorded, and a
	// cancel's, have none: they are matched by proposal id and
	// supersedes links only.
	Payees []reserve.IntentPayee
	// Supersedes are the proposals the intent superseded, in its order:
	// a later request to sign for one of them is held against this entry
	// as for the same payment, whichever of the two was signed first.
	Supersedes []string
	// SignedAt is when it was signed, by this signer's clock, to the
	// second.
	SignedAt time.Time
	// Proof is set when the entry records a proof of reserves rather than
	// a payment (proof.go): then TxID is the proof's to_sign and SignedAt
	// is set, and every payment field is empty. The pay-once rule and
	// the velocity caps count payments only.
	Proof *ProofRecord
}

// ProofRecord is what the ledger records of a proof of reserves this
// signer signed: what it committed to and what it proved, never a
// payment.
type ProofRecord struct {
	// MessageHash is BIP-322's hash of the proof's message.
	MessageHash chainhash.Hash
	// Coins is the number of reserve coins the proof spends, TotalSat
	// their total.
	Coins    int
	TotalSat int64
}

// ledgerLine is a LedgerEntry as written in the file. Prev is the hash
// of the line before (SHA-256 of its bytes without the line end), or 64
// zeros on the first line.
type ledgerLine struct {
	Prev         string   `json:"prev"`
	IntentDigest string   `json:"intent_digest"`
	ProposalID   string   `json:"proposal_id"`
	PolicyHash   string   `json:"policy_hash"`
	TxID         string   `json:"txid"`
	Inputs       []string `json:"inputs"`
	AmountSat    int64    `json:"amount_sat"`
	// Payees is omitted when there are none, so that the lines written
	// before it existed read, and verify, byte for byte.
	Payees     []ledgerPayee `json:"payees,omitempty"`
	Supersedes []string      `json:"supersedes,omitempty"`
	SignedAt   string        `json:"signed_at"`
	// Kind, MessageHash, Coins and TotalSat are a proof's line
	// (proofLine writes it); a payment's line has none of them, so the
	// lines written before proofs existed read, and verify, byte for
	// byte.
	Kind        string `json:"kind,omitempty"`
	MessageHash string `json:"message_hash,omitempty"`
	Coins       int    `json:"coins,omitempty"`
	TotalSat    int64  `json:"total_sat,omitempty"`
	// MAC authenticates the rest of the line (its body: the line without
	// this field) under a key only this signer derives (ledgerMACTag).
	MAC string `json:"mac,omitempty"`
}

// ledgerPayee is an IntentPayee as a ledger line writes it.
type ledgerPayee struct {
	Script    string `json:"script"`
	AmountSat int64  `json:"amount_sat"`
}

// ledgerMACTag derives the key of the ledger lines' MACs from the
// signer's key; the state record and wallet.derived have tags of their
// own.
const ledgerMACTag = "custos/signer/ledger/v1"

// ledgerMACKey is the key a ledger line's MAC is made under.
func ledgerMACKey(key *Key) ([]byte, error) { return keyMAC(key, ledgerMACTag, nil) }

// lineBody is a ledger line up to its MAC field: the line's body is it
// followed by "}". Hashing and MACing it in two writes spares a copy of
// every line read.
type lineBody []byte

// sum is the SHA-256 of the body, what the next line's prev names.
func (b lineBody) sum() [32]byte {
	h := sha256.New()
	h.Write(b)
	h.Write([]byte("}"))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// mac is lineMAC of the body.
func (b lineBody) mac(macKey []byte) []byte {
	m := hmac.New(sha256.New, macKey)
	m.Write(b)
	m.Write([]byte("}"))
	return m.Sum(nil)
}

// lineMAC is the MAC of a line body under macKey.
func lineMAC(macKey, body []byte) []byte {
	m := hmac.New(sha256.New, macKey)
	m.Write(body)
	return m.Sum(nil)
}

// Ledger is the signer's ledger file together with the state record that
// binds it. It is read whole before every signature and appended to after
// it. The caller holds the data directory's lock (LockDir) from the read
// of the check through the append, so two signings never interleave.
type Ledger struct {
	dir   string
	path  string
	state *sealedState
	// macKey, once Verify has passed, is the key every line's MAC is
	// checked against as it is read; before that lines are read without
	// it (a summary shown before the passphrase), never trusted for
	// signing.
	macKey []byte
	// tip is where the ledger ended when this Ledger last read or
	// wrote it. The caller holds the directory lock from the check's
	// read through the append and the seal, so neither reads the file
	// again; a file of another size is read again (tipNow).
	tip ledgerTip
}

// ledgerTip is the end of a ledger file: its entry count, head hash and
// size in bytes.
type ledgerTip struct {
	known   bool
	entries int
	head    [32]byte
	// size is where the last complete line ends; fileSize is the file's
	// size, larger when a torn line (a crash during an append) follows.
	size, fileSize int64
}

// OpenLedger reads dir's state record, without the key, and names its
// ledger. It fails, with ErrStateBroken naming the file and the recovery,
// when the record is missing or damaged: a signer's state is created by
// register, never by signing. Check reads the ledger against the record
// (so a truncated or damaged one is reported before the operator is asked
// anything); Sign verifies the record's MAC under the key before it reads
// the ledger again, as it is when the signature is made.
func OpenLedger(dir string) (*Ledger, error) {
	if dir == "" {
		return nil, errors.New("no data directory given")
	}
	s, err := readState(dir)
	if err != nil {
		return nil, err
	}
	return &Ledger{dir: dir, path: filepath.Join(dir, LedgerFileName), state: s}, nil
}

// Path is the ledger file's path.
func (l *Ledger) Path() string { return l.path }

// Verify checks the state record's MAC under key. Until it has passed,
// nothing the ledger or the record says may be trusted for signing.
func (l *Ledger) Verify(key *Key) error {
	if err := l.state.verify(key); err != nil {
		return err
	}
	macKey, err := ledgerMACKey(key)
	if err != nil {
		return err
	}
	l.macKey, l.tip = macKey, ledgerTip{}
	return nil
}

// Seen returns, per branch (reserve.BranchReceive, reserve.BranchChange),
// one past the highest index this signer has seen: Check accepts indexes
// below Seen()[b] + IndexWindow.
func (l *Ledger) Seen() [2]uint32 { return l.state.st.next }

// Entries reads every entry, in the order they were written. A line that
// is not a complete entry, or does not follow the line before it, fails
// with ErrLedgerCorrupt naming the line; a ledger that is shorter than
// the state record says, or whose first entries are not the recorded
// ones, fails with ErrStateBroken. Entries after the recorded ones (a
// signature whose record was cut short by a crash) are read: they can
// only make the signer refuse more.
func (l *Ledger) Entries() ([]LedgerEntry, error) {
	entries, _, err := l.scan()
	return entries, err
}

// scan reads the ledger, checks its chain, its lines' MACs once Verify
// has passed, and its agreement with the state record, and returns its
// entries and head hash.
func (l *Ledger) scan() ([]LedgerEntry, [32]byte, error) {
	var head [32]byte
	want := l.state.st
	if want.entries == 0 && want.head != head {
		return nil, head, l.broken("%s records an empty ledger with a head hash", l.state.path)
	}
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		if want.entries > 0 {
			return nil, head, l.broken("%s is missing, and %s records %d entries", l.path, l.state.path, want.entries)
		}
		l.tip = ledgerTip{known: true}
		return nil, head, nil
	}
	if err != nil {
		return nil, head, fmt.Errorf("unable to open the ledger: %w", err)
	}
	defer f.Close()
	got, err := l.scanFrom(f)
	if err != nil {
		return nil, head, err
	}
	l.tip = ledgerTip{known: true, entries: len(got.entries), head: got.head, size: got.size, fileSize: got.fileSize}
	return got.entries, got.head, nil
}

// tipNow is where the ledger ends now: the tip this Ledger last saw when
// the file still has that size, else what reading it again finds.
func (l *Ledger) tipNow() (ledgerTip, error) {
	var size int64
	st, err := os.Stat(l.path)
	switch {
	case err == nil:
		size = st.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return ledgerTip{}, fmt.Errorf("unable to read the ledger: %w", err)
	}
	if l.tip.known && l.tip.fileSize == size {
		return l.tip, nil
	}
	if _, _, err := l.scan(); err != nil {
		return ledgerTip{}, err
	}
	return l.tip, nil
}

// ledgerRead is what scanFrom read.
type ledgerRead struct {
	entries []LedgerEntry
	head    [32]byte
	// size is where the last complete line ends, fileSize how many bytes
	// were read: more when a torn line follows (tornLine).
	size, fileSize int64
}

// scanFrom is scan reading the ledger from rd. A last line without its
// line end past the recorded entries is what a crash during an append
// leaves (its signature was never handed out): it is not an entry, and
// the next Append writes over it. Anywhere else a torn line is damage.
func (l *Ledger) scanFrom(rd io.Reader) (ledgerRead, error) {
	var got ledgerRead
	want := l.state.st
	r := bufio.NewReader(rd)
	for n := 1; ; n++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			got.fileSize = got.size + int64(len(line))
			if len(line) > 0 && uint64(len(got.entries)) < want.entries {
				// A line without its line end among the recorded ones.
				return ledgerRead{}, l.corrupt(n, errors.New("the line is incomplete (no line end)"))
			}
			if uint64(len(got.entries)) < want.entries {
				return ledgerRead{}, l.broken("%s holds %d entries, and %s records %d: it was cut short",
					l.path, len(got.entries), l.state.path, want.entries)
			}
			return got, nil
		}
		if err != nil {
			return ledgerRead{}, l.corrupt(n, err)
		}
		e, prev, body, mac, err := decodeLedgerLine(line)
		if err != nil {
			return ledgerRead{}, l.corrupt(n, err)
		}
		if prev != got.head {
			return ledgerRead{}, l.corrupt(n, errors.New("the line does not follow the line before it (prev is not its hash): a line was removed, moved or edited"))
		}
		if l.macKey != nil && !hmac.Equal(mac, body.mac(l.macKey)) {
			return ledgerRead{}, l.corrupt(n, errors.New("the line does not authenticate under this signer's key: this signer did not write it"))
		}
		got.head = body.sum()
		got.size += int64(len(line)) + 1
		got.entries = append(got.entries, e)
		if uint64(n) == want.entries && got.head != want.head {
			return ledgerRead{}, l.broken("the first %d entries of %s are not the ones %s records: the ledger was edited or replaced",
				n, l.path, l.state.path)
		}
	}
}

// broken is an ErrStateBroken refusal.
func (l *Ledger) broken(format string, args ...any) error {
	return reserve.Errorf(reserve.CodeFailedPrecondition, "%w: %s; %s", ErrStateBroken, fmt.Sprintf(format, args...), recovery)
}

// checkPinned refuses a descriptor or policy other than the state
// record's.
func (l *Ledger) checkPinned(d *multisig.Descriptor, p *reserve.Policy) error {
	return l.state.checkPinned(l.dir, d, p)
}

// seal records in the state record, under key, the ledger as it now is
// and the indexes of s. The record's MAC must have passed Verify.
func (l *Ledger) seal(key *Key, s Summary) error {
	tip, err := l.tipNow()
	if err != nil {
		return err
	}
	st := l.state.st
	st.entries, st.head = uint64(tip.entries), tip.head
	top := HighestIndexes(s)
	for b := range st.next {
		st.next[b] = max(st.next[b], top[b])
	}
	// The checkpoint this signature witnesses, in the same write
	// (witness.go); checkWitness held it to extend the recorded one.
	if s.Witness.Pinned && s.Witness.LogKey == st.logKey {
		st.witnessedSize, st.witnessedRoot = s.Witness.Checkpoint.Size, s.Witness.Checkpoint.Root
	}
	sealed, err := writeState(l.dir, key, st)
	if err != nil {
		return err
	}
	l.state = sealed
	return nil
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
	return reserve.Errorf(reserve.CodeFailedPrecondition, "%w: %s line %d: %w; %s",
		ErrLedgerCorrupt, l.path, n, err, recovery)
}

// decodeLedgerLine parses and checks one line, and returns its entry,
// the hash of the line before it that it names, its body (the line
// without its MAC, what the MAC and the next line's prev are computed
// over) and its MAC. The line must be exactly as encodeLedgerLine writes
// it, so that no two lines mean the same entry.
func decodeLedgerLine(line []byte) (e LedgerEntry, prev [32]byte, body lineBody, mac []byte, err error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var ll ledgerLine
	if err := dec.Decode(&ll); err != nil {
		return e, prev, nil, nil, fmt.Errorf("not a ledger entry: %w", err)
	}
	// Nothing may follow the entry: not another value, not a stray
	// bracket (which More does not see).
	if _, err := dec.Token(); err != io.EOF {
		return e, prev, nil, nil, errors.New("data after the entry on the line")
	}
	if prev, err = decodeHash32("prev", ll.Prev); err != nil {
		return e, prev, nil, nil, err
	}
	m, err := decodeHash32("mac", ll.MAC)
	if err != nil {
		return e, prev, nil, nil, err
	}
	switch ll.Kind {
	case "":
		e, err = decodeLedgerFields(ll)
	case ledgerKindProof:
		e, err = decodeProofFields(ll)
	default:
		err = fmt.Errorf("kind %q is not a kind of entry this signer writes", ll.Kind)
	}
	if err != nil {
		return e, prev, nil, nil, err
	}
	// The MAC is the line's last field, as withMAC writes it; the body is
	// the line without it. Both the MAC and the next line's prev cover
	// the body's bytes, so any other spelling of the same entry is
	// refused by them, without encoding the entry again here.
	cut := len(line) - len(`,"mac":"`) - 2*len(m) - len(`"}`)
	if cut < 1 || !bytes.Equal(line[cut:], withMAC([]byte("}"), m[:])) {
		return e, prev, nil, nil, errors.New("the line is not in the form custos-signer writes")
	}
	return e, prev, lineBody(line[:cut]), m[:], nil
}

// withMAC is a line body with its MAC as the last field, as json.Marshal
// writes ledgerLine with MAC set.
func withMAC(body, mac []byte) []byte {
	out := make([]byte, 0, len(body)+len(mac)*2+10)
	out = append(out, body[:len(body)-1]...)
	out = append(out, `,"mac":"`...)
	out = hex.AppendEncode(out, mac)
	return append(out, `"}`...)
}

// decodeLedgerFields checks the entry's fields.
func decodeLedgerFields(ll ledgerLine) (LedgerEntry, error) {
	var e LedgerEntry
	var err error
	if ll.MessageHash != "" || ll.Coins != 0 || ll.TotalSat != 0 {
		return LedgerEntry{}, errors.New("a payment's line carries a proof's fields")
	}
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
	// 0 is a cancel's: it pays no one.
	if ll.AmountSat < 0 || ll.AmountSat > reserve.MaxSat {
		return LedgerEntry{}, fmt.Errorf("amount_sat %d is outside 0 sat to 21000000 BTC", ll.AmountSat)
	}
	e.AmountSat = ll.AmountSat
	if e.Payees, err = decodeLedgerPayees(ll.Payees, ll.AmountSat); err != nil {
		return LedgerEntry{}, err
	}
	if e.Supersedes, err = decodeLedgerSupersedes(ll.Supersedes); err != nil {
		return LedgerEntry{}, err
	}
	if e.SignedAt, err = time.Parse(time.RFC3339, ll.SignedAt); err != nil {
		return LedgerEntry{}, fmt.Errorf("signed_at %q is not an RFC 3339 time", ll.SignedAt)
	}
	return e, nil
}

// decodeLedgerPayees checks a line's payees: each script 1 to
// reserve.MaxIntentScriptLen bytes of lowercase hex, each amount 1 sat to
// 21,000,000 BTC, and together the line's amount_sat. "payees":[] is
// refused: the writer omits the field when there are none, and no entry
// has two spellings.
func decodeLedgerPayees(lps []ledgerPayee, total int64) ([]reserve.IntentPayee, error) {
	if lps == nil {
		return nil, nil
	}
	if len(lps) == 0 || len(lps) > reserve.MaxIntentPayees {
		return nil, fmt.Errorf("payees lists %d payees, want 1 to %d", len(lps), reserve.MaxIntentPayees)
	}
	out := make([]reserve.IntentPayee, len(lps))
	var sum int64
	for i, lp := range lps {
		script, err := hex.DecodeString(lp.Script)
		if err != nil || len(script) == 0 || len(script) > reserve.MaxIntentScriptLen || hex.EncodeToString(script) != lp.Script {
			return nil, fmt.Errorf("payees[%d].script is not 1 to %d bytes of lowercase hex", i, reserve.MaxIntentScriptLen)
		}
		if lp.AmountSat < 1 || lp.AmountSat > reserve.MaxSat-sum {
			return nil, fmt.Errorf("payees[%d].amount_sat %d is outside 1 sat to what is left of 21000000 BTC", i, lp.AmountSat)
		}
		sum += lp.AmountSat
		out[i] = reserve.IntentPayee{Script: script, AmountSat: lp.AmountSat}
	}
	if sum != total {
		return nil, fmt.Errorf("the payees total %d sat, and amount_sat is %d", sum, total)
	}
	return out, nil
}

// decodeLedgerSupersedes checks a line's superseded proposal ids: 1 to
// reserve.MaxIntentSupersedes of them (the field is omitted when there
// are none), each a non-empty id of at most reserve.MaxIntentIDLen bytes.
func decodeLedgerSupersedes(ids []string) ([]string, error) {
	if ids == nil {
		return nil, nil
	}
	if len(ids) == 0 || len(ids) > reserve.MaxIntentSupersedes {
		return nil, fmt.Errorf("supersedes lists %d proposals, want 1 to %d", len(ids), reserve.MaxIntentSupersedes)
	}
	for i, id := range ids {
		if id == "" || len(id) > reserve.MaxIntentIDLen {
			return nil, fmt.Errorf("supersedes[%d] is not a proposal id", i)
		}
	}
	return ids, nil
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

// encodeLedgerBody is e as the body of a ledger line: the line without
// its MAC, chained to the line before it by prev, the hash of that line's
// body.
func encodeLedgerBody(e LedgerEntry, prev [32]byte) ([]byte, error) {
	if e.Proof != nil {
		return encodeProofBody(e, prev)
	}
	ll := ledgerLine{
		Prev:         hex.EncodeToString(prev[:]),
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
	for _, p := range e.Payees {
		ll.Payees = append(ll.Payees, ledgerPayee{Script: hex.EncodeToString(p.Script), AmountSat: p.AmountSat})
	}
	if len(e.Supersedes) > 0 {
		ll.Supersedes = e.Supersedes
	}
	body, err := json.Marshal(ll)
	if err != nil {
		return nil, fmt.Errorf("unable to encode the ledger entry: %w", err)
	}
	return body, nil
}

// encodeLedgerLine is a line body with its MAC under macKey: one ledger
// line, without its line end. It checks that the line reads back.
func encodeLedgerLine(body, macKey []byte) ([]byte, error) {
	if len(macKey) == 0 {
		return nil, errors.New("the ledger is written only with the signer's key unlocked")
	}
	line := withMAC(body, lineMAC(macKey, body))
	if _, _, _, _, err := decodeLedgerLine(line); err != nil {
		return nil, fmt.Errorf("unable to encode the ledger entry: %w", err)
	}
	return line, nil
}

// Append writes e as one line at the end of the ledger, chained to the
// line before it and authenticated under key, and syncs it to disk before
// it returns, so an entry is on disk before the signature it records is
// handed out. It reads the ledger first (unless this Ledger read it under
// the directory lock already) and appends nothing to one that does not
// check; a torn last line a crash left is written over. The state record
// learns of the entry when Sign seals it; until then the entry is read as
// one past the recorded ones.
func (l *Ledger) Append(key *Key, e LedgerEntry) error {
	macKey, err := ledgerMACKey(key)
	if err != nil {
		return err
	}
	if l.macKey != nil && !hmac.Equal(l.macKey, macKey) {
		return errors.New("the ledger was verified under another key than the one appending")
	}
	// Every line is read under key before one is added: a signer appends
	// only to its own ledger.
	if l.macKey == nil {
		l.macKey = macKey
		l.tip = ledgerTip{}
	}
	tip, err := l.tipNow()
	if err != nil {
		return err
	}
	body, err := encodeLedgerBody(e, tip.head)
	if err != nil {
		return err
	}
	line, err := encodeLedgerLine(body, l.macKey)
	if err != nil {
		return fmt.Errorf("unable to record transaction %s in the ledger: %w", e.TxID, err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("unable to open the ledger: %w", err)
	}
	// Past the last complete line: over a torn one, if a crash left it.
	if err := f.Truncate(tip.size); err != nil {
		_ = f.Close()
		return fmt.Errorf("unable to cut the torn last line of the ledger %s: %w", l.path, err)
	}
	if _, err := f.WriteAt(append(line, '\n'), tip.size); err != nil {
		_ = f.Close()
		return fmt.Errorf("unable to write to the ledger %s: %w", l.path, err)
	}
	failpoint.Inject(failpoint.SignerLedgerWritten)
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("unable to sync the ledger %s: %w", l.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("unable to close the ledger %s: %w", l.path, err)
	}
	// The directory entry too, for a ledger this call created.
	if err := durable.SyncDir(filepath.Dir(l.path)); err != nil {
		return err
	}
	failpoint.Inject(failpoint.SignerLedgerSynced)
	end := tip.size + int64(len(line)) + 1
	l.tip = ledgerTip{known: true, entries: tip.entries + 1, head: sha256.Sum256(body), size: end, fileSize: end}
	return nil
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
// checked) nor the intents in skip (earlier approvals of this payment
// that the transaction replaces, see replaced). Entries dated after now
// (a clock set back) count as recent.
func view(entries []LedgerEntry, digest [32]byte, txid chainhash.Hash, ins []wire.OutPoint, skip map[[32]byte]bool, now time.Time) (ledgerView, error) {
	var v ledgerView
	latest := map[[32]byte]LedgerEntry{}
	for _, e := range entries {
		if e.IntentDigest == digest {
			if e.TxID == txid {
				// A txid commits to its inputs: an entry that names this
				// transaction with other inputs was not written by this
				// signer, and must not stand in for its own record.
				if !slices.Equal(e.Inputs, ins) {
					return ledgerView{}, reserve.Errorf(reserve.CodeFailedPrecondition, "%w: an entry for transaction %s lists inputs that are not the transaction's; %s",
						ErrLedgerCorrupt, txid, recovery)
				}
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
	for d, e := range latest {
		if !skip[d] {
			v.spent.Add(e.SignedAt, now, e.AmountSat)
		}
	}
	return v, nil
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
