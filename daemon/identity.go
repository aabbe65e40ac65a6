package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// IdentityStore is the part of Store that records identities.
type IdentityStore interface {
	// AddIdentity records a certificate's identity; Conflict for a serial
	// already recorded or a name held by an identity active at now.
	AddIdentity(ctx context.Context, id reserve.Identity, now time.Time) error
	// Identities lists every identity, revoked ones included.
	Identities(ctx context.Context) ([]reserve.Identity, error)
	// RevokeIdentity revokes by serial, or by the name of an active
	// identity; NotFound, or FailedPrecondition when already revoked.
	RevokeIdentity(ctx context.Context, nameOrSerial, reason string, now time.Time) (reserve.Identity, error)
	// TouchIdentities records when serials were last seen.
	TouchIdentities(ctx context.Context, seen map[string]time.Time) error
}

// lastSeenEvery is how often at most an identity's last-seen time is
// written: calls in between only update memory.
const lastSeenEvery = time.Minute

// identities admits callers by their certificate's serial: it refuses a
// revoked one, records one it has not seen (a certificate issued
// offline), keeps when each was last seen, and cancels the open streams
// of a certificate when it is revoked. Its map mirrors the store's
// identities bucket, which only this type changes while the daemon runs.
type identities struct {
	store IdentityStore
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	known   map[string]*identityState
	streams map[string]map[*int]context.CancelFunc
}

type identityState struct {
	revoked bool
	name    string
	at      time.Time // when revoked
	reason  string
	seen    time.Time // last call
	written time.Time // last seen as written to the store
}

func newIdentities(ctx context.Context, st IdentityStore, now func() time.Time, log *slog.Logger) (*identities, error) {
	all, err := st.Identities(ctx)
	if err != nil {
		return nil, fmt.Errorf("unable to read identities: %w", err)
	}
	ids := &identities{store: st, now: now, log: log, known: map[string]*identityState{}, streams: map[string]map[*int]context.CancelFunc{}}
	for i := range all {
		ids.remember(&all[i])
	}
	return ids, nil
}

func (ids *identities) remember(id *reserve.Identity) {
	ids.known[id.Serial] = &identityState{
		revoked: id.Revoked(), name: id.Name, at: id.RevokedAt, reason: id.RevokedReason,
		seen: id.LastSeen, written: id.LastSeen,
	}
}

// admit refuses the caller in ctx if its certificate was revoked,
// records a certificate not seen before, and notes the call's time.
func (ids *identities) admit(ctx context.Context) error {
	c, ok := CallerFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "no identity")
	}
	now := ids.now().UTC()
	ids.mu.Lock()
	st := ids.known[c.Serial]
	ids.mu.Unlock()
	if st == nil && c.Console {
		// A console session names an identity found at login; one this
		// daemon no longer knows is not recorded anew.
		return status.Errorf(codes.PermissionDenied, "identity %s (certificate %s) is not known to this daemon", c.Name, c.Serial)
	}
	if st == nil {
		var err error
		if st, err = ids.firstSeen(ctx, c, now); err != nil {
			return err
		}
	}
	ids.mu.Lock()
	if st.revoked {
		ids.mu.Unlock()
		return status.Errorf(codes.PermissionDenied, "identity %s (certificate %s) was revoked at %s: %s",
			c.Name, c.Serial, st.at.Format(time.RFC3339), st.reason)
	}
	st.seen = now
	flush := now.Sub(st.written) >= lastSeenEvery
	if flush {
		st.written = now
	}
	ids.mu.Unlock()
	if flush {
		// Once a minute per identity at most; a failure costs only the
		// last-seen time, not the call.
		if err := ids.store.TouchIdentities(ctx, map[string]time.Time{c.Serial: now}); err != nil {
			ids.log.Warn("unable to record identity last seen", "name", c.Name, "serial", c.Serial, "err", err)
		}
	}
	return nil
}

// firstSeen records a certificate issued offline the first time it is
// used, so it can be listed and revoked. One whose name is held by
// another active identity is refused: names are unique.
func (ids *identities) firstSeen(ctx context.Context, c Caller, now time.Time) (*identityState, error) {
	id := reserve.Identity{
		Serial: c.Serial, Name: c.Name, Role: string(c.Role), Fingerprint: c.Fingerprint, HasFingerprint: c.HasFingerprint,
		IssuedAt: c.IssuedAt.UTC(), ExpiresAt: c.ExpiresAt.UTC(), Offline: true,
	}
	err := ids.store.AddIdentity(ctx, id, now)
	if err != nil {
		// A concurrent first call of the same certificate recorded it.
		all, lerr := ids.store.Identities(ctx)
		if lerr != nil {
			return nil, status.Error(codes.Internal, "internal error; see the daemon log")
		}
		ids.mu.Lock()
		defer ids.mu.Unlock()
		for i := range all {
			if all[i].Serial == c.Serial {
				if ids.known[c.Serial] == nil {
					ids.remember(&all[i])
				}
				return ids.known[c.Serial], nil
			}
		}
		if reserve.CodeOf(err) == reserve.CodeConflict {
			return nil, status.Errorf(codes.PermissionDenied, "certificate %s of %s is not recorded and cannot be: %v", c.Serial, c.Name, err)
		}
		ids.log.Error("unable to record identity", "name", c.Name, "serial", c.Serial, "err", err)
		return nil, status.Error(codes.Internal, "internal error; see the daemon log")
	}
	ids.log.Info("identity seen for the first time", "name", c.Name, "role", string(c.Role), "serial", c.Serial)
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if ids.known[c.Serial] == nil {
		ids.remember(&id)
	}
	return ids.known[c.Serial], nil
}

