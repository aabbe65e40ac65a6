package multisig

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/txscript"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

type bip383File struct {
	Threshold int `json:"threshold"`
	Keys      []struct {
		XPub string `json:"xpub"`
		Path string `json:"path_before_wildcard"`
	} `json:"keys"`
	Scripts []string `json:"scripts"`
}

// TestBIP383SortedMulti checks the sortedmulti script against BIP-383's
// vector sortedmulti(2,xpub…/*,xpub…/0/0/*) at indexes 0 to 2.
func TestBIP383SortedMulti(t *testing.T) {
	var file bip383File
	MustReadJSON(t, "bip383_sortedmulti.json", &file)
	require.Len(t, file.Scripts, 3)
	for i, want := range file.Scripts {
		t.Run(fmt.Sprintf("index %d", i), func(t *testing.T) {
			var keys [][]byte
			for _, k := range file.Keys {
				key, _, err := decodeExtendedKey(k.XPub)
				require.NoError(t, err)
				path, err := ParsePath(k.Path)
				require.NoError(t, err)
				child, err := DerivePath(key, append(path, uint32(i)))
				require.NoError(t, err)
				pub, err := child.ECPubKey()
				require.NoError(t, err)
				keys = append(keys, pub.SerializeCompressed())
			}
			script, err := sortedMultiScript(file.Threshold, keys)
			require.NoError(t, err)
			require.Equal(t, want, hex.EncodeToString(script))
			// The keys go in unsorted and stay that way.
			slicesBefore := fmt.Sprintf("%x", keys)
			_, err = sortedMultiScript(file.Threshold, keys)
			require.NoError(t, err)
			require.Equal(t, slicesBefore, fmt.Sprintf("%x", keys))
		})
	}
}

// TestDeriveMatchesSigners checks every derived script against what each
// cosigner computes from its own private key: the child public key in
// PubKeys, the script holding it, and the address from the script.
func TestDeriveMatchesSigners(t *testing.T) {
	labels := []string{"cosigner A", "cosigner B", "cosigner C"}
	var privs []*hdkeychain.ExtendedKey
	var keys []reserve.Cosigner
	for _, l := range labels {
		c, xprv, err := DeriveAccount(FixedSeed(l), reserve.Regtest, 0)
		require.NoError(t, err)
		defer xprv.Zero()
		privs = append(privs, xprv)
		keys = append(keys, c)
	}
	d, err := NewDescriptor(reserve.Regtest, 2, keys)
	require.NoError(t, err)
	params, err := NetParams(reserve.Regtest)
	require.NoError(t, err)

	for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		for _, index := range []uint32{0, 1, 19, 1000, 1<<31 - 1} {
			got, err := d.Derive(b, index)
			require.NoError(t, err)
			require.Equal(t, b, got.Branch)
			require.Equal(t, index, got.Index)
			require.Len(t, got.PubKeys, 3)
			for i, priv := range privs {
				child, err := DerivePath(priv, []uint32{uint32(b), index})
				require.NoError(t, err)
				pub, err := child.ECPubKey()
				require.NoError(t, err)
				require.Equal(t, pub.SerializeCompressed(), got.PubKeys[i], "cosigner %d at %s/%d", i, b, index)
			}

			class, addrs, required, err := txscript.ExtractPkScriptAddrs(got.WitnessScript, params)
			require.NoError(t, err)
			require.Equal(t, txscript.MultiSigTy, class)
			require.Equal(t, 2, required)
			require.Len(t, addrs, 3)

			class, addrs, _, err = txscript.ExtractPkScriptAddrs(got.PkScript, params)
			require.NoError(t, err)
			require.Equal(t, txscript.WitnessV0ScriptHashTy, class)
			require.Equal(t, got.Address, addrs[0].EncodeAddress())
			hash := sha256.Sum256(got.WitnessScript)
			require.Equal(t, hash[:], got.PkScript[2:])
		}
	}
}

func TestDeriveErrors(t *testing.T) {
	d := MustDescriptor(t, reserve.Regtest, 2, 3)
	tests := []struct {
		name   string
		branch reserve.Branch
		index  uint32
		field  string
		msg    string
	}{
		{name: "hardened index", index: 1 << 31, field: "index", msg: "index 2147483648 is not below 2^31"},
		{name: "largest index", index: 1<<32 - 1, field: "index", msg: "not below 2^31"},
		{name: "unknown branch", branch: 2, field: "branch", msg: "unknown branch 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Derive(tt.branch, tt.index)
			RequireInvalid(t, err, tt.field, tt.msg)
		})
	}
}

// TestDeriveConcurrent derives from many goroutines at once; run with
// -race to check the descriptor is immutable.
func TestDeriveConcurrent(t *testing.T) {
	d := MustDescriptor(t, reserve.Regtest, 2, 3)
	want := make([]string, 20)
	for i := range want {
		got, err := d.Derive(reserve.BranchReceive, uint32(i))
		require.NoError(t, err)
		want[i] = got.Address
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for i := range want {
				got, err := d.Derive(reserve.BranchReceive, uint32(i))
				if err == nil && got.Address != want[i] {
					err = fmt.Errorf("address %d is %s, want %s", i, got.Address, want[i])
				}
				if err != nil {
					errs <- err
					return
				}
				_ = d.Position(d.Cosigners()[i%3].XPub)
				_ = d.String()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// BenchmarkDerive derives one address of a 2-of-3 wallet per iteration.
func BenchmarkDerive(b *testing.B) {
	d := MustDescriptor(b, reserve.Regtest, 2, 3)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := d.Derive(reserve.BranchReceive, uint32(n)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "addresses/s")
}

// BenchmarkDeriveLookahead20x2 builds a fresh 2-of-3 descriptor and derives
// the first 20 receive and 20 change addresses, as a new wallet does.
func BenchmarkDeriveLookahead20x2(b *testing.B) {
	keys := MustCosigners(b, reserve.Regtest, 3)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d, err := NewDescriptor(reserve.Regtest, 2, keys)
		if err != nil {
			b.Fatal(err)
		}
		for _, br := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
			for i := range uint32(20) {
				if _, err := d.Derive(br, i); err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "addresses/s")
}
