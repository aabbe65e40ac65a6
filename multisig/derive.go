package multisig

import (
	"bytes"
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
// BranchChange. It derives one public child key per cosigner the first
// time it is asked for an address and remembers them; it is safe to call
// from many goroutines at once. The result is the caller's to modify.
func (d *Descriptor) Derive(b reserve.Branch, index uint32) (Derived, error) {
	if b != reserve.BranchReceive && b != reserve.BranchChange {
		return Derived{}, reserve.Invalid("branch", "unknown branch %d (want 0 receive or 1 change)", b)
	}
	if index >= hardened {
		return Derived{}, reserve.Invalid("index", "index %d is not below 2^31", index)
	}
	s, err := d.kr.derive(keyPath{b, index})
	if err != nil {
		// Only BIP-32's invalid child, with odds below 2^-127; wallets
		// that meet it cannot use this index.
		return Derived{}, reserve.Invalid("index", "unable to derive the %s address %d: %w", b, index, err)
	}
	addr, err := btcutil.NewAddressWitnessScriptHash(s.pkScript[2:], d.params)
	if err != nil {
		return Derived{}, fmt.Errorf("unable to make the %s address %d: %w", b, index, err)
	}
	keys := make([][]byte, len(s.keys))
	for c, k := range s.keys {
		keys[c] = slices.Clone(k)
	}
	return Derived{
		Branch:        b,
		Index:         index,
		WitnessScript: slices.Clone(s.witnessScript),
		PkScript:      slices.Clone(s.pkScript),
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
