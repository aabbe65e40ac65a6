package multisig

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// hdkeychainScripts derives the wallet's keys and script at path the slow,
// independent way: hdkeychain's CKDpub from each cosigner's branch key.
func hdkeychainScripts(t *testing.T, d *Descriptor, path keyPath) ([][]byte, []byte) {
	t.Helper()
	keys := make([][]byte, len(d.cosigners))
	for c, branch := range d.branches[path.Branch] {
		child, err := branch.Derive(path.Index)
		require.NoError(t, err)
		pub, err := child.ECPubKey()
		require.NoError(t, err)
		keys[c] = pub.SerializeCompressed()
	}
	ws, err := sortedMultiScript(d.threshold, keys)
	require.NoError(t, err)
	return keys, ws
}

// key returns cosigner c's child key at path as a curve point, for the
// tests to compare with hdkeychain's.
func (kr *keyring) key(c int, path keyPath) (*btcec.PublicKey, error) {
	if err := checkPath(path); err != nil {
		return nil, fmt.Errorf("no wallet key at %s: %w", path, err)
	}
	s, err := kr.derive(path)
	if err != nil {
		return nil, err
	}
	return btcec.ParsePubKey(s.keys[c])
}

// TestKeyringMatchesHDKeychain holds the keyring's derivation (and so
// Derive, CreatePSBT, Analyze, SignPSBT and CombinePSBT) to hdkeychain's,
// both when it computes an address and when it looks it up again.
func TestKeyringMatchesHDKeychain(t *testing.T) {
	for _, d := range []*Descriptor{
		MustPSBTWallet(t, "keyring", 2, 3).d,
		MustPSBTWallet(t, "keyring", 3, 5).d,
		MustDescriptor(t, reserve.Regtest, reserve.MaxCosigners, reserve.MaxCosigners),
		MustDescriptor(t, reserve.Mainnet, 1, 1),
	} {
		kr := d.kr
		for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
			for _, index := range []uint32{0, 1, 2, 7, 100, 65_536, 1<<31 - 1} {
				path := keyPath{b, index}
				wantKeys, wantScript := hdkeychainScripts(t, d, path)
				for range 2 { // computed, then looked up
					got, err := kr.derive(path)
					require.NoError(t, err)
					require.Equal(t, wantKeys, got.keys, "%s at %s", d.WalletID(), path)
					require.Equal(t, wantScript, got.witnessScript)
					require.Equal(t, p2wsh(wantScript), got.pkScript)
					pub, err := d.Derive(b, index)
					require.NoError(t, err)
					require.Equal(t, wantKeys, pub.PubKeys)
					require.Equal(t, wantScript, pub.WitnessScript)
					for c := range wantKeys {
						pub, err := kr.key(c, path)
						require.NoError(t, err)
						require.Equal(t, wantKeys[c], pub.SerializeCompressed())
					}
				}
			}
		}
		_, err := kr.derive(keyPath{reserve.BranchChange, 1 << 31})
		require.ErrorContains(t, err, "not below 2^31")
		_, err = kr.derive(keyPath{2, 0})
		require.ErrorContains(t, err, "unknown branch 2")
		_, err = kr.key(0, keyPath{2, 0})
		require.ErrorContains(t, err, "no wallet key at 2/0")
	}
}

// TestDeriveResultIsTheCallers checks that modifying what Derive returns
// does not reach the addresses the descriptor keeps.
func TestDeriveResultIsTheCallers(t *testing.T) {
	d := MustPSBTWallet(t, "derive copy", 2, 3).d
	first, err := d.Derive(reserve.BranchReceive, 5)
	require.NoError(t, err)
	want, err := d.Derive(reserve.BranchReceive, 5)
	require.NoError(t, err)
	for _, b := range [][]byte{first.WitnessScript, first.PkScript, first.PubKeys[0], first.PubKeys[2]} {
		b[len(b)-1] ^= 0xff
	}
	again, err := d.Derive(reserve.BranchReceive, 5)
	require.NoError(t, err)
	require.Equal(t, want, again)
}

// TestCreatePSBTResultIsTheCallers checks the same of CreatePSBT: the
// packet's scripts and keys are copies, for inputs and change alike.
func TestCreatePSBTResultIsTheCallers(t *testing.T) {
	w := MustPSBTWallet(t, "create copy", 2, 3)
	p := w.MustStandardSpend(t)
	want := map[reserve.Branch]Derived{
		reserve.BranchReceive: w.MustDerived(t, reserve.BranchReceive, 0),
		reserve.BranchChange:  w.MustDerived(t, reserve.BranchChange, 7),
	}
	for _, b := range [][]byte{p.Inputs[0].WitnessScript, p.Inputs[0].Bip32Derivation[0].PubKey,
		p.Outputs[1].WitnessScript, p.Outputs[1].Bip32Derivation[2].PubKey} {
		b[len(b)-1] ^= 0xff
	}
	require.Equal(t, want[reserve.BranchReceive], w.MustDerived(t, reserve.BranchReceive, 0))
	require.Equal(t, want[reserve.BranchChange], w.MustDerived(t, reserve.BranchChange, 7))
}

