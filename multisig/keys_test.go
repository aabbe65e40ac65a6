package multisig

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

type bip32File struct {
	Valid []struct {
		Name   string `json:"name"`
		Seed   string `json:"seed"`
		Chains []struct {
			Path string `json:"path"`
			XPub string `json:"xpub"`
			XPrv string `json:"xprv"`
		} `json:"chains"`
	} `json:"valid"`
	Invalid []struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	} `json:"invalid"`
}

// TestBIP32Vectors runs BIP-32 test vectors 1 to 4 through DerivePath on
// mainnet: every chain from the master with private derivation, and every
// unhardened step again from the parent's public key.
func TestBIP32Vectors(t *testing.T) {
	var file bip32File
	MustReadJSON(t, "bip32_vectors.json", &file)
	require.Len(t, file.Valid, 4)
	for _, v := range file.Valid {
		t.Run(v.Name, func(t *testing.T) {
			seed, err := hex.DecodeString(v.Seed)
			require.NoError(t, err)
			master, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
			require.NoError(t, err)
			var parentPub *hdkeychain.ExtendedKey
			for _, c := range v.Chains {
				path, err := ParsePath(c.Path)
				require.NoError(t, err, c.Path)
				priv, err := DerivePath(master, path)
				require.NoError(t, err, c.Path)
				require.Equal(t, c.XPrv, priv.String(), "xprv at %s", c.Path)
				pub, err := priv.Neuter()
				require.NoError(t, err)
				require.Equal(t, c.XPub, pub.String(), "xpub at %s", c.Path)

				// Public derivation must agree where it is possible.
				if parentPub != nil && len(path) > 0 && path[len(path)-1] < hdkeychain.HardenedKeyStart {
					child, err := DerivePath(parentPub, path[len(path)-1:])
					require.NoError(t, err)
					require.Equal(t, c.XPub, child.String(), "public derivation to %s", c.Path)
				}
				parentPub = pub

				// The decoder takes both forms back.
				for _, s := range []string{c.XPub, c.XPrv} {
					key, ver, err := decodeExtendedKey(s)
					require.NoError(t, err)
					require.True(t, ver.mainnet)
					require.Equal(t, s, key.String())
				}
			}
			fp, err := MasterFingerprint(master)
			require.NoError(t, err)
			child, err := DerivePath(master, []uint32{h(0)})
			require.NoError(t, err)
			require.Equal(t, child.ParentFingerprint(), fp)
		})
	}
}

// TestBIP32InvalidKeys checks that every key of BIP-32 test vector 5 is
// refused by the decoder, and by ParseKeyRecord without quoting the key.
func TestBIP32InvalidKeys(t *testing.T) {
	var file bip32File
	MustReadJSON(t, "bip32_vectors.json", &file)
	require.Len(t, file.Invalid, 16)
	for _, v := range file.Invalid {
		t.Run(v.Name, func(t *testing.T) {
			_, _, err := decodeExtendedKey(v.Key)
			require.Error(t, err)
			_, err = ParseKeyRecord("[00000000]"+v.Key, reserve.Mainnet)
			RequireInvalid(t, err, "key", "")
			RequireNoKeyText(t, err.Error(), v.Key)
		})
	}
}

