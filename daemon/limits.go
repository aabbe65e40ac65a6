package daemon

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// Defaults of Limits. They are documented in custosd --help.
const (
	// DefaultRate is how many state-changing calls per second one
	// identity may make over time: far above what an officer types or a
	// signer agent needs, far below what a stolen certificate in a loop
	// would make.
	DefaultRate rate.Limit = 10
	// DefaultBurst is how many state-changing calls one identity may make
	// at once before DefaultRate applies.
	DefaultBurst = 50
	// DefaultKeepaliveMinTime is the shortest interval between a client's
	// pings that the daemon tolerates; a client pinging more often is
	// disconnected (GOAWAY "too_many_pings") after gRPC's three strikes.
	DefaultKeepaliveMinTime = 30 * time.Second
	// DefaultMaxConnectionIdle is how long a connection without any RPC in
	// flight stays open; clients reconnect when they next call.
	DefaultMaxConnectionIdle = 5 * time.Minute
)

// Request size limits, in bytes of the encoded request message.
const (
	// smallRequestBytes bounds every request that carries no document: the
	// largest legitimate one, CreateWallet with 20 key records of at most
	// 512 bytes, or ProposeSpend with 100 payees, is a fraction of it.
	smallRequestBytes = 64 << 10
	// policyRequestBytes bounds SetPolicy: a policy document of
	// reserve.MaxPolicyBytes and its field's tag and length.
	policyRequestBytes = reserve.MaxPolicyBytes + 1<<10
	// importRequestBytes bounds ImportPSBT, the one large request: a PSBT
	// of multisig.MaxPSBTBytes, a proposal id and the tags and lengths.
	importRequestBytes = multisig.MaxPSBTBytes + 1<<10
	// proofRequestBytes bounds RequestProof: the message and up to
	// maxProofOutpoints outpoints of "txid:vout" (at most 75 bytes with
	// their tags and lengths).
	proofRequestBytes = multisig.MaxProofMessageBytes + maxProofOutpoints*76 + 1<<10
)

// Limits bounds what one client may ask of the daemon. The zero value is
// the defaults above.
type Limits struct {
	// Rate is the state-changing calls per second allowed to one identity
	// (certificate role and name) on average; 0 is DefaultRate and
	// rate.Inf turns the limit off.
	Rate rate.Limit
	// Burst is how many state-changing calls one identity may make at once;
	// 0 is DefaultBurst.
	Burst int
	// KeepaliveMinTime is the shortest ping interval tolerated; 0 is
	// DefaultKeepaliveMinTime.
	KeepaliveMinTime time.Duration
	// MaxConnectionIdle closes connections idle that long; 0 is
	// DefaultMaxConnectionIdle.
	MaxConnectionIdle time.Duration
}

func (l *Limits) fill() {
	if l.Rate == 0 {
		l.Rate = DefaultRate
	}
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	if l.KeepaliveMinTime <= 0 {
		l.KeepaliveMinTime = DefaultKeepaliveMinTime
	}
	if l.MaxConnectionIdle <= 0 {
		l.MaxConnectionIdle = DefaultMaxConnectionIdle
	}
}

// methodLimit is what one RPC may carry and whether it counts against the
// caller's rate limit.
type methodLimit struct {
	// maxRequest bounds the encoded request message, in bytes.
	maxRequest int
	// changes says the RPC changes state (or, like an export, is an
	// audited event): it spends a token of the caller's rate limit.
	changes bool
}

var (
	reads   = methodLimit{maxRequest: smallRequestBytes}
	changes = methodLimit{maxRequest: smallRequestBytes, changes: true}
)

