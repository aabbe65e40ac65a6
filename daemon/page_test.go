package daemon_test

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// mustDaemonCoins starts a daemon whose wallet holds n confirmed coins at
// height 1, written straight into its store (the node is unreachable).
func mustDaemonCoins(t *testing.T, n int) (*testDaemon, custosv1.TreasuryServiceClient) {
	t.Helper()
	td := MustStartDaemon(t)
	MustCreateWallet(t, td)
	ctx := context.Background()
	addrs, err := td.db.Addresses(ctx, reserve.BranchReceive)
	require.NoError(t, err)
	b := reserve.BlockUpdate{Height: 1, Hash: chainhash.HashH([]byte("page block"))}
	for i := range n {
		a := addrs[i%len(addrs)]
		b.Credits = append(b.Credits, reserve.UTXO{
			OutPoint:  wire.OutPoint{Hash: chainhash.HashH(binary.BigEndian.AppendUint32(nil, uint32(i)))},
			AmountSat: 1000 + int64(i), Script: a.Script, Branch: a.Branch, Index: a.Index,
		})
	}
	require.NoError(t, td.db.ApplyBlock(ctx, b))
	return td, custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td))
}

// TestListPageSize checks the page_size rule every list shares, audit
// included: 0 is 100, 1 to 1000 are taken, anything else is
// InvalidArgument naming page_size and reads nothing.
func TestListPageSize(t *testing.T) {
	t.Parallel()
	td, treasury := mustDaemonCoins(t, 150)
	conn := MustDialAdmin(t, td)
	spend, audit := custosv1.NewSpendServiceClient(conn), custosv1.NewAuditServiceClient(conn)
	for _, tt := range []struct {
		name string
		size int32
		want int // coins returned; -1: refused
	}{
		{name: "zero is the default", size: 0, want: 100},
		{name: "one", size: 1, want: 1},
		{name: "the maximum", size: 1000, want: 150},
		{name: "over the maximum", size: 1001, want: -1},
		{name: "negative", size: -1, want: -1},
		{name: "a billion", size: 1_000_000_000, want: -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := callCtx(t)
			u, err := treasury.ListUtxos(ctx, &custosv1.ListUtxosRequest{PageSize: tt.size})
			_, aerr := treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{PageSize: tt.size})
			_, perr := spend.ListProposals(ctx, &custosv1.ListProposalsRequest{PageSize: tt.size})
			_, lerr := audit.ListAudit(ctx, &custosv1.ListAuditRequest{PageSize: tt.size})
			if tt.want < 0 {
				for _, err := range []error{err, aerr, perr, lerr} {
					requireCode(t, err, codes.InvalidArgument, "page_size")
				}
				return
			}
			for _, err := range []error{err, aerr, perr, lerr} {
				require.NoError(t, err)
			}
			require.Len(t, u.Utxos, tt.want)
			require.Equal(t, tt.want == 150, u.NextPageToken == "", "a token only when more follow")
		})
	}
}

// TestListUtxosPages walks the coins a page at a time and checks the
// tokens: the walk equals the one-page list, and a token edited, forged,
// from another list or with another filter is InvalidArgument naming
// page_token.
func TestListUtxosPages(t *testing.T) {
	t.Parallel()
	td, treasury := mustDaemonCoins(t, 25)
	ctx := callCtx(t)
	all, err := treasury.ListUtxos(ctx, &custosv1.ListUtxosRequest{PageSize: 1000})
	require.NoError(t, err)
	require.Len(t, all.Utxos, 25)

	var (
		walked []*custosv1.Utxo
		token  string
		tokens []string
	)
	for {
		r, err := treasury.ListUtxos(ctx, &custosv1.ListUtxosRequest{PageSize: 10, PageToken: token})
		require.NoError(t, err)
		walked = append(walked, r.Utxos...)
		if r.NextPageToken == "" {
			break
		}
		token = r.NextPageToken
		tokens = append(tokens, token)
	}
	require.Len(t, tokens, 2)
	require.Len(t, walked, 25)
	for i := range walked {
		require.Equal(t, all.Utxos[i].Txid, walked[i].Txid, "coin %d", i)
	}

	// The same token twice gives the same page: tokens are stateless.
	again, err := treasury.ListUtxos(ctx, &custosv1.ListUtxosRequest{PageSize: 10, PageToken: tokens[0]})
	require.NoError(t, err)
	require.Equal(t, walked[10].Txid, again.Utxos[0].Txid)

	edited := []byte(tokens[0])
	edited[5] ^= 0x01
	spend := custosv1.NewSpendServiceClient(MustDialAdmin(t, td))
	addrs, err := treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{PageSize: 5, IncludeLookahead: true})
	require.NoError(t, err)
	require.NotEmpty(t, addrs.NextPageToken)
	for _, tt := range []struct {
		name string
		call func() error
		msg  string
	}{
		{name: "edited", msg: "page_token", call: func() error {
			_, err := treasury.ListUtxos(ctx, &custosv1.ListUtxosRequest{PageToken: string(edited)})
			return err
		}},
		{name: "forged", msg: "not a page token", call: func() error {
			_, err := treasury.ListUtxos(ctx, &custosv1.ListUtxosRequest{PageToken: "not-a-token!"})
			return err
		}},
		{name: "too long", msg: "too long", call: func() error {
			_, err := treasury.ListUtxos(ctx, &custosv1.ListUtxosRequest{PageToken: strings.Repeat("A", 200)})
			return err
		}},
		{name: "a ListUtxos token given to ListProposals", msg: "another list", call: func() error {
			_, err := spend.ListProposals(ctx, &custosv1.ListProposalsRequest{PageToken: tokens[0]})
			return err
		}},
		{name: "a ListUtxos token given to ListAddresses", msg: "another list", call: func() error {
			_, err := treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{PageToken: tokens[0]})
			return err
		}},
		{name: "an address token with another branch", msg: "with this filter", call: func() error {
			_, err := treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{
				Branch: custosv1.Branch_BRANCH_CHANGE, IncludeLookahead: true, PageToken: addrs.NextPageToken,
			})
			return err
		}},
		{name: "an address token without lookahead", msg: "with this filter", call: func() error {
			_, err := treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{PageToken: addrs.NextPageToken})
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			requireCode(t, tt.call(), codes.InvalidArgument, "page_token", tt.msg)
		})
	}

	// The address token with its own filter continues the list.
	next, err := treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{PageSize: 5, IncludeLookahead: true, PageToken: addrs.NextPageToken})
	require.NoError(t, err)
	require.Equal(t, uint32(5), next.Addresses[0].Index)
}

// TestGetBalanceFromTotals checks that the balance the daemon serves is
// the store's maintained one, equal to a scan of the coins.
func TestGetBalanceFromTotals(t *testing.T) {
	t.Parallel()
	td, treasury := mustDaemonCoins(t, 30)
	b, err := treasury.GetBalance(callCtx(t), &custosv1.GetBalanceRequest{})
	require.NoError(t, err)
	utxos, err := td.db.UTXOs(context.Background(), false)
	require.NoError(t, err)
	want := reserve.BalanceOf(utxos, 1)
	require.Equal(t, want.ConfirmedSat, b.ConfirmedSat)
	require.Equal(t, int64(30*1000+29*30/2), b.ConfirmedSat)
	require.Equal(t, int32(1), b.SyncedHeight)
}
