package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/durable"
	"github.com/custos-reserve/custos/reserve"
)

// LogKeyFile is the file in the data dir holding the log key: the note
// signer key that signs the audit log's checkpoints, then its verifier key,
// one per line. custosd makes it at first start (mode 0600) with a fresh
// origin (audit.NewOrigin) and prints the verifier key at every start.
const LogKeyFile = "audit-log.key"

// Audit kinds of the security events the daemon records. Persisted: never
// rename one.
const (
	// AuditAuthFailed is a call without a valid client certificate.
	AuditAuthFailed = "auth.failed"
	// AuditAuthDenied is a certificate whose role may not call the method
	// (or that carries no role, or is revoked).
	AuditAuthDenied = "auth.denied"
)

// chainActor is the actor of the daemon's own background work: the chain
// follower and the reconcile loop.
var chainActor = reserve.Actor{Name: "custosd", Role: "chain"}

// AuditLog is what the daemon needs from the store's audit log (store.DB
// implements it). Every state change already appends its leaf inside the
// store; these are the reads, the proofs and the events that change no
// state.
type AuditLog interface {
	// AppendEvent records a security event with ctx's actor.
	AppendEvent(ctx context.Context, kind string, ids map[string]string, detail string) error
	// AuditTree returns the log's size and root.
	AuditTree(ctx context.Context) (int64, tlog.Hash, error)
	// AuditRoot returns the root of the first size leaves.
	AuditRoot(ctx context.Context, size int64) (tlog.Hash, error)
	// AuditLeaves returns up to limit encoded leaves from seq from, not
	// past seq to (0: the end).
	AuditLeaves(ctx context.Context, from, to int64, limit int) ([][]byte, error)
	// ProveAuditInclusion and ProveAuditConsistency build proofs; size
	// or new 0 mean the log now.
	ProveAuditInclusion(ctx context.Context, seq, size int64) (audit.InclusionProof, error)
	ProveAuditConsistency(ctx context.Context, old, new int64) (audit.ConsistencyProof, error)
	// AuditChanged is closed at the next commit that appends.
	AuditChanged() <-chan struct{}
	// SignerRefusals returns the encoded AuditSignerRefuse leaves that
	// name proposal id, in order, reading only those.
	SignerRefusals(ctx context.Context, id string) ([][]byte, error)
}

// openAudit finds the audit log in the store and loads (or makes) the log
// key.
func openAudit(cfg Config) (AuditLog, *logKey, error) {
	a := cfg.Audit
	if a == nil {
		var ok bool
		if a, ok = cfg.Store.(AuditLog); !ok {
			return nil, nil, errors.New("daemon needs an audit log: Config.Audit, or a Store that keeps one (daemon.AuditLog)")
		}
	}
	k, err := loadLogKey(cfg.DataDir, cfg.Rand)
	if err != nil {
		return nil, nil, err
	}
	return a, k, nil
}

// logKey is the daemon's log key: it signs checkpoints.
type logKey struct {
	signer note.Signer
	// vkey is the verifier key auditors pass as --log-key.
	vkey string
}

// loadLogKey reads the log key from the data dir, making it at first
// start.
func loadLogKey(dataDir string, rand io.Reader) (*logKey, error) {
	path := filepath.Join(dataDir, LogKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		origin, err := audit.NewOrigin(rand)
		if err != nil {
			return nil, err
		}
		skey, vkey, err := audit.NewLogKey(rand, origin)
		if err != nil {
			return nil, fmt.Errorf("unable to make the log key: %w", err)
		}
		if err := durable.Write(path, []byte(skey+"\n"+vkey+"\n"), 0o600, false); err != nil {
			return nil, fmt.Errorf("unable to write the log key %s: %w", path, err)
		}
		b = []byte(skey + "\n" + vkey + "\n")
	} else if err != nil {
		return nil, fmt.Errorf("unable to read the log key %s: %w", path, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 {
		return nil, fmt.Errorf("log key %s: want the signer key and the verifier key, one per line", path)
	}
	s, err := note.NewSigner(lines[0])
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", path, err)
	}
	v, err := note.NewVerifier(lines[1])
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", path, err)
	}
	// The two lines must be one key: a signature by the first verifies
	// under the second.
	probe := []byte("custos log key check\n")
	sig, err := s.Sign(probe)
	if err != nil || s.Name() != v.Name() || s.KeyHash() != v.KeyHash() || !v.Verify(probe, sig) {
		return nil, fmt.Errorf("log key %s: the verifier key does not match the signer key", path)
	}
	return &logKey{signer: s, vkey: lines[1]}, nil
}

