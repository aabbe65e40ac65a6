package multisig

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/mempool"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// TestDustThresholdIsBtcds: DustThreshold restates btcd's mempool rule
// (which btcwallet's txrules.IsDustOutput calls) rather than importing it
// into the signer's binary; at the default minimum relay fee both call the
// same amounts dust, for every output type a reserve pays.
func TestDustThresholdIsBtcds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []byte
	}{
		{"P2WSH", fakeP2WSH("dust")},
		{"P2WPKH", fakeP2WPKH("dust")},
		{"P2TR", fakeWitnessProgram(1, 32, "dust")},
		{"P2SH", append(append([]byte{0xa9, 0x14}, bytes.Repeat([]byte{0x01}, 20)...), 0x87)},
		{"P2PKH", append(append([]byte{0x76, 0xa9, 0x14}, bytes.Repeat([]byte{0x02}, 20)...), 0x88, 0xac)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := DustThreshold(tc.script)
			require.True(t, mempool.IsDust(wire.NewTxOut(th-1, tc.script), 1000), "%d sat is dust to btcd", th-1)
			require.False(t, mempool.IsDust(wire.NewTxOut(th, tc.script), 1000), "%d sat is not dust to btcd", th)
		})
	}
}
