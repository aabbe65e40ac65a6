package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// Audit kinds of identities. Persisted: never rename one.
const (
	// AuditIdentityIssue records AddIdentity: name, role, serial, and
	// whether the certificate was issued offline and seen for the first
	// time.
	AuditIdentityIssue = "identity.issue"
	// AuditIdentityRevoke records RevokeIdentity: name, role, serial and
	// the reason.
	AuditIdentityRevoke = "identity.revoke"
)

// identityIDs are the ids of an identity's leaves: its certificate
// serial, name and role.
func identityIDs(id *reserve.Identity) map[string]string {
	return map[string]string{"serial": id.Serial, "name": reserve.Clip(id.Name, audit.MaxIDLen-4), "role": reserve.Clip(id.Role, audit.MaxIDLen-4)}
}

// Limits of identity records.
const (
	maxSerialLen       = 64 // 20 bytes of serial are 40 hex digits.
	maxIdentityNameLen = 64
	maxRoleLen         = 16
)

// AddIdentity records a certificate's identity. It refuses (Conflict) a
// serial already recorded, and a name held by another identity that is
// active at now (neither revoked nor expired), naming it: names are
// unique, and an officer gets a new certificate only once the old one is
// revoked or expired.
func (db *DB) AddIdentity(ctx context.Context, id reserve.Identity, now time.Time) error {
	if id.Serial == "" {
		return reserve.Invalid("serial", "is empty")
	}
	v, err := encodeIdentity(&id)
	if err != nil {
		return reserve.Invalid("identity", "%w", err)
	}
	return db.update(ctx, "identity: record "+id.Name, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdentities)
		if b.Get([]byte(id.Serial)) != nil {
			return reserve.Errorf(reserve.CodeConflict, "certificate serial %s is already recorded", id.Serial)
		}
		all, err := readIdentities(tx)
		if err != nil {
			return err
		}
		for _, o := range all {
			if o.Name == id.Name && o.Active(now) {
				return reserve.Errorf(reserve.CodeConflict,
					"identity name %q is held by certificate %s (%s, expires %s): revoke it first (custosctl identity revoke %s --reason …)",
					id.Name, o.Serial, o.Role, o.ExpiresAt.Format(time.RFC3339), o.Serial)
			}
		}
		if err := b.Put([]byte(id.Serial), v); err != nil {
			return fmt.Errorf("unable to write identity %s: %w", id.Name, err)
		}
		return db.appendAudit(tx, AuditIdentityIssue, identityIDs(&id), fmt.Sprintf("name=%s role=%s serial=%s offline=%t", id.Name, id.Role, id.Serial, id.Offline))
	})
}

// Identities returns every recorded identity, revoked ones included, in
// the order they were issued.
func (db *DB) Identities(ctx context.Context) ([]reserve.Identity, error) {
	var out []reserve.Identity
	err := db.view(ctx, "read identities", func(tx *bolt.Tx) error {
		var err error
		out, err = readIdentities(tx)
		return err
	})
	return out, err
}

// RevokeIdentity revokes the identity whose serial is nameOrSerial or,
// failing that, the active identity of that name. It refuses (NotFound)
// one that does not exist and (FailedPrecondition) one already revoked.
func (db *DB) RevokeIdentity(ctx context.Context, nameOrSerial, reason string, now time.Time) (reserve.Identity, error) {
	if reason == "" {
		return reserve.Identity{}, reserve.Invalid("reason", "is required: say why the identity is revoked")
	}
	if len(reason) > maxTextLen {
		return reserve.Identity{}, reserve.Invalid("reason", "is %d bytes, more than the %d allowed", len(reason), maxTextLen)
	}
	var out reserve.Identity
	err := db.update(ctx, "identity: revoke "+nameOrSerial, func(tx *bolt.Tx) error {
		all, err := readIdentities(tx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(all, func(o reserve.Identity) bool { return o.Serial == nameOrSerial })
		if i < 0 {
			i = slices.IndexFunc(all, func(o reserve.Identity) bool { return o.Name == nameOrSerial && o.Active(now) })
		}
		if i < 0 {
			i = slices.IndexFunc(all, func(o reserve.Identity) bool { return o.Name == nameOrSerial })
		}
		if i < 0 {
			return reserve.Errorf(reserve.CodeNotFound, "no identity has the name or serial %q", nameOrSerial)
		}
		out = all[i]
		if out.Revoked() {
			return reserve.Errorf(reserve.CodeFailedPrecondition, "identity %s (serial %s) was already revoked at %s",
				out.Name, out.Serial, out.RevokedAt.Format(time.RFC3339))
		}
		out.RevokedAt, out.RevokedReason = now.UTC(), reason
		if err := putIdentity(tx, &out); err != nil {
			return err
		}
		return db.appendAudit(tx, AuditIdentityRevoke, identityIDs(&out), fmt.Sprintf("name=%s role=%s serial=%s reason=%q", out.Name, out.Role, out.Serial, reason))
	})
	if err != nil {
		return reserve.Identity{}, err
	}
	return out, nil
}

// TouchIdentities records when each serial was last seen, in one
// transaction; callers coalesce, so this runs about once a minute per
// identity, not once per call. Unknown serials are skipped, and a time
// never moves backwards.
func (db *DB) TouchIdentities(ctx context.Context, seen map[string]time.Time) error {
	return db.update(ctx, "identity: record last seen", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdentities)
		for serial, at := range seen {
			v := b.Get([]byte(serial))
			if v == nil {
				continue
			}
			id, err := decodeIdentity(v)
			if err != nil {
				return corrupt("identity", []byte(serial), err)
			}
			if !at.After(id.LastSeen) {
				continue
			}
			id.LastSeen = at.UTC()
			if err := putIdentity(tx, &id); err != nil {
				return err
			}
		}
		return nil
	})
}

