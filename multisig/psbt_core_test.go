package multisig

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// coreVectors is testdata/core/rpc_psbt.json, Bitcoin Core's PSBT test
// data (see testdata/core/README.md).
type coreVectors struct {
	Invalid        []string   `json:"invalid"`
	InvalidWithMsg [][]string `json:"invalid_with_msg"`
	Valid          []string   `json:"valid"`
	// The BIP-174 role vectors: every PSBT in them is valid.
	Creator []struct {
		Result string `json:"result"`
	} `json:"creator"`
	Signer []struct {
		PSBT   string `json:"psbt"`
		Result string `json:"result"`
	} `json:"signer"`
	Combiner []struct {
		Combine []string `json:"combine"`
		Result  string   `json:"result"`
	} `json:"combiner"`
	Finalizer []struct {
		Finalize string `json:"finalize"`
		Result   string `json:"result"`
	} `json:"finalizer"`
	Extractor []struct {
		Extract string `json:"extract"`
	} `json:"extractor"`
}

// valid returns every PSBT the file holds as valid: the valid list and
// the PSBTs of the role vectors.
func (v coreVectors) valid() []string {
	out := slices.Clone(v.Valid)
	for _, c := range v.Creator {
		out = append(out, c.Result)
	}
	for _, s := range v.Signer {
		out = append(out, s.PSBT, s.Result)
	}
	for _, c := range v.Combiner {
		out = append(append(out, c.Combine...), c.Result)
	}
	for _, f := range v.Finalizer {
		out = append(out, f.Finalize, f.Result)
	}
	for _, e := range v.Extractor {
		out = append(out, e.Extract)
	}
	return out
}

// psbtVersion reads the PSBT_GLOBAL_VERSION a base64 PSBT carries, 0 when
// it carries none or cannot be read far enough to say.
func psbtVersion(tb testing.TB, b64 string) uint32 {
	tb.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < len(psbtMagic) {
		return 0
	}
	s := &scanner{b: raw, off: len(psbtMagic)}
	for {
		keyLen, err := s.compactSize()
		if err != nil || keyLen == 0 {
			return 0
		}
		key, err := s.next(keyLen, "key")
		if err != nil {
			return 0
		}
		valLen, err := s.compactSize()
		if err != nil {
			return 0
		}
		val, err := s.next(valLen, "value")
		if err != nil {
			return 0
		}
		if len(key) == 1 && key[0] == globalVersion && len(val) == 4 {
			return binary.LittleEndian.Uint32(val)
		}
	}
}

// TestParsePSBTCoreVectors runs every PSBT of Bitcoin Core's rpc_psbt.json
// through ParsePSBT: Core's valid version-0 PSBTs parse, its invalid ones
// are refused, and version-2 ones are refused as unsupported.
func TestParsePSBTCoreVectors(t *testing.T) {
	var v coreVectors
	MustReadJSON(t, "core/rpc_psbt.json", &v)
	require.NotEmpty(t, v.Valid)
	type vector struct {
		name  string
		b64   string
		valid bool
		msg   string
	}
	var all []vector
	for i, b := range v.valid() {
		all = append(all, vector{name: fmt.Sprintf("valid/%d", i), b64: b, valid: true})
	}
	for i, b := range v.Invalid {
		all = append(all, vector{name: fmt.Sprintf("invalid/%d", i), b64: b})
	}
	for i, bm := range v.InvalidWithMsg {
		require.Len(t, bm, 2)
		all = append(all, vector{name: fmt.Sprintf("invalid_with_msg/%d", i), b64: bm[0], msg: bm[1]})
	}
	for _, tt := range all {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePSBT([]byte(tt.b64))
			switch {
			case tt.valid && psbtVersion(t, tt.b64) == 2:
				RequireInvalid(t, err, "psbt", "PSBT version 2 is not supported")
			case tt.valid:
				require.NoError(t, err)
			default:
				RequireInvalid(t, err, "psbt", "malformed PSBT")
			}
		})
	}
}

// MustTx decodes a transaction without witness serialization.
func MustTx(tb testing.TB, b []byte) *wire.MsgTx {
	tb.Helper()
	tx := new(wire.MsgTx)
	require.NoError(tb, tx.DeserializeNoWitness(bytes.NewReader(b)))
	return tx
}

// MustTxBytes serializes a transaction without witnesses.
func MustTxBytes(tb testing.TB, tx *wire.MsgTx) []byte {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, tx.SerializeNoWitness(&buf))
	return buf.Bytes()
}

