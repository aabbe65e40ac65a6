// Package audit owns the reserve's transparency log: the canonical encoding
// of a leaf, the RFC 6962 Merkle tree over the leaves (golang.org/x/mod's
// sumdb/tlog), checkpoints in the C2SP tlog-checkpoint format signed as
// notes (sumdb/note, Ed25519) with the daemon's log key, inclusion and
// consistency proofs with their text formats, and the offline verifier of
// an export file.
//
// The package is shared by the side that appends and proves (custosd,
// through the store) and the sides that only check (custosctl audit verify,
// and the signers that will witness checkpoints). It holds no state and
// does no I/O beyond the readers and writers it is handed: the store keeps
// the leaves and the tree's stored hashes and gives them to this package
// through a tlog.HashReader. It never holds a secret other than the log
// key the caller passes to sign a checkpoint, and a leaf never carries one.
//
// docs/audit.md specifies every format with a test vector.
package audit
