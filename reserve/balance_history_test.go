package reserve

import (
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// TestBalanceHistory replays coins into holdings by height: a coin counts
// from its block to the block of its spend; unconfirmed coins and spends,
// and blocks past the tip, are not history; heights whose changes cancel
// out are no point; impossible coins are refused.
func TestBalanceHistory(t *testing.T) {
	op := func(i uint32) wire.OutPoint { return wire.OutPoint{Index: i} }
	coins := []UTXO{
		{OutPoint: op(0), AmountSat: 5_000, Height: 10},
		{OutPoint: op(1), AmountSat: 3_000, Height: 10, Spent: true, SpentHeight: 12},
		{OutPoint: op(2), AmountSat: 2_000, Height: 12},                              // replaces op(1)'s 2,000 at 12: net -1,000
		{OutPoint: op(3), AmountSat: 7_000, Height: 11, Spent: true, SpentHeight: 0}, // spend in the mempool: still held
		{OutPoint: op(4), AmountSat: 9_000, Height: 0},                               // unconfirmed: not history
		{OutPoint: op(5), AmountSat: 4_000, Height: 13, Spent: true, SpentHeight: 13},
		{OutPoint: op(6), AmountSat: 1_000, Height: 20}, // past the tip
	}
	got, err := BalanceHistory(coins, 15)
	require.NoError(t, err)
	require.Equal(t, []BalancePoint{{10, 8_000}, {11, 15_000}, {12, 14_000}}, got)

	got, err = BalanceHistory(coins, 20)
	require.NoError(t, err)
	require.Equal(t, BalancePoint{20, 15_000}, got[len(got)-1])

	got, err = BalanceHistory(nil, 5)
	require.NoError(t, err)
	require.Empty(t, got)

	_, err = BalanceHistory([]UTXO{{OutPoint: op(0), AmountSat: 1, Height: 9, Spent: true, SpentHeight: 8}}, 10)
	require.ErrorContains(t, err, "before it confirmed")
	_, err = BalanceHistory([]UTXO{{OutPoint: op(0), AmountSat: -1, Height: 9}}, 10)
	require.ErrorContains(t, err, "amount -1")
	over := []UTXO{{OutPoint: op(0), AmountSat: MaxSat, Height: 9}, {OutPoint: op(1), AmountSat: 1, Height: 9}}
	_, err = BalanceHistory(over, 10)
	require.ErrorContains(t, err, "would be")
}
