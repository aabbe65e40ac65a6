package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/custos-reserve/custos/officer"
	"github.com/custos-reserve/custos/passphrase"
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
		pass, err := officerPassphrase(*passFile).New(e.ctx)
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
		_, err = printf(e.stdout, "Wrote %s, sealed under your passphrase.\n"+
			"Your approval key, for the policy's officer list:\n\n    key: %s\n\n"+
			"Keep the file and the passphrase apart; no one else needs either.\n", res.File, res.PublicKey)
		return err
	}
}

// officerPassphrase is where an officer key's passphrase comes from: the
// first line of file, else the environment, else the terminal; two
// sources at once are refused. New asks twice and refuses fewer than 8
// characters; Existing reads it once.
func officerPassphrase(file string) passphrase.Source {
	return passphrase.Source{
		LookupEnv: os.LookupEnv, EnvName: envOfficerPassphrase, File: file, Prompt: passphrase.TerminalPrompt,
	}
}
