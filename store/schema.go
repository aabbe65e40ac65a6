package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// The buckets. All are top-level and created by a migration (the first
// eight by migration 1, proposals and reservations by migration 2); none is
// ever deleted, so code running inside a transaction may rely on tx.Bucket
// returning non-nil once Open has checked them.
var (
	// path: meta -> [name]
	// maps: schema_version -> uint32 BE; network -> 1 byte reserve.Network;
	// sync_height -> int32 BE and sync_hash -> 32 bytes (chainhash internal
	// order), both absent before the first block.
	bucketMeta = []byte("meta")

	// path: wallet -> ["reserve"]
	// maps: the one reserve wallet -> wallet record (encodeWallet).
	bucketWallet = []byte("wallet")

	// path: addresses -> [branch(1) || index(4 BE)]
	// maps: every derived address, issued or lookahead -> address record
	// (encodeAddress). Keys sort by branch, then index.
	bucketAddresses = []byte("addresses")

	// path: scripts -> [pkScript]
	// maps: output script -> branch(1) || index(4 BE), the key of its
	// address in the addresses bucket.
	bucketScripts = []byte("scripts")

	// path: utxos -> [txid(32, chainhash internal order) || vout(4 BE)]
	// maps: wallet output, spent or not -> UTXO record (encodeUTXO). UTXOs
	// lists them in this key order.
	bucketUTXOs = []byte("utxos")

	// path: txs -> [txid(32, chainhash internal order)]
	// maps: wallet-relevant transaction -> wire serialization with witness.
	bucketTxs = []byte("txs")

	// path: blocks -> [height(4 BE)]
	// maps: processed block height -> block hash (32 bytes).
	bucketBlocks = []byte("blocks")

	// path: audit -> [sequence(8 BE), from Bucket.NextSequence]
	// maps: audit entry -> audit record (encodeAudit). Append-only.
	bucketAudit = []byte("audit")

	// path: proposals -> [id, "P" || decimal sequence zero-padded to 6
	// digits, from Bucket.NextSequence]
	// maps: spend proposal, live or ended -> proposal record
	// (encodeProposal). Past P999999 the ids grow a digit, so byte order
	// is not creation order: Proposals sorts by (length, id).
	bucketProposals = []byte("proposals")

	// path: reservations -> [txid(32, chainhash internal order) || vout(4 BE)]
	// maps: wallet output held by a live proposal -> that proposal's id.
	// One key per outpoint is what keeps an output from being reserved
	// twice; entries go when the proposal reaches a state that does not
	// hold coins (reserve.State.HoldsCoins).
	bucketReservations = []byte("reservations")

	// path: governance -> ["state"]
	// maps: the reserve's governance (policy in force, a proposed change
	// and its approvals, the freeze) -> governance record
	// (encodeGovernance).
	bucketGovernance = []byte("governance")

	// path: policies -> [sequence(8 BE), 1 for the first policy]
	// maps: every policy that has been in force -> policy record
	// (encodePolicyRecord). Append-only: the history auditors read.
	bucketPolicies = []byte("policies")

	// path: identities -> [certificate serial, lower-case hex]
	// maps: every client certificate issued over the API or seen for the
	// first time -> identity record (encodeIdentity). Never deleted: a
	// revoked serial stays revoked.
	bucketIdentities = []byte("identities")
)

// bucketsV1 are the buckets migration 1 creates. Frozen: migration 1 has
// shipped, so this list never changes.
var bucketsV1 = [][]byte{
	bucketMeta, bucketWallet, bucketAddresses, bucketScripts,
	bucketUTXOs, bucketTxs, bucketBlocks, bucketAudit,
}

// bucketsV2 are the buckets migration 2 creates. Frozen once shipped.
var bucketsV2 = [][]byte{bucketProposals, bucketReservations}

// bucketsV3 are the buckets migration 3 creates. Frozen once shipped.
var bucketsV3 = [][]byte{bucketGovernance, bucketPolicies}

// bucketsV5 are the buckets migration 5 creates. Frozen once shipped.
var bucketsV5 = [][]byte{bucketIdentities}

// bucketsV6 are the buckets migration 6 creates (witness.go). Frozen once
// shipped.
var bucketsV6 = [][]byte{bucketWitnesses}

