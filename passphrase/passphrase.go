// Package passphrase is where a command line gets the passphrase of a
// sealed key file (package seal): an environment variable, the first line
// of a file, or a prompt on the terminal with echo off, never a flag. Both
// custos-signer and custosctl officer use it, so it lives apart from the
// signer. It keeps secrets in byte slices the caller clears; it knows
// nothing of what the passphrase unlocks.
package passphrase

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/seal"
)

const maxFileBytes = 64 << 10

var (
	// ErrNoTerminal is returned by a prompt when there is no terminal to
	// ask on.
	ErrNoTerminal = errors.New("no terminal")

	// ErrNoPassphrase is returned when no passphrase source is available.
	ErrNoPassphrase = errors.New("no passphrase available")
)

// PromptFunc asks a person for a secret on a terminal without echoing it.
// It returns an error wrapping ErrNoTerminal when there is no terminal.
type PromptFunc func(ctx context.Context, prompt string) ([]byte, error)

// Source says where a key's passphrase comes from. It is never a
// command-line flag, which would leave it in shell history and in the
// process list. Exactly one of the variable EnvName and File may be set;
// with neither, Prompt asks on the terminal.
type Source struct {
	// LookupEnv reads the environment (os.LookupEnv); nil means no
	// environment. The variable is EnvName.
	LookupEnv func(key string) (string, bool)
	// EnvName is the variable to read, each program its own
	// (CUSTOS_SIGNER_PASSPHRASE, CUSTOS_OFFICER_PASSPHRASE); empty means
	// no environment.
	EnvName string
	// File is a file whose first line is the passphrase (trailing newline
	// trimmed), as given by --passphrase-file.
	File string
	// Prompt asks interactively; nil means no terminal (TerminalPrompt is
	// the real one).
	Prompt PromptFunc
}

// Existing returns the passphrase to unlock an existing key. The caller
// must clear it after use.
func (s Source) Existing(ctx context.Context) ([]byte, error) {
	return s.get(ctx, false)
}

// New returns the passphrase for a new key: asked twice on a terminal and
// refused unless both match, and at least seal.MinPassphraseLen
// characters wherever it comes from. The caller must clear it after use.
func (s Source) New(ctx context.Context) ([]byte, error) {
	p, err := s.get(ctx, true)
	if err != nil {
		return nil, err
	}
	if n := utf8.RuneCount(p); n < seal.MinPassphraseLen {
		clear(p)
		return nil, reserve.Invalid("passphrase", "passphrase has %d characters; it needs at least %d", n, seal.MinPassphraseLen)
	}
	return p, nil
}

func (s Source) get(ctx context.Context, confirm bool) ([]byte, error) {
	env, hasEnv := "", false
	if s.LookupEnv != nil && s.EnvName != "" {
		env, hasEnv = s.LookupEnv(s.EnvName)
	}
	switch {
	case hasEnv && s.File != "":
		// Two sources for one secret is a mistake; guessing which one the
		// operator meant could seal a new key under the wrong passphrase.
		return nil, reserve.Invalid("passphrase", "both %s and --passphrase-file are set; use one", s.EnvName)
	case s.File != "":
		return readFile(s.File)
	case hasEnv:
		if env == "" {
			return nil, reserve.Invalid("passphrase", "%s is set but empty", s.EnvName)
		}
		return []byte(env), nil
	}
	return s.prompt(ctx, confirm)
}

func (s Source) prompt(ctx context.Context, confirm bool) ([]byte, error) {
	others := "pass --passphrase-file FILE"
	if s.EnvName != "" {
		others = "set " + s.EnvName + " or " + others
	}
	noSource := reserve.Errorf(reserve.CodeFailedPrecondition, "%w: no terminal to ask on; %s", ErrNoPassphrase, others)
	if s.Prompt == nil {
		return nil, noSource
	}
	label := "Passphrase: "
	if confirm {
		label = "New passphrase for the key file: "
	}
	p, err := s.Prompt(ctx, label)
	if errors.Is(err, ErrNoTerminal) {
		return nil, noSource
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, reserve.Invalid("passphrase", "empty passphrase")
	}
	if !confirm {
		return p, nil
	}
	again, err := s.Prompt(ctx, "Repeat the passphrase: ")
	defer clear(again)
	if err != nil {
		clear(p)
		return nil, fmt.Errorf("unable to read passphrase: %w", err)
	}
	if subtle.ConstantTimeCompare(p, again) != 1 {
		clear(p)
		return nil, reserve.Invalid("passphrase", "the two passphrases do not match")
	}
	return p, nil
}

// readFile returns the first line of path without its line end.
func readFile(path string) ([]byte, error) {
	data, err := durable.ReadLimited(path, maxFileBytes)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInvalid, "unable to read passphrase file: %w", err)
	}
	defer clear(data)
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) == 0 {
		return nil, reserve.Invalid("passphrase-file", "first line of %s is empty", path)
	}
	return bytes.Clone(line), nil
}

// TerminalPrompt is the PromptFunc of the real terminal: it writes prompt
// to /dev/tty and reads a line there with echo off, so the secret is never
// on stdout (which may be --json output) nor on screen. It gives up when
// ctx ends and puts the terminal back as it was.
func TerminalPrompt(ctx context.Context, prompt string) ([]byte, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTerminal, err)
	}
	defer tty.Close()
	fd := int(tty.Fd())
	if !term.IsTerminal(fd) {
		return nil, ErrNoTerminal
	}
	state, err := term.GetState(fd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTerminal, err)
	}
	if _, err := fmt.Fprint(tty, prompt); err != nil {
		return nil, fmt.Errorf("unable to write prompt: %w", err)
	}
	type result struct {
		line []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := term.ReadPassword(fd)
		done <- result{line, err}
	}()
	select {
	case r := <-done:
		_, _ = fmt.Fprintln(tty)
		return r.line, r.err
	case <-ctx.Done():
		_ = term.Restore(fd, state)
		_, _ = fmt.Fprintln(tty)
		return nil, ctx.Err()
	}
}