func TestParseKeyRecord(t *testing.T) {
	regtest := MustCosigner(t, reserve.Regtest, "record")
	master, masterPub := MustKeyAt(t, &chaincfg.RegressionNetParams, "record", nil)
	child, _ := MustKeyAt(t, &chaincfg.RegressionNetParams, "record", []uint32{h(45)})
	tests := []struct {
		name string
		in   string
		net  reserve.Network
		want reserve.Cosigner
		// text is FormatKeyRecord's output; "" means in itself.
		text string
	}{
		{name: "regtest BIP-48 account", in: FormatKeyRecord(regtest), net: reserve.Regtest, want: regtest},
		{name: "same tpub on testnet", in: FormatKeyRecord(regtest), net: reserve.Testnet, want: regtest},
		{name: "same tpub on signet", in: FormatKeyRecord(regtest), net: reserve.Signet, want: regtest},
		{
			name: "h markers and upper-case fingerprint",
			in:   fmt.Sprintf("[%08X/48h/1h/0h/2h]%s", regtest.Fingerprint, regtest.XPub),
			net:  reserve.Regtest, want: regtest, text: FormatKeyRecord(regtest),
		},
		{name: "master key without path", in: FormatKeyRecord(master), net: reserve.Regtest, want: master},
		{name: "depth-1 key", in: FormatKeyRecord(child), net: reserve.Regtest, want: child},
		{
			name: "BIP-129 mainnet record",
			in:   "[1cf0bf7e/48'/0'/0'/2']xpub6FL8FhxNNUVnG64YurPd16AfGyvFLhh7S2uSsDqR3Qfcm6o9jtcMYwh6DvmcBF9qozxNQmTCVvWtxLpKTnhVLN3Pgnu2D3pAoXYFgVyd8Yz",
			net:  reserve.Mainnet,
			want: reserve.Cosigner{
				Fingerprint: 0x1cf0bf7e, Path: []uint32{h(48), h(0), h(0), h(2)},
				XPub: "xpub6FL8FhxNNUVnG64YurPd16AfGyvFLhh7S2uSsDqR3Qfcm6o9jtcMYwh6DvmcBF9qozxNQmTCVvWtxLpKTnhVLN3Pgnu2D3pAoXYFgVyd8Yz",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKeyRecord(tt.in, tt.net)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			text := tt.text
			if text == "" {
				text = tt.in
			}
			require.Equal(t, text, FormatKeyRecord(got))
		})
	}
	require.Equal(t, "[d34db33f]"+masterPub.String(), FormatKeyRecord(reserve.Cosigner{Fingerprint: 0xd34db33f, XPub: masterPub.String()}))
	require.Equal(t, "[0000000a/0]x", FormatKeyRecord(reserve.Cosigner{Fingerprint: 10, Path: []uint32{0}, XPub: "x"}))
}

