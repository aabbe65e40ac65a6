package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// Spendable returns, in one read transaction, the coins a new proposal may
// use — confirmed, mature, unspent even in the mempool and not reserved by
// a proposal — oldest first (confirming height, then txid bytes, then
// vout), with the serialized size of each one's previous transaction by
// txid and the synced tip (-1 before the first block).
//
// It reads the utxo_order index, which holds only unspent coins and puts
// the unconfirmed ones last, so it stops at the first unconfirmed coin
// instead of scanning every coin ever recorded; a size is the length of the
// stored transaction, taken without copying it. A proposal over 50,000
// coins thus costs one read transaction, not one per coin, and no copy of
// the previous transactions (tens of megabytes).
func (db *DB) Spendable(ctx context.Context) (coins []reserve.UTXO, prevTxBytes map[chainhash.Hash]int64, tip int32, err error) {
	err = db.view(ctx, "list spendable outputs", func(tx *bolt.Tx) error {
		var ok bool
		var err error
		if tip, _, ok, err = readTip(tx); err != nil {
			return err
		}
		if !ok {
			tip = -1
		}
		held := make(map[string]struct{})
		err = tx.Bucket(bucketReservations).ForEach(func(k, _ []byte) error {
			held[string(k)] = struct{}{}
			return nil
		})
		if err != nil {
			return err
		}
		c := tx.Bucket(bucketUTXOOrder).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 4+chainhash.HashSize+4 {
				return corrupt("utxo order", k, fmt.Errorf("key is %d bytes", len(k)))
			}
			if binary.BigEndian.Uint32(k) == unconfirmedRnk {
				break
			}
			if _, taken := held[string(k[4:])]; taken {
				continue
			}
			u, err := decodeUTXO(v)
			if err != nil {
				return corrupt("utxo order", k, err)
			}
			if u.Spent || u.Height <= 0 || uint32(u.Height) != binary.BigEndian.Uint32(k) || u.OutPoint != outPointOf(k[4:]) {
				return corrupt("utxo order", k, fmt.Errorf("holds no confirmed unspent coin with this key"))
			}
			if !u.Mature(tip) {
				continue
			}
			coins = append(coins, u)
		}
		// The sizes, looked up in txid order: neighbouring lookups share
		// the tree's pages, where coin order would jump across the whole
		// bucket for every coin.
		ids := make([]chainhash.Hash, len(coins))
		for i := range coins {
			ids[i] = coins[i].OutPoint.Hash
		}
		slices.SortFunc(ids, func(a, b chainhash.Hash) int { return bytes.Compare(a[:], b[:]) })
		ids = slices.Compact(ids)
		prevTxBytes = make(map[chainhash.Hash]int64, len(ids))
		tc := tx.Bucket(bucketTxs).Cursor()
		var k, raw []byte
		for i, id := range ids {
			// The next few keys are stepped over (a reserve's bucket
			// holds mostly its deposits), farther ones sought.
			for step := 0; i > 0 && k != nil && step < 4 && bytes.Compare(k, id[:]) < 0; step++ {
				k, raw = tc.Next()
			}
			if i == 0 || k == nil || bytes.Compare(k, id[:]) < 0 {
				k, raw = tc.Seek(id[:])
			}
			if !bytes.Equal(k, id[:]) {
				return reserve.Errorf(reserve.CodeNotFound, "previous transaction %s of a coin is not stored", id)
			}
			prevTxBytes[id] = int64(len(raw))
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, err
	}
	return coins, prevTxBytes, tip, nil
}

// outPointOf reads a utxos bucket key (utxoKey).
func outPointOf(k []byte) wire.OutPoint {
	var op wire.OutPoint
	copy(op.Hash[:], k)
	op.Index = binary.BigEndian.Uint32(k[chainhash.HashSize:])
	return op
}
