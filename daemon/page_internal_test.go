package daemon

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// keyStore is a Store whose only working method is PageKey.
type keyStore struct {
	Store
	key []byte
}

func (k keyStore) PageKey(context.Context) ([]byte, error) { return k.key, nil }

func pageDaemon(key []byte) *Daemon {
	return &Daemon{cfg: Config{Store: keyStore{key: key}}}
}

// TestPageTokens checks the token rules the daemon enforces before the
// store is read: bound to the list and its filter (a proposal token of
// one state is refused for another), authenticated by the store's key (a
// daemon restarted on the same store takes it, one with another key does
// not), and "" at the end of a list.
func TestPageTokens(t *testing.T) {
	ctx := context.Background()
	key := []byte("0123456789abcdef0123456789abcdef")
	d := pageDaemon(key)
	signing := []byte{byte(reserve.StateSigning)}
	cursor := []byte{0, 0, 0, 0, 0, 0, 0, 42}
	tok, err := d.sealPage(ctx, pageProposals, signing, cursor)
	require.NoError(t, err)
	require.NotEmpty(t, tok)
	end, err := d.sealPage(ctx, pageProposals, signing, nil)
	require.NoError(t, err)
	require.Empty(t, end, "no cursor, no token: the end of the list")

	for _, tt := range []struct {
		name   string
		d      *Daemon
		list   pageList
		filter []byte
		token  string
		msg    string // "" when the token opens
	}{
		{name: "same list and filter", d: d, list: pageProposals, filter: signing, token: tok},
		{name: "a restarted daemon on the same store", d: pageDaemon(key), list: pageProposals, filter: signing, token: tok},
		{name: "no token is the first page", d: d, list: pageProposals, filter: signing},
		{name: "another state", d: d, list: pageProposals, filter: []byte{byte(reserve.StateConfirmed)}, token: tok, msg: "with this filter"},
		{name: "all states", d: d, list: pageProposals, filter: []byte{0}, token: tok, msg: "with this filter"},
		{name: "another list", d: d, list: pageUTXOs, token: tok, msg: "another list"},
		{name: "another daemon's key", d: pageDaemon([]byte("another key, another store......")), list: pageProposals, filter: signing, token: tok, msg: "not issued"},
		{name: "not base64", d: d, list: pageProposals, filter: signing, token: "***", msg: "not a page token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.d.openPage(ctx, tt.list, tt.filter, tt.token)
			if tt.msg != "" {
				require.Error(t, err)
				require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
				require.ErrorContains(t, err, tt.msg)
				return
			}
			require.NoError(t, err)
			if tt.token == "" {
				require.Nil(t, got)
				return
			}
			require.Equal(t, cursor, got)
		})
	}
}