// coreDecoded is the part of Bitcoin Core's decodepsbt output the interop
// test compares.
type coreDecoded struct {
	Inputs []struct {
		Bip32Derivs []coreDeriv `json:"bip32_derivs"`
	} `json:"inputs"`
	Outputs []struct {
		Bip32Derivs []coreDeriv `json:"bip32_derivs"`
	} `json:"outputs"`
	GlobalXPubs []struct {
		XPub        string `json:"xpub"`
		Fingerprint string `json:"master_fingerprint"`
		Path        string `json:"path"`
	} `json:"global_xpubs"`
}

type coreDeriv struct {
	PubKey      string `json:"pubkey"`
	Fingerprint string `json:"master_fingerprint"`
	Path        string `json:"path"`
}

// MustCoreWallet is the 2-of-3 of testdata/core: the key records in
// Core's getdescriptorinfo of its descriptor.
func MustCoreWallet(tb testing.TB) *Descriptor {
	tb.Helper()
	var info struct {
		Descriptor string `json:"descriptor"`
	}
	MustReadJSON(tb, "core/descriptor-info.json", &info)
	var keys []reserve.Cosigner
	for _, rec := range regexp.MustCompile(`\[[0-9a-f]{8}(/[0-9]+')+\]tpub[1-9A-HJ-NP-Za-km-z]+`).FindAllString(info.Descriptor, -1) {
		c, err := ParseKeyRecord(rec, reserve.Regtest)
		require.NoError(tb, err)
		keys = append(keys, c)
	}
	require.Len(tb, keys, 3)
	d, err := NewDescriptor(reserve.Regtest, 2, keys)
	require.NoError(tb, err)
	return d
}

// MustCorePSBT reads testdata/core/name (base64; name may lead out of
// core/, as "../electrum/…").
func MustCorePSBT(tb testing.TB, name string) *psbt.Packet {
	tb.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "core", name))
	require.NoError(tb, err)
	return MustParse(tb, text)
}

// TestCoreInteropFixture builds with CreatePSBT the spend Bitcoin Core
// v31.99 built for the same wallet (testdata/core/core-made.psbt.b64) and
// compares them record by record: the derivation records must be
// byte-identical, and every fingerprint must be the one Core's decodepsbt
// shows. Core wrote no global xpubs and no sighash type; Custos's global
// xpubs must read, in Core's decodepsbt terms, as the key records.
func TestCoreInteropFixture(t *testing.T) {
	d := MustCoreWallet(t)
	core := MustCorePSBT(t, "core-made.psbt.b64")
	var decoded coreDecoded
	MustReadJSON(t, "core/core-made.decodepsbt.json", &decoded)

	// The same spend (MustCustosCoreSpend).
	ours := MustCustosCoreSpend(t, d)
	ourRaw := MustSerialize(t, ours)
	coreRaw := MustSerialize(t, core)
	ourMaps, coreMaps := parseRawMaps(t, ourRaw), parseRawMaps(t, coreRaw)
	require.Equal(t, coreMaps[0][0], ourMaps[0][0], "unsigned transaction")

	// Inputs and outputs: every record Core wrote, Custos wrote the same;
	// Custos adds only the sighash type (ALL).
	for m := 1; m < len(coreMaps); m++ {
		got := make(map[string]string)
		for _, kv := range ourMaps[m] {
			got[hex.EncodeToString(kv.key)] = hex.EncodeToString(kv.value)
		}
		for _, kv := range coreMaps[m] {
			k := hex.EncodeToString(kv.key)
			require.Contains(t, got, k, "map %d: Core's key %s", m, k)
			require.Equal(t, hex.EncodeToString(kv.value), got[k], "map %d: value of Core's key %s", m, k)
			delete(got, k)
		}
		if m == 1 {
			require.Equal(t, map[string]string{"03": "01000000"}, got, "input: records Core did not write")
		} else {
			require.Empty(t, got, "map %d: records Core did not write", m)
		}
	}

	// The fingerprints as Core's decodepsbt reads them.
	requireDerivs := func(name string, want []coreDeriv, got []*psbt.Bip32Derivation) {
		require.Len(t, got, len(want), name)
		for _, w := range want {
			i := slices.IndexFunc(got, func(e *psbt.Bip32Derivation) bool { return hex.EncodeToString(e.PubKey) == w.PubKey })
			require.GreaterOrEqual(t, i, 0, "%s: key %s", name, w.PubKey)
			require.Equal(t, w.Fingerprint, fingerprintBytes(got[i].MasterKeyFingerprint), "%s: key %s", name, w.PubKey)
			require.Equal(t, strings.ReplaceAll(w.Path, "h", "'"), formatOrigin(got[i].Bip32Path), "%s: key %s", name, w.PubKey)
		}
	}
	requireDerivs("input[0]", decoded.Inputs[0].Bip32Derivs, ours.Inputs[0].Bip32Derivation)
	requireDerivs("output[0]", decoded.Outputs[0].Bip32Derivs, ours.Outputs[0].Bip32Derivation)
	require.Equal(t, "73c5da0a", decoded.Inputs[0].Bip32Derivs[0].Fingerprint, "the abandon…about key")

	// Global xpubs: each the key record's fingerprint bytes, path and key,
	// in Core's order (fingerprint bytes, then path).
	require.Len(t, ours.XPubs, 3)
	for k, x := range ours.XPubs {
		c := d.Cosigners()[d.cosignerOfXPub(x)]
		require.Equal(t, fmt.Sprintf("%08x", c.Fingerprint), fingerprintBytes(x.MasterKeyFingerprint), "xpub[%d]", k)
		require.Equal(t, c.Path, x.Bip32Path)
	}
	order := []string{}
	for _, x := range ours.XPubs {
		order = append(order, fingerprintBytes(x.MasterKeyFingerprint))
	}
	require.Equal(t, []string{"28645006", "73c5da0a", "b8688df1"}, order)

	// And each side reads the other's PSBT as the same spend.
	a, err := Analyze(core, d)
	require.NoError(t, err, "Core's PSBT, as Analyze sees it")
	require.Len(t, a.Change, 1)
	_, err = Analyze(ours, d)
	require.NoError(t, err)
}

