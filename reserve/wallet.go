package reserve

import (
	"fmt"
	"slices"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Limits on the shape of a reserve wallet. 20 keys is the most a P2WSH
// CHECKMULTISIG script may hold under standardness (3,600-byte witness
// script, 20 keys for OP_CHECKMULTISIG).
const (
	MaxCosigners = 20
	// DefaultGapLimit is how many unused addresses past the last used or
	// issued one are watched on each branch.
	DefaultGapLimit = 20
	// CoinbaseMaturity is how many confirmations a coinbase output needs
	// before it can be spent (consensus, every network).
	CoinbaseMaturity = 100
)

// Cosigner is one ministry's key as the wallet knows it: the key origin
// (master fingerprint and derivation path) and the extended public key at
// the end of that path.
type Cosigner struct {
	// Fingerprint is the first four bytes of HASH160 of the master public
	// key, as BIP-32 defines it, in big-endian order.
	Fingerprint uint32
	// Path is the origin path from the master key to XPub; hardened steps
	// have bit 31 set.
	Path []uint32
	// XPub is the base58check extended public key (xpub or tpub).
	XPub string
}

// Wallet is the reserve: an m-of-n P2WSH sortedmulti wallet.
type Wallet struct {
	// ID names the wallet in approvals and PSBTs; it is derived from the
	// descriptor, so two wallets with the same keys and threshold share it.
	ID        string
	Name      string
	Network   Network
	Threshold int
	// Cosigners are in the order given at creation; sortedmulti makes the
	// scripts independent of it.
	Cosigners []Cosigner
	// Descriptor is the multipath descriptor with its checksum.
	Descriptor     string
	GapLimit       uint32
	BirthdayHeight int32
	CreatedAt      time.Time
}

// Branch is the last-but-one derivation step: receive or change. Persisted.
type Branch uint8

const (
	// BranchReceive holds addresses handed out to payers.
	BranchReceive Branch = 0
	// BranchChange holds the wallet's own change outputs.
	BranchChange Branch = 1
)

// String names the branch.
func (b Branch) String() string {
	if b == BranchChange {
		return "change"
	}
	return "receive"
}

// Address is one derived script of the wallet, handed out or only watched.
type Address struct {
	Branch  Branch
	Index   uint32
	Address string
	Script  []byte
	Label   string
	// Issued is true once the address was handed out by `address new`;
	// lookahead addresses are watched but not issued.
	Issued    bool
	CreatedAt time.Time
}

// UTXO is an output paying the wallet, with what the chain says of it.
type UTXO struct {
	OutPoint  wire.OutPoint
	AmountSat int64
	Script    []byte
	Branch    Branch
	Index     uint32
	// Height is the block height that confirmed the output; 0 means it is
	// only in the node's mempool.
	Height   int32
	Coinbase bool
	// Spent is true when a transaction spending the output is known;
	// SpentHeight is its block height, 0 while it is in the mempool.
	Spent       bool
	SpentBy     chainhash.Hash
	SpentHeight int32
}

// Mature reports whether the output can be spent at the given tip height:
// non-coinbase outputs always, coinbase outputs after CoinbaseMaturity
// confirmations.
func (u *UTXO) Mature(tip int32) bool {
	if !u.Coinbase {
		return true
	}
	return u.Height > 0 && tip-u.Height+1 >= CoinbaseMaturity
}

// Confirmations is how many blocks have confirmed the output at tip, 0 if
// it is unconfirmed.
func (u *UTXO) Confirmations(tip int32) int32 {
	if u.Height <= 0 || tip < u.Height {
		return 0
	}
	return tip - u.Height + 1
}

// Balance splits the unspent outputs of the wallet the way an officer reads
// them. Outputs spent by a known transaction, even an unconfirmed one, count
// in none of them.
type Balance struct {
	ConfirmedSat   int64
	UnconfirmedSat int64
	ImmatureSat    int64
}

// BalanceOf sums utxos at the given tip height.
func BalanceOf(utxos []UTXO, tip int32) Balance {
	var b Balance
	for i := range utxos {
		u := &utxos[i]
		switch {
		case u.Spent:
		case u.Height == 0:
			b.UnconfirmedSat += u.AmountSat
		case !u.Mature(tip):
			b.ImmatureSat += u.AmountSat
		default:
			b.ConfirmedSat += u.AmountSat
		}
	}
	return b
}

// BalancePoint is the confirmed holdings once the block at Height was
// processed.
type BalancePoint struct {
	Height       int32
	ConfirmedSat int64
}

// BalanceHistory replays coins — spent ones included — into the
// confirmed holdings after every block, up to tip, that changed them:
// a coin counts from the block that confirmed it until the block that
// confirmed its spend. Unconfirmed coins and spends are not history yet.
// Coinbase outputs count from their block, mature or not. The points
// are by height, one per height, and the total never leaves 0 … 21M BTC.
func BalanceHistory(coins []UTXO, tip int32) ([]BalancePoint, error) {
	delta := make(map[int32]int64)
	for i := range coins {
		u := &coins[i]
		if u.Height <= 0 || u.Height > tip {
			continue
		}
		if u.AmountSat < 0 || u.AmountSat > MaxSat {
			return nil, fmt.Errorf("coin %s has amount %d", u.OutPoint, u.AmountSat)
		}
		delta[u.Height] += u.AmountSat
		if u.Spent && u.SpentHeight > 0 && u.SpentHeight <= tip {
			if u.SpentHeight < u.Height {
				return nil, fmt.Errorf("coin %s is spent at height %d, before it confirmed at %d", u.OutPoint, u.SpentHeight, u.Height)
			}
			delta[u.SpentHeight] -= u.AmountSat
		}
	}
	heights := make([]int32, 0, len(delta))
	for h, d := range delta {
		if d != 0 {
			heights = append(heights, h)
		}
	}
	slices.Sort(heights)
	out := make([]BalancePoint, 0, len(heights))
	var total int64
	for _, h := range heights {
		total += delta[h]
		if total < 0 || total > MaxSat {
			return nil, fmt.Errorf("confirmed holdings at height %d would be %d sat", h, total)
		}
		out = append(out, BalancePoint{Height: h, ConfirmedSat: total})
	}
	return out, nil
}