// methodLimits is the one table of request limits. Like methodRoles it
// names every method served; a method missing from it is refused.
var methodLimits = map[string]methodLimit{
	custosv1.AdminService_CreateWallet_FullMethodName: changes,
	// A backup is an audited event; its response is a stream of chunks
	// of backupChunkBytes (rpc_admin.go), far under MaxRequestBytes.
	custosv1.AdminService_Backup_FullMethodName:     changes,
	custosv1.AdminService_AckRestore_FullMethodName: changes,

	custosv1.TreasuryService_GetStatus_FullMethodName:         reads,
	custosv1.TreasuryService_GetWallet_FullMethodName:         reads,
	custosv1.TreasuryService_NewAddress_FullMethodName:        changes,
	custosv1.TreasuryService_ListAddresses_FullMethodName:     reads,
	custosv1.TreasuryService_GetBalance_FullMethodName:        reads,
	custosv1.TreasuryService_ListUtxos_FullMethodName:         reads,
	custosv1.TreasuryService_GetBalanceHistory_FullMethodName: reads,

	custosv1.SpendService_ProposeSpend_FullMethodName:   changes,
	custosv1.SpendService_ListProposals_FullMethodName:  reads,
	custosv1.SpendService_GetProposal_FullMethodName:    reads,
	custosv1.SpendService_ExportPSBT_FullMethodName:     changes,
	custosv1.SpendService_ImportPSBT_FullMethodName:     {maxRequest: importRequestBytes, changes: true},
	custosv1.SpendService_CancelProposal_FullMethodName: changes,
	custosv1.SpendService_DecideProposal_FullMethodName: changes,
	custosv1.SpendService_BumpFee_FullMethodName:        changes,

	// Opening the stream spends a token (every request it sends is an
	// export, an audited event); an agent reconnects with backoff.
	custosv1.SignerService_SigningRequests_FullMethodName: changes,
	custosv1.SignerService_RefuseRequest_FullMethodName:   changes,

	custosv1.ProofService_RequestProof_FullMethodName:  {maxRequest: proofRequestBytes, changes: true},
	custosv1.ProofService_GetProof_FullMethodName:      reads,
	custosv1.ProofService_ListProofs_FullMethodName:    reads,
	custosv1.ProofService_ApproveProof_FullMethodName:  changes,
	custosv1.ProofService_ExportProof_FullMethodName:   changes,
	custosv1.ProofService_ImportProof_FullMethodName:   {maxRequest: importRequestBytes, changes: true},
	custosv1.ProofService_FinalizeProof_FullMethodName: changes,

	custosv1.PolicyService_GetPolicy_FullMethodName:     reads,
	custosv1.PolicyService_SetPolicy_FullMethodName:     {maxRequest: policyRequestBytes, changes: true},
	custosv1.PolicyService_ApprovePolicy_FullMethodName: changes,
	custosv1.PolicyService_CheckPayment_FullMethodName:  reads,
	custosv1.PolicyService_Freeze_FullMethodName:        changes,
	custosv1.PolicyService_Unfreeze_FullMethodName:      changes,

	custosv1.IdentityService_IssueIdentity_FullMethodName:  changes,
	custosv1.IdentityService_ListIdentities_FullMethodName: reads,
	custosv1.IdentityService_RevokeIdentity_FullMethodName: changes,

	custosv1.AuditService_GetCheckpoint_FullMethodName:    reads,
	custosv1.AuditService_ListAudit_FullMethodName:        reads,
	custosv1.AuditService_TailAudit_FullMethodName:        reads,
	custosv1.AuditService_ExportAudit_FullMethodName:      reads,
	custosv1.AuditService_ProveInclusion_FullMethodName:   reads,
	custosv1.AuditService_ProveConsistency_FullMethodName: reads,

	healthpb.Health_Check_FullMethodName:                                   reads,
	healthpb.Health_Watch_FullMethodName:                                   reads,
	reflectionpb.ServerReflection_ServerReflectionInfo_FullMethodName:      reads,
	reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: reads,
}

// MaxRequestBytesOf is the largest encoded request the daemon reads for
// method (a full method name, "/custos.v1.SpendService/ImportPSBT"), or 0
// for a method it does not serve. gRPC itself refuses anything above
// MaxRequestBytes before the method's own limit is checked.
func MaxRequestBytesOf(method string) int { return methodLimits[method].maxRequest }

