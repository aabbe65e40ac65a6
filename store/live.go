package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// The reads of the daemon's background work (reconcile) and of the link
// rules of a new proposal (supersede, repeat): each costs what the live
// proposals, the proposals of one payment or the payments to a few payees
// cost, never the whole history.

var (
	// path: proposal_links -> ['i' || intent proposal seq(8 BE) || seq(8 BE)]
	// and ['p' || sha256(payee script)(32) || seq(8 BE)]
	// maps: a proposal whose intent carries out the payment first proposed
	// as the intent's ProposalID ('i'), or pays the script ('p') -> the
	// proposal's id. Written with the proposal by CreateProposal (an
	// intent never changes after), built for older stores by migration 9.
	bucketProposalLinks = []byte("proposal_links")
)

// bucketsV9 are the buckets migration 9 creates. Frozen once shipped.
var bucketsV9 = [][]byte{bucketProposalLinks}

const (
	linkIntent = 'i'
	linkPayee  = 'p'
)

// liveStates are the states whose proposals reconcile visits every pass.
var liveStates = []reserve.State{
	reserve.StatePendingApproval, reserve.StateApproved, reserve.StateSigning,
	reserve.StateFinalized, reserve.StateBroadcast,
}

func intentLinkPrefix(intentID string) ([]byte, error) {
	seq, err := proposalSeq(intentID)
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint64([]byte{linkIntent}, seq), nil
}

func payeeLinkPrefix(script []byte) []byte {
	h := sha256.Sum256(script)
	return append([]byte{linkPayee}, h[:]...)
}

// linkProposal files p under its intent's payment and under each script
// its intent pays. A proposal without an intent is filed nowhere: it has
// no payment to link.
func linkProposal(tx *bolt.Tx, p *reserve.Proposal) error {
	if p.Intent == nil {
		return nil
	}
	seq, err := proposalSeq(p.ID)
	if err != nil {
		return corrupt("proposal", []byte(p.ID), err)
	}
	prefix, err := intentLinkPrefix(p.Intent.ProposalID)
	if err != nil {
		return corrupt("proposal", []byte(p.ID), fmt.Errorf("intent: %w", err))
	}
	keys := [][]byte{binary.BigEndian.AppendUint64(prefix, seq)}
	for _, py := range p.Intent.Payees {
		keys = append(keys, binary.BigEndian.AppendUint64(payeeLinkPrefix(py.Script), seq))
	}
	b := tx.Bucket(bucketProposalLinks)
	for _, k := range keys {
		if err := b.Put(k, []byte(p.ID)); err != nil {
			return fmt.Errorf("unable to link proposal %s: %w", p.ID, err)
		}
	}
	return nil
}

// migrateLinksV9 creates the proposal links and files every proposal.
func migrateLinksV9(tx *bolt.Tx) error {
	if err := createBuckets(tx, bucketsV9); err != nil {
		return err
	}
	return tx.Bucket(bucketProposals).ForEach(func(k, v []byte) error {
		p, err := decodeProposalAt(k, v)
		if err != nil {
			return err
		}
		return linkProposal(tx, &p)
	})
}

// linked reads the proposals filed under each prefix, once each, in
// creation order.
func linked(tx *bolt.Tx, prefixes [][]byte) ([]reserve.Proposal, error) {
	seen := map[string]bool{}
	var out []reserve.Proposal
	c := tx.Bucket(bucketProposalLinks).Cursor()
	for _, prefix := range prefixes {
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			id := string(v)
			if seen[id] {
				continue
			}
			seen[id] = true
			p, err := readProposal(tx, id)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
	}
	sortBySeq(out)
	return out, nil
}

