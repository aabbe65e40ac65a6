package durable_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/durable"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")

	require.NoError(t, durable.Write(path, []byte("one"), 0o600, false))
	requireFile(t, path, "one", 0o600)

	// Without overwrite an existing file is refused and left as it is.
	err := durable.Write(path, []byte("two"), 0o600, false)
	require.ErrorIs(t, err, fs.ErrExist)
	requireFile(t, path, "one", 0o600)

	// With overwrite it is replaced whole, with the new mode.
	require.NoError(t, durable.Write(path, []byte("three"), 0o644, true))
	requireFile(t, path, "three", 0o644)

	// No temporary file is left behind, after success or refusal.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)

	// A directory that does not exist is an error naming the file.
	err = durable.Write(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600, true)
	require.ErrorContains(t, err, filepath.Join(dir, "missing", "f"))
}

func requireFile(t *testing.T, path, want string, mode fs.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, string(got))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, mode, st.Mode().Perm())
}

func TestReadLimited(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("a", 10)), 0o600))

	got, err := durable.ReadLimited(path, 10)
	require.NoError(t, err)
	require.Len(t, got, 10)

	_, err = durable.ReadLimited(path, 9)
	require.ErrorIs(t, err, durable.ErrTooLarge)
	require.ErrorContains(t, err, "more than 9 bytes")

	_, err = durable.ReadLimited(filepath.Join(dir, "none"), 10)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// TestWriteFrom: a streamed file is put in place only whole and checked;
// a failing fill or check leaves nothing, an existing file is refused
// before anything is read from the stream.
func TestWriteFrom(t *testing.T) {
	fill := func(w io.Writer) error {
		_, err := io.WriteString(w, "line one\nline two\n")
		return err
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "export.jsonl")
	var seen string
	require.NoError(t, durable.WriteFrom(path, 0o600, false, fill, func(r io.Reader) error {
		b, err := io.ReadAll(r)
		seen = string(b)
		return err
	}))
	require.Equal(t, "line one\nline two\n", seen, "check reads the whole file from its start")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "line one\nline two\n", string(b))

	called := false
	err = durable.WriteFrom(path, 0o600, false, func(io.Writer) error { called = true; return nil }, nil)
	require.ErrorIs(t, err, fs.ErrExist)
	require.False(t, called, "an existing file is refused before the stream is read")

	for name, tc := range map[string]struct {
		fill  func(io.Writer) error
		check func(io.Reader) error
	}{
		"fill fails":  {func(w io.Writer) error { _, _ = io.WriteString(w, "half"); return errors.New("stream broke") }, nil},
		"check fails": {fill, func(io.Reader) error { return errors.New("digest differs") }},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			require.Error(t, durable.WriteFrom(p, 0o600, false, tc.fill, tc.check))
			require.NoFileExists(t, p)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				require.NotContains(t, e.Name(), ".tmp-", "no temporary file left")
			}
		})
	}
}
