package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/daemon/chain"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// MustDaemon runs a real regtest custosd in this process on loopback,
// with a real store in a fresh data dir and a node address nobody listens
// on, until the test ends. It returns the data dir.
func MustDaemon(tb testing.TB) string {
	tb.Helper()
	return MustDaemonWith(tb, nil)
}

// MustDaemonWith is MustDaemon with the store seen through wrap (nil:
// as it is), so a test can make the daemon say what a compromised or
// older one could.
func MustDaemonWith(tb testing.TB, wrap func(daemon.Store) daemon.Store) string {
	tb.Helper()
	dir := tb.TempDir()
	db, err := store.Open(filepath.Join(dir, "custos.db"), store.Options{Timeout: 200 * time.Millisecond})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, db.Close()) })

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	deadNode := l.Addr().String()
	require.NoError(tb, l.Close())

	var st daemon.Store = db
	if wrap != nil {
		st = wrap(db)
	}
	d, err := daemon.New(daemon.Config{
		DataDir:      dir,
		Network:      reserve.Regtest,
		RPCListen:    "127.0.0.1:0",
		Node:         chain.NodeConfig{Kind: chain.KindBtcd, Host: deadNode},
		Store:        st,
		Audit:        db,
		PollInterval: 50 * time.Millisecond,
		CAKey:        daemon.CAKey{AllowPlain: true},
	})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		require.NoError(tb, <-done)
		require.NoError(tb, d.Close())
	})
	// custosctl finds the daemon through the address file Run writes.
	waitFor(tb, 10*time.Second, "the daemon's address file", func() bool {
		_, err := os.Stat(filepath.Join(dir, daemon.AddrFile))
		return err == nil
	})
	return dir
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

type result struct {
	stdout, stderr string
	err            error
	// code is the exit status main would use.
	code int
}

// ctl runs custosctl in-process with args and returns what it printed,
// its error and the exit status main would give it.
func ctl(tb testing.TB, args ...string) result {
	tb.Helper()
	var out, errOut bytes.Buffer
	err := runWith(context.Background(), args, strings.NewReader(""), &out, &errOut)
	// exitCode prints to an *os.File: give it one and read it back.
	f, ferr := os.CreateTemp(tb.TempDir(), "stderr")
	require.NoError(tb, ferr)
	code := exitCode(err, f)
	require.NoError(tb, f.Close())
	printed, ferr := os.ReadFile(f.Name())
	require.NoError(tb, ferr)
	return result{stdout: out.String(), stderr: errOut.String() + string(printed), err: err, code: code}
}

// ctlOK runs custosctl against the daemon in dir and requires success.
func ctlOK(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	r := ctl(tb, append(args, "--datadir", dir)...)
	require.NoError(tb, r.err, "custosctl %s\nstderr: %s", strings.Join(args, " "), r.stderr)
	require.Equal(tb, 0, r.code)
	return r.stdout
}

// decode reads the --json output of a command into T, refusing fields T
// does not know.
func decode[T any](tb testing.TB, s string) T {
	tb.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	require.NoError(tb, dec.Decode(&v), "output: %s", s)
	return v
}

// decodeMap reads --json output as generic JSON, to check value types.
func decodeMap(tb testing.TB, s string) map[string]any {
	tb.Helper()
	var m map[string]any
	require.NoError(tb, json.Unmarshal([]byte(s), &m), "output: %s", s)
	return m
}

// records memoizes keyRecords: deriving an account from a seed costs a
// tenth of a second under the race detector.
var records struct {
	sync.Mutex
	m map[byte]string
}

// keyRecords are the regtest BIP-48 account 0 key records of fixed seeds.
func keyRecords(tb testing.TB, seeds ...byte) []string {
	tb.Helper()
	records.Lock()
	defer records.Unlock()
	if records.m == nil {
		records.m = make(map[byte]string)
	}
	out := make([]string, len(seeds))
	for i, b := range seeds {
		if _, ok := records.m[b]; !ok {
			c, xprv, err := multisig.DeriveAccount(bytes.Repeat([]byte{b}, 32), reserve.Regtest, 0)
			require.NoError(tb, err)
			xprv.Zero()
			records.m[b] = multisig.FormatKeyRecord(c)
		}
		out[i] = records.m[b]
	}
	return out
}

// createArgs is `wallet create` for a 2-of-3 reserve of records.
func createArgs(records []string, extra ...string) []string {
	args := []string{"wallet", "create", "--name", "national reserve", "--threshold", "2"}
	for _, r := range records {
		args = append(args, "--cosigner", r)
	}
	return append(args, extra...)
}

