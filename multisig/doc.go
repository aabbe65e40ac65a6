// Package multisig owns the Bitcoin side of the reserve wallet: BIP-32 key
// derivation along BIP-48 paths, key records ("[fingerprint/path]xpub"),
// the wallet's output descriptor wsh(sortedmulti(m, K1/<0;1>/*, …)) with its
// BIP-380 checksum, and the scripts and addresses derived from it; exact
// transaction sizes and coin selection; and the BIP-174 roles over PSBTs of
// that wallet, in files named by role: psbt_create (Creator and Updater),
// psbt_check (the verification both sides run before trusting a PSBT),
// psbt_sign (Signer), psbt_combine (the coordinator's verifying Combiner),
// psbt_finalize (Finalizer and Extractor) and psbt_parse (strict parsing);
// and proof, the BIP-322 proof of reserves over the same PSBTs (build,
// check, sign, finalize, and verify with no descriptor and no keys).
// The daemon uses it to watch and build, the signers to check; both
// recompute the same scripts from the same descriptor, so neither needs to
// trust the other's word.
//
// It is pure computation: no I/O, no clock, no randomness, no global state.
// A Descriptor is immutable once built and safe for concurrent use.
//
// It refuses, with a *reserve.Error of code CodeInvalid that names the
// problem, anything outside that one wallet shape: other script types,
// private keys where a public key belongs, keys or BIP-48 paths of another
// network, SLIP-132 key encodings (ypub, Zpub, Vpub …), key origins that
// disagree with the key they describe, duplicate cosigners, and descriptors
// with a wrong checksum. It never puts a private key into an error message.
package multisig
