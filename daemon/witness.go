package daemon

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// The ministries witness the audit log (docs/audit.md, "Witnesses"): every
// exported PSBT carries the log's checkpoint now and, per cosigner, a
// consistency proof from the last checkpoint that cosigner's signer
// cosigned; a signed PSBT comes back with the signers' cosignatures, which
// the daemon verifies and records. So the coordinator cannot show the
// signers one history and the auditors another.

// WitnessStore is what the daemon needs from the store to keep the
// witnesses (store.DB implements it).
type WitnessStore interface {
	// Witnesses returns the witness records by cosigner fingerprint,
	// their checkpoints of the log named origin.
	Witnesses(ctx context.Context, origin string) (map[uint32]audit.WitnessRecord, error)
	// UpdateProposalWitnessed is Store.UpdateProposal that also records
	// the verified cosignatures recs, with audit leaves, in the same
	// transaction: an import keeps its signatures and its file's
	// cosignatures together. A witness key other than the one first
	// presented is refused (CodeInvalid) and nothing is written.
	UpdateProposalWitnessed(ctx context.Context, id string, fn func(p *reserve.Proposal) error, recs []audit.WitnessRecord) (reserve.Proposal, error)
}

// witnessStore is the store's WitnessStore, or nil when it keeps none
// (then PSBTs carry the checkpoint and no proofs, and cosignatures are
// verified but not kept).
func (d *Daemon) witnessStore() WitnessStore {
	ws, _ := d.cfg.Store.(WitnessStore)
	return ws
}

// logVerifier is the verifier of the daemon's own log key.
func (d *Daemon) logVerifier() (note.Verifier, error) {
	v, err := note.NewVerifier(d.logKey.vkey)
	if err != nil {
		return nil, reserve.Errorf(reserve.CodeInternal, "the log key's verifier does not parse: %w", err)
	}
	return v, nil
}

// witnessPSBT is raw, a proposal's PSBT, with the witness fields as the
// signers get it: the signed checkpoint of the log now, and for each
// cosigner whose witness the daemon knows, the consistency proof from the
// checkpoint it last cosigned.
func (d *Daemon) witnessPSBT(ctx context.Context, raw []byte) ([]byte, carried, error) {
	pkt, err := multisig.ParsePSBT(raw)
	if err != nil {
		return nil, carried{}, reserve.Errorf(reserve.CodeInternal, "stored PSBT does not parse: %w", err)
	}
	cp, signed, err := d.checkpoint(ctx, 0)
	if err != nil {
		return nil, carried{}, err
	}
	w := multisig.Witness{Checkpoint: signed, Proofs: map[uint32][]byte{}}
	if ws := d.witnessStore(); ws != nil {
		recs, err := ws.Witnesses(ctx, cp.Origin)
		if err != nil {
			return nil, carried{}, err
		}
		for _, fp := range slices.Sorted(maps.Keys(recs)) {
			old := recs[fp].Checkpoint.Size
			if old == 0 || old > cp.Size {
				// A witness that saw more than this log holds (a daemon
				// restored from an older store) gets no proof: its
				// signer refuses the export, as it must.
				continue
			}
			p, err := d.audit.ProveAuditConsistency(ctx, old, cp.Size)
			if err != nil {
				return nil, carried{}, err
			}
			text, err := p.MarshalText()
			if err != nil {
				return nil, carried{}, err
			}
			w.Proofs[fp] = text
		}
	}
	if err := multisig.SetWitness(pkt, w); err != nil {
		return nil, carried{}, err
	}
	out, err := multisig.SerializePSBT(pkt)
	if err != nil {
		return nil, carried{}, err
	}
	if len(out) > multisig.MaxPSBTBytes {
		return nil, carried{}, reserve.Errorf(reserve.CodeInternal, "the PSBT with the audit log's witness fields would be %d bytes, more than %d", len(out), multisig.MaxPSBTBytes)
	}
	c := carried{size: cp.Size}
	for _, fp := range slices.Sorted(maps.Keys(w.Proofs)) {
		c.proofs = append(c.proofs, fmt.Sprintf("%08x", fp))
	}
	return out, c, nil
}

// carried is what witnessPSBT put in an exported PSBT: its checkpoint's
// size and the cosigners (fingerprints in hex) it carries a proof for.
type carried struct {
	size   int64
	proofs []string
}

// cosigned is what checkCosignatures found in a returned PSBT: the
// verified cosignatures to record, and the cosigners among them whose
// witness key this coordinator has not recorded yet.
type cosigned struct {
	recs []audit.WitnessRecord
	// fresh are the cosigners presenting a witness key for the first
	// time: trusted only as checkFirstUse allows.
	fresh map[uint32]bool
}

