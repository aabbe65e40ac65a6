package reserve_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

func TestParseNetwork(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want reserve.Network
		err  bool
	}{
		{name: "mainnet", in: "mainnet", want: reserve.Mainnet},
		{name: "bitcoind's main", in: "main", want: reserve.Mainnet},
		{name: "bitcoin", in: "bitcoin", want: reserve.Mainnet},
		{name: "testnet", in: "testnet", want: reserve.Testnet},
		{name: "bitcoind's test", in: "test", want: reserve.Testnet},
		{name: "btcd's testnet3", in: "testnet3", want: reserve.Testnet},
		{name: "signet", in: "signet", want: reserve.Signet},
		{name: "regtest", in: "regtest", want: reserve.Regtest},

		{name: "empty", in: "", err: true},
		{name: "capitalised", in: "Mainnet", err: true},
		{name: "padded", in: " regtest", err: true},
		{name: "testnet4 is not supported", in: "testnet4", err: true},
		{name: "btcd's simnet is not supported", in: "simnet", err: true},
		{name: "the zero value's name", in: "unspecified", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reserve.ParseNetwork(tt.in)
			if tt.err {
				require.ErrorContains(t, err, "unknown network")
				require.Equal(t, reserve.NetworkUnspecified, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			// The canonical name parses back to the same network.
			again, err := reserve.ParseNetwork(got.String())
			require.NoError(t, err)
			require.Equal(t, got, again)
		})
	}
}

func TestNetworkStringAndCoinType(t *testing.T) {
	tests := []struct {
		n        reserve.Network
		name     string
		coinType uint32
	}{
		{reserve.Mainnet, "mainnet", 0},
		{reserve.Testnet, "testnet", 1},
		{reserve.Signet, "signet", 1},
		{reserve.Regtest, "regtest", 1},
		{reserve.NetworkUnspecified, "unspecified", 1},
		{reserve.Network(9), "network(9)", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.name, tt.n.String())
			require.Equal(t, tt.coinType, tt.n.CoinType())
		})
	}
}
