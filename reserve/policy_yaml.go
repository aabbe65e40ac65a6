package reserve

// The strict YAML reader under ParsePolicy: one document, no aliases,
// anchors or tags, mappings checked against their known fields, scalars
// read by their YAML type, and every refusal naming the line and the
// field's path. What each field of a policy means is in policy_parse.go.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// decodePolicyYAML parses text as exactly one YAML document and returns its
// root node.
func decodePolicyYAML(text []byte) (root *yaml.Node, err error) {
	// yaml.v3 panics on a few inputs it calls internal errors; a bad
	// policy file must be refused, not crash the daemon.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, Errorf(CodeInvalid, "policy: malformed YAML (the parser failed: %v)", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Errorf(CodeInvalid, "policy line 1: the document is empty")
		}
		return nil, yamlSyntaxError(err, text)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlSyntaxError(err, text)
	default:
		return nil, Errorf(CodeInvalid, "policy line %d: a second YAML document follows the policy; a policy file holds one", extra.Line)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, Errorf(CodeInvalid, "policy line 1: the document is empty")
	}
	return doc.Content[0], nil
}

// yamlParserProblems are the problems yaml.v3 (v3.0.1) reports from its
// parser rather than its scanner. For them it gives the line of the
// enclosing block counted from zero (the scanner's count from one), so
// yamlSyntaxError adds one.
var yamlParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// yamlSyntaxError turns yaml.v3's "yaml: line 3: …" into the policy's
// "policy line 3: malformed YAML: …".
func yamlSyntaxError(err error, text []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		num, after, found := strings.Cut(rest, ": ")
		if n, convErr := strconv.Atoi(num); found && convErr == nil {
			line, msg = n, after
		}
	}
	if slices.Contains(yamlParserProblems, msg) {
		// A parser error without a line is on the first one.
		return Errorf(CodeInvalid, "policy line %d: malformed YAML: %s (in the block that starts on this line)", line+1, msg)
	}
	if line == 0 {
		// yaml.v3 names no line for an unknown alias; find it.
		if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
			name = strings.TrimSuffix(name, "' referenced")
			if i := bytes.Index(text, []byte("*"+name)); i >= 0 {
				line = lineAt(text, i)
			}
		}
	}
	if line == 0 {
		return Errorf(CodeInvalid, "policy: malformed YAML: %s", msg)
	}
	return Errorf(CodeInvalid, "policy line %d: malformed YAML: %s", line, msg)
}

// checkPolicyText refuses, with their line, what yaml.v3 would refuse
// without one: invalid UTF-8 and control characters other than tab, line
// feed and carriage return. It also refuses U+2028 and U+2029, which
// yaml.v3 counts as line breaks and editors may not show as such, so that
// every line number in an error is the one the reviewer sees.
func checkPolicyText(text []byte) error {
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRune(text[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return Errorf(CodeInvalid, "policy line %d: is not valid UTF-8 (byte %d)", lineAt(text, i), i)
		case r == '\n' || r == '\t' || r == '\r':
		case unicode.IsControl(r):
			return Errorf(CodeInvalid, "policy line %d: contains the control character %U", lineAt(text, i), r)
		case r == '\u2028' || r == '\u2029':
			return Errorf(CodeInvalid, "policy line %d: contains the line separator %U; write an ordinary line break", lineAt(text, i), r)
		}
		i += size
	}
	return nil
}

// lineAt returns the line, from 1, of byte offset i of text, counting
// line breaks as YAML does: LF, CR LF, or a CR alone.
func lineAt(text []byte, i int) int {
	line := 1
	for j := 0; j < i; j++ {
		if text[j] == '\n' || (text[j] == '\r' && (j+1 >= len(text) || text[j+1] != '\n')) {
			line++
		}
	}
	return line
}

// policyErr refuses the document at node n, naming the field.
func policyErr(n *yaml.Node, field, format string, args ...any) error {
	return Errorf(CodeInvalid, "policy line %d: %w", n.Line, Invalid(field, format, args...))
}

