package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/reserve"
)

// syncBuffer is a bytes.Buffer the daemon's goroutines may write while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// MustDeadNodeHost returns a loopback host:port nobody listens on.
func MustDeadNodeHost(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := l.Addr().String()
	require.NoError(tb, l.Close())
	return addr
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

// args are the flags of a regtest custosd on dir that listens on a free
// loopback port and follows a node that is not there.
func args(tb testing.TB, dir string, extra ...string) []string {
	tb.Helper()
	return append([]string{
		"--network", "regtest", "--datadir", dir, "--rpclisten", "127.0.0.1:0",
		"--node.rpchost", MustDeadNodeHost(tb), "--poll", "50ms",
	}, extra...)
}

// running is custosd run in a goroutine.
type running struct {
	cancel         context.CancelFunc
	done           chan error
	stdout, stderr *syncBuffer
}

// start runs custosd with args until stop or the end of the test.
func start(tb testing.TB, args []string) *running {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	go func() { r.done <- run(ctx, args, r.stdout, r.stderr) }()
	tb.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// stop cancels the daemon and returns what run returned.
func (r *running) stop(tb testing.TB) error {
	tb.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		tb.Fatal("custosd did not stop within 10s of its context ending")
		return nil
	}
}

func TestRunLockAndShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addrFile := filepath.Join(dir, daemon.AddrFile)

	first := start(t, args(t, dir))
	waitFor(t, 10*time.Second, "custosd to write "+daemon.AddrFile, func() bool {
		_, err := os.Stat(addrFile)
		return err == nil
	})
	addr, err := os.ReadFile(addrFile)
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(strings.TrimSpace(string(addr)))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", host)
	require.NotEqual(t, "0", port)
	require.Contains(t, first.stdout.String(), "custosd listening on "+strings.TrimSpace(string(addr))+" (regtest)")
	for _, f := range []string{StoreFile, "tls/ca.pem", "tls/admin.pem", "tls/admin.key"} {
		require.FileExists(t, filepath.Join(dir, f))
	}

	// A second daemon on the same data dir gives up on the store's lock
	// within its --lock-timeout and says why.
	var out, errOut syncBuffer
	began := time.Now()
	err = run(context.Background(), args(t, dir, "--lock-timeout", "200ms"), &out, &errOut)
	took := time.Since(began)
	require.Error(t, err)
	require.Contains(t, err.Error(), "locked by another process")
	require.Equal(t, reserve.CodeConflict, reserve.CodeOf(err))
	require.GreaterOrEqual(t, took, 150*time.Millisecond, "it waited for the lock")
	require.Less(t, took, 3*time.Second, "it gave up soon after --lock-timeout")
	require.Empty(t, out.String(), "it never said it was listening")

	// The first daemon did not notice, and stops cleanly.
	_, err = os.Stat(addrFile)
	require.NoError(t, err, "the loser must not remove the winner's address file")
	require.NoError(t, first.stop(t))
	_, err = os.Stat(addrFile)
	require.ErrorIs(t, err, os.ErrNotExist)

	// Once it is gone the data dir is free again.
	second := start(t, args(t, dir, "--lock-timeout", "200ms"))
	waitFor(t, 10*time.Second, "the second custosd to write "+daemon.AddrFile, func() bool {
		_, err := os.Stat(addrFile)
		return err == nil
	})
	require.NoError(t, second.stop(t))
}

func TestRunRefusesAnotherNetwork(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := start(t, args(t, dir))
	waitFor(t, 10*time.Second, "custosd to write "+daemon.AddrFile, func() bool {
		_, err := os.Stat(filepath.Join(dir, daemon.AddrFile))
		return err == nil
	})
	require.NoError(t, first.stop(t))

	a := args(t, dir)
	a[1] = "testnet"
	err := run(context.Background(), a, &syncBuffer{}, &syncBuffer{})
	require.Error(t, err)
	require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err), "err: %v", err)
	require.Contains(t, err.Error(), "regtest")
}

// TestRunListenInUse fails after the store is open: run must close it,
// so the data dir is not left locked.
func TestRunListenInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()

	err = run(context.Background(), args(t, dir, "--rpclisten", busy.Addr().String()), &syncBuffer{}, &syncBuffer{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "unable to listen on "+busy.Addr().String())
	require.NoFileExists(t, filepath.Join(dir, daemon.AddrFile))

	r := start(t, args(t, dir, "--lock-timeout", "200ms"))
	waitFor(t, 10*time.Second, "custosd to write "+daemon.AddrFile, func() bool {
		_, err := os.Stat(filepath.Join(dir, daemon.AddrFile))
		return err == nil
	})
	require.NoError(t, r.stop(t))
}

func TestRunBadFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args func(t *testing.T, dir string) []string
		want string
	}{
		{"missing --network", func(t *testing.T, dir string) []string {
			return []string{"--datadir", dir, "--rpclisten", "127.0.0.1:0"}
		}, "--network"},
		{"unknown network", func(t *testing.T, dir string) []string { return args(t, dir, "--network", "foonet") }, `--network: unknown network "foonet"`},
		{"unknown node kind", func(t *testing.T, dir string) []string { return args(t, dir, "--node.kind", "parity") }, `--node.kind: unknown node kind "parity"`},
		{"unknown log level", func(t *testing.T, dir string) []string { return args(t, dir, "--loglevel", "loud") }, "--loglevel"},
		{"extra positional argument", func(t *testing.T, dir string) []string { return append(args(t, dir), "now") }, `unexpected argument "now"`},
		{"unknown flag", func(t *testing.T, dir string) []string { return args(t, dir, "--turbo") }, "turbo"},
		{"no confirmations", func(t *testing.T, dir string) []string { return args(t, dir, "--confirmations", "0") }, "--confirmations"},
		{"malformed duration", func(t *testing.T, dir string) []string { return args(t, dir, "--poll", "often") }, "poll"},
		{"unknown notification mode", func(t *testing.T, dir string) []string { return args(t, dir, "--node.notify", "push") }, `--node.notify: unknown notification mode "push"`},
		{"ZMQ for btcd", func(t *testing.T, dir string) []string {
			return args(t, dir, "--node.zmqblock", "tcp://127.0.0.1:28332")
		}, "--node.zmqblock: ZMQ notifications are bitcoind's"},
		{"ZMQ while notifications are off", func(t *testing.T, dir string) []string {
			return args(t, dir, "--node.kind", "bitcoind", "--node.notify", "off", "--node.zmqblock", "tcp://127.0.0.1:28332")
		}, "notifications are off"},
		{"ZMQ address without scheme", func(t *testing.T, dir string) []string {
			return args(t, dir, "--node.kind", "bitcoind", "--node.zmqblock", "127.0.0.1:28332")
		}, `ZMQ address "127.0.0.1:28332" is not tcp://host:port`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "custosd")
			var out, errOut syncBuffer
			err := run(context.Background(), tc.args(t, dir), &out, &errOut)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Empty(t, out.String())
			require.NoDirExists(t, dir, "nothing is made before the flags are right")
		})
	}
}
