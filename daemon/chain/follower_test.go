package chain

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// lookaheadStore is the part of a Store that loading a wallet and growing
// its lookahead use; block and mempool records are refused.
type lookaheadStore struct {
	mu      sync.Mutex
	wallet  reserve.Wallet
	addrs   [2][]reserve.Address
	horizon [2]uint32
	puts    int
}

var _ Store = (*lookaheadStore)(nil)

var errNotInFake = errors.New("not implemented by the test store")

func (s *lookaheadStore) Wallet(context.Context) (reserve.Wallet, error) { return s.wallet, nil }

func (s *lookaheadStore) Addresses(_ context.Context, b reserve.Branch) ([]reserve.Address, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.addrs[b]), nil
}

func (s *lookaheadStore) PutAddresses(_ context.Context, addrs []reserve.Address) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	for _, a := range addrs {
		if int(a.Index) != len(s.addrs[a.Branch]) {
			return errors.New("addresses recorded out of order")
		}
		s.addrs[a.Branch] = append(s.addrs[a.Branch], a)
	}
	return nil
}

func (s *lookaheadStore) Horizon(_ context.Context, b reserve.Branch) (uint32, error) {
	return s.horizon[b], nil
}

func (s *lookaheadStore) UTXOs(context.Context, bool) ([]reserve.UTXO, error) { return nil, nil }

func (s *lookaheadStore) SyncTip(context.Context) (int32, chainhash.Hash, bool, error) {
	return 0, chainhash.Hash{}, false, nil
}

func (s *lookaheadStore) BlockHash(context.Context, int32) (chainhash.Hash, bool, error) {
	return chainhash.Hash{}, false, errNotInFake
}

func (s *lookaheadStore) ApplyBlock(context.Context, reserve.BlockUpdate) error { return errNotInFake }
func (s *lookaheadStore) DisconnectTip(context.Context) error                   { return errNotInFake }
func (s *lookaheadStore) ApplyMempool(context.Context, reserve.MempoolUpdate) error {
	return errNotInFake
}

// MustFollower makes a follower of d's wallet with the given gap limit and
// issued horizon, and loads the wallet. It never contacts a node.
func MustFollower(tb testing.TB, d *multisig.Descriptor, gap uint32, horizon [2]uint32) (*Follower, *lookaheadStore) {
	tb.Helper()
	st := &lookaheadStore{
		wallet:  reserve.Wallet{Network: reserve.Regtest, Threshold: 2, Descriptor: d.String(), GapLimit: gap},
		horizon: horizon,
	}
	node, err := DialNode(NodeConfig{Kind: KindBtcd, Host: "127.0.0.1:1"})
	require.NoError(tb, err)
	tb.Cleanup(node.Close)
	f, err := NewFollower(Config{Node: node, Store: st, Network: reserve.Regtest})
	require.NoError(tb, err)
	loaded, err := f.loadWallet(context.Background())
	require.NoError(tb, err)
	require.True(tb, loaded)
	return f, st
}

func TestLoadWalletLookahead(t *testing.T) {
	d := MustDescriptor(t)
	tests := []struct {
		name    string
		gap     uint32
		horizon [2]uint32
		want    [2]uint32
	}{
		{name: "default gap limit", gap: 0, want: [2]uint32{reserve.DefaultGapLimit, reserve.DefaultGapLimit}},
		{name: "own gap limit", gap: 5, want: [2]uint32{5, 5}},
		{name: "issued addresses push the gap", gap: 20, horizon: [2]uint32{7, 2}, want: [2]uint32{27, 22}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, st := MustFollower(t, d, tt.gap, tt.horizon)
			require.Equal(t, tt.want, f.derived)
			for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
				require.Len(t, st.addrs[b], int(tt.want[b]))
				for i, a := range st.addrs[b] {
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
			f, st := MustFollower(t, d, 20, [2]uint32{})
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
			require.Len(t, st.addrs[reserve.BranchReceive], int(tt.wantDerived[reserve.BranchReceive]))
			require.Len(t, st.addrs[reserve.BranchChange], int(tt.wantDerived[reserve.BranchChange]))
		})
	}
}
