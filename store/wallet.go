package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// EnsureNetwork records net the first time it is called and afterwards
// refuses (CodeFailedPrecondition) any other network, so a data dir made
// for regtest can never be opened by a mainnet daemon.
func (db *DB) EnsureNetwork(ctx context.Context, net reserve.Network) error {
	if !validNetwork(net) {
		return reserve.Invalid("network", "%s is not a network a reserve can live on", net)
	}
	return db.update(ctx, "record network "+net.String(), func(tx *bolt.Tx) error {
		return checkNetwork(tx, db.path, net)
	})
}

// checkNetwork compares net with the network recorded in meta, recording
// it if there is none yet.
func checkNetwork(tx *bolt.Tx, path string, net reserve.Network) error {
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keyNetwork)
	switch {
	case v == nil:
		if err := meta.Put(keyNetwork, []byte{byte(net)}); err != nil {
			return fmt.Errorf("unable to write network: %w", err)
		}
		return nil
	case len(v) != 1:
		return corrupt("network", keyNetwork, fmt.Errorf("value is %d bytes, want 1", len(v)))
	case reserve.Network(v[0]) != net:
		return reserve.Errorf(reserve.CodeFailedPrecondition,
			"store %s holds a %s reserve, not %s", path, reserve.Network(v[0]), net)
	}
	return nil
}

func validNetwork(n reserve.Network) bool {
	switch n {
	case reserve.Mainnet, reserve.Testnet, reserve.Signet, reserve.Regtest:
		return true
	case reserve.NetworkUnspecified:
		return false
	}
	return false
}

// Wallet returns the reserve wallet, CodeNotFound before CreateWallet.
func (db *DB) Wallet(ctx context.Context) (reserve.Wallet, error) {
	var w reserve.Wallet
	err := db.view(ctx, "read wallet", func(tx *bolt.Tx) error {
		var err error
		w, err = readWallet(tx)
		return err
	})
	return w, err
}

func readWallet(tx *bolt.Tx) (reserve.Wallet, error) {
	v := tx.Bucket(bucketWallet).Get(keyWallet)
	if v == nil {
		return reserve.Wallet{}, reserve.Errorf(reserve.CodeNotFound, "no reserve wallet has been created yet")
	}
	w, err := decodeWallet(v)
	if err != nil {
		return reserve.Wallet{}, corrupt("wallet", keyWallet, err)
	}
	return w, nil
}

// CreateWallet records the reserve wallet, its first lookahead addresses
// and a wallet.create audit entry in one transaction. A second wallet is a
// CodeConflict; a wallet for another network than the store's is
// CodeFailedPrecondition. A zero CreatedAt (on the wallet or an address) is
// set from the store's clock.
func (db *DB) CreateWallet(ctx context.Context, w reserve.Wallet, lookahead []reserve.Address) error {
	if w.ID == "" {
		return reserve.Invalid("id", "the wallet has no id")
	}
	if !validNetwork(w.Network) {
		return reserve.Invalid("network", "%s is not a network a reserve can live on", w.Network)
	}
	return db.update(ctx, "create wallet "+w.ID, func(tx *bolt.Tx) error {
		if err := checkNetwork(tx, db.path, w.Network); err != nil {
			return err
		}
		b := tx.Bucket(bucketWallet)
		if v := b.Get(keyWallet); v != nil {
			old, err := decodeWallet(v)
			if err != nil {
				return corrupt("wallet", keyWallet, err)
			}
			return reserve.Errorf(reserve.CodeConflict, "the store already holds wallet %q (%s)", old.Name, old.ID)
		}
		if w.CreatedAt.IsZero() {
			w.CreatedAt = db.now()
		}
		v, err := encodeWallet(&w)
		if err != nil {
			return inputError("", err)
		}
		if err := b.Put(keyWallet, v); err != nil {
			return fmt.Errorf("unable to write wallet: %w", err)
		}
		if err := db.putAddresses(tx, "lookahead", lookahead); err != nil {
			return err
		}
		return db.appendAudit(tx, AuditWalletCreate, map[string]string{"wallet": w.ID, "network": w.Network.String()}, fmt.Sprintf("name=%q id=%q network=%s", w.Name, w.ID, w.Network))
	})
}

