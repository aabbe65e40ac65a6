package multisig

// A spend's PSBT carries every input's whole previous transaction
// (non_witness_utxo), so its size is set by the coins it spends, not by
// the transaction's weight: 900 inputs from large funding transactions
// make a PSBT of tens of megabytes. These sizes let coin selection keep
// the PSBT within MaxPSBTBytes, the one limit every transfer path (gRPC,
// files, the store) is sized from.

// psbtFieldLen is the length of one key-value pair whose key is keyLen
// bytes and value valLen bytes, with their compact-size lengths.
func psbtFieldLen(keyLen, valLen int64) int64 {
	return varIntLen(int(keyLen)) + keyLen + varIntLen(int(valLen)) + valLen
}

// InputPSBTBytes returns the most bytes one input adds to a spend's PSBT
// over its life, besides its previous transaction (PrevTxPSBTBytes): its
// outpoint in the unsigned transaction (41 bytes), witness_utxo,
// witness_script, every cosigner's BIP-32 derivation, the sighash type,
// the map's separator, and a partial signature of MaxSigLen from every
// cosigner, since signatures keep arriving after the threshold. A
// finalized input (empty dummy, m signatures, the witness script) is
// smaller than the signed one.
func (d *Descriptor) InputPSBTBytes() int64 {
	n := int64(len(d.cosigners))
	ws := multisigScriptLen(d.threshold, len(d.cosigners))
	size := int64(txInNonWitness) + 1 // the unsigned tx's input, the separator
	size += psbtFieldLen(1, 8+1+34)   // witness_utxo: amount, P2WSH script
	size += psbtFieldLen(1, ws)       // witness_script
	size += psbtFieldLen(1, 4)        // sighash type
	for _, c := range d.cosigners {
		// key: type and the 33-byte key; value: fingerprint and the
		// origin path with branch and index.
		size += psbtFieldLen(1+33, 4+4*int64(len(c.Path)+2))
	}
	return size + n*psbtFieldLen(1+33, MaxSigLen)
}

// PrevTxPSBTBytes returns the bytes an input's non_witness_utxo field
// takes for a previous transaction of size bytes (serialized with its
// witnesses, as the PSBT carries it). Every input carries its own copy,
// also when several spend outputs of one transaction.
func PrevTxPSBTBytes(size int64) int64 {
	return psbtFieldLen(1, size)
}
