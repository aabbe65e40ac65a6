package signer

import (
	"bytes"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// StateFileName is the signer's state record in the data directory: the
// one small file that binds the rest together. It holds the hash of the
// pinned descriptor, the hash and number of the pinned policy, the count
// and head hash of the ledger, and how far along each branch the signer
// has seen the wallet's indexes, authenticated with a MAC under a key
// derived from the signer's own private key. Without it nothing is signed:
// whoever can write the data directory but does not hold the key cannot
// delete, shorten or swap the ledger, the policy or the descriptor without
// signing stopping.
const StateFileName = "signer.state"

// IndexWindow is how far past the highest index the signer has seen on a
// branch (an input it signed for, a change output it signed) it accepts an
// input or a change output of a PSBT (docs/signer.md). A coordinator that
// hides change far past every wallet's gap limit is refused, and nothing
// the signer derives or stores grows with an index a PSBT claims.
const IndexWindow = DerivedWindow

const (
	stateMagic = "custos-signer-state/1"
	// stateMagicV2 is a record that also holds the pinned audit log key
	// and the last checkpoint this signer witnessed (docs/signer.md). A
	// record without a log key is still written as version 1, so a signer
	// that witnesses nothing writes the files it always did.
	stateMagicV2  = "custos-signer-state/2"
	stateMACTag   = "custos/signer/state/v1"
	maxStateBytes = 4 << 10
)

// ErrStateBroken is wrapped by every refusal caused by the signer's own
// files not agreeing with its state record: a missing, truncated or
// altered state, ledger, policy or descriptor. Nothing is signed until the
// operator has recovered (the error names the file and how).
var ErrStateBroken = errors.New("the signer's state does not hold")

// recovery is what every ErrStateBroken refusal tells the operator.
const recovery = "nothing was signed. Restore the data directory from its last 'custos-signer ledger export' with 'custos-signer ledger import --in FILE' (docs/signer.md), or ask the other ministries before you register again"

// state is the content of the state record.
type state struct {
	// descriptor is descriptorHash of the pinned descriptor; zero when
	// none is pinned yet.
	descriptor [32]byte
	// policy is the pinned policy's Hash(); zero when none is pinned.
	policy [32]byte
	// policySeq is the pinned policy's number in the reserve's history,
	// 0 when no chain told it.
	policySeq uint64
	// entries and head are the ledger's entry count and head hash.
	entries uint64
	head    [32]byte
	// next is, per branch, one past the highest index seen.
	next [2]uint32
	// logKey is the pinned audit log verifier key (register --log-key),
	// empty when none is pinned; witnessedSize and witnessedRoot are the
	// last checkpoint of that log this signer witnessed (size 0: none).
	logKey        string
	witnessedSize int64
	witnessedRoot [32]byte
}

// body is the record's text without its MAC line.
func (s state) body() []byte {
	var b bytes.Buffer
	if s.v2() {
		fmt.Fprintf(&b, "%s\n", stateMagicV2)
	} else {
		fmt.Fprintf(&b, "%s\n", stateMagic)
	}
	fmt.Fprintf(&b, "descriptor %x\n", s.descriptor)
	fmt.Fprintf(&b, "policy %x\n", s.policy)
	fmt.Fprintf(&b, "policy_seq %d\n", s.policySeq)
	fmt.Fprintf(&b, "ledger_entries %d\n", s.entries)
	fmt.Fprintf(&b, "ledger_head %x\n", s.head)
	fmt.Fprintf(&b, "receive_next %d\n", s.next[reserve.BranchReceive])
	fmt.Fprintf(&b, "change_next %d\n", s.next[reserve.BranchChange])
	if s.v2() {
		fmt.Fprintf(&b, "log_key %s\n", s.logKey)
		fmt.Fprintf(&b, "witnessed_size %d\n", s.witnessedSize)
		fmt.Fprintf(&b, "witnessed_root %x\n", s.witnessedRoot)
	}
	return b.Bytes()
}

// v2 reports whether the record needs version 2: it pins a log key.
func (s state) v2() bool { return s.logKey != "" }

// sealedState is a state record as read from its file: trusted only once
// verify has passed with the unlocked key.
type sealedState struct {
	path string
	st   state
	mac  []byte
}

// parseState reads a state record strictly: every line in order, and the
// text exactly as body writes it, so no two files mean the same record.
func parseState(data []byte) (state, []byte, error) {
	lines := strings.Split(string(data), "\n")
	keys := []string{"descriptor", "policy", "policy_seq", "ledger_entries", "ledger_head", "receive_next", "change_next", "mac"}
	if len(lines) > 0 && lines[0] == stateMagicV2 {
		keys = slices.Insert(keys, len(keys)-1, "log_key", "witnessed_size", "witnessed_root")
	}
	if len(lines) != len(keys)+2 || (lines[0] != stateMagic && lines[0] != stateMagicV2) || lines[len(lines)-1] != "" {
		return state{}, nil, errors.New("not a signer state record (wrong header or number of lines; cut short?)")
	}
	vals := make(map[string]string, len(keys))
	for i, k := range keys {
		v, ok := strings.CutPrefix(lines[i+1], k+" ")
		if !ok {
			return state{}, nil, fmt.Errorf("line %d is not %q", i+2, k)
		}
		vals[k] = v
	}
	var s state
	var err error
	hash := func(k string, h *[32]byte) {
		b, e := hex.DecodeString(vals[k])
		if e != nil || len(b) != len(h) {
			err = errors.Join(err, fmt.Errorf("%s is not 64 hex digits", k))
			return
		}
		copy(h[:], b)
	}
	num := func(k string, bitSize int) uint64 {
		n, e := strconv.ParseUint(vals[k], 10, bitSize)
		if e != nil {
			err = errors.Join(err, fmt.Errorf("%s is not a number", k))
		}
		return n
	}
	hash("descriptor", &s.descriptor)
	hash("policy", &s.policy)
	s.policySeq = num("policy_seq", 64)
	s.entries = num("ledger_entries", 64)
	hash("ledger_head", &s.head)
	s.next[reserve.BranchReceive] = uint32(num("receive_next", 31))
	s.next[reserve.BranchChange] = uint32(num("change_next", 31))
	if lines[0] == stateMagicV2 {
		s.logKey = vals["log_key"]
		if _, e := audit.ParseLogKey(s.logKey); e != nil || s.logKey == "" {
			err = errors.Join(err, errors.New("log_key is not a note verifier key"))
		}
		s.witnessedSize = int64(num("witnessed_size", 63))
		hash("witnessed_root", &s.witnessedRoot)
	}
	var mac [32]byte
	hash("mac", &mac)
	if err != nil {
		return state{}, nil, err
	}
	if !bytes.Equal(append(s.body(), "mac "+vals["mac"]+"\n"...), data) {
		return state{}, nil, errors.New("not in the form custos-signer writes")
	}
	return s, mac[:], nil
}

// readState reads dir's state record without the key. A missing file is
// an error wrapping fs.ErrNotExist.
func readState(dir string) (*sealedState, error) {
	path := filepath.Join(dir, StateFileName)
	data, err := durable.ReadLimited(path, maxStateBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "%w: %s is missing (%w); %s", ErrStateBroken, path, fs.ErrNotExist, recovery)
	}
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "%w: unable to read %s: %w; %s", ErrStateBroken, path, err, recovery)
	}
	st, mac, err := parseState(data)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "%w: %s is damaged: %w; %s", ErrStateBroken, path, err, recovery)
	}
	return &sealedState{path: path, st: st, mac: mac}, nil
}

