package multisig

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

type bip129File struct {
	Wallets []struct {
		Name             string   `json:"name"`
		Network          string   `json:"network"`
		Threshold        int      `json:"threshold"`
		Keys             []string `json:"keys"`
		BSMSDescriptor   string   `json:"bsms_descriptor"`
		PathRestrictions string   `json:"path_restrictions"`
		FirstAddress     string   `json:"first_address"`
	} `json:"wallets"`
	RefusedKeys []struct {
		Name  string `json:"name"`
		Key   string `json:"key"`
		Error string `json:"error"`
	} `json:"refused_keys"`
}

// TestBIP129 checks key records, descriptor and first address of the
// BIP-129 (BSMS) 2-of-2 wallets on mainnet.
func TestBIP129(t *testing.T) {
	var file bip129File
	MustReadJSON(t, "bip129_vectors.json", &file)
	require.Len(t, file.Wallets, 2)
	for _, w := range file.Wallets {
		t.Run(w.Name, func(t *testing.T) {
			net := MustNetwork(t, w.Network)
			keys := make([]reserve.Cosigner, len(w.Keys))
			for i, rec := range w.Keys {
				c, err := ParseKeyRecord(rec, net)
				require.NoError(t, err)
				require.Equal(t, rec, FormatKeyRecord(c))
				keys[i] = c
			}
			d, err := NewDescriptor(net, w.Threshold, keys)
			require.NoError(t, err)
			got, err := d.Derive(reserve.BranchReceive, 0)
			require.NoError(t, err)
			require.Equal(t, w.FirstAddress, got.Address)

			// BSMS writes /** for /<0;1>/*; spelled out, it is our form.
			require.Equal(t, "/0/*,/1/*", w.PathRestrictions)
			ours := strings.ReplaceAll(w.BSMSDescriptor, "/**", multipathTail)
			parsed, err := ParseDescriptor(ours, net)
			require.NoError(t, err)
			require.Equal(t, d.String(), parsed.String())
			require.True(t, strings.HasPrefix(d.String(), ours+"#"))

			_, err = ParseDescriptor(w.BSMSDescriptor, net)
			RequireInvalid(t, err, "cosigner[0]", shapeMsg)
		})
	}
	require.NotEmpty(t, file.RefusedKeys)
	for _, k := range file.RefusedKeys {
		t.Run(k.Name, func(t *testing.T) {
			_, err := ParseKeyRecord(k.Key, reserve.Mainnet)
			RequireInvalid(t, err, "key", k.Error)
		})
	}
}

// TestKnownWallets compares our single-path descriptors (with checksums)
// and addresses with a wallet another implementation published.
func TestKnownWallets(t *testing.T) {
	var file knownWallets
	MustReadJSON(t, "known_wallets.json", &file)
	require.NotEmpty(t, file.Wallets)
	for _, w := range file.Wallets {
		t.Run(w.Name, func(t *testing.T) {
			net := MustNetwork(t, w.Network)
			keys := make([]reserve.Cosigner, len(w.Keys))
			for i, rec := range w.Keys {
				c, err := ParseKeyRecord(rec, net)
				require.NoError(t, err)
				keys[i] = c
			}
			d, err := NewDescriptor(net, w.Threshold, keys)
			require.NoError(t, err)
			require.Equal(t, w.ReceiveDescriptor, d.BranchString(reserve.BranchReceive))
			require.Equal(t, w.ChangeDescriptor, d.BranchString(reserve.BranchChange))
			for b, addrs := range [][]string{w.ReceiveAddresses, w.ChangeAddresses} {
				for i, want := range addrs {
					got, err := d.Derive(reserve.Branch(b), uint32(i))
					require.NoError(t, err)
					require.Equal(t, want, got.Address, "%s %d", reserve.Branch(b), i)
				}
			}
		})
	}
}

