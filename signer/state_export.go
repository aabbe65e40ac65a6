package signer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
)

// LedgerExportType names a ledger export file.
const LedgerExportType = "custos-ledger-export"

// MaxLedgerExportBytes bounds a ledger export file.
const MaxLedgerExportBytes = 1 << 30

// ErrExportRefused is wrapped by ImportLedger's refusals of an export:
// from another key or wallet, cut short or edited, or older than the
// ledger it would replace.
var ErrExportRefused = errors.New("the ledger export cannot be imported")

// ledgerExport is the file ExportLedger writes: the state record, the
// ledger and the pinned policy text, verbatim. The record's MAC, under a
// key derived from the signer's key, binds the rest: the ledger by its
// count and head hash, the policy by its hash.
type ledgerExport struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	State   string `json:"state"`
	Policy  string `json:"policy"`
	Ledger  string `json:"ledger"`
}

// LedgerExport is what an export holds, for the operator to read.
type LedgerExport struct {
	// Entries is the number of ledger entries.
	Entries uint64
	// Head is the ledger's head hash.
	Head [32]byte
}

// ExportLedger returns dir's state record, ledger and pinned policy as one
// file for ledger import on a new machine (docs/signer.md). It needs no
// key, so a machine whose key file is lost can still be exported; it
// checks, without the key, that the ledger is the one the record holds
// (an export of a broken state fails with ErrStateBroken). The caller
// holds the data directory's lock (LockDir).
func ExportLedger(dir string) ([]byte, LedgerExport, error) {
	l, err := OpenLedger(dir)
	if err != nil {
		return nil, LedgerExport{}, err
	}
	ledger, err := readOptional(l.path, MaxLedgerExportBytes)
	if err != nil {
		return nil, LedgerExport{}, err
	}
	if _, err := l.scanFrom(bytes.NewReader(ledger)); err != nil {
		return nil, LedgerExport{}, err
	}
	// The entries the state record binds. Lines past them are a signing
	// a crash cut short before it was recorded, whose PSBT was never
	// written: the export leaves them out.
	ledger = ledgerPrefix(ledger, l.state.st.entries)
	head := l.state.st.head
	var policy []byte
	if l.state.st.policy != [32]byte{} {
		path := filepath.Join(dir, PolicyFileName)
		if policy, err = durable.ReadLimited(path, reserve.MaxPolicyBytes); err != nil {
			return nil, LedgerExport{}, fmt.Errorf("unable to read the pinned policy %s: %w", path, err)
		}
		if p, err := reserve.ParsePolicy(policy); err != nil || p.Hash() != l.state.st.policy {
			return nil, LedgerExport{}, l.broken("the pinned policy %s is not the one %s records", path, l.state.path)
		}
	}
	x := ledgerExport{
		Type:    LedgerExportType,
		Version: 1,
		State:   string(append(l.state.st.body(), fmt.Sprintf("mac %x\n", l.state.mac)...)),
		Policy:  string(policy),
		Ledger:  string(ledger),
	}
	data, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return nil, LedgerExport{}, fmt.Errorf("unable to encode the ledger export: %w", err)
	}
	return append(data, '\n'), LedgerExport{Entries: l.state.st.entries, Head: head}, nil
}

// ledgerPrefix is the first n lines of ledger, line ends included.
func ledgerPrefix(ledger []byte, n uint64) []byte {
	end := 0
	for range n {
		i := bytes.IndexByte(ledger[end:], '\n')
		if i < 0 {
			return ledger
		}
		end += i + 1
	}
	return ledger[:end]
}

