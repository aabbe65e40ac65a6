package chain

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
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
// input's keys while the officer waits. A store that keeps the derived
// keys (DerivedKeyStore) gives them back instead: each is checked against
// the output script the store holds for its address, and only addresses
// it lacks are derived (at 100,000 addresses, measured by
// scripts/bench-scale.sh: about 2 s instead of 12 s of a core at every
// start); the cache is then rewritten if anything was derived.
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
	cache, _ := f.cfg.Store.(DerivedKeyStore)
	go func() {
		imported := 0
		if cache != nil {
			imported = f.importDerived(ctx, cache, desc)
		}
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
		stored := int(upTo[reserve.BranchReceive]) + int(upTo[reserve.BranchChange])
		if cache != nil && imported < stored {
			if err := cache.PutDerivedKeys(ctx, desc.ExportDerived()); err != nil {
				f.log.Warn("unable to keep the derived keys for the next start", "err", err)
			}
		}
		f.log.Debug("derived the stored addresses", "receive", upTo[reserve.BranchReceive], "change", upTo[reserve.BranchChange], "imported", imported)
	}()
}

// DerivedKeyStore is what a Store may also offer: a cache of the
// cosigners' derived keys, as multisig.Descriptor.ExportDerived writes
// them, so a restart imports them instead of deriving every stored
// address again. store.DB implements it.
type DerivedKeyStore interface {
	// DerivedKeys returns what PutDerivedKeys kept, nil when nothing.
	DerivedKeys(ctx context.Context) ([]byte, error)
	// PutDerivedKeys replaces the cache.
	PutDerivedKeys(ctx context.Context, b []byte) error
}

// importDerived loads the store's derived-key cache into desc and returns
// how many addresses it held. The cache is taken whole or not at all:
// it is imported first into a copy of the descriptor and every address
// in it must give the output script the store recorded for that branch
// and index (so a key changed in the cache cannot reach a PSBT); anything
// else is logged and the addresses are derived as without a cache.
func (f *Follower) importDerived(ctx context.Context, cache DerivedKeyStore, desc *multisig.Descriptor) int {
	data, err := cache.DerivedKeys(ctx)
	if err != nil || len(data) == 0 {
		if err != nil {
			f.log.Warn("unable to read the derived keys; deriving them", "err", err)
		}
		return 0
	}
	n, err := f.checkDerived(data, desc)
	if err == nil {
		_, err = desc.ImportDerived(data)
	}
	if err != nil {
		f.log.Warn("derived-key cache refused; deriving the addresses", "err", err)
		return 0
	}
	return n
}

// checkDerived imports data into a fresh copy of desc and checks each
// address against the watched scripts; it returns how many there are.
func (f *Follower) checkDerived(data []byte, desc *multisig.Descriptor) (int, error) {
	scratch, err := multisig.ParseDescriptor(desc.String(), desc.Network())
	if err != nil {
		return 0, err
	}
	n, err := scratch.ImportDerived(data)
	if err != nil {
		return 0, err
	}
	// ImportDerived checked the layout: a version byte, then per address
	// the branch, the big-endian index and 33 bytes per cosigner.
	rec := 5 + 33*len(desc.Cosigners())
	f.watchMu.RLock()
	defer f.watchMu.RUnlock()
	for off := 1; off+rec <= len(data); off += rec {
		ref := scriptRef{branch: reserve.Branch(data[off]), index: binary.BigEndian.Uint32(data[off+1 : off+5])}
		d, err := scratch.Derive(ref.branch, ref.index)
		if err != nil {
			return 0, err
		}
		if got, ok := f.watch.scripts[string(d.PkScript)]; !ok || got != ref {
			return 0, fmt.Errorf("cached keys of %s address %d do not give the script the store holds for it", ref.branch, ref.index)
		}
	}
	return n, nil
}
