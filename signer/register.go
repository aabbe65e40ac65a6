package signer

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// DescriptorFileName is the pinned wallet descriptor inside the data
// directory: one line, the multipath descriptor with its checksum.
const DescriptorFileName = "wallet.descriptor"

const maxDescriptorBytes = 64 << 10

var (
	// ErrNotRegistered is returned when no descriptor is pinned yet.
	ErrNotRegistered = errors.New("no wallet descriptor registered")

	// ErrOtherWalletPinned is returned when a different descriptor is
	// already pinned and the caller did not ask to replace it.
	ErrOtherWalletPinned = errors.New("a different wallet descriptor is already registered")
)

// Pinned is the wallet this signer registered, checked against its key.
type Pinned struct {
	Descriptor *multisig.Descriptor
	// Position is this signer's 0-based index in Descriptor.Cosigners().
	Position int
	// FirstAddress is the receive address at index 0, which the officers
	// compare across all signers and the coordinator.
	FirstAddress string
}

// RegisterStatus says what Register did.
type RegisterStatus int

const (
	// Registered means no descriptor was pinned and this one now is.
	Registered RegisterStatus = 1
	// Unchanged means this very descriptor was already pinned.
	Unchanged RegisterStatus = 2
	// Replaced means another descriptor was pinned and this one took its
	// place.
	Replaced RegisterStatus = 3
)

// String names the status for output ("registered").
func (s RegisterStatus) String() string {
	switch s {
	case Registered:
		return "registered"
	case Unchanged:
		return "unchanged"
	case Replaced:
		return "replaced"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Registration is the outcome of Register.
type Registration struct {
	Pinned
	Status RegisterStatus
	// Previous is the descriptor text that was replaced, when Status is
	// Replaced.
	Previous string
}

// ErrNoChecksum is returned by Register for a descriptor given without its
// BIP-380 checksum: a signer pins exactly one descriptor, and the checksum
// is what catches a character changed on the way from the coordinator.
var ErrNoChecksum = errors.New("the descriptor has no #checksum (BIP-380)")

// Register pins descriptor in dir/wallet.descriptor after checking that
// it carries its BIP-380 checksum (ErrNoChecksum), is a descriptor for
// key's network and that key is in it by exact match (Key.PositionIn), and
// records its hash in the state record (StateFileName), which it creates
// for a new signer. Pinning the descriptor already pinned changes nothing
// (a pinned file that was changed is written back); pinning a different
// one fails with ErrOtherWalletPinned unless replace is set, and starts
// the indexes seen afresh. A state record that is missing while other
// files are there, or does not authenticate under key, fails with
// ErrStateBroken. On any error nothing is written. The caller holds the
// data directory's lock (LockDir).
func Register(dir string, key *Key, descriptor string, replace bool) (*Registration, error) {
	reg, st, write, err := planRegister(dir, key, descriptor, replace)
	if err != nil || !write {
		return reg, err
	}
	p := reg.Pinned
	path := filepath.Join(dir, DescriptorFileName)
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	// The derived addresses first: a file for a descriptor that is not
	// pinned is ignored, so failing between the writes leaves nothing in
	// use. The state record last: until it names the new descriptor,
	// signing refuses the pinned file.
	if err := SaveDerived(dir, p.Descriptor, key, st.st.next); err != nil {
		return nil, err
	}
	if err := durable.Write(path, []byte(p.Descriptor.String()+"\n"), 0o600, true); err != nil {
		return nil, fmt.Errorf("unable to pin descriptor in %s: %w", path, err)
	}
	if _, err := writeState(dir, key, st.st); err != nil {
		return nil, err
	}
	return reg, nil
}

// CheckRegister makes every check Register makes and writes nothing: a
// command that pins more than the descriptor (register --descriptor
// --policy) runs it before it writes anything, so a refusal leaves the
// data directory as it was. The caller holds the data directory's lock.
func CheckRegister(dir string, key *Key, descriptor string, replace bool) (*Registration, error) {
	reg, _, _, err := planRegister(dir, key, descriptor, replace)
	return reg, err
}

// ParseRegistration checks, without the key, what Register checks first:
// that descriptor carries its BIP-380 checksum (ErrNoChecksum) and is a
// wallet descriptor for network n. Commands run it before they lock the
// data directory or ask for the passphrase, so such a refusal writes
// nothing and asks nothing.
func ParseRegistration(descriptor string, n reserve.Network) (*multisig.Descriptor, error) {
	text := strings.TrimSpace(descriptor)
	if text == "" {
		return nil, reserve.Invalid("descriptor", "empty descriptor")
	}
	if !strings.Contains(text, "#") {
		return nil, reserve.Invalid("descriptor", "%w: give it as 'custosctl wallet show' prints it, ending in #checksum", ErrNoChecksum)
	}
	d, err := multisig.ParseDescriptor(text, n)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInvalid, "not a valid %s wallet descriptor: %w", n, err)
	}
	return d, nil
}

