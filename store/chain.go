package store

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// SyncTip returns the last block the wallet has processed; ok is false
// before the first block and after the last stored block was disconnected.
func (db *DB) SyncTip(ctx context.Context) (height int32, hash chainhash.Hash, ok bool, err error) {
	err = db.view(ctx, "read sync tip", func(tx *bolt.Tx) error {
		var err error
		height, hash, ok, err = readTip(tx)
		return err
	})
	return height, hash, ok, err
}

// BlockHash returns the hash recorded for a processed height; ok is false
// for a height the store has not processed (or has disconnected).
func (db *DB) BlockHash(ctx context.Context, height int32) (hash chainhash.Hash, ok bool, err error) {
	if height < 0 {
		return chainhash.Hash{}, false, nil
	}
	err = db.view(ctx, fmt.Sprintf("read block hash at height %d", height), func(tx *bolt.Tx) error {
		var err error
		hash, ok, err = readBlockHash(tx, height)
		return err
	})
	return hash, ok, err
}

func readBlockHash(tx *bolt.Tx, height int32) (chainhash.Hash, bool, error) {
	var hash chainhash.Hash
	key := heightKey(height)
	v := tx.Bucket(bucketBlocks).Get(key)
	if v == nil {
		return hash, false, nil
	}
	if len(v) != chainhash.HashSize {
		return hash, false, corrupt("block", key, fmt.Errorf("hash is %d bytes, want %d", len(v), chainhash.HashSize))
	}
	copy(hash[:], v)
	return hash, true, nil
}

// ApplyBlock records what one block did to the wallet and moves the sync
// tip to it, in one transaction. The block must extend the tip: its Prev is
// the tip hash and its Height the tip height plus one (CodeConflict
// otherwise); any block is accepted when there is no tip.
//
// Credits are inserted at b.Height whatever their own Height says; a credit
// already known from the mempool keeps its spend state and gets confirmed.
// A credit whose script is not a wallet address, or not the address its
// Branch and Index name, is CodeInvalid. Debits mark outputs spent at
// b.Height, overriding an unconfirmed spend by another transaction; a
// debit of an unknown outpoint is ignored. Credits are applied before
// debits, so an output created and spent in the same block ends up spent.
func (db *DB) ApplyBlock(ctx context.Context, b reserve.BlockUpdate) error {
	switch {
	case b.Height < 0:
		return reserve.Invalid("height", "block %s has negative height %d", b.Hash, b.Height)
	case b.Height == 0 && (len(b.Credits) > 0 || len(b.Debits) > 0):
		// Height 0 means "unconfirmed" in a UTXO; the genesis block pays
		// nobody spendable anyway.
		return reserve.Invalid("height", "block %s at height 0 cannot pay or spend the wallet", b.Hash)
	}
	return db.update(ctx, fmt.Sprintf("apply block %s at height %d", b.Hash, b.Height), func(tx *bolt.Tx) error {
		height, hash, ok, err := readTip(tx)
		if err != nil {
			return err
		}
		if ok && (b.Prev != hash || b.Height != height+1) {
			return reserve.Errorf(reserve.CodeConflict,
				"block %s at height %d (parent %s) does not extend the wallet tip %s at height %d",
				b.Hash, b.Height, b.Prev, hash, height)
		}

		for i := range b.Credits {
			if err := confirmCredit(tx, fmt.Sprintf("credits[%d]", i), b.Credits[i], b.Height); err != nil {
				return err
			}
		}
		for _, d := range b.Debits {
			if err := spend(tx, d, b.Height); err != nil {
				return err
			}
		}
		if err := putTxs(tx, b.Txs); err != nil {
			return err
		}

		if err := tx.Bucket(bucketBlocks).Put(heightKey(b.Height), append([]byte(nil), b.Hash[:]...)); err != nil {
			return fmt.Errorf("unable to record block hash: %w", err)
		}
		return writeTip(tx, b.Height, b.Hash)
	})
}

