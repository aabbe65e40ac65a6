package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// Records derived from the coins and proposals, kept in the transaction that
// changes what they derive from, so that a balance or one page of a listing
// costs the same on a reserve with years of history as on a fresh one.
// Migration 8 builds them once for an existing store.
var (
	// path: balance -> ["totals"]
	// maps: the wallet's unspent coins summed -> version(1) ||
	// confirmed non-coinbase(8 BE) || unconfirmed(8 BE) || confirmed
	// coinbase(8 BE). Which coinbase coins are mature depends on the tip:
	// the coinbase bucket tells.
	bucketBalance = []byte("balance")

	// path: coinbase -> [height(4 BE) || txid(32) || vout(4 BE)]
	// maps: confirmed unspent coinbase coin -> amount(8 BE). Balance sums
	// the immature ones (the last CoinbaseMaturity-1 heights) with one Seek.
	bucketCoinbase = []byte("coinbase")

	// path: utxo_order -> [rank(4 BE) || txid(32) || vout(4 BE)]
	// maps: unspent coin -> its UTXO record (encodeUTXO), a copy of the
	// utxos bucket's, so that a page is read in key order without a
	// lookup per coin. rank is the confirming height, 0xffffffff for an
	// unconfirmed coin, so key order is the listing order of ListUtxos:
	// oldest first, unconfirmed last.
	bucketUTXOOrder = []byte("utxo_order")

	// path: received -> [branch(1) || index(4 BE)]
	// maps: address paid by at least one recorded coin, spent or not ->
	// sum(8 BE) || count(4 BE).
	bucketReceived = []byte("received")

	// path: proposal_index -> [state(1) || seq(8 BE)] and [state(1)]
	// maps: proposal in state (0: every proposal) -> its id; the one-byte
	// key -> how many proposals are in that state (8 BE). Newest first is
	// reverse key order within a state, whatever the id's digit count.
	bucketProposalIndex = []byte("proposal_index")
)

// bucketsV8 are the buckets migration 8 creates. Frozen once shipped.
var bucketsV8 = [][]byte{bucketBalance, bucketCoinbase, bucketUTXOOrder, bucketReceived, bucketProposalIndex}

// keyTotals is the only key of the balance bucket; keyPageKey is the meta
// key of the 32-byte secret that authenticates page tokens.
var (
	keyTotals  = []byte("totals")
	keyPageKey = []byte("page_token_key")
)

const (
	totalsVersion  = 1
	totalsLen      = 1 + 3*8
	pageKeyLen     = 32
	unconfirmedRnk = math.MaxUint32
)

// totals is the balance record.
type totals struct {
	confirmed, unconfirmed, coinbase int64
}

func readTotals(tx *bolt.Tx) (totals, error) {
	v := tx.Bucket(bucketBalance).Get(keyTotals)
	if v == nil {
		return totals{}, nil
	}
	if len(v) != totalsLen || v[0] != totalsVersion {
		return totals{}, corrupt("balance", keyTotals, fmt.Errorf("record is %d bytes, version %d", len(v), v[0]))
	}
	return totals{
		confirmed:   int64(binary.BigEndian.Uint64(v[1:])),
		unconfirmed: int64(binary.BigEndian.Uint64(v[9:])),
		coinbase:    int64(binary.BigEndian.Uint64(v[17:])),
	}, nil
}

func writeTotals(tx *bolt.Tx, t totals) error {
	for _, n := range []int64{t.confirmed, t.unconfirmed, t.coinbase} {
		if n < 0 || n > 2*reserve.MaxSat {
			return reserve.Errorf(reserve.CodeInternal, "the maintained balance would be %d sat", n)
		}
	}
	v := make([]byte, 0, totalsLen)
	v = append(v, totalsVersion)
	v = binary.BigEndian.AppendUint64(v, uint64(t.confirmed))
	v = binary.BigEndian.AppendUint64(v, uint64(t.unconfirmed))
	v = binary.BigEndian.AppendUint64(v, uint64(t.coinbase))
	if err := tx.Bucket(bucketBalance).Put(keyTotals, v); err != nil {
		return fmt.Errorf("unable to write balance: %w", err)
	}
	return nil
}