// regtestGolden pins the regtest wallet of the fixed test seeds, so that a
// change in any output shows up as a diff. Rewrite with -update.
type regtestGolden struct {
	Descriptor        string          `json:"descriptor"`
	ReceiveDescriptor string          `json:"receive_descriptor"`
	ChangeDescriptor  string          `json:"change_descriptor"`
	WalletID          string          `json:"wallet_id"`
	Receive           []goldenDerived `json:"receive"`
	Change            []goldenDerived `json:"change"`
}

type goldenDerived struct {
	Index         uint32   `json:"index"`
	Address       string   `json:"address"`
	WitnessScript string   `json:"witness_script"`
	PkScript      string   `json:"pk_script"`
	PubKeys       []string `json:"pub_keys"`
}

// TestRegtestDescriptor checks that on regtest String and BranchString are
// consistent: the multipath form parses back to the same descriptor, with
// or without its checksum; each single-path form has a valid checksum and
// is the multipath form with /<0;1>/ resolved.
func TestRegtestDescriptor(t *testing.T) {
	d := MustDescriptor(t, reserve.Regtest, 2, 3)
	s := d.String()
	require.Regexp(t, `^wsh\(sortedmulti\(2,(\[[0-9a-f]{8}/48'/1'/0'/2'\]tpub[1-9A-HJ-NP-Za-km-z]+/<0;1>/\*,?){3}\)\)#[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{8}$`, s)

	body, sum, ok := strings.Cut(s, "#")
	require.True(t, ok)
	for _, in := range []string{s, body} {
		back, err := ParseDescriptor(in, reserve.Regtest)
		require.NoError(t, err)
		require.Equal(t, s, back.String())
		require.Equal(t, d.Cosigners(), back.Cosigners())
		require.Equal(t, d.Threshold(), back.Threshold())
		require.Equal(t, reserve.Regtest, back.Network())
		require.Equal(t, d.WalletID(), back.WalletID())
	}
	want, err := DescriptorChecksum(body)
	require.NoError(t, err)
	require.Equal(t, want, sum)

	for b, step := range []string{"/0/*", "/1/*"} {
		bs := d.BranchString(reserve.Branch(b))
		single, err := splitChecksum(bs)
		require.NoError(t, err, "checksum of %s", bs)
		require.Equal(t, strings.ReplaceAll(body, multipathTail, step), single)
		require.NotEqual(t, s, bs)
	}
	require.Empty(t, d.BranchString(2))

	golden := regtestGolden{
		Descriptor:        s,
		ReceiveDescriptor: d.BranchString(reserve.BranchReceive),
		ChangeDescriptor:  d.BranchString(reserve.BranchChange),
		WalletID:          d.WalletID(),
	}
	for i := range uint32(3) {
		golden.Receive = append(golden.Receive, mustGoldenDerived(t, d, reserve.BranchReceive, i))
		golden.Change = append(golden.Change, mustGoldenDerived(t, d, reserve.BranchChange, i))
	}
	path := filepath.Join("testdata", "regtest_wallet.golden.json")
	if *update {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // keep /<0;1>/* readable
		enc.SetIndent("", "  ")
		require.NoError(t, enc.Encode(golden))
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	}
	var stored regtestGolden
	MustReadJSON(t, filepath.Base(path), &stored)
	require.Equal(t, stored, golden, "run go test -run TestRegtestDescriptor -update to rewrite %s", path)
}

func mustGoldenDerived(tb testing.TB, d *Descriptor, b reserve.Branch, i uint32) goldenDerived {
	tb.Helper()
	got, err := d.Derive(b, i)
	require.NoError(tb, err)
	g := goldenDerived{
		Index: i, Address: got.Address,
		WitnessScript: hex.EncodeToString(got.WitnessScript),
		PkScript:      hex.EncodeToString(got.PkScript),
	}
	for _, k := range got.PubKeys {
		g.PubKeys = append(g.PubKeys, hex.EncodeToString(k))
	}
	return g
}

