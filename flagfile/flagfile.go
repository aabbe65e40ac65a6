// Package flagfile sets a program's flags from a TOML file: custosd's and
// custos-signer's configuration files and custosctl's profile. A key is a
// flag's name (a dotted name is a TOML table: node.rpchost is rpchost
// under [node]), so every option has one name, one default and one help
// text, and --help lists them all; the command line wins over the file.
//
// It refuses, naming the file, the line and the option: a key that is no
// option, a value of the wrong TOML type, a value the option refuses, a
// secret written in the file, and a file that others than its owner may
// write (it says where the node is and whom backups are encrypted to). It
// knows nothing of Custos' options: the programs in cmd/ pass their flag
// sets and Rules. It never prints a value it was given.
package flagfile

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/custos-reserve/custos/reserve"
)

// MaxFileBytes bounds a configuration file: a larger one is refused.
const MaxFileBytes = 1 << 20

// Rules say which flags a file may set and which values an option takes.
type Rules struct {
	// Allowed reports whether a file may set the flag; nil allows every
	// flag of the set. custos-signer allows its lasting settings only, so
	// that no file can say --yes.
	Allowed func(name string) bool
	// Elsewhere reports a key that is an option of another command of the
	// same program (custosctl's key, custos-signer's max-fee): accepted,
	// type-checked against nothing, and skipped.
	Elsewhere func(name string) bool
	// Secret maps an option whose value is a secret to where it must come
	// from instead; a file that sets it is refused. Such an option is
	// still a flag (for compatibility) but never a file key.
	Secret map[string]string
	// Check holds the rules on an option's value, applied to the value in
	// effect wherever it came from (default, file or command line); the
	// error names where it came from.
	Check map[string]func(value string) error
}

// Settings say where each option's value came from.
type Settings struct {
	// File is the file read, "" for none.
	File  string
	given map[string]bool
	lines map[string]int
}

// FromFile returns the line of File that set name, or 0 when the file did
// not set it (the command line did, or it is the default).
func (s *Settings) FromFile(name string) int { return s.lines[name] }

// Given reports whether the command line set name.
func (s *Settings) Given(name string) bool { return s.given[name] }

// Origin says where name's value came from: "flag", "file" or "default".
func (s *Settings) Origin(name string) string {
	switch {
	case s.given[name]:
		return "flag"
	case s.lines[name] > 0:
		return "file"
	}
	return "default"
}

// Invalid is a CodeInvalid error about option name that says where its
// value came from: "FILE line N: name: …" for the file, "--name: …" for
// the command line and the default.
func (s *Settings) Invalid(name, format string, args ...any) error {
	if line := s.lines[name]; line > 0 {
		return fmt.Errorf("%s line %d: %w", s.File, line, reserve.Invalid(name, format, args...))
	}
	return reserve.Invalid("--"+name, format, args...)
}

// Apply reads the TOML file at path (none when path is "") and sets
// every flag of fs it names that the command line did not; then it
// applies rules.Check to the value of every option in effect. Call it
// after fs.Parse: the flags fs.Parse set are the command line's.
func Apply(fs *flag.FlagSet, path string, rules Rules) (*Settings, error) {
	s := &Settings{File: path, given: map[string]bool{}, lines: map[string]int{}}
	fs.Visit(func(f *flag.Flag) { s.given[f.Name] = true })
	if path != "" {
		data, err := read(path)
		if err != nil {
			return nil, err
		}
		if err := s.apply(fs, data, rules); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(rules.Check))
	for name := range rules.Check {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if err := rules.Check[name](f.Value.String()); err != nil {
			return nil, s.Invalid(name, "%w", err)
		}
	}
	return s, nil
}

// read returns the file's bytes, refused when others may write it or it
// is too large.
func read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("unable to read configuration: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("unable to read configuration: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, reserve.Invalid(path, "not a regular file")
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, reserve.Invalid(path, "others may write it (mode %04o): chmod go-w %s", st.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("unable to read configuration %s: %w", path, err)
	}
	if len(data) > MaxFileBytes {
		return nil, reserve.Invalid(path, "larger than %d bytes", MaxFileBytes)
	}
	return data, nil
}

