package multisig

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// witnessBytes serializes a witness stack of count items, each item.
func witnessBytes(tb testing.TB, count int, item []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, wire.WriteVarInt(&buf, 0, uint64(count)))
	for range count {
		require.NoError(tb, wire.WriteVarBytes(&buf, 0, item))
	}
	return buf.Bytes()
}

// TestParseWitness checks that a final witness decodes up to
// maxWitnessItems items, that a larger item count is refused before
// anything is allocated for it, and that the bytes must be exactly one
// witness.
func TestParseWitness(t *testing.T) {
	// huge is a 4 MB value (PSBT values go up to 4 MB) claiming as many
	// items as it has bytes, its first item claiming more bytes than left.
	huge := make([]byte, 4_000_000)
	var head bytes.Buffer
	require.NoError(t, wire.WriteVarInt(&head, 0, uint64(len(huge))))
	copy(huge, head.Bytes())
	for k := head.Len(); k < len(huge); k++ {
		huge[k] = 0xff
	}
	// empties is a 4 MB value of that many empty items, each one byte.
	empties := witnessBytes(t, 4_000_000, nil)

	tests := []struct {
		name  string
		b     []byte
		items int
		cause error
	}{
		{name: "the wallet's shape", b: witnessBytes(t, 4, []byte{1, 2, 3}), items: 4},
		{name: "no items", b: []byte{0}, items: 0},
		{name: "the most items", b: witnessBytes(t, maxWitnessItems, nil), items: maxWitnessItems},
		{name: "one item too many", b: witnessBytes(t, maxWitnessItems+1, nil), cause: errWitnessItems},
		{name: "2^32-1 items claimed in 5 bytes", b: []byte{0xfe, 0xff, 0xff, 0xff, 0xff}, cause: errWitnessItems},
		{name: "4 MB claiming an item per byte", b: huge, cause: errWitnessItems},
		{name: "4 MB of empty items", b: empties, cause: errWitnessItems},
		{name: "an item longer than the rest", b: []byte{1, 0xfd, 0xff, 0xff, 0}, cause: errNoWitness},
		{name: "a byte after the witness", b: []byte{1, 0, 0}, cause: errNoWitness},
		{name: "empty", b: nil, cause: errNoWitness},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wit wire.TxWitness
			var err error
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			wit, err = parseWitness(tt.b)
			runtime.ReadMemStats(&after)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated")
			if tt.cause != nil {
				require.ErrorIs(t, err, tt.cause)
				return
			}
			require.NoError(t, err)
			require.Len(t, wit, tt.items)
		})
	}
}

// TestCombineHugeWitness checks that CombinePSBT, which reads the final
// witnesses of an imported PSBT, refuses one with too many items, naming
// the input, and leaves canonical unchanged.
func TestCombineHugeWitness(t *testing.T) {
	w := MustPSBTWallet(t, "combine final", 2, 3)
	created := w.MustStandardSpend(t)
	incoming := w.finalizedBy(t, created, 0, 1)
	for _, tt := range []struct {
		name  string
		count int
	}{
		{name: "one item too many", count: maxWitnessItems + 1},
		{name: "a million empty items", count: 1_000_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			canonical := MustCopy(t, created)
			before := MustSerialize(t, canonical)
			in := MustCopy(t, incoming)
			in.Inputs[1].FinalScriptWitness = witnessBytes(t, tt.count, nil)
			_, err := CombinePSBT(canonical, in, w.d, 0)
			RequireCode(t, err, reserve.CodeInvalid, "input[1]", "more than 101 items")
			require.ErrorIs(t, err, errWitnessItems)
			require.Equal(t, before, MustSerialize(t, canonical))
		})
	}
}
