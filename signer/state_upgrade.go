package signer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
)

// PolicySeqFileName is the file in which the previous release (before
// signer.state) kept the pinned policy's number in the reserve's history.
// UpgradeState moves the number into the state record and removes the
// file; nothing else reads it.
const PolicySeqFileName = "policy.seq"

// ErrUpgradeRefused is wrapped by every refusal of UpgradeState and
// PlanUpgrade: the data directory is not one the previous release wrote,
// or one of its files does not read as that release wrote it. Nothing is
// written.
var ErrUpgradeRefused = errors.New("the data directory cannot be upgraded")

// UpgradeReport says what UpgradeState found in a data directory of the
// previous release and what it wrote (PlanUpgrade: would write).
type UpgradeReport struct {
	// WalletID is the pinned descriptor's wallet.
	WalletID string
	// Entries is the number of ledger entries, the same before and after.
	Entries uint64
	// FirstSignedAt and LastSignedAt are the earliest and latest entry's
	// time; zero when there are none.
	FirstSignedAt, LastSignedAt time.Time
	// OldLedger is the SHA-256 of ledger.jsonl as the previous release
	// left it (zeros when there was none): what the operator vouched for.
	OldLedger [32]byte
	// Head is the head hash of the chained ledger.
	Head [32]byte
	// PolicyHash is the pinned policy's hash (zeros: none pinned), and
	// PolicySeq its number from policy.seq (0: none recorded).
	PolicyHash [32]byte
	PolicySeq  uint64
	// Resumed is set when an interrupted upgrade was finished: its state
	// record was written and the ledger not yet.
	Resumed bool
}

// sameAs reports whether r describes the same files as o.
func (r UpgradeReport) sameAs(o UpgradeReport) bool {
	return r.WalletID == o.WalletID && r.Entries == o.Entries && r.OldLedger == o.OldLedger &&
		r.Head == o.Head && r.PolicyHash == o.PolicyHash && r.PolicySeq == o.PolicySeq
}

// upgradePlan is what an upgrade writes.
type upgradePlan struct {
	report UpgradeReport
	// st is the state record to seal: next is [0, 0], since the old
	// ledger holds no indexes.
	st state
	// ledger is the chained ledger's line bodies, one a line, without
	// their MACs (UpgradeState adds them under the key); nil when there is
	// no ledger file to rewrite (none, or empty).
	ledger []byte
	// found is the state record of an interrupted upgrade, unverified.
	found *sealedState
}

// PlanUpgrade reads, without the key and writing nothing, what
// UpgradeState would do to dir, for the operator to confirm: every
// refusal UpgradeState makes but the key's. Key files are for network n.
func PlanUpgrade(dir string, n reserve.Network) (UpgradeReport, error) {
	p, err := planUpgrade(dir, n)
	if err != nil {
		return UpgradeReport{}, err
	}
	return p.report, nil
}

// UpgradeState turns a data directory written by the previous release
// (no signer.state, a ledger without "prev", the policy's number in
// policy.seq) into one this release signs from: the same ledger entries,
// chained, and a state record sealed under key binding the pinned
// descriptor, the policy's hash and number, the ledger, and indexes seen
// [0, 0] (docs/signer.md). The old files are not authenticated: the
// operator vouches for them, after confirming what PlanUpgrade reported;
// when confirmed is not nil and dir no longer holds what it describes,
// UpgradeState refuses. It refuses, with ErrUpgradeRefused and writing
// nothing, a directory with a state record, a pinned descriptor without
// this key, a ledger line that is not an entry of the previous release
// (naming the line; one with "prev" means a state record was deleted),
// and a policy or policy.seq that does not read. It writes the state
// record, then the ledger, then removes policy.seq: a crash before the
// state leaves the old directory, and one after it a directory whose
// upgrade, run again, finishes (Resumed). The caller holds the data
// directory's lock (LockDir).
func UpgradeState(dir string, key *Key, confirmed *UpgradeReport) (UpgradeReport, error) {
	if key == nil {
		return UpgradeReport{}, errors.New("no key")
	}
	p, err := planUpgrade(dir, key.Network())
	if err != nil {
		return UpgradeReport{}, err
	}
	if _, err := LoadPinned(dir, key); err != nil {
		return UpgradeReport{}, refuseUpgrade(reserve.CodeOf(err), "the pinned descriptor %s: %w", filepath.Join(dir, DescriptorFileName), err)
	}
	if confirmed != nil && !p.report.sameAs(*confirmed) {
		return UpgradeReport{}, refuseUpgrade(reserve.CodeConflict, "%s changed since its summary was shown; run the upgrade again", dir)
	}
	if p.found != nil {
		if err := p.found.verify(key); err != nil {
			return UpgradeReport{}, refuseUpgrade(reserve.CodeFailedPrecondition, "%w", err)
		}
	} else if _, err := writeState(dir, key, p.st); err != nil {
		return UpgradeReport{}, err
	}
	path := filepath.Join(dir, LedgerFileName)
	if p.ledger != nil {
		ledger, err := authenticateBodies(p.ledger, key)
		if err != nil {
			return UpgradeReport{}, err
		}
		if err := durable.Write(path, ledger, 0o600, true); err != nil {
			return UpgradeReport{}, fmt.Errorf("unable to write the chained ledger %s: %w", path, err)
		}
	}
	seq := filepath.Join(dir, PolicySeqFileName)
	if err := os.Remove(seq); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return UpgradeReport{}, fmt.Errorf("unable to remove %s (the state record holds its number; remove it by hand): %w", seq, err)
	}
	if err := durable.SyncDir(dir); err != nil {
		return UpgradeReport{}, err
	}
	return p.report, nil
}