func TestParseKeyRecordErrors(t *testing.T) {
	good := MustCosigner(t, reserve.Regtest, "record")
	fp := fmt.Sprintf("%08x", good.Fingerprint)
	origin := "[" + fp + "/48'/1'/0'/2']"

	_, acctPriv, err := DeriveAccount(FixedSeed("record"), reserve.Regtest, 0)
	require.NoError(t, err)
	tprv := acctPriv.String()
	acctPriv.Zero()
	mainnetRec := MustCosigner(t, reserve.Mainnet, "record")
	mainCoinOnTest, _ := MustKeyAt(t, &chaincfg.RegressionNetParams, "record", BIP48Path(reserve.Mainnet, 0))
	testCoinOnMain, _ := MustKeyAt(t, &chaincfg.MainNetParams, "record", BIP48Path(reserve.Regtest, 0))
	nested, _ := MustKeyAt(t, &chaincfg.RegressionNetParams, "record", []uint32{h(48), h(1), h(0), h(1)})
	other, _ := MustKeyAt(t, &chaincfg.RegressionNetParams, "record", []uint32{h(45), h(0), h(7)})
	master, _ := MustKeyAt(t, &chaincfg.RegressionNetParams, "record", nil)
	depth1, _ := MustKeyAt(t, &chaincfg.RegressionNetParams, "record", []uint32{h(45)})
	vpub := mustSLIP132(t, good.XPub, [4]byte{0x02, 0x57, 0x54, 0x83})
	badSum := good.XPub[:len(good.XPub)-1] + flipBase58(good.XPub[len(good.XPub)-1])

	tests := []struct {
		name string
		in   string
		net  reserve.Network
		msg  string
	}{
		{name: "empty", in: "", msg: "empty key record"},
		{name: "no origin", in: good.XPub, msg: "no key origin"},
		{name: "origin not closed", in: "[" + fp + "/48'/1'/0'/2'" + good.XPub, msg: "not closed"},
		{name: "missing origin start", in: fp + "]" + good.XPub, msg: "no key origin"},
		{name: "two origins", in: origin + origin + good.XPub, msg: "more than one key origin"},
		{name: "origin only", in: origin, msg: "no extended key"},
		{name: "fingerprint too short", in: "[d34db33/48'/1'/0'/2']" + good.XPub, msg: "fingerprint has 7 characters, want 8 hex digits"},
		{name: "fingerprint too long", in: "[d34db33f0/48'/1'/0'/2']" + good.XPub, msg: "fingerprint has 9 characters"},
		{name: "private key as fingerprint", in: "[" + tprv + "]" + good.XPub, msg: "fingerprint has 111 characters"},
		{name: "fingerprint not hex", in: "[g34db33f/48'/1'/0'/2']" + good.XPub, msg: "not 8 hex digits"},
		{name: "empty fingerprint", in: "[/48'/1'/0'/2']" + good.XPub, msg: "fingerprint has 0 characters"},
		{name: "private key after a space", in: origin + " " + tprv, msg: "no extended key after the key origin"},
		{name: "trailing slash in origin", in: "[" + fp + "/48'/1'/0'/2'/]" + good.XPub, msg: "empty step"},
		{name: "slash without path", in: "[" + fp + "/]" + good.XPub, msg: "path is empty"},
		{name: "empty step in origin", in: "[" + fp + "/48'//0'/2']" + good.XPub, msg: "empty step"},
		{name: "wildcard in origin", in: "[" + fp + "/48'/1'/0'/*]" + good.XPub, msg: "not a decimal index"},
		{name: "H marker in origin (BIP-380)", in: "[" + fp + "/48H/1H/0H/2H]" + good.XPub, msg: "H is not allowed"},
		{name: "index too large in origin", in: "[" + fp + "/2147483648/1'/0'/2']" + good.XPub, msg: "not below 2^31"},
		{name: "private key", in: origin + tprv, msg: "private key given, want the public key"},
		{name: "private key, damaged", in: origin + tprv[:len(tprv)-1] + flipBase58(tprv[len(tprv)-1]), msg: "private key given"},
		{name: "mainnet key on regtest", in: FormatKeyRecord(mainnetRec), msg: "cosigner key is for mainnet, wallet is regtest"},
		{name: "test key on mainnet", in: FormatKeyRecord(good), net: reserve.Mainnet, msg: "cosigner key is for a test network (tpub), wallet is mainnet"},
		{name: "BIP-48 mainnet coin on regtest", in: FormatKeyRecord(mainCoinOnTest), msg: "is BIP-48 for mainnet (coin type 0'), wallet is regtest"},
		{name: "BIP-48 test coin on mainnet", in: FormatKeyRecord(testCoinOnMain), net: reserve.Mainnet, msg: "is BIP-48 for a test network (coin type 1'), wallet is mainnet"},
		{name: "BIP-48 nested segwit script type", in: FormatKeyRecord(nested), msg: "script type 1', want 2' (P2WSH)"},
		{name: "depth disagrees with origin", in: "[" + fp + "/48'/1'/0']" + good.XPub, msg: "key depth 4 disagrees with origin path"},
		{name: "depth disagrees with empty origin", in: "[" + fp + "]" + good.XPub, msg: "key depth 4 disagrees"},
		{name: "child number disagrees with origin", in: "[" + fp + "/45'/0'/8']" + other.XPub, msg: "key is child 7'"},
		{name: "unhardened origin step for hardened child", in: "[" + fp + "/45'/0'/7]" + other.XPub, msg: "key is child 7'"},
		{name: "master fingerprint mismatch", in: "[00000001]" + master.XPub, msg: "not this master key's fingerprint"},
		{name: "parent fingerprint mismatch", in: "[00000001/45']" + depth1.XPub, msg: "parent fingerprint"},
		{name: "SLIP-132 Vpub", in: origin + vpub, msg: "Vpub keys (SLIP-132) are not supported"},
		{name: "bad base58 checksum", in: origin + badSum, msg: "bad base58 checksum"},
		{name: "truncated key", in: origin + good.XPub[:100], msg: "decodes to"},
		{name: "not base58", in: origin + "0OIl", msg: "no extended key after the key origin"},
		{name: "trailing derivation", in: origin + good.XPub + "/0/*", msg: "unexpected \"/0/*\" after the extended key"},
		{name: "trailing multipath", in: origin + good.XPub + "/<0;1>/*", msg: "unexpected \"/<0;1>/*\""},
		{name: "trailing base58 garbage", in: origin + good.XPub + "abc", msg: "unexpected \"abc\" after the extended key"},
		{name: "trailing newline", in: FormatKeyRecord(good) + "\n", msg: "whitespace"},
		{name: "leading space", in: " " + FormatKeyRecord(good), msg: "whitespace"},
		{name: "inner space", in: origin + " " + good.XPub, msg: "no extended key after the key origin"},
		{name: "unspecified network", in: FormatKeyRecord(good), net: reserve.NetworkUnspecified, msg: "network is not specified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net := tt.net
			if net == 0 && !strings.Contains(tt.name, "unspecified") {
				net = reserve.Regtest
			}
			_, err := ParseKeyRecord(tt.in, net)
			field := "key"
			if net == reserve.NetworkUnspecified {
				field = "network"
			}
			RequireInvalid(t, err, field, tt.msg)
			RequireNoKeyText(t, err.Error(), tprv)
		})
	}
}

