package main

import "github.com/custos-reserve/custos/reserve"

// safe is text from a file or a PSBT as custos-signer shows it: every
// character that is not printable (terminal escapes, bidirectional
// overrides, newlines) written as \u{…}, by the rule custosctl uses too
// (reserve.Escape). Everything the program prints that it did not make
// itself goes through safe, errors included (exitCode); JSON output goes
// through reserve.EscapeJSON (writeJSON).
func safe(s string) string { return reserve.Escape(s) }