// orderKey is the utxo_order key of a coin.
func orderKey(u *reserve.UTXO) []byte {
	rank := uint32(unconfirmedRnk)
	if u.Height > 0 {
		rank = uint32(u.Height)
	}
	k := binary.BigEndian.AppendUint32(make([]byte, 0, 4+chainhash.HashSize+4), rank)
	return append(k, utxoKey(u.OutPoint)...)
}

func coinbaseKey(u *reserve.UTXO) []byte {
	k := binary.BigEndian.AppendUint32(make([]byte, 0, 4+chainhash.HashSize+4), uint32(u.Height))
	return append(k, utxoKey(u.OutPoint)...)
}

// account adds (sign 1) or removes (sign -1) what one coin record
// contributes to the derived records other than received.
func account(tx *bolt.Tx, t *totals, u *reserve.UTXO, sign int64) error {
	if u.Spent {
		return nil
	}
	ob, cb := tx.Bucket(bucketUTXOOrder), tx.Bucket(bucketCoinbase)
	var err error
	if sign > 0 {
		var v []byte
		if v, err = encodeUTXO(u); err != nil {
			return inputError("utxo.", err)
		}
		err = ob.Put(orderKey(u), v)
	} else {
		err = ob.Delete(orderKey(u))
	}
	if err != nil {
		return fmt.Errorf("unable to index output %s: %w", u.OutPoint, err)
	}
	switch {
	case u.Height == 0:
		t.unconfirmed += sign * u.AmountSat
	case u.Coinbase:
		t.coinbase += sign * u.AmountSat
		if sign > 0 {
			err = cb.Put(coinbaseKey(u), binary.BigEndian.AppendUint64(nil, uint64(u.AmountSat)))
		} else {
			err = cb.Delete(coinbaseKey(u))
		}
		if err != nil {
			return fmt.Errorf("unable to index coinbase output %s: %w", u.OutPoint, err)
		}
	default:
		t.confirmed += sign * u.AmountSat
	}
	return nil
}

// receive adds (sign 1) or removes (sign -1) a coin from what its address
// received.
func receive(tx *bolt.Tx, u *reserve.UTXO, sign int64) error {
	rb := tx.Bucket(bucketReceived)
	key := addressKey(u.Branch, u.Index)
	sat, count, err := readReceived(rb, key)
	if err != nil {
		return err
	}
	sat += sign * u.AmountSat
	count += sign
	if count <= 0 {
		if err := rb.Delete(key); err != nil {
			return fmt.Errorf("unable to update what address %s/%d received: %w", u.Branch, u.Index, err)
		}
		return nil
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 12), uint64(sat))
	v = binary.BigEndian.AppendUint32(v, uint32(count))
	if err := rb.Put(key, v); err != nil {
		return fmt.Errorf("unable to update what address %s/%d received: %w", u.Branch, u.Index, err)
	}
	return nil
}

func readReceived(rb *bolt.Bucket, key []byte) (sat, count int64, err error) {
	v := rb.Get(key)
	switch {
	case v == nil:
		return 0, 0, nil
	case len(v) != 12:
		return 0, 0, corrupt("received", key, fmt.Errorf("record is %d bytes, want 12", len(v)))
	}
	return int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint32(v[8:])), nil
}

// writeCoin replaces old (nil: none) by u (nil: delete) in the utxos bucket
// and keeps every derived record in step, in the caller's transaction.
// Every write of a coin goes through here.
func writeCoin(tx *bolt.Tx, field string, old, u *reserve.UTXO) error {
	t, err := readTotals(tx)
	if err != nil {
		return err
	}
	if old != nil {
		if err := account(tx, &t, old, -1); err != nil {
			return err
		}
	}
	if u != nil {
		if err := putUTXO(tx.Bucket(bucketUTXOs), field, u); err != nil {
			return err
		}
		if err := account(tx, &t, u, 1); err != nil {
			return err
		}
	} else if old != nil {
		if err := tx.Bucket(bucketUTXOs).Delete(utxoKey(old.OutPoint)); err != nil {
			return fmt.Errorf("unable to delete output %s: %w", old.OutPoint, err)
		}
	}
	switch {
	case old == nil && u != nil:
		err = receive(tx, u, 1)
	case old != nil && u == nil:
		err = receive(tx, old, -1)
	}
	if err != nil {
		return err
	}
	return writeTotals(tx, t)
}

