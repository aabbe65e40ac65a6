package store_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

const lockedMsg = "is locked by another process (is another custosd running on this data dir?)"

func TestOpenCreatesAndCloseIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custos.db")
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	require.Equal(t, path, db.Path())
	require.FileExists(t, path)
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "second Close")

	_, err = db.Wallet(context.Background())
	requireCode(t, err, reserve.CodeInternal)
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		code    reserve.Code
		msg     string
	}{
		{
			name: "not a bbolt file",
			prepare: func(t *testing.T, path string) {
				require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("x", 8192)), 0o600))
			},
			code: reserve.CodeInternal,
			msg:  "unable to open store",
		},
		{
			name:    "directory missing",
			prepare: func(t *testing.T, path string) { require.NoError(t, os.Remove(filepath.Dir(path))) },
			code:    reserve.CodeInternal,
			msg:     "unable to open store",
		},
		{
			name: "schema version from the future",
			prepare: func(t *testing.T, path string) {
				MustOpenPath(t, path).Close()
				setSchemaVersion(t, path, []byte{0, 0, 0x03, 0xe8})
			},
			code: reserve.CodeFailedPrecondition,
			msg:  "has schema version 1000, newer than the 10 this program knows",
		},
		{
			name: "malformed schema version",
			prepare: func(t *testing.T, path string) {
				MustOpenPath(t, path).Close()
				setSchemaVersion(t, path, []byte{1, 2, 3})
			},
			code: reserve.CodeInternal,
			msg:  "schema_version is 3 bytes",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "custos.db")
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
			tc.prepare(t, path)
			db, err := store.Open(path, store.Options{Timeout: 100 * time.Millisecond})
			requireCode(t, err, tc.code)
			require.Nil(t, db)
			require.Contains(t, err.Error(), tc.msg)
		})
	}
}

// TestOpenFutureVersionLeavesFileAlone checks that a refused store is
// neither migrated nor left locked.
func TestOpenFutureVersionLeavesFileAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custos.db")
	MustOpenPath(t, path).Close()
	setSchemaVersion(t, path, []byte{0, 0, 0, 100})

	_, err := store.Open(path, store.Options{})
	requireCode(t, err, reserve.CodeFailedPrecondition)
	require.Equal(t, uint32(100), schemaVersionOf(t, path))
}

func TestOpenTwiceIsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custos.db")

	db := MustOpenPath(t, path)
	require.NoError(t, db.CreateWallet(ctx, testWallet(), testLookahead(3)))
	require.NoError(t, db.Close())
	require.Equal(t, uint32(10), schemaVersionOf(t, path))

	for i := range 2 {
		db, err := store.Open(path, store.Options{})
		require.NoError(t, err, "open %d", i)
		w, err := db.Wallet(ctx)
		require.NoError(t, err)
		require.Equal(t, testWallet(), w)
		log, err := db.AuditLog(ctx)
		require.NoError(t, err)
		require.Len(t, log, 1, "reopening must not append audit entries")
		require.NoError(t, db.Close())
		require.Equal(t, uint32(10), schemaVersionOf(t, path))
	}
}

// TestOpenLockedInProcess checks that a second Open of a file this process
// already holds waits for the timeout and then says why: flock locks belong
// to the open file description, so a second open(2) in one process is
// refused just like another process.
func TestOpenLockedInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custos.db")
	first, err := store.Open(path, store.Options{})
	require.NoError(t, err)

	start := time.Now()
	second, err := store.Open(path, store.Options{Timeout: 200 * time.Millisecond})
	waited := time.Since(start)
	requireCode(t, err, reserve.CodeConflict)
	require.Nil(t, second)
	require.Contains(t, err.Error(), "store "+path+" "+lockedMsg)
	require.GreaterOrEqual(t, waited, 100*time.Millisecond, "Open gave up without waiting")
	require.Less(t, waited, 5*time.Second, "Open ignored its timeout")

	// Once the first one closes, the file opens again.
	require.NoError(t, first.Close())
	third, err := store.Open(path, store.Options{Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, third.Close())
}

// helperEnv switches the test binary into TestHelperProcess.
const helperEnv = "CUSTOS_STORE_TEST_HOLD_LOCK"

// TestHelperProcess is not a test: run as a child by
// TestOpenLockedByAnotherProcess, it opens the store named by helperEnv,
// prints "locked", and holds the lock until its stdin closes.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestOpenLockedByAnotherProcess")
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := db.Close(); err != nil {
		os.Exit(3)
	}
	os.Exit(0)
}

func TestOpenLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custos.db")

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	// Wait until the child says it holds the lock.
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); l == "locked" || strings.HasPrefix(l, "error:") {
				lines <- l
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		close(lines)
	}()
	select {
	case l := <-lines:
		require.Equal(t, "locked", l)
	case <-time.After(30 * time.Second):
		t.Fatal("child process never reported holding the lock")
	}

	_, err = store.Open(path, store.Options{Timeout: 200 * time.Millisecond})
	requireCode(t, err, reserve.CodeConflict)
	require.Contains(t, err.Error(), lockedMsg)

	// The child releases the lock when its stdin closes; then we get in.
	require.NoError(t, stdin.Close())
	require.NoError(t, cmd.Wait())
	exited = true
	db, err := store.Open(path, store.Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

func TestBackup(t *testing.T) {
	ctx := context.Background()
	db := MustWallet(t)
	tx := testTx(1, wireOut(50_000, testScript(reserve.BranchReceive, 0)))
	require.NoError(t, db.ApplyBlock(ctx, reserve.BlockUpdate{
		Height: 1, Hash: blockHash(1, "a"),
		Credits: []reserve.UTXO{credit(tx, 0, reserve.BranchReceive, 0)},
		Txs:     []*wire.MsgTx{tx},
	}))

	path := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(path)
	require.NoError(t, err)
	n, err := db.Backup(ctx, f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, fi.Size(), n)

	// The copy opens as a store with the same contents, while the
	// original stays open.
	copyDB := MustOpenPath(t, path)
	w, err := copyDB.Wallet(ctx)
	require.NoError(t, err)
	require.Equal(t, testWallet(), w)
	for _, includeSpent := range []bool{false, true} {
		want, err := db.UTXOs(ctx, includeSpent)
		require.NoError(t, err)
		got, err := copyDB.UTXOs(ctx, includeSpent)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	h, hash, ok, err := copyDB.SyncTip(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, int32(1), h)
	require.Equal(t, blockHash(1, "a"), hash)

	t.Run("failing writer", func(t *testing.T) {
		_, err := db.Backup(ctx, failingWriter{})
		requireCode(t, err, reserve.CodeInternal)
		// bbolt flattens the cause with %s, so only the text survives.
		require.Contains(t, err.Error(), errDiskFull.Error())
	})
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// TestCanceledContext checks that no method starts a transaction for a
// caller that has gone away, and that nothing changes.
func TestCanceledContext(t *testing.T) {
	db := MustOpen(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	calls := []struct {
		name string
		call func() error
	}{
		{"EnsureNetwork", func() error { return db.EnsureNetwork(ctx, reserve.Regtest) }},
		{"CreateWallet", func() error { return db.CreateWallet(ctx, testWallet(), testLookahead(1)) }},
		{"Wallet", func() error { _, err := db.Wallet(ctx); return err }},
		{"Addresses", func() error { _, err := db.Addresses(ctx, reserve.BranchReceive); return err }},
		{"PutAddresses", func() error { return db.PutAddresses(ctx, testLookahead(1)) }},
		{"Horizon", func() error { _, err := db.Horizon(ctx, reserve.BranchReceive); return err }},
		{"IssueAddress", func() error { _, err := db.IssueAddress(ctx, ""); return err }},
		{"SyncTip", func() error { _, _, _, err := db.SyncTip(ctx); return err }},
		{"BlockHash", func() error { _, _, err := db.BlockHash(ctx, 1); return err }},
		{"ApplyBlock", func() error { return db.ApplyBlock(ctx, reserve.BlockUpdate{Height: 1}) }},
		{"DisconnectTip", func() error { return db.DisconnectTip(ctx) }},
		{"ApplyMempool", func() error { return db.ApplyMempool(ctx, reserve.MempoolUpdate{}) }},
		{"UTXOs", func() error { _, err := db.UTXOs(ctx, true); return err }},
		{"RawTx", func() error { _, err := db.RawTx(ctx, blockHash(0, "")); return err }},
		{"Backup", func() error { _, err := db.Backup(ctx, io.Discard); return err }},
		{"AuditLog", func() error { _, err := db.AuditLog(ctx); return err }},
		{"CreateProposal", func() error { _, err := db.CreateProposal(ctx, testProposal(fundingUTXOs()[0])); return err }},
		{"Proposal", func() error { _, err := db.Proposal(ctx, "P000001"); return err }},
		{"Proposals", func() error { _, err := db.Proposals(ctx, 0); return err }},
		{"UpdateProposal", func() error {
			_, err := db.UpdateProposal(ctx, "P000001", func(*reserve.Proposal) error { return nil })
			return err
		}},
		{"Reservations", func() error { _, err := db.Reservations(ctx); return err }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			requireCode(t, err, reserve.CodeUnavailable)
			require.ErrorIs(t, err, context.Canceled)
		})
	}

	_, err := db.Wallet(context.Background())
	requireCode(t, err, reserve.CodeNotFound)
	_, _, ok, err := db.SyncTip(context.Background())
	require.NoError(t, err)
	require.False(t, ok)
}

// setSchemaVersion rewrites meta/schema_version of a closed store.
func setSchemaVersion(t *testing.T, path string, v []byte) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), v)
	}))
	require.NoError(t, bdb.Close())
}

// schemaVersionOf reads meta/schema_version of a closed store.
func schemaVersionOf(t *testing.T, path string) uint32 {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	require.NoError(t, err)
	defer bdb.Close()
	var v uint32
	require.NoError(t, bdb.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("meta")).Get([]byte("schema_version"))
		require.Len(t, b, 4)
		v = binary.BigEndian.Uint32(b)
		return nil
	}))
	return v
}
