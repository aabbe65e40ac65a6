package reserve_test

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

func TestParseBTC(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		// err, when set, is a substring the refusal must contain.
		err string
	}{
		{name: "zero", in: "0", want: 0},
		{name: "zero with eight decimals", in: "0.00000000", want: 0},
		{name: "one bitcoin", in: "1", want: reserve.SatPerBTC},
		{name: "one and a half", in: "1.5", want: 150_000_000},
		{name: "trailing zero decimals", in: "1.50", want: 150_000_000},
		{name: "one satoshi", in: "0.00000001", want: 1},
		{name: "eight decimals", in: "12.34567891", want: 1_234_567_891},
		{name: "the whole supply", in: "21000000", want: reserve.MaxSat},
		{name: "the whole supply with eight decimals", in: "21000000.00000000", want: reserve.MaxSat},
		{name: "one satoshi below the supply", in: "20999999.99999999", want: reserve.MaxSat - 1},
		{name: "leading zeros", in: "0001.5", want: 150_000_000},
		{name: "leading zeros before zero", in: "000.00000001", want: 1},
		{name: "many leading zeros before the supply", in: strings.Repeat("0", 40) + "21000000", want: reserve.MaxSat},

		{name: "empty", in: "", err: "empty amount"},
		{name: "only a point", in: ".", err: "ends with a decimal point"},
		{name: "trailing point", in: "1.", err: "ends with a decimal point"},
		{name: "no whole part", in: ".5", err: "no digits before the decimal point"},
		{name: "minus sign", in: "-1", err: "is not a decimal number of BTC"},
		{name: "minus zero", in: "-0", err: "is not a decimal number of BTC"},
		{name: "plus sign", in: "+1", err: "is not a decimal number of BTC"},
		{name: "exponent", in: "1e8", err: "is not a decimal number of BTC"},
		{name: "nine decimals", in: "1.000000001", err: "more than 8 decimals"},
		{name: "nine zero decimals", in: "1.000000000", err: "more than 8 decimals"},
		{name: "one satoshi above the supply", in: "21000000.00000001", err: "more than 21000000 BTC"},
		{name: "one bitcoin above the supply", in: "21000001", err: "more than 21000000 BTC"},
		{name: "eight nines", in: "99999999", err: "more than 21000000 BTC"},
		{name: "beyond int64", in: "99999999999999999999", err: "more than 21000000 BTC"},
		{name: "leading space", in: " 1", err: "is not a decimal number of BTC"},
		{name: "trailing space", in: "1 ", err: "is not a decimal number of BTC"},
		{name: "trailing newline", in: "1\n", err: "is not a decimal number of BTC"},
		{name: "decimal comma", in: "1,5", err: "is not a decimal number of BTC"},
		{name: "two points", in: "1.2.3", err: "is not a decimal number of BTC"},
		{name: "hexadecimal", in: "0x10", err: "is not a decimal number of BTC"},
		{name: "digit separators", in: "1_000", err: "is not a decimal number of BTC"},
		{name: "infinity", in: "Inf", err: "is not a decimal number of BTC"},
		{name: "arabic-indic digit one", in: "\u0661", err: "is not a decimal number of BTC"},
		{name: "fullwidth digits", in: "\uff11.\uff15", err: "is not a decimal number of BTC"},
		{name: "devanagari fraction", in: "1.\u096b", err: "is not a decimal number of BTC"},
		{name: "NUL byte", in: "1\x00", err: "is not a decimal number of BTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reserve.ParseBTC(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.Zero(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestFormatBTC(t *testing.T) {
	tests := []struct {
		name string
		sat  int64
		want string
	}{
		{name: "zero", sat: 0, want: "0.00000000"},
		{name: "one satoshi", sat: 1, want: "0.00000001"},
		{name: "one bitcoin", sat: reserve.SatPerBTC, want: "1.00000000"},
		{name: "one and a half", sat: 150_000_000, want: "1.50000000"},
		{name: "the whole supply", sat: reserve.MaxSat, want: "21000000.00000000"},
		{name: "minus one satoshi", sat: -1, want: "-0.00000001"},
		{name: "minus one and a half", sat: -150_000_000, want: "-1.50000000"},
		{name: "largest int64", sat: math.MaxInt64, want: "92233720368.54775807"},
		{name: "smallest int64", sat: math.MinInt64, want: "-92233720368.54775808"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NotPanics(t, func() { _ = reserve.FormatBTC(tt.sat) })
			require.Equal(t, tt.want, reserve.FormatBTC(tt.sat))
		})
	}
}

// TestFormatParseRoundTrip checks that every amount ParseBTC may return
// formats to text that parses back to it, at the edges of the range.
func TestFormatParseRoundTrip(t *testing.T) {
	for _, sat := range []int64{0, 1, 99_999_999, reserve.SatPerBTC, reserve.SatPerBTC + 1, reserve.MaxSat - 1, reserve.MaxSat} {
		got, err := reserve.ParseBTC(reserve.FormatBTC(sat))
		require.NoError(t, err, "amount %d", sat)
		require.Equal(t, sat, got)
	}
}

// FuzzParseBTC checks that ParseBTC never panics, never returns more than
// the supply, and that whatever it accepts is exactly the decimal value of
// its input: formatting the result gives the same number back.
func FuzzParseBTC(f *testing.F) {
	for _, s := range []string{
		"0", "1", "1.5", "0.00000001", "21000000", "21000000.00000000", "0001.5",
		"", ".", "1.", ".5", "-1", "+1", "1e8", "1.000000001", "21000000.00000001",
		"99999999999999999999", " 1", "1,5", "0x10", "\u0661", "92233720368.54775807",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sat, err := reserve.ParseBTC(s)
		if err != nil {
			require.Zero(t, sat)
			return
		}
		require.GreaterOrEqual(t, sat, int64(0), "input %q", s)
		require.LessOrEqual(t, sat, reserve.MaxSat, "input %q", s)

		formatted := reserve.FormatBTC(sat)
		again, err := reserve.ParseBTC(formatted)
		require.NoError(t, err, "input %q formatted as %q", s, formatted)
		require.Equal(t, sat, again, "input %q formatted as %q", s, formatted)
		// Compare canonical decimal text, independently of ParseBTC's
		// arithmetic: the same number, never rounded.
		require.Equal(t, canonicalDecimal(s), canonicalDecimal(formatted), "input %q", s)
	})
}

// canonicalDecimal drops leading zeros of the whole part and trailing zeros
// of the fraction of an unsigned decimal number.
func canonicalDecimal(s string) string {
	whole, frac, _ := strings.Cut(s, ".")
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}
