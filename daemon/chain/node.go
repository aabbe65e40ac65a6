package chain

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/reserve"
)

// Kind is the node implementation behind the RPC endpoint.
type Kind string

const (
	// KindBtcd is btcd.
	KindBtcd Kind = "btcd"
	// KindBitcoind is Bitcoin Core.
	KindBitcoind Kind = "bitcoind"
)

// ParseKind reads --node.kind.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case KindBtcd, KindBitcoind:
		return Kind(s), nil
	}
	return "", fmt.Errorf("unknown node kind %q (want btcd or bitcoind)", s)
}

// NodeConfig says how to reach the node's JSON-RPC server. TLS to the node
// is not used: the node is expected on loopback or a trusted link.
type NodeConfig struct {
	Kind Kind
	// Host is host:port of the RPC server.
	Host string
	User string
	Pass string
	// CookiePath, when set, is used instead of User and Pass (bitcoind's
	// .cookie file).
	CookiePath string
	// RPCTimeout bounds every request to the node, a batch included
	// (DefaultRPCTimeout, 30s, when zero): a node that accepts the
	// connection and never answers fails the call with ErrRPCTimeout
	// instead of hanging the follower or the broadcast. Raise it for a
	// slow node whose batches of BatchSize blocks take longer.
	RPCTimeout time.Duration
	// Notify says how the follower hears of blocks and transactions
	// without polling (notify.go); the zero value only polls.
	Notify NotifyConfig
}

// Node is a JSON-RPC client of btcd or bitcoind. Every call is bounded by
// its context and by NodeConfig.RPCTimeout.
type Node struct {
	cfg NodeConfig
	rpc *rpcClient
}

// DialNode makes the client; it does not contact the node.
func DialNode(cfg NodeConfig) (*Node, error) {
	if cfg.Host == "" {
		return nil, errors.New("node RPC host is not set")
	}
	if cfg.RPCTimeout < 0 {
		return nil, fmt.Errorf("node RPC timeout must not be negative, got %s", cfg.RPCTimeout)
	}
	if err := cfg.Notify.Check(cfg.Kind); err != nil {
		return nil, fmt.Errorf("node notifications: %w", err)
	}
	return &Node{cfg: cfg, rpc: newRPCClient(cfg)}, nil
}

// Close stops the client; calls under way return an error.
func (n *Node) Close() {
	n.rpc.close()
}

// Kind returns the configured node kind.
func (n *Node) Kind() Kind { return n.cfg.Kind }

// Probe checks that something listens at the node's address, quickly
// (two seconds at most), before a request that may wait RPCTimeout.
func (n *Node) Probe(ctx context.Context) error {
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", n.cfg.Host)
	if err != nil {
		return fmt.Errorf("node RPC at %s is not reachable: %w", n.cfg.Host, err)
	}
	return conn.Close()
}

// ChainInfo is the part of getblockchaininfo the follower uses.
type ChainInfo struct {
	Network  reserve.Network
	Chain    string
	Blocks   int32
	BestHash chainhash.Hash
}

// ChainInfo asks the node which chain it follows and where its tip is.
func (n *Node) ChainInfo(ctx context.Context) (ChainInfo, error) {
	raw, err := n.rpc.call(ctx, "getblockchaininfo")
	if err != nil {
		return ChainInfo{}, err
	}
	return ParseChainInfo(raw)
}

