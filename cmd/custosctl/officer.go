package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/custos-reserve/custos/officer"
	"github.com/custos-reserve/custos/signer"
)

// envOfficerPassphrase is where a non-interactive run finds the officer
// key's passphrase.
const envOfficerPassphrase = "CUSTOS_OFFICER_PASSPHRASE"

type officerKeyJSON struct {
	File      string `json:"file"`
	PublicKey string `json:"public_key"`
}

func officerKeygenCmd(fs *flag.FlagSet) func(e *env, args []string) error {
	out := fs.String("out", "", "where to write the sealed key (`FILE`, required; never overwritten)")
	passFile := fs.String("passphrase-file", "", "read the new passphrase from the first line of `FILE` (else "+envOfficerPassphrase+", else the terminal)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *out == "" {
			return usagef("officer keygen: --out is required")
		}
		if _, err := os.Lstat(*out); err == nil {
			return fmt.Errorf("refusing to overwrite %s: it already exists", *out)
		}
		pass, err := newOfficerPassphrase(e.ctx, *passFile)
		if err != nil {
			return err
		}
		defer clear(pass)
		pub, err := officer.Generate(*out, pass, officer.DefaultKDF(), nil)
		if err != nil {
			return err
		}
		res := officerKeyJSON{File: *out, PublicKey: officer.FormatPublicKey(pub)}
		if e.common.json {
			return printJSON(e.stdout, res)
		}
		_, err = fmt.Fprintf(e.stdout, "Wrote %s, sealed under your passphrase.\n"+
			"Your approval key, for the policy's officer list:\n\n    key: %s\n\n"+
			"Keep the file and the passphrase apart; no one else needs either.\n", res.File, res.PublicKey)
		return err
	}
}

// newOfficerPassphrase reads a new passphrase: from a file, from the
// environment, or twice from the terminal. Two sources at once are refused.
func newOfficerPassphrase(ctx context.Context, file string) ([]byte, error) {
	env, hasEnv := os.LookupEnv(envOfficerPassphrase)
	switch {
	case file != "" && hasEnv:
		return nil, usagef("both %s and --passphrase-file are set; use one", envOfficerPassphrase)
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("unable to read passphrase file: %w", err)
		}
		defer clear(data)
		line, _, _ := bytes.Cut(data, []byte{'\n'})
		return bytes.Clone(bytes.TrimSuffix(line, []byte{'\r'})), nil
	case hasEnv:
		return []byte(env), nil
	}
	p, err := signer.TerminalPrompt(ctx, "New passphrase for the officer key: ")
	if errors.Is(err, signer.ErrNoTerminal) {
		return nil, fmt.Errorf("no terminal to ask on; set %s or pass --passphrase-file FILE", envOfficerPassphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("unable to read passphrase: %w", err)
	}
	again, err := signer.TerminalPrompt(ctx, "Repeat the passphrase: ")
	defer clear(again)
	if err != nil {
		clear(p)
		return nil, fmt.Errorf("unable to read passphrase: %w", err)
	}
	if subtle.ConstantTimeCompare(p, again) != 1 {
		clear(p)
		return nil, errors.New("the two passphrases do not match")
	}
	return p, nil
}