// RequireNoKeyText fails if msg holds any 10 consecutive characters of the
// extended key text past its first 16 (version, depth and fingerprint).
func RequireNoKeyText(tb testing.TB, msg, key string) {
	tb.Helper()
	for i := 16; i+10 <= len(key); i++ {
		require.NotContains(tb, msg, key[i:i+10], "an error must never quote a private key")
	}
}

// mustSLIP132 re-encodes an extended public key with other version bytes.
func mustSLIP132(tb testing.TB, xpub string, version [4]byte) string {
	tb.Helper()
	key, err := hdkeychain.NewKeyFromString(xpub)
	require.NoError(tb, err)
	other, err := key.CloneWithVersion(version[:])
	require.NoError(tb, err)
	return other.String()
}

// flipBase58 returns another base58 character than c.
func flipBase58(c byte) string {
	if c == 'z' {
		return "y"
	}
	return "z"
}

type knownWallets struct {
	Accounts []struct {
		Name       string `json:"name"`
		Mnemonic   string `json:"mnemonic"`
		Passphrase string `json:"passphrase"`
		Network    string `json:"network"`
		Account    uint32 `json:"account"`
		Record     string `json:"record"`
	} `json:"accounts"`
	Wallets []struct {
		Name              string   `json:"name"`
		Network           string   `json:"network"`
		Threshold         int      `json:"threshold"`
		Keys              []string `json:"keys"`
		ReceiveDescriptor string   `json:"receive_descriptor"`
		ChangeDescriptor  string   `json:"change_descriptor"`
		ReceiveAddresses  []string `json:"receive_addresses"`
		ChangeAddresses   []string `json:"change_addresses"`
	} `json:"wallets"`
}

// TestDeriveAccountKnown derives account keys of well-known mnemonics and
// compares them with the key records other wallets publish.
func TestDeriveAccountKnown(t *testing.T) {
	var file knownWallets
	MustReadJSON(t, "known_wallets.json", &file)
	require.NotEmpty(t, file.Accounts)
	for _, a := range file.Accounts {
		t.Run(a.Name, func(t *testing.T) {
			net := MustNetwork(t, a.Network)
			seed := MustBIP39Seed(t, a.Mnemonic, a.Passphrase)
			rec, xprv, err := DeriveAccount(seed, net, a.Account)
			require.NoError(t, err)
			defer xprv.Zero()
			require.Equal(t, a.Record, FormatKeyRecord(rec))
			require.Equal(t, BIP48Path(net, a.Account), rec.Path)
			require.True(t, xprv.IsPrivate())
			pub, err := xprv.Neuter()
			require.NoError(t, err)
			require.Equal(t, rec.XPub, pub.String())

			params, err := NetParams(net)
			require.NoError(t, err)
			master, err := hdkeychain.NewMaster(seed, params)
			require.NoError(t, err)
			fp, err := MasterFingerprint(master)
			require.NoError(t, err)
			require.Equal(t, fp, rec.Fingerprint)

			parsed, err := ParseKeyRecord(a.Record, net)
			require.NoError(t, err)
			require.Equal(t, rec, parsed)
		})
	}
}