// confirmCredit records an output confirmed at height.
func confirmCredit(tx *bolt.Tx, field string, u reserve.UTXO, height int32) error {
	if err := checkCredit(tx, field, &u); err != nil {
		return err
	}
	ub := tx.Bucket(bucketUTXOs)
	key := utxoKey(u.OutPoint)
	old, found, err := getUTXO(ub, key)
	var prev *reserve.UTXO
	switch {
	case err != nil:
		return err
	case !found:
		u.Height = height
	case old.Height == 0:
		// Seen in the mempool first: keep what we know of its spend.
		was := old
		prev = &was
		old.Height = height
		u = old
	default:
		return reserve.Errorf(reserve.CodeConflict,
			"%s: output %s is already confirmed at height %d", field, u.OutPoint, old.Height)
	}
	if err := writeCoin(tx, field, prev, &u); err != nil {
		return err
	}
	return markUsed(tx, u.Branch, u.Index)
}

// checkCredit refuses a credit that the wallet cannot account for: a bad
// amount or branch, or a script that is not the wallet address the credit
// names. The follower only reports outputs to scripts the store gave it,
// so a mismatch is a bug upstream and must not be recorded.
func checkCredit(tx *bolt.Tx, field string, u *reserve.UTXO) error {
	switch {
	case u.AmountSat < 0 || u.AmountSat > reserve.MaxSat:
		return reserve.Invalid(field+".amount_sat", "%d is not between 0 and %d", u.AmountSat, reserve.MaxSat)
	case !validBranch(u.Branch):
		return reserve.Invalid(field+".branch", "unknown branch %d", u.Branch)
	case len(u.Script) == 0:
		return reserve.Invalid(field+".script", "output %s has no script", u.OutPoint)
	}
	want := addressKey(u.Branch, u.Index)
	got := tx.Bucket(bucketScripts).Get(u.Script)
	switch {
	case got == nil:
		return reserve.Invalid(field+".script", "output %s pays script %x, which is not a wallet address", u.OutPoint, u.Script)
	case !bytes.Equal(got, want):
		return reserve.Invalid(field+".index", "output %s names address %s/%d but its script belongs to address key %x",
			u.OutPoint, u.Branch, u.Index, got)
	}
	return nil
}

// markUsed sets the Used flag of an address that a credit paid. It is never
// cleared: an address once paid is never handed out again.
func markUsed(tx *bolt.Tx, branch reserve.Branch, index uint32) error {
	ab := tx.Bucket(bucketAddresses)
	key := addressKey(branch, index)
	v := ab.Get(key)
	if v == nil {
		return corrupt("script index", key, fmt.Errorf("address %s/%d is indexed but missing", branch, index))
	}
	a, err := decodeAddress(v)
	if err != nil {
		return corrupt("address", key, err)
	}
	if a.Used {
		return nil
	}
	a.Used = true
	if v, err = encodeAddress(&a); err != nil {
		return fmt.Errorf("unable to encode address %s/%d: %w", branch, index, err)
	}
	if err := ab.Put(key, v); err != nil {
		return fmt.Errorf("unable to mark address %s/%d used: %w", branch, index, err)
	}
	return nil
}

// spend marks a wallet output spent by d.SpentBy at height (0 for the
// mempool). An unknown outpoint is ignored: the follower only sends wallet
// outpoints, and a stale one must not stop a block.
func spend(tx *bolt.Tx, d reserve.Debit, height int32) error {
	ub := tx.Bucket(bucketUTXOs)
	key := utxoKey(d.OutPoint)
	u, found, err := getUTXO(ub, key)
	if err != nil || !found {
		return err
	}
	if height == 0 && u.Spent && u.SpentHeight != 0 {
		// A confirmed spend outranks anything the mempool says.
		return nil
	}
	old := u
	u.Spent, u.SpentBy, u.SpentHeight = true, d.SpentBy, height
	return writeCoin(tx, "debit", &old, &u)
}

// putTxs stores transactions under their txid, serialized with witness.
func putTxs(tx *bolt.Tx, txs []*wire.MsgTx) error {
	tb := tx.Bucket(bucketTxs)
	for i, t := range txs {
		if t == nil {
			return reserve.Invalid(fmt.Sprintf("txs[%d]", i), "transaction is nil")
		}
		var buf bytes.Buffer
		buf.Grow(t.SerializeSize())
		if err := t.Serialize(&buf); err != nil {
			return fmt.Errorf("unable to serialize transaction %s: %w", t.TxHash(), err)
		}
		txid := t.TxHash()
		if err := tb.Put(append([]byte(nil), txid[:]...), buf.Bytes()); err != nil {
			return fmt.Errorf("unable to write transaction %s: %w", txid, err)
		}
	}
	return nil
}

