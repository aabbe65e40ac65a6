package daemon_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// callTimeout bounds every RPC a test makes, so a hung daemon fails the
// test instead of the whole run. It is generous: the machine running the
// tests may be busy, and the race detector slows curve arithmetic tenfold.
const callTimeout = 60 * time.Second

// testDaemon is a daemon running in this process on loopback, with a real
// bbolt store and its real mTLS, following a node that is not there.
type testDaemon struct {
	dir  string
	db   *store.DB
	d    *daemon.Daemon
	stop func()
}

// addr is where the daemon listens.
func (td *testDaemon) addr() string { return td.d.Addr().String() }

// MustDeadNodeHost returns a loopback host:port nobody listens on: the
// port was just free and is closed again.
func MustDeadNodeHost(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := l.Addr().String()
	require.NoError(tb, l.Close())
	return addr
}

// MustStore opens the bbolt store of dir and closes it when the test ends.
func MustStore(tb testing.TB, dir string) *store.DB {
	tb.Helper()
	db, err := store.Open(filepath.Join(dir, "custos.db"), store.Options{Timeout: 200 * time.Millisecond})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, db.Close()) })
	return db
}

// daemonConfig is the configuration every test daemon runs with.
func daemonConfig(tb testing.TB, dir string, db *store.DB, net reserve.Network) daemon.Config {
	tb.Helper()
	return daemon.Config{
		DataDir:      dir,
		Network:      net,
		RPCListen:    "127.0.0.1:0",
		Node:         chain.NodeConfig{Kind: chain.KindBtcd, Host: MustDeadNodeHost(tb)},
		Store:        db,
		PollInterval: 50 * time.Millisecond,
		CAKey:        daemon.CAKey{AllowPlain: true},
	}
}

// MustStartDaemon starts a regtest daemon on a fresh data dir.
func MustStartDaemon(tb testing.TB) *testDaemon {
	tb.Helper()
	dir := tb.TempDir()
	return MustStartDaemonOn(tb, dir, MustStore(tb, dir))
}

// MustStartDaemonOn starts a regtest daemon on dir with db and runs it
// until the test ends or stop is called; stop waits for Run to return.
func MustStartDaemonOn(tb testing.TB, dir string, db *store.DB) *testDaemon {
	tb.Helper()
	return MustRunDaemon(tb, db, daemonConfig(tb, dir, db, reserve.Regtest))
}

// MustRunDaemon starts a daemon of cfg, whose Store is db or wraps it,
// and runs it until the test ends or stop is called; stop waits for Run
// to return.
func MustRunDaemon(tb testing.TB, db *store.DB, cfg daemon.Config) *testDaemon {
	tb.Helper()
	d, err := daemon.New(cfg)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			require.NoError(tb, <-done)
			require.NoError(tb, d.Close())
		})
	}
	tb.Cleanup(stop)
	return &testDaemon{dir: cfg.DataDir, db: db, d: d, stop: stop}
}

// MustReadTLS reads a file of the daemon's TLS dir.
func MustReadTLS(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(daemon.TLSDir(dir), name))
	require.NoError(tb, err)
	return b
}

// MustDial connects to addr trusting caPEM and presenting certPEM/keyPEM,
// and closes the connection when the test ends.
func MustDial(tb testing.TB, addr string, caPEM, certPEM, keyPEM []byte) *grpc.ClientConn {
	tb.Helper()
	cfg, err := daemon.ClientTLS(caPEM, certPEM, keyPEM)
	require.NoError(tb, err)
	return MustDialTLS(tb, addr, cfg)
}

// MustDialTLS connects to addr with a hand-made TLS configuration.
func MustDialTLS(tb testing.TB, addr string, cfg *tls.Config) *grpc.ClientConn {
	tb.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// MustDialAdmin connects with the admin identity the daemon made in its
// data dir, as custosctl --datadir does.
func MustDialAdmin(tb testing.TB, td *testDaemon) *grpc.ClientConn {
	tb.Helper()
	return MustDial(tb, td.addr(), MustReadTLS(tb, td.dir, daemon.CACertFile),
		MustReadTLS(tb, td.dir, daemon.AdminCertFile), MustReadTLS(tb, td.dir, daemon.AdminKeyFile))
}

// MustDialAs connects with a fresh identity of role signed by the daemon's
// CA (the admin's own certificate for RoleAdmin).
func MustDialAs(tb testing.TB, td *testDaemon, role daemon.Role) *grpc.ClientConn {
	tb.Helper()
	if role == daemon.RoleAdmin {
		return MustDialAdmin(tb, td)
	}
	return MustDialIdentity(tb, td, "test-"+string(role), role)
}

// MustDialIdentity connects as the identity name of role, issued once per
// data dir and kept beside its TLS files: the daemon records a
// certificate when first seen, and names are unique, so a second
// certificate of the same name would be refused.
func MustDialIdentity(tb testing.TB, td *testDaemon, name string, role daemon.Role) *grpc.ClientConn {
	tb.Helper()
	certPath := filepath.Join(daemon.TLSDir(td.dir), "test-id-"+name+".pem")
	keyPath := filepath.Join(daemon.TLSDir(td.dir), "test-id-"+name+".key")
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		var keyPEM []byte
		certPEM, keyPEM, err = daemon.IssueClientCert(td.dir, name, role, time.Now())
		require.NoError(tb, err)
		require.NoError(tb, os.WriteFile(keyPath, keyPEM, 0o600))
		require.NoError(tb, os.WriteFile(certPath, certPEM, 0o600))
	}
	keyPEM, err := os.ReadFile(keyPath)
	require.NoError(tb, err)
	return MustDial(tb, td.addr(), MustReadTLS(tb, td.dir, daemon.CACertFile), certPEM, keyPEM)
}

func callCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	tb.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requireCode checks that err is a gRPC status with code want and, when
// given, a message containing every one of substrings.
func requireCode(tb testing.TB, err error, want codes.Code, substrings ...string) {
	tb.Helper()
	require.Error(tb, err)
	st, ok := status.FromError(err)
	require.True(tb, ok, "not a gRPC status: %v", err)
	require.Equal(tb, want, st.Code(), "message: %s", st.Message())
	for _, s := range substrings {
		require.Contains(tb, st.Message(), s)
	}
}

