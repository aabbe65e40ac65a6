package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

func TestParsePayment(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		addr    string
		sat     int64
		wantErr string
	}{
		{name: "whole BTC", in: "bcrt1qpu3a4qrgmeav4zwjkxulszu73yuh336ese0tuu=60", addr: "bcrt1qpu3a4qrgmeav4zwjkxulszu73yuh336ese0tuu", sat: 6_000_000_000},
		{name: "satoshi", in: "addr=0.00000001", addr: "addr", sat: 1},
		{name: "eight decimals", in: "a=25.50000000", addr: "a", sat: 2_550_000_000},
		{name: "no equals", in: "bcrt1q", wantErr: "not ADDRESS=AMOUNT"},
		{name: "no address", in: "=1", wantErr: "not ADDRESS=AMOUNT"},
		{name: "no amount", in: "a=", wantErr: "not ADDRESS=AMOUNT"},
		{name: "zero", in: "a=0", wantErr: "more than zero"},
		{name: "nine decimals", in: "a=0.000000001", wantErr: "more than 8 decimals"},
		{name: "negative", in: "a=-1", wantErr: "not a decimal number"},
		{name: "over supply", in: "a=21000000.00000001", wantErr: "more than 21000000 BTC"},
		{name: "space in address", in: "a b=1", wantErr: "malformed address"},
		{name: "two equals", in: "a=b=1", wantErr: "malformed address"},
		{name: "long address", in: strings.Repeat("a", 129) + "=1", wantErr: "malformed address"},
		{name: "invalid UTF-8", in: "a\xff=1", wantErr: "not valid UTF-8"},
		{name: "exponent", in: "a=1e3", wantErr: "not a decimal number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, sat, err := parsePayment(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.addr, addr)
			require.Equal(t, tc.sat, sat)
		})
	}
}

// FuzzParsePayment: never panics; an accepted payment has a non-empty
// address, a positive amount within the supply, and prints back to an
// equivalent payment.
func FuzzParsePayment(f *testing.F) {
	for _, s := range []string{"bcrt1qpu3a4qrgmeav4zwjkxulszu73yuh336ese0tuu=60", "a=0.00000001", "a=21000000", "=", "a==1", "a=1.", "a=.5", "\xff=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, sat, err := parsePayment(s)
		if err != nil {
			return
		}
		if addr == "" || sat <= 0 || sat > reserve.MaxSat {
			t.Fatalf("accepted %q as %q, %d", s, addr, sat)
		}
		addr2, sat2, err := parsePayment(addr + "=" + reserve.FormatBTC(sat))
		if err != nil || addr2 != addr || sat2 != sat {
			t.Fatalf("%q does not round-trip: %q %d %v", s, addr2, sat2, err)
		}
	})
}
