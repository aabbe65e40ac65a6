package signer_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tyler-smith/go-bip39"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// registerFixture is a signer with the "abandon … art" key and two other
// ministries' keys from fixed seeds.
type registerFixture struct {
	dir  string
	key  *signer.Key
	own  reserve.Cosigner
	b, c reserve.Cosigner
}

func newRegisterFixture(t *testing.T) *registerFixture {
	t.Helper()
	dir := t.TempDir()
	own := MustInit(t, dir)
	return &registerFixture{
		dir: dir,
		key: MustUnlock(t, dir),
		own: own,
		b:   MustCosigner(t, 1, reserve.Regtest),
		c:   MustCosigner(t, 2, reserve.Regtest),
	}
}

func (f *registerFixture) pinnedPath() string {
	return filepath.Join(f.dir, signer.DescriptorFileName)
}

func TestRegisterOwnKeyPresent(t *testing.T) {
	f := newRegisterFixture(t)
	desc := MustDescriptor(t, reserve.Regtest, 2, f.b, f.own, f.c)
	d, err := multisig.ParseDescriptor(desc, reserve.Regtest)
	require.NoError(t, err)
	first, err := d.Derive(reserve.BranchReceive, 0)
	require.NoError(t, err)

	reg, err := signer.Register(f.dir, f.key, "  "+desc+"\n", false)
	require.NoError(t, err)
	require.Equal(t, signer.Registered, reg.Status)
	require.Equal(t, 1, reg.Position, "descriptor order: b, own, c")
	require.Equal(t, first.Address, reg.FirstAddress)
	require.Regexp(t, "^bcrt1q", reg.FirstAddress)
	require.Equal(t, d.WalletID(), reg.Descriptor.WalletID())
	require.Equal(t, 2, reg.Descriptor.Threshold())

	data, err := os.ReadFile(f.pinnedPath())
	require.NoError(t, err)
	require.Equal(t, d.String()+"\n", string(data))
	st, err := os.Stat(f.pinnedPath())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	p, err := signer.LoadPinned(f.dir, f.key)
	require.NoError(t, err)
	require.Equal(t, d.String(), p.Descriptor.String())
	require.Equal(t, 1, p.Position)
	require.Equal(t, first.Address, p.FirstAddress)
	ld, err := signer.LoadDescriptor(f.dir, reserve.Regtest)
	require.NoError(t, err)
	require.Equal(t, d.String(), ld.String())
}

func TestRegisterRefusesDescriptorsWithoutOwnKey(t *testing.T) {
	f := newRegisterFixture(t)
	d3 := MustCosigner(t, 3, reserve.Regtest)

	// Same fingerprint and path as this signer, someone else's xpub.
	spoof := d3
	spoof.Fingerprint, spoof.Path = f.own.Fingerprint, f.own.Path
	// This signer's xpub with another origin fingerprint.
	wrongOrigin := f.own
	wrongOrigin.Fingerprint = 0xd34db33f

	tests := []struct {
		name string
		desc string
		want string
	}{
		{name: "other keys only", desc: MustDescriptor(t, reserve.Regtest, 2, f.b, f.c, d3),
			want: "this signer's key " + recordArt + " is not in the descriptor"},
		{name: "same fingerprint, different xpub", desc: MustDescriptor(t, reserve.Regtest, 2, f.b, spoof, f.c),
			want: "this signer's key " + recordArt + " is not in the descriptor"},
		{name: "own xpub, wrong origin fingerprint", desc: MustDescriptor(t, reserve.Regtest, 2, f.b, wrongOrigin, f.c),
			want: "cosigner 2 has its xpub but the origin [d34db33f/48'/1'/0'/2']"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := signer.Register(f.dir, f.key, tt.desc, true)
			require.ErrorIs(t, err, signer.ErrKeyNotInDescriptor)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
			require.Nil(t, reg)
			require.NoFileExists(t, f.pinnedPath())
		})
	}
}

func TestRegisterRefusesBadDescriptors(t *testing.T) {
	f := newRegisterFixture(t)
	// The same mnemonic's key on mainnet: same seed, an xpub, coin type 0'.
	ownMain, xprv, err := multisig.DeriveAccount(bip39.NewSeed(mnemonicArt, ""), reserve.Mainnet, 0)
	require.NoError(t, err)
	xprv.Zero()
	mainnet := MustDescriptor(t, reserve.Mainnet, 2, MustCosigner(t, 1, reserve.Mainnet), ownMain, MustCosigner(t, 2, reserve.Mainnet))
	good := MustDescriptor(t, reserve.Regtest, 2, f.b, f.own, f.c)

	tests := []struct {
		name string
		desc string
	}{
		{name: "mainnet descriptor for a regtest key", desc: mainnet},
		{name: "empty", desc: "   "},
		{name: "bad checksum", desc: good[:len(good)-1] + "q"},
		{name: "not a descriptor", desc: "bcrt1qxyz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signer.Register(f.dir, f.key, tt.desc, false)
			require.Error(t, err)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
			require.NoFileExists(t, f.pinnedPath())
		})
	}
}