// verify checks the record's MAC under key.
func (s *sealedState) verify(key *Key) error {
	mac, err := keyMAC(key, stateMACTag, s.st.body())
	if err != nil {
		return err
	}
	if !hmac.Equal(mac, s.mac) {
		return reserve.Errorf(reserve.CodeFailedPrecondition, "%w: %s does not authenticate under this signer's key (changed outside custos-signer, or from another signer); %s",
			ErrStateBroken, s.path, recovery)
	}
	return nil
}

// writeState seals st under key and writes it to dir, replacing the
// record there.
func writeState(dir string, key *Key, st state) (*sealedState, error) {
	body := st.body()
	mac, err := keyMAC(key, stateMACTag, body)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, StateFileName)
	if err := durable.Write(path, fmt.Appendf(body, "mac %x\n", mac), 0o600, true); err != nil {
		return nil, fmt.Errorf("unable to write the signer state %s: %w", path, err)
	}
	if err := ensureLockFile(dir); err != nil {
		return nil, err
	}
	return &sealedState{path: path, st: st, mac: mac}, nil
}

// loadState reads dir's state record and verifies it under key, and checks
// that the ledger still holds what it records. When there is no record and
// the directory holds no descriptor, policy or ledger either (a new
// signer), it returns a fresh, unwritten one: only register creates the
// state, and never over files a deleted record used to protect.
func loadState(dir string, key *Key) (*sealedState, error) {
	s, err := readState(dir)
	if errors.Is(err, fs.ErrNotExist) {
		for _, name := range []string{DescriptorFileName, PolicyFileName, LedgerFileName} {
			if _, serr := os.Lstat(filepath.Join(dir, name)); !errors.Is(serr, fs.ErrNotExist) {
				return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "%w: %s is missing but %s is there; %s",
					ErrStateBroken, filepath.Join(dir, StateFileName), name, recovery)
			}
		}
		return &sealedState{path: filepath.Join(dir, StateFileName)}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.verify(key); err != nil {
		return nil, err
	}
	l := &Ledger{path: filepath.Join(dir, LedgerFileName), state: s}
	if _, err := l.Entries(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkPinned refuses a descriptor or policy other than the ones the
// state records: a file swapped, or a record from another setup.
func (s *sealedState) checkPinned(dir string, d *multisig.Descriptor, p *reserve.Policy) error {
	if d != nil && descriptorHash(d) != s.st.descriptor {
		return reserve.Errorf(reserve.CodeFailedPrecondition, "%w: the pinned descriptor %s is not the one %s records; %s",
			ErrStateBroken, filepath.Join(dir, DescriptorFileName), s.path, recovery)
	}
	if p != nil && p.Hash() != s.st.policy {
		return reserve.Errorf(reserve.CodeFailedPrecondition, "%w: the pinned policy %s (%x) is not the one %s records; %s",
			ErrStateBroken, filepath.Join(dir, PolicyFileName), p.Hash(), s.path, recovery)
	}
	return nil
}

// checkIndexes refuses an input or a change output of s beyond the window
// past the highest index seen on its branch.
func checkIndexes(s Summary, next [2]uint32) error {
	limit := func(b reserve.Branch) uint64 { return uint64(next[b]) + IndexWindow }
	for i, in := range s.Inputs {
		if in.Branch != reserve.BranchReceive && in.Branch != reserve.BranchChange {
			continue
		}
		if uint64(in.Index) >= limit(in.Branch) {
			flag := ""
			if in.Branch == reserve.BranchChange {
				flag = " --change"
			}
			return reserve.Invalid(fmt.Sprintf("input[%d]", i), "%s index %d is beyond this signer's window: it accepts indexes below %d (%d past the highest %s index it has seen; docs/signer.md); once this ministry has checked the coin's address, 'custos-signer address verify ADDRESS --index %d%s' widens the window to it",
				in.Branch, in.Index, limit(in.Branch), IndexWindow, in.Branch, in.Index, flag)
		}
	}
	for _, ch := range s.Change {
		if uint64(ch.ChangeIndex) >= limit(reserve.BranchChange) {
			return reserve.Invalid(fmt.Sprintf("output[%d]", ch.Vout), "change index %d is beyond this signer's window: it accepts change below index %d (%d past the highest change index it has seen; docs/signer.md), so change the wallet would not find is refused",
				ch.ChangeIndex, limit(reserve.BranchChange), IndexWindow)
		}
	}
	return nil
}

// Seen reads, without the key, how far along each branch dir's signer has
// seen the wallet's indexes: one past the highest (docs/signer.md). It is
// unauthenticated until the state's MAC is checked, so use it only to
// bound work (an address search), never to decide what is signed.
func Seen(dir string) ([2]uint32, error) {
	s, err := readState(dir)
	if err != nil {
		return [2]uint32{}, err
	}
	return s.st.next, nil
}

// MaxSeenStep bounds how far one RecordSeen moves a branch's window: the
// derived-address file (SaveDerived) fills up to the window, so one
// verification must not commit the signer to deriving an unbounded number
// of addresses.
const MaxSeenStep = 10 * IndexWindow

// RecordSeen records, under key, that the operator verified the wallet's
// address at (b, index): the signer's window (IndexWindow) then reaches
// IndexWindow past it, so a deposit to an address the ministry checked
// can be spent however far out the coordinator handed it. The caller holds
// the data directory's lock (LockDir). The state's MAC, the ledger and the
// pinned descriptor (OpenPinned: its recorded hash, this signer's key in
// it) are checked first; nothing is written when the index is inside what the
// record already holds, and an index MaxSeenStep or more past it is
// refused. It returns the record's indexes as they now are.
func RecordSeen(dir string, key *Key, b reserve.Branch, index uint32) ([2]uint32, error) {
	if b != reserve.BranchReceive && b != reserve.BranchChange {
		return [2]uint32{}, reserve.Invalid("branch", "%s is not a wallet branch", b)
	}
	if index >= 1<<31 {
		return [2]uint32{}, reserve.Invalid("index", "%d is not an unhardened index", index)
	}
	// The record's MAC, the ledger against it, the pinned descriptor's
	// hash and this signer's key in it: a window is widened only for the
	// wallet this signer registered.
	_, s, err := openPinned(dir, key)
	if err != nil {
		return [2]uint32{}, err
	}
	l := &Ledger{dir: dir, path: filepath.Join(dir, LedgerFileName), state: s}
	entries, head, err := l.scan()
	if err != nil {
		return [2]uint32{}, err
	}
	st := s.st
	if index < st.next[b] {
		return st.next, nil
	}
	if uint64(index) >= uint64(st.next[b])+MaxSeenStep {
		return st.next, reserve.Invalid("index", "%s index %d is %d or more past the highest %s index this signer has seen (below %d): verify addresses in between first (docs/signer.md)",
			b, index, MaxSeenStep, b, st.next[b])
	}
	st.next[b] = index + 1
	st.entries, st.head = uint64(len(entries)), head
	if _, err := writeState(dir, key, st); err != nil {
		return [2]uint32{}, err
	}
	return st.next, nil
}