// fieldPath joins a mapping's path and one of its keys.
func fieldPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// checkPlainYAML refuses the YAML features a reviewer could be misled by or
// that another implementation could read differently: aliases and anchors
// (a value defined elsewhere), explicit tags (a value read as another type),
// and mapping keys that are not plain names.
func checkPlainYAML(n *yaml.Node, path string) error {
	field := path
	if field == "" {
		field = "policy"
	}
	switch {
	case n.Kind == yaml.AliasNode:
		return policyErr(n, field, "YAML aliases (*%s) are not allowed in a policy: write the value out", n.Value)
	case n.Anchor != "":
		return policyErr(n, field, "YAML anchors and aliases (&%s) are not allowed in a policy: write each value out", n.Anchor)
	case n.Style&yaml.TaggedStyle != 0:
		return policyErr(n, field, "explicit YAML tags (%s) are not allowed in a policy", n.Tag)
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Anchor != "" || k.Style&yaml.TaggedStyle != 0 {
				return policyErr(k, field, "mapping keys must be plain field names")
			}
			if err := checkPlainYAML(v, fieldPath(path, k.Value)); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := checkPlainYAML(c, fmt.Sprintf("%s[%d]", field, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// fields is a YAML mapping checked against the names it may hold.
type fields struct {
	node *yaml.Node
	path string
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
}

// mappingFields checks that n is a mapping whose keys are all in known,
// each at most once.
func mappingFields(n *yaml.Node, path, what string, known ...string) (*fields, error) {
	if n.Kind != yaml.MappingNode {
		return nil, policyErr(n, path, "must be %s with the fields %s", what, strings.Join(known, ", "))
	}
	f := &fields{node: n, path: path, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := fieldPath(path, k.Value)
		if !slices.Contains(known, k.Value) {
			return nil, policyErr(k, field, "unknown field (the fields of %s are %s)", what, strings.Join(known, ", "))
		}
		if first, dup := f.keys[k.Value]; dup {
			return nil, policyErr(k, field, "appears twice (first on line %d)", first.Line)
		}
		f.keys[k.Value], f.vals[k.Value] = k, v
	}
	return f, nil
}

// get returns the value of key, and whether it is present; a present key
// without a value is refused.
func (f *fields) get(key string) (*yaml.Node, string, bool, error) {
	field := fieldPath(f.path, key)
	v, ok := f.vals[key]
	if !ok {
		return nil, field, false, nil
	}
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, field, false, policyErr(f.keys[key], field, "has no value")
	}
	return v, field, true, nil
}

// need returns the value of a required key.
func (f *fields) need(key string) (*yaml.Node, string, error) {
	v, field, ok, err := f.get(key)
	if err != nil {
		return nil, field, err
	}
	if !ok {
		return nil, field, policyErr(f.node, field, "missing")
	}
	return v, field, nil
}

// parseAmount reads a positive BTC amount written as a YAML string. A YAML
// number is refused: parsers differ on how they read "0.1" as a number,
// and a float must never stand between the document and the satoshis.
func parseAmount(n *yaml.Node, field string) (int64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, policyErr(n, field, "must be an amount of BTC in quotes, like \"0.5\"")
	}
	if strings.HasPrefix(n.Value, "-") {
		return 0, policyErr(n, field, "must be more than zero, not %s", n.Value)
	}
	switch n.Tag {
	case "!!str":
	case "!!int", "!!float":
		return 0, policyErr(n, field, "write BTC amounts in quotes (\"%s\"), not as YAML numbers, so they are never read as floating point", n.Value)
	default:
		return 0, policyErr(n, field, "must be an amount of BTC in quotes, like \"0.5\"")
	}
	sat, err := ParseBTC(n.Value)
	if err != nil {
		return 0, policyErr(n, field, "%w", err)
	}
	if sat == 0 {
		return 0, policyErr(n, field, "must be more than zero")
	}
	return sat, nil
}

// decimalRE is a whole number without sign, leading zeros or separators,
// at most nine digits so it always fits an int.
var decimalRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,8})$`)

// parseCount reads a non-negative whole number written as a plain decimal
// YAML integer.
func parseCount(n *yaml.Node, field, what string) (int, error) {
	if n.Kind != yaml.ScalarNode || !decimalRE.MatchString(n.Value) {
		return 0, policyErr(n, field, "must be %s", what)
	}
	if n.Tag != "!!int" {
		return 0, policyErr(n, field, "must be %s, written without quotes", what)
	}
	return strconv.Atoi(n.Value)
}

// parseDuration reads a Go duration ("48h", "90m", "0s"; a bare 0 too)
// within [min, max].
func parseDuration(n *yaml.Node, field string, min, max time.Duration, span string) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int") {
		return 0, policyErr(n, field, "must be a duration like 48h or 30m")
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		return 0, policyErr(n, field, "must be a duration like 48h or 30m (units h, m, s; there is no d): %w", err)
	}
	if d < min || d > max {
		return 0, policyErr(n, field, "%s is outside %s", d, span)
	}
	return d, nil
}

// timeRE is the RFC 3339 profile the format accepts; time.Parse alone
// would also take a decimal comma.
var timeRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$`)

// parseTime reads an RFC 3339 time with its zone and returns it in UTC.
func parseTime(n *yaml.Node, field string) (time.Time, error) {
	const bad = "must be an RFC 3339 time with a zone, like 2026-11-20T00:00:00Z"
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!timestamp" && n.Tag != "!!str") || !timeRE.MatchString(n.Value) {
		return time.Time{}, policyErr(n, field, bad)
	}
	t, err := time.Parse(time.RFC3339, n.Value)
	if err != nil {
		return time.Time{}, policyErr(n, field, bad)
	}
	return t.UTC(), nil
}

// parseText reads a YAML string of printable characters, without leading
// or trailing spaces, at most max characters: what a reviewer sees is all
// there is.
func parseText(n *yaml.Node, field string, max int) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return "", policyErr(n, field, "must be text; put it in quotes if YAML would read it as a number, a boolean or a date")
	}
	s := n.Value
	switch {
	case s == "":
		return "", policyErr(n, field, "must not be empty")
	case !utf8.ValidString(s):
		return "", policyErr(n, field, "is not valid UTF-8")
	case strings.TrimSpace(s) != s:
		return "", policyErr(n, field, "must not start or end with white space")
	case utf8.RuneCountInString(s) > max:
		return "", policyErr(n, field, "is %d characters, more than %d", utf8.RuneCountInString(s), max)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", policyErr(n, field, "contains the unprintable character %U", r)
		}
	}
	return s, nil
}
