package chain

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// cacheStore is a real store whose derived-key cache a test can replace
// and whose writes of it it counts.
type cacheStore struct {
	*store.DB
	mu   sync.Mutex
	puts [][]byte
}

func (s *cacheStore) PutDerivedKeys(ctx context.Context, b []byte) error {
	s.mu.Lock()
	s.puts = append(s.puts, b)
	s.mu.Unlock()
	return s.DB.PutDerivedKeys(ctx, b)
}

// warmedLog captures the follower's "derived the stored addresses" line.
type warmedLog struct{ imported chan int64 }

func (h warmedLog) Enabled(context.Context, slog.Level) bool { return true }
func (h warmedLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h warmedLog) WithGroup(string) slog.Handler            { return h }
func (h warmedLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "derived the stored addresses" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "imported" {
				h.imported <- a.Value.Int64()
			}
			return true
		})
	}
	return nil
}

// TestWarmingImportsCheckedKeys checks that a restart takes the stored
// addresses' keys from the store's cache when every cached address gives
// the script the store holds for it (nothing derived, nothing rewritten),
// and refuses a cache with one key changed: it derives the addresses, its
// descriptor gives the right scripts, and the cache is rewritten right.
func TestWarmingImportsCheckedKeys(t *testing.T) {
	const gap = 30 // 60 stored addresses
	tests := []struct {
		name         string
		cache        func(good []byte) []byte
		wantImported int64
		wantPut      bool
	}{
		{name: "no cache: derived, then kept", cache: func([]byte) []byte { return nil }, wantPut: true},
		{name: "checked cache: imported, nothing derived", cache: func(good []byte) []byte { return good }, wantImported: 2 * gap},
		{name: "a changed key: refused, derived, kept anew", wantPut: true, cache: func(good []byte) []byte {
			bad := append([]byte(nil), good...)
			// The first cosigner's key of the third address: another
			// valid compressed key (the second cosigner's).
			rec := 5 + 33*3
			copy(bad[1+2*rec+5:1+2*rec+5+33], good[1+2*rec+5+33:1+2*rec+5+66])
			return bad
		}},
	}
	good := func() []byte {
		d := MustDescriptor(t)
		for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
			require.NoError(t, d.Prederive(b, 0, gap))
		}
		return d.ExportDerived()
	}()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := MustDescriptor(t)
			db, err := store.Open(filepath.Join(t.TempDir(), "custos.db"), store.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			require.NoError(t, db.EnsureNetwork(ctx, reserve.Regtest))
			w := reserve.Wallet{ID: d.WalletID(), Name: "test", Network: reserve.Regtest, Threshold: d.Threshold(),
				Cosigners: d.Cosigners(), Descriptor: d.String(), GapLimit: gap}
			var addrs []reserve.Address
			for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
				for i := range uint32(gap) {
					der, err := d.Derive(b, i)
					require.NoError(t, err)
					addrs = append(addrs, reserve.Address{Branch: b, Index: i, Address: der.Address, Script: der.PkScript})
				}
			}
			require.NoError(t, db.CreateWallet(ctx, w, addrs))
			require.NoError(t, db.PutDerivedKeys(ctx, tc.cache(good)))

			s := &cacheStore{DB: db}
			node, err := DialNode(NodeConfig{Kind: KindBtcd, Host: "127.0.0.1:1"})
			require.NoError(t, err)
			t.Cleanup(node.Close)
			log := warmedLog{imported: make(chan int64, 1)}
			f, err := NewFollower(Config{Node: node, Store: s, Network: reserve.Regtest, Logger: slog.New(log)})
			require.NoError(t, err)
			loaded, err := f.loadWallet(ctx)
			require.NoError(t, err)
			require.True(t, loaded)
			f.startWarming(ctx)
			select {
			case got := <-log.imported:
				require.Equal(t, tc.wantImported, got, "addresses imported")
			case <-time.After(30 * time.Second):
				t.Fatal("warming did not finish")
			}
			// The log line comes after the cache is rewritten, if it is.
			s.mu.Lock()
			defer s.mu.Unlock()
			if !tc.wantPut {
				require.Empty(t, s.puts)
			} else {
				require.Len(t, s.puts, 1)
				require.Equal(t, good, s.puts[0], "the cache kept is the right keys")
			}
			// Whatever the cache held, the follower's descriptor gives the
			// scripts the store holds.
			for _, a := range addrs {
				der, err := f.desc.Derive(a.Branch, a.Index)
				require.NoError(t, err)
				require.Equal(t, a.Script, der.PkScript, "%s %d", a.Branch, a.Index)
			}
		})
	}
}

var _ DerivedKeyStore = (*cacheStore)(nil)
