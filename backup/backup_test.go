package backup_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/backup"
	"github.com/custos-reserve/custos/reserve"
)

// MustIdentity is an age identity whose secret scalar is 32 bytes of b.
func MustIdentity(tb testing.TB, b byte) *age.X25519Identity {
	tb.Helper()
	enc, err := bech32.EncodeFromBase256("age-secret-key-", bytes.Repeat([]byte{b}, 32))
	require.NoError(tb, err)
	id, err := age.ParseX25519Identity(strings.ToUpper(enc))
	require.NoError(tb, err)
	return id
}

func hashHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// testHeader describes store and files as Write expects.
func testHeader(store []byte, files ...[]byte) backup.Header {
	h := backup.Header{
		Format: backup.Format, Network: "regtest", WalletID: "w1", Schema: 5,
		Time:           time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Store:          backup.Part{Name: backup.StoreName, Mode: 0o600, Size: int64(len(store)), SHA256: hashHex(store)},
		CheckpointSize: 3, Checkpoint: "custos.reserve/00\n3\nAAAA\n\n— sig\n",
	}
	for i, f := range files {
		h.Files = append(h.Files, backup.Part{Name: fmt.Sprintf("tls/f%d", i), Mode: 0o600, Size: int64(len(f)), SHA256: hashHex(f)})
	}
	return h
}

// MustWrite writes a backup of store and files to the identity's recipient.
func MustWrite(tb testing.TB, id *age.X25519Identity, store []byte, files ...[]byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	_, err := backup.Write(&buf, []age.Recipient{id.Recipient()}, testHeader(store, files...), bytes.NewReader(store), files)
	require.NoError(tb, err)
	return buf.Bytes()
}

// rawBackup writes a backup whose header says whatever h says, however
// wrong, and whose encrypted body is body: what an attacker or a broken
// copy could produce.
func rawBackup(tb testing.TB, id *age.X25519Identity, h backup.Header, body []byte) []byte {
	tb.Helper()
	enc, err := h.Encode()
	require.NoError(tb, err)
	return rawBackupHeader(tb, id, enc, body)
}

// rawBackupHeader writes a backup whose header line is enc, as given.
func rawBackupHeader(tb testing.TB, id *age.X25519Identity, enc, body []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s\nheader-sha256 %x\n\n", backup.Format, backup.Digest(enc))
	w, err := age.Encrypt(&buf, id.Recipient())
	require.NoError(tb, err)
	_, err = w.Write(append(append(enc, '\n'), body...))
	require.NoError(tb, err)
	require.NoError(tb, w.Close())
	return buf.Bytes()
}

// readAll opens file with id and reads every part.
func readAll(file []byte, id age.Identity) (store []byte, files [][]byte, h backup.Header, err error) {
	r, err := backup.Open(bytes.NewReader(file), []age.Identity{id})
	if err != nil {
		return nil, nil, backup.Header{}, err
	}
	var sb bytes.Buffer
	if err := r.CopyStore(&sb); err != nil {
		return nil, nil, r.Header, err
	}
	files, err = r.ReadFiles()
	return sb.Bytes(), files, r.Header, err
}

func TestRoundTrip(t *testing.T) {
	id := MustIdentity(t, 1)
	store := bytes.Repeat([]byte("bolt"), 100_000) // several age chunks
	file := MustWrite(t, id, store, []byte("log key\n"), []byte("cert"))
	got, files, h, err := readAll(file, id)
	require.NoError(t, err)
	require.Equal(t, store, got)
	require.Equal(t, [][]byte{[]byte("log key\n"), []byte("cert")}, files)
	require.Equal(t, testHeader(store, []byte("log key\n"), []byte("cert")), h)
	// The digest is readable without the key.
	enc, err := h.Encode()
	require.NoError(t, err)
	require.Contains(t, string(file[:200]), hex.EncodeToString(func() []byte { d := backup.Digest(enc); return d[:] }()))
}

