package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// Audit kinds of governance changes.
const (
	// AuditPolicySet records a policy coming into force.
	AuditPolicySet = "policy.set"
	// AuditPolicyPropose records a change proposed or closed (applied or
	// withdrawn); each officer's approval is its own policy.approve leaf.
	AuditPolicyPropose = "policy.pending"
	// AuditFreeze records a freeze.
	AuditFreeze = "reserve.freeze"
	// AuditUnfreeze records an officer's approval to unfreeze, and the
	// freeze lifted.
	AuditUnfreeze = "reserve.unfreeze"
	// AuditPolicyApprove records one officer's approval of a proposed
	// policy change: ids name the officer and the new policy's hash.
	AuditPolicyApprove = "policy.approve"
)

// Governance returns the reserve's governance; the zero value before any
// policy or freeze.
func (db *DB) Governance(ctx context.Context) (reserve.Governance, error) {
	var g reserve.Governance
	err := db.view(ctx, "read governance", func(tx *bolt.Tx) error {
		var err error
		g, err = readGovernance(tx)
		return err
	})
	return g, err
}

func readGovernance(tx *bolt.Tx) (reserve.Governance, error) {
	v := tx.Bucket(bucketGovernance).Get(keyGovernance)
	if v == nil {
		return reserve.Governance{}, nil
	}
	g, err := decodeGovernance(v)
	if err != nil {
		return reserve.Governance{}, corrupt("governance", keyGovernance, err)
	}
	return g, nil
}

// UpdateGovernance changes the governance in one transaction: fn gets a
// copy to change. It checks that every policy text parses to its hash,
// that a new policy in force is numbered one past the last and differs
// from it, and that the freeze epoch never goes back; it files a policy
// that came into force in the history (Policies) and writes one audit
// entry per change. An error from fn aborts everything and is returned as
// is.
func (db *DB) UpdateGovernance(ctx context.Context, fn func(g *reserve.Governance) error) (reserve.Governance, error) {
	if fn == nil {
		return reserve.Governance{}, reserve.Invalid("fn", "is nil")
	}
	var out reserve.Governance
	var fnErr error
	err := db.update(ctx, "update governance", func(tx *bolt.Tx) error {
		old, err := readGovernance(tx)
		if err != nil {
			return err
		}
		cur, err := readGovernance(tx)
		if err != nil {
			return err
		}
		if err := fn(&cur); err != nil {
			fnErr = err
			return err
		}
		if err := checkGovernance(&old, &cur); err != nil {
			return err
		}
		v, err := encodeGovernance(&cur)
		if err != nil {
			return inputError("", err)
		}
		if err := tx.Bucket(bucketGovernance).Put(keyGovernance, v); err != nil {
			return fmt.Errorf("unable to write governance: %w", err)
		}
		if cur.Policy != nil && (old.Policy == nil || old.Policy.Seq != cur.Policy.Seq) {
			pv, err := encodePolicyRecord(cur.Policy)
			if err != nil {
				return inputError("policy.", err)
			}
			if err := tx.Bucket(bucketPolicies).Put(binary.BigEndian.AppendUint64(nil, cur.Policy.Seq), pv); err != nil {
				return fmt.Errorf("unable to file policy %d: %w", cur.Policy.Seq, err)
			}
		}
		for _, l := range governanceAudit(&old, &cur) {
			if err := db.appendLeaf(tx, l); err != nil {
				return err
			}
		}
		if out, err = decodeGovernance(v); err != nil {
			return fmt.Errorf("unable to read back governance: %w", err)
		}
		return nil
	})
	if fnErr != nil {
		return reserve.Governance{}, fnErr
	}
	if err != nil {
		return reserve.Governance{}, err
	}
	return out, nil
}

