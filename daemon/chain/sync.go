package chain

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// fetched is one batch of blocks from the prefetcher.
type fetched struct {
	from   int32
	blocks []*wire.MsgBlock
	err    error
}

// syncBlocks brings the wallet to the node's height nodeHeight: first it
// undoes blocks the node no longer has on its best chain, then it fetches
// the missing ones in batches, the next batch in flight while the current
// one is scanned and recorded.
func (f *Follower) syncBlocks(ctx context.Context, nodeHeight int32) error {
	for {
		next, prev, err := f.rewind(ctx, nodeHeight)
		if err != nil {
			return err
		}
		if next > nodeHeight {
			return nil
		}
		done, err := f.connectRange(ctx, next, nodeHeight, prev)
		if err != nil || done {
			return err
		}
		// A fetched block did not extend the tip: the node reorganised
		// while we fetched. Go round and rewind.
	}
}

// rewind disconnects wallet blocks until the wallet's tip is on the node's
// best chain, and returns the next height to fetch and the hash it must
// build on (zero before the first block).
func (f *Follower) rewind(ctx context.Context, nodeHeight int32) (int32, chainhash.Hash, error) {
	for {
		height, hash, ok, err := f.cfg.Store.SyncTip(ctx)
		if err != nil {
			return 0, chainhash.Hash{}, err
		}
		if !ok {
			return f.birthday(), chainhash.Hash{}, nil
		}
		if height <= nodeHeight {
			nodeHash, err := f.cfg.Node.BlockHash(ctx, height)
			if err != nil {
				return 0, chainhash.Hash{}, err
			}
			if nodeHash == hash {
				return height + 1, hash, nil
			}
		}
		f.log.Info("disconnecting block no longer on the node's best chain", "height", height, "hash", hash)
		if err := f.cfg.Store.DisconnectTip(ctx); err != nil {
			return 0, chainhash.Hash{}, fmt.Errorf("unable to disconnect block %d: %w", height, err)
		}
		f.changed(Change{Kind: ChangeDisconnect, Height: height})
		if err := f.reloadOutpoints(ctx); err != nil {
			return 0, chainhash.Hash{}, err
		}
		// Mempool transactions may have been re-added by the node; fetch
		// them again on the next mempool pass.
		clear(f.seen)
	}
}

// connectRange fetches and records blocks from..to. It reports done=false
// when a block does not build on the previous one (a reorg under way).
func (f *Follower) connectRange(ctx context.Context, from, to int32, prev chainhash.Hash) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan fetched, 1)
	go f.prefetch(ctx, from, to, batches)
	// The prefetcher shares the batch client: wait for it to finish its
	// request before anyone else uses the client.
	defer func() {
		cancel()
		for range batches {
		}
	}()

	first := true
	for batch := range batches {
		if batch.err != nil {
			return false, batch.err
		}
		for i, block := range batch.blocks {
			height := batch.from + int32(i)
			// The first block ever recorded (at the birthday) has no
			// recorded parent to check against.
			if !(first && prev == chainhash.Hash{}) && block.Header.PrevBlock != prev {
				return false, nil
			}
			first = false
			if err := f.connect(ctx, block, height); err != nil {
				return false, err
			}
			prev = block.BlockHash()
		}
	}
	return ctx.Err() == nil, ctx.Err()
}