// planUpgrade reads and checks every file an upgrade of dir reads.
func planUpgrade(dir string, n reserve.Network) (*upgradePlan, error) {
	p := &upgradePlan{}
	found, err := readState(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		found = nil
	case err != nil:
		return nil, refuseUpgrade(reserve.CodeFailedPrecondition, "%s is there, so it is not a directory of the previous release: %w", filepath.Join(dir, StateFileName), err)
	}
	d, err := LoadDescriptor(dir, n)
	if err != nil {
		return nil, refuseUpgrade(reserve.CodeOf(err), "%w", err)
	}
	p.report.WalletID = d.WalletID()
	p.st.descriptor = descriptorHash(d)
	err = p.convertLedger(dir)
	if err == nil {
		err = p.readPolicy(dir)
	}
	if found == nil {
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	// A state record beside a ledger of the previous release is an
	// upgrade cut short after the record was written, if the record binds
	// exactly what this upgrade would write.
	if err != nil || p.ledger == nil || found.st.descriptor != p.st.descriptor || found.st.policy != p.st.policy ||
		found.st.policySeq != p.st.policySeq || found.st.entries != p.st.entries || found.st.head != p.st.head {
		return nil, refuseUpgrade(reserve.CodeFailedPrecondition, "%s is there: %s was upgraded already, or is of this release (if it no longer signs: %s)",
			found.path, dir, recovery)
	}
	p.found, p.report.Resumed = found, true
	return p, nil
}

// authenticateBodies turns line bodies, one a line, into ledger lines
// with their MACs under key.
func authenticateBodies(bodies []byte, key *Key) ([]byte, error) {
	macKey, err := ledgerMACKey(key)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, body := range bytes.SplitAfter(bodies, []byte("\n")) {
		body = bytes.TrimSuffix(body, []byte("\n"))
		if len(body) == 0 {
			continue
		}
		line, err := encodeLedgerLine(body, macKey)
		if err != nil {
			return nil, err
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes(), nil
}

// convertLedger reads dir's ledger as the previous release wrote it and
// chains its entries.
func (p *upgradePlan) convertLedger(dir string) error {
	path := filepath.Join(dir, LedgerFileName)
	old, err := durable.ReadLimited(path, MaxLedgerExportBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unable to read the ledger %s: %w", path, err)
	}
	p.report.OldLedger = sha256.Sum256(old)
	var out bytes.Buffer
	var head [32]byte
	r := bufio.NewReader(bytes.NewReader(old))
	for n := 1; ; n++ {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) && len(line) == 0 {
			break
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("the line is incomplete (no line end)")
		}
		if err != nil {
			return badOldLine(path, n, err)
		}
		e, err := decodeOldLedgerLine(line)
		if err != nil {
			if _, _, _, _, newErr := decodeLedgerLine(line); newErr == nil {
				return refuseUpgrade(reserve.CodeFailedPrecondition, "%s line %d is in this release's format (it has \"prev\"): the directory's %s was deleted, and an upgrade would make the signer trust a ledger it can no longer check; %s",
					path, n, StateFileName, recovery)
			}
			return badOldLine(path, n, err)
		}
		enc, err := encodeLedgerBody(e, head)
		if err != nil {
			return err
		}
		out.Write(enc)
		out.WriteByte('\n')
		head = sha256.Sum256(enc)
		if p.report.Entries == 0 || e.SignedAt.Before(p.report.FirstSignedAt) {
			p.report.FirstSignedAt = e.SignedAt
		}
		if e.SignedAt.After(p.report.LastSignedAt) {
			p.report.LastSignedAt = e.SignedAt
		}
		p.report.Entries++
	}
	p.report.Head, p.st.entries, p.st.head = head, p.report.Entries, head
	if p.report.Entries > 0 {
		p.ledger = out.Bytes()
	}
	return nil
}

func badOldLine(path string, n int, err error) error {
	return refuseUpgrade(reserve.CodeFailedPrecondition, "%w: %s line %d: %w; nothing was changed. Check the line against the signatures given out (a copy elsewhere, the coordinator's record) and repair it",
		ErrLedgerCorrupt, path, n, err)
}

// oldLedgerLine is a ledger line as the previous release wrote it:
// ledgerLine without prev.
type oldLedgerLine struct {
	IntentDigest string   `json:"intent_digest"`
	ProposalID   string   `json:"proposal_id"`
	PolicyHash   string   `json:"policy_hash"`
	TxID         string   `json:"txid"`
	Inputs       []string `json:"inputs"`
	AmountSat    int64    `json:"amount_sat"`
	SignedAt     string   `json:"signed_at"`
}

// decodeOldLedgerLine parses one line of the previous release's ledger as
// strictly as that release did: those fields only, one value on the line,
// and decodeLedgerFields' checks, which are that release's.
func decodeOldLedgerLine(line []byte) (LedgerEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var ol oldLedgerLine
	if err := dec.Decode(&ol); err != nil {
		return LedgerEntry{}, fmt.Errorf("not a ledger entry: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return LedgerEntry{}, errors.New("data after the entry on the line")
	}
	// That release wrote no cancels: it paid at least 1 sat.
	if ol.AmountSat < 1 {
		return LedgerEntry{}, fmt.Errorf("amount_sat %d is outside 1 sat to 21000000 BTC", ol.AmountSat)
	}
	return decodeLedgerFields(ledgerLine{
		IntentDigest: ol.IntentDigest,
		ProposalID:   ol.ProposalID,
		PolicyHash:   ol.PolicyHash,
		TxID:         ol.TxID,
		Inputs:       ol.Inputs,
		AmountSat:    ol.AmountSat,
		SignedAt:     ol.SignedAt,
	})
}

// readPolicy reads the pinned policy's hash and its number from
// policy.seq, as the previous release read it.
func (p *upgradePlan) readPolicy(dir string) error {
	path := filepath.Join(dir, PolicyFileName)
	text, err := durable.ReadLimited(path, reserve.MaxPolicyBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("unable to read the pinned policy %s: %w", path, err)
	default:
		pol, err := reserve.ParsePolicy(text)
		if err != nil {
			return refuseUpgrade(reserve.CodeFailedPrecondition, "the pinned policy %s is not valid (%w); move it aside, upgrade, and register the policy again", path, err)
		}
		p.st.policy = pol.Hash()
	}

	seqPath := filepath.Join(dir, PolicySeqFileName)
	b, err := durable.ReadLimited(seqPath, 32)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("unable to read %s: %w", seqPath, err)
	default:
		seq, perr := strconv.ParseUint(strings.TrimSuffix(string(b), "\n"), 10, 64)
		if perr != nil || seq == 0 {
			return refuseUpgrade(reserve.CodeFailedPrecondition, "%s does not hold a policy number (%q); remove it, upgrade, and register the policy with --chain", seqPath, b)
		}
		if p.st.policy == [32]byte{} {
			return refuseUpgrade(reserve.CodeFailedPrecondition, "%s holds policy number %d but no policy is pinned (%s is missing); remove it and upgrade", seqPath, seq, path)
		}
		p.st.policySeq = seq
	}
	p.report.PolicyHash, p.report.PolicySeq = p.st.policy, p.st.policySeq
	return nil
}

// refuseUpgrade is an ErrUpgradeRefused refusal with code (CodeInternal:
// CodeFailedPrecondition).
func refuseUpgrade(code reserve.Code, format string, args ...any) error {
	if code == reserve.CodeInternal {
		code = reserve.CodeFailedPrecondition
	}
	return reserve.Errorf(code, "%w: %w", ErrUpgradeRefused, fmt.Errorf(format, args...))
}