// apply sets fs's flags from the TOML document data, key by key in the
// order they are written, so that the first mistake is the one reported.
func (s *Settings) apply(fs *flag.FlagSet, data []byte, rules Rules) error {
	var top map[string]toml.Primitive
	md, err := toml.Decode(string(data), &top)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s line %d: %w", s.File, pe.Position.Line, reserve.Invalid("syntax", "%s", pe.Message))
		}
		return reserve.Invalid(s.File, "%v", err)
	}
	for _, key := range md.Keys() {
		name := key.String()
		switch md.Type(key...) {
		case "Hash":
			// A table is a section of dotted names: [node] holds
			// node.rpchost. A table no option lives in is a mistake.
			if hasSection(fs, name, rules) {
				continue
			}
			return s.at(md, top, key, func(any) error { return errors.New("unknown section") })
		case "ArrayHash":
			return s.at(md, top, key, func(any) error { return errors.New("unknown option") })
		}
		if err := s.at(md, top, key, func(v any) error { return s.set(fs, name, v, rules) }); err != nil {
			return err
		}
	}
	return nil
}

// hasSection reports whether some option's name starts with section".".
func hasSection(fs *flag.FlagSet, section string, rules Rules) bool {
	found := false
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, section+".") && (rules.Allowed == nil || rules.Allowed(f.Name)) {
			found = true
		}
	})
	return found
}

// at runs fn on the value of key and records the key's line; when fn
// fails, its error names the file, the line and the key.
func (s *Settings) at(md toml.MetaData, top map[string]toml.Primitive, key toml.Key, fn func(any) error) error {
	prim := top[key[0]]
	for _, k := range key[1:] {
		var m map[string]toml.Primitive
		if err := md.PrimitiveDecode(prim, &m); err != nil {
			return reserve.Invalid(key.String(), "%v", err)
		}
		prim = m[k]
	}
	line := lineOf(md, prim)
	var v any
	if err := md.PrimitiveDecode(prim, &v); err != nil {
		return fmt.Errorf("%s line %d: %w", s.File, line, reserve.Invalid(key.String(), "%v", err))
	}
	if err := fn(v); err != nil {
		return fmt.Errorf("%s line %d: %w", s.File, line, reserve.Invalid(key.String(), "%w", err))
	}
	if !s.given[key.String()] {
		s.lines[key.String()] = line
	}
	return nil
}

// errLine is what lineOf's unmarshaler fails with.
var errLine = errors.New("line wanted")

// lineOf returns the line prim's key is written on. Only the decoder
// knows it, and says it only in an error: lineOf decodes prim into an
// Unmarshaler that fails, and reads the line from the error.
func lineOf(md toml.MetaData, prim toml.Primitive) int {
	err := md.PrimitiveDecode(prim, lineProbe{})
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return pe.Position.Line
	}
	return 0
}

// lineProbe is an Unmarshaler that always fails with errLine.
type lineProbe struct{}

// UnmarshalTOML implements toml.Unmarshaler.
func (lineProbe) UnmarshalTOML(any) error { return errLine }

// set checks the TOML value v against option name's type and sets the
// flag, unless the command line set it (then only the type is checked:
// the command line wins).
func (s *Settings) set(fs *flag.FlagSet, name string, v any, rules Rules) error {
	if instead, ok := rules.Secret[name]; ok {
		return fmt.Errorf("a secret is never written in a configuration file: %s", instead)
	}
	f := fs.Lookup(name)
	if f == nil || (rules.Allowed != nil && !rules.Allowed(name)) {
		if f == nil && rules.Elsewhere != nil && rules.Elsewhere(name) {
			return nil
		}
		return errors.New("unknown option")
	}
	texts, err := texts(f.Value, v)
	if err != nil {
		return err
	}
	target := f.Value
	if s.given[name] {
		// Checked on a scratch value of the same kind, then dropped.
		target = scratch(f.Value)
	}
	for _, t := range texts {
		if kind(f.Value) == "duration" {
			// The flag package says only "parse error".
			if _, err := time.ParseDuration(t); err != nil {
				return err
			}
		}
		if err := target.Set(t); err != nil {
			return fmt.Errorf("invalid value %q: %w", t, err)
		}
	}
	return nil
}

