package store_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// readsSim drives a store through random blocks, mempool changes and
// reorgs (fixed seed), remembering the hashes of the chain it built.
type readsSim struct {
	t      *testing.T
	db     *store.DB
	rng    *rand.Rand
	hashes map[int32]chainhash.Hash
	seed   uint32
	fork   int
}

func (s *readsSim) tip() (int32, chainhash.Hash, bool) {
	h, hash, ok, err := s.db.SyncTip(context.Background())
	require.NoError(s.t, err)
	return h, hash, ok
}

// newCredit is a fresh output to a random wallet address.
func (s *readsSim) newCredit(coinbase bool) (reserve.UTXO, *wire.MsgTx) {
	s.seed++
	branch := reserve.Branch(s.rng.IntN(2))
	index := uint32(s.rng.IntN(5))
	tx := testTx(s.seed, wireOut(1+s.rng.Int64N(100_000_000), testScript(branch, index)))
	u := credit(tx, 0, branch, index)
	u.Coinbase = coinbase
	return u, tx
}

// debits spends up to n random coins the store lists as unspent.
func (s *readsSim) debits(n int) []reserve.Debit {
	utxos, err := s.db.UTXOs(context.Background(), false)
	require.NoError(s.t, err)
	var out []reserve.Debit
	for range min(n, len(utxos)) {
		s.seed++
		u := utxos[s.rng.IntN(len(utxos))]
		out = append(out, reserve.Debit{OutPoint: u.OutPoint, SpentBy: chainhash.HashH(binary.BigEndian.AppendUint32(nil, s.seed))})
	}
	return out
}

func (s *readsSim) block(credits, debits int) {
	ctx := context.Background()
	height, prev, ok := s.tip()
	if !ok {
		height = 0
	}
	b := reserve.BlockUpdate{Height: height + 1, Prev: prev, Hash: blockHash(height+1, fmt.Sprint("fork", s.fork))}
	for range credits {
		u, tx := s.newCredit(s.rng.IntN(4) == 0)
		b.Credits, b.Txs = append(b.Credits, u), append(b.Txs, tx)
	}
	b.Debits = s.debits(debits)
	require.NoError(s.t, s.db.ApplyBlock(ctx, b))
}

func (s *readsSim) mempool() {
	var m reserve.MempoolUpdate
	for range s.rng.IntN(3) {
		u, tx := s.newCredit(false)
		m.Credits, m.Txs = append(m.Credits, u), append(m.Txs, tx)
	}
	m.Debits = s.debits(s.rng.IntN(2))
	utxos, err := s.db.UTXOs(context.Background(), true)
	require.NoError(s.t, err)
	for _, u := range utxos {
		if u.Height == 0 && s.rng.IntN(3) == 0 {
			m.Gone = append(m.Gone, u.OutPoint.Hash)
		}
		if u.Spent && u.SpentHeight == 0 && s.rng.IntN(3) == 0 {
			m.Gone = append(m.Gone, u.SpentBy)
		}
	}
	require.NoError(s.t, s.db.ApplyMempool(context.Background(), m))
}

func (s *readsSim) reorg() {
	for range 1 + s.rng.IntN(3) {
		if _, _, ok := s.tip(); !ok {
			break
		}
		require.NoError(s.t, s.db.DisconnectTip(context.Background()))
	}
	s.fork++
}

// oldestFirst is the order ListUtxos has always had.
func oldestFirst(utxos []reserve.UTXO) {
	rank := func(h int32) int64 {
		if h == 0 {
			return math.MaxInt64
		}
		return int64(h)
	}
	slices.SortFunc(utxos, func(a, b reserve.UTXO) int {
		if c := cmp.Compare(rank(a.Height), rank(b.Height)); c != 0 {
			return c
		}
		if c := bytes.Compare(a.OutPoint.Hash[:], b.OutPoint.Hash[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.OutPoint.Index, b.OutPoint.Index)
	})
}

// checkReads compares every maintained read with what a full scan of the
// coins says.
func checkReads(t *testing.T, db *store.DB, step string) {
	t.Helper()
	ctx := context.Background()
	all, err := db.UTXOs(ctx, true)
	require.NoError(t, err)
	tip, _, ok, err := db.SyncTip(ctx)
	require.NoError(t, err)
	if !ok {
		tip = -1
	}

	got, gotTip, err := db.Balance(ctx)
	require.NoError(t, err)
	require.Equal(t, tip, gotTip, step)
	require.Equal(t, reserve.BalanceOf(all, tip), got, step)

	want, err := db.UTXOs(ctx, false)
	require.NoError(t, err)
	oldestFirst(want)
	var (
		paged []reserve.UTXO
		after []byte
	)
	for {
		page, next, pageTip, err := db.UTXOPage(ctx, after, 7)
		require.NoError(t, err)
		require.Equal(t, tip, pageTip)
		require.LessOrEqual(t, len(page), 7)
		paged = append(paged, page...)
		if next == nil {
			break
		}
		require.Len(t, page, 7, "%s: a page before the last is full", step)
		after = next
	}
	require.Equal(t, len(want), len(paged), step)
	if len(want) > 0 {
		require.Equal(t, want, paged, step)
	}

	for _, branch := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		sums := map[uint32][2]int64{}
		for _, u := range all {
			if u.Branch == branch {
				s := sums[u.Index]
				sums[u.Index] = [2]int64{s[0] + u.AmountSat, s[1] + 1}
			}
		}
		addrs, _, err := db.AddressPage(ctx, branch, true, nil, reserve.MaxPageSize)
		require.NoError(t, err)
		require.Len(t, addrs, 5)
		for _, a := range addrs {
			require.Equal(t, sums[a.Index][0], a.ReceivedSat, "%s: %s/%d", step, branch, a.Index)
			require.Equal(t, sums[a.Index][1], int64(a.ReceivedCount), "%s: %s/%d", step, branch, a.Index)
		}
	}
}

// TestMaintainedReadsMatchScan is the property test of issue 15: after
// every step of a random history of blocks (coinbase coins among them),
// mempool changes and reorgs, the maintained balance equals
// reserve.BalanceOf over every coin, the paged UTXO walk equals the sorted
// full list, and what each address received equals the sum of its coins.
func TestMaintainedReadsMatchScan(t *testing.T) {
	db := MustWallet(t)
	s := &readsSim{t: t, db: db, rng: rand.New(rand.NewPCG(15, 2026)), hashes: map[int32]chainhash.Hash{}}
	for i := range 400 {
		var step string
		switch r := s.rng.IntN(20); {
		case r < 10:
			s.block(s.rng.IntN(4), s.rng.IntN(3))
			step = "block"
		case r < 16:
			s.mempool()
			step = "mempool"
		case r < 18:
			s.reorg()
			step = "reorg"
		default:
			// Empty blocks let coinbase coins cross the maturity line.
			for range 30 + s.rng.IntN(60) {
				s.block(0, 0)
			}
			step = "empty blocks"
		}
		checkReads(t, db, fmt.Sprintf("step %d (%s)", i, step))
	}
	b, _, err := db.Balance(context.Background())
	require.NoError(t, err)
	require.Positive(t, b.ConfirmedSat)
	require.Positive(t, b.ImmatureSat+b.UnconfirmedSat, "the history exercised immature or unconfirmed coins")
}
