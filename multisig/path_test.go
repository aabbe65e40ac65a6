package multisig

import (
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

func TestNetParams(t *testing.T) {
	tests := []struct {
		name string
		net  reserve.Network
		want *chaincfg.Params
	}{
		{name: "mainnet", net: reserve.Mainnet, want: &chaincfg.MainNetParams},
		{name: "testnet", net: reserve.Testnet, want: &chaincfg.TestNet3Params},
		{name: "signet", net: reserve.Signet, want: &chaincfg.SigNetParams},
		{name: "regtest", net: reserve.Regtest, want: &chaincfg.RegressionNetParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NetParams(tt.net)
			require.NoError(t, err)
			require.Same(t, tt.want, got)
		})
	}
	for _, bad := range []reserve.Network{reserve.NetworkUnspecified, 9} {
		_, err := NetParams(bad)
		RequireInvalid(t, err, "network", "network")
	}
}

func TestBIP48Path(t *testing.T) {
	require.Equal(t, "48'/0'/0'/2'", FormatPath(BIP48Path(reserve.Mainnet, 0)))
	require.Equal(t, "48'/1'/7'/2'", FormatPath(BIP48Path(reserve.Testnet, 7)))
	require.Equal(t, "48'/1'/0'/2'", FormatPath(BIP48Path(reserve.Signet, 0)))
	require.Equal(t, "48'/1'/3'/2'", FormatPath(BIP48Path(reserve.Regtest, 3)))
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []uint32
		// text is FormatPath's output; "" means in itself.
		text string
	}{
		{name: "empty is the master", in: "", want: nil},
		{name: "m is the master", in: "m", want: nil, text: ""},
		{name: "BIP-48 with apostrophes", in: "48'/1'/0'/2'", want: []uint32{h(48), h(1), h(0), h(2)}},
		{name: "leading m/", in: "m/48'/1'/0'/2'", want: []uint32{h(48), h(1), h(0), h(2)}, text: "48'/1'/0'/2'"},
		{name: "h marker", in: "48h/1h/0h/2h", want: []uint32{h(48), h(1), h(0), h(2)}, text: "48'/1'/0'/2'"},
		{name: "H marker", in: "48H/1H/0H/2H", want: []uint32{h(48), h(1), h(0), h(2)}, text: "48'/1'/0'/2'"},
		{name: "mixed markers and plain steps", in: "0'/1/2h/2/1000000000", want: []uint32{h(0), 1, h(2), 2, 1000000000}, text: "0'/1/2'/2/1000000000"},
		{name: "largest index", in: "2147483647'/2147483647", want: []uint32{h(2147483647), 2147483647}},
		{name: "leading zeros", in: "007'", want: []uint32{h(7)}, text: "7'"},
		{name: "255 steps", in: strings.Repeat("1/", 254) + "1", want: repeatStep(1, 255)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePath(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			text := tt.text
			if text == "" && tt.in != "m" {
				text = tt.in
			}
			require.Equal(t, text, FormatPath(got))
		})
	}
}

func repeatStep(v uint32, n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestParsePathErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		msg  string
	}{
		{name: "empty step", in: "48'//2'", msg: "step 2: empty step"},
		{name: "trailing slash", in: "48'/1'/", msg: "step 3: empty step"},
		{name: "leading slash", in: "/48'", msg: "step 1: empty step"},
		{name: "m/ alone", in: "m/", msg: "ends with"},
		{name: "index 2^31", in: "2147483648", msg: "not below 2^31"},
		{name: "hardened index 2^31", in: "2147483648'", msg: "not below 2^31"},
		{name: "huge index", in: "99999999999999999999", msg: "not below 2^31"},
		{name: "negative", in: "-1", msg: "not a decimal index"},
		{name: "plus sign", in: "+1", msg: "not a decimal index"},
		{name: "hex", in: "0x10", msg: "not a decimal index"},
		{name: "double marker", in: "48''", msg: "not a decimal index"},
		{name: "marker alone", in: "'", msg: "not a decimal index"},
		{name: "other marker", in: "0f", msg: "not a decimal index"},
		{name: "space", in: "48' /1'", msg: "not a decimal index"},
		{name: "wildcard", in: "0/*", msg: "not a decimal index"},
		{name: "256 steps", in: strings.Repeat("1/", 255) + "1", msg: "more than 255 steps"},
		{name: "m inside", in: "48'/m/1", msg: "not a decimal index"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePath(tt.in)
			RequireInvalid(t, err, "path", tt.msg)
		})
	}
}
