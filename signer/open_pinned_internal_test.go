package signer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// pinnedFixture is a data directory with the "abandon … art" key
// registered in a 2-of-3 wallet in second place.
type pinnedFixture struct {
	dir string
	key *Key
	own reserve.Cosigner
	d   *multisig.Descriptor
}

func newPinnedFixture(t *testing.T) *pinnedFixture {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{Network: reserve.Regtest, KDF: KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}}
	own, err := Restore(dir, cfg, strings.Repeat("abandon ", 23)+"art", []byte("correct horse battery"))
	require.NoError(t, err)
	key, err := Unlock(dir, []byte("correct horse battery"))
	require.NoError(t, err)
	t.Cleanup(key.Zero)
	d := pinnedDescriptor(t, 2, otherCosigner(t, 1), own, otherCosigner(t, 2))
	_, err = Register(dir, key, d.String(), false)
	require.NoError(t, err)
	return &pinnedFixture{dir: dir, key: key, own: own, d: d}
}

func otherCosigner(t *testing.T, b byte) reserve.Cosigner {
	t.Helper()
	rec, xprv, err := multisig.DeriveAccount(bytes.Repeat([]byte{b}, 32), reserve.Regtest, 0)
	require.NoError(t, err)
	xprv.Zero()
	return rec
}

func pinnedDescriptor(t *testing.T, m int, keys ...reserve.Cosigner) *multisig.Descriptor {
	t.Helper()
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = multisig.FormatKeyRecord(k) + "/<0;1>/*"
	}
	body := fmt.Sprintf("wsh(sortedmulti(%d,%s))", m, strings.Join(parts, ","))
	sum, err := multisig.DescriptorChecksum(body)
	require.NoError(t, err)
	d, err := multisig.ParseDescriptor(body+"#"+sum, reserve.Regtest)
	require.NoError(t, err)
	return d
}

// writeDescriptor replaces the pinned descriptor file with d.
func (f *pinnedFixture) writeDescriptor(t *testing.T, d *multisig.Descriptor) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, DescriptorFileName), []byte(d.String()+"\n"), 0o600))
}

// TestOpenPinned: the pinned wallet is trusted only when the state record
// authenticates under the key, records the descriptor's hash, and the key
// is in the descriptor; RecordSeen starts from the same checks.
func TestOpenPinned(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, f *pinnedFixture)
		errIs  error
		want   string
	}{
		{name: "pinned", change: func(*testing.T, *pinnedFixture) {}},
		{name: "another wallet swapped in", errIs: ErrStateBroken, want: "is not the one",
			change: func(t *testing.T, f *pinnedFixture) {
				f.writeDescriptor(t, pinnedDescriptor(t, 1, otherCosigner(t, 1), otherCosigner(t, 2)))
			}},
		{name: "own key in another wallet", errIs: ErrStateBroken, want: "is not the one",
			change: func(t *testing.T, f *pinnedFixture) {
				f.writeDescriptor(t, pinnedDescriptor(t, 2, otherCosigner(t, 3), f.own, otherCosigner(t, 4)))
			}},
		{name: "record of a wallet without this key", errIs: ErrStateBroken, want: "does not hold this signer's key",
			change: func(t *testing.T, f *pinnedFixture) {
				// A state record that authenticates a descriptor without
				// this signer's key: only a bug or another signer's
				// record could make one; it is refused all the same.
				d := pinnedDescriptor(t, 1, otherCosigner(t, 1), otherCosigner(t, 2))
				s, err := readState(f.dir)
				require.NoError(t, err)
				st := s.st
				st.descriptor = descriptorHash(d)
				_, err = writeState(f.dir, f.key, st)
				require.NoError(t, err)
				f.writeDescriptor(t, d)
			}},
		{name: "state edited", errIs: ErrStateBroken, want: "does not authenticate under this signer's key",
			change: func(t *testing.T, f *pinnedFixture) {
				path := filepath.Join(f.dir, StateFileName)
				data, err := os.ReadFile(path)
				require.NoError(t, err)
				edited := bytes.Replace(data, []byte("receive_next 0\n"), []byte("receive_next 900\n"), 1)
				require.NotEqual(t, data, edited)
				require.NoError(t, os.WriteFile(path, edited, 0o600))
			}},
		{name: "state deleted", errIs: ErrStateBroken, want: "is missing but " + DescriptorFileName + " is there",
			change: func(t *testing.T, f *pinnedFixture) {
				require.NoError(t, os.Remove(filepath.Join(f.dir, StateFileName)))
			}},
		{name: "descriptor deleted", errIs: ErrNotRegistered,
			change: func(t *testing.T, f *pinnedFixture) {
				require.NoError(t, os.Remove(filepath.Join(f.dir, DescriptorFileName)))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newPinnedFixture(t)
			tt.change(t, f)
			p, seen, err := OpenPinned(f.dir, f.key)
			_, recErr := RecordSeen(f.dir, f.key, reserve.BranchReceive, IndexWindow+5)
			if tt.errIs == nil {
				require.NoError(t, err)
				require.Equal(t, f.d.String(), p.Descriptor.String())
				require.Equal(t, 1, p.Position)
				require.Equal(t, [2]uint32{}, seen)
				require.NoError(t, recErr)
				return
			}
			require.ErrorIs(t, err, tt.errIs)
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, p)
			require.ErrorIs(t, recErr, tt.errIs, "RecordSeen refuses it too")
			require.ErrorContains(t, recErr, tt.want)
		})
	}
}
