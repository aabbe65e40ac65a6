// Package store persists the Custos reserve in one bbolt file: the wallet,
// its derived addresses and the index from script to address, the wallet's
// outputs and the transactions that made or spent them, the block hashes
// the chain follower processed, the spend proposals with the reservations
// of the outputs they spend, and the append-only audit log.
//
// The reservations bucket holds one key per outpoint, written in the same
// transaction as the proposal that takes it and deleted in the same
// transaction as the transition that ends the proposal's hold on its coins
// (any state for which reserve.State.HoldsCoins is false), so no crash can
// leave an output reserved twice or by a proposal that no longer holds it.
// A proposal that ends with its signatures collected
// (reserve.Proposal.MaySpend) keeps them: its transaction may still be
// broadcast. ReleaseSpent deletes them, with its own audit entry, once an
// input is spent by a transaction buried to the depth the caller gives.
// The store checks every proposal transition against the state machine of
// reserve.State; deciding when to make one (approvals, signatures, expiry,
// inputs spent by someone else) is the daemon's job.
//
// It owns the bucket layout (documented next to each bucket name in
// schema.go), the versioned binary encoding of every record (encoding.go),
// the ordered schema migrations that Open runs, the file lock that keeps a
// second daemon off the same data dir, and online backups.
//
// Every state change is one bbolt transaction that reads, checks, writes
// and appends its audit entry, so a crash leaves either all of it or none.
// Every error is a *reserve.Error: NotFound, Conflict, Invalid and
// FailedPrecondition describe the caller's request; Internal means a broken
// file or a bug, with the cause kept for the log.
//
// It refuses to know about the daemon, gRPC or protobuf: DB satisfies the
// daemon's Store interface structurally and is wired in by cmd/custosd. It
// does no Bitcoin work beyond serializing transactions: it never derives
// addresses, parses descriptors or talks to a node, and it trusts its
// callers for what the chain says while still refusing records it could not
// account for (a credit to a script that is not a wallet address).
package store
