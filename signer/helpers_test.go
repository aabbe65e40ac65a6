package signer_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// Known mnemonics and their BIP-48 P2WSH testnet key records (m/48'/1'/0'/2').
// The values were checked against independent implementations: the 24-word
// all-zero-entropy "abandon … art" mnemonic has master fingerprint 5436d724
// (buidl-python's generate_p2wsh_key_record test gives this exact record),
// and the 12-word "abandon … about" mnemonic has 73c5da0a (the record
// appears in Sparrow/Specter/embit/Liana test fixtures).
var (
	mnemonicArt   = strings.Repeat("abandon ", 23) + "art"
	recordArt     = "[5436d724/48'/1'/0'/2']tpubDFkN51vYF36W4Yfn3wGv5fpmRo3ok7vZZjc1gmRJjumq33L776e6GkP4HGdCVjDqYiBahXCrXQKja8aUZ2xovQNS8WkF46MdY7TLHJLYD7H"
	mnemonicAbout = strings.Repeat("abandon ", 11) + "about"
	recordAbout   = "[73c5da0a/48'/1'/0'/2']tpubDFH9dgzveyD8zTbPUFuLrGmCydNvxehyNdUXKJAQN8x4aZ4j6UZqGfnqFrD4NqyaTVGKbvEW54tsvPTK2UoSbCC1PJY8iCNiwTL3RWZEheQ"
)

var testPassphrase = []byte("correct horse battery")

// cheapKDF keeps unit tests fast; the command line always uses the defaults.
var cheapKDF = signer.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// zeroRand is a fixed source of randomness: all-zero entropy gives the
// "abandon … art" mnemonic.
func zeroRand() io.Reader { return bytes.NewReader(make([]byte, 1024)) }

func testConfig() signer.Config {
	return signer.Config{Network: reserve.Regtest, KDF: cheapKDF, Rand: zeroRand()}
}

// MustInit creates the "abandon … art" key in dir with cheap KDF params.
func MustInit(tb testing.TB, dir string) reserve.Cosigner {
	tb.Helper()
	mnemonic, rec, err := signer.Init(dir, testConfig(), testPassphrase)
	require.NoError(tb, err)
	require.Equal(tb, mnemonicArt, mnemonic)
	return rec
}

// MustUnlock unlocks dir's key with testPassphrase.
func MustUnlock(tb testing.TB, dir string) *signer.Key {
	tb.Helper()
	k, err := signer.Unlock(dir, testPassphrase)
	require.NoError(tb, err)
	tb.Cleanup(k.Zero)
	return k
}

// MustCosigner derives a cosigner from a fixed seed filled with b.
func MustCosigner(tb testing.TB, b byte, n reserve.Network) reserve.Cosigner {
	tb.Helper()
	rec, xprv, err := multisig.DeriveAccount(bytes.Repeat([]byte{b}, 32), n, 0)
	require.NoError(tb, err)
	xprv.Zero()
	return rec
}

// MustDescriptor writes wsh(sortedmulti(m, keys…)) with a checksum and
// checks that multisig parses it for n.
func MustDescriptor(tb testing.TB, n reserve.Network, m int, keys ...reserve.Cosigner) string {
	tb.Helper()
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = multisig.FormatKeyRecord(k) + "/<0;1>/*"
	}
	body := fmt.Sprintf("wsh(sortedmulti(%d,%s))", m, strings.Join(parts, ","))
	sum, err := multisig.DescriptorChecksum(body)
	require.NoError(tb, err)
	desc := body + "#" + sum
	_, err = multisig.ParseDescriptor(desc, n)
	require.NoError(tb, err)
	return desc
}
