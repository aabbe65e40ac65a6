package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/custos-reserve/custos/flagfile"
)

// envProfile names the profile when --profile does not.
const envProfile = "CUSTOS_PROFILE"

// profileKeys are what a profile may set: where the daemon is and who the
// officer is, so that `custosctl spend approve P000001` is the whole
// command. One line each; a key is the flag's name. None is a secret:
// the officer key file is sealed, its passphrase is asked for.
func profileKeys() []string {
	return []string{
		"datadir",
		"rpcserver",
		"cacert",
		"tlscert",
		"tlskey",
		"key",
		"json",
		"timeout",
	}
}

// profileRules: the keys above; key (the officer key file) is a flag of
// the commands that sign and is ignored by the others.
func profileRules() flagfile.Rules {
	return flagfile.Rules{
		Allowed:   func(name string) bool { return slices.Contains(profileKeys(), name) },
		Elsewhere: func(name string) bool { return slices.Contains(profileKeys(), name) },
	}
}

// defaultProfile is custos/profile.toml in the user's configuration
// directory (~/.config on Linux, or $XDG_CONFIG_HOME), "" when there is
// none.
func defaultProfile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "custos", "profile.toml")
}

// applyProfile sets fs's flags from the profile under the command line's:
// --profile, else $CUSTOS_PROFILE, else the default, which alone may be
// missing.
func applyProfile(fs *flag.FlagSet, c *common) error {
	path := c.profile
	if path == "" {
		path = os.Getenv(envProfile)
	}
	if path == "" {
		if p := defaultProfile(); p != "" {
			if _, err := os.Stat(p); err == nil {
				path = p
			} else if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("unable to read profile: %w", err)
			}
		}
	}
	s, err := flagfile.Apply(fs, path, profileRules())
	if err != nil {
		return err
	}
	c.settings = s
	return nil
}

// profileShowCmd prints the settings in effect and where each came from.
func profileShowCmd(fs *flag.FlagSet) func(e *env, args []string) error {
	fs.String("key", "", "the officer key file made by 'officer keygen' (`FILE`)")
	return func(e *env, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		type setting struct {
			Key    string `json:"key"`
			Value  string `json:"value"`
			Origin string `json:"origin"`
		}
		res := struct {
			Profile  string    `json:"profile"`
			Settings []setting `json:"settings"`
		}{Profile: e.common.settings.File}
		for _, k := range profileKeys() {
			res.Settings = append(res.Settings, setting{Key: k, Value: fs.Lookup(k).Value.String(), Origin: e.common.settings.Origin(k)})
		}
		if e.common.json {
			return printJSON(e.stdout, res)
		}
		if res.Profile == "" {
			res.Profile = "none"
		}
		if _, err := printf(e.stdout, "profile: %s\n", res.Profile); err != nil {
			return err
		}
		for _, s := range res.Settings {
			if _, err := printf(e.stdout, "  %-10s %-8s %s\n", s.Key, s.Origin, s.Value); err != nil {
				return err
			}
		}
		return nil
	}
}
