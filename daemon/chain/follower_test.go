package chain

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// MustFollower makes a follower of d's wallet on a real store in a temp
// dir, with the given gap limit and the first issued receive addresses
// already handed out, and loads the wallet. It never contacts a node.
func MustFollower(tb testing.TB, d *multisig.Descriptor, gap uint32, issued uint32) (*Follower, *store.DB) {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(filepath.Join(tb.TempDir(), "custos.db"), store.Options{})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, db.Close()) })
	require.NoError(tb, db.EnsureNetwork(ctx, reserve.Regtest))
	w := reserve.Wallet{
		ID: d.WalletID(), Name: "test", Network: reserve.Regtest, Threshold: d.Threshold(),
		Cosigners: d.Cosigners(), Descriptor: d.String(), GapLimit: gap,
	}
	require.NoError(tb, db.CreateWallet(ctx, w, nil))
	node, err := DialNode(NodeConfig{Kind: KindBtcd, Host: "127.0.0.1:1"})
	require.NoError(tb, err)
	tb.Cleanup(node.Close)
	newFollower := func() *Follower {
		f, err := NewFollower(Config{Node: node, Store: db, Network: reserve.Regtest})
		require.NoError(tb, err)
		loaded, err := f.loadWallet(ctx)
		require.NoError(tb, err)
		require.True(tb, loaded)
		return f
	}
	f := newFollower()
	if issued == 0 {
		return f, db
	}
	for i := uint32(0); i < issued; i++ {
		_, err := db.IssueAddress(ctx, "")
		require.NoError(tb, err)
		require.NoError(tb, f.EnsureLookahead(ctx))
	}
	// A fresh follower on the same store, as after a restart.
	return newFollower(), db
}

func mustAddresses(tb testing.TB, db *store.DB, b reserve.Branch) []reserve.Address {
	tb.Helper()
	addrs, err := db.Addresses(context.Background(), b)
	require.NoError(tb, err)
	return addrs
}

func TestLoadWalletLookahead(t *testing.T) {
	d := MustDescriptor(t)
	tests := []struct {
		name   string
		gap    uint32
		issued uint32
		want   [2]uint32
	}{
		{name: "default gap limit", gap: 0, want: [2]uint32{reserve.DefaultGapLimit, reserve.DefaultGapLimit}},
		{name: "own gap limit", gap: 5, want: [2]uint32{5, 5}},
		{name: "issued addresses push the gap", gap: 20, issued: 7, want: [2]uint32{27, 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, db := MustFollower(t, d, tt.gap, tt.issued)
			require.Equal(t, tt.want, f.derived)
			for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
				addrs := mustAddresses(t, db, b)
				require.Len(t, addrs, int(tt.want[b]))
				for i, a := range addrs {
					require.Equal(t, MustScript(t, d, b, uint32(i)), a.Script, "%s %d", b, i)
					require.Equal(t, scriptRef{branch: b, index: uint32(i)}, f.watch.scripts[string(a.Script)])
				}
			}
			require.Len(t, f.watch.scripts, int(tt.want[0]+tt.want[1]))
		})
	}
}

// TestScanExtendsLookahead checks that one block paying ever further
// addresses is matched in full: each payment within the gap of the last
// one makes the next one watched before the block is recorded.
func TestScanExtendsLookahead(t *testing.T) {
	d := MustDescriptor(t)
	pay := func(b reserve.Branch, i uint32) *wire.MsgTx {
		return newTx(ops(foreignOutPoint(uint32(b)*1000+i)), out(1000+int64(i), MustScript(t, d, b, i)))
	}
	type paid struct {
		branch reserve.Branch
		index  uint32
	}
	tests := []struct {
		name        string
		pays        []paid
		wantFound   []paid
		wantDerived [2]uint32
	}{
		{name: "nothing paid", wantDerived: [2]uint32{20, 20}},
		{name: "payment inside the gap", pays: []paid{{reserve.BranchReceive, 3}},
			wantFound: []paid{{reserve.BranchReceive, 3}}, wantDerived: [2]uint32{24, 20}},
		{name: "payment at the last watched address", pays: []paid{{reserve.BranchReceive, 19}},
			wantFound: []paid{{reserve.BranchReceive, 19}}, wantDerived: [2]uint32{40, 20}},
		{name: "payment just past the gap is missed", pays: []paid{{reserve.BranchReceive, 20}},
			wantDerived: [2]uint32{20, 20}},
		{
			name: "payments chained through the gap in one block",
			pays: []paid{{reserve.BranchReceive, 59}, {reserve.BranchReceive, 39}, {reserve.BranchReceive, 19}, {reserve.BranchChange, 19}, {reserve.BranchChange, 38}},
			wantFound: []paid{
				{reserve.BranchReceive, 59}, {reserve.BranchReceive, 39}, {reserve.BranchReceive, 19},
				{reserve.BranchChange, 19}, {reserve.BranchChange, 38},
			},
			wantDerived: [2]uint32{80, 59},
		},
		{
			name:        "a payment one past the extended gap is missed",
			pays:        []paid{{reserve.BranchReceive, 19}, {reserve.BranchReceive, 40}},
			wantFound:   []paid{{reserve.BranchReceive, 19}},
			wantDerived: [2]uint32{40, 20},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, db := MustFollower(t, d, 20, 0)
			var txs []*wire.MsgTx
			for _, p := range tt.pays {
				txs = append(txs, pay(p.branch, p.index))
			}
			res, err := f.scan(context.Background(), txs, 77, false)
			require.NoError(t, err)

			var found []paid
			for _, c := range res.credits {
				require.Equal(t, int32(77), c.Height)
				found = append(found, paid{c.Branch, c.Index})
			}
			require.Equal(t, tt.wantFound, found)
			require.Equal(t, tt.wantDerived, f.derived)
			require.Len(t, mustAddresses(t, db, reserve.BranchReceive), int(tt.wantDerived[reserve.BranchReceive]))
			require.Len(t, mustAddresses(t, db, reserve.BranchChange), int(tt.wantDerived[reserve.BranchChange]))
		})
	}
}
