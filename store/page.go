package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// AddressPage returns up to limit addresses of branch in index order after
// the one whose cursor is after (nil: from index 0), each with what it
// received. Without lookahead only addresses issued or paid are listed;
// the others are stepped over. next is the cursor of the last address
// returned when more may follow, nil at the end.
func (db *DB) AddressPage(ctx context.Context, branch reserve.Branch, lookahead bool, after []byte, limit int) (out []reserve.AddressActivity, next []byte, err error) {
	switch {
	case !validBranch(branch):
		return nil, nil, reserve.Invalid("branch", "unknown branch %d", branch)
	case after != nil && (len(after) != 5 || after[0] != byte(branch)):
		return nil, nil, reserve.Invalid("page_token", "does not name an address of the %s branch", branch)
	case limit <= 0:
		return nil, nil, reserve.Invalid("page_size", "is %d, want at least 1", limit)
	}
	err = db.view(ctx, "list a page of "+branch.String()+" addresses", func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketReceived)
		c := tx.Bucket(bucketAddresses).Cursor()
		prefix := []byte{byte(branch)}
		k, v := c.Seek(prefix)
		if after != nil {
			k, v = seekAfter(c, after)
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			a, err := decodeAddress(v)
			if err != nil {
				return corrupt("address", k, err)
			}
			if !bytes.Equal(k, addressKey(a.Branch, a.Index)) {
				return corrupt("address", k, fmt.Errorf("record is for %s/%d", a.Branch, a.Index))
			}
			sat, count, err := readReceived(rb, k)
			if err != nil {
				return err
			}
			if !lookahead && !a.Issued && count == 0 {
				continue
			}
			if len(out) == limit {
				last := out[len(out)-1]
				next = addressKey(last.Branch, last.Index)
				return nil
			}
			out = append(out, reserve.AddressActivity{Address: a.Address, ReceivedSat: sat, ReceivedCount: uint32(count)})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, next, nil
}

// proposalSeq is the sequence number an id was made from.
func proposalSeq(id string) (uint64, error) {
	if !strings.HasPrefix(id, "P") {
		return 0, fmt.Errorf("proposal id %q does not start with P", id)
	}
	seq, err := strconv.ParseUint(id[1:], 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("proposal id %q has no sequence number", id)
	}
	return seq, nil
}

func proposalIndexKey(state reserve.State, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{byte(state)}, seq)
}

// indexProposal files the proposal id under state (and under 0, every
// proposal), moving it from the state it was filed under, and keeps the
// per-state counts. It runs in every transaction that writes a proposal.
func indexProposal(tx *bolt.Tx, id string, state reserve.State) error {
	seq, err := proposalSeq(id)
	if err != nil {
		return corrupt("proposal", []byte(id), err)
	}
	ib := tx.Bucket(bucketProposalIndex)
	if ib.Get(proposalIndexKey(reserve.StateUnspecified, seq)) == nil {
		if err := putIndexed(ib, reserve.StateUnspecified, seq, id, 1); err != nil {
			return err
		}
	}
	for s := reserve.StatePendingApproval; s <= reserve.StateReplaced; s++ {
		if ib.Get(proposalIndexKey(s, seq)) == nil {
			continue
		}
		if s == state {
			return nil
		}
		if err := putIndexed(ib, s, seq, "", -1); err != nil {
			return err
		}
	}
	return putIndexed(ib, state, seq, id, 1)
}

// putIndexed adds (delta 1, with id) or removes (delta -1) one index key
// and counts it.
func putIndexed(ib *bolt.Bucket, state reserve.State, seq uint64, id string, delta int64) error {
	key := proposalIndexKey(state, seq)
	var err error
	if delta > 0 {
		err = ib.Put(key, []byte(id))
	} else {
		err = ib.Delete(key)
	}
	if err != nil {
		return fmt.Errorf("unable to index proposal %d under state %s: %w", seq, state, err)
	}
	n := int64(0)
	if v := ib.Get([]byte{byte(state)}); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += delta
	if n < 0 {
		return corrupt("proposal index", []byte{byte(state)}, fmt.Errorf("count of state %s would be negative", state))
	}
	if err := ib.Put([]byte{byte(state)}, binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
		return fmt.Errorf("unable to count proposals in state %s: %w", state, err)
	}
	return nil
}

