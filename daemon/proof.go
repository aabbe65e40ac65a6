package daemon

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/proof"
	"github.com/custos-reserve/custos/reserve"
)

// Proofs of reserves (docs/proofs.md). A proof proposal is built over the
// chosen coins at the synced tip, approved by the policy's proofs.approvals
// officers (each signing the proof statement, docs/approvals.md), signed
// by the cosigners like a payment and finalized into a proof file that
// anyone checks against the chain. A proof moves nothing: its coins are
// not reserved, and its transaction can never be mined.

// maxProofOutpoints bounds the outpoints one request may name.
const maxProofOutpoints = proof.MaxCoins

// requestProof builds and records a proof over coins (nil means every
// confirmed coin unspent at the tip) for message. The caller's role must
// be one the policy in force lets request proofs.
func (d *Daemon) requestProof(ctx context.Context, caller Caller, message string, coins []wire.OutPoint) (reserve.Proof, error) {
	g, err := d.governance(ctx)
	if err != nil {
		return reserve.Proof{}, err
	}
	if g.policy == nil {
		return reserve.Proof{}, errNoPolicy()
	}
	if rules := g.policy.ProofRules(); !rules.MayRequest(string(caller.Role)) {
		return reserve.Proof{}, reserve.Errorf(reserve.CodeDenied,
			"role %s may not request a proof of reserves: the policy in force lets %s (proofs.requesters)",
			caller.Role, strings.Join(rules.Requesters, ", "))
	}
	// The message first: its refusal names it whatever the coins.
	if err := proof.CheckMessage(message); err != nil {
		return reserve.Proof{}, err
	}
	if len(coins) > maxProofOutpoints {
		return reserve.Proof{}, reserve.Invalid("outpoints", "%d outpoints, at most %d", len(coins), maxProofOutpoints)
	}
	picked, height, hash, err := d.proofCoins(ctx, coins)
	if err != nil {
		return reserve.Proof{}, err
	}
	built, err := d.buildProof(ctx, g.desc, message, picked)
	if err != nil {
		return reserve.Proof{}, err
	}
	now := d.cfg.Now().UTC()
	p := reserve.Proof{
		WalletID: g.wallet.ID, State: reserve.StatePendingApproval, Message: message,
		Height: height, BlockHash: hash, PolicyHash: g.Policy.Hash, PSBT: built,
		CreatedBy: caller.Name, CreatedAt: now, ExpiresAt: now.Add(g.policy.ProposalExpiry),
		History: []reserve.Transition{{State: reserve.StatePendingApproval, At: now, Actor: caller.Name,
			Note: fmt.Sprintf("%d coins at height %d", len(picked), height)}},
	}
	for _, c := range picked {
		p.Coins = append(p.Coins, reserve.Input{OutPoint: c.UTXO.OutPoint, AmountSat: c.UTXO.AmountSat, Branch: c.UTXO.Branch, Index: c.UTXO.Index})
		p.TotalSat += c.UTXO.AmountSat
	}
	out, err := d.cfg.Store.CreateProof(ctx, p)
	if err != nil {
		return reserve.Proof{}, err
	}
	d.log.Info("proof requested", "proof", out.ID, "coins", len(out.Coins), "total_sat", out.TotalSat, "height", out.Height, "by", caller.Name)
	return out, nil
}

