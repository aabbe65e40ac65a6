package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/custos-reserve/custos/reserve"
)

// Limits on a leaf's parts. They bound what one entry may cost to store,
// export and verify; a caller that could exceed one (a detail built from
// user input) cuts it first.
const (
	MaxKindLen   = 64
	MaxActorLen  = 256
	MaxIDs       = 16
	MaxIDKeyLen  = 32
	MaxIDLen     = 256
	MaxDetailLen = 4096
	// MaxLeafBytes bounds one encoded leaf (a line of an export file),
	// escapes included.
	MaxLeafBytes = 64 << 10
)

// Leaf is one entry of the log. Its canonical encoding (Encode) is the
// exact byte string the tree hashes and the exact line an export file
// carries, so a verifier hashes what it reads.
type Leaf struct {
	// Seq numbers the leaves from 1; leaf Seq is record Seq-1 of the tree.
	Seq int64
	// Time is when the change committed, kept to the second, in UTC.
	Time time.Time
	// Actor is who caused the change.
	Actor reserve.Actor
	// Kind names the change ("proposal.create", "auth.denied").
	Kind string
	// IDs are the identifiers and hashes the change concerns (proposal
	// id, txid, policy hash), by name.
	IDs map[string]string
	// Detail is a human-readable line; never a secret.
	Detail string
	// Prev is the root of the tree of the Seq-1 leaves before this one.
	// It makes every entry commit to the whole history before it, so a
	// verifier can name the first entry that differs from what was
	// logged instead of only saying that the root does not match.
	Prev tlog.Hash
}

// leafJSON fixes the field order and names of the encoding.
type leafJSON struct {
	Seq    int64             `json:"seq"`
	Time   string            `json:"time"`
	Actor  actorJSON         `json:"actor"`
	Kind   string            `json:"kind"`
	IDs    map[string]string `json:"ids,omitempty"`
	Detail string            `json:"detail,omitempty"`
	Prev   string            `json:"prev"`
}

type actorJSON struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Serial string `json:"serial,omitempty"`
}

// Encode checks the leaf and returns its canonical encoding: one line of
// JSON without a newline, fields in a fixed order, ids sorted by name, the
// time in RFC 3339 UTC to the second and Prev in standard base64.
func (l *Leaf) Encode() ([]byte, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	j := leafJSON{
		Seq:    l.Seq,
		Time:   l.Time.UTC().Truncate(time.Second).Format(time.RFC3339),
		Actor:  actorJSON{Name: l.Actor.Name, Role: l.Actor.Role, Serial: l.Actor.Serial},
		Kind:   l.Kind,
		IDs:    l.IDs,
		Detail: l.Detail,
		Prev:   base64.StdEncoding.EncodeToString(l.Prev[:]),
	}
	b, err := json.Marshal(&j)
	if err != nil {
		return nil, reserve.Invalid("leaf", "unable to encode: %w", err)
	}
	if len(b) > MaxLeafBytes {
		return nil, reserve.Invalid("leaf", "encodes to %d bytes, more than %d", len(b), MaxLeafBytes)
	}
	return b, nil
}

func (l *Leaf) check() error {
	switch {
	case l.Seq < 1:
		return reserve.Invalid("seq", "is %d, want 1 or more", l.Seq)
	case l.Time.IsZero():
		return reserve.Invalid("time", "is missing")
	case l.Time.UTC().Year() < 1 || l.Time.UTC().Year() > 9999:
		return reserve.Invalid("time", "is outside years 1-9999")
	}
	if err := checkToken("kind", l.Kind, MaxKindLen, "abcdefghijklmnopqrstuvwxyz0123456789._-"); err != nil {
		return err
	}
	if max(len(l.Actor.Name), len(l.Actor.Role), len(l.Actor.Serial)) > MaxActorLen {
		return reserve.Invalid("actor", "has a part longer than %d bytes", MaxActorLen)
	}
	if l.Actor.Name == "" || l.Actor.Role == "" {
		return reserve.Invalid("actor", "needs a name and a role")
	}
	if len(l.IDs) > MaxIDs {
		return reserve.Invalid("ids", "has %d entries, more than %d", len(l.IDs), MaxIDs)
	}
	for k, v := range l.IDs {
		if err := checkToken("ids", k, MaxIDKeyLen, "abcdefghijklmnopqrstuvwxyz0123456789_"); err != nil {
			return err
		}
		if len(v) > MaxIDLen {
			return reserve.Invalid("ids."+k, "is %d bytes, more than %d", len(v), MaxIDLen)
		}
	}
	if len(l.Detail) > MaxDetailLen {
		return reserve.Invalid("detail", "is %d bytes, more than %d", len(l.Detail), MaxDetailLen)
	}
	return nil
}

func checkToken(field, s string, max int, allowed string) error {
	if s == "" || len(s) > max {
		return reserve.Invalid(field, "must be 1 to %d characters", max)
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(allowed, s[i]) < 0 {
			return reserve.Invalid(field, "%q holds a character outside %q", s, allowed)
		}
	}
	return nil
}

// ParseLeaf reads a leaf's canonical encoding. It refuses anything Encode
// would not have written byte for byte (other spacing, field order,
// escapes, unknown fields), so two different lines never decode to the
// same leaf.
func ParseLeaf(b []byte) (Leaf, error) {
	if len(b) > MaxLeafBytes {
		return Leaf{}, reserve.Invalid("leaf", "is %d bytes, more than %d", len(b), MaxLeafBytes)
	}
	// Unknown fields, duplicates and other spellings decode here but
	// fail the byte-for-byte comparison with the re-encoding below.
	var j leafJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Leaf{}, reserve.Invalid("leaf", "is not a Custos audit leaf: %w", err)
	}
	l := Leaf{
		Seq:    j.Seq,
		Actor:  reserve.Actor{Name: j.Actor.Name, Role: j.Actor.Role, Serial: j.Actor.Serial},
		Kind:   j.Kind,
		IDs:    j.IDs,
		Detail: j.Detail,
	}
	t, err := time.Parse(time.RFC3339, j.Time)
	if err != nil {
		return Leaf{}, reserve.Invalid("time", "%q is not RFC 3339: %w", j.Time, err)
	}
	l.Time = t
	p, err := base64.StdEncoding.DecodeString(j.Prev)
	if err != nil || len(p) != tlog.HashSize {
		return Leaf{}, reserve.Invalid("prev", "is not a base64 %d-byte hash", tlog.HashSize)
	}
	copy(l.Prev[:], p)
	again, err := l.Encode()
	if err != nil {
		return Leaf{}, err
	}
	if !bytes.Equal(again, b) {
		return Leaf{}, reserve.Invalid("leaf", "is not in canonical form (spacing, field order, escapes or time zone differ from what the log writes)")
	}
	return l, nil
}

// LeafHash is the RFC 6962 leaf hash of an encoded leaf.
func LeafHash(encoded []byte) tlog.Hash { return tlog.RecordHash(encoded) }

// String gives a leaf's seq and kind for messages.
func (l *Leaf) String() string { return fmt.Sprintf("#%d %s", l.Seq, l.Kind) }