// TestCoreInteropOldExport checks that the ca00284 export, whose
// fingerprints Core read byte-reversed, is now refused: its derivations
// name no cosigner.
func TestCoreInteropOldExport(t *testing.T) {
	d := MustCoreWallet(t)
	old := MustCorePSBT(t, "custos-ca00284-export.psbt.b64")
	var decoded coreDecoded
	MustReadJSON(t, "core/custos-ca00284-export.decodepsbt.json", &decoded)
	require.Equal(t, "0adac573", decoded.GlobalXPubs[1].Fingerprint, "Core's reading of the old export")
	_, err := Analyze(old, d)
	RequireInvalid(t, err, "xpub[0]", "this PSBT is for another wallet")
	require.ErrorIs(t, err, ErrOtherWallet)
}

// fingerprintBytes is the hex of the four fingerprint bytes btcutil/psbt
// writes for a MasterKeyFingerprint.
func fingerprintBytes(fp uint32) string {
	return hex.EncodeToString(binary.LittleEndian.AppendUint32(nil, fp))
}

// bip174Master is the master private key BIP-174's role vectors (Creator
// to Extractor) derive every key from; the BIP states its fingerprint,
// d90c6a4f.
const bip174Master = "tprv8ZgxMBicQKsPd9TeAdPADNnSyH9SSUUbTVeFszDE23Ki6TBB5nCefAdHkK8Fm3qMQR6sHwA56zqRmKmxnHk37JkiFzvncDqoKmPWubu7hDF"