// Addresses returns every derived address of branch, issued or watched,
// ordered by index.
func (db *DB) Addresses(ctx context.Context, branch reserve.Branch) ([]reserve.Address, error) {
	if !validBranch(branch) {
		return nil, reserve.Invalid("branch", "unknown branch %d", branch)
	}
	var out []reserve.Address
	err := db.view(ctx, "list "+branch.String()+" addresses", func(tx *bolt.Tx) error {
		return forEachAddress(tx, branch, func(a addressRecord) error {
			out = append(out, a.Address)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// forEachAddress calls fn with each address of branch in index order.
func forEachAddress(tx *bolt.Tx, branch reserve.Branch, fn func(addressRecord) error) error {
	c := tx.Bucket(bucketAddresses).Cursor()
	prefix := []byte{byte(branch)}
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		a, err := decodeAddress(v)
		if err != nil {
			return corrupt("address", k, err)
		}
		if !bytes.Equal(k, addressKey(a.Branch, a.Index)) {
			return corrupt("address", k, fmt.Errorf("record is for %s/%d", a.Branch, a.Index))
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

// PutAddresses records lookahead addresses. Addresses already recorded keep
// their label, issued and used flags; one recorded with a different script
// is a CodeConflict (the caller derived it differently). The wallet must
// exist (CodeFailedPrecondition otherwise).
func (db *DB) PutAddresses(ctx context.Context, addrs []reserve.Address) error {
	return db.update(ctx, fmt.Sprintf("record %d addresses", len(addrs)), func(tx *bolt.Tx) error {
		if _, err := readWallet(tx); err != nil {
			if reserve.CodeOf(err) == reserve.CodeNotFound {
				return reserve.Errorf(reserve.CodeFailedPrecondition, "cannot record addresses before the wallet is created")
			}
			return err
		}
		return db.putAddresses(tx, "addresses", addrs)
	})
}

// putAddresses inserts the addresses that are missing and checks that the
// present ones have the same script. field names the input list in errors.
func (db *DB) putAddresses(tx *bolt.Tx, field string, addrs []reserve.Address) error {
	ab, sb := tx.Bucket(bucketAddresses), tx.Bucket(bucketScripts)
	for i := range addrs {
		a := addrs[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := validateAddress(f, &a); err != nil {
			return err
		}
		key := addressKey(a.Branch, a.Index)

		// An address already recorded keeps its state; it must be the
		// same script, or two derivations disagree.
		if v := ab.Get(key); v != nil {
			old, err := decodeAddress(v)
			if err != nil {
				return corrupt("address", key, err)
			}
			if !bytes.Equal(old.Script, a.Script) {
				return reserve.Errorf(reserve.CodeConflict,
					"%s: address %s/%d is already recorded with script %x, not %x", f, a.Branch, a.Index, old.Script, a.Script)
			}
			continue
		}
		if other := sb.Get(a.Script); other != nil {
			return reserve.Errorf(reserve.CodeConflict,
				"%s: script %x of address %s/%d is already recorded under key %x", f, a.Script, a.Branch, a.Index, other)
		}

		if a.CreatedAt.IsZero() {
			a.CreatedAt = db.now()
		}
		v, err := encodeAddress(&addressRecord{Address: a})
		if err != nil {
			return inputError(f+".", err)
		}
		if err := ab.Put(key, v); err != nil {
			return fmt.Errorf("unable to write address %s/%d: %w", a.Branch, a.Index, err)
		}
		if err := sb.Put(append([]byte(nil), a.Script...), key); err != nil {
			return fmt.Errorf("unable to index script of address %s/%d: %w", a.Branch, a.Index, err)
		}
	}
	return nil
}

func validateAddress(field string, a *reserve.Address) error {
	switch {
	case !validBranch(a.Branch):
		return reserve.Invalid(field+".branch", "unknown branch %d", a.Branch)
	case a.Index >= 1<<31:
		return reserve.Invalid(field+".index", "%d is a hardened index; addresses use unhardened ones", a.Index)
	case len(a.Script) == 0:
		return reserve.Invalid(field+".script", "address %s/%d has no script", a.Branch, a.Index)
	}
	return validateLabel(field+".label", a.Label)
}

func validateLabel(field, label string) error {
	if len(label) > MaxLabelLen {
		return reserve.Invalid(field, "is %d bytes long, more than the %d allowed", len(label), MaxLabelLen)
	}
	if !utf8.ValidString(label) {
		return reserve.Invalid(field, "is not valid UTF-8")
	}
	return nil
}

func validBranch(b reserve.Branch) bool {
	return b == reserve.BranchReceive || b == reserve.BranchChange
}

// Horizon returns one past the highest index of branch that was issued or
// paid (0 when none), so the caller can keep GapLimit addresses derived
// past it.
func (db *DB) Horizon(ctx context.Context, branch reserve.Branch) (uint32, error) {
	if !validBranch(branch) {
		return 0, reserve.Invalid("branch", "unknown branch %d", branch)
	}
	var h uint32
	err := db.view(ctx, "compute "+branch.String()+" horizon", func(tx *bolt.Tx) error {
		var err error
		h, err = horizon(tx, branch)
		return err
	})
	return h, err
}

// horizon reads the branch's addresses from the highest index down and
// stops at the first issued or paid one: above the horizon lie only the
// lookahead addresses (the gap limit at most), so issuing an address or
// keeping the lookahead costs O(gap) reads, not one per address the
// wallet ever issued (a scan of 100,000 records at every NewAddress).
func horizon(tx *bolt.Tx, branch reserve.Branch) (uint32, error) {
	c := tx.Bucket(bucketAddresses).Cursor()
	k, v := c.Seek([]byte{byte(branch) + 1})
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && k[0] == byte(branch); k, v = c.Prev() {
		a, err := decodeAddress(v)
		if err != nil {
			return 0, corrupt("address", k, err)
		}
		if !bytes.Equal(k, addressKey(a.Branch, a.Index)) {
			return 0, corrupt("address", k, fmt.Errorf("record is for %s/%d", a.Branch, a.Index))
		}
		if a.Issued || a.Used {
			return a.Index + 1, nil
		}
	}
	return 0, nil
}

// IssueAddress hands out the receive address at the receive horizon (the
// one after the highest issued or paid), records its label and an
// address.issue audit entry in one transaction. The address must already be
// derived: CodeNotFound tells the caller to extend the lookahead first.
// Labels longer than MaxLabelLen bytes or not UTF-8 are CodeInvalid.
func (db *DB) IssueAddress(ctx context.Context, label string) (reserve.Address, error) {
	if err := validateLabel("label", label); err != nil {
		return reserve.Address{}, err
	}
	var out reserve.Address
	err := db.update(ctx, "issue receive address", func(tx *bolt.Tx) error {
		if _, err := readWallet(tx); err != nil {
			if reserve.CodeOf(err) == reserve.CodeNotFound {
				return reserve.Errorf(reserve.CodeFailedPrecondition, "cannot issue an address before the wallet is created")
			}
			return err
		}
		index, err := horizon(tx, reserve.BranchReceive)
		if err != nil {
			return err
		}
		key := addressKey(reserve.BranchReceive, index)
		ab := tx.Bucket(bucketAddresses)
		v := ab.Get(key)
		if v == nil {
			return reserve.Errorf(reserve.CodeNotFound,
				"receive address %d is not derived yet: extend the lookahead first", index)
		}
		a, err := decodeAddress(v)
		if err != nil {
			return corrupt("address", key, err)
		}
		a.Issued, a.Label = true, label
		if v, err = encodeAddress(&a); err != nil {
			return fmt.Errorf("unable to encode address %s/%d: %w", a.Branch, a.Index, err)
		}
		if err := ab.Put(key, v); err != nil {
			return fmt.Errorf("unable to write address %s/%d: %w", a.Branch, a.Index, err)
		}
		out = a.Address
		return db.appendAudit(tx, AuditAddressIssue, map[string]string{
			"branch": a.Branch.String(), "index": strconv.FormatUint(uint64(a.Index), 10), "address": a.Address.Address,
		},
			fmt.Sprintf("branch=%s index=%d address=%s label=%q", a.Branch, a.Index, a.Address.Address, label))
	})
	if err != nil {
		return reserve.Address{}, err
	}
	return out, nil
}

// inputError classifies the failure to encode a record built from the
// caller's input: a field over its limit is the caller's mistake
// (CodeInvalid, naming the field after prefix), anything else is ours.
func inputError(prefix string, err error) error {
	var le *limitError
	if errors.As(err, &le) {
		return reserve.Invalid(prefix+le.Field, "%s", le.Msg)
	}
	return reserve.Errorf(reserve.CodeInternal, "unable to encode %s: %w", prefix, err)
}