// lines are the non-empty lines of s.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

var (
	addressPattern = regexp.MustCompile(`^bcrt1q[02-9ac-hj-np-z]{58}$`)
	btcPattern     = regexp.MustCompile(`^\d+\.\d{8}$`)
)

func TestStatus(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)

	var st statusJSON
	waitFor(t, 10*time.Second, "the first failed poll of the node", func() bool {
		st = decode[statusJSON](t, ctlOK(t, dir, "status", "--json"))
		return st.NodeError != ""
	})
	require.Equal(t, "regtest", st.Network)
	require.Equal(t, "btcd", st.NodeKind)
	require.False(t, st.NodeReachable)
	require.Contains(t, st.NodeError, "not reachable")
	require.Equal(t, int32(-1), st.SyncedHeight)
	require.False(t, st.Synced)
	require.False(t, st.WalletExists)
	require.Empty(t, st.LastPoll)

	table := ctlOK(t, dir, "status")
	require.Regexp(t, `(?m)^network\s+regtest$`, table)
	require.Regexp(t, `(?m)^node\s+btcd, reachable: NO \(.*not reachable.*\)$`, table)
	require.Regexp(t, `(?m)^synced\s+-1 .*\(in sync: false\)$`, table)
	require.Regexp(t, `(?m)^wallet\s+false$`, table)
	require.NotContains(t, table, "last poll")

	ctlOK(t, dir, createArgs(keyRecords(t, 1, 2, 3))...)
	require.Regexp(t, `(?m)^wallet\s+true$`, ctlOK(t, dir, "status"))
	require.True(t, decode[statusJSON](t, ctlOK(t, dir, "status", "--json")).WalletExists)
}

func TestStatusWaitTimesOut(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)
	ctlOK(t, dir, createArgs(keyRecords(t, 1, 2, 3))...)

	start := time.Now()
	r := ctl(t, "status", "--wait", "--timeout", "300ms", "--datadir", dir)
	require.Error(t, r.err)
	require.Contains(t, r.err.Error(), "not synced")
	require.Contains(t, r.err.Error(), "node reachable: false")
	require.Equal(t, 1, r.code)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Empty(t, r.stdout)
}

func TestWalletCreateAndShow(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)
	records := keyRecords(t, 3, 1, 2)

	// Before the wallet: a daemon error, not a usage error.
	r := ctl(t, "wallet", "show", "--datadir", dir)
	require.EqualError(t, r.err, "FailedPrecondition: no reserve wallet yet; create it with `custosctl wallet create`")
	require.Equal(t, 1, r.code)

	out := ctlOK(t, dir, createArgs(records, "--json")...)
	require.NotContains(t, out, `\u003c`, "descriptors are printed as they are")
	w := decode[walletJSON](t, out)
	require.Regexp(t, `^[0-9a-f]{16}$`, w.ID)
	require.Equal(t, "national reserve", w.Name)
	require.Equal(t, "regtest", w.Network)
	require.Equal(t, uint32(2), w.Threshold)
	require.Equal(t, 3, w.N)
	require.Len(t, w.Cosigners, 3)
	for i, rec := range records {
		require.Equal(t, rec, w.Cosigners[i].KeyRecord)
		require.True(t, strings.HasPrefix(rec, "["+w.Cosigners[i].Fingerprint+"/48'/1'/0'/2']"+w.Cosigners[i].Xpub))
		require.Equal(t, "48'/1'/0'/2'", w.Cosigners[i].Path)
	}
	require.True(t, strings.HasPrefix(w.Descriptor, "wsh(sortedmulti(2,"+records[0]+"/<0;1>/*,"), w.Descriptor)
	require.Regexp(t, `#[0-9a-z]{8}$`, w.Descriptor)
	require.Equal(t, 3, strings.Count(w.ReceiveDescriptor, "/0/*"))
	require.Equal(t, 3, strings.Count(w.ChangeDescriptor, "/1/*"))
	require.Equal(t, uint32(reserve.DefaultGapLimit), w.GapLimit)
	require.Equal(t, int32(0), w.BirthdayHeight)
	_, err := time.Parse(time.RFC3339, w.CreatedAt)
	require.NoError(t, err)

	// wallet show says the same, as JSON and as a table.
	require.Equal(t, w, decode[walletJSON](t, ctlOK(t, dir, "wallet", "show", "--json")))
	table := ctlOK(t, dir, "wallet", "show")
	require.Regexp(t, `(?m)^wallet\s+national reserve \(`+w.ID+`\)$`, table)
	require.Regexp(t, `(?m)^network\s+regtest$`, table)
	require.Regexp(t, `(?m)^policy\s+2 of 3, P2WSH sortedmulti$`, table)
	require.Regexp(t, `(?m)^birthday\s+height 0$`, table)
	require.Regexp(t, `(?m)^gap limit\s+20$`, table)
	for i, c := range w.Cosigners {
		require.Contains(t, table, "cosigner "+string(rune('1'+i)))
		require.Contains(t, table, c.Fingerprint+"  "+c.KeyRecord)
	}
	require.Regexp(t, `(?m)^descriptor\s+`+regexp.QuoteMeta(w.Descriptor)+`$`, table)
	require.Regexp(t, `(?m)^receive\s+`+regexp.QuoteMeta(w.ReceiveDescriptor)+`$`, table)
	require.Regexp(t, `(?m)^change\s+`+regexp.QuoteMeta(w.ChangeDescriptor)+`$`, table)

	// A second wallet is the daemon's conflict.
	r = ctl(t, append(createArgs(records), "--datadir", dir)...)
	var rf *rpcFailure
	require.ErrorAs(t, r.err, &rf)
	require.True(t, strings.HasPrefix(r.err.Error(), "AlreadyExists: "), r.err.Error())
	require.Equal(t, 1, r.code)
}