// texts turns a TOML value into the text Set takes, refusing a TOML type
// that does not fit the flag: a bool flag takes true or false, a number
// flag a number, a duration a string such as "30s", a repeatable flag a
// string or an array of strings.
func texts(fv flag.Value, v any) ([]string, error) {
	want := kind(fv)
	switch x := v.(type) {
	case bool:
		if want == "bool" {
			return []string{strconv.FormatBool(x)}, nil
		}
	case int64:
		if want == "integer" || want == "number" {
			return []string{strconv.FormatInt(x, 10)}, nil
		}
	case float64:
		if want == "number" {
			return []string{strconv.FormatFloat(x, 'g', -1, 64)}, nil
		}
	case string:
		if want == "string" || want == "duration" || want == "text" {
			return []string{x}, nil
		}
	case []any:
		if want == "text" {
			out := make([]string, len(x))
			for i, e := range x {
				str, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("want an array of strings, element %d is %s", i, tomlType(e))
				}
				out[i] = str
			}
			return out, nil
		}
	}
	return nil, fmt.Errorf("want %s, got %s", describe(want), tomlType(v))
}

// kind classifies a flag by what it holds: bool, integer, number,
// duration, string, or text for a flag of its own type (repeatable ones
// included), which takes strings.
func kind(fv flag.Value) string {
	g, ok := fv.(flag.Getter)
	if !ok {
		return "text"
	}
	switch g.Get().(type) {
	case bool:
		return "bool"
	case int, int64, uint, uint64:
		return "integer"
	case float64:
		return "number"
	case time.Duration:
		return "duration"
	case string:
		return "string"
	}
	return "text"
}

func describe(kind string) string {
	switch kind {
	case "bool":
		return "true or false"
	case "integer":
		return "an integer"
	case "number":
		return "a number"
	case "duration":
		return `a duration string such as "30s"`
	case "text":
		return "a string or an array of strings"
	}
	return "a string"
}

func tomlType(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}

// scratch returns a fresh flag.Value of fv's kind, so that a value the
// command line overrides is still checked without being set.
func scratch(fv flag.Value) flag.Value {
	fs := flag.NewFlagSet("scratch", flag.ContinueOnError)
	g, ok := fv.(flag.Getter)
	if !ok {
		return discard{}
	}
	switch g.Get().(type) {
	case bool:
		fs.Bool("v", false, "")
	case int:
		fs.Int("v", 0, "")
	case int64:
		fs.Int64("v", 0, "")
	case uint:
		fs.Uint("v", 0, "")
	case uint64:
		fs.Uint64("v", 0, "")
	case float64:
		fs.Float64("v", 0, "")
	case time.Duration:
		fs.Duration("v", 0, "")
	default:
		return discard{}
	}
	return fs.Lookup("v").Value
}

// discard is a flag.Value that takes any text: a flag of its own type
// checks its value in Rules.Check, on the value in effect.
type discard struct{}

func (discard) String() string   { return "" }
func (discard) Set(string) error { return nil }

// Markdown writes the table of the options a file may set, for the
// operator's documentation: key, type, default and meaning, in the order
// of fs (sorted by name). home, when not empty, is written as ~ in the
// defaults, so that the table is the same on every machine. A secret is
// listed as a flag that no file may set.
func Markdown(w io.Writer, fs *flag.FlagSet, rules Rules, home string) error {
	var b strings.Builder
	b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) {
		if rules.Allowed != nil && !rules.Allowed(f.Name) {
			return
		}
		def := f.DefValue
		if home != "" && strings.HasPrefix(def, home) {
			def = "~" + strings.TrimPrefix(def, home)
		}
		if def != "" {
			def = "`" + def + "`"
		}
		_, usage := flag.UnquoteUsage(f)
		typ := kind(f.Value)
		if typ == "text" {
			typ = "string or array"
		}
		if instead, ok := rules.Secret[f.Name]; ok {
			typ = "flag only"
			usage += "; never in a file: " + instead
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", f.Name, typ, def, strings.ReplaceAll(usage, "|", `\|`))
	})
	_, err := io.WriteString(w, b.String())
	return err
}
