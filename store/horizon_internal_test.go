package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
)

// TestHorizonReadsOnlyAboveIt checks that the horizon is found from the
// top of the branch down, so its cost is the lookahead's and not the
// wallet's history: a record below the horizon that cannot even be
// decoded is never read, while one above it (in the lookahead) is, and
// is reported corrupt.
func TestHorizonReadsOnlyAboveIt(t *testing.T) {
	tests := []struct {
		name    string
		corrupt reserve.Branch
		index   uint32
		want    [2]uint32 // receive, change
		wantErr bool
	}{
		{name: "below the receive horizon: not read", corrupt: reserve.BranchReceive, index: 0, want: [2]uint32{3, 3}},
		{name: "below the change horizon: not read", corrupt: reserve.BranchChange, index: 0, want: [2]uint32{3, 3}},
		{name: "in the receive lookahead: read and refused", corrupt: reserve.BranchReceive, index: 5, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := Open(filepath.Join(t.TempDir(), "custos.db"), Options{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			w := reserve.Wallet{ID: "w", Name: "w", Network: reserve.Regtest, Threshold: 1, CreatedAt: testTime}
			var look []reserve.Address
			for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
				for i := range uint32(8) {
					look = append(look, reserve.Address{Branch: b, Index: i, Address: fmt.Sprintf("a%d/%d", b, i), Script: []byte{0x51, byte(b), byte(i)}})
				}
			}
			require.NoError(t, db.CreateWallet(ctx, w, look))
			for range 3 {
				_, err := db.IssueAddress(ctx, "")
				require.NoError(t, err)
			}
			require.NoError(t, db.bolt.Update(func(tx *bolt.Tx) error {
				ab := tx.Bucket(bucketAddresses)
				key := addressKey(reserve.BranchChange, 2)
				a, err := decodeAddress(ab.Get(key))
				require.NoError(t, err)
				a.Used = true
				v, err := encodeAddress(&a)
				require.NoError(t, err)
				require.NoError(t, ab.Put(key, v))
				return ab.Put(addressKey(tc.corrupt, tc.index), []byte("not an address record"))
			}))

			r, err := db.Horizon(ctx, reserve.BranchReceive)
			if tc.wantErr {
				requireCorrupt(t, err)
				return
			}
			require.NoError(t, err)
			c, err := db.Horizon(ctx, reserve.BranchChange)
			require.NoError(t, err)
			require.Equal(t, tc.want, [2]uint32{r, c})
		})
	}
}

func requireCorrupt(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, reserve.CodeInternal, reserve.CodeOf(err), "error %q", err)
}
