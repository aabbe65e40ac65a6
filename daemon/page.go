package daemon

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"sync"

	"github.com/custos-reserve/custos/reserve"
)

// PageStore is the store's part of the paged reads: balances from totals
// kept up to date with the coins, and listings read one page at a time by
// a cursor, so that no read grows with the history (issue 15). A cursor is
// the store's key of the last item returned; the daemon hands it out only
// inside an authenticated page token.
type PageStore interface {
	// Balance is the wallet's balance at the synced tip (-1 before the
	// first block), from maintained totals.
	Balance(ctx context.Context) (reserve.Balance, int32, error)
	// UTXOPage lists up to limit unspent coins oldest first after the
	// cursor after (nil: from the first); next is nil at the end.
	UTXOPage(ctx context.Context, after []byte, limit int) (utxos []reserve.UTXO, next []byte, tip int32, err error)
	// AddressPage lists up to limit addresses of branch by index after
	// the cursor, with what each received; without lookahead only issued
	// or paid ones.
	AddressPage(ctx context.Context, branch reserve.Branch, lookahead bool, after []byte, limit int) ([]reserve.AddressActivity, []byte, error)
	// ProposalPage lists up to limit proposals in state (0: all), newest
	// first, after the cursor.
	ProposalPage(ctx context.Context, state reserve.State, after []byte, limit int) ([]reserve.Proposal, []byte, error)
	// ProposalCounts is how many proposals are in each state.
	ProposalCounts(ctx context.Context) (map[reserve.State]int, error)
	// PageKey is the secret page tokens are authenticated with; it lives
	// in the store so tokens stay valid across restarts.
	PageKey(ctx context.Context) ([]byte, error)
}

// pageList names the listing a token was issued for. Persisted in tokens:
// never renumber.
type pageList byte

const (
	pageUTXOs     pageList = 1
	pageAddresses pageList = 2
	pageProposals pageList = 3
)

const (
	pageTokenVersion = 1
	pageMACLen       = 16
	// maxPageToken bounds what is decoded: the longest cursor (a coin,
	// 40 bytes) with its header and MAC, base64, is under 100 characters.
	maxPageToken = 128
)

// pageKeyCache reads the page token key from the store once.
type pageKeyCache struct {
	mu  sync.Mutex
	key []byte
}

func (c *pageKeyCache) get(ctx context.Context, st PageStore) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key == nil {
		key, err := st.PageKey(ctx)
		if err != nil {
			return nil, err
		}
		c.key = key
	}
	return c.key, nil
}

// pageSize applies the rule every listing shares: 0 is the default, more
// than the maximum or negative is refused naming page_size.
func pageSize(n int32) (int, error) {
	switch {
	case n == 0:
		return reserve.DefaultPageSize, nil
	case n < 0 || n > reserve.MaxPageSize:
		return 0, reserve.Invalid("page_size", "is %d, want 0 (for %d) to %d", n, reserve.DefaultPageSize, reserve.MaxPageSize)
	}
	return int(n), nil
}

// pageMAC authenticates a cursor for one list and filter.
func pageMAC(key []byte, list pageList, filter, cursor []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("custos page token v1\x00"))
	m.Write([]byte{byte(list), byte(len(filter))})
	m.Write(filter)
	m.Write(cursor)
	return m.Sum(nil)[:pageMACLen]
}

// sealPage makes the page token for cursor ("" for nil: the end).
func (d *Daemon) sealPage(ctx context.Context, list pageList, filter, cursor []byte) (string, error) {
	if cursor == nil {
		return "", nil
	}
	key, err := d.pages.get(ctx, d.cfg.Store)
	if err != nil {
		return "", err
	}
	raw := append([]byte{pageTokenVersion, byte(list)}, cursor...)
	raw = append(raw, pageMAC(key, list, filter, cursor)...)
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// openPage checks a page token against the list and filter of the request
// and returns its cursor (nil for ""). Anything else than a token this
// daemon issued for this list and filter is InvalidArgument: nothing is
// read for it.
func (d *Daemon) openPage(ctx context.Context, list pageList, filter []byte, token string) ([]byte, error) {
	if token == "" {
		return nil, nil
	}
	bad := func(why string) error { return reserve.Invalid("page_token", "%s", why) }
	if len(token) > maxPageToken {
		return nil, bad("is too long to be a page token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	switch {
	case err != nil || len(raw) < 2+1+pageMACLen:
		return nil, bad("is not a page token")
	case raw[0] != pageTokenVersion:
		return nil, bad("is a page token of an unknown version")
	case pageList(raw[1]) != list:
		return nil, bad("was issued for another list")
	}
	key, err := d.pages.get(ctx, d.cfg.Store)
	if err != nil {
		return nil, err
	}
	cursor, mac := raw[2:len(raw)-pageMACLen], raw[len(raw)-pageMACLen:]
	if !hmac.Equal(mac, pageMAC(key, list, filter, cursor)) {
		return nil, bad("was not issued by this daemon for this list with this filter")
	}
	return cursor, nil
}

// proposalPage is one page of the proposals in state (0: all), newest
// first, and the next page's token.
func (d *Daemon) proposalPage(ctx context.Context, state reserve.State, size int32, token string) ([]reserve.Proposal, string, error) {
	limit, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	filter := []byte{byte(state)}
	after, err := d.openPage(ctx, pageProposals, filter, token)
	if err != nil {
		return nil, "", err
	}
	ps, next, err := d.cfg.Store.ProposalPage(ctx, state, after, limit)
	if err != nil {
		return nil, "", err
	}
	tok, err := d.sealPage(ctx, pageProposals, filter, next)
	if err != nil {
		return nil, "", err
	}
	return ps, tok, nil
}
