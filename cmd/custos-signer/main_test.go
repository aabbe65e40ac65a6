package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tyler-smith/go-bip39"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/passphrase"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

const testPassphrase = "correct horse battery"

// The BIP-48 testnet key record of the all-zero-entropy 24-word mnemonic
// "abandon … art" (master fingerprint 5436d724, checked against
// buidl-python's key record test).
var (
	mnemonicArt = strings.Repeat("abandon ", 23) + "art"
	recordArt   = "[5436d724/48'/1'/0'/2']tpubDFkN51vYF36W4Yfn3wGv5fpmRo3ok7vZZjc1gmRJjumq33L776e6GkP4HGdCVjDqYiBahXCrXQKja8aUZ2xovQNS8WkF46MdY7TLHJLYD7H"
)

type result struct {
	stdout, stderr string
	err            error
	code           int
}

// runCLI runs the real program with stdin and returns what it printed and
// its exit status.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	code := exitCode(err, &errOut)
	return result{stdout: out.String(), stderr: errOut.String(), err: err, code: code}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&v), "output: %s", s)
	return v
}

// MustRestore writes the "abandon … art" key to dir with cheap KDF
// parameters, so that commands which only unlock stay fast; the file
// carries its parameters, so the program opens it like any other.
func MustRestore(tb testing.TB, dir string) {
	tb.Helper()
	cfg := signer.Config{Network: reserve.Regtest, KDF: signer.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}}
	_, err := signer.Restore(dir, cfg, mnemonicArt, []byte(testPassphrase))
	require.NoError(tb, err)
}

func MustCosigner(tb testing.TB, b byte) reserve.Cosigner {
	tb.Helper()
	rec, xprv, err := multisig.DeriveAccount(bytes.Repeat([]byte{b}, 32), reserve.Regtest, 0)
	require.NoError(tb, err)
	xprv.Zero()
	return rec
}

func MustDescriptor(tb testing.TB, m int, keys ...reserve.Cosigner) *multisig.Descriptor {
	tb.Helper()
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = multisig.FormatKeyRecord(k) + "/<0;1>/*"
	}
	body := fmt.Sprintf("wsh(sortedmulti(%d,%s))", m, strings.Join(parts, ","))
	sum, err := multisig.DescriptorChecksum(body)
	require.NoError(tb, err)
	d, err := multisig.ParseDescriptor(body+"#"+sum, reserve.Regtest)
	require.NoError(tb, err)
	return d
}

func TestInitJSONThenXpub(t *testing.T) {
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	dir := filepath.Join(t.TempDir(), "signer")

	r := runCLI(t, "", "init", "--datadir", dir, "--network", "regtest", "--json")
	require.NoError(t, r.err, r.stderr)
	out := decode[keyOutput](t, r.stdout)
	require.Len(t, strings.Fields(out.Mnemonic), 24)
	require.True(t, bip39.IsMnemonicValid(out.Mnemonic))
	require.Contains(t, out.Warning, "will not be shown again")
	require.NotNil(t, out.Restored)
	require.False(t, *out.Restored)
	require.Equal(t, "regtest", out.Network)
	require.Equal(t, uint32(0), out.Account)
	require.Equal(t, "48'/1'/0'/2'", out.Path)
	require.Equal(t, filepath.Join(dir, signer.KeyFileName), out.KeyFile)
	require.Equal(t, fmt.Sprintf("[%s/%s]%s", out.Fingerprint, out.Path, out.XPub), out.KeyRecord)

	// The printed mnemonic is the key: derive it independently.
	rec, xprv, err := multisig.DeriveAccount(bip39.NewSeed(out.Mnemonic, ""), reserve.Regtest, 0)
	require.NoError(t, err)
	xprv.Zero()
	require.Equal(t, multisig.FormatKeyRecord(rec), out.KeyRecord)

	// The command line always uses the default KDF cost.
	kf, err := signer.ReadKeyFile(dir)
	require.NoError(t, err)
	require.Equal(t, signer.DefaultKDFParams(), kf.KDF)
	st, err := os.Stat(out.KeyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	r = runCLI(t, "", "xpub", "--datadir", dir, "--json")
	require.NoError(t, r.err, r.stderr)
	x := decode[keyOutput](t, r.stdout)
	require.Equal(t, out.KeyRecord, x.KeyRecord)
	require.Empty(t, x.Mnemonic)
	require.Nil(t, x.Restored)
	require.NotContains(t, r.stdout+r.stderr, strings.Fields(out.Mnemonic)[0]+" "+strings.Fields(out.Mnemonic)[1])

	// A second init never overwrites the key.
	before, err := os.ReadFile(out.KeyFile)
	require.NoError(t, err)
	r = runCLI(t, "", "init", "--datadir", dir, "--network", "regtest")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "custos-signer: refusing to overwrite")
	require.Empty(t, r.stdout)
	after, err := os.ReadFile(out.KeyFile)
	require.NoError(t, err)
	require.Equal(t, before, after)
}

