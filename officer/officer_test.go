package officer

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// cheapKDF keeps the tests fast; the command line uses DefaultKDF.
var cheapKDF = KDF{Time: 1, MemoryKiB: 64, Threads: 1}

var passphrase = []byte("correct horse battery")

// fixedRand is a deterministic source: seed, then salt, then nonce.
func fixedRand() *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{0x42}, 128)) }

func TestGenerateUnlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alice.key")
	pub, err := Generate(path, passphrase, cheapKDF, fixedRand())
	require.NoError(t, err)
	want := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x42}, 32)).Public().(ed25519.PublicKey)
	require.Equal(t, []byte(want), pub[:])

	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(data), `"public_key": "`+FormatPublicKey(pub)+`"`)
	require.NotContains(t, string(data), "4242424242424242424242424242424242424242424242424242424242424242", "no seed in clear")

	f, err := Read(path)
	require.NoError(t, err)
	require.Equal(t, pub, f.PublicKey)
	priv, err := f.Unlock(passphrase)
	require.NoError(t, err)
	require.Equal(t, []byte(want), []byte(priv.Public().(ed25519.PublicKey)))

	// It signs intents that verify under the public key.
	in := testIntent()
	a, err := reserve.SignIntent(&in, reserve.DecisionApprove, priv)
	require.NoError(t, err)
	require.Equal(t, pub, a.OfficerKey)
	require.NoError(t, reserve.VerifyApproval(&in, reserve.DecisionApprove, a))

	_, err = f.Unlock([]byte("not the passphrase"))
	require.ErrorIs(t, err, ErrWrongPassphrase)
	require.Equal(t, reserve.CodeDenied, reserve.CodeOf(err))
}

func testIntent() reserve.Intent {
	return reserve.Intent{
		Network: reserve.Regtest, WalletID: "0123456789abcdef", ProposalID: "P000001",
		Payees:    []reserve.IntentPayee{{Script: []byte{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, AmountSat: 50_000}},
		FeeCapSat: 10_000, ExpiresAt: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC),
	}
}

func TestGenerateRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	require.NoError(t, os.WriteFile(path, []byte("keep"), 0o600))
	_, err := Generate(path, passphrase, cheapKDF, fixedRand())
	require.Equal(t, reserve.CodeConflict, reserve.CodeOf(err))
	require.ErrorContains(t, err, "refusing to overwrite")
	data, _ := os.ReadFile(path)
	require.Equal(t, "keep", string(data))

	_, err = Generate(filepath.Join(dir, "short"), []byte("short"), cheapKDF, fixedRand())
	require.ErrorContains(t, err, "at least 8 characters")
	_, err = Generate(filepath.Join(dir, "kdf"), passphrase, KDF{Time: 0, MemoryKiB: 64, Threads: 1}, fixedRand())
	require.ErrorContains(t, err, "argon2id time 0")
	_, err = Generate(filepath.Join(dir, "rand"), passphrase, cheapKDF, bytes.NewReader(nil))
	require.ErrorContains(t, err, "unable to read randomness")
	require.NoFileExists(t, filepath.Join(dir, "short"))
}

