package multisig

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// TestSelectCoinsRequired: a replacement spends its required coins whatever
// they are worth, and a cancel (no payees) pays them back as change.
func TestSelectCoinsRequired(t *testing.T) {
	big := testCoin("big", 10_000_000)
	exact := testCoin("exact", 100_000+147*10) // pays the payee exactly, no change (TestSelectCoins)
	small := testCoin("small", 20_000)
	tiny := testCoin("tiny", 500)
	params := func(coins []reserve.Input, required []reserve.Input, outs ...int64) SelectParams {
		p := SelectParams{Coins: coins, Required: required, ChangeScript: testChange, FeeRate: 10, M: 2, N: 3}
		for _, a := range outs {
			p.Outputs = append(p.Outputs, payTo("payee", a))
		}
		return p
	}
	inputs := func(sel Selection) []reserve.Input { return sel.Inputs }

	t.Run("without it the exact coin is chosen", func(t *testing.T) {
		sel, err := SelectCoins(params([]reserve.Input{big, exact}, nil, 100_000))
		require.NoError(t, err)
		require.Equal(t, []reserve.Input{exact}, inputs(sel))
	})
	t.Run("a required coin is spent even when another would do", func(t *testing.T) {
		sel, err := SelectCoins(params([]reserve.Input{exact}, []reserve.Input{small}, 100_000))
		require.NoError(t, err)
		require.Contains(t, sel.Inputs, small)
		require.Len(t, sel.Inputs, 2)
		require.Equal(t, sel.FeeSat, small.AmountSat+exact.AmountSat-100_000-sel.ChangeSat)
	})
	t.Run("a required coin worth less than its fee is still spent", func(t *testing.T) {
		sel, err := SelectCoins(params([]reserve.Input{big}, []reserve.Input{tiny}, 100_000))
		require.NoError(t, err)
		require.ElementsMatch(t, []reserve.Input{big, tiny}, sel.Inputs)
	})
	t.Run("a cancel pays its required coin back as change", func(t *testing.T) {
		sel, err := SelectCoins(params(nil, []reserve.Input{small}))
		require.NoError(t, err)
		require.Equal(t, []reserve.Input{small}, sel.Inputs)
		require.Positive(t, sel.ChangeSat)
		require.Equal(t, small.AmountSat-sel.ChangeSat, sel.FeeSat)
		require.GreaterOrEqual(t, sel.FeeSat, 10*sel.VSize)
	})
	t.Run("a cancel whose coin cannot pay its fee and a change takes another", func(t *testing.T) {
		sel, err := SelectCoins(params([]reserve.Input{big}, []reserve.Input{tiny}))
		require.NoError(t, err)
		require.ElementsMatch(t, []reserve.Input{big, tiny}, sel.Inputs)
		require.GreaterOrEqual(t, sel.ChangeSat, DustThreshold(testChange))
	})
	t.Run("a cancel with nothing else to pay the fee is refused", func(t *testing.T) {
		_, err := SelectCoins(params(nil, []reserve.Input{tiny}))
		require.ErrorIs(t, err, ErrInsufficientFunds)
	})
	t.Run("no outputs and nothing required is refused", func(t *testing.T) {
		_, err := SelectCoins(params([]reserve.Input{big}, nil))
		require.ErrorContains(t, err, "no outputs to pay")
	})
	t.Run("a required coin also among the candidates is refused", func(t *testing.T) {
		_, err := SelectCoins(params([]reserve.Input{big, small}, []reserve.Input{small}, 100_000))
		require.ErrorContains(t, err, "required[0]: outpoint")
	})
}