// prefetch sends batches of blocks from..to on out, then closes it.
func (f *Follower) prefetch(ctx context.Context, from, to int32, out chan<- fetched) {
	defer close(out)
	for h := from; h <= to; h += int32(f.cfg.BatchSize) {
		n := min(int(to-h+1), f.cfg.BatchSize)
		batch := fetched{from: h}
		hashes, err := f.cfg.Node.BlockHashes(ctx, h, n)
		if err == nil {
			batch.blocks, err = f.cfg.Node.Blocks(ctx, hashes)
		}
		batch.err = err
		select {
		case out <- batch:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// connect scans one block and records it in one store transaction.
func (f *Follower) connect(ctx context.Context, block *wire.MsgBlock, height int32) error {
	txs, coinbase := blockTxs(block)
	res, err := f.scan(ctx, txs, height, coinbase)
	if err != nil {
		return err
	}
	hash := block.BlockHash()
	err = f.cfg.Store.ApplyBlock(ctx, reserve.BlockUpdate{
		Height:  height,
		Hash:    hash,
		Prev:    block.Header.PrevBlock,
		Credits: res.credits,
		Debits:  res.debits,
		Txs:     res.txs,
	})
	if err != nil {
		return fmt.Errorf("unable to record block %d %s: %w", height, hash, err)
	}
	f.commit(res, true)
	f.changed(Change{Kind: ChangeBlock, Height: height})
	if len(res.credits)+len(res.debits) > 0 {
		f.log.Info("block touched the wallet", "height", height, "hash", hash,
			"credits", len(res.credits), "debits", len(res.debits))
	}
	return nil
}

// syncMempool mirrors the node's mempool: it scans transactions it has not
// seen before, and forgets the wallet's unconfirmed transactions that left
// the mempool without confirming (replaced, evicted, or dropped in a
// reorg).
func (f *Follower) syncMempool(ctx context.Context, best chainhash.Hash) error {
	txids, err := f.cfg.Node.MempoolTxids(ctx)
	if err != nil {
		return err
	}
	inPool := txidSet(txids)
	var fresh []chainhash.Hash
	for _, id := range txids {
		if _, ok := f.seen[id]; !ok {
			fresh = append(fresh, id)
		}
	}
	txs, err := f.cfg.Node.MempoolTxs(ctx, fresh)
	if err != nil {
		return err
	}
	// Mempool transactions may spend each other in any order; scanning
	// them as one list lets a child find its parent's outputs only if the
	// parent comes first, so sort parents first.
	txs = parentsFirst(txs)
	res, err := f.scan(ctx, txs, 0, false)
	if err != nil {
		return err
	}
	gone, err := f.goneTxids(ctx, inPool)
	if err != nil {
		return err
	}
	// A block may have confirmed some of them since the block pass; then
	// their absence from the mempool proves nothing until the next pass.
	info, err := f.cfg.Node.ChainInfo(ctx)
	if err != nil {
		return err
	}
	if info.BestHash != best {
		gone = nil
	}
	if len(res.credits)+len(res.debits)+len(gone) > 0 {
		err := f.cfg.Store.ApplyMempool(ctx, reserve.MempoolUpdate{
			Credits: res.credits, Debits: res.debits, Txs: res.txs, Gone: gone,
		})
		if err != nil {
			return fmt.Errorf("unable to record mempool transactions: %w", err)
		}
		f.commit(res, false)
		f.changed(Change{Kind: ChangeMempool})
		if len(gone) > 0 {
			if err := f.reloadOutpoints(ctx); err != nil {
				return err
			}
		}
	}
	for _, id := range fresh {
		f.seen[id] = struct{}{}
	}
	for id := range f.seen {
		if _, ok := inPool[id]; !ok {
			delete(f.seen, id)
		}
	}
	return nil
}

// goneTxids lists the wallet's unconfirmed transactions that are not in
// the mempool.
func (f *Follower) goneTxids(ctx context.Context, inPool map[chainhash.Hash]struct{}) ([]chainhash.Hash, error) {
	utxos, err := f.cfg.Store.UTXOs(ctx, true)
	if err != nil {
		return nil, err
	}
	goneSet := make(map[chainhash.Hash]struct{})
	for _, u := range utxos {
		if u.Height == 0 {
			if _, ok := inPool[u.OutPoint.Hash]; !ok {
				goneSet[u.OutPoint.Hash] = struct{}{}
			}
		}
		if u.Spent && u.SpentHeight == 0 {
			if _, ok := inPool[u.SpentBy]; !ok {
				goneSet[u.SpentBy] = struct{}{}
			}
		}
	}
	gone := make([]chainhash.Hash, 0, len(goneSet))
	for id := range goneSet {
		gone = append(gone, id)
	}
	return gone, nil
}

// parentsFirst orders transactions so that one spending another's output
// comes after it (a topological sort over the given set).
func parentsFirst(txs []*wire.MsgTx) []*wire.MsgTx {
	byID := make(map[chainhash.Hash]*wire.MsgTx, len(txs))
	for _, tx := range txs {
		byID[tx.TxHash()] = tx
	}
	out := make([]*wire.MsgTx, 0, len(txs))
	done := make(map[chainhash.Hash]bool, len(txs))
	var visit func(tx *wire.MsgTx)
	visit = func(tx *wire.MsgTx) {
		id := tx.TxHash()
		if done[id] {
			return
		}
		done[id] = true
		for _, in := range tx.TxIn {
			if parent, ok := byID[in.PreviousOutPoint.Hash]; ok {
				visit(parent)
			}
		}
		out = append(out, tx)
	}
	for _, tx := range txs {
		visit(tx)
	}
	return out
}