// ProposalPage returns up to limit proposals in state (all of them for
// reserve.StateUnspecified), newest first, after the one whose cursor is
// after (nil: from the newest). next is the cursor of the last proposal
// returned when more follow, nil at the end. A cursor whose proposal has
// since left the state still works: the page continues after its key.
// The read is one Seek and limit+1 steps, whatever the history.
func (db *DB) ProposalPage(ctx context.Context, state reserve.State, after []byte, limit int) (out []reserve.Proposal, next []byte, err error) {
	switch {
	case state != reserve.StateUnspecified && !knownState(state):
		return nil, nil, reserve.Invalid("state", "unknown proposal state %d", state)
	case after != nil && len(after) != 8:
		return nil, nil, reserve.Invalid("page_token", "does not name a proposal")
	case limit <= 0:
		return nil, nil, reserve.Invalid("page_size", "is %d, want at least 1", limit)
	}
	err = db.view(ctx, "list a page of proposals", func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketProposalIndex).Cursor()
		// Position on the first key below the start: the end of the
		// state's range, or the cursor's key whether or not it is still
		// filed there.
		start := []byte{byte(state) + 1}
		if after != nil {
			start = append([]byte{byte(state)}, after...)
		}
		k, v := c.Seek(start)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && len(k) == 9 && k[0] == byte(state); k, v = c.Prev() {
			if len(out) == limit {
				next = bytes.Clone(proposalIndexKey(state, mustSeq(out[len(out)-1].ID))[1:])
				return nil
			}
			p, err := readProposal(tx, string(v))
			if err != nil {
				return err
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, next, nil
}

// mustSeq is proposalSeq for an id read back from the store, which
// readProposal has already checked.
func mustSeq(id string) uint64 {
	seq, _ := proposalSeq(id)
	return seq
}

// ProposalCounts returns how many proposals are in each state, from the
// maintained counts: no proposal is read.
func (db *DB) ProposalCounts(ctx context.Context) (map[reserve.State]int, error) {
	out := make(map[reserve.State]int)
	err := db.view(ctx, "count proposals", func(tx *bolt.Tx) error {
		ib := tx.Bucket(bucketProposalIndex)
		for s := reserve.StatePendingApproval; s <= reserve.StateReplaced; s++ {
			if v := ib.Get([]byte{byte(s)}); len(v) == 8 {
				out[s] = int(binary.BigEndian.Uint64(v))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PageKey returns the secret the daemon authenticates page tokens with.
// Migration 8 creates it; it lives in the store so tokens survive a
// restart and a restore, and never leaves the process.
func (db *DB) PageKey(ctx context.Context) ([]byte, error) {
	var key []byte
	err := db.view(ctx, "read page token key", func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyPageKey)
		if len(v) != pageKeyLen {
			return corrupt("meta", keyPageKey, fmt.Errorf("page token key is %d bytes, want %d", len(v), pageKeyLen))
		}
		key = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// migrateReadsV8 creates the derived records of totals.go and builds them
// from every coin and proposal, once, and the page token key.
func migrateReadsV8(tx *bolt.Tx) error {
	if err := createBuckets(tx, bucketsV8); err != nil {
		return err
	}
	var t totals
	err := tx.Bucket(bucketUTXOs).ForEach(func(k, v []byte) error {
		u, err := decodeUTXO(v)
		if err != nil {
			return corrupt("utxo", k, err)
		}
		if err := account(tx, &t, &u, 1); err != nil {
			return err
		}
		return receive(tx, &u, 1)
	})
	if err != nil {
		return err
	}
	if err := writeTotals(tx, t); err != nil {
		return err
	}
	err = tx.Bucket(bucketProposals).ForEach(func(k, v []byte) error {
		p, err := decodeProposalAt(k, v)
		if err != nil {
			return err
		}
		return indexProposal(tx, p.ID, p.State)
	})
	if err != nil {
		return err
	}
	key := make([]byte, pageKeyLen)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("unable to make the page token key: %w", err)
	}
	return tx.Bucket(bucketMeta).Put(keyPageKey, key)
}
