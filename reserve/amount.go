package reserve

import (
	"fmt"
	"strconv"
	"strings"
)

const (
	// SatPerBTC is the number of satoshis in one bitcoin.
	SatPerBTC int64 = 100_000_000
	// MaxSat is the most satoshis that can ever exist (21 million BTC);
	// any amount above it is refused as input.
	MaxSat int64 = 21_000_000 * SatPerBTC
)

// ParseBTC reads a bitcoin amount written in decimal BTC ("1.5",
// "0.00000001", "21000000") into satoshis. It refuses signs, exponents,
// more than eight decimals, and anything above 21 million BTC; it never
// rounds. Zero is accepted here; callers that need a positive amount check.
func ParseBTC(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty amount")
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if hasDot && frac == "" {
		return 0, fmt.Errorf("amount %q ends with a decimal point", s)
	}
	if whole == "" {
		return 0, fmt.Errorf("amount %q has no digits before the decimal point", s)
	}
	if !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("amount %q is not a decimal number of BTC", s)
	}
	if len(frac) > 8 {
		return 0, fmt.Errorf("amount %q has more than 8 decimals", s)
	}
	// 21,000,000 has 8 digits: anything longer is over the supply, and
	// refusing it here keeps the multiplication below from overflowing.
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 8 {
		return 0, fmt.Errorf("amount %q is more than 21000000 BTC", s)
	}
	var w int64
	if whole != "" {
		var err error
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return 0, fmt.Errorf("amount %q: %w", s, err)
		}
	}
	f := int64(0)
	if frac != "" {
		padded := frac + strings.Repeat("0", 8-len(frac))
		var err error
		if f, err = strconv.ParseInt(padded, 10, 64); err != nil {
			return 0, fmt.Errorf("amount %q: %w", s, err)
		}
	}
	sat := w*SatPerBTC + f
	if sat > MaxSat {
		return 0, fmt.Errorf("amount %q is more than 21000000 BTC", s)
	}
	return sat, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatBTC writes satoshis as BTC with exactly eight decimals
// ("1.50000000"), with a leading minus for negative amounts.
func FormatBTC(sat int64) string {
	sign := ""
	u := uint64(sat)
	if sat < 0 {
		sign = "-"
		u = uint64(-(sat + 1)) + 1 // safe for math.MinInt64
	}
	return fmt.Sprintf("%s%d.%08d", sign, u/uint64(SatPerBTC), u%uint64(SatPerBTC))
}