// checkGovernance refuses what no governance change may do. Only a policy
// text that is new to the governance is parsed: one already in force or
// pending was checked when it was written, and parsing a large allowlist
// on every freeze or approval would hold the write lock for nothing.
func checkGovernance(old, cur *reserve.Governance) error {
	for _, r := range []struct {
		field string
		rec   *reserve.PolicyRecord
	}{{"policy", cur.Policy}, {"pending", cur.Pending}} {
		if r.rec == nil || sameDocument(r.rec, old.Policy) || sameDocument(r.rec, old.Pending) {
			continue
		}
		p, err := reserve.ParsePolicy(r.rec.Text)
		if err != nil {
			return reserve.Invalid(r.field, "policy text does not parse: %w", err)
		}
		if h := p.Hash(); h != r.rec.Hash {
			return reserve.Invalid(r.field, "policy hash %x is not the text's %x", r.rec.Hash, h)
		}
	}
	switch {
	case old.Policy != nil && cur.Policy == nil:
		return reserve.Invalid("policy", "the policy in force cannot be removed")
	case cur.Policy == nil:
	case old.Policy == nil && cur.Policy.Seq != 1:
		return reserve.Invalid("policy.seq", "the first policy is number 1, not %d", cur.Policy.Seq)
	case old.Policy != nil && cur.Policy.Seq == old.Policy.Seq:
		if !policyRecordEqual(old.Policy, cur.Policy) {
			return reserve.Invalid("policy", "policy %d in force cannot be changed; a new policy takes the next number", old.Policy.Seq)
		}
	case old.Policy != nil && cur.Policy.Seq != old.Policy.Seq+1:
		return reserve.Invalid("policy.seq", "the next policy is number %d, not %d", old.Policy.Seq+1, cur.Policy.Seq)
	case old.Policy != nil && cur.Policy.Hash == old.Policy.Hash:
		return reserve.Invalid("policy", "the new policy is the one in force (%x)", cur.Policy.Hash)
	}
	if cur.Freeze.Epoch < old.Freeze.Epoch {
		return reserve.Invalid("freeze.epoch", "cannot go back from %d to %d", old.Freeze.Epoch, cur.Freeze.Epoch)
	}
	if cur.Freeze.Frozen && cur.Freeze.Epoch == 0 {
		return reserve.Invalid("freeze.epoch", "a freeze has an epoch from 1")
	}
	return nil
}

// sameDocument reports whether rec has the text and hash of stored, a
// record the store has already checked.
func sameDocument(rec, stored *reserve.PolicyRecord) bool {
	return stored != nil && rec.Hash == stored.Hash && bytes.Equal(rec.Text, stored.Text)
}

func policyRecordEqual(a, b *reserve.PolicyRecord) bool {
	if a.Seq != b.Seq || !bytes.Equal(a.Text, b.Text) || a.Hash != b.Hash || a.By != b.By ||
		!a.At.Equal(b.At) || len(a.Approvals) != len(b.Approvals) {
		return false
	}
	for i := range a.Approvals {
		if !controlSignatureEqual(a.Approvals[i], b.Approvals[i]) {
			return false
		}
	}
	return true
}

func controlSignatureEqual(a, b reserve.ControlSignature) bool {
	return a.Officer == b.Officer && a.Approval == b.Approval && a.At.Equal(b.At)
}

