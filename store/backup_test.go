package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	auditlog "github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/backup"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

const logKeyFile = "audit-log.key"

// mustAgeIdentity is an age identity whose secret scalar is 32 bytes of b.
func mustAgeIdentity(tb testing.TB, b byte) *age.X25519Identity {
	tb.Helper()
	enc, err := bech32.EncodeFromBase256("age-secret-key-", bytes.Repeat([]byte{b}, 32))
	require.NoError(tb, err)
	id, err := age.ParseX25519Identity(strings.ToUpper(enc))
	require.NoError(tb, err)
	return id
}

// mustLogKey is a log key (signer, file contents) from a fixed seed byte.
func mustLogKey(tb testing.TB, b byte) (note.Signer, []byte) {
	tb.Helper()
	rnd := bytes.NewReader(bytes.Repeat([]byte{b}, 64))
	origin, err := auditlog.NewOrigin(rnd)
	require.NoError(tb, err)
	skey, vkey, err := auditlog.NewLogKey(rnd, origin)
	require.NoError(tb, err)
	s, err := note.NewSigner(skey)
	require.NoError(tb, err)
	return s, []byte(skey + "\n" + vkey + "\n")
}

// backupSpec changes what mustBackup writes.
type backupSpec struct {
	network   string
	signer    note.Signer // signs the checkpoint; nil: the log key in the file
	noLogKey  bool
	wrongSize bool
	// badHash announces the SHA-256 of another store: Write refuses
	// that, so the file is written by hand, as a forger would.
	badHash bool
}

// mustBackup backs db up as custosd does: a snapshot, its checkpoint
// signed with the log key, the log key beside it.
func mustBackup(tb testing.TB, db *store.DB, id *age.X25519Identity, spec backupSpec) []byte {
	tb.Helper()
	ctx := context.Background()
	signer, keyFile := mustLogKey(tb, 7)
	if spec.signer != nil {
		signer = spec.signer
	}
	var snap bytes.Buffer
	s, err := db.Snapshot(ctx, &snap)
	require.NoError(tb, err)
	require.Equal(tb, int64(snap.Len()), s.Size)
	cp, err := auditlog.SignCheckpoint(auditlog.Checkpoint{Origin: signer.Name(), Size: s.AuditSize, Root: s.AuditRoot}, signer)
	require.NoError(tb, err)
	sum := sha256.Sum256(snap.Bytes())
	h := backup.Header{
		Format: backup.Format, Network: s.Network.String(), WalletID: s.WalletID, Schema: s.Schema, Time: fixedNow,
		Store:          backup.Part{Name: backup.StoreName, Mode: 0o600, Size: s.Size, SHA256: hex.EncodeToString(sum[:])},
		CheckpointSize: s.AuditSize, Checkpoint: string(cp),
	}
	if spec.network != "" {
		h.Network = spec.network
	}
	if spec.wrongSize {
		h.CheckpointSize++
	}
	var files [][]byte
	if !spec.noLogKey {
		ks := sha256.Sum256(keyFile)
		h.Files = []backup.Part{{Name: logKeyFile, Mode: 0o600, Size: int64(len(keyFile)), SHA256: hex.EncodeToString(ks[:])}}
		files = [][]byte{keyFile}
	}
	var out bytes.Buffer
	if spec.badHash {
		other := sha256.Sum256([]byte("another store"))
		h.Store.SHA256 = hex.EncodeToString(other[:])
		enc, err := h.Encode()
		require.NoError(tb, err)
		d := backup.Digest(enc)
		fmt.Fprintf(&out, "%s\nheader-sha256 %x\n\n", backup.Format, d)
		w, err := age.Encrypt(&out, id.Recipient())
		require.NoError(tb, err)
		_, err = w.Write(slices.Concat(enc, []byte("\n"), snap.Bytes(), slices.Concat(files...)))
		require.NoError(tb, err)
		require.NoError(tb, w.Close())
		return out.Bytes()
	}
	_, err = backup.Write(&out, []age.Recipient{id.Recipient()}, h, bytes.NewReader(snap.Bytes()), files)
	require.NoError(tb, err)
	return out.Bytes()
}

// mustBackedUpStore is a regtest store with the test wallet.
func mustBackedUpStore(tb testing.TB) *store.DB {
	tb.Helper()
	db := MustWallet(tb)
	require.NoError(tb, db.EnsureNetwork(context.Background(), reserve.Regtest))
	return db
}

func restoreOpts(dir string) store.RestoreOptions {
	return store.RestoreOptions{DataDir: dir, LogKeyFile: logKeyFile}
}

func TestRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	id := mustAgeIdentity(t, 1)
	db := mustBackedUpStore(t)
	file := mustBackup(t, db, id, backupSpec{})
	before, err := db.AuditLog(ctx)
	require.NoError(t, err)

	dir := filepath.Join(t.TempDir(), "new")
	opts := restoreOpts(dir)
	opts.Network = reserve.Regtest
	br, err := store.Restore(ctx, bytes.NewReader(file), []age.Identity{id}, opts)
	require.NoError(t, err)
	require.Equal(t, int64(len(before)), br.Header.CheckpointSize)
	_, keyFile := mustLogKey(t, 7)
	got, err := os.ReadFile(filepath.Join(dir, logKeyFile))
	require.NoError(t, err)
	require.Equal(t, keyFile, got)

	restored := MustOpenPath(t, filepath.Join(dir, backup.StoreName))
	w, err := restored.Wallet(ctx)
	require.NoError(t, err)
	require.Equal(t, testWallet().ID, w.ID)
	r, ok, err := restored.Restored(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, br.HeaderDigest, r.HeaderDigest)
	require.Equal(t, br.Header.CheckpointSize, r.CheckpointSize)
	require.True(t, fixedNow.Truncate(time.Second).Equal(r.Taken), "taken %s", r.Taken)

	// The restored log extends the backed-up one with the restore leaf.
	after, err := restored.AuditLog(ctx)
	require.NoError(t, err)
	require.Len(t, after, len(before)+1)
	require.Equal(t, store.AuditBackupRestore, after[len(before)].Kind)

	// An acknowledgement clears the mark once, with its leaf.
	_, err = restored.AckRestore(reserve.WithActor(ctx, reserve.Actor{Name: "admin", Role: "admin"}))
	require.NoError(t, err)
	_, ok, err = restored.Restored(ctx)
	require.NoError(t, err)
	require.False(t, ok)
	_, err = restored.AckRestore(ctx)
	requireCode(t, err, reserve.CodeFailedPrecondition)
	after, err = restored.AuditLog(ctx)
	require.NoError(t, err)
	require.Equal(t, store.AuditBackupAck, after[len(after)-1].Kind)
	require.Equal(t, "admin", after[len(after)-1].Actor.Name)
}

func TestRestoreRefused(t *testing.T) {
	ctx := context.Background()
	id, other := mustAgeIdentity(t, 1), mustAgeIdentity(t, 2)
	db := mustBackedUpStore(t)
	good := mustBackup(t, db, id, backupSpec{})
	otherSigner, _ := mustLogKey(t, 9)

	for _, tc := range []struct {
		name    string
		file    []byte
		ids     []age.Identity
		network reserve.Network
		prepare func(t *testing.T, dir string)
		want    string
		is      error
	}{
		{name: "another network", file: good, ids: []age.Identity{id}, network: reserve.Mainnet, want: "network: the backup is of a regtest reserve, not mainnet"},
		{name: "header network differs from the store's", file: mustBackup(t, db, id, backupSpec{network: "testnet"}), ids: []age.Identity{id}, want: "holds a regtest reserve, not testnet"},
		{name: "bad hash", file: mustBackup(t, db, id, backupSpec{badHash: true}), ids: []age.Identity{id}, want: "store: hashes to", is: backup.ErrHash},
		{name: "truncated", file: good[:len(good)-100], ids: []age.Identity{id}, is: backup.ErrTruncated},
		{name: "foreign file", file: []byte("SQLite format 3\x00"), ids: []age.Identity{id}, is: backup.ErrNotBackup},
		{name: "wrong age key", file: good, ids: []age.Identity{other}, is: backup.ErrWrongKey},
		{name: "checkpoint of another log key", file: mustBackup(t, db, id, backupSpec{signer: otherSigner}), ids: []age.Identity{id}, want: "header.checkpoint: is not signed by the backup's log key"},
		{name: "checkpoint size differs from the header", file: mustBackup(t, db, id, backupSpec{wrongSize: true}), ids: []age.Identity{id}, want: "header.checkpoint: is of size"},
		{name: "no log key", file: mustBackup(t, db, id, backupSpec{noLogKey: true}), ids: []age.Identity{id}, want: "carry no log key"},
		{name: "dir holds a store", file: good, ids: []age.Identity{id}, prepare: func(t *testing.T, dir string) {
			require.NoError(t, os.MkdirAll(dir, 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(dir, backup.StoreName), []byte("x"), 0o600))
		}, want: "already holds a store"},
		{name: "dir not empty", file: good, ids: []age.Identity{id}, prepare: func(t *testing.T, dir string) {
			require.NoError(t, os.MkdirAll(dir, 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o600))
		}, want: "is not empty (it holds notes.txt)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "new")
			if tc.prepare != nil {
				tc.prepare(t, dir)
			}
			before := listTree(t, parent)
			opts := restoreOpts(dir)
			opts.Network = tc.network
			_, err := store.Restore(ctx, bytes.NewReader(tc.file), tc.ids, opts)
			require.Error(t, err)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "%v", err)
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
			}
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
			}
			require.Equal(t, before, listTree(t, parent), "a refused restore writes nothing")
		})
	}
}

// listTree lists every path under dir.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		out = append(out, p)
		return err
	}))
	return out
}