// seed is a fixed 32-byte BIP-32 seed.
func seed(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// MustCosigner is the regtest BIP-48 account 0 key of seed(b).
func MustCosigner(tb testing.TB, b byte) reserve.Cosigner {
	tb.Helper()
	return MustCosignerOn(tb, b, reserve.Regtest)
}

// cosigners memoizes MustCosignerOn: deriving an account from a seed
// costs a tenth of a second under the race detector, and the tests need
// the same few keys again and again.
var cosigners struct {
	sync.Mutex
	m map[[2]byte]reserve.Cosigner
}

// MustCosignerOn is the BIP-48 account 0 key of seed(b) on net.
func MustCosignerOn(tb testing.TB, b byte, net reserve.Network) reserve.Cosigner {
	tb.Helper()
	cosigners.Lock()
	defer cosigners.Unlock()
	key := [2]byte{b, byte(net)}
	if c, ok := cosigners.m[key]; ok {
		return c
	}
	c, xprv, err := multisig.DeriveAccount(seed(b), net, 0)
	require.NoError(tb, err)
	xprv.Zero()
	if cosigners.m == nil {
		cosigners.m = make(map[[2]byte]reserve.Cosigner)
	}
	cosigners.m[key] = c
	return c
}

// MustRecords are the key records of seeds bs, in that order.
func MustRecords(tb testing.TB, bs ...byte) []string {
	tb.Helper()
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = multisig.FormatKeyRecord(MustCosigner(tb, b))
	}
	return out
}

// MustPrivateRecord is the key record of seed(b) with its account's
// private key (tprv) where the public one belongs.
func MustPrivateRecord(tb testing.TB, b byte) string {
	tb.Helper()
	c, xprv, err := multisig.DeriveAccount(seed(b), reserve.Regtest, 0)
	require.NoError(tb, err)
	defer xprv.Zero()
	c.XPub = xprv.String()
	require.True(tb, strings.HasPrefix(c.XPub, "tprv"), c.XPub)
	return multisig.FormatKeyRecord(c)
}

// reserveRequest is a valid 2-of-3 request with keys of seeds 3, 1, 2:
// deliberately not in sorted order, so order preservation shows.
func reserveRequest(tb testing.TB) *custosv1.CreateWalletRequest {
	tb.Helper()
	return &custosv1.CreateWalletRequest{Name: "national reserve", Threshold: 2, Cosigners: MustRecords(tb, 3, 1, 2)}
}

// MustCreateWallet makes the 2-of-3 reserve wallet as admin.
func MustCreateWallet(tb testing.TB, td *testDaemon) *custosv1.Wallet {
	tb.Helper()
	r, err := custosv1.NewAdminServiceClient(MustDialAdmin(tb, td)).CreateWallet(callCtx(tb), reserveRequest(tb))
	require.NoError(tb, err)
	return r.Wallet
}

// requireNoWallet checks that the daemon still has no wallet.
func requireNoWallet(tb testing.TB, conn *grpc.ClientConn) {
	tb.Helper()
	_, err := custosv1.NewTreasuryServiceClient(conn).GetWallet(callCtx(tb), &custosv1.GetWalletRequest{})
	requireCode(tb, err, codes.FailedPrecondition, "no reserve wallet")
}

var (
	walletIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)
	checksumPattern = regexp.MustCompile(`^(.+)#([0-9a-z]{8})$`)
)

// requireChecksummed checks that desc ends with its correct BIP-380
// checksum and returns the body.
func requireChecksummed(tb testing.TB, desc string) string {
	tb.Helper()
	m := checksumPattern.FindStringSubmatch(desc)
	require.NotNil(tb, m, "descriptor without checksum: %s", desc)
	sum, err := multisig.DescriptorChecksum(m[1])
	require.NoError(tb, err)
	require.Equal(tb, sum, m[2], "checksum of %s", desc)
	return m[1]
}

func TestCreateWallet(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	conn := MustDialAdmin(t, td)
	admin, treasury := custosv1.NewAdminServiceClient(conn), custosv1.NewTreasuryServiceClient(conn)
	req := reserveRequest(t)
	before := time.Now().Add(-time.Second)

	r, err := admin.CreateWallet(callCtx(t), req)
	require.NoError(t, err)
	w := r.Wallet
	require.Regexp(t, walletIDPattern, w.Id)
	require.Equal(t, "national reserve", w.Name)
	require.Equal(t, custosv1.Network_NETWORK_REGTEST, w.Network)
	require.Equal(t, uint32(2), w.Threshold)
	require.Equal(t, uint32(reserve.DefaultGapLimit), w.GapLimit)
	require.Equal(t, int32(0), w.BirthdayHeight, "without a node and without --birthday the wallet scans from 0")
	require.WithinRange(t, time.Unix(w.CreatedAtUnix, 0), before, time.Now().Add(time.Second))

	// The cosigners come back in the order given, each with its parts.
	require.Len(t, w.Cosigners, 3)
	for i, b := range []byte{3, 1, 2} {
		want := MustCosigner(t, b)
		got := w.Cosigners[i]
		require.Equal(t, fmt.Sprintf("%08x", want.Fingerprint), got.Fingerprint, "cosigner %d", i)
		require.Equal(t, "48'/1'/0'/2'", got.Path, "cosigner %d", i)
		require.Equal(t, want.XPub, got.Xpub, "cosigner %d", i)
		require.Equal(t, req.Cosigners[i], got.KeyRecord, "cosigner %d", i)
	}

	// The multipath descriptor names every key once with <0;1>, in the
	// given order; the branch descriptors are the same with /0/* and /1/*.
	multi := requireChecksummed(t, w.MultipathDescriptor)
	require.Equal(t, "wsh(sortedmulti(2,"+strings.Join(req.Cosigners, "/<0;1>/*,")+"/<0;1>/*))", multi)
	receive := requireChecksummed(t, w.ReceiveDescriptor)
	require.Equal(t, strings.ReplaceAll(multi, "/<0;1>/*", "/0/*"), receive)
	require.Equal(t, 3, strings.Count(receive, "/0/*"))
	change := requireChecksummed(t, w.ChangeDescriptor)
	require.Equal(t, strings.ReplaceAll(multi, "/<0;1>/*", "/1/*"), change)
	require.Equal(t, 3, strings.Count(change, "/1/*"))

	got, err := treasury.GetWallet(callCtx(t), &custosv1.GetWalletRequest{})
	require.NoError(t, err)
	require.True(t, proto.Equal(w, got.Wallet), "GetWallet:\n%v\nCreateWallet:\n%v", got.Wallet, w)

	// One reserve per daemon: the same request again, or another wallet,
	// is a conflict and leaves the first alone.
	for _, again := range []*custosv1.CreateWalletRequest{
		req,
		{Name: "another", Threshold: 1, Cosigners: MustRecords(t, 4)},
	} {
		_, err = admin.CreateWallet(callCtx(t), again)
		requireCode(t, err, codes.AlreadyExists)
	}
	got, err = treasury.GetWallet(callCtx(t), &custosv1.GetWalletRequest{})
	require.NoError(t, err)
	require.True(t, proto.Equal(w, got.Wallet))
}

