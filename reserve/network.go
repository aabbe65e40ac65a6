package reserve

import "fmt"

// Network is the Bitcoin network a reserve lives on. The numbers are
// persisted: never reorder or reuse them.
type Network uint8

const (
	// NetworkUnspecified is the zero value and never valid.
	NetworkUnspecified Network = 0
	// Mainnet is Bitcoin's main network.
	Mainnet Network = 1
	// Testnet is testnet3.
	Testnet Network = 2
	// Signet is the default signet.
	Signet Network = 3
	// Regtest is a local regression-test chain.
	Regtest Network = 4
)

// String returns the name used on the command line ("regtest").
func (n Network) String() string {
	switch n {
	case Mainnet:
		return "mainnet"
	case Testnet:
		return "testnet"
	case Signet:
		return "signet"
	case Regtest:
		return "regtest"
	case NetworkUnspecified:
		return "unspecified"
	}
	return fmt.Sprintf("network(%d)", uint8(n))
}

// ParseNetwork reads a network name as the command line writes it. It also
// accepts the aliases Bitcoin Core and btcd use ("main", "test", "testnet3").
func ParseNetwork(s string) (Network, error) {
	switch s {
	case "mainnet", "main", "bitcoin":
		return Mainnet, nil
	case "testnet", "test", "testnet3":
		return Testnet, nil
	case "signet":
		return Signet, nil
	case "regtest":
		return Regtest, nil
	}
	return NetworkUnspecified, fmt.Errorf("unknown network %q (want mainnet, testnet, signet or regtest)", s)
}

// CoinType is the BIP-44 coin type that BIP-48 paths use on this network:
// 0' on mainnet, 1' on every test network.
func (n Network) CoinType() uint32 {
	if n == Mainnet {
		return 0
	}
	return 1
}
