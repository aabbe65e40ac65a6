package multisig

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// goldenPSBTFile is the 2-of-3 standard spend, base64.
const goldenPSBTFile = "psbt_2of3.golden"

// rawKV is one key-value pair of a PSBT map, as bytes.
type rawKV struct{ key, value []byte }

// parseRawMaps splits a binary PSBT into its maps without interpreting
// any value: the tests' own reading of BIP-174's framing, independent of
// the psbt package.
func parseRawMaps(tb testing.TB, b []byte) [][]rawKV {
	tb.Helper()
	require.True(tb, bytes.HasPrefix(b, []byte("psbt\xff")), "magic")
	r := bytes.NewReader(b[5:])
	var maps [][]rawKV
	for r.Len() > 0 {
		var m []rawKV
		for {
			key, err := wire.ReadVarBytes(r, 0, 1<<20, "key")
			require.NoError(tb, err)
			if len(key) == 0 {
				break
			}
			value, err := wire.ReadVarBytes(r, 0, 1<<24, "value")
			require.NoError(tb, err)
			m = append(m, rawKV{key, value})
		}
		maps = append(maps, m)
	}
	return maps
}

// writeRawMaps is the inverse of parseRawMaps.
func writeRawMaps(tb testing.TB, maps [][]rawKV) []byte {
	tb.Helper()
	var buf bytes.Buffer
	buf.WriteString("psbt\xff")
	for _, m := range maps {
		for _, kv := range m {
			require.NoError(tb, wire.WriteVarBytes(&buf, 0, kv.key))
			require.NoError(tb, wire.WriteVarBytes(&buf, 0, kv.value))
		}
		buf.WriteByte(0)
	}
	return buf.Bytes()
}

// le32 and le64 are little-endian encodings.
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v int64) []byte  { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }

// originValue is a BIP-174 derivation value: the fingerprint, then the
// path, each step a little-endian uint32.
func originValue(fp uint32, path ...uint32) []byte {
	// The fingerprint's four bytes in key-record order (BIP-174: the
	// first four bytes of HASH160 of the master key), then LE32 steps.
	out := binary.BigEndian.AppendUint32(nil, fp)
	for _, step := range path {
		out = append(out, le32(step)...)
	}
	return out
}

// compact is a compact-size integer, for values below 0xfd.
func compact(tb testing.TB, n int) []byte {
	tb.Helper()
	require.Less(tb, n, 0xfd)
	return []byte{byte(n)}
}

// TestGoldenPSBT pins the PSBT of the standard 2-of-3 spend byte for byte
// and checks every field of the golden file against BIP-174, reading the
// maps with the tests' own parser: nothing more, nothing less than what
// hardware signers and Bitcoin Core need.
func TestGoldenPSBT(t *testing.T) {
	w := MustPSBTWallet(t, "golden", 2, 3)
	params := w.MustSpendParams(t, standardCoins, 1_200_000, 2_290_000, 7)
	created, err := CreatePSBT(params)
	require.NoError(t, err)
	got := base64.StdEncoding.EncodeToString(MustSerialize(t, created)) + "\n"
	path := filepath.Join("testdata", goldenPSBTFile)
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	text, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(text), got, "CreatePSBT output changed; rerun with -update if that is intended")
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(text)))
	require.NoError(t, err)

	maps := parseRawMaps(t, raw)
	require.Len(t, maps, 1+2+2, "global, 2 inputs, 2 outputs")
	cosigners := w.d.Cosigners()

	// Global: the unsigned transaction, written out here by hand, and one
	// xpub per cosigner.
	utx := []byte{2, 0, 0, 0, 2}
	for _, in := range params.Inputs {
		utx = append(utx, in.OutPoint.Hash[:]...)
		utx = append(utx, le32(in.OutPoint.Index)...)
		utx = append(utx, 0x00, 0xfd, 0xff, 0xff, 0xff)
	}
	utx = append(utx, 2)
	for _, out := range params.Outputs {
		utx = append(utx, le64(out.AmountSat)...)
		utx = append(utx, compact(t, len(out.Script))...)
		utx = append(utx, out.Script...)
	}
	utx = append(utx, le32(500)...)
	global := map[string][]byte{"00": utx}
	for _, c := range cosigners {
		xpub := base58.Decode(c.XPub)
		require.Len(t, xpub, 82)
		global["01"+hex.EncodeToString(xpub[:78])] = originValue(c.Fingerprint, c.Path...)
	}
	requireMap(t, "global", global, maps[0])

	// Inputs.
	for i, in := range params.Inputs {
		der := w.MustDerived(t, in.Branch, in.Index)
		var prev bytes.Buffer
		require.NoError(t, params.PrevTxs[in.OutPoint.Hash].Serialize(&prev))
		want := map[string][]byte{
			"00": prev.Bytes(),
			"01": append(append(le64(in.AmountSat), compact(t, len(der.PkScript))...), der.PkScript...),
			"03": {0x01, 0x00, 0x00, 0x00},
			"05": der.WitnessScript,
		}
		for c, key := range der.PubKeys {
			want["06"+hex.EncodeToString(key)] = originValue(cosigners[c].Fingerprint, append(cosigners[c].Path, uint32(in.Branch), in.Index)...)
		}
		requireMap(t, inputField(i), want, maps[1+i])
	}

	// Outputs: nothing for the payee; witness script and derivations for
	// the change.
	requireMap(t, "output[0]", map[string][]byte{}, maps[3])
	change := w.MustDerived(t, reserve.BranchChange, 7)
	want := map[string][]byte{"01": change.WitnessScript}
	for c, key := range change.PubKeys {
		want["02"+hex.EncodeToString(key)] = originValue(cosigners[c].Fingerprint, append(cosigners[c].Path, 1, 7)...)
	}
	requireMap(t, "output[1]", want, maps[4])

	// And our own parser and checker read it as the same spend.
	p := MustParse(t, raw)
	require.Equal(t, raw, MustSerialize(t, p))
	_, err = Analyze(p, w.d)
	require.NoError(t, err)
}