// LogVerifierKey returns the verifier key of the log key ("origin+hash+
// base64"), which custosd prints at start and auditors pass to
// custosctl audit verify --log-key.
func (d *Daemon) LogVerifierKey() string { return d.logKey.vkey }

// checkpoint signs a checkpoint of the first size leaves (0: the log now).
func (d *Daemon) checkpoint(ctx context.Context, size int64) (audit.Checkpoint, []byte, error) {
	var root tlog.Hash
	var err error
	if size == 0 {
		size, root, err = d.audit.AuditTree(ctx)
	} else {
		root, err = d.audit.AuditRoot(ctx, size)
	}
	if err != nil {
		return audit.Checkpoint{}, nil, err
	}
	cp := audit.Checkpoint{Origin: d.logKey.signer.Name(), Size: size, Root: root}
	signed, err := audit.SignCheckpoint(cp, d.logKey.signer)
	if err != nil {
		return audit.Checkpoint{}, nil, err
	}
	return cp, signed, nil
}

// Refusals are recorded at most refusalBurst per refusalWindow: an
// unauthenticated client could otherwise fill the log (and the disk) by
// calling in a loop. Past the limit the daemon only counts them; the first
// refusal recorded in a later window carries the count it suppressed.
const (
	refusalBurst  = 30
	refusalWindow = time.Minute
)

// refusals coalesces the security events of refused calls.
type refusals struct {
	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

// admit says whether to record one more refusal now, and how many were
// suppressed since the last one recorded.
func (r *refusals) admit(now time.Time) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.start) >= refusalWindow || now.Before(r.start) {
		r.start, r.n = now, 0
	}
	if r.n >= refusalBurst {
		r.suppressed++
		return false, 0
	}
	r.n++
	suppressed, r.suppressed = r.suppressed, 0
	return true, suppressed
}

// recordRefusal appends the security event of a call the interceptor
// refused; err is the refusal sent to the caller (a status error). It
// never fails the call: a log it cannot write is logged.
func (d *Daemon) recordRefusal(ctx context.Context, method string, kind string, caller *Caller, err error) {
	ok, suppressed := d.refusals.admit(d.cfg.Now())
	if !ok {
		return
	}
	actor := reserve.Actor{Name: "unauthenticated", Role: "none"}
	if caller != nil {
		actor = caller.actor()
	}
	ids := map[string]string{"method": reserve.Clip(method, audit.MaxIDLen)}
	if p := peerAddr(ctx); p != "" {
		ids["peer"] = reserve.Clip(p, audit.MaxIDLen)
	}
	detail := err.Error()
	if suppressed > 0 {
		detail = fmt.Sprintf("%s (and %d refusals not recorded in the last %s)", detail, suppressed, refusalWindow)
	}
	ctx = reserve.WithActor(context.WithoutCancel(ctx), actor)
	if aerr := d.audit.AppendEvent(ctx, kind, ids, reserve.Clip(detail, audit.MaxDetailLen)); aerr != nil {
		d.log.Warn("unable to record a refused call in the audit log", slog.String("method", method), slog.Any("err", aerr))
	}
}

// refuse records a refused call (authentication failed, permission
// denied) as a security event and returns err unchanged; other errors
// (a store that failed) pass unrecorded.
func (d *Daemon) refuse(ctx context.Context, method string, err error) error {
	var kind string
	switch status.Code(err) {
	case codes.Unauthenticated:
		kind = AuditAuthFailed
	case codes.PermissionDenied:
		kind = AuditAuthDenied
	default:
		return err
	}
	var caller *Caller
	if c, ok := CallerFrom(ctx); ok {
		caller = &c
	} else if c, ok := peerCaller(ctx); ok {
		caller = &c
	}
	d.recordRefusal(ctx, method, kind, caller, err)
	return err
}

// peerCaller reads the identity of a verified client certificate whose
// call was refused, to name it in the log.
func peerCaller(ctx context.Context) (Caller, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Caller{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return Caller{}, false
	}
	c, err := callerOf(info.State.VerifiedChains[0][0])
	if err != nil {
		cert := info.State.VerifiedChains[0][0]
		return Caller{Name: cert.Subject.CommonName, Role: "none", Serial: cert.SerialNumber.Text(16)}, true
	}
	return c, true
}

// actor is how the audit log names the caller.
func (c Caller) actor() reserve.Actor {
	return reserve.Actor{Name: c.Name, Role: string(c.Role), Serial: c.Serial}
}

// peerAddr is the caller's network address, "" when unknown.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
