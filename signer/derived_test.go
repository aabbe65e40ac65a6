package signer_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

// freshDescriptor parses the fixture's descriptor again: nothing derived.
func freshDescriptor(t *testing.T, f *walletFixture) *multisig.Descriptor {
	t.Helper()
	d, err := multisig.ParseDescriptor(f.desc.String(), reserve.Regtest)
	require.NoError(t, err)
	return d
}

// otherDescriptor is a 2-of-3 wallet that holds us's key with two other
// cosigners: what an attacker would like the signer to take as its own.
func otherDescriptor(t *testing.T, us *ministry) *multisig.Descriptor {
	t.Helper()
	text := MustDescriptor(t, reserve.Regtest, 2, us.rec, MustCosigner(t, 7, reserve.Regtest), MustCosigner(t, 8, reserve.Regtest))
	d, err := multisig.ParseDescriptor(text, reserve.Regtest)
	require.NoError(t, err)
	return d
}

// derivedRecord is the size of one 2-of-3 address in the file.
const derivedRecord = 5 + 3*33

// TestDerivedFileRoundTrip checks that register leaves the first
// DerivedWindow addresses of each branch, that they load into a fresh
// descriptor and authenticate under the signer's key only, and that
// SaveDerived extends the window past a PSBT's highest indexes.
func TestDerivedFileRoundTrip(t *testing.T) {
	f := newWalletFixture(t)
	us := f.us()

	d := freshDescriptor(t, f)
	loaded, err := signer.LoadDerived(us.dir, d)
	require.NoError(t, err)
	require.Equal(t, 2*signer.DerivedWindow, loaded.Count())
	require.NoError(t, loaded.Verify(us.key))
	err = loaded.Verify(f.m[1].key)
	require.ErrorIs(t, err, signer.ErrDerivedTampered, "another signer's key")
	require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))

	// What was loaded is what hdkeychain-backed derivation gives.
	for _, at := range []struct {
		b reserve.Branch
		i uint32
	}{{reserve.BranchReceive, 0}, {reserve.BranchChange, signer.DerivedWindow - 1}} {
		require.Equal(t, MustDerive(t, freshDescriptor(t, f), at.b, at.i), MustDerive(t, d, at.b, at.i))
	}

	// A PSBT spending receive/1499 and paying change/7 moves the window.
	sum := signer.Summary{
		Inputs: []multisig.InputInfo{{Branch: reserve.BranchReceive, Index: 1499}},
		Change: []multisig.OutputInfo{{ChangeIndex: 7}},
	}
	top := signer.HighestIndexes(sum)
	require.Equal(t, [2]uint32{1500, 8}, top)
	require.NoError(t, signer.SaveDerived(us.dir, d, us.key, top))
	again, err := signer.LoadDerived(us.dir, freshDescriptor(t, f))
	require.NoError(t, err)
	require.Equal(t, (1500+signer.DerivedWindow)+(8+signer.DerivedWindow), again.Count())
	require.NoError(t, again.Verify(us.key))
}

// TestDerivedFileRefusals: a file changed by anyone without the key fails
// Verify, even one whose change entry now makes an attacker's script look
// like change; a file for another descriptor is ignored; one that is not a
// derived-address file at all is an error.
func TestDerivedFileRefusals(t *testing.T) {
	f := newWalletFixture(t)
	us := f.us()
	path := filepath.Join(us.dir, signer.DerivedFileName)
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	head := len("custos-derived/1\n") + 32 + 1

	write := func(b []byte) {
		t.Helper()
		require.NoError(t, os.WriteFile(path, b, 0o600))
	}
	load := func() (*signer.Derived, error) { return signer.LoadDerived(us.dir, freshDescriptor(t, f)) }

	t.Run("change entry swapped for another wallet's keys", func(t *testing.T) {
		foreign := MustDerive(t, otherDescriptor(t, us), reserve.BranchChange, 0)
		b := append([]byte(nil), orig...)
		// Record DerivedWindow is change/0.
		off := head + signer.DerivedWindow*derivedRecord + 5
		for c, k := range foreign.PubKeys {
			copy(b[off+33*c:], k)
		}
		write(b)
		got, err := load()
		require.NoError(t, err, "the format is fine; only the MAC tells")
		require.ErrorIs(t, got.Verify(us.key), signer.ErrDerivedTampered)
	})
	t.Run("one bit of the MAC", func(t *testing.T) {
		b := append([]byte(nil), orig...)
		b[len(b)-1] ^= 1
		write(b)
		got, err := load()
		require.NoError(t, err)
		require.ErrorIs(t, got.Verify(us.key), signer.ErrDerivedTampered)
	})
	t.Run("records dropped", func(t *testing.T) {
		b := append(append([]byte(nil), orig[:head+derivedRecord]...), orig[len(orig)-32:]...)
		write(b)
		got, err := load()
		require.NoError(t, err)
		require.Equal(t, 1, got.Count())
		require.ErrorIs(t, got.Verify(us.key), signer.ErrDerivedTampered)
	})
	t.Run("torn record", func(t *testing.T) {
		write(orig[:len(orig)-33])
		_, err := load()
		require.ErrorContains(t, err, "is not a whole number of 104-byte records")
		require.ErrorContains(t, err, "remove it and it is rebuilt")
	})
	t.Run("not a derived file", func(t *testing.T) {
		write([]byte("wsh(sortedmulti(2,...))\n"))
		_, err := load()
		require.ErrorContains(t, err, "is not a derived-address file")
	})
	t.Run("another descriptor's file is ignored", func(t *testing.T) {
		write(orig)
		got, err := signer.LoadDerived(us.dir, otherDescriptor(t, us))
		require.NoError(t, err)
		require.Nil(t, got)
		require.Equal(t, 0, got.Count())
		require.NoError(t, got.Verify(us.key), "no file, nothing to verify")
	})
	t.Run("no file", func(t *testing.T) {
		require.NoError(t, os.Remove(path))
		got, err := load()
		require.NoError(t, err)
		require.Nil(t, got)
	})
}
