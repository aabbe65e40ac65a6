package main

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// TestGenerateInvariants builds the 10^3 fixture, as scripts/bench-scale.sh
// does, and checks what the script relies on, so the generator cannot rot:
// the counts it promises, every end state, the maintained totals equal to
// a scan of the coins, an audit log whose tree and chained roots verify,
// and the same records (the same audit root) from a second build.
func TestGenerateInvariants(t *testing.T) {
	ctx := context.Background()
	size := SizeFor(1000)
	path := filepath.Join(t.TempDir(), "custos.db")
	sum, err := Generate(ctx, path, size)
	require.NoError(t, err)

	require.Equal(t, GeneratorVersion, sum.Version)
	require.Equal(t, size.Coins, sum.Unspent, "unspent coins")
	require.Equal(t, size.Addresses, sum.Issued, "issued addresses")
	require.Equal(t, int64(size.Audit), sum.AuditSize, "audit entries")
	total := 0
	for _, st := range []reserve.State{reserve.StateConfirmed, reserve.StateCancelled, reserve.StateExpired,
		reserve.StateRejected, reserve.StateFailed, reserve.StateReplaced} {
		require.Positive(t, sum.States[st.String()], "proposals %s", st)
		total += sum.States[st.String()]
	}
	require.Equal(t, size.Proposals, total, "every proposal is in an end state")

	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()

	t.Run("totals equal a scan", func(t *testing.T) {
		coins, err := db.UTXOs(ctx, false)
		require.NoError(t, err)
		bal, tip, err := db.Balance(ctx)
		require.NoError(t, err)
		require.Equal(t, reserve.BalanceOf(coins, tip), bal)
		require.Equal(t, sum.BalanceSat, bal.ConfirmedSat)
		var pages int
		for after := []byte(nil); ; pages++ {
			page, next, _, err := db.UTXOPage(ctx, after, reserve.MaxPageSize)
			require.NoError(t, err)
			if next == nil {
				require.Equal(t, len(coins), pages*reserve.MaxPageSize+len(page), "pages cover every coin")
				break
			}
			after = next
		}
	})

	t.Run("audit verifies", func(t *testing.T) {
		size, root, err := db.AuditTree(ctx)
		require.NoError(t, err)
		hashes := make(memHashes)
		for from := int64(1); from <= size; {
			leaves, err := db.AuditLeaves(ctx, from, 0, 1000)
			require.NoError(t, err)
			require.NotEmpty(t, leaves)
			for _, enc := range leaves {
				l, err := audit.ParseLeaf(enc)
				require.NoError(t, err)
				require.Equal(t, from, l.Seq)
				prev, err := tlog.TreeHash(from-1, hashes)
				require.NoError(t, err)
				require.Equal(t, prev, l.Prev, "leaf %d chains the root before it", from)
				stored, err := tlog.StoredHashes(from-1, enc, hashes)
				require.NoError(t, err)
				for i, h := range stored {
					hashes[tlog.StoredHashIndex(0, from-1)+int64(i)] = h
				}
				from++
			}
		}
		got, err := tlog.TreeHash(size, hashes)
		require.NoError(t, err)
		require.Equal(t, root, got)
		require.Equal(t, sum.AuditRoot, hex.EncodeToString(got[:]))
	})

	t.Run("same records from a second build", func(t *testing.T) {
		again, err := Generate(ctx, filepath.Join(t.TempDir(), "custos.db"), size)
		require.NoError(t, err)
		require.Equal(t, sum, again)
	})
}

// memHashes is a tlog.HashReader over a map.
type memHashes map[int64]tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = m[x]
	}
	return out, nil
}