// proofCoins picks the coins to prove at the synced tip: those named
// (each must be a wallet output, confirmed, unspent at the tip), or, for
// none named, every such coin. A spend still in the mempool does not
// count: at the tip the coin is unspent.
func (d *Daemon) proofCoins(ctx context.Context, named []wire.OutPoint) ([]multisig.ProofCoin, int32, chainhash.Hash, error) {
	if _, err := d.cfg.Store.Wallet(ctx); err != nil {
		return nil, 0, chainhash.Hash{}, noWallet(err)
	}
	height, hash, ok, err := d.cfg.Store.SyncTip(ctx)
	if err != nil {
		return nil, 0, chainhash.Hash{}, err
	}
	if !ok {
		return nil, 0, chainhash.Hash{}, reserve.Errorf(reserve.CodeFailedPrecondition, "the wallet has not synced a block yet")
	}
	utxos, err := d.cfg.Store.UTXOs(ctx, true)
	if err != nil {
		return nil, 0, chainhash.Hash{}, err
	}
	unspentAt := func(u reserve.UTXO) bool {
		return u.Height > 0 && u.Height <= height && (!u.Spent || u.SpentHeight == 0)
	}
	var picked []reserve.UTXO
	if len(named) == 0 {
		for _, u := range utxos {
			if unspentAt(u) {
				picked = append(picked, u)
			}
		}
		if len(picked) == 0 {
			return nil, 0, chainhash.Hash{}, reserve.Errorf(reserve.CodeFailedPrecondition, "the wallet has no confirmed unspent coin to prove")
		}
	} else {
		byOut := make(map[wire.OutPoint]reserve.UTXO, len(utxos))
		for _, u := range utxos {
			byOut[u.OutPoint] = u
		}
		seen := make(map[wire.OutPoint]int, len(named))
		for i, op := range named {
			f := fmt.Sprintf("outpoints[%d]", i)
			u, found := byOut[op]
			switch j, dup := seen[op]; {
			case dup:
				return nil, 0, chainhash.Hash{}, reserve.Invalid(f, "%s is outpoints[%d] too", op, j)
			case !found:
				return nil, 0, chainhash.Hash{}, reserve.Invalid(f, "%s is not an output of the wallet", op)
			case u.Spent && u.SpentHeight > 0:
				return nil, 0, chainhash.Hash{}, reserve.Invalid(f, "%s is spent by %s at height %d", op, u.SpentBy, u.SpentHeight)
			case !unspentAt(u):
				return nil, 0, chainhash.Hash{}, reserve.Invalid(f, "%s is not confirmed", op)
			}
			seen[op] = i
			picked = append(picked, u)
		}
	}
	coins := make([]multisig.ProofCoin, len(picked))
	raws := make(map[chainhash.Hash][]byte)
	for i, u := range picked {
		raw, ok := raws[u.OutPoint.Hash]
		if !ok {
			if raw, err = d.cfg.Store.RawTx(ctx, u.OutPoint.Hash); err != nil {
				return nil, 0, chainhash.Hash{}, fmt.Errorf("previous transaction %s of coin %s: %w", u.OutPoint.Hash, u.OutPoint, err)
			}
			raws[u.OutPoint.Hash] = raw
		}
		coins[i] = multisig.ProofCoin{UTXO: u, PrevTx: raw}
	}
	return coins, height, hash, nil
}

// buildProof builds the unsigned proof PSBT and serializes it.
func (d *Daemon) buildProof(ctx context.Context, desc *multisig.Descriptor, message string, coins []multisig.ProofCoin) ([]byte, error) {
	pkt, err := desc.BuildProof([]byte(message), coins)
	if err != nil {
		return nil, err
	}
	return multisig.SerializePSBT(pkt)
}

// proof returns one proof, after checking the id's shape.
func (d *Daemon) proof(ctx context.Context, id string) (reserve.Proof, error) {
	if err := reserve.CheckProofID(id); err != nil {
		return reserve.Proof{}, err
	}
	return d.cfg.Store.Proof(ctx, id)
}

// ProofStatement is the statement officers sign for p on network n.
func proofStatement(n reserve.Network, p *reserve.Proof) reserve.ProofStatement {
	return p.Statement(n, multisig.BIP322MessageHash([]byte(p.Message)))
}

// expireProof moves a live proof past its deadline to EXPIRED inside an
// update and reports whether it did: the caller then writes that and
// refuses what was asked.
func (d *Daemon) expireProof(p *reserve.Proof) (bool, error) {
	now := d.cfg.Now().UTC()
	if !p.Live() || now.Before(p.ExpiresAt) {
		return false, nil
	}
	return true, p.Move(reserve.StateExpired, now, "daemon", "the proof request lapsed")
}

