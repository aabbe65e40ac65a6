package reserve_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

func TestEscape(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "ascii", in: "invoice 2026-118", want: "invoice 2026-118"},
		{name: "accents", in: "Zahlung für März", want: "Zahlung für März"},
		{name: "terminal escapes and tab", in: "\x1b[4A\x1b[2Kpay\t90 BTC", want: `\u{1b}[4A\u{1b}[2Kpay\u{9}90 BTC`},
		{name: "bidi override", in: "abc\u202edcba\u2066", want: `abc\u{202e}dcba\u{2066}`},
		{name: "line breaks", in: "line\nbreak\r\u2028", want: `line\u{a}break\u{d}\u{2028}`},
		{name: "invalid utf-8", in: string([]byte{'o', 0xff, 'k'}), want: `o\x{ff}k`},
		{name: "replacement character", in: "\ufffd", want: `\u{fffd}`},
		{name: "no-break space", in: "a\u00a0b", want: `a\u{a0}b`},
		{name: "already escaped", in: `\u{1b}`, want: `\u{1b}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, reserve.Escape(tt.in))
			require.Equal(t, tt.want, reserve.Escape(reserve.Escape(tt.in)), "idempotent")
		})
	}
}

func TestEscapeJSON(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{name: "printable", value: "impôts 2026", want: `"impôts 2026"`},
		{name: "bidi override", value: "abc\u202edcba", want: `"abc\u202edcba"`},
		{name: "escape and newline", value: "\x1b[2J\n", want: `"\u001b[2J\n"`},
		{name: "beyond the BMP", value: "tag \U000E0041", want: `"tag \udb40\udc41"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(map[string]string{"k": tt.value})
			require.NoError(t, err)
			got := reserve.EscapeJSON(data)
			require.Equal(t, `{"k":`+tt.want+`}`, string(got))
			var back map[string]string
			require.NoError(t, json.Unmarshal(got, &back))
			require.Equal(t, tt.value, back["k"], "decodes to the same value")
		})
	}
	// Indented output keeps its layout.
	data, err := json.MarshalIndent(map[string]string{"k": "v"}, "", "  ")
	require.NoError(t, err)
	require.Equal(t, data, reserve.EscapeJSON(data))
}

// TestClip: free text is cut on a character boundary, within max bytes
// with the ellipsis, never inside a character.
func TestClip(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"short enough", "short", 10, "short"},
		{"exactly max", "abcdef", 6, "abcdef"},
		{"cut with the ellipsis inside max", "abcdefgh", 6, "abc…"},
		{"a cut inside é moves back", "aaééé", 6, "aa…"},
		{"max below the ellipsis", "abcdef", 2, "ab"},
		{"max below the ellipsis, inside a character", "ééé", 1, ""},
		{"room for the ellipsis only", "éé", 3, "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := reserve.Clip(tc.in, tc.max)
			require.Equal(t, tc.want, got)
			require.LessOrEqual(t, len(got), tc.max)
			require.True(t, utf8.ValidString(got))
		})
	}
}