func TestInitText(t *testing.T) {
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	dir := t.TempDir()
	r := runCLI(t, "", "init", "--datadir", dir, "--network", "testnet", "--account", "3")
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "IMPORTANT")
	require.Contains(t, r.stdout, "They will not be shown again.")
	require.Contains(t, r.stdout, " 1. ")
	require.Contains(t, r.stdout, "24. ")
	require.Contains(t, r.stdout, "Key record (give this to the coordinator):")
	require.Regexp(t, `\[[0-9a-f]{8}/48'/1'/3'/2'\]tpub`, r.stdout)
	require.Contains(t, r.stdout, "Network: testnet, account 3")
}

func TestRestore(t *testing.T) {
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	dir := t.TempDir()
	r := runCLI(t, mnemonicArt+"\nignored second line\n", "init", "--restore", "--datadir", dir, "--network", "regtest", "--json")
	require.NoError(t, r.err, r.stderr)
	out := decode[keyOutput](t, r.stdout)
	require.Equal(t, recordArt, out.KeyRecord)
	require.Equal(t, "5436d724", out.Fingerprint)
	require.Empty(t, out.Mnemonic, "a restored mnemonic is never printed back")
	require.Empty(t, out.Warning)
	require.True(t, *out.Restored)
	require.NotContains(t, r.stdout, "abandon")

	badWord := strings.Replace(mnemonicArt, "abandon", "abandun", 1)
	tests := []struct {
		name  string
		stdin string
		want  string
	}{
		{name: "bad word", stdin: badWord + "\n", want: "word 1 is not in the BIP-39 English word list"},
		{name: "bad checksum", stdin: strings.Repeat("abandon ", 24) + "\n", want: "checksum does not match"},
		{name: "too few words", stdin: "abandon art\n", want: "has 2 words"},
		{name: "nothing", stdin: "", want: "no mnemonic on standard input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := runCLI(t, tt.stdin, "init", "--restore", "--datadir", dir, "--network", "regtest")
			require.Equal(t, 1, r.code)
			require.Contains(t, r.stderr, tt.want)
			require.NotContains(t, r.stderr, "abandun")
			require.NoFileExists(t, filepath.Join(dir, signer.KeyFileName))
		})
	}
}

func TestPassphraseSourcesCLI(t *testing.T) {
	dir := t.TempDir()
	MustRestore(t, dir)

	// From a file.
	file := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(file, []byte(testPassphrase+"\n"), 0o600))
	r := runCLI(t, "", "xpub", "--datadir", dir, "--passphrase-file", file)
	require.NoError(t, r.err, r.stderr)
	require.Equal(t, recordArt+"\n", r.stdout)

	// Wrong passphrase from the env.
	t.Setenv(signer.EnvPassphrase, "not the passphrase")
	r = runCLI(t, "", "xpub", "--datadir", dir)
	require.Equal(t, 1, r.code)
	require.Equal(t, "custos-signer: unable to unlock "+filepath.Join(dir, signer.KeyFileName)+": wrong passphrase or corrupted key file\n", r.stderr)

	// Env and file together is ambiguous.
	r = runCLI(t, "", "xpub", "--datadir", dir, "--passphrase-file", file)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "use one")

	// No env, no file, no terminal.
	require.NoError(t, os.Unsetenv(signer.EnvPassphrase))
	var out, errOut bytes.Buffer
	c := &cli{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errOut,
		lookupEnv: func(string) (string, bool) { return "", false },
		prompt:    func(context.Context, string) ([]byte, error) { return nil, passphrase.ErrNoTerminal },
		homeDir:   os.UserHomeDir,
	}
	err := c.run(context.Background(), []string{"xpub", "--datadir", dir})
	require.ErrorIs(t, err, passphrase.ErrNoPassphrase)
	require.Equal(t, 1, exitCode(err, &errOut))
	require.Contains(t, errOut.String(), "set CUSTOS_SIGNER_PASSPHRASE or pass --passphrase-file FILE")

	// A terminal: init asks twice.
	var asked []string
	c.prompt = func(_ context.Context, label string) ([]byte, error) {
		asked = append(asked, label)
		return []byte("typed on the terminal"), nil
	}
	c.stdin = strings.NewReader(mnemonicArt + "\n")
	newDir := t.TempDir()
	require.NoError(t, c.run(context.Background(), []string{"init", "--restore", "--network", "regtest", "--datadir", newDir}))
	require.Len(t, asked, 2)
	require.Contains(t, out.String(), recordArt)
}