// TestCreateWalletLimits creates a wallet at each input limit, one daemon
// per case: the positive side of TestCreateWalletRefused.
func TestCreateWalletLimits(t *testing.T) {
	t.Parallel()
	birthday := int32(500)
	zero := int32(0)
	twenty := make([]byte, reserve.MaxCosigners)
	for i := range twenty {
		twenty[i] = byte(i + 1)
	}
	tests := []struct {
		name  string
		req   func(t *testing.T) *custosv1.CreateWalletRequest
		check func(t *testing.T, w *custosv1.Wallet)
	}{
		{
			name: "name of 64 multi-byte characters, 1 of 1",
			req: func(t *testing.T) *custosv1.CreateWalletRequest {
				return &custosv1.CreateWalletRequest{Name: strings.Repeat("é", 64), Threshold: 1, Cosigners: MustRecords(t, 1)}
			},
			check: func(t *testing.T, w *custosv1.Wallet) {
				require.Equal(t, strings.Repeat("é", 64), w.Name)
				require.Equal(t, uint32(1), w.Threshold)
			},
		},
		{
			name: "20 of 20",
			req: func(t *testing.T) *custosv1.CreateWalletRequest {
				return &custosv1.CreateWalletRequest{Name: "r", Threshold: 20, Cosigners: MustRecords(t, twenty...), GapLimit: 1}
			},
			check: func(t *testing.T, w *custosv1.Wallet) {
				require.Len(t, w.Cosigners, 20)
				require.Equal(t, uint32(20), w.Threshold)
				require.Equal(t, uint32(1), w.GapLimit)
			},
		},
		{
			name: "gap limit 1000",
			req: func(t *testing.T) *custosv1.CreateWalletRequest {
				return &custosv1.CreateWalletRequest{Name: "r", Threshold: 1, Cosigners: MustRecords(t, 1), GapLimit: 1000}
			},
			check: func(t *testing.T, w *custosv1.Wallet) { require.Equal(t, uint32(1000), w.GapLimit) },
		},
		{
			name: "birthday given",
			req: func(t *testing.T) *custosv1.CreateWalletRequest {
				return &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: MustRecords(t, 1, 2), BirthdayHeight: &birthday}
			},
			check: func(t *testing.T, w *custosv1.Wallet) { require.Equal(t, int32(500), w.BirthdayHeight) },
		},
		{
			name: "birthday 0",
			req: func(t *testing.T) *custosv1.CreateWalletRequest {
				return &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: MustRecords(t, 1, 2), BirthdayHeight: &zero}
			},
			check: func(t *testing.T, w *custosv1.Wallet) { require.Equal(t, int32(0), w.BirthdayHeight) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			td := MustStartDaemon(t)
			r, err := custosv1.NewAdminServiceClient(MustDialAdmin(t, td)).CreateWallet(callCtx(t), tc.req(t))
			require.NoError(t, err)
			tc.check(t, r.Wallet)
		})
	}
}

func TestCreateWalletRefused(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	conn := MustDialAdmin(t, td)
	admin := custosv1.NewAdminServiceClient(conn)

	recs := MustRecords(t, 1, 2, 3)
	k1, k2, k3 := recs[0], recs[1], recs[2]
	c1 := MustCosigner(t, 1)
	sameKeyOtherOrigin := fmt.Sprintf("[%08x/48'/1'/0'/2']%s", c1.Fingerprint^0xffffffff, c1.XPub)
	mainnet := multisig.FormatKeyRecord(MustCosignerOn(t, 1, reserve.Mainnet))
	require.True(t, strings.Contains(mainnet, "]xpub"), mainnet)
	private := MustPrivateRecord(t, 1)
	var many []string
	for b := byte(1); b <= reserve.MaxCosigners+1; b++ {
		many = append(many, MustRecords(t, b)...)
	}
	negative := int32(-1)

	tests := []struct {
		name string
		req  *custosv1.CreateWalletRequest
		want []string // substrings of the message; the first names the field
	}{
		{"empty name", &custosv1.CreateWalletRequest{Name: "", Threshold: 2, Cosigners: []string{k1, k2, k3}}, []string{"name:"}},
		{"name of 65 characters", &custosv1.CreateWalletRequest{Name: strings.Repeat("n", 65), Threshold: 2, Cosigners: []string{k1, k2, k3}}, []string{"name:", "64"}},
		{"name with a control character", &custosv1.CreateWalletRequest{Name: "reserve\x07", Threshold: 2, Cosigners: []string{k1, k2, k3}}, []string{"name:", "printable"}},
		{"name with a newline", &custosv1.CreateWalletRequest{Name: "reserve\nfake log line", Threshold: 2, Cosigners: []string{k1, k2, k3}}, []string{"name:", "printable"}},
		{"threshold 0", &custosv1.CreateWalletRequest{Name: "r", Threshold: 0, Cosigners: []string{k1, k2, k3}}, []string{"threshold:"}},
		{"threshold above n", &custosv1.CreateWalletRequest{Name: "r", Threshold: 4, Cosigners: []string{k1, k2, k3}}, []string{"threshold:", "1..3"}},
		{"no cosigners", &custosv1.CreateWalletRequest{Name: "r", Threshold: 1}, []string{"cosigners:"}},
		{"21 cosigners", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: many}, []string{"cosigners:", "21"}},
		{"same record twice", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: []string{k1, k2, k1}}, []string{"cosigner[2]:", "same key"}},
		{"same xpub under another origin", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: []string{k1, k2, sameKeyOtherOrigin}}, []string{"cosigner[2]:", "same key"}},
		{"mainnet xpub", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: []string{k1, mainnet, k3}}, []string{"cosigner[1]:", "mainnet"}},
		{"record without origin", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: []string{k1, k2, c1.XPub}}, []string{"cosigner[2]:", "origin"}},
		{"bad fingerprint", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: []string{"[zzzzzzzz/48'/1'/0'/2']" + c1.XPub, k2, k3}}, []string{"cosigner[0]:", "fingerprint"}},
		{"garbage base58", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: []string{k1, "[01020304/48'/1'/0'/2']tpub111111111", k3}}, []string{"cosigner[1]:", "extended key"}},
		{"private key", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: []string{k1, k2, private}}, []string{"cosigner[2]:", "private key"}},
		{"record of 600 bytes", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: []string{k1, k2, k3 + strings.Repeat("1", 600-len(k3))}}, []string{"cosigner[2]:", "512"}},
		{"gap limit 1001", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: []string{k1, k2, k3}, GapLimit: 1001}, []string{"gap_limit:", "1000"}},
		{"negative birthday", &custosv1.CreateWalletRequest{Name: "r", Threshold: 2, Cosigners: []string{k1, k2, k3}, BirthdayHeight: &negative}, []string{"birthday_height:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admin.CreateWallet(callCtx(t), tc.req)
			requireCode(t, err, codes.InvalidArgument, tc.want...)
			// A private key never comes back in an error, whole or in part.
			xprv := private[strings.IndexByte(private, ']')+1:]
			require.NotContains(t, status.Convert(err).Message(), xprv[16:40])
			requireNoWallet(t, conn)
		})
	}

	// The same keys make a wallet once the request is right.
	_, err := admin.CreateWallet(callCtx(t), &custosv1.CreateWalletRequest{Name: "r", Threshold: 3, Cosigners: []string{k1, k2, k3}})
	require.NoError(t, err)
}

