package multisig

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// update rewrites the golden files in testdata/ from the code's output.
var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// MustReadJSON decodes testdata/name into v.
func MustReadJSON(tb testing.TB, name string, v any) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(tb, err)
	require.NoError(tb, json.Unmarshal(raw, v), "decoding %s", name)
}

// MustNetwork reads a network name used in the vector files.
func MustNetwork(tb testing.TB, name string) reserve.Network {
	tb.Helper()
	n, err := reserve.ParseNetwork(name)
	require.NoError(tb, err)
	return n
}

// MustBIP39Seed turns a BIP-39 mnemonic and passphrase into the 64-byte
// seed (PBKDF2-HMAC-SHA512, 2048 rounds, salt "mnemonic"+passphrase). The
// mnemonic's checksum is not verified: the vectors are known-good.
func MustBIP39Seed(tb testing.TB, mnemonic, passphrase string) []byte {
	tb.Helper()
	seed, err := pbkdf2.Key(sha512.New, mnemonic, []byte("mnemonic"+passphrase), 2048, 64)
	require.NoError(tb, err)
	return seed
}

// FixedSeed is a fixed 32-byte seed named by label: test keys come from
// fixed seeds, never from randomness.
func FixedSeed(label string) []byte {
	sum := sha256.Sum256([]byte("custos multisig test seed: " + label))
	return sum[:]
}

// MustCosigner derives the account-0 key record of the seed named label.
func MustCosigner(tb testing.TB, n reserve.Network, label string) reserve.Cosigner {
	tb.Helper()
	c, xprv, err := DeriveAccount(FixedSeed(label), n, 0)
	require.NoError(tb, err)
	xprv.Zero()
	return c
}

// MustCosigners derives the key records of seeds labelled "cosigner 1" …
func MustCosigners(tb testing.TB, n reserve.Network, count int) []reserve.Cosigner {
	tb.Helper()
	out := make([]reserve.Cosigner, count)
	for i := range out {
		out[i] = MustCosigner(tb, n, "cosigner "+string(rune('A'+i)))
	}
	return out
}

// MustDescriptor builds an m-of-count descriptor from fixed test seeds.
func MustDescriptor(tb testing.TB, n reserve.Network, m, count int) *Descriptor {
	tb.Helper()
	d, err := NewDescriptor(n, m, MustCosigners(tb, n, count))
	require.NoError(tb, err)
	return d
}

// MustKeyAt derives the seed named label along path with params' version
// bytes and returns the key record and the extended public key. It does not
// care whether path or params suit any wallet: the error tests need keys
// that do not.
func MustKeyAt(tb testing.TB, params *chaincfg.Params, label string, path []uint32) (reserve.Cosigner, *hdkeychain.ExtendedKey) {
	tb.Helper()
	master, err := hdkeychain.NewMaster(FixedSeed(label), params)
	require.NoError(tb, err)
	fp, err := MasterFingerprint(master)
	require.NoError(tb, err)
	key, err := DerivePath(master, path)
	require.NoError(tb, err)
	pub, err := key.Neuter()
	require.NoError(tb, err)
	return reserve.Cosigner{Fingerprint: fp, Path: path, XPub: pub.String()}, pub
}

// RequireInvalid checks that err is a *reserve.Error of code CodeInvalid
// whose field is field (when field is not empty) and whose text contains
// substr.
func RequireInvalid(tb testing.TB, err error, field, substr string) {
	tb.Helper()
	require.Error(tb, err)
	var e *reserve.Error
	require.True(tb, errors.As(err, &e), "error %q is not a *reserve.Error", err)
	require.Equal(tb, reserve.CodeInvalid, e.Code, "error %q", err)
	if field != "" {
		require.Equal(tb, field, e.Field, "error %q", err)
	}
	require.Contains(tb, err.Error(), substr)
}

// h marks a path step hardened.
func h(i uint32) uint32 { return i | hdkeychain.HardenedKeyStart }