// ImportLedger installs an export made by ExportLedger into dir, whose
// descriptor must already be registered with key (Register, which creates
// its state record). It refuses, with ErrExportRefused, an export whose
// state record does not authenticate under key (from another signer, or
// edited), whose ledger or policy is not the one the record binds (cut
// short or edited), that is for another wallet than the one pinned in
// dir, or whose ledger does not hold every entry dir's ledger holds (it
// would make the signer forget a signature). It writes the policy, the
// ledger and then the state record; on a refusal it writes nothing. The
// caller holds the data directory's lock (LockDir).
func ImportLedger(dir string, key *Key, data []byte) (LedgerExport, error) {
	x, st, err := parseExport(data)
	if err != nil {
		return LedgerExport{}, err
	}
	refuse := func(format string, args ...any) (LedgerExport, error) {
		return LedgerExport{}, reserve.Errorf(reserve.CodeInvalid, "%w: %s", ErrExportRefused, fmt.Sprintf(format, args...))
	}
	if err := st.verify(key); err != nil {
		return refuse("its state record does not authenticate under this signer's key: it is from another signer, or was edited")
	}
	// The export's ledger and policy against its own record, every line
	// authenticated under key.
	macKey, err := ledgerMACKey(key)
	if err != nil {
		return LedgerExport{}, err
	}
	tmp := &Ledger{path: "the export's ledger", state: st, macKey: macKey}
	got, err := tmp.scanFrom(strings.NewReader(x.Ledger))
	if err != nil || uint64(len(got.entries)) != st.st.entries || got.fileSize != got.size {
		return refuse("its ledger is not the one its state record binds (cut short or edited)")
	}
	entries, head := got.entries, got.head
	if st.st.policy != [32]byte{} {
		p, err := reserve.ParsePolicy([]byte(x.Policy))
		if err != nil || p.Hash() != st.st.policy {
			return refuse("its policy is not the one its state record binds (edited)")
		}
	} else if x.Policy != "" {
		return refuse("it holds a policy its state record does not bind")
	}

	// Then against dir: the same wallet, and nothing dir remembers lost.
	own, err := loadState(dir, key)
	if err != nil {
		return LedgerExport{}, err
	}
	switch {
	case own.st.descriptor == [32]byte{}:
		return LedgerExport{}, reserve.Errorf(reserve.CodeFailedPrecondition, "%w in %s: register the wallet descriptor before importing its ledger", ErrNotRegistered, dir)
	case own.st.descriptor != st.st.descriptor:
		return refuse("it is the ledger of another wallet than the one registered in %s", dir)
	case own.st.entries > st.st.entries:
		return refuse("it holds %d ledger entries and %s holds %d: importing it would forget signatures", st.st.entries, dir, own.st.entries)
	case own.st.entries > 0 && headAt(entries, []byte(x.Ledger), own.st.entries) != own.st.head:
		return refuse("its ledger does not begin with the %d entries %s holds", own.st.entries, dir)
	case own.st.policy != [32]byte{} && own.st.policy != st.st.policy && st.st.policySeq <= own.st.policySeq:
		return refuse("it pins policy %x (number %d), not newer than the policy %x (number %d) pinned in %s",
			st.st.policy, st.st.policySeq, own.st.policy, own.st.policySeq, dir)
	}
	for b := range st.st.next {
		st.st.next[b] = max(st.st.next[b], own.st.next[b])
	}
	// Nor what it witnessed: an older export must not take the signer
	// back to an earlier checkpoint of the audit log (witness.go).
	if own.st.logKey != "" && (st.st.logKey != own.st.logKey || st.st.witnessedSize < own.st.witnessedSize) {
		st.st.logKey, st.st.witnessedSize, st.st.witnessedRoot = own.st.logKey, own.st.witnessedSize, own.st.witnessedRoot
	}

	if x.Policy != "" {
		path := filepath.Join(dir, PolicyFileName)
		if err := durable.Write(path, []byte(x.Policy), 0o600, true); err != nil {
			return LedgerExport{}, fmt.Errorf("unable to write %s: %w", path, err)
		}
	}
	path := filepath.Join(dir, LedgerFileName)
	if err := durable.Write(path, []byte(x.Ledger), 0o600, true); err != nil {
		return LedgerExport{}, fmt.Errorf("unable to write %s: %w", path, err)
	}
	if _, err := writeState(dir, key, st.st); err != nil {
		return LedgerExport{}, err
	}
	return LedgerExport{Entries: st.st.entries, Head: head}, nil
}

// parseExport reads an export file strictly.
func parseExport(data []byte) (ledgerExport, *sealedState, error) {
	invalid := func(format string, args ...any) (ledgerExport, *sealedState, error) {
		return ledgerExport{}, nil, reserve.Errorf(reserve.CodeInvalid, "%w: %s", ErrExportRefused, fmt.Sprintf(format, args...))
	}
	var x ledgerExport
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&x); err != nil {
		return invalid("not a ledger export (cut short?): %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("data after the export")
	}
	if x.Type != LedgerExportType || x.Version != 1 {
		return invalid("type %q version %d, want %q version 1", x.Type, x.Version, LedgerExportType)
	}
	st, mac, err := parseState([]byte(x.State))
	if err != nil {
		return invalid("its state record is damaged: %v", err)
	}
	return x, &sealedState{path: "the export's state record", st: st, mac: mac}, nil
}

// headAt is the head hash after line n (1-based) of ledger, whose lines
// entries were read from: the hash of that line's body.
func headAt(entries []LedgerEntry, ledger []byte, n uint64) [32]byte {
	lines := bytes.SplitAfter(ledger, []byte("\n"))
	if n == 0 || n > uint64(len(entries)) || n > uint64(len(lines)) {
		return [32]byte{}
	}
	_, _, body, _, err := decodeLedgerLine(bytes.TrimSuffix(lines[n-1], []byte("\n")))
	if err != nil {
		return [32]byte{}
	}
	return body.sum()
}

// readOptional reads a file of at most limit bytes; a missing one is
// empty.
func readOptional(path string, limit int64) ([]byte, error) {
	data, err := durable.ReadLimited(path, limit)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", path, err)
	}
	return data, nil
}
