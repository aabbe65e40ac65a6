package chain

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// loadWallet reads the wallet and its derived scripts the first time they
// exist. It reports false, without error, while there is no wallet yet.
func (f *Follower) loadWallet(ctx context.Context) (bool, error) {
	f.watchMu.RLock()
	loaded := f.desc != nil
	f.watchMu.RUnlock()
	if loaded {
		return true, nil
	}
	w, err := f.cfg.Store.Wallet(ctx)
	if reserve.CodeOf(err) == reserve.CodeNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("unable to load wallet: %w", err)
	}
	desc, err := f.cfg.Descriptors.Parse(w.Descriptor, w.Network)
	if err != nil {
		return false, fmt.Errorf("stored wallet descriptor: %w", err)
	}
	gap := w.GapLimit
	if gap == 0 {
		gap = reserve.DefaultGapLimit
	}
	// Build the whole watch set first and publish it with the descriptor
	// in one step: a scan must never see the wallet loaded with its
	// outpoints missing, or it would miss spends.
	watch := watchSet{scripts: make(map[string]scriptRef)}
	var derived [2]uint32
	for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		addrs, err := f.cfg.Store.Addresses(ctx, b)
		if err != nil {
			return false, fmt.Errorf("unable to load %s addresses: %w", b, err)
		}
		for i, a := range addrs {
			if a.Index != uint32(i) {
				return false, fmt.Errorf("stored %s addresses skip index %d", b, i)
			}
			watch.scripts[string(a.Script)] = scriptRef{branch: b, index: a.Index}
		}
		derived[b] = uint32(len(addrs))
	}
	if watch.outpoints, err = f.walletOutpoints(ctx); err != nil {
		return false, err
	}

	f.watchMu.Lock()
	if f.desc == nil {
		f.desc, f.born, f.gap, f.watch, f.derived = desc, w.BirthdayHeight, gap, watch, derived
	}
	f.watchMu.Unlock()
	f.setStatus(func(s *Status) { s.WalletLoaded = true })
	return true, f.EnsureLookahead(ctx)
}

func (f *Follower) birthday() int32 {
	f.watchMu.RLock()
	defer f.watchMu.RUnlock()
	return f.born
}

// reloadOutpoints rebuilds the set of wallet outpoints a block may spend
// from the store: unspent ones and those spent only in the mempool.
func (f *Follower) reloadOutpoints(ctx context.Context) error {
	ops, err := f.walletOutpoints(ctx)
	if err != nil {
		return err
	}
	f.watchMu.Lock()
	f.watch.outpoints = ops
	f.watchMu.Unlock()
	return nil
}

// walletOutpoints reads the outpoints a block may spend: unspent ones and
// those spent only in the mempool.
func (f *Follower) walletOutpoints(ctx context.Context) (map[wire.OutPoint]struct{}, error) {
	utxos, err := f.cfg.Store.UTXOs(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("unable to load wallet outputs: %w", err)
	}
	ops := make(map[wire.OutPoint]struct{}, len(utxos))
	for _, u := range utxos {
		if !u.Spent || u.SpentHeight == 0 {
			ops[u.OutPoint] = struct{}{}
		}
	}
	return ops, nil
}

// EnsureLookahead derives and records addresses so that each branch has
// the gap limit of unused addresses past the last issued or used one. The
// daemon calls it after issuing an address; the follower after loading the
// wallet. It does nothing before a wallet exists.
func (f *Follower) EnsureLookahead(ctx context.Context) error {
	// The wallet may exist before the follower could reach the node and
	// load it: load it here, so addresses are derived with the node down.
	if loaded, err := f.loadWallet(ctx); err != nil || !loaded {
		return err
	}
	var want [2]uint32
	for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		h, err := f.cfg.Store.Horizon(ctx, b)
		if err != nil {
			return fmt.Errorf("unable to read %s horizon: %w", b, err)
		}
		want[b] = h
	}
	_, err := f.extendTo(ctx, want)
	return err
}

// extendTo derives addresses so that each branch is derived to horizon[b]
// plus the gap limit, records them and watches them. It reports whether
// anything new was derived.
func (f *Follower) extendTo(ctx context.Context, horizon [2]uint32) (bool, error) {
	f.watchMu.Lock()
	defer f.watchMu.Unlock()
	if f.desc == nil {
		return false, nil
	}
	var fresh []reserve.Address
	for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
		target := horizon[b] + f.gap
		for i := f.derived[b]; i < target; i++ {
			d, err := f.desc.Derive(b, i)
			if err != nil {
				return false, fmt.Errorf("unable to derive %s address %d: %w", b, i, err)
			}
			fresh = append(fresh, reserve.Address{
				Branch: b, Index: i, Address: d.Address, Script: d.PkScript, CreatedAt: f.cfg.Now(),
			})
		}
	}
	if len(fresh) == 0 {
		return false, nil
	}
	if err := f.cfg.Store.PutAddresses(ctx, fresh); err != nil {
		return false, fmt.Errorf("unable to record lookahead addresses: %w", err)
	}
	for _, a := range fresh {
		f.watch.scripts[string(a.Script)] = scriptRef{branch: a.Branch, index: a.Index}
		if a.Index+1 > f.derived[a.Branch] {
			f.derived[a.Branch] = a.Index + 1
		}
	}
	f.log.Debug("extended lookahead", "receive", f.derived[reserve.BranchReceive], "change", f.derived[reserve.BranchChange])
	return true, nil
}

// scan matches txs against the wallet, first growing the lookahead until
// no payment lands within the gap of the last derived address: a deposit
// to address 19 makes addresses up to 39 watched, and the same block may
// pay one of those.
func (f *Follower) scan(ctx context.Context, txs []*wire.MsgTx, height int32, coinbase bool) (scanResult, error) {
	for {
		f.watchMu.RLock()
		res := scanTxs(txs, height, coinbase, &f.watch)
		f.watchMu.RUnlock()
		grew, err := f.extendTo(ctx, res.maxIndex)
		if err != nil {
			return scanResult{}, err
		}
		if !grew {
			return res, nil
		}
	}
}

// commit records the scan's effect on the watched outpoints, after the
// store has accepted it.
func (f *Follower) commit(res scanResult, confirmed bool) {
	f.watchMu.Lock()
	f.watch.commit(res, confirmed)
	f.watchMu.Unlock()
}

// startWarming derives, once the wallet is loaded, every address the store
// holds into the descriptor, in the background and on one core. The store
// keeps each address's output script, not the cosigners' keys a PSBT
// carries, so without this the first spend after a restart derives every
// input's keys while the officer waits.
func (f *Follower) startWarming(ctx context.Context) {
	if f.warming {
		return
	}
	f.watchMu.RLock()
	desc, upTo := f.desc, f.derived
	f.watchMu.RUnlock()
	if desc == nil {
		return
	}
	f.warming = true
	go func() {
		for _, b := range []reserve.Branch{reserve.BranchReceive, reserve.BranchChange} {
			for i := uint32(0); i < upTo[b]; i++ {
				if ctx.Err() != nil {
					return
				}
				// These addresses were derived when they were stored; an
				// error could only be BIP-32's invalid child, which Derive
				// reports again to whoever asks for that address.
				if _, err := desc.Derive(b, i); err != nil {
					f.log.Warn("unable to derive a stored address", "branch", b, "index", i, "err", err)
				}
			}
		}
		f.log.Debug("derived the stored addresses", "receive", upTo[reserve.BranchReceive], "change", upTo[reserve.BranchChange])
	}()
}
