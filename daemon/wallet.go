package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// Input limits, checked before any parsing.
const (
	maxWalletName = 64
	maxKeyRecord  = 512
	maxLabelBytes = 256
	maxGapLimit   = 1000
)

// walletSpec is a request to create the reserve wallet.
type walletSpec struct {
	Name      string
	Threshold int
	Cosigners []string
	GapLimit  uint32
	Birthday  *int32
}

// createWallet validates spec, derives the first lookahead addresses and
// records the wallet.
func (d *Daemon) createWallet(ctx context.Context, spec walletSpec) (reserve.Wallet, error) {
	if err := checkName(spec.Name); err != nil {
		return reserve.Wallet{}, err
	}
	if len(spec.Cosigners) == 0 || len(spec.Cosigners) > reserve.MaxCosigners {
		return reserve.Wallet{}, reserve.Invalid("cosigners", "need 1 to %d cosigners, got %d", reserve.MaxCosigners, len(spec.Cosigners))
	}
	keys := make([]reserve.Cosigner, len(spec.Cosigners))
	for i, rec := range spec.Cosigners {
		field := fmt.Sprintf("cosigner[%d]", i)
		if len(rec) > maxKeyRecord {
			return reserve.Wallet{}, reserve.Invalid(field, "key record is longer than %d bytes", maxKeyRecord)
		}
		k, err := multisig.ParseKeyRecord(rec, d.cfg.Network)
		if err != nil {
			return reserve.Wallet{}, withField(err, field)
		}
		keys[i] = k
	}
	desc, err := multisig.NewDescriptor(d.cfg.Network, spec.Threshold, keys)
	if err != nil {
		return reserve.Wallet{}, err
	}
	gap := spec.GapLimit
	if gap == 0 {
		gap = reserve.DefaultGapLimit
	}
	if gap > maxGapLimit {
		return reserve.Wallet{}, reserve.Invalid("gap_limit", "at most %d, got %d", maxGapLimit, gap)
	}
	birthday, err := d.birthday(ctx, spec.Birthday)
	if err != nil {
		return reserve.Wallet{}, err
	}
	w := reserve.Wallet{
		ID:             desc.WalletID(),
		Name:           spec.Name,
		Network:        d.cfg.Network,
		Threshold:      spec.Threshold,
		Cosigners:      desc.Cosigners(),
		Descriptor:     desc.String(),
		GapLimit:       gap,
		BirthdayHeight: birthday,
		CreatedAt:      d.cfg.Now().UTC(),
	}
	lookahead, err := deriveRange(desc, gap, w.CreatedAt)
	if err != nil {
		return reserve.Wallet{}, err
	}
	if err := d.cfg.Store.CreateWallet(ctx, w, lookahead); err != nil {
		return reserve.Wallet{}, err
	}
	d.log.Info("wallet created", "wallet", w.ID, "threshold", w.Threshold, "cosigners", len(w.Cosigners), "birthday", birthday)
	d.follower.Kick()
	return w, nil
}

// birthday is the first height to scan: as asked, or the node's tip now
// (nothing paid a wallet that did not exist yet), or 0 when the node
// cannot say.
func (d *Daemon) birthday(ctx context.Context, asked *int32) (int32, error) {
	if asked != nil {
		if *asked < 0 {
			return 0, reserve.Invalid("birthday_height", "must not be negative, got %d", *asked)
		}
		return *asked, nil
	}
	err := d.node.Probe(ctx)
	if err == nil {
		var info chain.ChainInfo
		if info, err = d.node.ChainInfo(ctx); err == nil && info.Network == d.cfg.Network {
			return info.Blocks, nil
		}
	}
	d.log.Warn("node cannot tell its height at wallet creation; the wallet will scan from genesis", "err", err)
	return 0, nil
}

// deriveRange derives the first gap addresses of both branches.
func deriveRange(desc *multisig.Descriptor, gap uint32, now time.Time) ([]reserve.Address, error) {
	addrs := make([]reserve.Address, 0, 2*gap)
	for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		for i := uint32(0); i < gap; i++ {
			d, err := desc.Derive(b, i)
			if err != nil {
				return nil, fmt.Errorf("unable to derive %s address %d: %w", b, i, err)
			}
			addrs = append(addrs, reserve.Address{Branch: b, Index: i, Address: d.Address, Script: d.PkScript, CreatedAt: now})
		}
	}
	return addrs, nil
}