func TestNewAddress(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	treasury := custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td))
	ctx := callCtx(t)

	_, err := treasury.NewAddress(ctx, &custosv1.NewAddressRequest{Label: "too early"})
	requireCode(t, err, codes.FailedPrecondition, "wallet create")
	_, err = treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{})
	requireCode(t, err, codes.FailedPrecondition)

	MustCreateWallet(t, td)
	labels := []string{"customs", "", "impôts 2026", strings.Repeat("x", 256)}
	var issued []*custosv1.Address
	for i, label := range labels {
		r, err := treasury.NewAddress(ctx, &custosv1.NewAddressRequest{Label: label})
		require.NoError(t, err, "label %q", label)
		a := r.Address
		require.Equal(t, uint32(i), a.Index)
		require.Equal(t, custosv1.Branch_BRANCH_RECEIVE, a.Branch)
		require.Equal(t, label, a.Label)
		require.True(t, a.Issued)
		require.True(t, strings.HasPrefix(a.Address, "bcrt1q"), a.Address)
		for _, prev := range issued {
			require.NotEqual(t, prev.Address, a.Address)
		}
		issued = append(issued, a)
	}

	// Refused labels issue nothing.
	_, err = treasury.NewAddress(ctx, &custosv1.NewAddressRequest{Label: strings.Repeat("x", 257)})
	requireCode(t, err, codes.InvalidArgument, "label")
	_, err = treasury.NewAddress(ctx, &custosv1.NewAddressRequest{Label: strings.Repeat("é", 129)})
	requireCode(t, err, codes.InvalidArgument, "label")
	// Unprintable labels too, as memos: they are shown next to addresses.
	for _, label := range []string{"clear \x1b[2J", "rlo \u202e", "two\nlines", "tab\there", "bell\a"} {
		_, err = treasury.NewAddress(ctx, &custosv1.NewAddressRequest{Label: label})
		requireCode(t, err, codes.InvalidArgument, "label: character")
	}

	list := func(branch custosv1.Branch, lookahead bool) []*custosv1.Address {
		t.Helper()
		r, err := treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{Branch: branch, IncludeLookahead: lookahead})
		require.NoError(t, err)
		return r.Addresses
	}
	for _, branch := range []custosv1.Branch{custosv1.Branch_BRANCH_UNSPECIFIED, custosv1.Branch_BRANCH_RECEIVE} {
		got := list(branch, false)
		require.Len(t, got, len(issued), "branch %s", branch)
		for i, a := range got {
			require.True(t, proto.Equal(issued[i], a), "address %d: %v, issued %v", i, a, issued[i])
			require.Zero(t, a.ReceivedSat)
			require.Zero(t, a.ReceivedCount)
		}
	}
	// Without a node the lookahead is not extended past the first gap
	// (TestNewAddressKeepsGapWithoutNode); what is listed is in order.
	withLookahead := list(custosv1.Branch_BRANCH_RECEIVE, true)
	require.GreaterOrEqual(t, len(withLookahead), reserve.DefaultGapLimit)
	for i, a := range withLookahead {
		require.Equal(t, uint32(i), a.Index)
		require.Equal(t, i < len(issued), a.Issued, "address %d", i)
	}
	require.Empty(t, list(custosv1.Branch_BRANCH_CHANGE, false))
	change := list(custosv1.Branch_BRANCH_CHANGE, true)
	require.Len(t, change, reserve.DefaultGapLimit)
	for i, a := range change {
		require.Equal(t, custosv1.Branch_BRANCH_CHANGE, a.Branch)
		require.Equal(t, uint32(i), a.Index)
		require.False(t, a.Issued)
		require.NotEqual(t, withLookahead[i].Address, a.Address)
	}

	_, err = treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{Branch: custosv1.Branch(7)})
	requireCode(t, err, codes.InvalidArgument, "branch")
}

