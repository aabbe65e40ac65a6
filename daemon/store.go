package daemon

import (
	"context"
	"io"

	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/reserve"
)

// Store is what the daemon needs from persistence. cmd/custosd injects
// store.DB; every method that changes state does it in one bbolt
// transaction together with its audit entry, and failures are
// *reserve.Error values classified by reserve.Code.
type Store interface {
	// chain.Store is the follower's part: wallet scripts, sync tip,
	// blocks, mempool and UTXOs.
	chain.Store

	// EnsureNetwork records net on first use and refuses (code
	// FailedPrecondition) a store that was made for another network.
	EnsureNetwork(ctx context.Context, net reserve.Network) error

	// CreateWallet records the reserve wallet with its first lookahead
	// addresses and an audit entry. A second wallet is a Conflict.
	CreateWallet(ctx context.Context, w reserve.Wallet, lookahead []reserve.Address) error

	// IssueAddress hands out the receive address after the highest issued
	// or used one, records the label and an audit entry. The address must
	// already be derived (NotFound otherwise: the caller extends the
	// lookahead first).
	IssueAddress(ctx context.Context, label string) (reserve.Address, error)

	// RawTx returns a stored transaction that paid the wallet (serialized
	// with witness), NotFound otherwise.
	RawTx(ctx context.Context, txid chainhash.Hash) ([]byte, error)

	// Backup writes a consistent copy of the whole store.
	Backup(ctx context.Context, w io.Writer) (int64, error)
}
