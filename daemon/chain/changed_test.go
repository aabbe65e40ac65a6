package chain

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
)

// mineFork replaces the node's blocks above height keep with n others
// (another timestamp, so other hashes): a reorg.
func (fn *fakeNode) mineFork(keep, n int32) {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	fn.blocks = fn.blocks[:keep+1]
	for range n {
		height := int32(len(fn.blocks))
		prev := fn.blocks[height-1].BlockHash()
		cb := coinbaseTx(height, out(50, foreignScript(uint32(height))))
		b := wire.NewMsgBlock(wire.NewBlockHeader(1, &prev, ptr(cb.TxHash()), 0x207fffff, uint32(height)))
		b.Header.Timestamp = time.Unix(1800000000+int64(height), 0)
		b.AddTransaction(cb)
		fn.blocks = append(fn.blocks, b)
	}
}

// TestFollowerReportsChanges: a poll of the node tells Config.Changed of
// every block it records and every block it undoes, in order, and of
// nothing when nothing changed — what wakes the daemon's reconcile and
// health loops without waiting for their tick (Run adds ChangePoll after
// each poll).
func TestFollowerReportsChanges(t *testing.T) {
	ctx := context.Background()
	fn, node := mustFakeNode(t, 5)
	f := mustFollowerOf(t, node)
	var mu sync.Mutex
	var got []Change
	f.cfg.Changed = func(c Change) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, c)
	}
	take := func() []Change {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
	blocks := func(from, to int32) []Change {
		var out []Change
		for h := from; h <= to; h++ {
			out = append(out, Change{Kind: ChangeBlock, Height: h})
		}
		return out
	}

	require.NoError(t, f.cycle(ctx))
	require.Equal(t, blocks(0, 5), take())

	require.NoError(t, f.cycle(ctx))
	require.Empty(t, take(), "nothing new, nothing reported")

	// Blocks 4 and 5 are replaced by three others.
	fn.mineFork(3, 3)
	_, tip := fn.tip()
	require.NotEqual(t, chainhash.Hash{}, tip)
	require.NoError(t, f.cycle(ctx))
	want := []Change{{Kind: ChangeDisconnect, Height: 5}, {Kind: ChangeDisconnect, Height: 4}}
	want = append(want, blocks(4, 6)...)
	require.Equal(t, want, take())
	requireSyncedAt(t, fn, f.Status())
}