// TestBIP174Fingerprints checks every key record (BIP-32 and taproot
// derivations, global xpubs) of every version-0 PSBT in Core's copy of the
// BIP vectors, with no filter: in the role vectors each derivation carries
// the fingerprint of BIP-174's master key, d90c6a4f, and a key that master
// derives at the recorded path; in the valid list, each vector's records
// read as the fingerprints listed below, in record order (the four bytes as
// the BIPs print them, which recordFingerprint must give).
func TestBIP174Fingerprints(t *testing.T) {
	var v coreVectors
	MustReadJSON(t, "core/rpc_psbt.json", &v)

	master, err := hdkeychain.NewKeyFromString(bip174Master)
	require.NoError(t, err)
	masterFP, err := MasterFingerprint(master)
	require.NoError(t, err)
	require.Equal(t, uint32(0xd90c6a4f), masterFP)

	// records lists the fingerprints of every key record of p.
	records := func(p *psbt.Packet) string {
		var out []string
		add := func(where string, fp uint32) {
			out = append(out, fmt.Sprintf("%s:%08x", where, recordFingerprint(fp)))
		}
		for i, in := range p.Inputs {
			for _, e := range in.Bip32Derivation {
				add(fmt.Sprintf("in%d", i), e.MasterKeyFingerprint)
			}
			for _, e := range in.TaprootBip32Derivation {
				add(fmt.Sprintf("tin%d", i), e.MasterKeyFingerprint)
			}
		}
		for k, out := range p.Outputs {
			for _, e := range out.Bip32Derivation {
				add(fmt.Sprintf("out%d", k), e.MasterKeyFingerprint)
			}
			for _, e := range out.TaprootBip32Derivation {
				add(fmt.Sprintf("tout%d", k), e.MasterKeyFingerprint)
			}
		}
		for _, x := range p.XPubs {
			add("xpub", x.MasterKeyFingerprint)
		}
		return strings.Join(out, " ")
	}

	t.Run("role vectors", func(t *testing.T) {
		// Core's role vectors are BIP-174's but for its signer[2], a test
		// of its own on a PSBT whose outputs carry derivations of another
		// master (Core's valid[3]).
		type vector struct{ name, b64 string }
		var roles []vector
		for k, c := range v.Creator {
			roles = append(roles, vector{fmt.Sprintf("creator[%d]", k), c.Result})
		}
		for k, s := range v.Signer {
			roles = append(roles, vector{fmt.Sprintf("signer[%d].psbt", k), s.PSBT}, vector{fmt.Sprintf("signer[%d].result", k), s.Result})
		}
		for k, c := range v.Combiner {
			for j, b := range c.Combine {
				roles = append(roles, vector{fmt.Sprintf("combiner[%d].combine[%d]", k, j), b})
			}
			roles = append(roles, vector{fmt.Sprintf("combiner[%d].result", k), c.Result})
		}
		for k, f := range v.Finalizer {
			roles = append(roles, vector{fmt.Sprintf("finalizer[%d].finalize", k), f.Finalize}, vector{fmt.Sprintf("finalizer[%d].result", k), f.Result})
		}
		for k, e := range v.Extractor {
			roles = append(roles, vector{fmt.Sprintf("extractor[%d]", k), e.Extract})
		}
		require.Len(t, roles, len(v.valid())-len(v.Valid))
		other := map[string]string{
			"signer[2].psbt":   "out0:b4a6ba67 out1:b4a6ba67",
			"signer[2].result": "out0:b4a6ba67 out1:b4a6ba67",
		}
		var ders int
		for _, r := range roles {
			i, p := r.name, MustParse(t, []byte(r.b64))
			if want, ok := other[i]; ok {
				require.Equal(t, want, records(p), i)
				continue
			}
			require.Empty(t, p.XPubs, i)
			var all []*psbt.Bip32Derivation
			for k, in := range p.Inputs {
				require.Empty(t, in.TaprootBip32Derivation, "%s input %d", i, k)
				all = append(all, in.Bip32Derivation...)
			}
			for k, out := range p.Outputs {
				require.Empty(t, out.TaprootBip32Derivation, "%s output %d", i, k)
				all = append(all, out.Bip32Derivation...)
			}
			for _, e := range all {
				require.Equal(t, masterFP, recordFingerprint(e.MasterKeyFingerprint), "%s, key %x", i, e.PubKey)
				key := master
				for _, step := range e.Bip32Path {
					key, err = key.Derive(step)
					require.NoError(t, err)
				}
				pub, err := key.ECPubKey()
				require.NoError(t, err)
				require.Equal(t, pub.SerializeCompressed(), e.PubKey, "%s at %s", i, formatOrigin(e.Bip32Path))
				ders++
			}
		}
		require.NotZero(t, ders)
	})

	t.Run("valid list", func(t *testing.T) {
		// want is every valid-list vector with key records; the rest
		// have none. BIP-174's global-xpub vectors (8, 9) are d90c6a4f.
		taproot := "tin0:2680dd6e tin0:580b0887 tin0:c3249a82 tin0:7dd65592"
		taproot5 := "tin0:2680dd6e tin0:580b0887 tin0:c3249a82 tin0:7c461e5d tin0:7dd65592"
		taprootReordered := "tin0:580b0887 tin0:c3249a82 tin0:2680dd6e tin0:7dd65592"
		want := map[int]string{
			3:  "out0:b4a6ba67 out1:b4a6ba67",
			4:  "in0:b4a6ba67 in0:b4a6ba67",
			8:  "in0:d90c6a4f in0:d90c6a4f out0:ede45cc5 xpub:d90c6a4f xpub:d90c6a4f",
			9:  "xpub:d90c6a4f",
			14: "tin0:772b2da7 out0:772b2da7",
			15: "tin0:772b2da7 out0:772b2da7",
			16: "tin0:772b2da7 tout0:772b2da7",
			17: "tin0:772b2da7 tin0:772b2da7 tin0:7c461e5d tin0:772b2da7 tout0:772b2da7",
			18: "tin0:772b2da7 tout0:772b2da7 tout0:7c461e5d tout0:772b2da7 tout0:772b2da7",
			19: "tin0:772b2da7 tin0:772b2da7 tin0:7c461e5d tin0:772b2da7 tout0:772b2da7",
			20: taproot, 21: taproot, 22: taproot, 23: taproot, 24: taproot, 25: taproot,
			26: taproot5, 27: taproot5, 28: taproot5,
			29: taprootReordered, 30: taprootReordered, 31: taprootReordered,
			32: "in0:bfff44a3 tout0:2680dd6e tout0:580b0887 tout0:c3249a82 tout0:7dd65592 out1:bfff44a3",
			33: "in0:bfff44a3 tout0:580b0887 tout0:c3249a82 tout0:2680dd6e tout0:7dd65592 out1:bfff44a3",
		}
		checked := 0
		for i, b := range v.Valid {
			if psbtVersion(t, b) == 2 {
				require.NotContains(t, want, i, "valid[%d] is version 2", i)
				continue
			}
			require.Equal(t, want[i], records(MustParse(t, []byte(b))), "valid[%d]", i)
			if want[i] != "" {
				checked++
			}
		}
		require.Equal(t, len(want), checked)
	})
}