// ParseChainInfo reads a getblockchaininfo result from btcd or bitcoind.
// It decodes only the fields both share, because the rest differs between
// them and between bitcoind versions ("warnings" is a string in older
// bitcoind, an array since v28, null in btcd), which rpcclient's typed
// result cannot all decode.
func ParseChainInfo(raw json.RawMessage) (ChainInfo, error) {
	var r struct {
		Chain         *string `json:"chain"`
		Blocks        *int32  `json:"blocks"`
		BestBlockHash *string `json:"bestblockhash"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return ChainInfo{}, fmt.Errorf("unable to decode getblockchaininfo: %w", err)
	}
	if r.Chain == nil || r.Blocks == nil || r.BestBlockHash == nil {
		return ChainInfo{}, errors.New("getblockchaininfo lacks chain, blocks or bestblockhash")
	}
	net, err := networkOfChain(*r.Chain)
	if err != nil {
		return ChainInfo{}, err
	}
	hash, err := parseHash(*r.BestBlockHash)
	if err != nil {
		return ChainInfo{}, fmt.Errorf("getblockchaininfo bestblockhash: %w", err)
	}
	return ChainInfo{Network: net, Chain: *r.Chain, Blocks: *r.Blocks, BestHash: hash}, nil
}

// parseHash reads a block or transaction hash as nodes print it: exactly
// 64 hex digits. chainhash.NewHashFromStr alone would accept a shorter
// string and pad it with zeros.
func parseHash(s string) (chainhash.Hash, error) {
	if len(s) != 2*chainhash.HashSize {
		return chainhash.Hash{}, fmt.Errorf("hash %q is not %d hex digits", s, 2*chainhash.HashSize)
	}
	h, err := chainhash.NewHashFromStr(s)
	if err != nil {
		return chainhash.Hash{}, err
	}
	return *h, nil
}

// networkOfChain maps the chain names of both nodes: bitcoind says main,
// test, testnet4, signet, regtest; btcd says mainnet, testnet3, signet,
// regtest, simnet.
func networkOfChain(chain string) (reserve.Network, error) {
	switch chain {
	case "main", "mainnet":
		return reserve.Mainnet, nil
	case "test", "testnet3":
		return reserve.Testnet, nil
	case "signet":
		return reserve.Signet, nil
	case "regtest":
		return reserve.Regtest, nil
	}
	return reserve.NetworkUnspecified, fmt.Errorf("node follows chain %q, which Custos does not support", chain)
}

// BlockHashes returns the hashes of count blocks from height from, in one
// batched request.
func (n *Node) BlockHashes(ctx context.Context, from int32, count int) ([]chainhash.Hash, error) {
	params := make([][]any, count)
	for i := range params {
		params[i] = []any{int64(from) + int64(i)}
	}
	res, err := n.rpc.batch(ctx, "getblockhash", params)
	if err != nil {
		return nil, fmt.Errorf("from %d: %w", from, err)
	}
	hashes := make([]chainhash.Hash, count)
	for i, r := range res {
		h, err := decodeHash(r)
		if err != nil {
			return nil, fmt.Errorf("getblockhash %d: %w", int64(from)+int64(i), err)
		}
		hashes[i] = h
	}
	return hashes, nil
}

// decodeHash reads a result that is a hash as a JSON string.
func decodeHash(r rpcResult) (chainhash.Hash, error) {
	if r.err != nil {
		return chainhash.Hash{}, r.err
	}
	var s string
	if err := json.Unmarshal(r.result, &s); err != nil {
		return chainhash.Hash{}, fmt.Errorf("unable to decode hash: %w", err)
	}
	return parseHash(s)
}

// BlockHash returns the hash of the block at height on the node's best
// chain.
func (n *Node) BlockHash(ctx context.Context, height int32) (chainhash.Hash, error) {
	raw, err := n.rpc.call(ctx, "getblockhash", int64(height))
	h, err := decodeHash(rpcResult{result: raw, err: err})
	if err != nil {
		return chainhash.Hash{}, fmt.Errorf("getblockhash %d: %w", height, err)
	}
	return h, nil
}

// Blocks fetches whole blocks by hash in one batched request.
func (n *Node) Blocks(ctx context.Context, hashes []chainhash.Hash) ([]*wire.MsgBlock, error) {
	if len(hashes) == 0 {
		return nil, nil
	}
	params := make([][]any, len(hashes))
	for i := range hashes {
		// Verbosity 0: the serialized block as hex, in both nodes.
		params[i] = []any{hashes[i].String(), 0}
	}
	res, err := n.rpc.batch(ctx, "getblock", params)
	if err != nil {
		return nil, err
	}
	blocks := make([]*wire.MsgBlock, len(hashes))
	for i, r := range res {
		b, err := decodeBlock(r)
		if err != nil {
			return nil, fmt.Errorf("getblock %s: %w", hashes[i], err)
		}
		if got := b.BlockHash(); got != hashes[i] {
			return nil, fmt.Errorf("getblock %s returned block %s", hashes[i], got)
		}
		blocks[i] = b
	}
	return blocks, nil
}

// decodeBlock reads a getblock result of verbosity 0.
func decodeBlock(r rpcResult) (*wire.MsgBlock, error) {
	if r.err != nil {
		return nil, r.err
	}
	var s string
	if err := json.Unmarshal(r.result, &s); err != nil {
		return nil, fmt.Errorf("unable to decode block result: %w", err)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("block is not hex: %w", err)
	}
	var block wire.MsgBlock
	if err := block.Deserialize(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("unable to deserialize block: %w", err)
	}
	return &block, nil
}

// MempoolTxids lists the transactions in the node's mempool.
func (n *Node) MempoolTxids(ctx context.Context) ([]chainhash.Hash, error) {
	raw, err := n.rpc.call(ctx, "getrawmempool")
	if err != nil {
		return nil, err
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, fmt.Errorf("unable to decode getrawmempool: %w", err)
	}
	out := make([]chainhash.Hash, len(ss))
	for i, s := range ss {
		h, err := parseHash(s)
		if err != nil {
			return nil, fmt.Errorf("getrawmempool: %w", err)
		}
		out[i] = h
	}
	return out, nil
}

// MempoolTxs fetches mempool transactions by id in one batched request. A
// transaction that left the mempool in between is skipped.
func (n *Node) MempoolTxs(ctx context.Context, txids []chainhash.Hash) ([]*wire.MsgTx, error) {
	if len(txids) == 0 {
		return nil, nil
	}
	params := make([][]any, len(txids))
	for i := range txids {
		params[i] = []any{txids[i].String(), 0}
	}
	res, err := n.rpc.batch(ctx, "getrawtransaction", params)
	if err != nil {
		return nil, err
	}
	txs := make([]*wire.MsgTx, 0, len(txids))
	for i, r := range res {
		raw, err := r.result, r.err
		if isNoSuchTx(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("getrawtransaction %s: %w", txids[i], err)
		}
		tx, err := DecodeRawTx(raw)
		if err != nil {
			return nil, fmt.Errorf("getrawtransaction %s: %w", txids[i], err)
		}
		txs = append(txs, tx)
	}
	return txs, nil
}

// isNoSuchTx reports the error both nodes return for an unknown txid
// (RPC_INVALID_ADDRESS_OR_KEY, -5); btcd also uses -5 for "no tx index".
func isNoSuchTx(err error) bool {
	var rpcErr *btcjson.RPCError
	return errors.As(err, &rpcErr) && rpcErr.Code == btcjson.ErrRPCInvalidAddressOrKey
}

// DecodeRawTx reads a JSON string of hex-encoded transaction bytes, as
// getrawtransaction with verbosity 0 returns it.
func DecodeRawTx(raw json.RawMessage) (*wire.MsgTx, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("unable to decode raw transaction result: %w", err)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("raw transaction is not hex: %w", err)
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("unable to deserialize transaction: %w", err)
	}
	return &tx, nil
}

// Acceptance is the node's verdict on a transaction it was asked to test.
type Acceptance struct {
	Allowed bool
	// Reason is the node's reject reason when not allowed.
	Reason string
}

// TestMempoolAccept asks the node whether it would accept tx, without
// broadcasting it.
func (n *Node) TestMempoolAccept(ctx context.Context, tx *wire.MsgTx) (Acceptance, error) {
	hexTx, err := encodeTx(tx)
	if err != nil {
		return Acceptance{}, err
	}
	// btcd requires maxfeerate; both read it in BTC/kvB. 0.1 BTC/kvB is
	// 10,000 sat/vB, the daemon's own ceiling for a proposal.
	raw, err := n.rpc.call(ctx, "testmempoolaccept", []string{hexTx}, json.RawMessage("0.1"))
	if err != nil {
		return Acceptance{}, err
	}
	return ParseMempoolAccept(raw, tx.TxHash())
}

// ParseMempoolAccept reads a testmempoolaccept result for one transaction.
// btcd and bitcoind share the fields used here: txid, allowed and
// reject-reason; bitcoind adds others that are ignored.
func ParseMempoolAccept(raw json.RawMessage, txid chainhash.Hash) (Acceptance, error) {
	var results []struct {
		Txid         string `json:"txid"`
		Allowed      *bool  `json:"allowed"`
		RejectReason string `json:"reject-reason"`
		PackageError string `json:"package-error"`
	}
	if err := json.Unmarshal(raw, &results); err != nil {
		return Acceptance{}, fmt.Errorf("unable to decode testmempoolaccept: %w", err)
	}
	if len(results) != 1 || results[0].Txid != txid.String() {
		return Acceptance{}, fmt.Errorf("testmempoolaccept answered for %d transactions, not for %s", len(results), txid)
	}
	r := results[0]
	if r.Allowed != nil && *r.Allowed {
		return Acceptance{Allowed: true}, nil
	}
	reason := r.RejectReason
	if reason == "" {
		reason = r.PackageError
	}
	if reason == "" {
		reason = "rejected without a reason"
	}
	return Acceptance{Reason: reason}, nil
}

// SendRawTransaction broadcasts tx through the node.
func (n *Node) SendRawTransaction(ctx context.Context, tx *wire.MsgTx) error {
	hexTx, err := encodeTx(tx)
	if err != nil {
		return err
	}
	if _, err := n.rpc.call(ctx, "sendrawtransaction", hexTx); err != nil {
		return fmt.Errorf("sendrawtransaction %s: %w", tx.TxHash(), err)
	}
	return nil
}

func encodeTx(tx *wire.MsgTx) (string, error) {
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return "", fmt.Errorf("unable to serialize transaction: %w", err)
	}
	return hex.EncodeToString(buf.Bytes()), nil
}