func getUTXO(ub *bolt.Bucket, key []byte) (reserve.UTXO, bool, error) {
	v := ub.Get(key)
	if v == nil {
		return reserve.UTXO{}, false, nil
	}
	u, err := decodeUTXO(v)
	if err != nil {
		return reserve.UTXO{}, false, corrupt("utxo", key, err)
	}
	if !bytes.Equal(key, utxoKey(u.OutPoint)) {
		return reserve.UTXO{}, false, corrupt("utxo", key, fmt.Errorf("record is for outpoint %s", u.OutPoint))
	}
	return u, true, nil
}

func putUTXO(ub *bolt.Bucket, field string, u *reserve.UTXO) error {
	v, err := encodeUTXO(u)
	if err != nil {
		return inputError(field+".", err)
	}
	if err := ub.Put(utxoKey(u.OutPoint), v); err != nil {
		return fmt.Errorf("unable to write output %s: %w", u.OutPoint, err)
	}
	return nil
}

// DisconnectTip undoes the tip block in one transaction: outputs it
// confirmed are removed with their spend state, spends it confirmed are
// forgotten (the next mempool pass records them again if the node still
// has the spending transaction), its hash is deleted, and the tip moves to
// the stored parent, or is cleared when the parent height has no stored
// hash. With no tip it is CodeFailedPrecondition.
func (db *DB) DisconnectTip(ctx context.Context) error {
	err := db.update(ctx, "disconnect tip", func(tx *bolt.Tx) error {
		height, _, ok, err := readTip(tx)
		if err != nil {
			return err
		}
		if !ok {
			return reserve.Errorf(reserve.CodeFailedPrecondition, "the wallet has no sync tip to disconnect")
		}

		// Height 0 marks unconfirmed records, so a genesis tip owns none.
		if height > 0 {
			err := rewriteUTXOs(tx, func(u *reserve.UTXO) (keep, changed bool) {
				switch {
				case u.Height == height:
					return false, true
				case u.Spent && u.SpentHeight == height:
					u.Spent, u.SpentBy, u.SpentHeight = false, chainhash.Hash{}, 0
					return true, true
				}
				return true, false
			})
			if err != nil {
				return err
			}
		}

		if err := tx.Bucket(bucketBlocks).Delete(heightKey(height)); err != nil {
			return fmt.Errorf("unable to delete block hash at height %d: %w", height, err)
		}
		var (
			prev    chainhash.Hash
			hasPrev bool
		)
		if height > 0 {
			if prev, hasPrev, err = readBlockHash(tx, height-1); err != nil {
				return err
			}
		}
		if !hasPrev {
			return clearTip(tx)
		}
		return writeTip(tx, height-1, prev)
	})
	if err == nil {
		db.log.Debug("store disconnected tip")
	}
	return err
}

// rewriteUTXOs calls fn on every output; fn edits it in place and says
// whether to keep it and whether it changed. Changes are applied after the
// scan, because bbolt cursors do not survive writes to their bucket.
func rewriteUTXOs(tx *bolt.Tx, fn func(u *reserve.UTXO) (keep, changed bool)) error {
	ub := tx.Bucket(bucketUTXOs)
	type change struct {
		old, u reserve.UTXO
		keep   bool
	}
	var changes []change
	c := ub.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		u, err := decodeUTXO(v)
		if err != nil {
			return corrupt("utxo", k, err)
		}
		old := u
		keep, changed := fn(&u)
		if !keep || changed {
			changes = append(changes, change{old: old, u: u, keep: keep})
		}
	}
	for i := range changes {
		ch := &changes[i]
		u := &ch.u
		if !ch.keep {
			u = nil
		}
		if err := writeCoin(tx, "utxo", &ch.old, u); err != nil {
			return err
		}
	}
	return nil
}

