package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/passphrase"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// TestAddressTrustsOnlyThePinnedWallet: address show and verify unlock the
// key and trust the descriptor only once signer.state authenticates it and
// this signer's key is in it. A descriptor swapped in (another wallet, the
// same key in another wallet, a wallet without the key), an edited state
// record or a missing passphrase is refused, and nothing is printed as the
// wallet's or written.
func TestAddressTrustsOnlyThePinnedWallet(t *testing.T) {
	own, err := multisig.ParseKeyRecord(recordArt, reserve.Regtest)
	require.NoError(t, err)
	other := MustDescriptor(t, 2, MustCosigner(t, 1), MustCosigner(t, 2), MustCosigner(t, 3))
	sameKey := MustDescriptor(t, 2, MustCosigner(t, 4), own, MustCosigner(t, 5))
	absent := MustDescriptor(t, 1, MustCosigner(t, 1), MustCosigner(t, 2))
	swap := func(d *multisig.Descriptor) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, signer.DescriptorFileName), []byte(d.String()+"\n"), 0o600))
		}
	}
	editState := func(t *testing.T, dir string) {
		path := filepath.Join(dir, signer.StateFileName)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		edited := strings.Replace(string(data), "receive_next 0\n", "receive_next 900\n", 1)
		require.NotEqual(t, string(data), edited)
		require.NoError(t, os.WriteFile(path, []byte(edited), 0o600))
	}
	tests := []struct {
		name       string
		change     func(t *testing.T, dir string)
		shown      *multisig.Descriptor // the wallet whose address is asked about
		passphrase string
		want       []string
	}{
		{name: "another wallet", change: swap(other), shown: other, passphrase: testPassphrase,
			want: []string{"the pinned descriptor", signer.DescriptorFileName, "is not the one", signer.StateFileName + " records"}},
		{name: "same key in another wallet", change: swap(sameKey), shown: sameKey, passphrase: testPassphrase,
			want: []string{"the pinned descriptor", "is not the one", signer.StateFileName + " records"}},
		{name: "key absent", change: swap(absent), shown: absent, passphrase: testPassphrase,
			want: []string{"the pinned descriptor", "is not the one", signer.StateFileName + " records"}},
		{name: "state edited", change: editState, passphrase: testPassphrase,
			want: []string{signer.StateFileName, "does not authenticate under this signer's key"}},
		{name: "no passphrase", want: []string{"no passphrase available"}},
		{name: "wrong passphrase", passphrase: "not it", want: []string{"passphrase"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, d := MustPinnedWallet(t)
			if tt.change != nil {
				tt.change(t, dir)
			}
			if tt.shown == nil {
				tt.shown = d
			}
			addr := MustDerive(t, tt.shown, reserve.BranchReceive, 3).Address
			before := dirFiles(t, dir)
			env := func(string) (string, bool) { return tt.passphrase, tt.passphrase != "" }
			for _, args := range [][]string{
				{"address", "show", "--index", "3"},
				{"address", "show", "--index", "3", "--json"},
				{"address", "verify", addr},
				{"address", "verify", addr, "--index", "3"},
				{"address", "verify", addr, "--no-record", "--json"},
			} {
				r := runEnv(t, env, append(args, "--datadir", dir)...)
				require.Equal(t, 1, r.code, "%v: %s", args, r.stderr)
				for _, w := range tt.want {
					require.Contains(t, r.stderr, w, "%v", args)
				}
				require.Empty(t, r.stdout, "%v", args)
				require.NotContains(t, r.stderr, "VERIFIED")
			}
			require.Equal(t, before, dirFiles(t, dir), "nothing written")
		})
	}
}

// runEnv runs the program with env as its environment and no terminal.
func runEnv(t *testing.T, env func(string) (string, bool), args ...string) result {
	t.Helper()
	var out, errOut strings.Builder
	c := &cli{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		lookupEnv: func(name string) (string, bool) {
			if name != signer.EnvPassphrase {
				return "", false
			}
			return env(name)
		},
		prompt:  func(context.Context, string) ([]byte, error) { return nil, passphrase.ErrNoTerminal },
		homeDir: func() (string, error) { return "", os.ErrNotExist },
	}
	err := c.run(context.Background(), args)
	code := exitCode(err, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), err: err, code: code}
}
