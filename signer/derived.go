package signer

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// DerivedFileName is the file, next to the pinned descriptor, where the
// signer keeps the wallet addresses it has derived: checking a PSBT
// recomputes every input's script from the descriptor, n child-key
// derivations per address, each as costly as a signature, and a large
// spend has hundreds of inputs. The file lets each address cost that
// once. It is authenticated with a MAC under a key derived from the
// signer's own private key, so whoever can write the data directory but
// does not hold the key cannot make an output look like change.
const DerivedFileName = "wallet.derived"

// DerivedWindow is how far past the highest index it has seen the signer
// derives ahead on each branch: at register, the first DerivedWindow
// addresses of each; after signing, up to DerivedWindow past the highest
// indexes its state record holds (Ledger.Seen), which Check lets grow by
// at most IndexWindow a signature. Nothing here derives up to an index a
// PSBT claims.
const DerivedWindow = 1000

const (
	derivedMagic    = "custos-derived/1\n"
	derivedMACTag   = "custos/signer/derived/v1"
	maxDerivedBytes = 128 << 20
)

// ErrDerivedTampered is returned when the derived-address file does not
// authenticate under this signer's key.
var ErrDerivedTampered = errors.New("the derived-address file does not authenticate under this signer's key")

// Derived is a derived-address file read into a descriptor before the key
// is unlocked, so the summary shown before the passphrase is asked for is
// already fast. Nothing read from it may be trusted for signing until
// Verify has passed with the unlocked key.
type Derived struct {
	path  string
	body  []byte // what the MAC covers
	mac   []byte
	count int
}

// Count is how many addresses the file held.
func (f *Derived) Count() int {
	if f == nil {
		return 0
	}
	return f.count
}

// LoadDerived reads dir's derived-address file into d. A missing file,
// or one written for another descriptor, gives (nil, nil): d derives
// everything itself. A file that is for d but malformed is an error.
func LoadDerived(dir string, d *multisig.Descriptor) (*Derived, error) {
	path := filepath.Join(dir, DerivedFileName)
	data, err := durable.ReadLimited(path, maxDerivedBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", path, err)
	}
	head := len(derivedMagic) + sha256.Size
	if len(data) < head+sha256.Size || string(data[:len(derivedMagic)]) != derivedMagic {
		return nil, reserve.Invalid("derived", "%s is not a derived-address file; remove it and it is rebuilt", path)
	}
	want := descriptorHash(d)
	if !bytes.Equal(data[len(derivedMagic):head], want[:]) {
		return nil, nil
	}
	body, mac := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	n, err := d.ImportDerived(body[head:])
	if err != nil {
		return nil, fmt.Errorf("%s: %w; remove it and it is rebuilt", path, err)
	}
	return &Derived{path: path, body: body, mac: mac, count: n}, nil
}

// Verify checks the file's MAC under key. A nil Derived (no file) passes.
// On failure the descriptor it was read into must not be used: nothing
// it says about the wallet's addresses can be trusted.
func (f *Derived) Verify(key *Key) error {
	if f == nil {
		return nil
	}
	mac, err := derivedMAC(key, f.body)
	if err != nil {
		return err
	}
	if !hmac.Equal(mac, f.mac) {
		return reserve.Errorf(reserve.CodeFailedPrecondition, "%w: %s was changed outside custos-signer; nothing was signed. Remove it (it is rebuilt) and sign again",
			ErrDerivedTampered, f.path)
	}
	return nil
}

// SaveDerived derives ahead on each branch to DerivedWindow past upTo,
// one past the highest index seen on each (Ledger.Seen after signing,
// never indexes read from a PSBT), and writes every address d holds to dir's derived-address file, MACed
// under key. d must hold only addresses it derived itself or read from a
// file that passed Verify.
func SaveDerived(dir string, d *multisig.Descriptor, key *Key, upTo [2]uint32) error {
	for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		end := uint64(upTo[b]) + DerivedWindow
		if end > 1<<31 {
			end = 1 << 31
		}
		if err := d.Prederive(b, 0, uint32(end)); err != nil {
			return err
		}
	}
	h := descriptorHash(d)
	body := append(append([]byte(derivedMagic), h[:]...), d.ExportDerived()...)
	mac, err := derivedMAC(key, body)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, DerivedFileName)
	if err := durable.Write(path, append(body, mac...), 0o600, true); err != nil {
		return fmt.Errorf("unable to write %s: %w", path, err)
	}
	return nil
}

// HighestIndexes returns, per branch, one past the highest index of the
// summary's inputs and change: what signing it adds to the indexes the
// state record holds as seen.
func HighestIndexes(s Summary) [2]uint32 {
	var top [2]uint32
	for _, in := range s.Inputs {
		if in.Branch == reserve.BranchReceive || in.Branch == reserve.BranchChange {
			top[in.Branch] = max(top[in.Branch], in.Index+1)
		}
	}
	for _, ch := range s.Change {
		top[reserve.BranchChange] = max(top[reserve.BranchChange], ch.ChangeIndex+1)
	}
	return top
}

// descriptorHash binds the file to one descriptor.
func descriptorHash(d *multisig.Descriptor) [32]byte {
	return sha256.Sum256([]byte(d.String()))
}

// derivedMAC is HMAC-SHA256 of body under HMAC-SHA256(account private
// key, derivedMACTag): a key only this signer can compute.
func derivedMAC(key *Key, body []byte) ([]byte, error) {
	return keyMAC(key, derivedMACTag, body)
}

// keyMAC is HMAC-SHA256 of body under HMAC-SHA256(account private key,
// tag): each file the signer authenticates has its own tag, so a MAC of
// one is never a MAC of another.
func keyMAC(key *Key, tag string, body []byte) ([]byte, error) {
	if key == nil || key.xprv == nil {
		return nil, errors.New("key is locked")
	}
	priv, err := key.xprv.ECPrivKey()
	if err != nil {
		return nil, fmt.Errorf("unable to read the account key: %w", err)
	}
	secret := priv.Serialize()
	priv.Zero()
	defer clear(secret)
	k := hmac.New(sha256.New, secret)
	k.Write([]byte(tag))
	macKey := k.Sum(nil)
	defer clear(macKey)
	m := hmac.New(sha256.New, macKey)
	m.Write(body)
	return m.Sum(nil), nil
}
