package proof

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/gcs"
	"github.com/btcsuite/btcd/btcutil/gcs/builder"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// ErrNoFilters is what Chain.Filters returns when the node serves no
// BIP-158 filters (btcd with --nocfilters, bitcoind without
// -blockfilterindex): the check then reads whole blocks.
var ErrNoFilters = errors.New("the node serves no BIP-158 block filters")

// Chain is what the check needs of a node. Every call may batch: the
// check asks for thousands of outpoints or blocks at once, and an
// implementation should answer them in as few round trips as the node
// allows (RPC sends one JSON-RPC batch per call).
type Chain interface {
	// BestHeight returns the height of the node's best block.
	BestHeight(ctx context.Context) (int32, error)
	// BlockHashes returns the hashes of count blocks of the best chain
	// from height from on.
	BlockHashes(ctx context.Context, from int32, count int) ([]chainhash.Hash, error)
	// UnspentOutputs says, for each outpoint, whether it is in the node's
	// UTXO set at its best block (the mempool aside) and if so, the
	// output and the height of the block that created it.
	UnspentOutputs(ctx context.Context, ops []wire.OutPoint) ([]Output, error)
	// Filters returns each block's BIP-158 basic filter as the node
	// serializes it (N then the Golomb-coded set), or ErrNoFilters.
	Filters(ctx context.Context, hashes []chainhash.Hash) ([][]byte, error)
	// Blocks returns whole blocks by hash.
	Blocks(ctx context.Context, hashes []chainhash.Hash) ([]*wire.MsgBlock, error)
}

// Output is what a node says of one outpoint at its best block.
type Output struct {
	// Unspent is true when the outpoint is in the UTXO set.
	Unspent bool
	// TxOut and Height (of the block that created it) are set when
	// Unspent.
	TxOut  wire.TxOut
	Height int32
}

// Coin is one proven coin: its outpoint and the output the proof says it
// spends (its value and script, as the proof's signatures commit to).
type Coin struct {
	OutPoint wire.OutPoint
	TxOut    wire.TxOut
}

// CheckParams says what to check: every coin was created at or before
// Height and unspent at the end of block Height, whose hash is BlockHash.
type CheckParams struct {
	Height    int32
	BlockHash chainhash.Hash
	Coins     []Coin
	// ScanFrom is the first height the check reads when it must look for
	// where a coin spent today was created and spent (0: the genesis
	// block). A coin created before ScanFrom and spent since is reported
	// as not found: a verifier that knows the wallet's birthday sets it to
	// save time, never to skip a spend (a spend is after the creation).
	ScanFrom int32
}

// CoinState is what the chain said of one coin.
type CoinState struct {
	OutPoint wire.OutPoint
	// Created is the height of the block that created the coin.
	Created int32
	// UnspentNow is true when the coin is still unspent at the node's best
	// block; otherwise it was spent after the proof's height.
	UnspentNow bool
}

// Batch sizes of the check's requests: outpoints per gettxout batch,
// heights per getblockhash and filter batch, blocks per getblock batch
// (a mainnet block is up to 4 MB, 8 MB of hex).
const (
	outpointBatch = 2000
	filterBatch   = 1000
	blockBatch    = 16
)

