package proof

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// Derivation is where the wallet's descriptor derives one proven coin's
// script: the branch (0 receive, 1 change) and the index. A proof that
// publishes its descriptor lists one per coin, so anyone can re-derive
// each coin's witness script and see the coin is the wallet's.
type Derivation struct {
	Branch uint32 `json:"branch"`
	Index  uint32 `json:"index"`
}

// String writes d as "branch/index".
func (d Derivation) String() string { return fmt.Sprintf("%d/%d", d.Branch, d.Index) }

// Ownership is what the descriptor lets the verifier tell of a proof.
type Ownership struct {
	// Checked is true when the file published its descriptor: every
	// coin's witness script was re-derived from it and the signers were
	// read from the signatures. False: the descriptor was withheld, the
	// coins' ownership rests on the signatures alone and the listed
	// signers are the coordinator's word.
	Checked bool
	// Signers are the fingerprints (8 hex digits, descriptor order) of the
	// cosigners whose keys made the final witnesses' signatures, when
	// Checked: each input carries m of theirs and no other key's.
	Signers []string
}

// checkOwnership ties the proof to its descriptor, when the file has one:
// input 0's witness script is the descriptor's receive address 0 (the
// challenge), input i's is the descriptor's at the file's derivation i-1,
// and the cosigners whose keys made the signatures in the inputs'
// witnesses are exactly the file's signers. It runs after
// multisig.VerifyProof, which checked each signature against the script
// engine; this only tells whose key each valid signature is by, over
// workers goroutines (0 = GOMAXPROCS).
func checkOwnership(f *File, prevOuts map[wire.OutPoint]*wire.TxOut, workers int, cache *txscript.SigCache) (Ownership, error) {
	if f.Descriptor == "" {
		return Ownership{}, nil
	}
	d, err := multisig.ParseDescriptor(f.Descriptor, f.Network)
	if err != nil {
		return Ownership{}, reserve.Invalid("descriptor", "%w", err)
	}
	// VerifyProof ran first: every signature is valid for the script.
	signed, err := inputSigners(f, d, prevOuts, workers, true, cache)
	if err != nil {
		return Ownership{}, err
	}
	cs := d.Cosigners()
	var got []string
	for j, ok := range signed {
		if ok {
			got = append(got, fingerprint(cs[j].Fingerprint))
		}
	}
	listed := make([]string, len(f.Signers))
	for i, s := range f.Signers {
		listed[i] = s.Fingerprint
	}
	sort.Strings(listed)
	want := append([]string(nil), got...)
	sort.Strings(want)
	if strings.Join(listed, ",") != strings.Join(want, ",") {
		return Ownership{}, reserve.Invalid("signers", "the file lists %s, but the keys whose signatures the inputs carry are %s",
			strings.Join(listed, ", "), strings.Join(want, ", "))
	}
	return Ownership{Checked: true, Signers: got}, nil
}

// WitnessSigners returns the signers of a finalized proof whose file
// publishes the descriptor (f.Descriptor, f.Derivations, f.Tx and
// f.PSBT set): the cosigners, in descriptor order, whose keys made the
// signatures in the inputs' final witnesses. Whoever writes the file lists
// these as its signers: a cosigner who signed but whose signatures the
// finalizer left out of every input does not show in the proof.
func WitnessSigners(f *File) ([]Signer, error) {
	d, err := multisig.ParseDescriptor(f.Descriptor, f.Network)
	if err != nil {
		return nil, reserve.Invalid("descriptor", "%w", err)
	}
	_, prevOuts, err := spentOutputs(f)
	if err != nil {
		return nil, err
	}
	signed, err := inputSigners(f, d, prevOuts, 0, false, nil)
	if err != nil {
		return nil, err
	}
	var out []Signer
	for j, c := range d.Cosigners() {
		if signed[j] {
			out = append(out, Signer{Fingerprint: fingerprint(c.Fingerprint)})
		}
	}
	return out, nil
}

func fingerprint(fp uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], fp)
	return hex.EncodeToString(b[:])
}