// add remembers an identity just issued over the API.
func (ids *identities) add(id *reserve.Identity) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	ids.remember(id)
}

// revoked marks a serial revoked and cancels its open streams.
func (ids *identities) revoked(id *reserve.Identity) {
	ids.mu.Lock()
	defer ids.mu.Unlock()
	ids.remember(id)
	for _, cancel := range ids.streams[id.Serial] {
		cancel()
	}
	delete(ids.streams, id.Serial)
}

// watch returns a context cancelled when the caller's certificate is
// revoked; done must be called when the stream ends.
func (ids *identities) watch(ctx context.Context) (context.Context, func()) {
	c, _ := CallerFrom(ctx)
	ctx, cancel := context.WithCancel(ctx)
	key := new(int)
	ids.mu.Lock()
	if ids.streams[c.Serial] == nil {
		ids.streams[c.Serial] = map[*int]context.CancelFunc{}
	}
	ids.streams[c.Serial][key] = cancel
	ids.mu.Unlock()
	return ctx, func() {
		ids.mu.Lock()
		delete(ids.streams[c.Serial], key)
		if len(ids.streams[c.Serial]) == 0 {
			delete(ids.streams, c.Serial)
		}
		ids.mu.Unlock()
		cancel()
	}
}

// issueIdentity signs a certificate for spec with the unlocked CA and
// records it; nothing is recorded when the name is taken.
func (d *Daemon) issueIdentity(ctx context.Context, spec CertSpec) (reserve.Identity, []byte, []byte, error) {
	if err := spec.check(); err != nil {
		return reserve.Identity{}, nil, nil, err
	}
	if d.ca == nil || d.ca.key == nil {
		return reserve.Identity{}, nil, nil, errCAOffline()
	}
	now := d.cfg.Now()
	if spec.HasLoginKey {
		if err := d.checkLoginKeyFree(ctx, spec.LoginKey, now); err != nil {
			return reserve.Identity{}, nil, nil, err
		}
	}
	certPEM, keyPEM, cert, err := d.ca.issueClient(d.cfg.Rand, now, spec)
	if err != nil {
		return reserve.Identity{}, nil, nil, err
	}
	id := reserve.Identity{
		Serial: cert.SerialNumber.Text(16), Name: spec.Name, Role: string(spec.Role),
		Fingerprint: spec.Fingerprint, HasFingerprint: spec.HasFingerprint,
		IssuedAt: now.UTC(), ExpiresAt: cert.NotAfter.UTC(),
		LoginKey: spec.LoginKey, HasLoginKey: spec.HasLoginKey,
	}
	if err := d.cfg.Store.AddIdentity(ctx, id, now); err != nil {
		clear(keyPEM)
		return reserve.Identity{}, nil, nil, err
	}
	d.ids.add(&id)
	d.log.Info("identity issued", "name", id.Name, "role", id.Role, "serial", id.Serial)
	return id, certPEM, keyPEM, nil
}

// revokeIdentity revokes by name or serial; the next call of that
// certificate is refused and its open streams end now.
func (d *Daemon) revokeIdentity(ctx context.Context, nameOrSerial, reason string) (reserve.Identity, error) {
	if nameOrSerial == "" {
		return reserve.Identity{}, reserve.Invalid("name_or_serial", "is empty")
	}
	if err := checkText("reason", reason, maxReasonText); err != nil {
		return reserve.Identity{}, err
	}
	id, err := d.cfg.Store.RevokeIdentity(ctx, nameOrSerial, reason, d.cfg.Now())
	if err != nil {
		return reserve.Identity{}, err
	}
	d.ids.revoked(&id)
	d.log.Warn("identity revoked", "name", id.Name, "role", id.Role, "serial", id.Serial)
	return id, nil
}

// checkOfficer refuses an officer's signed action when the certificate
// that carries it is not that officer's: a stolen certificate or a stolen
// approval key alone is not enough. Only an officer identity is held to
// it, whatever its role (methodRoles lets only officers sign).
func checkOfficer(caller Caller, officerID string) error {
	if caller.Name != officerID {
		return reserve.Errorf(reserve.CodeDenied,
			"identity %s may not sign for officer %s: an officer's certificate name must be the officer whose key signs", caller.Name, officerID)
	}
	return nil
}

// checkSignerAdds refuses an import by a signer identity that adds a
// signature of any cosigner but the one its certificate binds it to (and
// any signature from a signer certificate that binds none). Other roles
// carry PSBTs from air-gapped signers and are not held to one cosigner.
func checkSignerAdds(caller Caller, added []multisig.SigRef, desc *multisig.Descriptor) error {
	if caller.Role != RoleSigner || len(added) == 0 {
		return nil
	}
	if !caller.HasFingerprint {
		return reserve.Errorf(reserve.CodeDenied,
			"signer identity %s is bound to no cosigner and may not submit signatures: issue it again with --fingerprint", caller.Name)
	}
	cosigners := desc.Cosigners()
	for _, ref := range added {
		if fp := cosigners[ref.Cosigner].Fingerprint; fp != caller.Fingerprint {
			return reserve.Errorf(reserve.CodeDenied,
				"signer identity %s (cosigner %08x) may not submit a signature of cosigner %08x (input[%d]); nothing was stored",
				caller.Name, caller.Fingerprint, fp, ref.Input)
		}
	}
	return nil
}