func TestWalletCreateTable(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)
	records := keyRecords(t, 1, 2, 3)

	table := ctlOK(t, dir, createArgs(records, "--birthday", "7", "--gap-limit", "5")...)
	require.Regexp(t, `(?m)^policy\s+2 of 3, P2WSH sortedmulti$`, table)
	require.Regexp(t, `(?m)^birthday\s+height 7$`, table)
	require.Regexp(t, `(?m)^gap limit\s+5$`, table)
	require.Regexp(t, `(?m)^descriptor\s+wsh\(sortedmulti\(2,.*/<0;1>/\*.*#[0-9a-z]{8}$`, table)
	for _, rec := range records {
		require.Contains(t, table, rec)
	}
}

func TestBalanceAndUtxos(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)

	for _, cmd := range [][]string{{"balance"}, {"utxos"}} {
		r := ctl(t, append(cmd, "--datadir", dir)...)
		require.Error(t, r.err, "%s before the wallet", cmd)
		require.True(t, strings.HasPrefix(r.err.Error(), "FailedPrecondition: no reserve wallet yet"), r.err.Error())
		require.Equal(t, 1, r.code)
	}

	ctlOK(t, dir, createArgs(keyRecords(t, 1, 2, 3))...)

	out := ctlOK(t, dir, "balance", "--json")
	b := decode[balanceJSON](t, out)
	require.Equal(t, balanceJSON{
		Confirmed: "0.00000000", Unconfirmed: "0.00000000", Immature: "0.00000000", SyncedHeight: -1,
	}, b)
	// Amounts are strings of BTC and integers of satoshis.
	m := decodeMap(t, out)
	for _, k := range []string{"confirmed", "unconfirmed", "immature"} {
		require.IsType(t, "", m[k], k)
		require.Regexp(t, btcPattern, m[k])
		require.IsType(t, float64(0), m[k+"_sat"], k+"_sat")
	}
	table := ctlOK(t, dir, "balance")
	require.Regexp(t, `(?m)^\s*confirmed\s+0\.00000000 BTC\s*$`, table)
	require.Regexp(t, `(?m)^\s*unconfirmed\s+0\.00000000 BTC\s*$`, table)
	require.Regexp(t, `(?m)^\s*immature\s+0\.00000000 BTC\s*$`, table)
	require.Regexp(t, `(?m)^\s*at height\s+-1\s*$`, table)

	out = ctlOK(t, dir, "utxos", "--json")
	m = decodeMap(t, out)
	require.Equal(t, map[string]any{"synced_height": float64(-1), "utxos": []any{}}, m, "an empty list, not null")
	table = ctlOK(t, dir, "utxos")
	require.Equal(t, []string{"OUTPOINT  AMOUNT (BTC)  ADDRESS  PATH  CONF  NOTE"}, lines(table))
}