// requireMap checks that a map holds exactly the keys (hex) and values of
// want.
func requireMap(t *testing.T, name string, want map[string][]byte, got []rawKV) {
	t.Helper()
	gotMap := make(map[string][]byte)
	for _, kv := range got {
		k := hex.EncodeToString(kv.key)
		require.NotContains(t, gotMap, k, "%s: duplicate key %s", name, k)
		gotMap[k] = kv.value
	}
	require.Len(t, gotMap, len(want), "%s: keys", name)
	for k, v := range want {
		require.Contains(t, gotMap, k, "%s: key %s", name, k)
		require.Equal(t, hex.EncodeToString(v), hex.EncodeToString(gotMap[k]), "%s: value of key %s", name, k)
	}
}

// TestCreatePSBTRefusals checks what CreatePSBT refuses to build.
func TestCreatePSBTRefusals(t *testing.T) {
	w := MustPSBTWallet(t, "create", 2, 3)
	other := MustPSBTWallet(t, "create other", 2, 3)
	base := func(t *testing.T) CreateParams {
		return w.MustSpendParams(t, standardCoins, 1_200_000, 2_290_000, 7)
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, p *CreateParams)
		field  string
		msg    string
	}{
		{name: "no descriptor", field: "descriptor", msg: "no descriptor",
			tamper: func(t *testing.T, p *CreateParams) { p.Descriptor = nil }},
		{name: "no inputs", field: "inputs", msg: "no inputs",
			tamper: func(t *testing.T, p *CreateParams) { p.Inputs = nil }},
		{name: "no outputs", field: "outputs", msg: "no outputs",
			tamper: func(t *testing.T, p *CreateParams) { p.Outputs = nil }},
		{name: "duplicate input", field: "input[2]", msg: "as input[0] does",
			tamper: func(t *testing.T, p *CreateParams) { p.Inputs = append(p.Inputs, p.Inputs[0]) }},
		{name: "no previous transaction", field: "input[1]", msg: "is not given",
			tamper: func(t *testing.T, p *CreateParams) { delete(p.PrevTxs, p.Inputs[1].OutPoint.Hash) }},
		{name: "previous transaction under another txid", field: "input[1]", msg: "previous transaction given for",
			tamper: func(t *testing.T, p *CreateParams) {
				p.PrevTxs[p.Inputs[1].OutPoint.Hash] = p.PrevTxs[p.Inputs[0].OutPoint.Hash]
			}},
		{name: "output index past the end", field: "input[0]", msg: "has 2 outputs, the input spends output 2",
			tamper: func(t *testing.T, p *CreateParams) { p.Inputs[0].OutPoint.Index = 2 }},
		{name: "amount differs", field: "input[0]", msg: "holds 1000000 sat, the input says 1000001 sat",
			tamper: func(t *testing.T, p *CreateParams) { p.Inputs[0].AmountSat++ }},
		{name: "another index", field: "input[0]", msg: "not the wallet's script at 0/1",
			tamper: func(t *testing.T, p *CreateParams) { p.Inputs[0].Index = 1 }},
		{name: "another branch", field: "input[1]", msg: "not the wallet's script at 0/3",
			tamper: func(t *testing.T, p *CreateParams) { p.Inputs[1].Branch = reserve.BranchReceive }},
		{name: "unknown branch", field: "input[1]", msg: "unknown branch 2",
			tamper: func(t *testing.T, p *CreateParams) { p.Inputs[1].Branch = 2 }},
		{name: "hardened index", field: "input[1]", msg: "not below 2^31",
			tamper: func(t *testing.T, p *CreateParams) { p.Inputs[1].Index = h(3) }},
		{name: "another wallet's coin", field: "input[0]", msg: "not the wallet's script at 0/0",
			tamper: func(t *testing.T, p *CreateParams) {
				o := other.MustSpendParams(t, standardCoins[:1], 900_000, 0, 0)
				p.Inputs[0] = o.Inputs[0]
				p.PrevTxs[o.Inputs[0].OutPoint.Hash] = o.PrevTxs[o.Inputs[0].OutPoint.Hash]
			}},
		{name: "change to another index", field: "output[1]", msg: "is not the wallet's change script at 1/8",
			tamper: func(t *testing.T, p *CreateParams) { *p.Outputs[1].ChangeIndex = 8 }},
		{name: "change to a receive address", field: "output[1]", msg: "is not the wallet's change script at 1/7",
			tamper: func(t *testing.T, p *CreateParams) {
				p.Outputs[1].Script = w.MustDerived(t, reserve.BranchReceive, 7).PkScript
			}},
		{name: "zero amount", field: "output[0]", msg: "amount 0 sat is out of range",
			tamper: func(t *testing.T, p *CreateParams) { p.Outputs[0].AmountSat = 0 }},
		{name: "no script", field: "output[0]", msg: "no output script",
			tamper: func(t *testing.T, p *CreateParams) { p.Outputs[0].Script = nil }},
		{name: "nothing left for the fee", field: "outputs", msg: "outputs total 3500000 sat, inputs 3500000 sat",
			tamper: func(t *testing.T, p *CreateParams) { p.Outputs[0].AmountSat += 10_000 }},
		{name: "more than 21 million BTC", field: "output[1]", msg: "outputs total more than 21 million BTC",
			tamper: func(t *testing.T, p *CreateParams) {
				p.Outputs[0].AmountSat = reserve.MaxSat
				p.Outputs[1].AmountSat = reserve.MaxSat
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base(t)
			tt.tamper(t, &p)
			got, err := CreatePSBT(p)
			RequireCode(t, err, reserve.CodeInvalid, tt.field, tt.msg)
			require.Nil(t, got)
		})
	}
}

