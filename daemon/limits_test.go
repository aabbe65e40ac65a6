package daemon_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/custos-reserve/custos/daemon"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
)

// MustStartLimitedDaemon starts a regtest daemon on a fresh data dir with
// limits and, when now is not nil, that clock.
func MustStartLimitedDaemon(tb testing.TB, limits daemon.Limits, now func() time.Time) *testDaemon {
	tb.Helper()
	dir := tb.TempDir()
	db := MustStore(tb, dir)
	cfg := daemonConfig(tb, dir, db, reserve.Regtest)
	cfg.Limits = limits
	cfg.Now = now
	return MustRunDaemon(tb, db, cfg)
}

// MustDialNamed connects with a fresh identity of role and name.
func MustDialNamed(tb testing.TB, td *testDaemon, role daemon.Role, name string) *grpc.ClientConn {
	tb.Helper()
	certPEM, keyPEM, err := daemon.IssueClientCert(td.dir, name, role, time.Now())
	require.NoError(tb, err)
	return MustDial(tb, td.addr(), MustReadTLS(tb, td.dir, daemon.CACertFile), certPEM, keyPEM)
}

// sizedRequest encodes prefix followed by field num, a run of 'x' long
// enough that the message is exactly total bytes.
func sizedRequest(tb testing.TB, prefix []byte, num protowire.Number, total int) *[]byte {
	tb.Helper()
	tag := protowire.SizeTag(num)
	n := total - len(prefix) - tag
	for n >= 0 && len(prefix)+tag+protowire.SizeVarint(uint64(n))+n != total {
		n--
	}
	require.GreaterOrEqual(tb, n, 0, "no encoding of %d bytes", total)
	b := protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), prefix...), num, protowire.BytesType), bytes.Repeat([]byte("x"), n))
	require.Len(tb, b, total)
	return &b
}

// TestRequestSizeLimits sends requests under, at and over their method's
// size limit, encoded by hand: at the limit the handler reads the request
// and answers on its merits; one byte over, the limit refuses it and
// names itself.
func TestRequestSizeLimits(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	conn := MustDialAdmin(t, td)
	MustCreateWallet(t, td)

	importMethod := custosv1.SpendService_ImportPSBT_FullMethodName
	importPrefix := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "p1")
	tests := []struct {
		name   string
		method string
		req    func(t *testing.T) *[]byte
		code   codes.Code
		want   []string
	}{
		{
			name: "small request under its limit", method: custosv1.TreasuryService_NewAddress_FullMethodName,
			req:  func(t *testing.T) *[]byte { return sizedRequest(t, nil, 1, 200) },
			code: codes.OK,
		},
		{
			name: "small request at its limit", method: custosv1.TreasuryService_NewAddress_FullMethodName,
			req: func(t *testing.T) *[]byte {
				return sizedRequest(t, nil, 1, daemon.MaxRequestBytesOf(custosv1.TreasuryService_NewAddress_FullMethodName))
			},
			code: codes.InvalidArgument, want: []string{"label"},
		},
		{
			name: "small request over its limit", method: custosv1.TreasuryService_NewAddress_FullMethodName,
			req: func(t *testing.T) *[]byte {
				return sizedRequest(t, nil, 1, daemon.MaxRequestBytesOf(custosv1.TreasuryService_NewAddress_FullMethodName)+1)
			},
			code: codes.ResourceExhausted, want: []string{"request size limit", "NewAddress", "65536"},
		},
		{
			name: "policy at its limit", method: custosv1.PolicyService_SetPolicy_FullMethodName,
			req: func(t *testing.T) *[]byte {
				return sizedRequest(t, nil, 1, daemon.MaxRequestBytesOf(custosv1.PolicyService_SetPolicy_FullMethodName))
			},
			code: codes.InvalidArgument, want: []string{"text", fmt.Sprint(reserve.MaxPolicyBytes)},
		},
		{
			name: "policy over its limit", method: custosv1.PolicyService_SetPolicy_FullMethodName,
			req: func(t *testing.T) *[]byte {
				return sizedRequest(t, nil, 1, daemon.MaxRequestBytesOf(custosv1.PolicyService_SetPolicy_FullMethodName)+1)
			},
			code: codes.ResourceExhausted, want: []string{"request size limit", "SetPolicy"},
		},
		{
			name: "import far over the small limit", method: importMethod,
			req:  func(t *testing.T) *[]byte { return sizedRequest(t, importPrefix, 2, 1<<20) },
			code: codes.NotFound,
		},
		{
			name: "import at its limit", method: importMethod,
			req: func(t *testing.T) *[]byte {
				return sizedRequest(t, importPrefix, 2, daemon.MaxRequestBytesOf(importMethod))
			},
			code: codes.NotFound,
		},
		{
			name: "import over its limit", method: importMethod,
			req: func(t *testing.T) *[]byte {
				return sizedRequest(t, importPrefix, 2, daemon.MaxRequestBytesOf(importMethod)+1)
			},
			code: codes.ResourceExhausted, want: []string{"request size limit", "ImportPSBT"},
		},
		{
			name: "import over what gRPC reads", method: importMethod,
			req:  func(t *testing.T) *[]byte { return sizedRequest(t, importPrefix, 2, daemon.MaxRequestBytes+1) },
			code: codes.ResourceExhausted,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := mustAddressCount(t, conn)
			var reply []byte
			err := conn.Invoke(callCtx(t), tc.method, tc.req(t), &reply, grpc.ForceCodec(rawCodec{}), grpc.MaxCallSendMsgSize(2*daemon.MaxRequestBytes))
			if tc.code == codes.OK {
				require.NoError(t, err)
				return
			}
			requireCode(t, err, tc.code, tc.want...)
			require.Equal(t, before, mustAddressCount(t, conn), "a refused request changed nothing")
		})
	}
}