// TestNewAddressKeepsGapWithoutNode issues addresses while the node is
// down: each issue must keep the gap limit of watched addresses past the
// last issued one, and issuing past the first gap must keep working.
func TestNewAddressKeepsGapWithoutNode(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	treasury := custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td))
	ctx := callCtx(t)
	MustCreateWallet(t, td)

	// Issue one more address than the wallet was created watching.
	for i := range reserve.DefaultGapLimit + 1 {
		a, err := treasury.NewAddress(ctx, &custosv1.NewAddressRequest{Label: fmt.Sprint("deposit ", i)})
		require.NoError(t, err, "address %d", i)
		require.Equal(t, uint32(i), a.Address.Index)
	}
	r, err := treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{IncludeLookahead: true})
	require.NoError(t, err)
	require.Equal(t, 2*reserve.DefaultGapLimit+1, len(r.Addresses),
		"the gap limit of lookahead past the last issued address")
}

// rawCodec sends and receives messages already encoded, so a test can put
// on the wire what the generated client refuses to marshal.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

var _ encoding.Codec = rawCodec{}

// TestNewAddressInvalidUTF8 sends a label that is not UTF-8. The Go
// client refuses to marshal it, so the bytes go on the wire by hand.
func TestNewAddressInvalidUTF8(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	conn := MustDialAdmin(t, td)
	treasury := custosv1.NewTreasuryServiceClient(conn)
	MustCreateWallet(t, td)

	// The generated client will not even send it.
	_, err := treasury.NewAddress(callCtx(t), &custosv1.NewAddressRequest{Label: "bad \xff label"})
	require.Error(t, err)

	valid := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "fine")
	invalid := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "bad \xff label")
	var reply []byte
	err = conn.Invoke(callCtx(t), custosv1.TreasuryService_NewAddress_FullMethodName, &valid, &reply, grpc.ForceCodec(rawCodec{}))
	require.NoError(t, err, "the hand-encoded request is well formed")

	// gRPC's proto decoder refuses a proto3 string that is not UTF-8
	// before any handler or interceptor runs, and it reports that as
	// Internal: the daemon's own label check (InvalidArgument) is never
	// reached over the wire. Only a change of the field to bytes in
	// treasury.proto would let the daemon answer InvalidArgument.
	err = conn.Invoke(callCtx(t), custosv1.TreasuryService_NewAddress_FullMethodName, &invalid, &reply, grpc.ForceCodec(rawCodec{}))
	requireCode(t, err, codes.Internal, "invalid UTF-8")

	r, err := treasury.ListAddresses(callCtx(t), &custosv1.ListAddressesRequest{})
	require.NoError(t, err)
	require.Len(t, r.Addresses, 1, "only the valid request issued an address")
}

func TestBalanceAndUtxos(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	treasury := custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td))
	ctx := callCtx(t)

	_, err := treasury.GetBalance(ctx, &custosv1.GetBalanceRequest{})
	requireCode(t, err, codes.FailedPrecondition, "no reserve wallet")
	_, err = treasury.ListUtxos(ctx, &custosv1.ListUtxosRequest{})
	requireCode(t, err, codes.FailedPrecondition, "no reserve wallet")

	MustCreateWallet(t, td)
	b, err := treasury.GetBalance(ctx, &custosv1.GetBalanceRequest{})
	require.NoError(t, err)
	require.True(t, proto.Equal(&custosv1.GetBalanceResponse{SyncedHeight: -1}, b), "balance %v", b)
	u, err := treasury.ListUtxos(ctx, &custosv1.ListUtxosRequest{})
	require.NoError(t, err)
	require.Empty(t, u.Utxos)
	require.Equal(t, int32(-1), u.SyncedHeight)
}

func TestGetStatus(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	treasury := custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td))
	ctx := callCtx(t)

	var st *custosv1.GetStatusResponse
	waitFor(t, 10*time.Second, "the first failed poll of the node", func() bool {
		var err error
		st, err = treasury.GetStatus(ctx, &custosv1.GetStatusRequest{})
		require.NoError(t, err)
		return st.NodeError != ""
	})
	require.Equal(t, custosv1.Network_NETWORK_REGTEST, st.Network)
	require.Equal(t, "btcd", st.NodeKind)
	require.False(t, st.NodeReachable)
	require.Contains(t, st.NodeError, "not reachable")
	require.False(t, st.Synced)
	require.Equal(t, int32(-1), st.SyncedHeight)
	require.Empty(t, st.SyncedHash)
	require.Empty(t, st.NodeBestHash)
	require.Zero(t, st.LastPollUnix, "no poll ever succeeded")
	require.False(t, st.WalletExists)

	MustCreateWallet(t, td)
	st, err := treasury.GetStatus(ctx, &custosv1.GetStatusRequest{})
	require.NoError(t, err)
	require.True(t, st.WalletExists)
	require.False(t, st.NodeReachable)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	health := healthpb.NewHealthClient(MustDialAs(t, td, daemon.RoleSigner))

	r, err := health.Check(callCtx(t), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, r.Status)

	_, err = health.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: "no.such.Service"})
	requireCode(t, err, codes.NotFound)
}

// rpcCall is one RPC made with valid arguments.
type rpcCall struct {
	name string
	call func(ctx context.Context, conn *grpc.ClientConn) error
	// okCode is what an allowed caller gets once the wallet exists.
	okCode codes.Code
}