// TestCreatePSBTTransaction checks the transaction CreatePSBT builds and
// that it keeps no reference to the caller's data.
func TestCreatePSBTTransaction(t *testing.T) {
	w := MustPSBTWallet(t, "create", 3, 5)
	params := w.MustSpendParams(t, standardCoins, 1_200_000, 0, 0)
	params.LockTime = 840_000
	p, err := CreatePSBT(params)
	require.NoError(t, err)
	tx := p.UnsignedTx
	require.Equal(t, int32(2), tx.Version)
	require.Equal(t, uint32(840_000), tx.LockTime)
	for i, in := range tx.TxIn {
		require.Equal(t, params.Inputs[i].OutPoint, in.PreviousOutPoint)
		require.Equal(t, uint32(0xfffffffd), in.Sequence)
	}
	require.Len(t, tx.TxOut, 1)
	require.Len(t, p.XPubs, 5)
	for i := range p.Inputs {
		require.Len(t, p.Inputs[i].Bip32Derivation, 5)
	}

	// Changing the caller's previous transactions and scripts later
	// changes nothing in the PSBT.
	before := MustSerialize(t, p)
	for _, prev := range params.PrevTxs {
		prev.TxOut[0].Value++
	}
	params.Outputs[0].Script[2] ^= 1
	require.Equal(t, before, MustSerialize(t, p))

	_, err = Analyze(p, w.d)
	require.NoError(t, err)
}
