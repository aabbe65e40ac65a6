package signer

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFormatMilli(t *testing.T) {
	tests := []struct {
		milli, ceiling int64
		want           string
	}{
		{milli: 0, ceiling: -1, want: "0.0"},
		{milli: 50_847, ceiling: -1, want: "50.8"},
		{milli: 50_850, ceiling: -1, want: "50.9"},
		{milli: 50_848, ceiling: 2_000, want: "50.8"},
		{milli: 999_999, ceiling: -1, want: "1000.0"},
		// Just over a ceiling of 1000 sat/vB: never shown as 1000.0.
		{milli: 1_000_004, ceiling: 1_000_000, want: "1000.1"},
		{milli: 1_000_050, ceiling: 1_000_000, want: "1000.1"},
		{milli: -1_500, ceiling: -1, want: "-1.5"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, formatMilli(tt.milli, tt.ceiling), "%d", tt.milli)
	}
}

func TestCheckFeeIsExact(t *testing.T) {
	lim := DefaultLimits()
	require.NoError(t, checkFee(Summary{FeeSat: 300_000, VSize: 300}, lim), "exactly 1000 sat/vB is allowed")
	err := checkFee(Summary{FeeSat: 300_001, VSize: 300}, lim)
	require.ErrorIs(t, err, ErrFeeTooHigh)
	require.EqualError(t, err, "fee rate 1000.1 sat/vB (fee 0.00300001 BTC for 300 vB) is over this signer's ceiling of 1000 sat/vB")

	require.NoError(t, checkFee(Summary{FeeSat: DefaultMaxFeeSat, VSize: 1_000}, lim))
	require.ErrorIs(t, checkFee(Summary{FeeSat: DefaultMaxFeeSat + 1, VSize: 1_000_000}, lim), ErrFeeTooHigh)
	require.Error(t, checkFee(Summary{FeeSat: 1, VSize: 0}, lim))

	// A huge ceiling times a huge size does not overflow into a refusal.
	big := Limits{MaxFeeSat: DefaultMaxFeeSat, MaxFeeRate: 2_000_000_000_000_000}
	require.NoError(t, checkFee(Summary{FeeSat: 1_000, VSize: 32 << 20}, big))
}