// TestTamperedFile: every header field is bound to the ciphertext.
func TestTamperedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alice.key")
	_, err := Generate(path, passphrase, cheapKDF, fixedRand())
	require.NoError(t, err)
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	var j map[string]any
	require.NoError(t, json.Unmarshal(orig, &j))

	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)).Public().(ed25519.PublicKey)
	var otherKey [32]byte
	copy(otherKey[:], other)
	for name, tt := range map[string]struct {
		edit func(map[string]any)
		want string
	}{
		"public key swapped": {func(m map[string]any) { m["public_key"] = FormatPublicKey(otherKey) }, "wrong passphrase or corrupted"},
		"kdf time raised":    {func(m map[string]any) { m["kdf_params"].(map[string]any)["time"] = 2 }, "wrong passphrase or corrupted"},
		"salt changed":       {func(m map[string]any) { m["salt"] = "00000000000000000000000000000000" }, "wrong passphrase or corrupted"},
		"type":               {func(m map[string]any) { m["type"] = "custos-signer-key" }, `not an officer key file (type "custos-signer-key")`},
		"version 2":          {func(m map[string]any) { m["version"] = 2 }, "unsupported officer key file version 2"},
		"unknown field":      {func(m map[string]any) { m["note"] = "x" }, `unknown field "note"`},
		"short ciphertext":   {func(m map[string]any) { m["ciphertext"] = "00" }, "ciphertext is not 48 bytes of hex"},
		"bad key":            {func(m map[string]any) { m["public_key"] = "ed25519:zz" }, "is not ed25519:<64 hex digits>"},
		"huge kdf memory":    {func(m map[string]any) { m["kdf_params"].(map[string]any)["memory_kib"] = 1 << 30 }, "argon2id memory"},
	} {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			require.NoError(t, json.Unmarshal(orig, &m))
			tt.edit(m)
			data, err := json.Marshal(m)
			require.NoError(t, err)
			p := filepath.Join(t.TempDir(), "k")
			require.NoError(t, os.WriteFile(p, data, 0o600))
			f, err := Read(p)
			if err == nil {
				_, err = f.Unlock(passphrase)
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, bytes.Repeat([]byte(" "), maxFileBytes+1), 0o600))
	_, err = Read(big)
	require.ErrorContains(t, err, "not an officer key file")
	_, err = Read(filepath.Join(dir, "missing"))
	require.ErrorContains(t, err, "unable to read officer key")
}

// TestAuditorKeyFile: an auditor's login key file has the officer file's
// format under its own type, bound into the associated data: it opens as
// an auditor key, is refused as an officer key (and the other way round),
// and a file whose type was rewritten does not open.
func TestAuditorKeyFile(t *testing.T) {
	dir := t.TempDir()
	pass := []byte("correct horse battery")
	path := filepath.Join(dir, "auditor.key")
	pub, err := GenerateAuditor(path, pass, cheapKDF, fixedRand())
	require.NoError(t, err)
	f, err := ReadAuditor(path)
	require.NoError(t, err)
	require.Equal(t, AuditorFileType, f.Type)
	priv, err := f.Unlock(pass)
	require.NoError(t, err)
	require.Equal(t, pub[:], []byte(priv.Public().(ed25519.PublicKey)))

	_, err = Read(path)
	require.ErrorContains(t, err, `not an officer key file (type "custos-auditor-key")`)
	officerPath := filepath.Join(dir, "officer.key")
	_, err = Generate(officerPath, pass, cheapKDF, fixedRand())
	require.NoError(t, err)
	_, err = ReadAuditor(officerPath)
	require.ErrorContains(t, err, `not an auditor login key file (type "custos-officer-key")`)

	// The type is authenticated: an auditor file relabelled as an
	// officer's reads, but does not unlock.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	relabelled := filepath.Join(dir, "relabelled.key")
	require.NoError(t, os.WriteFile(relabelled, bytes.Replace(raw, []byte(AuditorFileType), []byte(FileType), 1), 0o600))
	g, err := Read(relabelled)
	require.NoError(t, err)
	_, err = g.Unlock(pass)
	require.ErrorIs(t, err, ErrWrongPassphrase)
}

// TestTrailingData: a key file is one JSON value; white space may follow
// it, anything else is refused (json.Decoder alone reads the first value).
func TestTrailingData(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alice.key")
	_, err := Generate(path, passphrase, cheapKDF, fixedRand())
	require.NoError(t, err)
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	tests := []struct {
		name  string
		after string
		ok    bool
	}{
		{name: "white space", after: "\n  \t\r\n", ok: true},
		{name: "a second value", after: `{"version":1}`},
		{name: "a stray bracket", after: "]"},
		{name: "a stray brace", after: "}"},
		{name: "text", after: "hello"},
		{name: "a number", after: " 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k")
			require.NoError(t, os.WriteFile(p, append(bytes.Clone(orig), tt.after...), 0o600))
			f, err := Read(p)
			if tt.ok {
				require.NoError(t, err)
				_, err = f.Unlock(passphrase)
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "data after the JSON value")
		})
	}
}