// governanceAudit says what changed, as leaves with the ids an auditor
// joins on: policy hashes (hex SHA-256 of the text), officers, freeze
// epochs.
func governanceAudit(old, cur *reserve.Governance) []audit.Leaf {
	var out []audit.Leaf
	if cur.Pending != nil && (old.Pending == nil || old.Pending.Hash != cur.Pending.Hash) {
		out = append(out, audit.Leaf{Kind: AuditPolicyPropose, IDs: policyIDs(cur.Pending),
			Detail: fmt.Sprintf("hash=%x by=%q approvals=%d", cur.Pending.Hash, reserve.Clip(cur.Pending.By, maxAuditFieldLen), len(cur.Pending.Approvals))})
	}
	out = append(out, policyApprovals(old, cur)...)
	if cur.Policy != nil && (old.Policy == nil || old.Policy.Seq != cur.Policy.Seq) {
		var officers []string
		for _, a := range cur.Policy.Approvals {
			officers = append(officers, a.Officer)
		}
		ids := policyIDs(cur.Policy)
		ids["policy_seq"] = strconv.FormatUint(cur.Policy.Seq, 10)
		if old.Policy != nil {
			ids["old_policy"] = hex.EncodeToString(old.Policy.Hash[:])
		}
		out = append(out, audit.Leaf{Kind: AuditPolicySet, IDs: ids, Detail: fmt.Sprintf("seq=%d hash=%x by=%q approvals=%q",
			cur.Policy.Seq, cur.Policy.Hash, reserve.Clip(cur.Policy.By, maxAuditFieldLen), officers)})
	}
	if old.Pending != nil && (cur.Pending == nil || cur.Pending.Hash != old.Pending.Hash) {
		out = append(out, audit.Leaf{Kind: AuditPolicyPropose, IDs: policyIDs(old.Pending), Detail: fmt.Sprintf("hash=%x closed", old.Pending.Hash)})
	}
	epoch := strconv.FormatUint(cur.Freeze.Epoch, 10)
	switch {
	case cur.Freeze.Frozen && (!old.Freeze.Frozen || cur.Freeze.Epoch != old.Freeze.Epoch):
		out = append(out, audit.Leaf{Kind: AuditFreeze, IDs: map[string]string{"freeze_epoch": epoch, "officer": reserve.Clip(cur.Freeze.By.Officer, audit.MaxIDLen-4)},
			Detail: fmt.Sprintf("epoch=%d officer=%s reason=%q", cur.Freeze.Epoch, cur.Freeze.By.Officer, reserve.Clip(cur.Freeze.Reason, maxAuditFieldLen))})
	case len(cur.Freeze.Unfreeze) != len(old.Freeze.Unfreeze) || (old.Freeze.Frozen && !cur.Freeze.Frozen):
		ids := map[string]string{"freeze_epoch": epoch}
		if n := len(cur.Freeze.Unfreeze); n > len(old.Freeze.Unfreeze) {
			ids["officer"] = reserve.Clip(cur.Freeze.Unfreeze[n-1].Officer, audit.MaxIDLen-4)
		}
		detail := fmt.Sprintf("epoch=%d approvals=%d", cur.Freeze.Epoch, len(cur.Freeze.Unfreeze))
		if old.Freeze.Frozen && !cur.Freeze.Frozen {
			detail = fmt.Sprintf("epoch=%d lifted approvals=%d", cur.Freeze.Epoch, len(cur.Freeze.Unfreeze))
		}
		out = append(out, audit.Leaf{Kind: AuditUnfreeze, IDs: ids, Detail: detail})
	}
	return out
}

// policyIDs names a policy document by its hash.
func policyIDs(r *reserve.PolicyRecord) map[string]string {
	return map[string]string{"policy": hex.EncodeToString(r.Hash[:])}
}

// policyApprovals is a policy.approve leaf for each officer approval of a
// proposed policy that old did not hold: approvals added to the pending
// change, and the last one, which brings it into force (then it is among
// the new policy's approvals, and the change is no longer pending).
func policyApprovals(old, cur *reserve.Governance) []audit.Leaf {
	var rec *reserve.PolicyRecord
	switch {
	case cur.Pending != nil:
		rec = cur.Pending
	case cur.Policy != nil && (old.Policy == nil || old.Policy.Seq != cur.Policy.Seq):
		rec = cur.Policy
	default:
		return nil
	}
	seen := 0
	if old.Pending != nil && old.Pending.Hash == rec.Hash {
		seen = len(old.Pending.Approvals)
	}
	var out []audit.Leaf
	for _, a := range rec.Approvals[min(seen, len(rec.Approvals)):] {
		ids := policyIDs(rec)
		ids["officer"] = reserve.Clip(a.Officer, audit.MaxIDLen-4)
		ids["officer_key"] = hex.EncodeToString(a.Approval.OfficerKey[:])
		out = append(out, audit.Leaf{Kind: AuditPolicyApprove, IDs: ids,
			Detail: fmt.Sprintf("officer %s approved policy %x (%d approvals)", ids["officer"], rec.Hash, len(rec.Approvals))})
	}
	return out
}

