package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// MustPinnedWallet makes a signer data directory with the "abandon … art"
// key and a 2-of-3 descriptor holding it in second place, registered as
// the operator would (state record, derived-address file).
func MustPinnedWallet(tb testing.TB) (string, *multisig.Descriptor) {
	tb.Helper()
	dir := tb.TempDir()
	MustRestore(tb, dir)
	own, err := multisig.ParseKeyRecord(recordArt, reserve.Regtest)
	require.NoError(tb, err)
	d := MustDescriptor(tb, 2, MustCosigner(tb, 1), own, MustCosigner(tb, 2))
	key, err := signer.Unlock(dir, []byte(testPassphrase))
	require.NoError(tb, err)
	defer key.Zero()
	_, err = signer.Register(dir, key, d.String(), false)
	require.NoError(tb, err)
	return dir, d
}

func MustDerive(tb testing.TB, d *multisig.Descriptor, b reserve.Branch, i uint32) multisig.Derived {
	tb.Helper()
	got, err := d.Derive(b, i)
	require.NoError(tb, err)
	return got
}

func TestAddressShow(t *testing.T) {
	dir, d := MustPinnedWallet(t)
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	tests := []struct {
		name   string
		args   []string
		branch reserve.Branch
		index  uint32
	}{
		{name: "first receive", args: []string{"--index", "0"}, branch: reserve.BranchReceive, index: 0},
		{name: "receive", args: []string{"--index", "41"}, branch: reserve.BranchReceive, index: 41},
		{name: "change", args: []string{"--index", "7", "--change"}, branch: reserve.BranchChange, index: 7},
		{name: "last unhardened", args: []string{"--change", "--index", "2147483647"}, branch: reserve.BranchChange, index: 1<<31 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := MustDerive(t, d, tt.branch, tt.index)
			r := runCLI(t, "", append([]string{"address", "show", "--datadir", dir, "--json"}, tt.args...)...)
			require.NoError(t, r.err, r.stderr)
			out := decode[addressOutput](t, r.stdout)
			require.Equal(t, want.Address, out.Address)
			require.Equal(t, tt.branch.String(), out.Branch)
			require.Equal(t, tt.index, out.Index)
			require.Equal(t, d.WalletID(), out.WalletID)
			require.Equal(t, "regtest", out.Network)
			require.Equal(t, 2, out.Threshold)
			require.Equal(t, 3, out.Total)
			require.Len(t, out.Paths, 3)
			require.Equal(t, pathEntry{Position: 2, Path: fmt.Sprintf("5436d724/48'/1'/0'/2'/%d/%d", tt.branch, tt.index), ThisSigner: true}, out.Paths[1])
			require.False(t, out.Paths[0].ThisSigner)
			require.Nil(t, out.Searched)

			r = runCLI(t, "", append([]string{"address", "show", "--datadir", dir}, tt.args...)...)
			require.NoError(t, r.err, r.stderr)
			require.Contains(t, r.stdout, "Address:  "+want.Address+"\n")
			require.Contains(t, r.stdout, fmt.Sprintf("Branch:   %s, index %d\n", tt.branch, tt.index))
			require.Contains(t, r.stdout, "Wallet:   "+d.WalletID()+" (2-of-3 P2WSH sortedmulti on regtest)")
			require.Contains(t, r.stdout, fmt.Sprintf("   2. 5436d724/48'/1'/0'/2'/%d/%d  (this signer)\n", tt.branch, tt.index))
		})
	}

	refused := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "no index", args: []string{"address", "show"}, code: 2, want: "--index is required"},
		{name: "negative index", args: []string{"address", "show", "--index", "-2"}, code: 2, want: "--index -2 is not from 0 to 2147483647"},
		{name: "hardened index", args: []string{"address", "show", "--index", "2147483648"}, code: 2, want: "--index 2147483648 is not from 0 to 2147483647"},
		{name: "extra argument", args: []string{"address", "show", "--index", "1", "now"}, code: 2, want: `unexpected argument "now"`},
		{name: "no subcommand", args: []string{"address"}, code: 2, want: "want 'address show' or 'address verify'"},
		{name: "unknown subcommand", args: []string{"address", "new"}, code: 2, want: `unknown command "new"`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", append(tt.args, "--datadir", dir)...)
			require.Equal(t, tt.code, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
		})
	}
}