// allBuckets is what Open checks exists after the migrations ran: every
// bucket any migration creates.
var allBuckets = slices.Concat(bucketsV1, bucketsV2, bucketsV3, bucketsV4, bucketsV5, bucketsV6, bucketsV7, bucketsV8, bucketsV9, bucketsV10)

// Keys of the meta bucket.
var (
	keySchemaVersion = []byte("schema_version")
	keyNetwork       = []byte("network")
	keySyncHeight    = []byte("sync_height")
	keySyncHash      = []byte("sync_hash")
)

// keyGovernance is the only key of the governance bucket.
var keyGovernance = []byte("state")

// keyWallet is the only key of the wallet bucket.
var keyWallet = []byte("reserve")

// migration moves a store from version-1 to version. Migrations run in
// order, all inside the one Update that Open runs, so a crash leaves the
// store at its old version.
type migration struct {
	version uint32
	name    string
	apply   func(tx *bolt.Tx) error
}

// migrations is the ordered list of schema changes. Append only: never edit,
// reorder or remove an entry once it has shipped.
var migrations = []migration{
	{version: 1, name: "initial buckets", apply: func(tx *bolt.Tx) error {
		return createBuckets(tx, bucketsV1)
	}},
	{version: 2, name: "proposals and reservations", apply: func(tx *bolt.Tx) error {
		return createBuckets(tx, bucketsV2)
	}},
	{version: 3, name: "governance, policies, proposal approvals", apply: func(tx *bolt.Tx) error {
		if err := createBuckets(tx, bucketsV3); err != nil {
			return err
		}
		return rewriteProposalsV1(tx)
	}},
	{version: 4, name: "audit log as a transparency log", apply: migrateAuditV4},
	{version: 5, name: "identities", apply: func(tx *bolt.Tx) error {
		return createBuckets(tx, bucketsV5)
	}},
	{version: 6, name: "audit log witnesses", apply: func(tx *bolt.Tx) error {
		return createBuckets(tx, bucketsV6)
	}},
	{version: 7, name: "proofs of reserves", apply: func(tx *bolt.Tx) error {
		return createBuckets(tx, bucketsV7)
	}},
	{version: 8, name: "balance totals, listing indexes, page token key", apply: migrateReadsV8},
	{version: 9, name: "proposal links by payment and payee", apply: migrateLinksV9},
	{version: 10, name: "signer refusals by proposal", apply: migrateRefusalsV10},
}

// rewriteProposalsV1 rewrites every version 1 proposal record as the
// current version, with an empty approval section.
func rewriteProposalsV1(tx *bolt.Tx) error {
	b := tx.Bucket(bucketProposals)
	var keys, values [][]byte
	err := b.ForEach(func(k, v []byte) error {
		p, err := decodeProposalVersion(v, 1)
		if err != nil {
			return corrupt("proposal", k, err)
		}
		nv, err := encodeProposal(&p)
		if err != nil {
			return fmt.Errorf("unable to rewrite proposal %s: %w", k, err)
		}
		// k is bbolt's memory, valid only during the walk: copy it.
		keys, values = append(keys, bytes.Clone(k)), append(values, nv)
		return nil
	})
	if err != nil {
		return err
	}
	// Written after the walk: bbolt forbids changing a bucket while its
	// ForEach runs.
	for i, k := range keys {
		if err := b.Put(k, values[i]); err != nil {
			return fmt.Errorf("unable to write proposal %s: %w", k, err)
		}
	}
	return nil
}

func createBuckets(tx *bolt.Tx, names [][]byte) error {
	for _, name := range names {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("unable to create bucket %s: %w", name, err)
		}
	}
	return nil
}

// schemaVersion is the version this code writes: that of the last migration.
func schemaVersion() uint32 { return migrations[len(migrations)-1].version }

func addressKey(branch reserve.Branch, index uint32) []byte {
	k := make([]byte, 5)
	k[0] = byte(branch)
	binary.BigEndian.PutUint32(k[1:], index)
	return k
}

func utxoKey(op wire.OutPoint) []byte {
	k := make([]byte, chainhash.HashSize+4)
	copy(k, op.Hash[:])
	binary.BigEndian.PutUint32(k[chainhash.HashSize:], op.Index)
	return k
}

// heightKey encodes a block height. Heights are never negative in the
// blocks bucket (ApplyBlock refuses them), so big-endian order is height
// order.
func heightKey(h int32) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(h))
}
