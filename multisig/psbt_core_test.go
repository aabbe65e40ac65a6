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

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
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

// MustCorePSBT reads testdata/core/name (base64).
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

	// The same spend: Core's one input (receive 0) and two outputs, the
	// first of them change at index 0, with Core's locktime.
	require.Len(t, core.UnsignedTx.TxIn, 1)
	op := core.UnsignedTx.TxIn[0].PreviousOutPoint
	prev := core.Inputs[0].NonWitnessUtxo
	change := uint32(0)
	ours, err := CreatePSBT(CreateParams{
		Descriptor: d,
		Inputs:     []reserve.Input{{OutPoint: op, AmountSat: prev.TxOut[op.Index].Value, Branch: reserve.BranchReceive, Index: 0}},
		PrevTxs:    map[chainhash.Hash]*wire.MsgTx{op.Hash: prev},
		Outputs: []Output{
			{Script: core.UnsignedTx.TxOut[0].PkScript, AmountSat: core.UnsignedTx.TxOut[0].Value, ChangeIndex: &change},
			{Script: core.UnsignedTx.TxOut[1].PkScript, AmountSat: core.UnsignedTx.TxOut[1].Value},
		},
		LockTime: core.UnsignedTx.LockTime,
	})
	require.NoError(t, err)
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

	// Global xpubs: each the key record's fingerprint bytes, path and key.
	require.Len(t, ours.XPubs, 3)
	for k, x := range ours.XPubs {
		c := d.Cosigners()[k]
		require.Equal(t, fmt.Sprintf("%08x", c.Fingerprint), fingerprintBytes(x.MasterKeyFingerprint), "xpub[%d]", k)
		require.Equal(t, c.Path, x.Bip32Path)
	}

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

// TestBIP174Fingerprints checks that the BIP-174 test vector that carries
// derivations decodes to the fingerprint the BIP states, d90c6a4f.
func TestBIP174Fingerprints(t *testing.T) {
	var v coreVectors
	MustReadJSON(t, "core/rpc_psbt.json", &v)
	// BIP-174's vectors derive every key from the BIP-32 test master
	// key, fingerprint d90c6a4f: the Creator's result (output
	// derivations), the Updater's (input derivations too) and the global
	// xpub vector.
	var ders, xpubs int
	for _, b := range v.valid() {
		if psbtVersion(t, b) == 2 {
			continue
		}
		p := MustParse(t, []byte(b))
		var all []*psbt.Bip32Derivation
		for _, in := range p.Inputs {
			all = append(all, in.Bip32Derivation...)
		}
		for _, out := range p.Outputs {
			all = append(all, out.Bip32Derivation...)
		}
		for _, e := range all {
			if fingerprintBytes(e.MasterKeyFingerprint) == "d90c6a4f" {
				require.Equal(t, uint32(0xd90c6a4f), recordFingerprint(e.MasterKeyFingerprint))
				ders++
			}
		}
		for _, x := range p.XPubs {
			if fingerprintBytes(x.MasterKeyFingerprint) == "d90c6a4f" {
				require.Equal(t, uint32(0xd90c6a4f), recordFingerprint(x.MasterKeyFingerprint))
				xpubs++
			}
		}
	}
	require.NotZero(t, ders)
	require.NotZero(t, xpubs)
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