// mustAddressCount is how many addresses the daemon has issued.
func mustAddressCount(tb testing.TB, conn *grpc.ClientConn) int {
	tb.Helper()
	r, err := custosv1.NewTreasuryServiceClient(conn).ListAddresses(callCtx(tb), &custosv1.ListAddressesRequest{})
	require.NoError(tb, err)
	return len(r.Addresses)
}

// TestStreamRequestSizeLimit checks the size limit on a streaming method:
// the health watch of a service name at the limit is answered, one byte
// over is refused.
func TestStreamRequestSizeLimit(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	conn := MustDialAdmin(t, td)
	limit := daemon.MaxRequestBytesOf(healthpb.Health_Watch_FullMethodName)
	desc := &grpc.StreamDesc{StreamName: "Watch", ServerStreams: true}
	for _, tc := range []struct {
		name  string
		total int
		code  codes.Code
	}{
		{"at the limit", limit, codes.OK},
		{"over the limit", limit + 1, codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := conn.NewStream(callCtx(t), desc, healthpb.Health_Watch_FullMethodName, grpc.ForceCodec(rawCodec{}))
			require.NoError(t, err)
			require.NoError(t, s.SendMsg(sizedRequest(t, nil, 1, tc.total)))
			require.NoError(t, s.CloseSend())
			var reply []byte
			err = s.RecvMsg(&reply)
			if tc.code == codes.OK {
				require.NoError(t, err, "an unknown service is watched, not refused")
				return
			}
			requireCode(t, err, tc.code, "request size limit", "Watch")
		})
	}
}