func putIdentity(tx *bolt.Tx, id *reserve.Identity) error {
	v, err := encodeIdentity(id)
	if err != nil {
		return reserve.Invalid("identity", "%w", err)
	}
	if err := tx.Bucket(bucketIdentities).Put([]byte(id.Serial), v); err != nil {
		return fmt.Errorf("unable to write identity %s: %w", id.Name, err)
	}
	return nil
}

// readIdentities decodes the identities bucket, sorted by issue time
// (then serial).
func readIdentities(tx *bolt.Tx) ([]reserve.Identity, error) {
	var out []reserve.Identity
	err := tx.Bucket(bucketIdentities).ForEach(func(k, v []byte) error {
		id, err := decodeIdentity(v)
		if err != nil {
			return corrupt("identity", k, err)
		}
		if id.Serial != string(k) {
			return corrupt("identity", k, fmt.Errorf("record names serial %s", id.Serial))
		}
		out = append(out, id)
		return nil
	})
	slices.SortStableFunc(out, func(a, b reserve.Identity) int {
		if c := a.IssuedAt.Compare(b.IssuedAt); c != 0 {
			return c
		}
		return compareStrings(a.Serial, b.Serial)
	})
	return out, err
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Identity record, version 1:
//
//	version(1) serial(uvarint len || bytes) name(uvarint len || bytes)
//	role(uvarint len || bytes) has_fingerprint(1) fingerprint(4)
//	issued_at(8) expires_at(8) offline(1) last_seen(8) revoked_at(8)
//	revoked_reason(uvarint len || bytes) [login_key(32)]
//
// login_key is present only for an identity that has one (an auditor's
// console key); records written before it existed end at revoked_reason.
// A fingerprint without has_fingerprint must be 0, so the record has one
// encoding.
func encodeIdentity(id *reserve.Identity) ([]byte, error) {
	e := newEncoder(96 + len(id.RevokedReason))
	e.string("serial", id.Serial, maxSerialLen)
	e.string("name", id.Name, maxIdentityNameLen)
	e.string("role", id.Role, maxRoleLen)
	if !id.HasFingerprint && id.Fingerprint != 0 {
		e.fail("fingerprint", "set without has_fingerprint")
	}
	e.bool(id.HasFingerprint)
	e.uint32(id.Fingerprint)
	e.time("issued_at", id.IssuedAt)
	e.time("expires_at", id.ExpiresAt)
	e.bool(id.Offline)
	e.time("last_seen", id.LastSeen)
	e.time("revoked_at", id.RevokedAt)
	e.string("revoked_reason", id.RevokedReason, maxTextLen)
	// Added after the first records were written: present only when set,
	// so every record written before reads the same.
	if id.HasLoginKey {
		e.buf = append(e.buf, id.LoginKey[:]...)
	} else if id.LoginKey != ([32]byte{}) {
		e.fail("login_key", "set without has_login_key")
	}
	return e.finish()
}

func decodeIdentity(b []byte) (reserve.Identity, error) {
	var id reserve.Identity
	d := newDecoder(b)
	id.Serial = d.string("serial", maxSerialLen)
	id.Name = d.string("name", maxIdentityNameLen)
	id.Role = d.string("role", maxRoleLen)
	id.HasFingerprint = d.bool("has_fingerprint")
	id.Fingerprint = d.uint32("fingerprint")
	id.IssuedAt = d.time("issued_at")
	id.ExpiresAt = d.time("expires_at")
	id.Offline = d.bool("offline")
	id.LastSeen = d.time("last_seen")
	id.RevokedAt = d.time("revoked_at")
	id.RevokedReason = d.string("revoked_reason", maxTextLen)
	if d.err == nil && len(d.buf) > 0 {
		copy(id.LoginKey[:], d.take("login_key", 32))
		id.HasLoginKey = d.err == nil
	}
	if err := d.finish(); err != nil {
		return reserve.Identity{}, err
	}
	if !id.HasFingerprint && id.Fingerprint != 0 {
		return reserve.Identity{}, fmt.Errorf("fingerprint: set without has_fingerprint: %w", errNonCanonical)
	}
	if id.Serial == "" || id.Name == "" {
		return reserve.Identity{}, fmt.Errorf("serial and name: empty: %w", errNonCanonical)
	}
	return id, nil
}