// limiter enforces Limits: one token bucket per identity for the
// state-changing RPCs, request sizes per method, keepalive policy.
type limiter struct {
	limits Limits
	now    func() time.Time

	mu sync.Mutex
	// buckets maps "role/name" to that identity's token bucket. It grows
	// by one per identity that ever changed something: identities are
	// issued by the daemon's CA, so they are few.
	buckets map[string]*rate.Limiter
}

func newLimiter(l Limits, now func() time.Time) *limiter {
	l.fill()
	return &limiter{limits: l, now: now, buckets: make(map[string]*rate.Limiter)}
}

// serverOptions are the gRPC server options that enforce the limits:
// keepalive and the interceptors, which run after authentication.
func (l *limiter) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: l.limits.KeepaliveMinTime,
			// An idle connection is closed after MaxConnectionIdle anyway;
			// a ping on it at the tolerated rate costs nothing.
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: l.limits.MaxConnectionIdle,
			// Ping a silent client after a minute, drop it 20 s later: a
			// vanished peer does not hold a stream open for hours.
			Time:    time.Minute,
			Timeout: 20 * time.Second,
		}),
		// Every request may be decoded whole before its method's size
		// limit is checked (grpc-go has no per-method receive limit):
		// bound how many one connection has in flight.
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.ChainUnaryInterceptor(l.unary),
		grpc.ChainStreamInterceptor(l.stream),
	}
}

// MaxConcurrentStreams is how many calls one client connection may have
// open at once; more wait for one to end. With MaxRequestBytes each, it
// bounds what one connection makes the daemon hold.
const MaxConcurrentStreams = 16

// check refuses a request over its method's size limit and a
// state-changing call over the caller's rate, before the handler runs:
// a refused call changes nothing.
func (l *limiter) check(ctx context.Context, method string, req any) error {
	lim, ok := methodLimits[method]
	if !ok {
		return status.Errorf(codes.PermissionDenied, "%s has no request limits; refused", method)
	}
	if err := checkSize(method, lim, req); err != nil {
		return err
	}
	if !lim.changes || l.limits.Rate == rate.Inf {
		return nil
	}
	caller, ok := CallerFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "no authenticated identity to rate-limit")
	}
	r := l.bucket(caller).ReserveN(l.now(), 1)
	if delay := r.DelayFrom(l.now()); delay > 0 {
		r.CancelAt(l.now())
		return status.Errorf(codes.ResourceExhausted,
			"rate limit: %s %q may make %g state-changing calls per second (burst %d); retry in %s",
			caller.Role, caller.Name, float64(l.limits.Rate), l.limits.Burst, delay.Round(time.Millisecond))
	}
	return nil
}

// checkSize refuses a decoded request whose encoding is larger than its
// method allows. gRPC has already bounded the message by MaxRequestBytes
// while reading it; this keeps the other methods to small messages.
func checkSize(method string, lim methodLimit, req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	if n := proto.Size(m); n > lim.maxRequest {
		return status.Errorf(codes.ResourceExhausted,
			"request size limit: %s takes at most %d bytes, got %d", method, lim.maxRequest, n)
	}
	return nil
}

func (l *limiter) bucket(c Caller) *rate.Limiter {
	key := string(c.Role) + "/" + c.Name
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(l.limits.Rate, l.limits.Burst)
		l.buckets[key] = b
	}
	return b
}

func (l *limiter) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := l.check(ctx, info.FullMethod, req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// stream checks the rate when a stream opens and the size of every
// message the client sends on it.
func (l *limiter) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := l.check(ss.Context(), info.FullMethod, nil); err != nil {
		return err
	}
	return handler(srv, &limitedStream{ServerStream: ss, method: info.FullMethod, lim: methodLimits[info.FullMethod]})
}

type limitedStream struct {
	grpc.ServerStream
	method string
	lim    methodLimit
}

func (s *limitedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return checkSize(s.method, s.lim, m)
}