// TestPayeeBound checks the bound on payees per proposal and per payment
// check: 100 pass it, 101 are refused naming the field and the bound.
func TestPayeeBound(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	MustCreateWallet(t, td)
	conn := MustDialAs(t, td, daemon.RoleOfficer)
	spend, pol := custosv1.NewSpendServiceClient(conn), custosv1.NewPolicyServiceClient(conn)
	payees := func(n int) []*custosv1.Payment {
		out := make([]*custosv1.Payment, n)
		for i := range out {
			out[i] = &custosv1.Payment{Address: listedAddr(t), AmountSat: 10_000}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		n    int
	}{
		{"one payee", 1},
		{"100 payees", 100},
		{"101 payees", 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, perr := spend.ProposeSpend(callCtx(t), &custosv1.ProposeSpendRequest{Payees: payees(tc.n), FeeRateSatVb: 2})
			_, cerr := pol.CheckPayment(callCtx(t), &custosv1.CheckPaymentRequest{Payees: payees(tc.n)})
			for _, err := range []error{perr, cerr} {
				if tc.n <= 100 {
					// Refused further on (no coins, no policy), never for the count.
					require.Error(t, err)
					require.NotContains(t, err.Error(), "payees:")
					continue
				}
				requireCode(t, err, codes.InvalidArgument, "payees:", "100")
			}
		})
	}
	r, err := spend.ListProposals(callCtx(t), &custosv1.ListProposalsRequest{})
	require.NoError(t, err)
	require.Empty(t, r.Proposals)
}

// offsetClock is a clock a test moves forward.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) now() time.Time           { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) advance(by time.Duration) { c.offset.Add(int64(by)) }

// TestRateLimit spends one identity's burst of state-changing calls: at
// the burst they pass, one more is refused naming the limit and changing
// nothing, reads and other identities go on, and time refills the bucket.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	const burst = 3
	every := 1000 * time.Second
	clock := &offsetClock{}
	td := MustStartLimitedDaemon(t, daemon.Limits{Rate: rate.Every(every), Burst: burst}, clock.now)
	MustCreateWallet(t, td)
	first := MustDialNamed(t, td, daemon.RoleOfficer, "officer-one")
	second := MustDialNamed(t, td, daemon.RoleOfficer, "officer-two")
	newAddress := func(conn *grpc.ClientConn) error {
		_, err := custosv1.NewTreasuryServiceClient(conn).NewAddress(callCtx(t), &custosv1.NewAddressRequest{Label: "deposit"})
		return err
	}

	for i := range burst {
		require.NoError(t, newAddress(first), "call %d of the burst", i+1)
	}
	requireCode(t, newAddress(first), codes.ResourceExhausted, "rate limit", "officer-one", "burst 3", "retry in")
	require.Equal(t, burst, mustAddressCount(t, first), "the refused call issued nothing")
	for range 2 * burst {
		mustAddressCount(t, first) // reads are not limited
	}

	// Another identity has its own bucket.
	require.NoError(t, newAddress(second))

	// A token comes back after 1/rate, one only.
	clock.advance(every)
	require.NoError(t, newAddress(first))
	requireCode(t, newAddress(first), codes.ResourceExhausted, "rate limit")
	require.Equal(t, burst+2, mustAddressCount(t, first))
}

// TestRateLimitOff checks that rate.Inf turns the limit off.
func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	td := MustStartLimitedDaemon(t, daemon.Limits{Rate: rate.Inf, Burst: 1}, nil)
	MustCreateWallet(t, td)
	treasury := custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td))
	for i := range 5 {
		_, err := treasury.NewAddress(callCtx(t), &custosv1.NewAddressRequest{})
		require.NoError(t, err, "call %d", i+1)
	}
}

