package chain

import (
	"context"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/reserve"
)

// Store is what the follower needs from persistence: the wallet's scripts,
// its sync tip and block hashes, and one transaction per block or mempool
// pass. daemon.Store embeds it; store.DB implements it.
type Store interface {
	// Wallet returns the reserve wallet, NotFound before it is created.
	Wallet(ctx context.Context) (reserve.Wallet, error)
	// Addresses returns every derived address of a branch, issued or
	// watched, ordered by index.
	Addresses(ctx context.Context, branch reserve.Branch) ([]reserve.Address, error)
	// PutAddresses records lookahead addresses; existing ones keep their
	// label and issued flag.
	PutAddresses(ctx context.Context, addrs []reserve.Address) error
	// Horizon returns, for a branch, one past the highest issued or used
	// index (0 when none), so the caller can keep gap-limit addresses
	// derived past it.
	Horizon(ctx context.Context, branch reserve.Branch) (uint32, error)

	// SyncTip returns the last block the wallet has processed; ok is false
	// before the first block.
	SyncTip(ctx context.Context) (height int32, hash chainhash.Hash, ok bool, err error)
	// BlockHash returns the hash recorded for a processed height.
	BlockHash(ctx context.Context, height int32) (hash chainhash.Hash, ok bool, err error)
	// ApplyBlock records what one block did to the wallet and moves the
	// sync tip to it. It refuses (Conflict) a block that does not extend
	// the current tip.
	ApplyBlock(ctx context.Context, b reserve.BlockUpdate) error
	// DisconnectTip undoes the tip block: outputs it created are removed,
	// spends it confirmed are forgotten (the mempool pass finds them again
	// if the node re-accepts them), and the tip moves to its parent.
	DisconnectTip(ctx context.Context) error
	// ApplyMempool records unconfirmed outputs and spends, and forgets
	// unconfirmed ones whose transaction left the mempool.
	ApplyMempool(ctx context.Context, m reserve.MempoolUpdate) error

	// UTXOs returns the wallet's outputs ordered by outpoint; spent ones
	// only when includeSpent is set.
	UTXOs(ctx context.Context, includeSpent bool) ([]reserve.UTXO, error)
}