func TestRefused(t *testing.T) {
	id, other := MustIdentity(t, 1), MustIdentity(t, 2)
	store := bytes.Repeat([]byte("bolt"), 100_000) // several age chunks
	good := MustWrite(t, id, store, []byte("key"))
	badStore := testHeader(store, []byte("key"))
	badStore.Store.SHA256 = hashHex([]byte("another store"))
	badFile := testHeader(store, []byte("key"))
	badFile.Files[0].SHA256 = hashHex([]byte("another key"))
	// The header in the clear names a different header than the one inside.
	goodHeader, err := testHeader(store, []byte("key")).Encode()
	require.NoError(t, err)
	payload := append(append([]byte(nil), store...), "key"...)
	swapped := append([]byte(nil), good...)
	copy(swapped[len(backup.Format)+len("\nheader-sha256 "):], "00")

	for _, tc := range []struct {
		name  string
		file  []byte
		id    age.Identity
		want  error
		field string
	}{
		{"foreign file", []byte("PK\x03\x04 a zip file"), id, backup.ErrNotBackup, "backup"},
		{"empty file", nil, id, backup.ErrNotBackup, "backup"},
		{"wrong key", good, other, backup.ErrWrongKey, "backup"},
		{"truncated in the age header", good[:150], id, backup.ErrTruncated, "backup"},
		{"truncated in the store", good[:len(good)/2], id, backup.ErrTruncated, "store"},
		{"truncated in the last chunk", good[:len(good)-1], id, backup.ErrTruncated, ""},
		{"bad store hash", rawBackup(t, id, badStore, append(append([]byte(nil), store...), "key"...)), id, backup.ErrHash, "store"},
		{"bad file hash", rawBackup(t, id, badFile, append(append([]byte(nil), store...), "key"...)), id, backup.ErrHash, "files[0] tls/f0"},
		{"bytes after the last part", rawBackup(t, id, testHeader(store, []byte("key")), append(append([]byte(nil), store...), "keyX"...)), id, backup.ErrNotBackup, "backup"},
		{"header not the digest in the clear", swapped, id, backup.ErrHash, "header"},
		{"a second value after the header", rawBackupHeader(t, id, append(bytes.Clone(goodHeader), "{}"...), payload), id, backup.ErrNotBackup, "header"},
		{"a stray bracket after the header", rawBackupHeader(t, id, append(bytes.Clone(goodHeader), " ]"...), payload), id, backup.ErrNotBackup, "header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := readAll(tc.file, tc.id)
			require.ErrorIs(t, err, tc.want)
			var re *reserve.Error
			require.ErrorAs(t, err, &re)
			require.Equal(t, reserve.CodeInvalid, re.Code)
			if tc.field != "" {
				require.Equal(t, tc.field, re.Field)
			}
		})
	}
}

func TestWriteRefused(t *testing.T) {
	id := MustIdentity(t, 1)
	store := []byte("bolt")
	for _, tc := range []struct {
		name       string
		recipients []age.Recipient
		h          backup.Header
		store      []byte
		code       reserve.Code
	}{
		{"no recipients", nil, testHeader(store), store, reserve.CodeFailedPrecondition},
		{"store differs from its header", []age.Recipient{id.Recipient()}, testHeader(store), []byte("BOLT"), reserve.CodeInternal},
		{"file outside the data dir", []age.Recipient{id.Recipient()}, func() backup.Header {
			h := testHeader(store, []byte("x"))
			h.Files[0].Name = "../x"
			return h
		}(), store, reserve.CodeInvalid},
		{"no checkpoint", []age.Recipient{id.Recipient()}, func() backup.Header { h := testHeader(store); h.Checkpoint = ""; return h }(), store, reserve.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := make([][]byte, len(tc.h.Files))
			for i := range files {
				files[i] = []byte("x")
			}
			_, err := backup.Write(&bytes.Buffer{}, tc.recipients, tc.h, bytes.NewReader(tc.store), files)
			require.Error(t, err)
			require.Equal(t, tc.code, reserve.CodeOf(err), "%v", err)
		})
	}
}

func TestParseRecipients(t *testing.T) {
	id := MustIdentity(t, 1)
	_, err := backup.ParseRecipients(nil)
	require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
	require.ErrorContains(t, err, "--backup-recipient")
	rs, err := backup.ParseRecipients([]string{id.Recipient().String(), MustIdentity(t, 2).Recipient().String()})
	require.NoError(t, err)
	require.Len(t, rs, 2)
	_, err = backup.ParseRecipients([]string{id.String()})
	require.ErrorContains(t, err, "backup recipient[0]")
	require.NotContains(t, err.Error(), id.String(), "a secret key must not be echoed")
	require.False(t, errors.Is(err, backup.ErrNotBackup))
}