var everyRPC = []rpcCall{
	{"CreateWallet", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewAdminServiceClient(conn).CreateWallet(ctx, &custosv1.CreateWalletRequest{Name: "again", Threshold: 1, Cosigners: []string{"[00000000]x"}})
		return err
	}, codes.InvalidArgument},
	{"GetStatus", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewTreasuryServiceClient(conn).GetStatus(ctx, &custosv1.GetStatusRequest{})
		return err
	}, codes.OK},
	{"GetWallet", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewTreasuryServiceClient(conn).GetWallet(ctx, &custosv1.GetWalletRequest{})
		return err
	}, codes.OK},
	{"NewAddress", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewTreasuryServiceClient(conn).NewAddress(ctx, &custosv1.NewAddressRequest{})
		return err
	}, codes.OK},
	{"ListAddresses", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewTreasuryServiceClient(conn).ListAddresses(ctx, &custosv1.ListAddressesRequest{})
		return err
	}, codes.OK},
	{"GetBalance", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewTreasuryServiceClient(conn).GetBalance(ctx, &custosv1.GetBalanceRequest{})
		return err
	}, codes.OK},
	{"ListUtxos", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewTreasuryServiceClient(conn).ListUtxos(ctx, &custosv1.ListUtxosRequest{})
		return err
	}, codes.OK},
	{"Health.Check", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}, codes.OK},
	// Without a policy an allowed proposal is refused, and without a node
	// the wallet holds nothing: proposal ids are unknown.
	{"ProposeSpend", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewSpendServiceClient(conn).ProposeSpend(ctx, &custosv1.ProposeSpendRequest{
			Payees: []*custosv1.Payment{{Address: "bcrt1qpu3a4qrgmeav4zwjkxulszu73yuh336ese0tuu", AmountSat: 100_000}}, FeeRateSatVb: 2,
		})
		return err
	}, codes.FailedPrecondition},
	{"ListProposals", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewSpendServiceClient(conn).ListProposals(ctx, &custosv1.ListProposalsRequest{})
		return err
	}, codes.OK},
	{"GetProposal", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewSpendServiceClient(conn).GetProposal(ctx, &custosv1.GetProposalRequest{Id: "P000001"})
		return err
	}, codes.NotFound},
	{"ExportPSBT", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewSpendServiceClient(conn).ExportPSBT(ctx, &custosv1.ExportPSBTRequest{Id: "P000001"})
		return err
	}, codes.NotFound},
	{"ImportPSBT", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewSpendServiceClient(conn).ImportPSBT(ctx, &custosv1.ImportPSBTRequest{Id: "P000001", Psbt: []byte("psbt")})
		return err
	}, codes.NotFound},
	{"CancelProposal", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewSpendServiceClient(conn).CancelProposal(ctx, &custosv1.CancelProposalRequest{Id: "P000001"})
		return err
	}, codes.NotFound},
	// A well-formed decision is refused for want of a policy.
	{"DecideProposal", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewSpendServiceClient(conn).DecideProposal(ctx, &custosv1.DecideProposalRequest{
			Id: "P000001", Decision: custosv1.Decision_DECISION_APPROVE, Signature: wellFormedSignature(),
		})
		return err
	}, codes.FailedPrecondition},
	{"BumpFee", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewSpendServiceClient(conn).BumpFee(ctx, &custosv1.BumpFeeRequest{Id: "P000001", FeeRateSatVb: 5})
		return err
	}, codes.NotFound},
	{"GetPolicy", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewPolicyServiceClient(conn).GetPolicy(ctx, &custosv1.GetPolicyRequest{})
		return err
	}, codes.OK},
	// A document that does not parse, so no caller sets a policy here.
	{"SetPolicy", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewPolicyServiceClient(conn).SetPolicy(ctx, &custosv1.SetPolicyRequest{Text: []byte("version: 2\n")})
		return err
	}, codes.InvalidArgument},
	// The governance RPCs below need a policy, which TestRoles never sets.
	{"ApprovePolicy", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewPolicyServiceClient(conn).ApprovePolicy(ctx, &custosv1.ApprovePolicyRequest{
			NewHash: bytes.Repeat([]byte{1}, 32), Signature: wellFormedSignature(),
		})
		return err
	}, codes.FailedPrecondition},
	{"CheckPayment", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewPolicyServiceClient(conn).CheckPayment(ctx, &custosv1.CheckPaymentRequest{
			Payees: []*custosv1.Payment{{Address: "bcrt1qpu3a4qrgmeav4zwjkxulszu73yuh336ese0tuu", AmountSat: 100_000}},
		})
		return err
	}, codes.FailedPrecondition},
	{"Freeze", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewPolicyServiceClient(conn).Freeze(ctx, &custosv1.FreezeRequest{Epoch: 1, Signature: wellFormedSignature()})
		return err
	}, codes.FailedPrecondition},
	{"Unfreeze", func(ctx context.Context, conn *grpc.ClientConn) error {
		_, err := custosv1.NewPolicyServiceClient(conn).Unfreeze(ctx, &custosv1.UnfreezeRequest{Epoch: 1, Signature: wellFormedSignature()})
		return err
	}, codes.FailedPrecondition},
}

// wellFormedSignature has the lengths of an officer's key and signature
// and verifies under no policy.
func wellFormedSignature() *custosv1.OfficerSignature {
	return &custosv1.OfficerSignature{OfficerKey: bytes.Repeat([]byte{2}, 32), Signature: bytes.Repeat([]byte{3}, 64)}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	MustCreateWallet(t, td)

	// The table of daemon/auth.go, written out again on purpose.
	allowed := map[daemon.Role][]string{
		daemon.RoleAdmin: {"CreateWallet", "GetStatus", "GetWallet", "NewAddress", "ListAddresses", "GetBalance", "ListUtxos", "Health.Check",
			"ProposeSpend", "ListProposals", "GetProposal", "ExportPSBT", "ImportPSBT", "CancelProposal", "BumpFee",
			"GetPolicy", "SetPolicy", "CheckPayment"},
		daemon.RoleOfficer: {"GetStatus", "GetWallet", "NewAddress", "ListAddresses", "GetBalance", "ListUtxos", "Health.Check",
			"ProposeSpend", "ListProposals", "GetProposal", "ExportPSBT", "ImportPSBT", "CancelProposal", "DecideProposal", "BumpFee",
			"GetPolicy", "ApprovePolicy", "CheckPayment", "Freeze", "Unfreeze"},
		daemon.RoleAuditor: {"GetStatus", "GetWallet", "ListAddresses", "GetBalance", "ListUtxos", "Health.Check",
			"ListProposals", "GetProposal", "GetPolicy", "CheckPayment"},
		daemon.RoleSigner: {"GetStatus", "GetWallet", "Health.Check", "ListProposals", "GetProposal", "ExportPSBT", "ImportPSBT",
			"GetPolicy"},
	}
	for _, role := range []daemon.Role{daemon.RoleAdmin, daemon.RoleOfficer, daemon.RoleAuditor, daemon.RoleSigner} {
		conn := MustDialAs(t, td, role)
		for _, rpc := range everyRPC {
			t.Run(string(role)+"/"+rpc.name, func(t *testing.T) {
				err := rpc.call(callCtx(t), conn)
				if !contains(allowed[role], rpc.name) {
					requireCode(t, err, codes.PermissionDenied, "role "+string(role))
					return
				}
				require.Equal(t, rpc.okCode, status.Code(err), "err: %v", err)
			})
		}
	}

	// Only the admin's and the officer's NewAddress issued anything, and
	// no call set a policy or froze the reserve.
	r, err := custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td)).ListAddresses(callCtx(t), &custosv1.ListAddressesRequest{})
	require.NoError(t, err)
	require.Len(t, r.Addresses, 2)
	g, err := custosv1.NewPolicyServiceClient(MustDialAdmin(t, td)).GetPolicy(callCtx(t), &custosv1.GetPolicyRequest{})
	require.NoError(t, err)
	require.Nil(t, g.Policy)
	require.Nil(t, g.Pending)
	require.False(t, g.Freeze.Frozen)
	require.Zero(t, g.Freeze.Epoch)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestRefusedCallChangesNothing(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	admin := MustDialAdmin(t, td)

	_, err := custosv1.NewAdminServiceClient(MustDialAs(t, td, daemon.RoleOfficer)).CreateWallet(callCtx(t), reserveRequest(t))
	requireCode(t, err, codes.PermissionDenied, "role officer")
	requireNoWallet(t, admin)

	MustCreateWallet(t, td)
	for _, role := range []daemon.Role{daemon.RoleAuditor, daemon.RoleSigner} {
		_, err := custosv1.NewTreasuryServiceClient(MustDialAs(t, td, role)).NewAddress(callCtx(t), &custosv1.NewAddressRequest{Label: "sneaky"})
		requireCode(t, err, codes.PermissionDenied, "role "+string(role))
	}
	r, err := custosv1.NewTreasuryServiceClient(admin).ListAddresses(callCtx(t), &custosv1.ListAddressesRequest{})
	require.NoError(t, err)
	require.Empty(t, r.Addresses)
}

