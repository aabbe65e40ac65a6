package proof

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// Options tune Verify.
type Options struct {
	// Workers runs the script checks over this many goroutines
	// (0 = GOMAXPROCS).
	Workers int
	// ScanFrom is CheckParams.ScanFrom.
	ScanFrom int32
	// Now stamps the result (time.Now when nil).
	Now func() time.Time
}

// Result is what a verified proof proves.
type Result struct {
	// TotalSat is the total of the proven coins; Coins their number.
	TotalSat int64
	Coins    int
	// UnspentNow counts the coins still unspent at the node's best block;
	// the others were spent after the proof's height (still proven).
	UnspentNow int
	// States says, per coin, where it was created and whether it is still
	// unspent.
	States []CoinState
	// Ownership is what the descriptor, when published, showed: every
	// coin is the wallet's and who signed.
	Ownership Ownership
	// At is when the verification ran.
	At time.Time
}

// maxSigsPerInput sizes the signature cache: a sortedmulti input carries
// at most 15 signatures (the most keys a CHECKMULTISIG wallet here has),
// and input 0 as many.
const maxSigsPerInput = 16

// Verify checks the proof file f: every input's script against the
// output it spends (multisig.VerifyProof: the message's commitment in
// input 0, the challenge, SIGHASH_ALL, one zero-value OP_RETURN output),
// the total the file states, the descriptor when present (its receive
// address 0 must be the challenge, every coin's witness script its script
// at the coin's derivation, the listed signers exactly the cosigners whose
// keys signed every input: checkOwnership), and, against c, that every coin was created and unspent at the proof's
// height in the block the file names (CheckUnspent). It returns the first
// reason the proof fails: a *reserve.Error of code CodeInvalid naming the
// field or input, or an error reaching the node.
func Verify(ctx context.Context, f *File, c Chain, opts Options) (Result, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	coins, prevOuts, err := spentOutputs(f)
	if err != nil {
		return Result{}, err
	}
	// With the descriptor, the ownership check must tell which key made
	// each signature: the engine's verifications are kept for it.
	var cache *txscript.SigCache
	if f.Descriptor != "" {
		cache = txscript.NewSigCache(uint(len(f.Tx.TxIn)) * maxSigsPerInput)
	}
	total, err := multisig.VerifyProofCached(f.Tx, []byte(f.Message), f.Challenge, prevOuts, opts.Workers, cache)
	if err != nil {
		return Result{}, err
	}
	if total != f.TotalSat {
		return Result{}, reserve.Invalid("total_sat", "the proof states %d sat, its coins hold %d sat", f.TotalSat, total)
	}
	owner, err := checkOwnership(f, prevOuts, opts.Workers, cache)
	if err != nil {
		return Result{}, err
	}
	states, err := CheckUnspent(ctx, c, CheckParams{
		Height: f.Height, BlockHash: f.BlockHash, Coins: coins, ScanFrom: opts.ScanFrom,
	})
	if err != nil {
		return Result{}, err
	}
	r := Result{TotalSat: total, Coins: len(coins), States: states, Ownership: owner, At: now().UTC()}
	for _, s := range states {
		if s.UnspentNow {
			r.UnspentNow++
		}
	}
	return r, nil
}

// spentOutputs returns the outputs inputs 1..n spend as the PSBT carries
// them: the previous transaction (whose txid multisig.ParsePSBT checked)
// or, without it, the witness UTXO; both must agree when both are there.
// The chain check then confirms each is the output on the chain.
func spentOutputs(f *File) ([]Coin, map[wire.OutPoint]*wire.TxOut, error) {
	coins := make([]Coin, 0, len(f.Tx.TxIn)-1)
	prevOuts := make(map[wire.OutPoint]*wire.TxOut, len(f.Tx.TxIn)-1)
	for i := 1; i < len(f.Tx.TxIn); i++ {
		field := fmt.Sprintf("input[%d]", i)
		op := f.Tx.TxIn[i].PreviousOutPoint
		in := f.PSBT.Inputs[i]
		var out *wire.TxOut
		if prev := in.NonWitnessUtxo; prev != nil {
			if prev.TxHash() != op.Hash || int(op.Index) >= len(prev.TxOut) {
				return nil, nil, reserve.Invalid(field, "the previous transaction is not the one spent")
			}
			out = prev.TxOut[op.Index]
		}
		if w := in.WitnessUtxo; w != nil {
			if out != nil && (out.Value != w.Value || !bytes.Equal(out.PkScript, w.PkScript)) {
				return nil, nil, reserve.Invalid(field, "the witness UTXO differs from the previous transaction's output")
			}
			out = w
		}
		if out == nil {
			return nil, nil, reserve.Invalid(field, "the PSBT carries no previous output")
		}
		if _, dup := prevOuts[op]; dup {
			return nil, nil, reserve.Invalid(field, "spends %s a second time", op)
		}
		prevOuts[op] = out
		coins = append(coins, Coin{OutPoint: op, TxOut: *out})
	}
	return coins, prevOuts, nil
}