// errProofExpired is the refusal of a proof that lapsed.
func errProofExpired(p reserve.Proof) error {
	return reserve.Errorf(reserve.CodeFailedPrecondition, "proof %s expired at %s; request a new one",
		p.ID, p.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"))
}

// updateLiveProof runs fn on a live proof in one store transaction,
// first moving a proof past its deadline to EXPIRED (which is written,
// and the call refused).
func (d *Daemon) updateLiveProof(ctx context.Context, id string, fn func(p *reserve.Proof) error) (reserve.Proof, error) {
	if err := reserve.CheckProofID(id); err != nil {
		return reserve.Proof{}, err
	}
	expired := false
	p, err := d.cfg.Store.UpdateProof(ctx, id, func(p *reserve.Proof) error {
		var err error
		if expired, err = d.expireProof(p); expired || err != nil {
			return err
		}
		return fn(p)
	})
	if err != nil {
		return reserve.Proof{}, err
	}
	if expired {
		return reserve.Proof{}, errProofExpired(p)
	}
	return p, nil
}

// approveProof records an officer's signature over a proof's statement;
// at the policy's proofs.approvals the proof goes to the signers. The
// policy in force must be the one the proof was requested under.
func (d *Daemon) approveProof(ctx context.Context, caller Caller, id string, a reserve.Approval) (reserve.Proof, error) {
	// Under the lock policy changes take: the policy read here is the
	// one in force when the approval is counted.
	d.spendMu.Lock()
	defer d.spendMu.Unlock()
	g, err := d.governance(ctx)
	if err != nil {
		return reserve.Proof{}, err
	}
	if g.policy == nil {
		return reserve.Proof{}, errNoPolicy()
	}
	need := g.policy.ProofRules().Approvals
	return d.updateLiveProof(ctx, id, func(p *reserve.Proof) error {
		if p.State != reserve.StatePendingApproval {
			return reserve.Errorf(reserve.CodeFailedPrecondition, "proof %s is %s and takes no approvals", p.ID, p.State)
		}
		if p.PolicyHash != g.Policy.Hash {
			return reserve.Errorf(reserve.CodeFailedPrecondition,
				"proof %s was requested under policy %x, and policy %x is in force now: request a new proof", p.ID, p.PolicyHash, g.Policy.Hash)
		}
		s := proofStatement(g.wallet.Network, p)
		officer, err := reserve.VerifyProofStatement(g.policy, &s, a)
		if err != nil {
			return err
		}
		if err := checkOfficer(caller, officer); err != nil {
			return err
		}
		if p.Approved(officer) {
			return reserve.Errorf(reserve.CodeConflict, "signature: officer %s already approved proof %s", officer, p.ID)
		}
		now := d.cfg.Now().UTC()
		p.Approvals = append(p.Approvals, reserve.ProofApproval{Officer: officer, Approval: a, At: now})
		if len(p.Approvals) < need {
			return nil
		}
		return p.Move(reserve.StateSigning, now, caller.Name, fmt.Sprintf("approved by %d of %d officers", len(p.Approvals), need))
	})
}

// exportProof returns the proof PSBT of a SIGNING proof.
func (d *Daemon) exportProof(ctx context.Context, id string) ([]byte, error) {
	p, err := d.proof(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.State == reserve.StateSigning && !d.cfg.Now().Before(p.ExpiresAt) {
		if _, err := d.updateLiveProof(ctx, id, func(*reserve.Proof) error { return nil }); err != nil {
			return nil, err
		}
	}
	if p.State != reserve.StateSigning {
		return nil, reserve.Errorf(reserve.CodeFailedPrecondition, "proof %s is %s: only a SIGNING proof is exported to the signers", p.ID, p.State)
	}
	return p.PSBT, nil
}

// importProof checks a signed proof PSBT (multisig.CheckProof) and merges
// its new signatures into the proof's; a signer identity may add only its
// own cosigner's. It returns how many it added.
func (d *Daemon) importProof(ctx context.Context, caller Caller, id string, incoming *psbt.Packet) (reserve.Proof, int, error) {
	_, desc, err := d.wallet(ctx)
	if err != nil {
		return reserve.Proof{}, 0, err
	}
	var added []multisig.SigRef
	p, err := d.updateLiveProof(ctx, id, func(p *reserve.Proof) error {
		if p.State != reserve.StateSigning {
			return reserve.Errorf(reserve.CodeFailedPrecondition, "proof %s is %s and takes no signatures", p.ID, p.State)
		}
		canonical, err := storedProofPSBT(p)
		if err != nil {
			return err
		}
		// CombinePSBT takes only verified SIGHASH_ALL signatures for the
		// identical unsigned transaction, from a file that may be
		// finalized already (Electrum, and Core's walletprocesspsbt,
		// finalize once the threshold is there); the proof is then
		// checked as the signers check it, merged, not as it came.
		if added, err = multisig.CombinePSBT(canonical, incoming, desc, 0); err != nil {
			return err
		}
		if err := checkSignerAdds(caller, added, desc); err != nil {
			return err
		}
		if len(added) == 0 {
			return nil
		}
		if _, err := multisig.CheckProof(canonical, desc); err != nil {
			return reserve.Errorf(reserve.CodeInternal, "proof %s with the imported signatures fails its own check: %v", p.ID, err)
		}
		if p.PSBT, err = multisig.SerializePSBT(canonical); err != nil {
			return err
		}
		cosigners := desc.Cosigners()
		for i, n := range multisig.Signers(canonical, desc) {
			if n == len(canonical.Inputs) && !p.Signed(i) {
				p.Signatures = append(p.Signatures, reserve.Signature{Cosigner: i, Fingerprint: cosigners[i].Fingerprint, At: d.cfg.Now().UTC()})
			}
		}
		return nil
	})
	if err != nil {
		return reserve.Proof{}, 0, err
	}
	if len(added) > 0 {
		d.log.Info("proof signatures imported", "proof", p.ID, "added", len(added), "by", caller.Name)
	}
	return p, len(added), nil
}

// storedProofPSBT parses a proof's own PSBT: our record, so a failure is
// internal.
func storedProofPSBT(p *reserve.Proof) (*psbt.Packet, error) {
	pkt, err := multisig.ParsePSBT(p.PSBT)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInternal, "stored PSBT of proof %s does not parse: %v", p.ID, err)
	}
	return pkt, nil
}