func TestAddressVerify(t *testing.T) {
	dir, d := MustPinnedWallet(t)
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	window := uint32(signer.DerivedWindow)

	found := []struct {
		name   string
		branch reserve.Branch
		index  uint32
		upper  bool
	}{
		{name: "first receive", branch: reserve.BranchReceive, index: 0},
		{name: "receive", branch: reserve.BranchReceive, index: 123},
		{name: "change", branch: reserve.BranchChange, index: 5},
		{name: "last change in the window", branch: reserve.BranchChange, index: window - 1},
		{name: "upper case", branch: reserve.BranchReceive, index: 2, upper: true},
	}
	for _, tt := range found {
		t.Run(tt.name, func(t *testing.T) {
			want := MustDerive(t, d, tt.branch, tt.index)
			addr := want.Address
			if tt.upper {
				addr = strings.ToUpper(addr)
			}
			r := runCLI(t, "", "address", "verify", addr, "--datadir", dir, "--json")
			require.NoError(t, r.err, r.stderr)
			out := decode[addressOutput](t, r.stdout)
			require.Equal(t, want.Address, out.Address)
			require.Equal(t, tt.branch.String(), out.Branch)
			require.Equal(t, tt.index, out.Index)
			require.Equal(t, d.WalletID(), out.WalletID)
			require.Equal(t, &searched{Receive: window, Change: window}, out.Searched)
			require.Equal(t, fmt.Sprintf("5436d724/48'/1'/0'/2'/%d/%d", tt.branch, tt.index), out.Paths[1].Path)

			// Flags first, as text.
			r = runCLI(t, "", "address", "verify", "--datadir", dir, addr)
			require.NoError(t, r.err, r.stderr)
			require.True(t, strings.HasPrefix(r.stdout, "VERIFIED: this address belongs to wallet "+d.WalletID()+".\n"), r.stdout)
			require.Contains(t, r.stdout, fmt.Sprintf("Branch:   %s, index %d\n", tt.branch, tt.index))
		})
	}

	// Other networks' addresses of the same scripts, and a P2WPKH one.
	script := MustDerive(t, d, reserve.BranchReceive, 0).PkScript
	mainnet := multisig.ScriptAddress(script, reserve.Mainnet)
	testnet := multisig.ScriptAddress(script, reserve.Testnet)
	p2wpkh := multisig.ScriptAddress(append([]byte{0x00, 0x14}, make([]byte, 20)...), reserve.Regtest)
	beyond := MustDerive(t, d, reserve.BranchReceive, window).Address
	refused := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "beyond the window", args: []string{beyond}, code: 1,
			want: fmt.Sprintf("address not found in the wallet: not among the first %d receive and %d change addresses of wallet %s", window, window, d.WalletID())},
		{name: "mainnet", args: []string{mainnet}, code: 1, want: "address: \"" + mainnet + "\" is a mainnet address; this wallet is on regtest"},
		{name: "testnet", args: []string{testnet}, code: 1, want: "is a testnet address; this wallet is on regtest"},
		{name: "p2wpkh", args: []string{p2wpkh}, code: 1, want: "is not a P2WSH address"},
		{name: "bad checksum", args: []string{beyond[:len(beyond)-1] + "q"}, code: 1, want: "is not a regtest Bitcoin address"},
		{name: "not an address", args: []string{"hello\x1b[2J"}, code: 1, want: `address: "hello\x1b[2J" is not a regtest Bitcoin address`},
		{name: "too long", args: []string{strings.Repeat("q", 91)}, code: 1, want: "address: not a Bitcoin address (91 characters"},
		{name: "no address", args: nil, code: 2, want: "want the ADDRESS to verify"},
		{name: "two addresses", args: []string{beyond, mainnet}, code: 2, want: "verify one address at a time"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", append([]string{"address", "verify", "--datadir", dir}, tt.args...)...)
			require.Equal(t, tt.code, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
			require.Empty(t, r.stdout)
			require.NotContains(t, r.stderr, "\x1b", "nothing raw reaches the terminal")
		})
	}
}

func TestAddressNothingPinned(t *testing.T) {
	keyOnly := t.TempDir()
	MustRestore(t, keyOnly)
	empty := t.TempDir()
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	p2wsh := multisig.ScriptAddress(append([]byte{0x00, 0x20}, make([]byte, 32)...), reserve.Regtest)
	tests := []struct {
		name string
		dir  string
		args []string
		want string
	}{
		{name: "show, no descriptor", dir: keyOnly, args: []string{"address", "show", "--index", "0"}, want: "no wallet descriptor registered"},
		{name: "verify, no descriptor", dir: keyOnly, args: []string{"address", "verify", p2wsh}, want: "no wallet descriptor registered"},
		{name: "show, no key", dir: empty, args: []string{"address", "show", "--index", "0"}, want: "no key file"},
		{name: "verify, no key", dir: empty, args: []string{"address", "verify", "bcrt1qxyz"}, want: "no key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", append(tt.args, "--datadir", tt.dir)...)
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, tt.want)
			require.Empty(t, r.stdout)
			require.NoFileExists(t, filepath.Join(tt.dir, signer.DescriptorFileName), "nothing written")
		})
	}
}