// CheckUnspent checks, against c, that the block at p.Height is
// p.BlockHash and that every coin was created at or before p.Height, as
// the output the proof claims, and not spent in any block up to and
// including p.Height. It asks the node's UTXO set first (one batch per
// outpointBatch coins): a coin unspent today needs nothing more. For coins
// spent since, it reads the blocks from p.ScanFrom to p.Height whose
// BIP-158 filter matches one of their scripts (every block when the node
// serves no filters) to find where each was created and whether it was
// spent by p.Height. The error, a *reserve.Error of code CodeInvalid, is
// the first coin (in p.Coins' order) that fails and why.
func CheckUnspent(ctx context.Context, c Chain, p CheckParams) ([]CoinState, error) {
	if err := checkBlock(ctx, c, p); err != nil {
		return nil, err
	}
	seen := make([]sighting, len(p.Coins))
	var gone []int // indexes of coins not unspent today
	for from := 0; from < len(p.Coins); from += outpointBatch {
		to := min(from+outpointBatch, len(p.Coins))
		ops := make([]wire.OutPoint, to-from)
		for i := range ops {
			ops[i] = p.Coins[from+i].OutPoint
		}
		outs, err := c.UnspentOutputs(ctx, ops)
		if err != nil {
			return nil, fmt.Errorf("unable to look up the coins' outputs: %w", err)
		}
		if len(outs) != len(ops) {
			return nil, fmt.Errorf("the node answered %d of %d outpoints", len(outs), len(ops))
		}
		for i, o := range outs {
			k := from + i
			seen[k] = sighting{created: -1, spent: -1}
			if !o.Unspent {
				gone = append(gone, k)
				continue
			}
			out := o.TxOut
			seen[k].created, seen[k].out, seen[k].unspentNow = o.Height, &out, true
		}
	}
	if err := scan(ctx, c, p, gone, seen); err != nil {
		return nil, err
	}
	// Report the first failing coin in the proof's order.
	states := make([]CoinState, len(p.Coins))
	for k := range p.Coins {
		if err := judge(p, k, seen[k]); err != nil {
			return nil, err
		}
		states[k] = CoinState{OutPoint: p.Coins[k].OutPoint, Created: seen[k].created, UnspentNow: seen[k].unspentNow}
	}
	return states, nil
}

// checkBlock checks the node has the proof's block on its best chain.
func checkBlock(ctx context.Context, c Chain, p CheckParams) error {
	best, err := c.BestHeight(ctx)
	if err != nil {
		return fmt.Errorf("unable to read the node's best height: %w", err)
	}
	if best < p.Height {
		return reserve.Invalid("height", "the node's best block is at height %d, below the proof's height %d (is the node synced, on the proof's network?)", best, p.Height)
	}
	hashes, err := c.BlockHashes(ctx, p.Height, 1)
	if err != nil {
		return fmt.Errorf("unable to read the block hash at height %d: %w", p.Height, err)
	}
	if len(hashes) != 1 || hashes[0] != p.BlockHash {
		got := "missing"
		if len(hashes) == 1 {
			got = hashes[0].String()
		}
		return reserve.Invalid("block_hash", "block hash at %d is %s, the proof says %s", p.Height, got, p.BlockHash)
	}
	return nil
}

// sighting is what the node's UTXO set or the scan found of a coin.
type sighting struct {
	created, spent int32 // -1: not found
	out            *wire.TxOut
	unspentNow     bool
}

// judge decides one coin.
func judge(p CheckParams, k int, s sighting) error {
	coin := p.Coins[k]
	field := fmt.Sprintf("input[%d]", k+1)
	op := coin.OutPoint
	switch {
	case s.created < 0:
		return reserve.Invalid(field, "coin %s is not unspent on the node and was not created in blocks %d to %d", op, p.ScanFrom, p.Height)
	case s.spent >= 0 && s.spent < p.Height:
		return reserve.Invalid(field, "coin %s was spent at height %d, before the proof's height %d", op, s.spent, p.Height)
	case s.spent >= 0 && s.spent == p.Height:
		return reserve.Invalid(field, "coin %s was spent at height %d, in the proof's block", op, s.spent)
	case s.created > p.Height:
		return reserve.Invalid(field, "coin %s was created at height %d, after the proof's height %d", op, s.created, p.Height)
	case !sameOutput(*s.out, coin.TxOut):
		return reserve.Invalid(field, "coin %s on the chain is %d sat to script %x, the proof says %d sat to %x",
			op, s.out.Value, s.out.PkScript, coin.TxOut.Value, coin.TxOut.PkScript)
	}
	return nil
}

func sameOutput(a, b wire.TxOut) bool {
	return a.Value == b.Value && bytes.Equal(a.PkScript, b.PkScript)
}

