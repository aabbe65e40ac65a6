package signer_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/stretchr/testify/require"
	"github.com/tyler-smith/go-bip39"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
)

func TestInitUnlockRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "signer")
	rec := MustInit(t, dir)
	require.Equal(t, recordArt, multisig.FormatKeyRecord(rec))

	// File and directory are private to the owner.
	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	path := filepath.Join(dir, signer.KeyFileName)
	st, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temp file may be left behind")

	// The header is readable without the passphrase and holds no secret.
	kf, err := signer.ReadKeyFile(dir)
	require.NoError(t, err)
	require.Equal(t, reserve.Regtest, kf.Network)
	require.Equal(t, uint32(0), kf.Account)
	require.Equal(t, cheapKDF, kf.KDF)
	require.Equal(t, signer.KeyFileVersion, kf.Version)
	require.Equal(t, rec, kf.Record)

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var j map[string]any
	require.NoError(t, json.Unmarshal(data, &j))
	require.Equal(t, float64(1), j["version"])
	require.Equal(t, "regtest", j["network"])
	require.Equal(t, "argon2id", j["kdf"])
	require.Equal(t, recordArt, j["key_record"])
	require.Len(t, j["salt"], 32)
	seed := bip39.NewSeed(mnemonicArt, "")
	require.NotContains(t, string(data), hex.EncodeToString(seed))
	require.NotContains(t, string(data), "abandon")

	key := MustUnlock(t, dir)
	require.Equal(t, rec, key.Record())
	require.Equal(t, recordArt, key.RecordString())
	require.Equal(t, reserve.Regtest, key.Network())
	require.Equal(t, uint32(0), key.Account())

	// The private key is the one the mnemonic gives at m/48'/1'/0'/2'/0/5.
	priv, err := key.PrivKey(reserve.BranchReceive, 5)
	require.NoError(t, err)
	defer priv.Zero()
	params, err := multisig.NetParams(reserve.Regtest)
	require.NoError(t, err)
	master, err := hdkeychain.NewMaster(seed, params)
	require.NoError(t, err)
	want, err := multisig.DerivePath(master, append(multisig.BIP48Path(reserve.Regtest, 0), 0, 5))
	require.NoError(t, err)
	wantPriv, err := want.ECPrivKey()
	require.NoError(t, err)
	require.Equal(t, wantPriv.Serialize(), priv.Serialize())

	_, err = key.PrivKey(reserve.BranchChange, hdkeychain.HardenedKeyStart)
	require.Error(t, err)
	key.Zero()
	_, err = key.PrivKey(reserve.BranchReceive, 0)
	require.Error(t, err, "a zeroed key must not sign")
}

func TestInitUsesItsRandomness(t *testing.T) {
	cfg := testConfig()
	cfg.Rand = bytes.NewReader(bytes.Repeat([]byte{0x5a}, 1024))
	cfg.Account = 7
	cfg.Network = reserve.Testnet
	mnemonic, rec, err := signer.Init(t.TempDir(), cfg, testPassphrase)
	require.NoError(t, err)
	entropy, err := bip39.EntropyFromMnemonic(mnemonic)
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte{0x5a}, 32), entropy)
	require.Len(t, strings.Fields(mnemonic), signer.MnemonicWords)
	require.Equal(t, "48'/1'/7'/2'", multisig.FormatPath(rec.Path))

	// A source that runs dry is an error, not a weak key.
	cfg.Rand = bytes.NewReader(make([]byte, 10))
	_, _, err = signer.Init(t.TempDir(), cfg, testPassphrase)
	require.Error(t, err)
}

func TestInitRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*signer.Config)
		pass   string
		field  string
	}{
		{name: "no network", modify: func(c *signer.Config) { c.Network = reserve.NetworkUnspecified }, field: "network"},
		{name: "unknown network", modify: func(c *signer.Config) { c.Network = 99 }, field: "network"},
		{name: "hardened account", modify: func(c *signer.Config) { c.Account = 1 << 31 }, field: "account"},
		{name: "zero kdf time", modify: func(c *signer.Config) { c.KDF = signer.KDFParams{Time: 0, MemoryKiB: 64, Threads: 1} }, field: "kdf"},
		{name: "huge kdf memory", modify: func(c *signer.Config) { c.KDF = signer.KDFParams{Time: 1, MemoryKiB: 1 << 30, Threads: 1} }, field: "kdf"},
		{name: "short passphrase", pass: "1234567", field: "passphrase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.modify != nil {
				tt.modify(&cfg)
			}
			pass := testPassphrase
			if tt.pass != "" {
				pass = []byte(tt.pass)
			}
			dir := t.TempDir()
			_, _, err := signer.Init(dir, cfg, pass)
			var re *reserve.Error
			require.ErrorAs(t, err, &re)
			require.Equal(t, reserve.CodeInvalid, re.Code)
			require.Equal(t, tt.field, re.Field)
			require.NoFileExists(t, filepath.Join(dir, signer.KeyFileName))
		})
	}
}

func TestUnlockWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	MustInit(t, dir)
	path := filepath.Join(dir, signer.KeyFileName)
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	for _, pass := range []string{"correct horse battery!", "Correct horse battery", "x"} {
		k, err := signer.Unlock(dir, []byte(pass))
		require.ErrorIs(t, err, signer.ErrWrongPassphrase)
		require.ErrorContains(t, err, "wrong passphrase or corrupted key file")
		require.Equal(t, reserve.CodeDenied, reserve.CodeOf(err))
		require.Nil(t, k)
	}
	_, err = signer.Unlock(dir, nil)
	require.Error(t, err)

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after)
}

func TestUnlockRefusesTamperedFile(t *testing.T) {
	other := multisig.FormatKeyRecord(MustCosigner(t, 1, reserve.Regtest))
	tests := []struct {
		name   string
		edit   func(j map[string]any)
		wrongP bool // the AEAD catches it (as opposed to the parser)
	}{
		{name: "network regtest to testnet", edit: func(j map[string]any) { j["network"] = "testnet" }, wrongP: true},
		{name: "network regtest to signet", edit: func(j map[string]any) { j["network"] = "signet" }, wrongP: true},
		{name: "network regtest to mainnet", edit: func(j map[string]any) { j["network"] = "mainnet" }},
		{name: "account", edit: func(j map[string]any) { j["account"] = 1 }, wrongP: true},
		{name: "key record of another key", edit: func(j map[string]any) { j["key_record"] = other }, wrongP: true},
		{name: "key record fingerprint", edit: func(j map[string]any) {
			j["key_record"] = strings.Replace(j["key_record"].(string), "5436d724", "5436d725", 1)
		}, wrongP: true},
		{name: "key record garbage", edit: func(j map[string]any) { j["key_record"] = "[5436d724/48'/1'/0'/2']tpubGARBAGE" }},
		{name: "kdf time", edit: func(j map[string]any) { j["kdf_params"].(map[string]any)["time"] = 2 }, wrongP: true},
		{name: "kdf memory", edit: func(j map[string]any) { j["kdf_params"].(map[string]any)["memory_kib"] = 128 }, wrongP: true},
		{name: "kdf threads", edit: func(j map[string]any) { j["kdf_params"].(map[string]any)["threads"] = 2 }, wrongP: true},
		{name: "kdf absurd memory", edit: func(j map[string]any) { j["kdf_params"].(map[string]any)["memory_kib"] = 1 << 31 }},
		{name: "kdf name", edit: func(j map[string]any) { j["kdf"] = "scrypt" }},
		{name: "salt", edit: func(j map[string]any) { j["salt"] = strings.Repeat("01", 16) }, wrongP: true},
		{name: "short salt", edit: func(j map[string]any) { j["salt"] = "00" }},
		{name: "version", edit: func(j map[string]any) { j["version"] = 2 }},
		{name: "cipher", edit: func(j map[string]any) { j["cipher"] = "aes256gcm" }},
		{name: "nonce", edit: func(j map[string]any) { j["nonce"] = strings.Repeat("01", 24) }, wrongP: true},
		{name: "ciphertext bit flip", edit: func(j map[string]any) {
			ct, _ := hex.DecodeString(j["ciphertext"].(string))
			ct[10] ^= 1
			j["ciphertext"] = hex.EncodeToString(ct)
		}, wrongP: true},
		{name: "ciphertext tag flip", edit: func(j map[string]any) {
			ct, _ := hex.DecodeString(j["ciphertext"].(string))
			ct[len(ct)-1] ^= 0x80
			j["ciphertext"] = hex.EncodeToString(ct)
		}, wrongP: true},
		{name: "ciphertext truncated", edit: func(j map[string]any) {
			s := j["ciphertext"].(string)
			j["ciphertext"] = s[:len(s)-2]
		}},
		{name: "unknown field", edit: func(j map[string]any) { j["xprv"] = "tprv…" }},
		{name: "field missing", edit: func(j map[string]any) { delete(j, "salt") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			MustInit(t, dir)
			path := filepath.Join(dir, signer.KeyFileName)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			var j map[string]any
			require.NoError(t, json.Unmarshal(data, &j))
			tt.edit(j)
			edited, err := json.Marshal(j)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, edited, 0o600))

			k, err := signer.Unlock(dir, testPassphrase)
			require.Error(t, err)
			require.Nil(t, k)
			if tt.wrongP {
				require.ErrorIs(t, err, signer.ErrWrongPassphrase)
			} else {
				require.ErrorContains(t, err, "corrupted")
			}
		})
	}
}

func TestUnlockRefusesUnrelatedFiles(t *testing.T) {
	dir := t.TempDir()
	_, err := signer.Unlock(dir, testPassphrase)
	require.ErrorIs(t, err, signer.ErrNoKey)
	require.Equal(t, reserve.CodeNotFound, reserve.CodeOf(err))

	require.NoError(t, os.WriteFile(filepath.Join(dir, signer.KeyFileName), []byte("not json"), 0o600))
	_, err = signer.Unlock(dir, testPassphrase)
	require.ErrorContains(t, err, "corrupted")

	require.NoError(t, os.WriteFile(filepath.Join(dir, signer.KeyFileName), bytes.Repeat([]byte{' '}, 1<<20), 0o600))
	_, err = signer.Unlock(dir, testPassphrase)
	require.Error(t, err)
}