func TestRegister(t *testing.T) {
	t.Setenv(signer.EnvPassphrase, testPassphrase)
	dir := t.TempDir()
	MustRestore(t, dir)
	b, c, d := MustCosigner(t, 1), MustCosigner(t, 2), MustCosigner(t, 3)
	ownRec, err := multisig.ParseKeyRecord(recordArt, reserve.Regtest)
	require.NoError(t, err)
	pinned := filepath.Join(dir, signer.DescriptorFileName)

	// Absent key: refused, nothing pinned.
	absent := MustDescriptor(t, 2, b, c, d)
	r := runCLI(t, "", "register", "--datadir", dir, "--descriptor", absent.String())
	require.Equal(t, 1, r.code)
	require.Equal(t, "custos-signer: this signer's key "+recordArt+" is not in the descriptor\n", r.stderr)
	require.NoFileExists(t, pinned)

	// Present: pinned, JSON tells everything the officers compare.
	wallet := MustDescriptor(t, 2, b, ownRec, c)
	first, err := wallet.Derive(reserve.BranchReceive, 0)
	require.NoError(t, err)
	r = runCLI(t, "", "register", "--datadir", dir, "--descriptor", wallet.String(), "--json")
	require.NoError(t, r.err, r.stderr)
	out := decode[registerOutput](t, r.stdout)
	require.Equal(t, registerOutput{
		Status:    "registered",
		WalletID:  wallet.WalletID(),
		Network:   "regtest",
		Threshold: 2,
		Total:     3,
		Position:  2,
		Cosigners: []cosignerEntry{
			{Position: 1, KeyRecord: multisig.FormatKeyRecord(b)},
			{Position: 2, KeyRecord: recordArt, ThisSigner: true},
			{Position: 3, KeyRecord: multisig.FormatKeyRecord(c)},
		},
		FirstAddress: first.Address,
		Descriptor:   wallet.String(),
	}, out)
	data, err := os.ReadFile(pinned)
	require.NoError(t, err)
	require.Equal(t, wallet.String()+"\n", string(data))

	// Again, as text: idempotent, and the text shows the same facts.
	r = runCLI(t, "", "register", "--datadir", dir, "--descriptor", wallet.String())
	require.NoError(t, r.err, r.stderr)
	require.Contains(t, r.stdout, "Already registered; nothing changed.")
	require.Contains(t, r.stdout, "Wallet:    "+wallet.WalletID())
	require.Contains(t, r.stdout, "2-of-3")
	require.Contains(t, r.stdout, "This signer is cosigner 2 of 3.")
	require.Contains(t, r.stdout, "   2. "+recordArt+"  (this signer)\n")
	require.Contains(t, r.stdout, "   1. "+multisig.FormatKeyRecord(b)+"\n")
	require.Contains(t, r.stdout, "First receive address: "+first.Address)

	// A different wallet needs --replace.
	other := MustDescriptor(t, 2, ownRec, b, d)
	r = runCLI(t, "", "register", "--datadir", dir, "--descriptor", other.String())
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "a different wallet descriptor is already registered")
	require.Contains(t, r.stderr, wallet.WalletID())
	require.Contains(t, r.stderr, "pass --replace")
	data, err = os.ReadFile(pinned)
	require.NoError(t, err)
	require.Equal(t, wallet.String()+"\n", string(data))

	r = runCLI(t, "", "register", "--datadir", dir, "--descriptor", other.String(), "--replace", "--json")
	require.NoError(t, r.err, r.stderr)
	out = decode[registerOutput](t, r.stdout)
	require.Contains(t, r.stdout, "/<0;1>/*", "JSON keeps descriptors readable")
	require.Equal(t, "replaced", out.Status)
	require.Equal(t, wallet.String(), out.Replaced)
	require.Equal(t, other.WalletID(), out.WalletID)
	require.Equal(t, 1, out.Position)
	require.True(t, out.Cosigners[0].ThisSigner)

	// Wrong network: a mainnet wallet for a regtest signer.
	mainOwn, xprv, err := multisig.DeriveAccount(bip39.NewSeed(mnemonicArt, ""), reserve.Mainnet, 0)
	require.NoError(t, err)
	xprv.Zero()
	mainnet := strings.ReplaceAll(other.String(), recordArt, multisig.FormatKeyRecord(mainOwn))
	r = runCLI(t, "", "register", "--datadir", dir, "--descriptor", mainnet, "--replace")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "not a valid regtest wallet descriptor")
	data, err = os.ReadFile(pinned)
	require.NoError(t, err)
	require.Equal(t, other.String()+"\n", string(data))
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{name: "no command", args: nil, code: 2, stderr: "custos-signer: no command given"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`},
		{name: "help", args: []string{"help"}, code: 0, stdout: "register  check the wallet descriptor"},
		{name: "--help", args: []string{"--help"}, code: 0, stdout: "Commands:"},
		{name: "help init", args: []string{"help", "init"}, code: 0, stdout: "-network"},
		{name: "init -h", args: []string{"init", "-h"}, code: 0, stdout: "-restore"},
		{name: "register --help", args: []string{"register", "--help"}, code: 0, stdout: "-replace"},
		{name: "xpub -h", args: []string{"xpub", "-h"}, code: 0, stdout: "-passphrase-file"},
		{name: "unknown flag", args: []string{"xpub", "--passphrase", "x"}, code: 2, stderr: "flag provided but not defined: -passphrase"},
		{name: "extra argument", args: []string{"xpub", "now"}, code: 2, stderr: `unexpected argument "now"`},
		{name: "init without network", args: []string{"init", "--datadir", "x"}, code: 2, stderr: "--network is required"},
		{name: "init bad network", args: []string{"init", "--datadir", "x", "--network", "moon"}, code: 2, stderr: `unknown network "moon"`},
		{name: "init hardened account", args: []string{"init", "--datadir", "x", "--network", "regtest", "--account", "2147483648"}, code: 2, stderr: "not below 2^31"},
		{name: "register without descriptor or policy", args: []string{"register", "--datadir", "x"}, code: 2, stderr: "--descriptor, --policy or --log-key is required"},
		{name: "register --replace without descriptor", args: []string{"register", "--datadir", "x", "--policy", "p.yaml", "--replace"}, code: 2, stderr: "--replace replaces a descriptor"},
		{name: "register --chain without policy", args: []string{"register", "--datadir", "x", "--chain", "c.json"}, code: 2, stderr: "--descriptor, --policy or --log-key is required"},
		{name: "register --chain with a descriptor only", args: []string{"register", "--datadir", "x", "--descriptor", "wsh()", "--chain", "c.json"}, code: 2, stderr: "register: --chain goes with --policy"},
		{name: "register --replace with --policy", args: []string{"register", "--datadir", "x", "--descriptor", "wsh()", "--replace", "--policy", "p.yaml"}, code: 2, stderr: "in two steps"},
		{name: "register --help names --chain", args: []string{"register", "--help"}, code: 0, stdout: "-chain FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, "", tt.args...)
			require.Equal(t, tt.code, r.code, "stderr: %s", r.stderr)
			if tt.stdout != "" {
				require.Contains(t, r.stdout, tt.stdout)
			}
			if tt.stderr != "" {
				require.Contains(t, r.stderr, tt.stderr)
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				require.True(t, strings.HasPrefix(lines[len(lines)-1], "custos-signer: "), r.stderr)
			}
		})
	}
}

func TestDefaultDatadir(t *testing.T) {
	home := t.TempDir()
	var out bytes.Buffer
	c := &cli{
		stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard,
		lookupEnv: func(string) (string, bool) { return testPassphrase, true },
		homeDir:   func() (string, error) { return home, nil },
	}
	MustRestore(t, filepath.Join(home, ".custos-signer"))
	require.NoError(t, c.run(context.Background(), []string{"xpub"}))
	require.Equal(t, recordArt+"\n", out.String())

	c.homeDir = func() (string, error) { return "", os.ErrNotExist }
	err := c.run(context.Background(), []string{"xpub"})
	require.ErrorContains(t, err, "pass --datadir")
	require.Equal(t, 2, exitCode(err, io.Discard))
}
