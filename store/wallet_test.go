package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

func TestEnsureNetwork(t *testing.T) {
	tests := []struct {
		name   string
		before []reserve.Network // recorded first, each must succeed
		net    reserve.Network
		code   *reserve.Code // nil: success
	}{
		{name: "first use records", net: reserve.Regtest},
		{name: "same network again", before: []reserve.Network{reserve.Regtest}, net: reserve.Regtest},
		{name: "other network", before: []reserve.Network{reserve.Regtest}, net: reserve.Mainnet, code: codePtr(reserve.CodeFailedPrecondition)},
		{name: "unspecified", net: reserve.NetworkUnspecified, code: codePtr(reserve.CodeInvalid)},
		{name: "unknown number", net: reserve.Network(9), code: codePtr(reserve.CodeInvalid)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustOpen(t)
			for _, n := range tc.before {
				require.NoError(t, db.EnsureNetwork(ctx, n))
			}
			err := db.EnsureNetwork(ctx, tc.net)
			if tc.code == nil {
				require.NoError(t, err)
				return
			}
			requireCode(t, err, *tc.code)
		})
	}

	t.Run("survives reopening", func(t *testing.T) {
		ctx := context.Background()
		db := MustOpen(t)
		require.NoError(t, db.EnsureNetwork(ctx, reserve.Signet))
		require.NoError(t, db.Close())
		db = MustOpenPath(t, db.Path())
		err := db.EnsureNetwork(ctx, reserve.Testnet)
		requireCode(t, err, reserve.CodeFailedPrecondition)
		require.Contains(t, err.Error(), "holds a signet reserve, not testnet")
	})
}

func codePtr(c reserve.Code) *reserve.Code { return &c }

func TestCreateWallet(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, db *store.DB)
		wallet    func() reserve.Wallet
		lookahead []reserve.Address
		code      *reserve.Code
		field     string // the reserve.Error field, for CodeInvalid
	}{
		{name: "records wallet and lookahead", wallet: testWallet, lookahead: testLookahead(3)},
		{name: "fills a zero creation time", wallet: func() reserve.Wallet {
			w := testWallet()
			w.CreatedAt = time.Time{}
			return w
		}},
		{name: "second wallet", wallet: testWallet, code: codePtr(reserve.CodeConflict),
			setup: func(t *testing.T, db *store.DB) {
				w := testWallet()
				w.ID, w.Name = "first", "First reserve"
				require.NoError(t, db.CreateWallet(context.Background(), w, nil))
			}},
		{name: "store made for another network", wallet: testWallet, code: codePtr(reserve.CodeFailedPrecondition),
			setup: func(t *testing.T, db *store.DB) {
				require.NoError(t, db.EnsureNetwork(context.Background(), reserve.Mainnet))
			}},
		{name: "empty id", code: codePtr(reserve.CodeInvalid), field: "id", wallet: func() reserve.Wallet {
			w := testWallet()
			w.ID = ""
			return w
		}},
		{name: "no network", code: codePtr(reserve.CodeInvalid), field: "network", wallet: func() reserve.Wallet {
			w := testWallet()
			w.Network = reserve.NetworkUnspecified
			return w
		}},
		{name: "name too long", code: codePtr(reserve.CodeInvalid), field: "name", wallet: func() reserve.Wallet {
			w := testWallet()
			w.Name = strings.Repeat("n", 2000)
			return w
		}},
		{name: "lookahead with unknown branch rolls back", wallet: testWallet, code: codePtr(reserve.CodeInvalid), field: "lookahead[1].branch",
			lookahead: []reserve.Address{testAddress(reserve.BranchReceive, 0), {Branch: 5, Script: []byte{1}}}},
		{name: "lookahead with a repeated script rolls back", wallet: testWallet, code: codePtr(reserve.CodeConflict),
			lookahead: func() []reserve.Address {
				a, b := testAddress(reserve.BranchReceive, 0), testAddress(reserve.BranchReceive, 1)
				b.Script = a.Script
				return []reserve.Address{a, b}
			}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustOpen(t)
			if tc.setup != nil {
				tc.setup(t, db)
			}
			logBefore, err := db.AuditLog(ctx)
			require.NoError(t, err)
			before, err := db.Wallet(ctx)
			if err != nil {
				requireCode(t, err, reserve.CodeNotFound)
			}

			err = db.CreateWallet(ctx, tc.wallet(), tc.lookahead)
			if tc.code != nil {
				requireCode(t, err, *tc.code)
				if tc.field != "" {
					require.Equal(t, tc.field, err.(*reserve.Error).Field)
				}
				// Nothing of the refused call is left behind.
				after, err := db.Wallet(ctx)
				if err != nil {
					requireCode(t, err, reserve.CodeNotFound)
				}
				require.Equal(t, before, after)
				addrs, err := db.Addresses(ctx, reserve.BranchReceive)
				require.NoError(t, err)
				require.Empty(t, addrs)
				logAfter, err := db.AuditLog(ctx)
				require.NoError(t, err)
				require.Equal(t, logBefore, logAfter)
				return
			}

			require.NoError(t, err)
			got, err := db.Wallet(ctx)
			require.NoError(t, err)
			want := tc.wallet()
			if want.CreatedAt.IsZero() {
				want.CreatedAt = fixedNow
			}
			require.Equal(t, want, got)

			var wantAddrs []reserve.Address
			for _, a := range tc.lookahead {
				if a.Branch == reserve.BranchReceive {
					wantAddrs = append(wantAddrs, a)
				}
			}
			addrs, err := db.Addresses(ctx, reserve.BranchReceive)
			require.NoError(t, err)
			require.Equal(t, wantAddrs, addrs)

			log, err := db.AuditLog(ctx)
			require.NoError(t, err)
			require.Equal(t, []store.AuditEntry{{
				Seq: 1, Time: fixedNow.Truncate(time.Second), Actor: store.UnknownActor, Kind: store.AuditWalletCreate,
				IDs:    map[string]string{"wallet": "custos-test-wallet", "network": "regtest"},
				Detail: `name="Test reserve" id="custos-test-wallet" network=regtest`,
			}}, log)

			// The wallet's network is now the store's.
			requireCode(t, db.EnsureNetwork(ctx, reserve.Mainnet), reserve.CodeFailedPrecondition)
		})
	}
}