func TestInitRefusesExistingKey(t *testing.T) {
	dir := t.TempDir()
	MustInit(t, dir)
	path := filepath.Join(dir, signer.KeyFileName)
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	cfg := testConfig()
	cfg.Rand = bytes.NewReader(bytes.Repeat([]byte{1}, 1024))
	_, _, err = signer.Init(dir, cfg, testPassphrase)
	require.ErrorIs(t, err, signer.ErrKeyExists)
	require.Equal(t, reserve.CodeConflict, reserve.CodeOf(err))
	_, err = signer.Restore(dir, cfg, mnemonicAbout, testPassphrase)
	require.ErrorIs(t, err, signer.ErrKeyExists)
	require.ErrorIs(t, signer.CheckNoKey(dir), signer.ErrKeyExists)
	require.NoError(t, signer.CheckNoKey(t.TempDir()))

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, before, after)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestRestoreKnownMnemonics(t *testing.T) {
	tests := []struct {
		name     string
		mnemonic string
		record   string
		fp       uint32
	}{
		{name: "24 words abandon art", mnemonic: mnemonicArt, record: recordArt, fp: 0x5436d724},
		{name: "12 words abandon about", mnemonic: mnemonicAbout, record: recordAbout, fp: 0x73c5da0a},
		{name: "case and spacing do not matter", mnemonic: "  " + strings.ToUpper(strings.ReplaceAll(mnemonicArt, " ", " \t ")) + "\n", record: recordArt, fp: 0x5436d724},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rec, err := signer.Restore(dir, testConfig(), tt.mnemonic, testPassphrase)
			require.NoError(t, err)
			require.Equal(t, tt.record, multisig.FormatKeyRecord(rec))
			require.Equal(t, tt.fp, rec.Fingerprint)

			// Cross-check the fingerprint with btcutil directly.
			norm, err := signer.ParseMnemonic(tt.mnemonic)
			require.NoError(t, err)
			params, err := multisig.NetParams(reserve.Regtest)
			require.NoError(t, err)
			master, err := hdkeychain.NewMaster(bip39.NewSeed(norm, ""), params)
			require.NoError(t, err)
			pub, err := master.ECPubKey()
			require.NoError(t, err)
			require.Equal(t, hex.EncodeToString(btcutil.Hash160(pub.SerializeCompressed())[:4]), tt.record[1:9])

			require.Equal(t, tt.record, MustUnlock(t, dir).RecordString())
		})
	}
}

func TestParseMnemonicErrors(t *testing.T) {
	words := strings.Fields(mnemonicArt)
	badWord := append([]string(nil), words...)
	badWord[4] = "abandn"
	tests := []struct {
		name     string
		mnemonic string
		want     string
	}{
		{name: "empty", mnemonic: "", want: "has 0 words"},
		{name: "23 words", mnemonic: strings.Join(words[:23], " "), want: "has 23 words"},
		{name: "25 words", mnemonic: mnemonicArt + " art", want: "has 25 words"},
		{name: "unknown word", mnemonic: strings.Join(badWord, " "), want: "word 5 is not in the BIP-39 English word list"},
		{name: "bad checksum", mnemonic: strings.Repeat("abandon ", 24), want: "checksum does not match"},
		{name: "words swapped", mnemonic: "art " + strings.Repeat("abandon ", 23), want: "checksum does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signer.ParseMnemonic(tt.mnemonic)
			require.ErrorContains(t, err, tt.want)
			require.NotContains(t, err.Error(), "abandn", "errors must not echo words")
			var re *reserve.Error
			require.ErrorAs(t, err, &re)
			require.Equal(t, "mnemonic", re.Field)

			dir := t.TempDir()
			_, err = signer.Restore(dir, testConfig(), tt.mnemonic, testPassphrase)
			require.ErrorContains(t, err, tt.want)
			require.NoFileExists(t, filepath.Join(dir, signer.KeyFileName))
		})
	}
}

// TestUnlockRefusesTrailingData: the key file is one JSON value; white
// space may follow it, anything else is refused (json.Decoder alone reads
// the first value and ignores the rest).
func TestUnlockRefusesTrailingData(t *testing.T) {
	tests := []struct {
		name  string
		after string
		ok    bool
	}{
		{name: "white space", after: "\n \t\r\n", ok: true},
		{name: "a second value", after: `{"version":1}`},
		{name: "a stray bracket", after: "]"},
		{name: "text", after: "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			MustInit(t, dir)
			path := filepath.Join(dir, signer.KeyFileName)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, append(data, tt.after...), 0o600))
			k, err := signer.Unlock(dir, testPassphrase)
			if tt.ok {
				require.NoError(t, err)
				require.NotNil(t, k)
				return
			}
			require.ErrorContains(t, err, "corrupted")
			require.ErrorContains(t, err, "data after the JSON value")
		})
	}
}