// TestAddressVerifyWidensTheWindow: a deposit address the coordinator
// handed out past the signer's window is found with --index (one
// derivation), and verifying it moves the window to it under the key, so
// the coin can later be signed for; --no-record and a refusal change no
// file.
func TestAddressVerifyWidensTheWindow(t *testing.T) {
	dir, d := MustPinnedWallet(t)
	w := uint32(signer.IndexWindow)
	far := MustDerive(t, d, reserve.BranchReceive, w+500)
	t.Setenv(signer.EnvPassphrase, testPassphrase)

	// Searching does not reach it.
	r := runCLI(t, "", "address", "verify", far.Address, "--datadir", dir)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, fmt.Sprintf("not among the first %d receive and %d change addresses", w, w))

	// A wrong index names the address that is there.
	before := dirFiles(t, dir)
	r = runCLI(t, "", "address", "verify", far.Address, "--index", fmt.Sprint(w+499), "--datadir", dir)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, fmt.Sprintf("receive address at index %d is %s", w+499, MustDerive(t, d, reserve.BranchReceive, w+499).Address))
	// Only checking writes nothing.
	r = runCLI(t, "", "address", "verify", far.Address, "--index", fmt.Sprint(w+500), "--no-record", "--datadir", dir, "--json")
	require.NoError(t, r.err, r.stderr)
	out := decode[addressOutput](t, r.stdout)
	require.Equal(t, w+500, out.Index)
	require.Equal(t, &searched{Receive: w, Change: w}, out.Window)
	require.Equal(t, before, dirFiles(t, dir), "nothing written")

	r = runCLI(t, "", "address", "verify", far.Address, "--index", fmt.Sprint(w+500), "--datadir", dir, "--json")
	require.NoError(t, r.err, r.stderr)
	out = decode[addressOutput](t, r.stdout)
	require.Equal(t, &searched{Receive: 2*w + 501, Change: w}, out.Window)
	seen, err := signer.Seen(dir)
	require.NoError(t, err)
	require.Equal(t, [2]uint32{w + 501, 0}, seen)

	// Now a search reaches it, and past it.
	beyond := MustDerive(t, d, reserve.BranchReceive, 2*w+500)
	r = runCLI(t, "", "address", "verify", beyond.Address, "--datadir", dir, "--json")
	require.NoError(t, r.err, r.stderr)
	require.Equal(t, 2*w+500, decode[addressOutput](t, r.stdout).Index)

	// One verification moves the window at most MaxSeenStep.
	tooFar := MustDerive(t, d, reserve.BranchChange, signer.MaxSeenStep+5)
	before = dirFiles(t, dir)
	r = runCLI(t, "", "address", "verify", tooFar.Address, "--index", fmt.Sprint(signer.MaxSeenStep+5), "--change", "--datadir", dir)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "verify addresses in between first")
	require.Equal(t, before, dirFiles(t, dir), "nothing written")
}

// TestHostileTextEscapedSigner: what custos-signer prints that came from
// the operator's files or arguments (a PSBT path, a descriptor, an
// address) reaches the terminal escaped, in its output and its errors.
func TestHostileTextEscapedSigner(t *testing.T) {
	dir, _ := MustPinnedWallet(t)
	const hostile = "evil\x1b[2J\u202e\nline"
	hostilePath := filepath.Join(t.TempDir(), hostile+".psbt")
	require.NoError(t, os.WriteFile(hostilePath, []byte("cHNidP8B"+hostile), 0o600))
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	for _, args := range [][]string{
		{"sign", "--in", hostilePath, "--out", filepath.Join(t.TempDir(), "out.psbt"), "--yes"},
		{"sign", "--in", hostilePath + ".missing", "--out", filepath.Join(t.TempDir(), "out.psbt"), "--yes"},
		{"register", "--descriptor", "wsh(" + hostile + ")"},
		{"address", "verify", hostile},
		{"address", "show", "--index", hostile},
	} {
		t.Run(args[0], func(t *testing.T) {
			r := runCLI(t, "", append(args, "--datadir", dir)...)
			require.Error(t, r.err)
			require.NotZero(t, r.code)
			for _, raw := range []string{"\x1b", "\u202e", "evil\nline"} {
				require.NotContains(t, r.stdout, raw)
				require.NotContains(t, r.stderr, raw)
			}
		})
	}
}
