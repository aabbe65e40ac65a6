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
package signer