// Balance returns the wallet's balance at the synced tip and that tip (-1
// before the first block) from the maintained totals: it reads the few
// immature coinbase coins, never every coin. It equals reserve.BalanceOf
// over the unspent coins.
func (db *DB) Balance(ctx context.Context) (reserve.Balance, int32, error) {
	var (
		b   reserve.Balance
		tip int32
	)
	err := db.view(ctx, "read balance", func(tx *bolt.Tx) error {
		var err error
		b, tip, err = balance(tx)
		return err
	})
	return b, tip, err
}

func balance(tx *bolt.Tx) (reserve.Balance, int32, error) {
	tip, _, ok, err := readTip(tx)
	if err != nil {
		return reserve.Balance{}, 0, err
	}
	if !ok {
		tip = -1
	}
	t, err := readTotals(tx)
	if err != nil {
		return reserve.Balance{}, 0, err
	}
	// A coinbase coin at height h is mature at tip once tip-h+1 reaches
	// CoinbaseMaturity: the immature ones are at h >= tip-maturity+2.
	var immature int64
	from := max(int64(tip)-reserve.CoinbaseMaturity+2, 0)
	c := tx.Bucket(bucketCoinbase).Cursor()
	for k, v := c.Seek(binary.BigEndian.AppendUint32(nil, uint32(from))); k != nil; k, v = c.Next() {
		if len(v) != 8 {
			return reserve.Balance{}, 0, corrupt("coinbase", k, fmt.Errorf("amount is %d bytes", len(v)))
		}
		immature += int64(binary.BigEndian.Uint64(v))
	}
	return reserve.Balance{
		ConfirmedSat:   t.confirmed + t.coinbase - immature,
		UnconfirmedSat: t.unconfirmed,
		ImmatureSat:    immature,
	}, tip, nil
}

// UTXOPage returns up to limit unspent coins in listing order (confirming
// height, then txid bytes, then vout; unconfirmed last) after the coin
// whose cursor is after (nil: from the first), with the synced tip (-1
// before the first block). next is the cursor of the last coin returned
// when more follow, nil at the end. A cursor whose coin has since been
// spent or removed still works: the page continues after its key. The
// read is one Seek and limit+1 steps, whatever the number of coins.
func (db *DB) UTXOPage(ctx context.Context, after []byte, limit int) (utxos []reserve.UTXO, next []byte, tip int32, err error) {
	if after != nil && len(after) != 4+chainhash.HashSize+4 {
		return nil, nil, 0, reserve.Invalid("page_token", "does not name a coin")
	}
	if limit <= 0 {
		return nil, nil, 0, reserve.Invalid("page_size", "is %d, want at least 1", limit)
	}
	err = db.view(ctx, "list a page of outputs", func(tx *bolt.Tx) error {
		var ok bool
		var err error
		if tip, _, ok, err = readTip(tx); err != nil {
			return err
		}
		if !ok {
			tip = -1
		}
		c := tx.Bucket(bucketUTXOOrder).Cursor()
		k, v := seekAfter(c, after)
		for ; k != nil; k, v = c.Next() {
			if len(utxos) == limit {
				next = orderKey(&utxos[len(utxos)-1])
				return nil
			}
			u, err := decodeUTXO(v)
			switch {
			case err != nil:
				return corrupt("utxo order", k, err)
			case u.Spent || !bytes.Equal(k, orderKey(&u)):
				return corrupt("utxo order", k, fmt.Errorf("holds no unspent coin with this key"))
			}
			utxos = append(utxos, u)
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, err
	}
	return utxos, next, tip, nil
}

// seekAfter positions c on the first key after after (the first key for
// nil), whether or not after is still present.
func seekAfter(c *bolt.Cursor, after []byte) ([]byte, []byte) {
	if after == nil {
		return c.First()
	}
	k, v := c.Seek(after)
	if k != nil && bytes.Equal(k, after) {
		return c.Next()
	}
	return k, v
}