// ApplyMempool records the difference between the wallet's unconfirmed
// view and the node's mempool, in one transaction. First, for each txid in
// Gone, its unconfirmed outputs are removed and the unconfirmed spends it
// made are undone; confirmed records are never touched. Then Credits are
// recorded at height 0 (a confirmed output stays confirmed), Debits mark
// outputs spent at height 0 (a confirmed spend stays), and Txs are stored.
// Credits are checked like ApplyBlock's.
func (db *DB) ApplyMempool(ctx context.Context, m reserve.MempoolUpdate) error {
	what := fmt.Sprintf("apply mempool update (%d credits, %d debits, %d gone)", len(m.Credits), len(m.Debits), len(m.Gone))
	err := db.update(ctx, what, func(tx *bolt.Tx) error {
		if err := forgetGone(tx, m.Gone); err != nil {
			return err
		}
		for i := range m.Credits {
			if err := mempoolCredit(tx, fmt.Sprintf("credits[%d]", i), m.Credits[i]); err != nil {
				return err
			}
		}
		for _, d := range m.Debits {
			if err := spend(tx, d, 0); err != nil {
				return err
			}
		}
		return putTxs(tx, m.Txs)
	})
	if err == nil && len(m.Gone) > 0 {
		db.log.Debug("store forgot transactions that left the mempool", slog.Int("count", len(m.Gone)))
	}
	return err
}

// forgetGone removes the unconfirmed outputs of the gone transactions and
// undoes their unconfirmed spends. Stored raw transactions are kept: they
// may come back, and a PSBT may still cite them.
func forgetGone(tx *bolt.Tx, gone []chainhash.Hash) error {
	if len(gone) == 0 {
		return nil
	}
	set := make(map[chainhash.Hash]struct{}, len(gone))
	for _, txid := range gone {
		set[txid] = struct{}{}
	}
	return rewriteUTXOs(tx, func(u *reserve.UTXO) (keep, changed bool) {
		if _, ok := set[u.OutPoint.Hash]; ok && u.Height == 0 {
			return false, true
		}
		if _, ok := set[u.SpentBy]; ok && u.Spent && u.SpentHeight == 0 {
			u.Spent, u.SpentBy = false, chainhash.Hash{}
			return true, true
		}
		return true, false
	})
}

// mempoolCredit records an unconfirmed output unless it is already known.
func mempoolCredit(tx *bolt.Tx, field string, u reserve.UTXO) error {
	if err := checkCredit(tx, field, &u); err != nil {
		return err
	}
	ub := tx.Bucket(bucketUTXOs)
	key := utxoKey(u.OutPoint)
	_, found, err := getUTXO(ub, key)
	if err != nil {
		return err
	}
	if !found {
		u.Height = 0
		if err := writeCoin(tx, field, nil, &u); err != nil {
			return err
		}
	}
	return markUsed(tx, u.Branch, u.Index)
}

// UTXOs returns the wallet's outputs ordered by outpoint (txid bytes in
// chainhash internal order, then vout); spent ones only when includeSpent
// is set.
func (db *DB) UTXOs(ctx context.Context, includeSpent bool) ([]reserve.UTXO, error) {
	var out []reserve.UTXO
	err := db.view(ctx, "list outputs", func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketUTXOs).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			u, err := decodeUTXO(v)
			if err != nil {
				return corrupt("utxo", k, err)
			}
			if !bytes.Equal(k, utxoKey(u.OutPoint)) {
				return corrupt("utxo", k, fmt.Errorf("record is for outpoint %s", u.OutPoint))
			}
			if u.Spent && !includeSpent {
				continue
			}
			out = append(out, u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RawTx returns a stored transaction serialized with witness, CodeNotFound
// if the store never saw it.
func (db *DB) RawTx(ctx context.Context, txid chainhash.Hash) ([]byte, error) {
	var raw []byte
	err := db.view(ctx, "read transaction "+txid.String(), func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketTxs).Get(txid[:])
		if v == nil {
			return reserve.Errorf(reserve.CodeNotFound, "transaction %s is not stored", txid)
		}
		raw = append([]byte(nil), v...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return raw, nil
}
