// Package proof owns the public side of a proof of reserves: the proof
// file (proof.json) that custosctl reserves finalize writes and anyone may
// read, the check that every proven coin existed and was unspent at the
// proof's height on a node's chain, and the human-readable report.
//
// It needs no Custos state and no keys. The chain is reached through the
// small Chain interface (JSON-RPC to btcd or bitcoind in RPC), so the
// verifier runs against any node without the daemon. The PSBT shape and
// the script checks are multisig's (VerifyProof); this package refuses to
// re-implement them.
//
// What a proof shows of the wallet depends on the descriptor. A file that
// publishes it lists, per coin, its derivation ("derivations": [{"branch":
// 0, "index": 5}, …], one per input after input 0, present exactly when
// "descriptor" is); the verifier re-derives every input's witness script
// from the descriptor (input 0: receive address 0, the challenge) and
// requires the final witness to end with it, then tells from the
// signatures which cosigners' keys signed and requires "signers" to be
// exactly those (WitnessSigners gives the writer that list). A file that
// withholds the descriptor proves that keys able to spend the coins signed
// the message: the coins' ownership rests on the signatures alone, and its
// signers are the coordinator's word; the report says so.
package proof