// checkCosignatures verifies the cosignatures a returned PSBT carries and
// returns them as records to keep: each is of a cosigner of desc, under
// the witness key first presented for it (or presented now for the first
// time, which importPSBT then holds to checkFirstUse), signed with the
// log key too, over a checkpoint of this log's own history (its root is
// the log's root at that size). A bad one is refused, CodeInvalid naming
// the cosigner; nothing is stored.
func (d *Daemon) checkCosignatures(ctx context.Context, pkt *psbt.Packet, desc *multisig.Descriptor) (cosigned, error) {
	w, err := multisig.ReadWitness(pkt)
	if err != nil || len(w.Cosignatures) == 0 {
		return cosigned{}, err
	}
	logV, err := d.logVerifier()
	if err != nil {
		return cosigned{}, err
	}
	ws := d.witnessStore()
	var known map[uint32]audit.WitnessRecord
	if ws != nil {
		if known, err = ws.Witnesses(ctx, logV.Name()); err != nil {
			return cosigned{}, err
		}
	}
	size, _, err := d.audit.AuditTree(ctx)
	if err != nil {
		return cosigned{}, err
	}
	cosigners := map[uint32]bool{}
	for _, c := range desc.Cosigners() {
		cosigners[c.Fingerprint] = true
	}
	out := cosigned{fresh: map[uint32]bool{}}
	for _, fp := range slices.Sorted(maps.Keys(w.Cosignatures)) {
		field := fmt.Sprintf("cosignature[%08x]", fp)
		if !cosigners[fp] {
			return cosigned{}, reserve.Invalid(field, "is of no cosigner of the wallet")
		}
		c, err := audit.ParseCosignature(fp, w.Cosignatures[fp])
		if err != nil {
			return cosigned{}, reserve.Invalid(field, "%w", err)
		}
		k, ok := known[fp]
		if ok && k.Key != c.Key {
			return cosigned{}, reserve.Invalid(field, "is under witness key %s, and this coordinator recorded %s for cosigner %08x (a wrong witness key)", c.Key, k.Key, fp)
		}
		// Without a store of witnesses nothing is kept, so nothing is
		// trusted either.
		out.fresh[fp] = !ok && ws != nil
		cp, err := audit.OpenCosignature(c, logV)
		if err != nil {
			return cosigned{}, reserve.Invalid(field, "%w", err)
		}
		if cp.Size > size {
			return cosigned{}, reserve.Invalid(field, "cosigns size %d, and this log holds %d leaves", cp.Size, size)
		}
		if cp.Size > 0 {
			root, err := d.audit.AuditRoot(ctx, cp.Size)
			if err != nil {
				return cosigned{}, err
			}
			if root != cp.Root {
				return cosigned{}, reserve.Invalid(field, "cosigns size %d with root %s, and this log's root at that size is %s", cp.Size, cp.Root, root)
			}
		}
		out.recs = append(out.recs, audit.WitnessRecord{Fingerprint: fp, Key: c.Key, Checkpoint: cp, Cosigned: c.Note})
	}
	return out, nil
}

// checkFirstUse limits trust on first use of a witness key
// (docs/audit.md, "Witnesses"): a cosigner's witness key is recorded the
// first time only from an import by the signer identity bound to that
// cosigner, or by an admin or officer carrying that cosigner's signer's
// file, which shows as the import adding that cosigner's signatures (a
// signer cosigns in the run that signs). Anything else presenting a key
// for the first time is refused (CodeDenied, naming the cosignature):
// run inside the import's transaction, so nothing is stored.
func (c cosigned) checkFirstUse(caller Caller, added []multisig.SigRef, desc *multisig.Descriptor) error {
	signs := map[uint32]bool{}
	cosigners := desc.Cosigners()
	for _, ref := range added {
		signs[cosigners[ref.Cosigner].Fingerprint] = true
	}
	for _, fp := range slices.Sorted(maps.Keys(c.fresh)) {
		if !c.fresh[fp] {
			continue
		}
		switch {
		case caller.Role == RoleSigner && caller.HasFingerprint && caller.Fingerprint == fp:
			continue
		case (caller.Role == RoleAdmin || caller.Role == RoleOfficer) && signs[fp]:
			continue
		}
		return reserve.Errorf(reserve.CodeDenied,
			"cosignature[%08x]: presents a witness key this coordinator has not recorded, and %s (%s) may not introduce it: "+
				"a first witness key is taken only from the signer identity bound to cosigner %08x, or with that cosigner's new signatures "+
				"in the signer's own file; nothing was stored", fp, caller.Name, caller.Role, fp)
	}
	return nil
}

// updateImported is Store.UpdateProposal for an import carrying verified
// cosignatures c: with a witness store, they are recorded in the same
// transaction as the signatures fn adds, so a crash between the two can
// never leave signatures whose file's cosignatures are lost (a retried
// import adds no signature, so its first witness key would be refused).
func (d *Daemon) updateImported(ctx context.Context, id string, c cosigned, fn func(p *reserve.Proposal) error) (reserve.Proposal, error) {
	ws := d.witnessStore()
	if ws == nil || len(c.recs) == 0 {
		return d.cfg.Store.UpdateProposal(ctx, id, fn)
	}
	p, err := ws.UpdateProposalWitnessed(ctx, id, fn, c.recs)
	if err != nil {
		return reserve.Proposal{}, err
	}
	for _, r := range c.recs {
		d.log.Info("witness cosignature recorded", "proposal", id, "cosigner", fmt.Sprintf("%08x", r.Fingerprint), "size", r.Checkpoint.Size)
	}
	return p, nil
}

// witnessExport is what audit export adds for the witnesses: each latest
// cosignature with a consistency proof from its size to the exported
// checkpoint's.
func (d *Daemon) witnessExport(ctx context.Context, cp audit.Checkpoint) ([]audit.ExportWitness, error) {
	ws := d.witnessStore()
	if ws == nil {
		return nil, nil
	}
	recs, err := ws.Witnesses(ctx, cp.Origin)
	if err != nil {
		return nil, err
	}
	var out []audit.ExportWitness
	for _, fp := range slices.Sorted(maps.Keys(recs)) {
		r := recs[fp]
		if r.Checkpoint.Size == 0 || r.Checkpoint.Size > cp.Size {
			continue
		}
		p, err := d.audit.ProveAuditConsistency(ctx, r.Checkpoint.Size, cp.Size)
		if err != nil {
			return nil, err
		}
		text, err := p.MarshalText()
		if err != nil {
			return nil, err
		}
		out = append(out, audit.ExportWitness{Cosignature: audit.Cosignature{Fingerprint: fp, Key: r.Key, Note: r.Cosigned}, Proof: text})
	}
	return out, nil
}