// TestDeriveAccountSelfConsistent checks DeriveAccount against a plain
// derivation on every network and a few accounts.
func TestDeriveAccountSelfConsistent(t *testing.T) {
	for _, net := range []reserve.Network{reserve.Mainnet, reserve.Testnet, reserve.Signet, reserve.Regtest} {
		for _, account := range []uint32{0, 1, 1<<31 - 1} {
			t.Run(fmt.Sprintf("%s account %d", net, account), func(t *testing.T) {
				params, err := NetParams(net)
				require.NoError(t, err)
				rec, xprv, err := DeriveAccount(FixedSeed("self"), net, account)
				require.NoError(t, err)
				defer xprv.Zero()
				want, _ := MustKeyAt(t, params, "self", BIP48Path(net, account))
				require.Equal(t, want, rec)
				_, err = ParseKeyRecord(FormatKeyRecord(rec), net)
				require.NoError(t, err)
			})
		}
	}
}

func TestDeriveAccountErrors(t *testing.T) {
	tests := []struct {
		name    string
		seed    []byte
		net     reserve.Network
		account uint32
		field   string
		msg     string
	}{
		{name: "seed too short", seed: make([]byte, 15), net: reserve.Regtest, field: "seed", msg: "seed has 15 bytes, want 16 to 64"},
		{name: "seed too long", seed: make([]byte, 65), net: reserve.Regtest, field: "seed", msg: "seed has 65 bytes"},
		{name: "no seed", net: reserve.Regtest, field: "seed", msg: "seed has 0 bytes"},
		{name: "hardened account", seed: FixedSeed("x"), net: reserve.Regtest, account: 1 << 31, field: "account", msg: "not below 2^31"},
		{name: "no network", seed: FixedSeed("x"), field: "network", msg: "not specified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, key, err := DeriveAccount(tt.seed, tt.net, tt.account)
			RequireInvalid(t, err, tt.field, tt.msg)
			require.Nil(t, key)
		})
	}
}

func TestDerivePath(t *testing.T) {
	_, pub := MustKeyAt(t, &chaincfg.RegressionNetParams, "path", []uint32{h(1)})
	_, err := DerivePath(pub, []uint32{0, h(1)})
	RequireInvalid(t, err, "path", "step 2 (1')")
	require.ErrorIs(t, err, hdkeychain.ErrDeriveHardFromPublic)

	_, err = DerivePath(nil, []uint32{0})
	RequireInvalid(t, err, "key", "no key")

	same, err := DerivePath(pub, nil)
	require.NoError(t, err)
	require.Same(t, pub, same)

	// Deriving leaves the parent alone, even when intermediates are wiped.
	master, err := hdkeychain.NewMaster(FixedSeed("path"), &chaincfg.RegressionNetParams)
	require.NoError(t, err)
	before := master.String()
	_, err = DerivePath(master, BIP48Path(reserve.Regtest, 0))
	require.NoError(t, err)
	require.Equal(t, before, master.String())
}

func TestMasterFingerprint(t *testing.T) {
	// BIP-32 test vector 1: m/0H's parent fingerprint is 3442193e.
	seed, err := hex.DecodeString("000102030405060708090a0b0c0d0e0f")
	require.NoError(t, err)
	master, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	require.NoError(t, err)
	fp, err := MasterFingerprint(master)
	require.NoError(t, err)
	require.Equal(t, uint32(0x3442193e), fp)

	child, err := master.Derive(h(0))
	require.NoError(t, err)
	_, err = MasterFingerprint(child)
	RequireInvalid(t, err, "key", "key at depth 1 is not a master key")
	_, err = MasterFingerprint(nil)
	RequireInvalid(t, err, "key", "no master key")
}