func TestWalletID(t *testing.T) {
	d := MustDescriptor(t, reserve.Regtest, 2, 3)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{16}$`), d.WalletID())

	// The id follows what String says: threshold and key order count.
	keys := d.Cosigners()
	other, err := NewDescriptor(reserve.Regtest, 3, keys)
	require.NoError(t, err)
	require.NotEqual(t, d.WalletID(), other.WalletID())
	slices.Reverse(keys)
	reordered, err := NewDescriptor(reserve.Regtest, 2, keys)
	require.NoError(t, err)
	require.NotEqual(t, d.WalletID(), reordered.WalletID())

	// … but sortedmulti makes the scripts independent of key order.
	for i := range uint32(5) {
		a, err := d.Derive(reserve.BranchReceive, i)
		require.NoError(t, err)
		b, err := reordered.Derive(reserve.BranchReceive, i)
		require.NoError(t, err)
		require.Equal(t, a.Address, b.Address)
		require.Equal(t, a.WitnessScript, b.WitnessScript)
		require.NotEqual(t, a.PubKeys, b.PubKeys, "PubKeys follow descriptor order")
	}
}

func TestCosignersIsCopy(t *testing.T) {
	d := MustDescriptor(t, reserve.Regtest, 2, 3)
	before := d.String()
	keys := d.Cosigners()
	keys[0].Path[0] = 0
	keys[1].XPub = "changed"
	keys = append(keys[:1], keys[2:]...)
	require.Len(t, d.Cosigners(), 3)
	require.Equal(t, before, d.String())
	require.Equal(t, BIP48Path(reserve.Regtest, 0), d.Cosigners()[0].Path)

	// NewDescriptor copies its input too.
	in := MustCosigners(t, reserve.Regtest, 2)
	d2, err := NewDescriptor(reserve.Regtest, 1, in)
	require.NoError(t, err)
	in[0].Path[1] = 0
	require.Equal(t, BIP48Path(reserve.Regtest, 0), d2.Cosigners()[0].Path)
}

func TestPosition(t *testing.T) {
	keys := MustCosigners(t, reserve.Regtest, 3)
	d, err := NewDescriptor(reserve.Regtest, 2, keys)
	require.NoError(t, err)
	for i, c := range keys {
		require.Equal(t, i, d.Position(c.XPub))
		require.Equal(t, i, d.Position(FormatKeyRecord(c)))
	}

	// Same public key, other chain code: not the same cosigner.
	acct, err := hdkeychain.NewKeyFromString(keys[1].XPub)
	require.NoError(t, err)
	pub, err := acct.ECPubKey()
	require.NoError(t, err)
	chain := acct.ChainCode()
	chain[0] ^= 1
	parentFP := []byte{0, 0, 0, 0}
	forged := hdkeychain.NewExtendedKey(acct.Version(), pub.SerializeCompressed(), chain,
		parentFP, acct.Depth(), acct.ChildIndex(), false)

	// Same fingerprint and path, other key: not the same cosigner.
	outsider := MustCosigner(t, reserve.Regtest, "outsider")
	spoof := outsider
	spoof.Fingerprint = keys[0].Fingerprint

	_, xprv, err := DeriveAccount(FixedSeed("cosigner A"), reserve.Regtest, 0)
	require.NoError(t, err)
	defer xprv.Zero()

	tests := []struct {
		name string
		in   string
	}{
		{name: "other chain code", in: forged.String()},
		{name: "outsider", in: outsider.XPub},
		{name: "fingerprint only", in: FormatKeyRecord(spoof)},
		{name: "the cosigner's private key", in: xprv.String()},
		{name: "empty", in: ""},
		{name: "garbage", in: "tpub123"},
		{name: "trailing derivation", in: keys[0].XPub + "/0/*"},
		{name: "unclosed origin", in: "[" + keys[0].XPub},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, -1, d.Position(tt.in))
		})
	}
}

func TestNewDescriptorErrors(t *testing.T) {
	keys := MustCosigners(t, reserve.Regtest, reserve.MaxCosigners+1)
	mainnetKey := MustCosigner(t, reserve.Mainnet, "cosigner A")
	sameKeyOtherOrigin := keys[1]
	sameKeyOtherOrigin.Fingerprint ^= 0xffffffff
	_, xprv, err := DeriveAccount(FixedSeed("cosigner C"), reserve.Regtest, 0)
	require.NoError(t, err)
	priv := keys[2]
	priv.XPub = xprv.String()
	xprv.Zero()
	wrongDepth := keys[2]
	wrongDepth.Path = wrongDepth.Path[:3]
	nested, _ := MustKeyAt(t, &chaincfg.RegressionNetParams, "nested", []uint32{h(48), h(1), h(0), h(1)})

	with := func(i int, c reserve.Cosigner) []reserve.Cosigner {
		out := slices.Clone(keys[:3])
		out[i] = c
		return out
	}
	tests := []struct {
		name      string
		net       reserve.Network
		threshold int
		keys      []reserve.Cosigner
		field     string
		msg       string
	}{
		{name: "no cosigners", threshold: 1, field: "cosigners", msg: "0 cosigners given, want 1 to 20"},
		{name: "21 cosigners", threshold: 2, keys: keys, field: "cosigners", msg: "21 cosigners given"},
		{name: "threshold 0", threshold: 0, keys: keys[:3], field: "threshold", msg: "threshold 0 is outside 1..3"},
		{name: "negative threshold", threshold: -1, keys: keys[:3], field: "threshold", msg: "threshold -1"},
		{name: "threshold above n", threshold: 4, keys: keys[:3], field: "threshold", msg: "threshold 4 is outside 1..3"},
		{name: "same key, other origin", threshold: 2, keys: []reserve.Cosigner{keys[0], keys[1], keys[2], sameKeyOtherOrigin}, field: "cosigner[3]", msg: "cosigner[1] and cosigner[3] are the same key"},
		{name: "same record twice", threshold: 2, keys: []reserve.Cosigner{keys[0], keys[0]}, field: "cosigner[1]", msg: "cosigner[0] and cosigner[1] are the same key"},
		{name: "mainnet key", threshold: 2, keys: with(1, mainnetKey), field: "cosigner[1]", msg: "cosigner key is for mainnet, wallet is regtest"},
		{name: "private key", threshold: 2, keys: with(2, priv), field: "cosigner[2]", msg: "private key given, want the public key"},
		{name: "depth disagrees", threshold: 2, keys: with(2, wrongDepth), field: "cosigner[2]", msg: "key depth 4 disagrees"},
		{name: "nested segwit key", threshold: 2, keys: with(0, nested), field: "cosigner[0]", msg: "script type 1'"},
		{name: "empty xpub", threshold: 2, keys: with(0, reserve.Cosigner{}), field: "cosigner[0]", msg: "no extended key"},
		{name: "xpub with tail", threshold: 2, keys: with(0, reserve.Cosigner{Fingerprint: keys[0].Fingerprint, Path: keys[0].Path, XPub: keys[0].XPub + "/0/*"}), field: "cosigner[0]", msg: "unexpected \"/0/*\""},
		{name: "no network", net: reserve.NetworkUnspecified, threshold: 2, keys: keys[:3], field: "network", msg: "not specified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net := tt.net
			if net == 0 && tt.field != "network" {
				net = reserve.Regtest
			}
			d, err := NewDescriptor(net, tt.threshold, tt.keys)
			RequireInvalid(t, err, tt.field, tt.msg)
			require.Nil(t, d)
		})
	}
}

func TestParseDescriptorErrors(t *testing.T) {
	d := MustDescriptor(t, reserve.Regtest, 2, 3)
	s := d.String()
	body, sum, _ := strings.Cut(s, "#")
	keys := d.Cosigners()
	rec := func(i int) string { return FormatKeyRecord(keys[i]) }
	three := rec(0) + multipathTail + "," + rec(1) + multipathTail + "," + rec(2) + multipathTail
	many := strings.Repeat(rec(0)+multipathTail+",", reserve.MaxCosigners) + rec(0) + multipathTail
	wrongSum := "qqqqqqqq"
	if sum == wrongSum {
		wrongSum = "pppppppp"
	}
	mainnetKey := FormatKeyRecord(MustCosigner(t, reserve.Mainnet, "cosigner A"))

	tests := []struct {
		name  string
		in    string
		net   reserve.Network
		field string
		msg   string
	}{
		{name: "empty", in: "", field: "descriptor", msg: shapeMsg},
		{name: "wrong checksum", in: body + "#" + wrongSum, field: "descriptor", msg: "want " + sum},
		{name: "short checksum", in: body + "#" + sum[:7], field: "descriptor", msg: "expected " + sum},
		{name: "empty checksum", in: body + "#", field: "descriptor", msg: "expected " + sum},
		{name: "checksum of the change branch", in: body + "#" + strings.Split(d.BranchString(reserve.BranchChange), "#")[1], field: "descriptor", msg: "want " + sum},
		{name: "space", in: "wsh(sortedmulti(2, " + three + "))", field: "descriptor", msg: "whitespace at offset 18"},
		{name: "trailing newline", in: s + "\n", field: "descriptor", msg: "whitespace"},
		{name: "non-ASCII", in: body + "é", field: "descriptor", msg: "outside the descriptor character set"},
		{name: "sh", in: "sh(sortedmulti(2," + three + "))", field: "descriptor", msg: shapeMsg},
		{name: "sh(wsh())", in: "sh(wsh(sortedmulti(2," + three + ")))", field: "descriptor", msg: shapeMsg},
		{name: "multi", in: "wsh(multi(2," + three + "))", field: "descriptor", msg: shapeMsg},
		{name: "tr", in: "tr(" + rec(0) + "/<0;1>/*)", field: "descriptor", msg: shapeMsg},
		{name: "extra parenthesis", in: "wsh(sortedmulti(2," + three + ")))", field: "cosigner[2]", msg: shapeMsg},
		{name: "missing parenthesis", in: "wsh(sortedmulti(2," + three + ")", field: "descriptor", msg: shapeMsg},
		{name: "single path", in: d.BranchString(reserve.BranchReceive), field: "cosigner[0]", msg: shapeMsg},
		{name: "BSMS /**", in: strings.ReplaceAll(body, multipathTail, "/**"), field: "cosigner[0]", msg: shapeMsg},
		{name: "hardened wildcard", in: strings.ReplaceAll(body, multipathTail, "/<0;1>/*'"), field: "cosigner[0]", msg: shapeMsg},
		{name: "other multipath", in: strings.Replace(body, multipathTail, "/<1;0>/*", 1), field: "cosigner[0]", msg: shapeMsg},
		{name: "key without origin", in: "wsh(sortedmulti(2," + keys[0].XPub + multipathTail + "," + rec(1) + multipathTail + "))", field: "cosigner[0]", msg: "no key origin"},
		{name: "raw public key", in: "wsh(sortedmulti(1,[d34db33f/48'/1'/0'/2']0260b2003c386519fc9eadf2b5cf124dd8eea4c4e68d5e154050a9346ea98ce600/<0;1>/*))", field: "cosigner[0]", msg: "plain public key given, want an extended public key"},
		{name: "H in origin", in: strings.Replace(body, "/48'/1'/0'/2'", "/48H/1H/0H/2H", 1), field: "cosigner[0]", msg: "H is not allowed"},
		{name: "threshold not a number", in: "wsh(sortedmulti(a," + three + "))", field: "threshold", msg: "not a number"},
		{name: "threshold with leading zero", in: "wsh(sortedmulti(02," + three + "))", field: "threshold", msg: "not a number"},
		{name: "threshold with sign", in: "wsh(sortedmulti(+2," + three + "))", field: "threshold", msg: "not a number"},
		{name: "threshold 0", in: "wsh(sortedmulti(0," + three + "))", field: "threshold", msg: "threshold 0 is outside 1..3"},
		{name: "threshold above n", in: "wsh(sortedmulti(4," + three + "))", field: "threshold", msg: "threshold 4 is outside 1..3"},
		{name: "no keys", in: "wsh(sortedmulti(1))", field: "cosigners", msg: "0 cosigners given"},
		{name: "empty key", in: "wsh(sortedmulti(1," + three + ",))", field: "cosigner[3]", msg: shapeMsg},
		{name: "21 keys", in: "wsh(sortedmulti(2," + many + "))", field: "cosigners", msg: "21 cosigners given"},
		{name: "duplicate key", in: "wsh(sortedmulti(2," + three + "," + rec(1) + multipathTail + "))", field: "cosigner[3]", msg: "cosigner[1] and cosigner[3] are the same key"},
		{name: "mainnet key on regtest", in: "wsh(sortedmulti(1," + mainnetKey + multipathTail + "))", field: "cosigner[0]", msg: "cosigner key is for mainnet, wallet is regtest"},
		{name: "regtest descriptor on mainnet", in: s, net: reserve.Mainnet, field: "cosigner[0]", msg: "cosigner key is for a test network (tpub), wallet is mainnet"},
		{name: "no network", in: s, net: reserve.NetworkUnspecified, field: "network", msg: "not specified"},
		// BIP-389's invalid multipath vectors: refused for their shape.
		{name: "BIP-389 multiple multipath specifiers", in: "pkh(xprv9s21ZrQH143K31xYSDQpPDxsXRTUcvj2iNHm5NUtrGiGG5e2DtALGdso3pGz6ssrdK4PFmM8NSpSBHNqPqm55Qn3LqFtT2emdEXVYsCzC2U/<0;1>/<2;3>)", field: "descriptor", msg: shapeMsg},
		{name: "BIP-389 empty multipath specifier", in: "wsh(sortedmulti(1," + rec(0) + "/<>/*))", field: "cosigner[0]", msg: shapeMsg},
		{name: "BIP-389 missing index in multipath", in: "wsh(sortedmulti(1," + rec(0) + "/<0;>/*))", field: "cosigner[0]", msg: shapeMsg},
		{name: "BIP-389 multipath in origin", in: "wsh(sortedmulti(1,[d34db33f/<0;1>]" + keys[0].XPub + "/0))", field: "cosigner[0]", msg: shapeMsg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net := tt.net
			if net == 0 && tt.field != "network" {
				net = reserve.Regtest
			}
			got, err := ParseDescriptor(tt.in, net)
			RequireInvalid(t, err, tt.field, tt.msg)
			require.Nil(t, got)
		})
	}
}

// TestMaxCosigners builds the largest wallet: 20 keys, 20-of-20, whose
// script pushes 20 as a number rather than OP_16-style.
func TestMaxCosigners(t *testing.T) {
	d := MustDescriptor(t, reserve.Regtest, reserve.MaxCosigners, reserve.MaxCosigners)
	got, err := d.Derive(reserve.BranchChange, 7)
	require.NoError(t, err)
	require.Len(t, got.PubKeys, 20)
	// 0x01 0x14 = push 20; 20 × (0x21 + 33 bytes); 0x01 0x14; OP_CHECKMULTISIG.
	require.Len(t, got.WitnessScript, 2+20*34+2+1)
	require.Equal(t, []byte{0x01, 0x14}, got.WitnessScript[:2])
	back, err := ParseDescriptor(d.String(), reserve.Regtest)
	require.NoError(t, err)
	require.Equal(t, d.String(), back.String())
	require.Equal(t, fmt.Sprintf("wsh(sortedmulti(%d,", reserve.MaxCosigners), d.String()[:19])
}
