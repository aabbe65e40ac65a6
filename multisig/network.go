package multisig

import (
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"

	"github.com/custos-reserve/custos/reserve"
)

// hardened is the bit a BIP-32 path step carries when the step is hardened.
const hardened = hdkeychain.HardenedKeyStart

// bip48Purpose and bip48ScriptP2WSH are the first and fourth steps of a
// BIP-48 path for a native segwit (P2WSH) multisig account.
const (
	bip48Purpose     = 48 | hardened
	bip48ScriptP2WSH = 2 | hardened
)

// NetParams maps a reserve network to btcd's chain parameters: mainnet,
// testnet3, the default signet and regtest. It refuses NetworkUnspecified
// and unknown values. The returned parameters are btcd's shared package
// variables: callers must treat them as read-only.
func NetParams(n reserve.Network) (*chaincfg.Params, error) {
	switch n {
	case reserve.Mainnet:
		return &chaincfg.MainNetParams, nil
	case reserve.Testnet:
		return &chaincfg.TestNet3Params, nil
	case reserve.Signet:
		return &chaincfg.SigNetParams, nil
	case reserve.Regtest:
		return &chaincfg.RegressionNetParams, nil
	case reserve.NetworkUnspecified:
		return nil, reserve.Invalid("network", "network is not specified")
	}
	return nil, reserve.Invalid("network", "unknown network %s", n)
}

// BIP48Path returns the BIP-48 path of a P2WSH multisig account,
// m/48'/coin'/account'/2', where coin is 0' on mainnet and 1' on every test
// network. account must be below 2^31; the hardened bit is set here.
// DeriveAccount refuses larger accounts; this function only builds the path.
func BIP48Path(n reserve.Network, account uint32) []uint32 {
	return []uint32{bip48Purpose, n.CoinType() | hardened, account | hardened, bip48ScriptP2WSH}
}