func sortBySeq(ps []reserve.Proposal) {
	slices.SortFunc(ps, func(a, b reserve.Proposal) int {
		sa, sb := mustSeq(a.ID), mustSeq(b.ID)
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
}

// PaymentProposals returns, in creation order, every proposal whose
// intent carries out one of the payments first proposed as ids (the
// original and its fee bumps and replacements that carry its id). An id
// that names no proposal finds none. The read costs those proposals.
func (db *DB) PaymentProposals(ctx context.Context, ids []string) ([]reserve.Proposal, error) {
	prefixes := make([][]byte, 0, len(ids))
	for i, id := range ids {
		p, err := intentLinkPrefix(id)
		if err != nil {
			return nil, reserve.Invalid(fmt.Sprintf("ids[%d]", i), "%v", err)
		}
		prefixes = append(prefixes, p)
	}
	var out []reserve.Proposal
	err := db.view(ctx, "list the proposals of a payment", func(tx *bolt.Tx) error {
		var err error
		out, err = linked(tx, prefixes)
		return err
	})
	return out, err
}

// PayeeProposals returns, in creation order, every proposal whose intent
// pays one of scripts. The read costs those proposals.
func (db *DB) PayeeProposals(ctx context.Context, scripts [][]byte) ([]reserve.Proposal, error) {
	prefixes := make([][]byte, 0, len(scripts))
	for _, s := range scripts {
		prefixes = append(prefixes, payeeLinkPrefix(s))
	}
	var out []reserve.Proposal
	err := db.view(ctx, "list the proposals paying a payee", func(tx *bolt.Tx) error {
		var err error
		out, err = linked(tx, prefixes)
		return err
	})
	return out, err
}

// filed reads the proposals the state index files under state.
func filed(tx *bolt.Tx, state reserve.State, out []reserve.Proposal, seen map[string]bool) ([]reserve.Proposal, error) {
	prefix := []byte{byte(state)}
	c := tx.Bucket(bucketProposalIndex).Cursor()
	for k, v := c.Seek(prefix); k != nil && k[0] == byte(state); k, v = c.Next() {
		if len(k) != 9 {
			// The state's count (key: the state byte alone) sorts first.
			continue
		}
		id := string(v)
		if seen[id] {
			continue
		}
		seen[id] = true
		p, err := readProposal(tx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// LiveProposals returns, in creation order and in one read, the proposals
// the daemon must keep in line with the chain: those in a state before
// CONFIRMED, those of the states in also (CONFIRMED after a reorganisation,
// say), and every other proposal that holds a reservation (an ended one
// whose signed transaction may still confirm), with the reservations. The
// proposals read are the live ones, not the history; the reservations
// walked still include the CONFIRMED proposals' (never released).
func (db *DB) LiveProposals(ctx context.Context, also ...reserve.State) ([]reserve.Proposal, map[wire.OutPoint]string, error) {
	for i, s := range also {
		if !knownState(s) {
			return nil, nil, reserve.Invalid(fmt.Sprintf("also[%d]", i), "unknown proposal state %d", s)
		}
	}
	var out []reserve.Proposal
	res := make(map[wire.OutPoint]string)
	err := db.view(ctx, "list live proposals", func(tx *bolt.Tx) error {
		seen := map[string]bool{}
		var err error
		for _, s := range slices.Concat(liveStates, also) {
			if out, err = filed(tx, s, out, seen); err != nil {
				return err
			}
		}
		ib := tx.Bucket(bucketProposalIndex)
		err = tx.Bucket(bucketReservations).ForEach(func(k, v []byte) error {
			if len(k) != chainhash.HashSize+4 {
				return corrupt("reservation", k, fmt.Errorf("key is %d bytes, want %d", len(k), chainhash.HashSize+4))
			}
			var op wire.OutPoint
			copy(op.Hash[:], k)
			op.Index = binary.BigEndian.Uint32(k[chainhash.HashSize:])
			res[op] = string(v)
			if seen[string(v)] {
				return nil
			}
			// A CONFIRMED proposal keeps its reservations (its state
			// holds coins): it is read only when also asks for it.
			if seq, err := proposalSeq(string(v)); err == nil && ib.Get(proposalIndexKey(reserve.StateConfirmed, seq)) != nil {
				return nil
			}
			seen[string(v)] = true
			p, err := readProposal(tx, string(v))
			if err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	sortBySeq(out)
	return out, res, nil
}

// Coins returns the wallet's records of the outpoints asked that it has,
// spent or not, by point lookups: an outpoint it never recorded is absent.
func (db *DB) Coins(ctx context.Context, ops []wire.OutPoint) (map[wire.OutPoint]reserve.UTXO, error) {
	out := make(map[wire.OutPoint]reserve.UTXO, len(ops))
	err := db.view(ctx, "read coins", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUTXOs)
		for _, op := range ops {
			k := utxoKey(op)
			v := b.Get(k)
			if v == nil {
				continue
			}
			u, err := decodeUTXO(v)
			if err != nil {
				return corrupt("utxo", k, err)
			}
			if u.OutPoint != op {
				return corrupt("utxo", k, fmt.Errorf("record is for outpoint %s", u.OutPoint))
			}
			out[op] = u
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Holders returns, by point lookups, the proposal holding each of ops
// that is reserved: an outpoint no proposal holds is absent.
func (db *DB) Holders(ctx context.Context, ops []wire.OutPoint) (map[wire.OutPoint]string, error) {
	out := make(map[wire.OutPoint]string)
	err := db.view(ctx, "read reservations", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReservations)
		for _, op := range ops {
			if v := b.Get(utxoKey(op)); v != nil {
				out[op] = string(v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
