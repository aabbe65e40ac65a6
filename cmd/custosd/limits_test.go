package main

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/custos-reserve/custos/daemon"
)

// TestRateFlags checks --rpc.rate and --rpc.burst: the defaults, 0 for no
// limit, and the values refused.
func TestRateFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		rate  rate.Limit
		burst int
		err   string
	}{
		{name: "defaults", rate: daemon.DefaultRate, burst: daemon.DefaultBurst},
		{name: "given", args: []string{"--rpc.rate", "2.5", "--rpc.burst", "5"}, rate: 2.5, burst: 5},
		{name: "no limit", args: []string{"--rpc.rate", "0"}, rate: rate.Inf, burst: daemon.DefaultBurst},
		{name: "negative rate", args: []string{"--rpc.rate", "-1"}, err: "--rpc.rate"},
		{name: "burst 0", args: []string{"--rpc.burst", "0"}, err: "--rpc.burst"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, io.Discard)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.rate, rpcRate(o.rpcRate))
			require.Equal(t, tc.burst, o.rpcBurst)
		})
	}
}
