package multisig

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/txscript"

	"github.com/custos-reserve/custos/reserve"
)

// Derived is one script of the wallet, at one branch and index.
type Derived struct {
	Branch reserve.Branch
	Index  uint32
	// WitnessScript is OP_M <keys sorted by their bytes> OP_N
	// OP_CHECKMULTISIG (BIP-67 order, as sortedmulti defines it).
	WitnessScript []byte
	// PkScript is the output script, OP_0 <SHA-256(WitnessScript)>.
	PkScript []byte
	// Address is PkScript as a bech32 P2WSH address of the network.
	Address string
	// PubKeys are the cosigners' compressed child keys in descriptor order
	// (not sorted), so PubKeys[i] belongs to Cosigners()[i] and a PSBT can
	// record each one's derivation path.
	PubKeys [][]byte
}

// Derive returns the wallet's script at branch b and index. index must be
// below 2^31 (wallet addresses are unhardened); b must be BranchReceive or
// BranchChange. It derives one public child key per cosigner and is safe
// to call from many goroutines at once.
func (d *Descriptor) Derive(b reserve.Branch, index uint32) (Derived, error) {
	if b != reserve.BranchReceive && b != reserve.BranchChange {
		return Derived{}, reserve.Invalid("branch", "unknown branch %d (want 0 receive or 1 change)", b)
	}
	if index >= hardened {
		return Derived{}, reserve.Invalid("index", "index %d is not below 2^31", index)
	}
	keys := make([][]byte, len(d.branches[b]))
	for i, branchKey := range d.branches[b] {
		child, err := branchKey.Derive(index)
		if err != nil {
			// Only ErrInvalidChild, with odds below 2^-127; wallets
			// that meet it cannot use this index.
			return Derived{}, reserve.Invalid("index", "unable to derive cosigner[%d]'s %s key %d: %w", i, b, index, err)
		}
		pub, err := child.ECPubKey()
		if err != nil {
			return Derived{}, fmt.Errorf("unable to read cosigner[%d]'s %s key %d: %w", i, b, index, err)
		}
		keys[i] = pub.SerializeCompressed()
	}
	witnessScript, err := sortedMultiScript(d.threshold, keys)
	if err != nil {
		return Derived{}, err
	}
	hash := sha256.Sum256(witnessScript)
	addr, err := btcutil.NewAddressWitnessScriptHash(hash[:], d.params)
	if err != nil {
		return Derived{}, fmt.Errorf("unable to make the %s address %d: %w", b, index, err)
	}
	return Derived{
		Branch:        b,
		Index:         index,
		WitnessScript: witnessScript,
		PkScript:      append([]byte{txscript.OP_0, txscript.OP_DATA_32}, hash[:]...),
		Address:       addr.EncodeAddress(),
		PubKeys:       keys,
	}, nil
}

// sortedMultiScript returns OP_m <keys in lexicographic byte order> OP_n
// OP_CHECKMULTISIG, as BIP-383 sortedmulti and BIP-67 define it. keys is
// not reordered; the script holds sorted copies of the slice headers.
func sortedMultiScript(m int, keys [][]byte) ([]byte, error) {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, bytes.Compare)
	sb := txscript.NewScriptBuilder().AddInt64(int64(m))
	for _, k := range sorted {
		sb.AddData(k)
	}
	script, err := sb.AddInt64(int64(len(keys))).AddOp(txscript.OP_CHECKMULTISIG).Script()
	if err != nil {
		return nil, fmt.Errorf("unable to build the %d-of-%d witness script: %w", m, len(keys), err)
	}
	return script, nil
}
