package multisig

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/custos-reserve/custos/reserve"
)

// maxPathSteps is the deepest a BIP-32 key can be: its depth is one byte.
const maxPathSteps = 255

// FormatPath writes a BIP-32 path as key origins print it: steps separated
// by "/", hardened steps marked with an apostrophe, no leading "m/"
// ("48'/1'/0'/2'"). The empty path (the master key) is the empty string.
func FormatPath(path []uint32) string {
	var b strings.Builder
	for i, step := range path {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(strconv.FormatUint(uint64(step&^hardened), 10))
		if step >= hardened {
			b.WriteByte('\'')
		}
	}
	return b.String()
}

// ParsePath reads a BIP-32 path as people type it: FormatPath's form, with
// ', h or H marking a hardened step, optionally after "m/". "m" alone and
// "" are the master key, the empty path, returned as nil. It refuses empty
// steps ("48'//2'"), anything but decimal digits and the marker in a step,
// values of 2^31 or more, and more than 255 steps. Errors are
// *reserve.Error with code CodeInvalid and field "path".
//
// Key origins inside key records and descriptors follow BIP-380 instead,
// which allows only ' and h; ParseKeyRecord and ParseDescriptor apply that.
func ParsePath(s string) ([]uint32, error) {
	body := s
	switch {
	case s == "m":
		body = ""
	case strings.HasPrefix(s, "m/"):
		body = s[2:]
		if body == "" {
			return nil, reserve.Invalid("path", "path %q ends with \"/\"", s)
		}
	}
	path, err := parseSteps(body, true)
	if err != nil {
		return nil, reserve.Invalid("path", "path %q: %w", s, err)
	}
	return path, nil
}

// parseSteps reads "/"-separated steps with no leading "m". The empty
// string is the empty path. upperH allows the H hardened marker, which
// BIP-380 forbids in descriptors.
func parseSteps(s string, upperH bool) ([]uint32, error) {
	if s == "" {
		return nil, nil
	}
	var path []uint32
	for i, step := range strings.Split(s, "/") {
		if i == maxPathSteps {
			return nil, fmt.Errorf("more than %d steps", maxPathSteps)
		}
		v, err := parseStep(step, upperH)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i+1, err)
		}
		path = append(path, v)
	}
	return path, nil
}

// parseStep reads one path step: decimal digits below 2^31, then an
// optional hardened marker.
func parseStep(step string, upperH bool) (uint32, error) {
	if step == "" {
		return 0, fmt.Errorf("empty step")
	}
	digits, hard := step, false
	switch last := step[len(step)-1]; {
	case last == '\'' || last == 'h':
		digits, hard = step[:len(step)-1], true
	case last == 'H' && upperH:
		digits, hard = step[:len(step)-1], true
	case last == 'H':
		return 0, fmt.Errorf("%q: hardened marker H is not allowed here (BIP-380), use ' or h", step)
	}
	if digits == "" || !allDigits(digits) {
		return 0, fmt.Errorf("%q is not a decimal index with an optional ' or h", step)
	}
	// Ten digits already reach 2^31; more would overflow the parse.
	v, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || v >= hardened {
		return 0, fmt.Errorf("index %s is not below 2^31 (mark hardened steps with ' instead)", digits)
	}
	if hard {
		v |= hardened
	}
	return uint32(v), nil
}

// allDigits reports whether s is non-empty and only ASCII decimal digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