// inputSigners checks every input's witness script against d and returns,
// per cosigner of d, whether its key made a signature in some input's
// witness. When more than m cosigners signed, the finalizer keeps m
// signatures per input, not necessarily the same m on every input: the
// signers are then all whose signatures the witnesses carry. valid says
// the script engine has already accepted every input (see signersOf).
func inputSigners(f *File, d *multisig.Descriptor, prevOuts map[wire.OutPoint]*wire.TxOut, workers int, valid bool, cache *txscript.SigCache) ([]bool, error) {
	if len(f.Derivations) != len(f.Tx.TxIn)-1 {
		return nil, reserve.Invalid("derivations", "%d, one per coin wanted (%d)", len(f.Derivations), len(f.Tx.TxIn)-1)
	}
	challenge, err := d.Derive(reserve.BranchReceive, 0)
	if err != nil {
		return nil, reserve.Invalid("descriptor", "%w", err)
	}
	if !bytes.Equal(challenge.PkScript, f.Challenge) {
		return nil, reserve.Invalid("challenge_address", "%s is not the descriptor's receive address 0 (%s)", f.ChallengeAddress, challenge.Address)
	}
	fetch := txscript.NewMultiPrevOutFetcher(prevOuts)
	fetch.AddPrevOut(f.Tx.TxIn[0].PreviousOutPoint, &wire.TxOut{Value: 0, PkScript: f.Challenge})
	hashes := txscript.NewTxSigHashes(f.Tx, fetch)
	n := len(d.Cosigners())
	sets := make([][]bool, len(f.Tx.TxIn))
	err = forEachInput(len(f.Tx.TxIn), workers, func(i int) error {
		der := challenge
		if i > 0 {
			var err error
			path := f.Derivations[i-1]
			if der, err = d.Derive(reserve.Branch(path.Branch), path.Index); err != nil {
				return reserve.Invalid(fmt.Sprintf("derivations[%d]", i-1), "%w", err)
			}
		}
		set, err := signersOf(f.Tx, i, der, fetch.FetchPrevOutput(f.Tx.TxIn[i].PreviousOutPoint), hashes, valid, cache)
		if err != nil {
			field := fmt.Sprintf("input[%d]", i)
			return reserve.Invalid(field, "%w", err)
		}
		sets[i] = set
		return nil
	})
	if err != nil {
		return nil, err
	}
	union := make([]bool, n)
	for _, set := range sets {
		for j, ok := range set {
			union[j] = union[j] || ok
		}
	}
	return union, nil
}

// signersOf checks input i's witness ends with der's witness script and
// returns which of der's keys (descriptor order) made its signatures. The
// keys in the script are sorted; OP_CHECKMULTISIG matches the signatures
// to them in that order, and so does this. When valid (the engine has run
// the script and every signature matched a key), a signature left with a
// single key it can match is that key's without checking: this spares
// about a third of the signature checks.
//
// cache holds the signatures the script engine verified (nil: none): a
// signature found there for a key is that key's without checking again.
func signersOf(tx *wire.MsgTx, i int, der multisig.Derived, out *wire.TxOut, hashes *txscript.TxSigHashes, valid bool, cache *txscript.SigCache) ([]bool, error) {
	wit := tx.TxIn[i].Witness
	if len(wit) < 2 || !bytes.Equal(wit[len(wit)-1], der.WitnessScript) {
		return nil, fmt.Errorf("the witness script is not the descriptor's at %d/%d", der.Branch, der.Index)
	}
	if out == nil {
		return nil, fmt.Errorf("no previous output")
	}
	order := make([]int, len(der.PubKeys)) // script position → descriptor index
	for j := range order {
		order[j] = j
	}
	sort.Slice(order, func(a, b int) bool { return bytes.Compare(der.PubKeys[order[a]], der.PubKeys[order[b]]) < 0 })
	sighash, err := txscript.CalcWitnessSigHash(der.WitnessScript, hashes, txscript.SigHashAll, tx, i, out.Value)
	if err != nil {
		return nil, fmt.Errorf("unable to compute the sighash: %w", err)
	}
	set := make([]bool, len(der.PubKeys))
	next := 0
	sigs := wit[1 : len(wit)-1]
	for s, raw := range sigs {
		if len(raw) < 2 || raw[len(raw)-1] != byte(txscript.SigHashAll) {
			return nil, fmt.Errorf("signature %d is not SIGHASH_ALL", s)
		}
		sig, err := ecdsa.ParseDERSignature(raw[:len(raw)-1])
		if err != nil {
			return nil, fmt.Errorf("signature %d: %w", s, err)
		}
		matched := false
		for ; next < len(order) && !matched; next++ {
			// Exactly as many keys left as signatures: this one is next's.
			if valid && len(order)-next == len(sigs)-s {
				set[order[next]], matched = true, true
				next++
				break
			}
			if cache != nil && cache.Exists(chainhash.Hash(sighash), raw[:len(raw)-1], der.PubKeys[order[next]]) {
				set[order[next]], matched = true, true
				continue
			}
			key, err := btcec.ParsePubKey(der.PubKeys[order[next]])
			if err != nil {
				return nil, err
			}
			if sig.Verify(sighash, key) {
				set[order[next]], matched = true, true
			}
		}
		if !matched {
			return nil, fmt.Errorf("signature %d is by none of the descriptor's keys", s)
		}
	}
	return set, nil
}

// forEachInput runs fn(0..n-1) over workers goroutines (0 = GOMAXPROCS)
// and returns the error of the lowest input that failed.
func forEachInput(n, workers int, fn func(int) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				errs[i] = fn(i)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
