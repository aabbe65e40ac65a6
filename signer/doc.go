// Package signer is one ministry's side of the reserve: its cosigner key,
// encrypted at rest in the signer's data directory, and the wallet
// descriptor it pinned at setup after checking that its own key is in it.
//
// The key is one BIP-39 mnemonic (empty BIP-39 passphrase, so a hardware
// wallet restored from the same words derives the same key) whose BIP-48
// P2WSH account key m/48'/coin'/account'/2' is the ministry's cosigner key.
// The seed is kept in signer.key, sealed with XChaCha20-Poly1305 under a
// key stretched from the operator's passphrase with argon2id; the file's
// public header (network, account, KDF parameters, salt, key record) is
// authenticated, so editing any of it makes unlocking fail.
//
// The package trusts nothing a coordinator says: a descriptor is pinned
// only if this signer's own extended public key is in it by exact match of
// public key and chain code, with its own origin, never by fingerprint
// (BIP-129). Sign checks a PSBT against that pinned descriptor alone —
// inputs, change and fee recomputed by multisig.Analyze, global xpubs held
// to the pinned keys, the fee within this signer's own ceilings — and signs
// all inputs or none. It never imports the daemon, the store or gRPC, and
// never logs or prints a secret; the only secret it hands back is the
// mnemonic of a newly created key, which the caller shows once for the
// offline backup.
//
// Nor does it sign what the treasury officers did not approve. The
// operator pins the spending policy (policy.yaml, docs/policy.md) next to
// the descriptor, and every PSBT must carry an intent and the officers'
// Ed25519 approvals of it (docs/approvals.md): its payees exactly the
// transaction's, its fee cap over the fee, not expired, approved by
// enough officers of the pinned policy for the amount, within the
// policy's fee and velocity caps.
//
// The velocity caps, and the rule that one intent is paid once, are
// counted from the signer's own ledger (ledger.jsonl): one line per
// transaction signed, written and synced before the signed PSBT is handed
// out. A second transaction for an intent is signed only if it spends an
// input of every one signed for it before (a BIP-125 fee bump, of which
// at most one confirms). So a compromised coordinator cannot have the
// signers pay an approved intent twice, or split a large payment to slip
// under the caps: the signers do not take its word for what was paid.
//
// Nor can whoever writes the signer's data directory without its key
// reset that memory (docs/signer.md). Each ledger line names the hash of
// the one before, and the state record (signer.state) binds the ledger's
// count and head, the pinned descriptor and policy and the policy's
// number, and the highest wallet indexes seen, under a MAC keyed from the
// signer's private key. A missing, cut-short or altered file stops signing
// with ErrStateBroken naming it and the recovery (ledger import); a
// damaged ledger line is never skipped. A whole older copy of the
// directory (record and ledger together) authenticates and cannot be told
// from the current one by the signer alone: the ministry compares the
// ledger head Sign seals (Ledger.Head), written down off the machine, at
// its next session (docs/signer.md). The record is created by Register
// for a new signer only, and every command that reads and then writes it
// holds the data directory's lock (LockDir). An input or change output
// more than IndexWindow past the highest index seen on its branch is
// refused, so nothing derived or stored grows with an index a PSBT
// claims.
package signer
