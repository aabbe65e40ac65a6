package reserve

import (
	"regexp"
	"time"
)

// IdentityNameRE is what an identity's name may be: it is the client
// certificate's common name, a file name on the CLI side, and for an
// officer the policy's officer ID.
var IdentityNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Identity is one client certificate the daemon's CA issued, as the
// daemon records it. The certificate is the authority for Name, Role and
// Fingerprint; the record only lets them be listed and revoked.
type Identity struct {
	// Serial is the certificate's serial number, lower-case hex without
	// leading zeros (big.Int.Text(16)).
	Serial string
	Name   string
	// Role is the role the certificate carries ("admin", "officer", …).
	Role string
	// Fingerprint is the cosigner fingerprint a signer identity is bound
	// to (HasFingerprint false for every other role).
	Fingerprint    uint32
	HasFingerprint bool
	IssuedAt       time.Time
	ExpiresAt      time.Time
	// Offline is true for a certificate issued with `custosd issue-cert`
	// (or made at first start) and recorded when first seen.
	Offline  bool
	LastSeen time.Time
	// RevokedAt is zero for an identity in force.
	RevokedAt     time.Time
	RevokedReason string
	// LoginKey is the Ed25519 public key an auditor logs in to the browser
	// console with (an officer logs in with the approval key the policy
	// names); HasLoginKey false when there is none.
	LoginKey    [32]byte
	HasLoginKey bool
}

// Revoked reports whether the identity's certificate was revoked.
func (i *Identity) Revoked() bool { return !i.RevokedAt.IsZero() }

// Active reports whether the identity holds its name at now: neither
// revoked nor expired. A name is unique among active identities, so an
// officer can be given a new certificate once the old one is revoked or
// has expired.
func (i *Identity) Active(now time.Time) bool {
	return !i.Revoked() && now.Before(i.ExpiresAt)
}
