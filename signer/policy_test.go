package signer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

func TestPinPolicy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, signer.PolicyFileName)
	text := signertest.PolicyYAML(signertest.Officers())
	want := signertest.MustParsePolicy(t, text).Hash()

	// None pinned: LoadPolicy says how to pin one.
	_, err := signer.LoadPolicy(dir)
	require.ErrorIs(t, err, signer.ErrNoPolicy)
	require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
	require.EqualError(t, err, "no spending policy registered in "+dir+": run register --policy FILE first")

	pin, err := signer.PinPolicy(dir, text)
	require.NoError(t, err)
	require.Equal(t, signer.Registered, pin.Status)
	require.Equal(t, want, pin.Hash)
	require.Equal(t, want, pin.Policy.Hash())
	requireFile(t, path, text)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	p, err := signer.LoadPolicy(dir)
	require.NoError(t, err)
	require.Equal(t, want, p.Hash())

	// The same policy again: unchanged. With a comment added, the hash is
	// the same and the file takes the new text.
	pin, err = signer.PinPolicy(dir, text)
	require.NoError(t, err)
	require.Equal(t, signer.Unchanged, pin.Status)
	commented := append([]byte("# reviewed 2026-11-30\n"), text...)
	pin, err = signer.PinPolicy(dir, commented)
	require.NoError(t, err)
	require.Equal(t, signer.Unchanged, pin.Status)
	requireFile(t, path, commented)

	// Another policy replaces it, and says what it replaced.
	other := signertest.PolicyYAML([]signertest.Officer{signertest.Alice(), signertest.Dave()})
	pin, err = signer.PinPolicy(dir, other)
	require.NoError(t, err)
	require.Equal(t, signer.Replaced, pin.Status)
	require.Equal(t, want, pin.Previous)
	require.NoError(t, pin.PreviousErr)
	require.NotEqual(t, want, pin.Hash)
	requireFile(t, path, other)

	// A malformed policy is refused with its line and field, and the
	// pinned one stays.
	bad := []byte(strings.Replace(string(text), `max_fee: "0.01"`, "max_fee: 0.01", 1))
	_, err = signer.PinPolicy(dir, bad)
	require.ErrorContains(t, err, "policy line 28: fees.max_fee: write BTC amounts in quotes")
	require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
	requireFile(t, path, other)

	// A pinned file that no longer parses stops signing, and a new
	// registration replaces it.
	require.NoError(t, os.WriteFile(path, []byte("version: 2\n"), 0o600))
	_, err = signer.LoadPolicy(dir)
	require.ErrorContains(t, err, "the pinned policy "+path+" is not valid (policy line 1: version:")
	require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
	pin, err = signer.PinPolicy(dir, text)
	require.NoError(t, err)
	require.Equal(t, signer.Replaced, pin.Status)
	require.Error(t, pin.PreviousErr)
	require.Zero(t, pin.Previous)
	requireFile(t, path, text)
}

func requireFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))
}