// Policies returns every policy that has been in force, oldest first.
func (db *DB) Policies(ctx context.Context) ([]reserve.PolicyRecord, error) {
	var out []reserve.PolicyRecord
	err := db.view(ctx, "list policies", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPolicies).ForEach(func(k, v []byte) error {
			r, err := decodePolicyRecord(v)
			if err != nil {
				return corrupt("policy", k, err)
			}
			if len(k) != 8 || binary.BigEndian.Uint64(k) != r.Seq {
				return corrupt("policy", k, fmt.Errorf("record is policy %d", r.Seq))
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

// Limits of governance records.
const (
	// maxPolicyTextLen is the largest document reserve.ParsePolicy
	// accepts, so that every valid policy can be stored.
	maxPolicyTextLen  = reserve.MaxPolicyBytes
	maxControlSigs    = 1000
	minControlSigSize = 1 + 32 + 64 + 8
)

// Policy record, version 1:
//
//	version(1) seq(8) text(uvarint len || bytes) hash(32) by(uvarint len
//	|| bytes) at(8) approvals(uvarint count) then per approval: a control
//	signature
//
// Control signature: officer(uvarint len || bytes) key(32) signature(64)
// at(8).
func encodePolicyRecord(r *reserve.PolicyRecord) ([]byte, error) {
	e := newEncoder(128 + len(r.Text) + 128*len(r.Approvals))
	putPolicyRecord(e, r)
	return e.finish()
}

func putPolicyRecord(e *encoder, r *reserve.PolicyRecord) {
	e.int64(int64(r.Seq))
	e.bytes("text", r.Text, maxPolicyTextLen)
	e.hash(r.Hash)
	e.string("by", r.By, maxNameLen)
	e.time("at", r.At)
	putControlSigs(e, "approvals", r.Approvals)
}

func putControlSigs(e *encoder, field string, sigs []reserve.ControlSignature) {
	e.count(field, len(sigs), maxControlSigs)
	for i, s := range sigs {
		putControlSig(e, fmt.Sprintf("%s[%d]", field, i), s)
	}
}

func putControlSig(e *encoder, field string, s reserve.ControlSignature) {
	e.string(field+".officer", s.Officer, maxIDLen)
	putApproval(e, s.Approval)
	e.time(field+".at", s.At)
}

func decodePolicyRecord(b []byte) (reserve.PolicyRecord, error) {
	d := newDecoder(b)
	r := getPolicyRecord(d)
	if err := d.finish(); err != nil {
		return reserve.PolicyRecord{}, err
	}
	return r, nil
}

func getPolicyRecord(d *decoder) reserve.PolicyRecord {
	var r reserve.PolicyRecord
	r.Seq = uint64(d.int64("seq"))
	r.Text = d.bytes("text", maxPolicyTextLen)
	r.Hash = d.hash("hash")
	r.By = d.string("by", maxNameLen)
	r.At = d.time("at")
	r.Approvals = getControlSigs(d, "approvals")
	return r
}

func getControlSigs(d *decoder, field string) []reserve.ControlSignature {
	n := d.count(field, maxControlSigs, minControlSigSize)
	if n == 0 {
		return nil
	}
	out := make([]reserve.ControlSignature, n)
	for i := range out {
		out[i] = getControlSig(d, field)
	}
	return out
}

func getControlSig(d *decoder, field string) reserve.ControlSignature {
	return reserve.ControlSignature{
		Officer:  d.string(field+" officer", maxIDLen),
		Approval: getApproval(d, field),
		At:       d.time(field + " at"),
	}
}

// Governance record, version 1:
//
//	version(1) policy_present(1) [policy record body] pending_present(1)
//	[policy record body] freeze_epoch(8) frozen(1) frozen_by officer
//	(uvarint len || bytes) and control signature, reason(uvarint len ||
//	bytes) unfreeze(uvarint count) then per approval: a control signature
//
// A policy record body is a policy record without its version byte.
func encodeGovernance(g *reserve.Governance) ([]byte, error) {
	e := newEncoder(512)
	for _, r := range []*reserve.PolicyRecord{g.Policy, g.Pending} {
		e.bool(r != nil)
		if r != nil {
			putPolicyRecord(e, r)
		}
	}
	e.int64(int64(g.Freeze.Epoch))
	e.bool(g.Freeze.Frozen)
	putControlSig(e, "freeze.by", g.Freeze.By)
	e.string("freeze.reason", g.Freeze.Reason, maxTextLen)
	putControlSigs(e, "freeze.unfreeze", g.Freeze.Unfreeze)
	return e.finish()
}

func decodeGovernance(b []byte) (reserve.Governance, error) {
	var g reserve.Governance
	d := newDecoder(b)
	for _, r := range []**reserve.PolicyRecord{&g.Policy, &g.Pending} {
		if d.bool("policy_present") {
			rec := getPolicyRecord(d)
			*r = &rec
		}
	}
	g.Freeze.Epoch = uint64(d.int64("freeze epoch"))
	g.Freeze.Frozen = d.bool("frozen")
	g.Freeze.By = getControlSig(d, "freeze by")
	g.Freeze.Reason = d.string("freeze reason", maxTextLen)
	g.Freeze.Unfreeze = getControlSigs(d, "unfreeze")
	if err := d.finish(); err != nil {
		return reserve.Governance{}, err
	}
	return g, nil
}
