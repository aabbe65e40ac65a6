package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/custos-reserve/custos/backup"
	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/flagfile"
	"github.com/custos-reserve/custos/reserve"
)

// ackMainnet is the option without which custosd refuses mainnet: a
// daemon started on mainnet by a copied command line or a forgotten
// default must not come up.
const ackMainnet = "i-know-this-is-mainnet"

// There is no default configuration file: the operator names it with
// --config (the systemd unit passes /etc/custos/custosd.toml). A default
// inside the data dir would be a file the daemon itself may write (the
// unit's one ReadWritePath), and the file says whom backups are encrypted
// to and which node to believe; and a file read without being named is
// one an operator does not know is in effect.

// configRules are the rules of custosd's options, wherever the value
// comes from. A rule is one entry; an option without one takes any value
// of its type.
func configRules() flagfile.Rules {
	return flagfile.Rules{
		// --config names the file; a file does not name another.
		Allowed: func(name string) bool { return name != "config" },
		Secret: map[string]string{
			"node.rpcpass": "set CUSTOSD_NODE_RPCPASS in the service's environment, or use node.rpccookie",
		},
		Check: map[string]func(string) error{
			"network": func(v string) error {
				if v == "" {
					return nil // run says it is required
				}
				_, err := reserve.ParseNetwork(v)
				return err
			},
			"node.kind":   func(v string) error { _, err := chain.ParseKind(v); return err },
			"node.notify": func(v string) error { _, err := chain.ParseNotifyMode(v); return err },
			"loglevel": func(v string) error {
				var l slog.Level
				return l.UnmarshalText([]byte(v))
			},
			"confirmations": func(v string) error {
				if n, _ := strconv.Atoi(v); n < 1 || n > 1000 {
					return fmt.Errorf("must be 1 to 1000, got %s", v)
				}
				return nil
			},
			"rpc.rate": func(v string) error {
				if r, _ := strconv.ParseFloat(v, 64); r < 0 {
					return fmt.Errorf("must be 0 or more, got %s", v)
				}
				return nil
			},
			"rpc.burst": func(v string) error {
				if n, _ := strconv.Atoi(v); n < 1 {
					return fmt.Errorf("must be 1 or more, got %s", v)
				}
				return nil
			},
			"backup-recipient": func(v string) error {
				if v == "" {
					return nil
				}
				_, err := backup.ParseRecipients(strings.Split(v, ","))
				return err
			},
		},
	}
}

// applyConfig reads --config under the command line's flags, checks every
// option, and refuses mainnet unless the operator said so.
func applyConfig(fs *flag.FlagSet, o *options) error {
	s, err := flagfile.Apply(fs, o.configFile, configRules())
	if err != nil {
		return err
	}
	if n, _ := reserve.ParseNetwork(o.network); n == reserve.Mainnet && !o.mainnetAck {
		return s.Invalid("network", "mainnet needs the operator's word: pass --%s or set %s = true in the config file", ackMainnet, ackMainnet)
	}
	return nil
}

// markdown writes the table of custosd's options for docs/operating.md
// (TestConfigDoc keeps the two equal).
func markdown(w io.Writer, fs *flag.FlagSet, home string) error {
	return flagfile.Markdown(w, fs, configRules(), home)
}