// TestIdentityRefused covers the callers that never reach a role check,
// or fail it for lack of a role.
func TestIdentityRefused(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	caPEM := MustReadTLS(t, td.dir, daemon.CACertFile)

	// Another daemon's data dir, with its own CA and admin.
	otherDir := t.TempDir()
	other, err := daemon.New(daemonConfig(t, otherDir, MustStore(t, otherDir), reserve.Regtest))
	require.NoError(t, err)
	require.NoError(t, other.Close())
	otherCA := MustReadTLS(t, otherDir, daemon.CACertFile)
	otherCert, otherKey := MustReadTLS(t, otherDir, daemon.AdminCertFile), MustReadTLS(t, otherDir, daemon.AdminKeyFile)
	require.NotEqual(t, caPEM, otherCA)

	noRoleCert, noRoleKey, err := daemon.IssueClientCert(td.dir, "nobody", "", time.Now())
	require.NoError(t, err)
	badRoleCert, badRoleKey, err := daemon.IssueClientCert(td.dir, "janitor", daemon.Role("janitor"), time.Now())
	require.NoError(t, err)

	expiredCert, expiredKey, err := daemon.IssueClientCert(td.dir, "retired", daemon.RoleAdmin, time.Now().AddDate(-3, 0, 0))
	require.NoError(t, err)
	futureCert, futureKey, err := daemon.IssueClientCert(td.dir, "early", daemon.RoleAdmin, time.Now().Add(48*time.Hour))
	require.NoError(t, err)

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	noCert := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS13}

	tests := []struct {
		name string
		conn func(t *testing.T) *grpc.ClientConn
		code codes.Code
		msg  string
	}{
		{"admin of another CA", func(t *testing.T) *grpc.ClientConn {
			return MustDial(t, td.addr(), caPEM, otherCert, otherKey)
		}, codes.Unavailable, ""},
		{"client trusting another CA", func(t *testing.T) *grpc.ClientConn {
			return MustDial(t, td.addr(), otherCA, otherCert, otherKey)
		}, codes.Unavailable, ""},
		{"no client certificate", func(t *testing.T) *grpc.ClientConn {
			return MustDialTLS(t, td.addr(), noCert)
		}, codes.Unavailable, ""},
		{"the server's own certificate", func(t *testing.T) *grpc.ClientConn {
			return MustDial(t, td.addr(), caPEM, MustReadTLS(t, td.dir, "server.pem"), MustReadTLS(t, td.dir, "server.key"))
		}, codes.Unavailable, ""},
		{"expired admin certificate", func(t *testing.T) *grpc.ClientConn {
			return MustDial(t, td.addr(), caPEM, expiredCert, expiredKey)
		}, codes.Unavailable, ""},
		{"admin certificate not valid yet", func(t *testing.T) *grpc.ClientConn {
			return MustDial(t, td.addr(), caPEM, futureCert, futureKey)
		}, codes.Unavailable, ""},
		{"certificate without a role", func(t *testing.T) *grpc.ClientConn {
			return MustDial(t, td.addr(), caPEM, noRoleCert, noRoleKey)
		}, codes.PermissionDenied, "no role"},
		{"certificate with an unknown role", func(t *testing.T) *grpc.ClientConn {
			return MustDial(t, td.addr(), caPEM, badRoleCert, badRoleKey)
		}, codes.PermissionDenied, "janitor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn := tc.conn(t)
			for _, rpc := range everyRPC {
				err := rpc.call(callCtx(t), conn)
				if tc.msg == "" {
					requireCode(t, err, tc.code)
				} else {
					requireCode(t, err, tc.code, tc.msg)
				}
			}
		})
	}

	// Nothing those callers tried took effect, and the daemon's own
	// admin still gets in.
	requireNoWallet(t, MustDialAdmin(t, td))
}

