package durable_test

import (
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
