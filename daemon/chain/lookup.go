package chain

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// This file serves the public proof-of-reserves verifier (package proof,
// cmd/custos-verify): outpoint lookups in the UTXO set and BIP-158 block
// filters, each batched into one request.

// ErrNoBlockFilters is what BlockFilters returns when the node serves no
// BIP-158 basic filters: btcd with --nocfilters, bitcoind without
// -blockfilterindex.
var ErrNoBlockFilters = errors.New("the node serves no BIP-158 block filters")

// BestHeight returns the height of the node's best block.
func (n *Node) BestHeight(ctx context.Context) (int32, error) {
	raw, err := n.rpc.call(ctx, "getblockcount")
	if err != nil {
		return 0, fmt.Errorf("getblockcount: %w", err)
	}
	var h int32
	if err := json.Unmarshal(raw, &h); err != nil {
		return 0, fmt.Errorf("unable to decode getblockcount: %w", err)
	}
	return h, nil
}

// Unspent is what gettxout says of one outpoint: whether it is in the
// node's UTXO set at its best block (the mempool is not consulted) and,
// if so, the output and the height of the block that created it.
type Unspent struct {
	Found  bool
	TxOut  wire.TxOut
	Height int32
}

// gettxoutResult is the part of gettxout's answer both nodes give.
type gettxoutResult struct {
	BestBlock     string  `json:"bestblock"`
	Confirmations int64   `json:"confirmations"`
	Value         float64 `json:"value"`
	ScriptPubKey  struct {
		Hex string `json:"hex"`
	} `json:"scriptPubKey"`
}

// UnspentOutputs looks ops up in the node's UTXO set in one batched
// gettxout request (include_mempool false), then reads the heights of the
// best blocks the answers name (one, unless a block arrived meanwhile) to
// turn confirmations into the creating block's height.
func (n *Node) UnspentOutputs(ctx context.Context, ops []wire.OutPoint) ([]Unspent, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	params := make([][]any, len(ops))
	for i, op := range ops {
		params[i] = []any{op.Hash.String(), op.Index, false}
	}
	res, err := n.rpc.batch(ctx, "gettxout", params)
	if err != nil {
		return nil, err
	}
	out := make([]Unspent, len(ops))
	best := make([]chainhash.Hash, len(ops))
	bestHeights := map[chainhash.Hash]int32{}
	for i, r := range res {
		if r.err != nil {
			return nil, fmt.Errorf("gettxout %s: %w", ops[i], r.err)
		}
		if string(r.result) == "null" || len(r.result) == 0 {
			continue
		}
		var g gettxoutResult
		if err := json.Unmarshal(r.result, &g); err != nil {
			return nil, fmt.Errorf("unable to decode gettxout %s: %w", ops[i], err)
		}
		amt, err := btcutil.NewAmount(g.Value)
		if err != nil || amt < 0 {
			return nil, fmt.Errorf("gettxout %s: value %v is not an amount", ops[i], g.Value)
		}
		script, err := hex.DecodeString(g.ScriptPubKey.Hex)
		if err != nil {
			return nil, fmt.Errorf("gettxout %s: script is not hex", ops[i])
		}
		if best[i], err = parseHash(g.BestBlock); err != nil {
			return nil, fmt.Errorf("gettxout %s: bestblock: %w", ops[i], err)
		}
		if g.Confirmations < 1 || g.Confirmations > 1<<31-1 {
			return nil, fmt.Errorf("gettxout %s: %d confirmations for an output of the UTXO set", ops[i], g.Confirmations)
		}
		bestHeights[best[i]] = 0
		out[i] = Unspent{Found: true, TxOut: wire.TxOut{Value: int64(amt), PkScript: script}, Height: int32(-g.Confirmations)}
	}
	if err := n.blockHeights(ctx, bestHeights); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Found {
			// Confirmations count the creating block: height = best - c + 1.
			out[i].Height += bestHeights[best[i]] + 1
		}
	}
	return out, nil
}

// blockHeights fills in the heights of the blocks keyed in hs, in one
// batched getblockheader request.
func (n *Node) blockHeights(ctx context.Context, hs map[chainhash.Hash]int32) error {
	if len(hs) == 0 {
		return nil
	}
	hashes := make([]chainhash.Hash, 0, len(hs))
	params := make([][]any, 0, len(hs))
	for h := range hs {
		hashes = append(hashes, h)
		params = append(params, []any{h.String(), true})
	}
	res, err := n.rpc.batch(ctx, "getblockheader", params)
	if err != nil {
		return err
	}
	for i, r := range res {
		if r.err != nil {
			return fmt.Errorf("getblockheader %s: %w", hashes[i], r.err)
		}
		var hdr struct {
			Height *int32 `json:"height"`
		}
		if err := json.Unmarshal(r.result, &hdr); err != nil || hdr.Height == nil {
			return fmt.Errorf("getblockheader %s: no height in the answer", hashes[i])
		}
		hs[hashes[i]] = *hdr.Height
	}
	return nil
}

// BlockFilters returns the BIP-158 basic filter of each block (as both
// nodes serialize it: N, then the Golomb-coded set) in one batched
// request: getblockfilter (bitcoind) or getcfilter (btcd), whichever the
// node answers (by NodeConfig.Kind when set, else each tried in that
// order on the first block alone). It returns ErrNoBlockFilters when the
// node refuses both.
func (n *Node) BlockFilters(ctx context.Context, hashes []chainhash.Hash) ([][]byte, error) {
	if len(hashes) == 0 {
		return nil, nil
	}
	methods := []string{"getblockfilter", "getcfilter"}
	switch n.cfg.Kind {
	case KindBitcoind:
		methods = methods[:1]
	case KindBtcd:
		methods = methods[1:]
	}
	for _, m := range methods {
		if len(methods) > 1 {
			_, err := n.filters(ctx, m, hashes[:1])
			var rpcErr *btcjson.RPCError
			if errors.As(err, &rpcErr) {
				// Method not found, or the index is off: try the other.
				continue
			} else if err != nil {
				return nil, err
			}
		}
		out, err := n.filters(ctx, m, hashes)
		var rpcErr *btcjson.RPCError
		if len(methods) == 1 && errors.As(err, &rpcErr) {
			return nil, fmt.Errorf("%w: %w", ErrNoBlockFilters, err)
		}
		return out, err
	}
	return nil, ErrNoBlockFilters
}

func (n *Node) filters(ctx context.Context, method string, hashes []chainhash.Hash) ([][]byte, error) {
	params := make([][]any, len(hashes))
	for i, h := range hashes {
		if method == "getcfilter" {
			params[i] = []any{h.String(), 0} // 0: wire.GCSFilterRegular
		} else {
			params[i] = []any{h.String(), "basic"}
		}
	}
	res, err := n.rpc.batch(ctx, method, params)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(hashes))
	for i, r := range res {
		if r.err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, hashes[i], r.err)
		}
		var s string
		if method == "getcfilter" {
			err = json.Unmarshal(r.result, &s)
		} else {
			var v struct {
				Filter string `json:"filter"`
			}
			err = json.Unmarshal(r.result, &v)
			s = v.Filter
		}
		if err != nil {
			return nil, fmt.Errorf("unable to decode %s %s: %w", method, hashes[i], err)
		}
		if out[i], err = hex.DecodeString(s); err != nil {
			return nil, fmt.Errorf("%s %s: filter is not hex", method, hashes[i])
		}
	}
	return out, nil
}