// finalizeProof finalizes a SIGNING proof whose every input has the
// threshold (multisig.FinalizeProof, which verifies the result with the
// script engine) and returns it with its proof file. A FINALIZED proof's
// file is written again from the record (with or without the descriptor).
func (d *Daemon) finalizeProof(ctx context.Context, caller Caller, id string, withDescriptor bool) (reserve.Proof, []byte, error) {
	w, desc, err := d.wallet(ctx)
	if err != nil {
		return reserve.Proof{}, nil, err
	}
	p, err := d.proof(ctx, id)
	if err != nil {
		return reserve.Proof{}, nil, err
	}
	if p.State != reserve.StateFinalized {
		p, err = d.updateLiveProof(ctx, id, func(p *reserve.Proof) error {
			if p.State != reserve.StateSigning {
				return reserve.Errorf(reserve.CodeFailedPrecondition, "proof %s is %s: only a SIGNING proof is finalized", p.ID, p.State)
			}
			pkt, err := storedProofPSBT(p)
			if err != nil {
				return err
			}
			if missing := proofSignaturesNeeded(pkt, desc); missing > 0 {
				return reserve.Errorf(reserve.CodeFailedPrecondition,
					"proof %s needs %d more signatures: every input takes %d", p.ID, missing, desc.Threshold())
			}
			tx, err := multisig.FinalizeProof(pkt, desc)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := tx.Serialize(&buf); err != nil {
				return fmt.Errorf("unable to serialize the proof transaction: %w", err)
			}
			if p.PSBT, err = multisig.SerializePSBT(pkt); err != nil {
				return err
			}
			p.FinalTx = buf.Bytes()
			return p.Move(reserve.StateFinalized, d.cfg.Now().UTC(), caller.Name,
				fmt.Sprintf("%d of %d signatures on %d coins", desc.Threshold(), len(desc.Cosigners()), len(p.Coins)))
		})
		if err != nil {
			return reserve.Proof{}, nil, err
		}
		d.log.Info("proof finalized", "proof", p.ID, "coins", len(p.Coins), "total_sat", p.TotalSat)
	}
	file, err := proofFile(w, desc, &p, withDescriptor)
	if err != nil {
		return reserve.Proof{}, nil, err
	}
	return p, file, nil
}

// proofSignaturesNeeded is how many signatures the inputs still lack.
func proofSignaturesNeeded(pkt *psbt.Packet, desc *multisig.Descriptor) int {
	missing := 0
	for _, in := range pkt.Inputs {
		if len(in.FinalScriptWitness) > 0 {
			continue
		}
		missing += max(desc.Threshold()-len(in.PartialSigs), 0)
	}
	return missing
}

// proofFile writes a FINALIZED proof's file (docs/proofs.md).
func proofFile(w reserve.Wallet, desc *multisig.Descriptor, p *reserve.Proof, withDescriptor bool) ([]byte, error) {
	pkt, err := storedProofPSBT(p)
	if err != nil {
		return nil, err
	}
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(p.FinalTx)); err != nil {
		return nil, reserve.Errorf(reserve.CodeInternal, "stored transaction of proof %s does not parse: %v", p.ID, err)
	}
	der, err := desc.Derive(reserve.BranchReceive, 0)
	if err != nil {
		return nil, fmt.Errorf("unable to derive the challenge address: %w", err)
	}
	f := &proof.File{
		Network: w.Network, Message: p.Message, ChallengeAddress: der.Address, Challenge: der.PkScript,
		Height: p.Height, BlockHash: p.BlockHash, TotalSat: p.TotalSat, Coins: len(p.Coins),
		PSBT: pkt, Tx: &tx,
	}
	// The descriptor, and where it derives each coin's script, so a
	// verifier can tell the coins are the wallet's.
	f.Descriptor = desc.String()
	for _, c := range p.Coins {
		f.Derivations = append(f.Derivations, proof.Derivation{Branch: uint32(c.Branch), Index: c.Index})
	}
	// The signers are those whose signatures the final witnesses carry
	// (the finalizer keeps m per input), read from the witnesses as a
	// verifier with the descriptor reads them, whether or not the file
	// publishes the descriptor.
	if f.Signers, err = proof.WitnessSigners(f); err != nil {
		return nil, reserve.Errorf(reserve.CodeInternal, "the signers of proof %s do not read from its witnesses: %v", p.ID, err)
	}
	if !withDescriptor {
		f.Descriptor, f.Derivations = "", nil
	}
	return proof.Marshal(f)
}