// scan looks for the coins at gone in blocks p.ScanFrom..p.Height and
// records in found where each was created and spent.
func scan(ctx context.Context, c Chain, p CheckParams, gone []int, found []sighting) error {
	if len(gone) == 0 {
		return nil
	}
	byOut := make(map[wire.OutPoint]int, len(gone))
	byTx := make(map[chainhash.Hash][]int, len(gone))
	scripts := make([][]byte, 0, len(gone))
	for _, k := range gone {
		op := p.Coins[k].OutPoint
		byOut[op] = k
		byTx[op.Hash] = append(byTx[op.Hash], k)
		scripts = append(scripts, p.Coins[k].TxOut.PkScript)
	}
	useFilters := true
	for from := p.ScanFrom; from <= p.Height; from += filterBatch {
		count := int(min(int64(filterBatch), int64(p.Height)-int64(from)+1))
		hashes, err := c.BlockHashes(ctx, from, count)
		if err != nil {
			return fmt.Errorf("unable to read block hashes from %d: %w", from, err)
		}
		if len(hashes) != count {
			return fmt.Errorf("the node answered %d of %d block hashes", len(hashes), count)
		}
		heights := make([]int32, 0, count)
		if useFilters {
			heights, err = matching(ctx, c, from, hashes, scripts)
			if errors.Is(err, ErrNoFilters) {
				useFilters = false
			} else if err != nil {
				return err
			}
		}
		if !useFilters {
			heights = heights[:0]
			for i := range hashes {
				heights = append(heights, from+int32(i))
			}
		}
		if err := readBlocks(ctx, c, from, hashes, heights, p.Coins, byOut, byTx, found); err != nil {
			return err
		}
	}
	return nil
}

// matching returns the heights of the blocks whose filter matches one of
// scripts.
func matching(ctx context.Context, c Chain, from int32, hashes []chainhash.Hash, scripts [][]byte) ([]int32, error) {
	filters, err := c.Filters(ctx, hashes)
	if err != nil {
		return nil, fmt.Errorf("unable to read block filters from %d: %w", from, err)
	}
	if len(filters) != len(hashes) {
		return nil, fmt.Errorf("the node answered %d of %d block filters", len(filters), len(hashes))
	}
	var heights []int32
	for i, raw := range filters {
		h := from + int32(i)
		f, err := gcs.FromNBytes(builder.DefaultP, builder.DefaultM, raw)
		if err != nil {
			return nil, fmt.Errorf("block filter at %d: %w", h, err)
		}
		if f.N() == 0 {
			continue
		}
		match, err := f.MatchAny(builder.DeriveKey(&hashes[i]), scripts)
		if err != nil {
			return nil, fmt.Errorf("block filter at %d: %w", h, err)
		}
		if match {
			heights = append(heights, h)
		}
	}
	return heights, nil
}

// readBlocks fetches the blocks at heights (hashes are from..) and records
// where the coins were created and spent.
func readBlocks(ctx context.Context, c Chain, from int32, hashes []chainhash.Hash, heights []int32,
	coins []Coin, byOut map[wire.OutPoint]int, byTx map[chainhash.Hash][]int, found []sighting) error {
	for i := 0; i < len(heights); i += blockBatch {
		hs := heights[i:min(i+blockBatch, len(heights))]
		want := make([]chainhash.Hash, len(hs))
		for j, h := range hs {
			want[j] = hashes[h-from]
		}
		blocks, err := c.Blocks(ctx, want)
		if err != nil {
			return fmt.Errorf("unable to read blocks from %d: %w", hs[0], err)
		}
		if len(blocks) != len(want) {
			return fmt.Errorf("the node answered %d of %d blocks", len(blocks), len(want))
		}
		for j, b := range blocks {
			if b.BlockHash() != want[j] {
				return fmt.Errorf("the node answered block %s for %s", b.BlockHash(), want[j])
			}
			record(b, hs[j], coins, byOut, byTx, found)
		}
	}
	return nil
}

// record notes the coins block (at height) creates and spends.
func record(b *wire.MsgBlock, height int32, coins []Coin, byOut map[wire.OutPoint]int,
	byTx map[chainhash.Hash][]int, found []sighting) {
	for _, tx := range b.Transactions {
		for _, in := range tx.TxIn {
			if k, ok := byOut[in.PreviousOutPoint]; ok && found[k].spent < 0 {
				found[k].spent = height
			}
		}
		ks, ok := byTx[tx.TxHash()]
		if !ok {
			continue
		}
		for _, k := range ks {
			idx := coins[k].OutPoint.Index
			if found[k].created < 0 && idx < uint32(len(tx.TxOut)) {
				out := *tx.TxOut[idx]
				found[k].created, found[k].out = height, &out
			}
		}
	}
}
