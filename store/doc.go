// Package store persists the Custos reserve in one bbolt file: the wallet,
// its derived addresses and the index from script to address, the wallet's
// outputs and the transactions that made or spent them, the block hashes
// the chain follower processed, and the append-only audit log.
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