// TestExplicitSighashZero checks that an explicit PSBT_IN_SIGHASH_TYPE of
// 0 survives parsing and serializing byte for byte and that Analyze
// refuses it, naming the input, while an absent one is accepted.
func TestExplicitSighashZero(t *testing.T) {
	w := MustPSBTWallet(t, "golden", 2, 3)
	raw := MustGoldenPSBT(t)
	setSighash := func(value []byte) []byte {
		maps := parseRawMaps(t, raw)
		var kept []rawKV
		for _, kv := range maps[2] {
			if !bytes.Equal(kv.key, []byte{0x03}) {
				kept = append(kept, kv)
			}
		}
		if value != nil {
			kept = append(kept, rawKV{[]byte{0x03}, value})
		}
		maps[2] = kept
		return writeRawMaps(t, maps)
	}
	for _, tt := range []struct {
		name  string
		value []byte
		msg   string
	}{
		{name: "absent", value: nil},
		{name: "ALL", value: le32(1)},
		{name: "explicit 0", value: le32(0), msg: "explicit sighash type 0 (SIGHASH_DEFAULT, taproot only) is not allowed, only ALL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := setSighash(tt.value)
			p, err := ParsePSBT(in)
			require.NoError(t, err)
			var sighash []byte
			for _, kv := range parseRawMaps(t, MustSerialize(t, p))[2] {
				if bytes.Equal(kv.key, []byte{0x03}) {
					sighash = kv.value
				}
			}
			require.True(t, bytes.Equal(tt.value, sighash), "input[1]'s sighash type as serialized: %x", sighash)
			_, err = Analyze(p, w.d)
			if tt.msg == "" {
				require.NoError(t, err)
				return
			}
			RequireInvalid(t, err, "input[1]", tt.msg)
		})
	}
}

// TestDeriveHighIndexCost checks that deriving a claimed index of 2^31-1,
// as Analyze does for an output that claims to be change there, costs
// what deriving index 0 costs: one derivation, no loop or slice up to the
// index.
func TestDeriveHighIndexCost(t *testing.T) {
	w := MustPSBTWallet(t, "analyze", 2, 3)
	kr := w.d.kr
	cost := func(index uint32) float64 {
		return testing.AllocsPerRun(5, func() {
			_, err := kr.compute(keyPath{Branch: reserve.BranchChange, Index: index})
			require.NoError(t, err)
		})
	}
	require.Equal(t, cost(0), cost(1<<31-1))
	_, err := kr.derive(keyPath{Branch: reserve.BranchChange, Index: 1<<31 - 1})
	require.NoError(t, err)
}
