package main

import (
	"errors"
	"flag"
	"slices"
	"strconv"

	"github.com/custos-reserve/custos/flagfile"
	"github.com/custos-reserve/custos/reserve"
)

// envConfig names the configuration file when --config does not.
const envConfig = "CUSTOS_SIGNER_CONFIG"

// ackMainnet is the flag without which init refuses to make a mainnet
// key: a key for real bitcoin is never made by a copied command line.
const ackMainnet = "i-know-this-is-mainnet"

// configKeys are the options a configuration file may set: the lasting
// settings of a signer host, one line each. What one run does (--yes,
// --in, --out, init's --network) is never in a file: a file that said
// yes = true would sign without asking. serve's --auto stays on the
// command line too, where whoever reads the service unit sees it.
func configKeys() []string {
	return []string{
		"datadir",
		"json",
		"passphrase-file",
		"max-fee",
		"max-feerate",
		"daemon",
		"identity",
		"log-json",
	}
}

// configRules are the rules of the configuration file: the keys above,
// each applied by the commands that take it and ignored by the others.
func configRules() flagfile.Rules {
	return flagfile.Rules{
		Allowed:   func(name string) bool { return slices.Contains(configKeys(), name) },
		Elsewhere: func(name string) bool { return slices.Contains(configKeys(), name) },
		Check: map[string]func(string) error{
			"max-fee": func(v string) error {
				fee, err := reserve.ParseBTC(v)
				if err == nil && fee <= 0 {
					err = errors.New("must be more than 0")
				}
				return err
			},
			"max-feerate": func(v string) error {
				if r, _ := strconv.ParseInt(v, 10, 64); r <= 0 {
					return errors.New("must be more than 0")
				}
				return nil
			},
		},
	}
}

// applyConfig sets f's flags from --config, else $CUSTOS_SIGNER_CONFIG,
// under the command line's, and checks them. No file is read when
// neither names one.
func (c *cli) applyConfig(f *flags) error {
	path := f.config
	if path == "" && c.configEnv != nil {
		path, _ = c.configEnv(envConfig)
	}
	_, err := flagfile.Apply(f.fs, path, configRules())
	return err
}

// configFlags is every option a file may set, with its default and help
// text, from the commands' flag sets (for docs/operating.md).
func configFlags(sets []*flag.FlagSet) *flag.FlagSet {
	all := flag.NewFlagSet(progName, flag.ContinueOnError)
	for _, fs := range sets {
		fs.VisitAll(func(f *flag.Flag) {
			if all.Lookup(f.Name) == nil && slices.Contains(configKeys(), f.Name) {
				all.Var(f.Value, f.Name, f.Usage)
			}
		})
	}
	return all
}
