package main

import (
	"context"
	"fmt"
	"os"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/passphrase"
)

// caPassphrase reads the CA key's passphrase from file or
// CUSTOSD_CA_PASSPHRASE; nil when neither is given (the CA stays
// offline). It never prompts: custosd runs unattended.
func caPassphrase(ctx context.Context, file string) ([]byte, error) {
	if _, ok := os.LookupEnv(daemon.EnvCAPassphrase); !ok && file == "" {
		return nil, nil
	}
	p, err := passphrase.Source{LookupEnv: os.LookupEnv, EnvName: daemon.EnvCAPassphrase, File: file}.Existing(ctx)
	if err != nil {
		return nil, fmt.Errorf("--ca-passphrase-file: %w", err)
	}
	return p, nil
}