func TestRegisterIdempotentAndReplace(t *testing.T) {
	f := newRegisterFixture(t)
	first := MustDescriptor(t, reserve.Regtest, 2, f.b, f.own, f.c)
	_, err := signer.Register(f.dir, f.key, first, false)
	require.NoError(t, err)
	before, err := os.ReadFile(f.pinnedPath())
	require.NoError(t, err)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(f.pinnedPath(), old, old))

	// Same descriptor again: nothing changes, not even the file.
	reg, err := signer.Register(f.dir, f.key, first, false)
	require.NoError(t, err)
	require.Equal(t, signer.Unchanged, reg.Status)
	require.Equal(t, 1, reg.Position)
	st, err := os.Stat(f.pinnedPath())
	require.NoError(t, err)
	require.True(t, st.ModTime().Equal(old), "an idempotent register must not rewrite the file")

	// A different wallet (3-of-3 of the same keys) is refused without replace.
	second := MustDescriptor(t, reserve.Regtest, 3, f.own, f.b, f.c)
	reg, err = signer.Register(f.dir, f.key, second, false)
	require.ErrorIs(t, err, signer.ErrOtherWalletPinned)
	require.Equal(t, reserve.CodeConflict, reserve.CodeOf(err))
	require.Nil(t, reg)
	after, err := os.ReadFile(f.pinnedPath())
	require.NoError(t, err)
	require.Equal(t, before, after)

	// Even with replace, a descriptor without this key changes nothing.
	_, err = signer.Register(f.dir, f.key, MustDescriptor(t, reserve.Regtest, 1, f.b, f.c), true)
	require.ErrorIs(t, err, signer.ErrKeyNotInDescriptor)
	after, err = os.ReadFile(f.pinnedPath())
	require.NoError(t, err)
	require.Equal(t, before, after)

	// With replace it is pinned, and the old one is reported.
	reg, err = signer.Register(f.dir, f.key, second, true)
	require.NoError(t, err)
	require.Equal(t, signer.Replaced, reg.Status)
	require.Equal(t, 0, reg.Position)
	require.Equal(t, string(before), reg.Previous+"\n")
	p, err := signer.LoadPinned(f.dir, f.key)
	require.NoError(t, err)
	require.Equal(t, 3, p.Descriptor.Threshold())

	// Replace with the pinned one is still just "unchanged".
	reg, err = signer.Register(f.dir, f.key, second, true)
	require.NoError(t, err)
	require.Equal(t, signer.Unchanged, reg.Status)
}

// TestRegisterUnusablePinnedFile: the state record, not the descriptor
// file, says what is pinned. A garbled file is refused by signing and
// written back by registering the recorded descriptor; another descriptor
// still needs replace. Without a state record, a pinned file is refused.
func TestRegisterUnusablePinnedFile(t *testing.T) {
	f := newRegisterFixture(t)
	desc := MustDescriptor(t, reserve.Regtest, 2, f.b, f.own, f.c)
	_, err := signer.Register(f.dir, f.key, desc, false)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(f.pinnedPath(), []byte("garbage\n"), 0o600))

	_, err = signer.Register(f.dir, f.key, MustDescriptor(t, reserve.Regtest, 1, f.b, f.own, f.c), false)
	require.ErrorIs(t, err, signer.ErrOtherWalletPinned)
	requireFile(t, f.pinnedPath(), []byte("garbage\n"))

	reg, err := signer.Register(f.dir, f.key, desc, false)
	require.NoError(t, err)
	require.Equal(t, signer.Unchanged, reg.Status)
	requireFile(t, f.pinnedPath(), []byte(desc+"\n"))

	g := newRegisterFixture(t)
	require.NoError(t, os.WriteFile(g.pinnedPath(), []byte("garbage\n"), 0o600))
	_, err = signer.Register(g.dir, g.key, desc, true)
	require.ErrorIs(t, err, signer.ErrStateBroken)
	require.ErrorContains(t, err, filepath.Join(g.dir, signer.StateFileName)+" is missing but wallet.descriptor is there")
	requireFile(t, g.pinnedPath(), []byte("garbage\n"))
}

func TestLoadPinned(t *testing.T) {
	f := newRegisterFixture(t)
	_, err := signer.LoadPinned(f.dir, f.key)
	require.ErrorIs(t, err, signer.ErrNotRegistered)
	_, err = signer.LoadDescriptor(f.dir, reserve.Regtest)
	require.ErrorIs(t, err, signer.ErrNotRegistered)

	// Someone swaps the pinned file for a wallet without this key: signing
	// must not start from it.
	d3 := MustCosigner(t, 3, reserve.Regtest)
	require.NoError(t, os.WriteFile(f.pinnedPath(), []byte(MustDescriptor(t, reserve.Regtest, 2, f.b, f.c, d3)+"\n"), 0o600))
	_, err = signer.LoadPinned(f.dir, f.key)
	require.ErrorIs(t, err, signer.ErrKeyNotInDescriptor)

	require.NoError(t, os.WriteFile(f.pinnedPath(), []byte("wsh(\n"), 0o600))
	_, err = signer.LoadPinned(f.dir, f.key)
	require.ErrorContains(t, err, "pinned descriptor")
}