func TestAddresses(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)

	r := ctl(t, "address", "new", "--datadir", dir)
	require.Error(t, r.err)
	require.True(t, strings.HasPrefix(r.err.Error(), "FailedPrecondition: "), r.err.Error())

	ctlOK(t, dir, createArgs(keyRecords(t, 1, 2, 3))...)

	text := lines(ctlOK(t, dir, "address", "new", "--label", "customs"))
	first := text[0]
	require.Regexp(t, addressPattern, first)
	require.Equal(t, []string{
		first,
		"label: customs",
		"branch receive, index 0",
		"Publish it only after the ministries ran 'custos-signer address verify " + first + "'",
		"and each saw branch receive, index 0.",
	}, text, "the address alone first, for scripts, then its branch and index")

	out := ctlOK(t, dir, "address", "new", "--label", "taxes 2026", "--json")
	a := decode[addressJSON](t, out)
	require.Equal(t, addressJSON{
		Branch: "receive", Index: 1, Address: a.Address, Label: "taxes 2026", Issued: true, Received: "0.00000000",
	}, a)
	require.Regexp(t, addressPattern, a.Address)
	require.NotEqual(t, first, a.Address)
	m := decodeMap(t, out)
	require.IsType(t, "", m["received"])
	require.IsType(t, float64(0), m["received_sat"])

	// Issued receive addresses, as a table and as JSON.
	table := lines(ctlOK(t, dir, "address", "list"))
	require.Len(t, table, 3)
	require.Regexp(t, `^BRANCH\s+INDEX\s+ADDRESS\s+LABEL\s+RECEIVED \(BTC\)\s+OUTPUTS$`, table[0])
	require.Regexp(t, `^receive\s+0\s+`+first+`\s+customs\s+0\.00000000\s+0$`, table[1])
	require.Regexp(t, `^receive\s+1\s+`+a.Address+`\s+taxes 2026\s+0\.00000000\s+0$`, table[2])
	list := decode[[]addressJSON](t, ctlOK(t, dir, "address", "list", "--json"))
	require.Len(t, list, 2)
	require.Equal(t, first, list[0].Address)
	require.Equal(t, "customs", list[0].Label)
	require.Equal(t, a, list[1])

	// --all adds the watched lookahead, never issued.
	all := decode[[]addressJSON](t, ctlOK(t, dir, "address", "list", "--all", "--json"))
	require.GreaterOrEqual(t, len(all), reserve.DefaultGapLimit)
	for i, x := range all {
		require.Equal(t, uint32(i), x.Index)
		require.Equal(t, "receive", x.Branch)
		require.Equal(t, i < 2, x.Issued, "address %d", i)
		require.Regexp(t, addressPattern, x.Address)
	}
	require.Len(t, lines(ctlOK(t, dir, "address", "list", "--all")), 1+len(all))

	// The change branch has nothing issued, and its own lookahead.
	require.Equal(t, "[]\n", ctlOK(t, dir, "address", "list", "--change", "--json"))
	require.Len(t, lines(ctlOK(t, dir, "address", "list", "--change")), 1, "only the header")
	change := decode[[]addressJSON](t, ctlOK(t, dir, "address", "list", "--change", "--all", "--json"))
	require.Len(t, change, reserve.DefaultGapLimit)
	for i, x := range change {
		require.Equal(t, "change", x.Branch)
		require.Equal(t, uint32(i), x.Index)
		require.False(t, x.Issued)
		require.NotEqual(t, all[i].Address, x.Address)
	}

	// A label the daemon refuses.
	r = ctl(t, "address", "new", "--label", strings.Repeat("x", 257), "--datadir", dir)
	require.Error(t, r.err)
	require.True(t, strings.HasPrefix(r.err.Error(), "InvalidArgument: label"), r.err.Error())
	require.Equal(t, 1, r.code)
	require.Len(t, decode[[]addressJSON](t, ctlOK(t, dir, "address", "list", "--json")), 2, "nothing issued")
}