// TestPrederive checks that Prederive fills the cache with exactly the
// range asked for and refuses hardened indexes.
func TestPrederive(t *testing.T) {
	d := MustPSBTWallet(t, "prederive", 2, 3).d
	require.NoError(t, d.Prederive(reserve.BranchChange, 10, 30))
	for i := uint32(0); i < 40; i++ {
		_, ok := d.kr.lookup(keyPath{reserve.BranchChange, i})
		require.Equal(t, i >= 10 && i < 30, ok, "change %d", i)
		_, ok = d.kr.lookup(keyPath{reserve.BranchReceive, i})
		require.False(t, ok, "receive %d", i)
	}
	require.NoError(t, d.Prederive(reserve.BranchReceive, 7, 7))
	require.ErrorContains(t, d.Prederive(reserve.BranchReceive, 1<<31-1, 1<<31+1), "not below 2^31")
	require.ErrorContains(t, d.Prederive(2, 0, 1), "unknown branch 2")
}

// TestExportImportDerived round-trips the kept addresses into a fresh copy
// of the descriptor, and refuses malformed records with nothing kept.
func TestExportImportDerived(t *testing.T) {
	w := MustPSBTWallet(t, "export derived", 2, 3)
	require.NoError(t, w.d.Prederive(reserve.BranchReceive, 0, 25))
	require.NoError(t, w.d.Prederive(reserve.BranchChange, 3, 9))
	data := w.d.ExportDerived()
	require.Len(t, data, 1+31*(5+3*33))

	fresh := func() *Descriptor {
		d, err := ParseDescriptor(w.d.String(), w.d.Network())
		require.NoError(t, err)
		return d
	}
	d := fresh()
	n, err := d.ImportDerived(data)
	require.NoError(t, err)
	require.Equal(t, 31, n)
	require.Equal(t, data, d.ExportDerived())
	for _, path := range []keyPath{{reserve.BranchReceive, 0}, {reserve.BranchReceive, 24}, {reserve.BranchChange, 8}} {
		got, ok := d.kr.lookup(path)
		require.True(t, ok, "%s", path)
		keys, ws := hdkeychainScripts(t, d, path)
		require.Equal(t, keys, got.keys)
		require.Equal(t, ws, got.witnessScript)
	}

	bad := func(mutate func([]byte) []byte) []byte { return mutate(bytes.Clone(data)) }
	for name, tt := range map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "not a derived-address record of version 1"},
		"version 2":      {bad(func(b []byte) []byte { b[0] = 2; return b }), "not a derived-address record of version 1"},
		"truncated":      {data[:len(data)-1], "is not a whole number of 104-byte records"},
		"branch 2":       {bad(func(b []byte) []byte { b[1+104] = 2; return b }), "record 1: unknown branch 2"},
		"hardened index": {bad(func(b []byte) []byte { b[2] |= 0x80; return b }), "record 0: index 2147483648 is not below 2^31"},
		"key prefix":     {bad(func(b []byte) []byte { b[1+5+33] = 0x04; return b }), "record 0: key 1 is not a compressed public key"},
	} {
		t.Run(name, func(t *testing.T) {
			d := fresh()
			_, err := d.ImportDerived(tt.data)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, []byte{derivedRecordVersion}, d.ExportDerived(), "nothing kept")
		})
	}
}

// TestDescriptorsShareOne checks that Descriptors gives the same
// descriptor, and so the same derived addresses, for the same text and
// network, and a new one otherwise; errors are ParseDescriptor's.
func TestDescriptorsShareOne(t *testing.T) {
	w := MustPSBTWallet(t, "descriptors", 2, 3)
	var c Descriptors
	a, err := c.Parse(w.d.String(), reserve.Regtest)
	require.NoError(t, err)
	_, err = a.Derive(reserve.BranchReceive, 3)
	require.NoError(t, err)
	b, err := c.Parse(w.d.String(), reserve.Regtest)
	require.NoError(t, err)
	require.Same(t, a, b)
	_, ok := b.kr.lookup(keyPath{reserve.BranchReceive, 3})
	require.True(t, ok)

	other := MustPSBTWallet(t, "descriptors other", 2, 3)
	o, err := c.Parse(other.d.String(), reserve.Regtest)
	require.NoError(t, err)
	require.NotSame(t, a, o)
	require.Equal(t, other.d.WalletID(), o.WalletID())

	_, err = c.Parse(w.d.String(), reserve.Mainnet)
	require.Error(t, err, "a regtest descriptor is not a mainnet one")
	_, err = c.Parse("wsh(", reserve.Regtest)
	require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
}

// BenchmarkImportDerived is a signer loading its derived-address file of
// 2,000 addresses (register's window on both branches) before a check.
func BenchmarkImportDerived(b *testing.B) {
	w := MustPSBTWallet(b, "import derived bench", 2, 3)
	require.NoError(b, w.d.Prederive(reserve.BranchReceive, 0, 1000))
	require.NoError(b, w.d.Prederive(reserve.BranchChange, 0, 1000))
	data := w.d.ExportDerived()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d, err := ParseDescriptor(w.d.String(), w.d.Network())
		require.NoError(b, err)
		n, err := d.ImportDerived(data)
		require.NoError(b, err)
		require.Equal(b, 2000, n)
	}
}