// TestConcurrentCreateWallet races admins creating different wallets:
// exactly one wins and the others see the conflict.
func TestConcurrentCreateWallet(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	admin := custosv1.NewAdminServiceClient(MustDialAdmin(t, td))
	records := MustRecords(t, 1, 2, 3, 4)

	ctx := callCtx(t)
	wallets := make([]*custosv1.Wallet, len(records))
	errs := make([]error, len(records))
	var wg sync.WaitGroup
	for i, rec := range records {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := admin.CreateWallet(ctx, &custosv1.CreateWalletRequest{Name: fmt.Sprint("reserve ", i), Threshold: 1, Cosigners: []string{rec}})
			errs[i] = err
			if err == nil {
				wallets[i] = r.Wallet
			}
		}()
	}
	wg.Wait()

	var winner *custosv1.Wallet
	for i, err := range errs {
		if err == nil {
			require.Nil(t, winner, "two wallets created")
			winner = wallets[i]
			continue
		}
		requireCode(t, err, codes.AlreadyExists)
	}
	require.NotNil(t, winner)
	r, err := custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td)).GetWallet(ctx, &custosv1.GetWalletRequest{})
	require.NoError(t, err)
	require.True(t, proto.Equal(winner, r.Wallet))
}

// TestConcurrentNewAddress issues addresses from many callers at once:
// each gets its own index and none is handed out twice.
func TestConcurrentNewAddress(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	MustCreateWallet(t, td)
	treasury := custosv1.NewTreasuryServiceClient(MustDialAs(t, td, daemon.RoleOfficer))

	const n = 10
	ctx := callCtx(t)
	got := make([]*custosv1.Address, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := treasury.NewAddress(ctx, &custosv1.NewAddressRequest{Label: fmt.Sprint("caller ", i)})
			errs[i] = err
			if err == nil {
				got[i] = r.Address
			}
		}()
	}
	wg.Wait()

	byIndex := make(map[uint32]*custosv1.Address)
	for i, err := range errs {
		require.NoError(t, err, "caller %d", i)
		require.NotContains(t, byIndex, got[i].Index, "index handed out twice")
		byIndex[got[i].Index] = got[i]
	}
	r, err := treasury.ListAddresses(ctx, &custosv1.ListAddressesRequest{})
	require.NoError(t, err)
	require.Len(t, r.Addresses, n)
	for i, a := range r.Addresses {
		require.Equal(t, uint32(i), a.Index)
		require.True(t, proto.Equal(byIndex[a.Index], a), "listed %v, issued %v", a, byIndex[a.Index])
	}
}

// TestOversizedRequest sends CreateWallet requests around the daemon's
// request size limit. They are encoded by hand: one long name, which the
// daemon refuses on its merits when it gets to read it, so that the test
// does not spend its time in the encoder.
func TestOversizedRequest(t *testing.T) {
	t.Parallel()
	td := MustStartDaemon(t)
	conn := MustDialAdmin(t, td)
	rec := MustRecords(t, 1)[0]

	request := func(total int) *[]byte {
		b := protowire.AppendTag(nil, 2, protowire.VarintType) // threshold
		b = protowire.AppendVarint(b, 1)
		b = protowire.AppendString(protowire.AppendTag(b, 3, protowire.BytesType), rec)
		// The name fills the rest: its tag, its length and itself.
		n := total - len(b) - 1
		n -= protowire.SizeVarint(uint64(n))
		if len(b)+1+protowire.SizeVarint(uint64(n))+n < total {
			n++ // the length got one byte shorter
		}
		b = protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), bytes.Repeat([]byte("n"), n))
		return &b
	}
	var reply []byte
	invoke := func(req *[]byte) error {
		return conn.Invoke(callCtx(t), custosv1.AdminService_CreateWallet_FullMethodName, req, &reply, grpc.ForceCodec(rawCodec{}))
	}

	// At CreateWallet's limit the daemon reads the request and refuses it
	// on its merits; one byte over, the limits refuse it unhandled.
	limit := daemon.MaxRequestBytesOf(custosv1.AdminService_CreateWallet_FullMethodName)
	atLimit := request(limit)
	require.Equal(t, limit, len(*atLimit))
	requireCode(t, invoke(atLimit), codes.InvalidArgument, "name:")
	overLimit := request(limit + 1)
	require.Equal(t, limit+1, len(*overLimit))
	requireCode(t, invoke(overLimit), codes.ResourceExhausted, "request size limit")
	requireNoWallet(t, conn)
}

func TestRestartKeepsWalletAndCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "custos.db")
	db, err := store.Open(path, store.Options{Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	td := MustStartDaemonOn(t, dir, db)
	w := MustCreateWallet(t, td)
	caPEM := MustReadTLS(t, dir, daemon.CACertFile)
	adminCert, adminKey := MustReadTLS(t, dir, daemon.AdminCertFile), MustReadTLS(t, dir, daemon.AdminKeyFile)
	auditorCert, auditorKey, err := daemon.IssueClientCert(dir, "auditor", daemon.RoleAuditor, time.Now())
	require.NoError(t, err)

	td.stop()
	_, err = os.Stat(filepath.Join(dir, daemon.AddrFile))
	require.ErrorIs(t, err, os.ErrNotExist, "a stopped daemon removes its address file")
	require.NoError(t, db.Close())

	// Same data dir, store opened again: same wallet, same CA, and the
	// identities issued before the restart still work.
	td2 := MustStartDaemonOn(t, dir, MustStore(t, dir))
	require.Equal(t, caPEM, MustReadTLS(t, dir, daemon.CACertFile))
	require.Equal(t, adminCert, MustReadTLS(t, dir, daemon.AdminCertFile))
	for _, id := range []struct{ cert, key []byte }{{adminCert, adminKey}, {auditorCert, auditorKey}} {
		r, err := custosv1.NewTreasuryServiceClient(MustDial(t, td2.addr(), caPEM, id.cert, id.key)).GetWallet(callCtx(t), &custosv1.GetWalletRequest{})
		require.NoError(t, err)
		require.True(t, proto.Equal(w, r.Wallet))
	}

	// The store was made for regtest: a testnet daemon is refused before
	// it touches anything.
	_, err = daemon.New(daemonConfig(t, dir, td2.db, reserve.Testnet))
	require.Error(t, err)
	require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err), "err: %v", err)
	require.Contains(t, err.Error(), "regtest")
	var rerr *reserve.Error
	require.True(t, errors.As(err, &rerr))

	// The regtest daemon is still serving the same wallet.
	r, err := custosv1.NewTreasuryServiceClient(MustDialAdmin(t, td2)).GetWallet(callCtx(t), &custosv1.GetWalletRequest{})
	require.NoError(t, err)
	require.True(t, proto.Equal(w, r.Wallet))
}