// TestInvalidUTF8Flag gives a label that is not UTF-8 (a Latin-1 terminal
// typing "é"): custosctl must refuse it as a usage error naming the flag,
// not send it and report what the gRPC library makes of it.
func TestInvalidUTF8Flag(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)
	ctlOK(t, dir, createArgs(keyRecords(t, 1, 2, 3))...)

	r := ctl(t, "address", "new", "--label", "imp\xf4ts", "--datadir", dir)
	require.Error(t, r.err)
	require.Contains(t, r.err.Error(), "--label")
	require.Equal(t, 2, r.code, "a usage error: %v", r.err)
	require.Len(t, decode[[]addressJSON](t, ctlOK(t, dir, "address", "list", "--json")), 0, "nothing issued")
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)
	records := keyRecords(t, 1, 2, 3)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command given"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"wallet", "delete"}, `unknown command "wallet delete"`},
		{"unknown flag", []string{"status", "--bogus", "--datadir", dir}, "bogus"},
		{"flag without its value", []string{"address", "new", "--datadir", dir, "--label"}, "label"},
		{"extra positional argument", []string{"status", "--datadir", dir, "extra"}, `unexpected argument "extra"`},
		{"extra argument to address list", []string{"address", "list", "--datadir", dir, "everything"}, `unexpected argument "everything"`},
		{"threshold 0", append(createArgs(records, "--datadir", dir), "--threshold", "0"), "--threshold"},
		{"threshold missing", []string{"wallet", "create", "--name", "r", "--cosigner", records[0], "--datadir", dir}, "--threshold"},
		{"negative birthday", append(createArgs(records, "--datadir", dir), "--birthday", "-2"), "--birthday"},
		{"cancel --conflict without a fee rate", []string{"spend", "cancel", "P000001", "--conflict", "--datadir", dir}, "--conflict needs --feerate"},
		{"cancel with a fee rate but no --conflict", []string{"spend", "cancel", "P000001", "--feerate", "3", "--datadir", dir}, "--feerate is only for --conflict"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(t, tc.args...)
			var ue usageError
			require.ErrorAs(t, r.err, &ue)
			require.Contains(t, r.err.Error(), tc.want)
			require.Equal(t, 2, r.code)
			require.Empty(t, r.stdout)
		})
	}

	// None of those reached the daemon; help is not an error.
	r := ctl(t, "wallet", "show", "--datadir", dir)
	require.True(t, strings.HasPrefix(r.err.Error(), "FailedPrecondition: "), r.err.Error())
	for _, args := range [][]string{{"help"}, {"--help"}, {"status", "-h"}} {
		r := ctl(t, args...)
		require.True(t, errors.Is(r.err, flag.ErrHelp), "%v: %v", args, r.err)
		require.Equal(t, 0, r.code)
		require.Contains(t, strings.ToLower(r.stderr), "usage")
	}
	require.Contains(t, ctl(t).stderr, "wallet create")
}

func TestDaemonErrors(t *testing.T) {
	t.Parallel()
	dir := MustDaemon(t)
	records := keyRecords(t, 1, 2, 3)

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"threshold above n", append(createArgs(records, "--datadir", dir), "--threshold", "4"), "InvalidArgument: threshold: "},
		{"mistyped key", createArgs([]string{records[0], records[1], strings.Replace(records[2], "tpub", "xpub", 1)}, "--datadir", dir), "InvalidArgument: cosigner[2]: "},
		{"empty name", append(createArgs(records, "--datadir", dir), "--name", ""), "InvalidArgument: name: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ctl(t, tc.args...)
			var rf *rpcFailure
			require.ErrorAs(t, r.err, &rf)
			require.True(t, strings.HasPrefix(r.err.Error(), tc.want), r.err.Error())
			require.Equal(t, 1, r.code)
			require.Contains(t, r.stderr, "custosctl: "+tc.want)
		})
	}
	// Nothing was created.
	r := ctl(t, "wallet", "show", "--datadir", dir)
	require.True(t, strings.HasPrefix(r.err.Error(), "FailedPrecondition: "), r.err.Error())
}

func TestWrongDataDir(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope")

	r := ctl(t, "status", "--datadir", missing)
	require.Error(t, r.err)
	require.Contains(t, r.err.Error(), "--datadir")
	require.Equal(t, 1, r.code)

	// A data dir with the TLS material but no running daemon says so.
	dir := MustDaemon(t)
	stopped := t.TempDir()
	require.NoError(t, os.CopyFS(daemon.TLSDir(stopped), os.DirFS(daemon.TLSDir(dir))))
	r = ctl(t, "status", "--datadir", stopped)
	require.Error(t, r.err)
	require.Contains(t, r.err.Error(), "not running")
	require.Equal(t, 1, r.code)
}

// TestSafe: text from the daemon is printed with its unprintable
// characters spelled out, so an escape sequence in a memo cannot move the
// cursor over the payees an officer reads.
func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"invoice 2026-118":             "invoice 2026-118",
		"Zahlung für März":             "Zahlung für März",
		"\x1b[4A\x1b[2Kpay\t90 BTC":    `\u{1b}[4A\u{1b}[2Kpay\u{9}90 BTC`,
		"abc\u202edcba":                `abc\u{202e}dcba`,
		"line\nbreak\r":                `line\u{a}break\u{d}`,
		string([]byte{'o', 0xff, 'k'}): `o\x{ff}k`,
		"\ufffd":                       `\u{fffd}`,
	} {
		require.Equal(t, want, safe(in), "%q", in)
	}
}