func TestWalletNotFound(t *testing.T) {
	_, err := MustOpen(t).Wallet(context.Background())
	requireCode(t, err, reserve.CodeNotFound)
}

func TestPutAddresses(t *testing.T) {
	changed := testAddress(reserve.BranchReceive, 1)
	changed.Script = testScript(reserve.BranchReceive, 99)
	stolen := testAddress(reserve.BranchReceive, 7)
	stolen.Script = testScript(reserve.BranchReceive, 2)
	hardened := testAddress(reserve.BranchReceive, 1<<31)
	noScript := testAddress(reserve.BranchReceive, 8)
	noScript.Script = nil
	longLabel := testAddress(reserve.BranchReceive, 8)
	longLabel.Label = strings.Repeat("l", store.MaxLabelLen+1)
	zeroTime := testAddress(reserve.BranchChange, 9)
	zeroTime.CreatedAt = time.Time{}

	tests := []struct {
		name  string
		noWal bool
		addrs []reserve.Address
		code  *reserve.Code
		field string
		// want is the receive branch afterwards (on success).
		want []reserve.Address
	}{
		{
			name:  "inserts new ones in index order",
			addrs: []reserve.Address{testAddress(reserve.BranchReceive, 4), testAddress(reserve.BranchReceive, 3)},
			want:  receive(0, 1, 2, 3, 4),
		},
		{
			name:  "existing ones are kept as they are",
			addrs: []reserve.Address{testAddress(reserve.BranchReceive, 0), testAddress(reserve.BranchReceive, 1)},
			want:  receive(0, 1, 2),
		},
		{
			name:  "fills a zero creation time",
			addrs: []reserve.Address{zeroTime},
			want:  receive(0, 1, 2),
		},
		{name: "no wallet yet", noWal: true, addrs: receive(0), code: codePtr(reserve.CodeFailedPrecondition)},
		{
			name:  "existing index with another script",
			addrs: []reserve.Address{testAddress(reserve.BranchReceive, 5), changed},
			code:  codePtr(reserve.CodeConflict),
		},
		{name: "script of another address", addrs: []reserve.Address{stolen}, code: codePtr(reserve.CodeConflict)},
		{name: "hardened index", addrs: []reserve.Address{hardened}, code: codePtr(reserve.CodeInvalid), field: "addresses[0].index"},
		{name: "no script", addrs: []reserve.Address{noScript}, code: codePtr(reserve.CodeInvalid), field: "addresses[0].script"},
		{name: "label too long", addrs: []reserve.Address{longLabel}, code: codePtr(reserve.CodeInvalid), field: "addresses[0].label"},
		{name: "unknown branch", addrs: []reserve.Address{{Branch: 2, Script: []byte{1}}}, code: codePtr(reserve.CodeInvalid), field: "addresses[0].branch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustOpen(t)
			if !tc.noWal {
				require.NoError(t, db.CreateWallet(ctx, testWallet(), receive(0, 1, 2)))
			}
			before, err := db.Addresses(ctx, reserve.BranchReceive)
			require.NoError(t, err)

			err = db.PutAddresses(ctx, tc.addrs)
			if tc.code != nil {
				requireCode(t, err, *tc.code)
				if tc.field != "" {
					require.Equal(t, tc.field, err.(*reserve.Error).Field)
				}
				after, err := db.Addresses(ctx, reserve.BranchReceive)
				require.NoError(t, err)
				require.Equal(t, before, after, "a refused batch changes nothing")
				return
			}
			require.NoError(t, err)
			got, err := db.Addresses(ctx, reserve.BranchReceive)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("keeps label and issued flag", func(t *testing.T) {
		ctx := context.Background()
		db := MustWallet(t)
		issued, err := db.IssueAddress(ctx, "tax office")
		require.NoError(t, err)
		require.NoError(t, db.PutAddresses(ctx, []reserve.Address{testAddress(reserve.BranchReceive, 0)}))
		got, err := db.Addresses(ctx, reserve.BranchReceive)
		require.NoError(t, err)
		require.Equal(t, issued, got[0])
		require.True(t, got[0].Issued)
		require.Equal(t, "tax office", got[0].Label)
	})

	t.Run("zero creation time comes from the clock", func(t *testing.T) {
		ctx := context.Background()
		db := MustWallet(t)
		require.NoError(t, db.PutAddresses(ctx, []reserve.Address{zeroTime}))
		got, err := db.Addresses(ctx, reserve.BranchChange)
		require.NoError(t, err)
		require.Equal(t, fixedNow, got[len(got)-1].CreatedAt)
	})
}

// receive is the test receive addresses at the given indexes.
func receive(indexes ...uint32) []reserve.Address {
	out := make([]reserve.Address, len(indexes))
	for i, idx := range indexes {
		out[i] = testAddress(reserve.BranchReceive, idx)
	}
	return out
}

func TestAddresses(t *testing.T) {
	ctx := context.Background()
	db := MustWallet(t)
	tests := []struct {
		name   string
		branch reserve.Branch
		want   int
		code   *reserve.Code
	}{
		{name: "receive", branch: reserve.BranchReceive, want: 5},
		{name: "change", branch: reserve.BranchChange, want: 5},
		{name: "unknown branch", branch: 2, code: codePtr(reserve.CodeInvalid)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Addresses(ctx, tc.branch)
			if tc.code != nil {
				requireCode(t, err, *tc.code)
				return
			}
			require.NoError(t, err)
			require.Len(t, got, tc.want)
			for i, a := range got {
				require.Equal(t, testAddress(tc.branch, uint32(i)), a)
			}
		})
	}

	t.Run("empty store", func(t *testing.T) {
		got, err := MustOpen(t).Addresses(ctx, reserve.BranchReceive)
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

func TestHorizon(t *testing.T) {
	tests := []struct {
		name        string
		act         func(t *testing.T, db *store.DB)
		wantReceive uint32
		wantChange  uint32
	}{
		{name: "nothing issued or used", act: func(*testing.T, *store.DB) {}},
		{name: "one issued", wantReceive: 1, act: func(t *testing.T, db *store.DB) {
			_, err := db.IssueAddress(context.Background(), "")
			require.NoError(t, err)
		}},
		{name: "paid past the issued ones", wantReceive: 4, act: func(t *testing.T, db *store.DB) {
			_, err := db.IssueAddress(context.Background(), "")
			require.NoError(t, err)
			pay(t, db, 1, reserve.BranchReceive, 3)
		}},
		{name: "change is its own branch", wantChange: 3, act: func(t *testing.T, db *store.DB) {
			pay(t, db, 1, reserve.BranchChange, 2)
		}},
		{name: "used stays used when the payment is gone", wantReceive: 2, act: func(t *testing.T, db *store.DB) {
			tx := pay(t, db, 1, reserve.BranchReceive, 1)
			require.NoError(t, db.ApplyMempool(context.Background(), reserve.MempoolUpdate{Gone: []chainhash.Hash{tx.TxHash()}}))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := MustWallet(t)
			tc.act(t, db)
			r, err := db.Horizon(ctx, reserve.BranchReceive)
			require.NoError(t, err)
			require.Equal(t, tc.wantReceive, r, "receive")
			c, err := db.Horizon(ctx, reserve.BranchChange)
			require.NoError(t, err)
			require.Equal(t, tc.wantChange, c, "change")
		})
	}

	t.Run("unknown branch", func(t *testing.T) {
		_, err := MustWallet(t).Horizon(context.Background(), 7)
		requireCode(t, err, reserve.CodeInvalid)
	})
}

// pay records an unconfirmed payment to address branch/index.
func pay(t *testing.T, db *store.DB, seed uint32, branch reserve.Branch, index uint32) *wire.MsgTx {
	t.Helper()
	tx := testTx(seed, wireOut(10_000, testScript(branch, index)))
	require.NoError(t, db.ApplyMempool(context.Background(), reserve.MempoolUpdate{
		Credits: []reserve.UTXO{credit(tx, 0, branch, index)},
		Txs:     []*wire.MsgTx{tx},
	}))
	return tx
}

func TestIssueAddress(t *testing.T) {
	tests := []struct {
		name      string
		noWallet  bool
		before    func(t *testing.T, db *store.DB)
		label     string
		wantIndex uint32
		code      *reserve.Code
	}{
		{name: "first address", label: "customs", wantIndex: 0},
		{name: "label of the maximum length", label: strings.Repeat("é", store.MaxLabelLen/2), wantIndex: 0},
		{name: "after issued ones", label: "second", wantIndex: 2, before: func(t *testing.T, db *store.DB) {
			for range 2 {
				_, err := db.IssueAddress(context.Background(), "")
				require.NoError(t, err)
			}
		}},
		{name: "skips paid ones", wantIndex: 3, before: func(t *testing.T, db *store.DB) {
			pay(t, db, 1, reserve.BranchReceive, 2)
		}},
		{name: "after the lookahead was extended", wantIndex: 5, before: func(t *testing.T, db *store.DB) {
			pay(t, db, 1, reserve.BranchReceive, 4)
			require.NoError(t, db.PutAddresses(context.Background(), receive(5, 6)))
		}},
		{name: "lookahead exhausted", code: codePtr(reserve.CodeNotFound), before: func(t *testing.T, db *store.DB) {
			pay(t, db, 1, reserve.BranchReceive, 4)
		}},
		{name: "label too long", label: strings.Repeat("l", store.MaxLabelLen+1), code: codePtr(reserve.CodeInvalid)},
		{name: "label not UTF-8", label: "tax\xff", code: codePtr(reserve.CodeInvalid)},
		{name: "no wallet", noWallet: true, code: codePtr(reserve.CodeFailedPrecondition)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var db *store.DB
			if tc.noWallet {
				db = MustOpen(t)
			} else {
				db = MustWallet(t)
			}
			if tc.before != nil {
				tc.before(t, db)
			}
			logBefore, err := db.AuditLog(ctx)
			require.NoError(t, err)

			got, err := db.IssueAddress(ctx, tc.label)
			if tc.code != nil {
				requireCode(t, err, *tc.code)
				logAfter, err := db.AuditLog(ctx)
				require.NoError(t, err)
				require.Equal(t, logBefore, logAfter)
				return
			}
			require.NoError(t, err)
			want := testAddress(reserve.BranchReceive, tc.wantIndex)
			want.Issued, want.Label = true, tc.label
			require.Equal(t, want, got)

			// It is recorded, and audited in the same transaction.
			addrs, err := db.Addresses(ctx, reserve.BranchReceive)
			require.NoError(t, err)
			require.Equal(t, want, addrs[tc.wantIndex])
			h, err := db.Horizon(ctx, reserve.BranchReceive)
			require.NoError(t, err)
			require.Equal(t, tc.wantIndex+1, h)
			log, err := db.AuditLog(ctx)
			require.NoError(t, err)
			require.Len(t, log, len(logBefore)+1)
			last := log[len(log)-1]
			require.Equal(t, store.AuditAddressIssue, last.Kind)
			require.Equal(t, fixedNow.Truncate(time.Second), last.Time) // leaves keep seconds
			require.Equal(t, uint64(len(log)), last.Seq)
			require.Contains(t, last.Detail, "branch=receive index="+strconv.FormatUint(uint64(tc.wantIndex), 10))
			require.Contains(t, last.Detail, "address="+want.Address)
		})
	}
}