// planRegister is Register's checks: the registration, the state record
// to write and whether anything is to be written.
func planRegister(dir string, key *Key, descriptor string, replace bool) (*Registration, *sealedState, bool, error) {
	d, err := ParseRegistration(descriptor, key.Network())
	if err != nil {
		return nil, nil, false, err
	}
	p, err := checked(d, key)
	if err != nil {
		return nil, nil, false, err
	}
	reg := &Registration{Pinned: *p, Status: Registered}
	st, err := loadState(dir, key)
	if err != nil {
		return nil, nil, false, err
	}

	path := filepath.Join(dir, DescriptorFileName)
	old, err := readPinned(path)
	oldWallet := "unreadable"
	if err == nil {
		// Compare canonical forms, so a pinned file written by an older
		// formatter still counts as the same descriptor.
		if oldDesc, perr := multisig.ParseDescriptor(old, key.Network()); perr == nil {
			old, oldWallet = oldDesc.String(), oldDesc.WalletID()
		}
	}
	want := descriptorHash(p.Descriptor)
	switch {
	case st.st.descriptor == want && err == nil && old == p.Descriptor.String():
		reg.Status = Unchanged
		return reg, st, false, nil
	case st.st.descriptor == want:
		// The recorded descriptor, its file missing or changed: write it
		// back.
		reg.Status = Unchanged
	case st.st.descriptor == [32]byte{}:
	case !replace:
		return nil, nil, false, reserve.Errorf(reserve.CodeConflict, "%w in %s (wallet %s, recorded in %s)", ErrOtherWalletPinned, path, oldWallet, st.path)
	default:
		reg.Status = Replaced
		reg.Previous = old
		st.st.next = [2]uint32{}
	}
	st.st.descriptor = want
	return reg, st, true, nil
}

// LoadDescriptor reads the pinned descriptor of dir and parses it for
// network n. It fails with ErrNotRegistered when none is pinned. Use
// LoadPinned when the key is unlocked: it also re-checks the key's place.
func LoadDescriptor(dir string, n reserve.Network) (*multisig.Descriptor, error) {
	path := filepath.Join(dir, DescriptorFileName)
	text, err := readPinned(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "%w in %s: run register first", ErrNotRegistered, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read pinned descriptor: %w", err)
	}
	d, err := multisig.ParseDescriptor(text, n)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInvalid, "pinned descriptor %s is not valid for %s: %w", path, n, err)
	}
	return d, nil
}

// LoadPinned reads the pinned descriptor for key's network and checks
// again that key is in it by exact match. Signing starts here: never sign
// for a descriptor that did not pass this.
func LoadPinned(dir string, key *Key) (*Pinned, error) {
	d, err := LoadDescriptor(dir, key.Network())
	if err != nil {
		return nil, err
	}
	return checked(d, key)
}

// OpenPinned is how a command that shows or records anything about the
// pinned wallet starts (address show and verify, RecordSeen): nothing in
// the data directory is trusted before the key is unlocked. It verifies
// the state record's MAC under key (and that the ledger holds what the
// record says), reads the pinned descriptor, refuses it unless its hash is
// the one the record holds, and refuses it unless key is in it by exact
// match. It returns the wallet as pinned for key and, per branch, one past
// the highest index this signer has seen (docs/signer.md). A descriptor
// swapped, the record edited or from another signer, or a wallet without
// this signer's key fails with ErrStateBroken naming the file and the
// recovery; no descriptor pinned fails with ErrNotRegistered.
func OpenPinned(dir string, key *Key) (*Pinned, [2]uint32, error) {
	p, s, err := openPinned(dir, key)
	if err != nil {
		return nil, [2]uint32{}, err
	}
	return p, s.st.next, nil
}

// openPinned is OpenPinned, returning the verified state record.
func openPinned(dir string, key *Key) (*Pinned, *sealedState, error) {
	s, err := loadState(dir, key)
	if err != nil {
		return nil, nil, err
	}
	d, err := LoadDescriptor(dir, key.Network())
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkPinned(dir, d, nil); err != nil {
		return nil, nil, err
	}
	p, err := checked(d, key)
	if err != nil {
		// The record authenticates this descriptor, so this is a record
		// of another signer's wallet: never show its addresses as ours.
		return nil, nil, reserve.Errorf(reserve.CodeFailedPrecondition, "%w: the pinned descriptor %s (wallet %s) does not hold this signer's key: %w; %s",
			ErrStateBroken, filepath.Join(dir, DescriptorFileName), d.WalletID(), err, recovery)
	}
	return p, s, nil
}

// Place checks that key is in d by exact match and returns d as pinned
// for it. Use it on a descriptor read with LoadDescriptor once the key is
// unlocked, after checking that the pinned file still holds d.
func Place(d *multisig.Descriptor, key *Key) (*Pinned, error) {
	if d == nil {
		return nil, reserve.Invalid("descriptor", "no descriptor")
	}
	return checked(d, key)
}

func checked(d *multisig.Descriptor, key *Key) (*Pinned, error) {
	pos, err := key.PositionIn(d)
	if err != nil {
		return nil, err
	}
	first, err := d.Derive(reserve.BranchReceive, 0)
	if err != nil {
		return nil, fmt.Errorf("unable to derive the first receive address: %w", err)
	}
	return &Pinned{Descriptor: d, Position: pos, FirstAddress: first.Address}, nil
}

// readPinned returns the pinned descriptor text, or an error wrapping
// fs.ErrNotExist when there is none.
func readPinned(path string) (string, error) {
	data, err := durable.ReadLimited(path, maxDescriptorBytes)
	if err != nil {
		return "", err
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return "", errors.New("file is empty")
	}
	return text, nil
}