// TestIdleConnectionClosed checks MaxConnectionIdle: a connection with no
// RPC in flight is closed (the client goes IDLE), one with a stream open
// stays up past several idle periods.
func TestIdleConnectionClosed(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	td := MustStartLimitedDaemon(t, daemon.Limits{MaxConnectionIdle: idle}, nil)

	busy := MustDialAdmin(t, td)
	stream, err := healthpb.NewHealthClient(busy).Watch(callCtx(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = stream.Recv()
	require.NoError(t, err)

	quiet := MustDialAdmin(t, td)
	_, err = healthpb.NewHealthClient(quiet).Check(callCtx(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	waitFor(t, 20*idle, "the idle connection to be closed", func() bool { return quiet.GetState() != connectivity.Ready })

	time.Sleep(5 * idle) // the only way to see a connection not closed
	require.Equal(t, connectivity.Ready, busy.GetState(), "a connection with a stream open is not idle")
}

// pingConn is a raw HTTP/2 connection over the daemon's mTLS, to send
// pings faster than any gRPC client would.
type pingConn struct {
	mu     sync.Mutex // writes to fr
	fr     *http2.Framer
	events chan pingEvent
}

// pingEvent is a ping acknowledged or the server's GOAWAY.
type pingEvent struct {
	goAway bool
	code   http2.ErrCode
	debug  string
}

func mustPingConn(tb testing.TB, td *testDaemon) *pingConn {
	tb.Helper()
	cfg, err := daemon.ClientTLS(MustReadTLS(tb, td.dir, daemon.CACertFile),
		MustReadTLS(tb, td.dir, daemon.AdminCertFile), MustReadTLS(tb, td.dir, daemon.AdminKeyFile))
	require.NoError(tb, err)
	cfg.NextProtos = []string{"h2"}
	conn, err := tls.Dial("tcp", td.addr(), cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = conn.Close() })
	_, err = conn.Write([]byte(http2.ClientPreface))
	require.NoError(tb, err)
	pc := &pingConn{fr: http2.NewFramer(conn, conn), events: make(chan pingEvent, 64)}
	pc.write(tb, func(fr *http2.Framer) error { return fr.WriteSettings() })
	go func() {
		defer close(pc.events)
		for {
			f, err := pc.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					pc.mu.Lock()
					_ = pc.fr.WriteSettingsAck()
					pc.mu.Unlock()
				}
			case *http2.PingFrame:
				if f.IsAck() {
					pc.events <- pingEvent{}
				}
			case *http2.GoAwayFrame:
				pc.events <- pingEvent{goAway: true, code: f.ErrCode, debug: string(f.DebugData())}
			}
		}
	}()
	return pc
}

func (pc *pingConn) write(tb testing.TB, w func(*http2.Framer) error) {
	tb.Helper()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	require.NoError(tb, w(pc.fr))
}

// ping sends one ping and returns what the server answers.
func (pc *pingConn) ping(tb testing.TB) pingEvent {
	tb.Helper()
	pc.write(tb, func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{1}) })
	select {
	case ev, ok := <-pc.events:
		require.True(tb, ok, "connection closed without GOAWAY")
		return ev
	case <-time.After(callTimeout):
		tb.Fatal("no answer to a ping")
		return pingEvent{}
	}
}

// TestKeepalivePings checks the keepalive enforcement: pings further apart
// than KeepaliveMinTime are answered, a burst of pings is answered with
// GOAWAY too_many_pings after gRPC's strikes.
func TestKeepalivePings(t *testing.T) {
	t.Parallel()
	const minTime = 200 * time.Millisecond
	td := MustStartLimitedDaemon(t, daemon.Limits{KeepaliveMinTime: minTime}, nil)

	t.Run("pings slower than the minimum", func(t *testing.T) {
		pc := mustPingConn(t, td)
		for i := range 6 {
			require.False(t, pc.ping(t).goAway, "ping %d", i+1)
			time.Sleep(minTime + minTime/2)
		}
	})
	t.Run("pings faster than the minimum", func(t *testing.T) {
		pc := mustPingConn(t, td)
		for i := range 6 {
			ev := pc.ping(t)
			if !ev.goAway {
				continue
			}
			require.Equal(t, http2.ErrCodeEnhanceYourCalm, ev.code)
			require.Equal(t, "too_many_pings", ev.debug)
			require.Greater(t, i, 1, "the first pings are tolerated")
			return
		}
		t.Fatal("six pings in a row were all answered")
	})
}
