package reserve

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Text from the daemon or from a file (labels, names, memos, reasons,
// officer names, policy documents, errors the daemon sends back) is shown
// to the people who decide on it: a terminal escape, a bidirectional
// override or a newline inside it could make a terminal show them
// something else than what they approve or compare. Every program of the
// reserve shows such text through Escape, and writes its JSON through
// EscapeJSON; this is the one rule, defined here because both sides (the
// coordinator's CLI and the signer's) need the same one.

// Printable reports whether r is shown as itself: letters, marks,
// numbers, punctuation, symbols and the ASCII space (unicode.IsPrint).
// Control characters, format characters such as U+202E (right-to-left
// override), other spaces, unassigned code points and the replacement
// character for invalid UTF-8 are not.
func Printable(r rune) bool {
	return r != utf8.RuneError && unicode.IsPrint(r)
}

// Escape returns s with every character that is not Printable written as
// \u{hex}, so the text stays on one line and shows what it holds. Invalid
// UTF-8 bytes are written as \x{hex}. Printable text is returned as is.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if !Printable(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x{%02x}", s[i])
		case Printable(r):
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "\\u{%x}", r)
		}
		i += size
	}
	return b.String()
}

// EscapeJSON returns the output of encoding/json with every character
// that is not Printable, apart from the newlines and spaces of its
// indentation, written as a JSON \u escape. encoding/json already escapes
// control characters inside strings but writes format characters such as
// U+202E as they are; outside strings JSON holds only ASCII, so every
// such character is inside a string and the escaped document decodes to
// the same values.
func EscapeJSON(data []byte) []byte {
	clean := true
	for _, r := range string(data) {
		if !Printable(r) && r != '\n' && r != '\t' && r != '\r' {
			clean = false
			break
		}
	}
	if clean {
		return data
	}
	var b strings.Builder
	for _, r := range string(data) {
		switch {
		case Printable(r) || r == '\n' || r == '\t' || r == '\r':
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return []byte(b.String())
}

// Clip is s cut to at most max bytes on a character boundary, ending in
// "…" when anything was cut: free text (notes, reasons, node messages)
// bounded for a record or a log line without splitting a character.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	cut := max - len(ellipsis)
	if cut < 0 {
		return strings.ToValidUTF8(s[:max], "")
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