// newAddress issues the next unused receive address, then keeps the gap
// of watched addresses ahead of it.
func (d *Daemon) newAddress(ctx context.Context, label string) (reserve.Address, error) {
	// A label is shown next to the address people deposit to: printable
	// only, as memos are.
	if err := checkText("label", label, maxLabelBytes); err != nil {
		return reserve.Address{}, err
	}
	if _, err := d.cfg.Store.Wallet(ctx); err != nil {
		return reserve.Address{}, noWallet(err)
	}
	d.addressMu.Lock()
	defer d.addressMu.Unlock()
	// The follower keeps the gap derived; make sure it is before issuing
	// in case this daemon has not polled since the wallet was made.
	if err := d.follower.EnsureLookahead(ctx); err != nil {
		return reserve.Address{}, err
	}
	a, err := d.cfg.Store.IssueAddress(ctx, label)
	if err != nil {
		return reserve.Address{}, err
	}
	if err := d.follower.EnsureLookahead(ctx); err != nil {
		return reserve.Address{}, err
	}
	d.log.Info("address issued", "branch", a.Branch.String(), "index", a.Index)
	return a, nil
}

// addressInfo is an address with what it received.
type addressInfo = reserve.AddressActivity

// addresses lists one page of a branch's issued or used addresses (all
// derived ones with lookahead), each with what it received, and the token
// of the next page ("" at the end).
func (d *Daemon) addresses(ctx context.Context, branch reserve.Branch, lookahead bool, size int32, token string) ([]addressInfo, string, error) {
	limit, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	filter := []byte{byte(branch), 0}
	if lookahead {
		filter[1] = 1
	}
	after, err := d.openPage(ctx, pageAddresses, filter, token)
	if err != nil {
		return nil, "", err
	}
	if _, err := d.cfg.Store.Wallet(ctx); err != nil {
		return nil, "", noWallet(err)
	}
	addrs, next, err := d.cfg.Store.AddressPage(ctx, branch, lookahead, after, limit)
	if err != nil {
		return nil, "", err
	}
	tok, err := d.sealPage(ctx, pageAddresses, filter, next)
	if err != nil {
		return nil, "", err
	}
	return addrs, tok, nil
}

// utxoPage is one page of the unspent outputs, oldest first, the synced
// height (-1 before the first block) and the next page's token.
func (d *Daemon) utxoPage(ctx context.Context, size int32, token string) ([]reserve.UTXO, int32, string, error) {
	limit, err := pageSize(size)
	if err != nil {
		return nil, 0, "", err
	}
	after, err := d.openPage(ctx, pageUTXOs, nil, token)
	if err != nil {
		return nil, 0, "", err
	}
	if _, err := d.cfg.Store.Wallet(ctx); err != nil {
		return nil, 0, "", noWallet(err)
	}
	utxos, next, tip, err := d.cfg.Store.UTXOPage(ctx, after, limit)
	if err != nil {
		return nil, 0, "", err
	}
	tok, err := d.sealPage(ctx, pageUTXOs, nil, next)
	if err != nil {
		return nil, 0, "", err
	}
	return utxos, tip, tok, nil
}

// balance is the wallet's balance at the synced height (-1 before the
// first block), from the store's maintained totals.
func (d *Daemon) balance(ctx context.Context) (reserve.Balance, int32, error) {
	if _, err := d.cfg.Store.Wallet(ctx); err != nil {
		return reserve.Balance{}, 0, noWallet(err)
	}
	return d.cfg.Store.Balance(ctx)
}

// balanceHistory is the wallet's confirmed holdings by height, from
// every coin it has had (reserve.BalanceHistory), up to the synced tip.
func (d *Daemon) balanceHistory(ctx context.Context) ([]reserve.BalancePoint, int32, error) {
	if _, err := d.cfg.Store.Wallet(ctx); err != nil {
		return nil, 0, noWallet(err)
	}
	coins, err := d.cfg.Store.UTXOs(ctx, true)
	if err != nil {
		return nil, 0, err
	}
	height, _, ok, err := d.cfg.Store.SyncTip(ctx)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, -1, nil
	}
	points, err := reserve.BalanceHistory(coins, height)
	if err != nil {
		return nil, 0, reserve.Errorf(reserve.CodeInternal, "the stored coins do not add up: %v", err)
	}
	return points, height, nil
}

// noWallet turns the store's NotFound into a message that says what to do.
func noWallet(err error) error {
	if reserve.CodeOf(err) == reserve.CodeNotFound {
		return reserve.Errorf(reserve.CodeFailedPrecondition, "no reserve wallet yet; create it with `custosctl wallet create`")
	}
	return err
}

func checkName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > maxWalletName || !utf8.ValidString(name) {
		return reserve.Invalid("name", "must be 1 to %d characters", maxWalletName)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return reserve.Invalid("name", "must be printable, found %q", r)
		}
	}
	return nil
}

// withField names the input at fault on a classified error that does not
// name one yet.
func withField(err error, field string) error {
	var e *reserve.Error
	if errors.As(err, &e) && e.Field == "" {
		c := *e
		c.Field = field
		return &c
	}
	return reserve.Invalid(field, "%v", err)
}
