package daemon

import (
	"context"
	"io"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

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
	// IdentityStore records client certificates and revocations.
	IdentityStore

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
	// Spendable returns, in one read, the coins a new proposal may use
	// (confirmed, mature, unspent even in the mempool, not reserved),
	// oldest first, with the size of each one's previous transaction by
	// txid and the synced tip (-1 before the first block); its cost does
	// not grow with spent history.
	Spendable(ctx context.Context) (coins []reserve.UTXO, prevTxBytes map[chainhash.Hash]int64, tip int32, err error)

	// CreateProposal records a new proposal (its ID is assigned by the
	// store and returned), reserves its inputs and marks its change
	// address issued, all in one transaction with an audit entry. It
	// refuses (Conflict) an input that is unknown, spent, unconfirmed or
	// reserved by a live proposal, or a change address already issued or
	// used, so two proposals never reserve the same outpoint.
	CreateProposal(ctx context.Context, p reserve.Proposal) (reserve.Proposal, error)
	// Proposal returns one proposal, NotFound for an unknown id.
	Proposal(ctx context.Context, id string) (reserve.Proposal, error)
	// Proposals lists proposals in creation order; state 0 means all.
	Proposals(ctx context.Context, state reserve.State) ([]reserve.Proposal, error)
	// UpdateProposal reads the proposal, lets fn change it and writes it
	// back in one transaction. A state change must go through
	// Proposal.Move (the store checks the transition and the history);
	// reservations are released when the new state no longer holds coins;
	// an audit entry records the change. An error from fn aborts
	// everything and is returned as is.
	UpdateProposal(ctx context.Context, id string, fn func(p *reserve.Proposal) error) (reserve.Proposal, error)
	// ReleaseSpent frees the reservations an ended proposal kept because
	// its transaction has its signatures (reserve.Proposal.MaySpend), in
	// one transaction with an audit entry, once one of its inputs is spent
	// by a confirmed transaction with at least depth confirmations; it
	// checks that against the recorded chain itself (FailedPrecondition
	// otherwise, and for a proposal whose state holds coins). It returns
	// how many it released: 0 when none were left.
	ReleaseSpent(ctx context.Context, id string, depth int32, note string) (int, error)
	// LiveProposals returns, in creation order and in one read, the
	// proposals in a state before CONFIRMED, those in the states also
	// names, and every proposal holding a reservation, with the
	// reservations; it costs the live set, not the history (store/live.go).
	LiveProposals(ctx context.Context, also ...reserve.State) ([]reserve.Proposal, map[wire.OutPoint]string, error)
	// Coins returns the wallet's records of the outpoints it has, spent or
	// not, by point lookups.
	Coins(ctx context.Context, ops []wire.OutPoint) (map[wire.OutPoint]reserve.UTXO, error)
	// Holders returns, by point lookups, the proposal holding each of ops
	// that is reserved; an outpoint no proposal holds is absent.
	Holders(ctx context.Context, ops []wire.OutPoint) (map[wire.OutPoint]string, error)
	// PaymentProposals returns, in creation order, the proposals whose
	// intent carries out one of the payments first proposed as ids.
	PaymentProposals(ctx context.Context, ids []string) ([]reserve.Proposal, error)
	// PayeeProposals returns, in creation order, the proposals whose
	// intent pays one of scripts.
	PayeeProposals(ctx context.Context, scripts [][]byte) ([]reserve.Proposal, error)
	// Reservations returns the outpoints held by proposals (live ones, and
	// ended ones whose signed transaction may still be broadcast), with
	// the proposal id holding each.
	Reservations(ctx context.Context) (map[wire.OutPoint]string, error)

	// Governance returns the policy in force, a proposed change and the
	// freeze (the zero value before any).
	Governance(ctx context.Context) (reserve.Governance, error)
	// UpdateGovernance changes them in one transaction with audit
	// entries; an error from fn aborts everything and is returned as is.
	UpdateGovernance(ctx context.Context, fn func(g *reserve.Governance) error) (reserve.Governance, error)
	// Policies returns every policy that has been in force, oldest first.
	Policies(ctx context.Context) ([]reserve.PolicyRecord, error)

	// CreateProof records a new proof of reserves (its ID assigned by the
	// store) with an audit entry. It refuses (Conflict) a proof built at
	// another tip than the synced one, and (Invalid, naming the coin) a
	// coin that is not a confirmed wallet output unspent at the tip. The
	// coins are not reserved.
	CreateProof(ctx context.Context, p reserve.Proof) (reserve.Proof, error)
	// Proof returns one proof, NotFound for an unknown id.
	Proof(ctx context.Context, id string) (reserve.Proof, error)
	// Proofs lists every proof in creation order, with the PSBTs when
	// withPSBT is set.
	Proofs(ctx context.Context, withPSBT bool) ([]reserve.Proof, error)
	// UpdateProof reads the proof, lets fn change it and writes it back in
	// one transaction with its audit entries; an error from fn aborts
	// everything and is returned as is.
	UpdateProof(ctx context.Context, id string, fn func(p *reserve.Proof) error) (reserve.Proof, error)

	// PageStore serves the paged, history-independent reads (page.go).
	PageStore

	// Backup writes a consistent copy of the whole store.
	Backup(ctx context.Context, w io.Writer) (int64, error)
}
