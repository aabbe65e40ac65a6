package multisig

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// MustGoldenPSBT returns the golden PSBT's binary form.
func MustGoldenPSBT(tb testing.TB) []byte {
	tb.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", goldenPSBTFile))
	require.NoError(tb, err)
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(text)))
	require.NoError(tb, err)
	return raw
}

// TestParsePSBTForms checks the forms ParsePSBT reads.
func TestParsePSBTForms(t *testing.T) {
	raw := MustGoldenPSBT(t)
	b64 := base64.StdEncoding.EncodeToString(raw)
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{name: "binary", in: raw},
		{name: "base64", in: []byte(b64)},
		{name: "base64 with a newline", in: []byte(b64 + "\n")},
		{name: "base64 with CRLF and spaces", in: []byte("  " + b64 + "\r\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePSBT(tt.in)
			require.NoError(t, err)
			require.Equal(t, raw, MustSerialize(t, p))
		})
	}
}

// TestParsePSBTRefusals feeds ParsePSBT what it must refuse, built by
// editing the golden PSBT's raw maps.
func TestParsePSBTRefusals(t *testing.T) {
	raw := MustGoldenPSBT(t)
	edit := func(f func(maps [][]rawKV) [][]rawKV) []byte {
		maps := parseRawMaps(t, raw)
		for i := range maps {
			maps[i] = slices.Clone(maps[i])
		}
		return writeRawMaps(t, f(maps))
	}
	add := func(m int, kv rawKV) []byte {
		return edit(func(maps [][]rawKV) [][]rawKV { maps[m] = append(maps[m], kv); return maps })
	}
	set := func(m int, key []byte, value []byte) []byte {
		return edit(func(maps [][]rawKV) [][]rawKV {
			for k, kv := range maps[m] {
				if bytes.Equal(kv.key, key) {
					maps[m][k].value = value
				}
			}
			return maps
		})
	}
	valueOf := func(m int, key []byte) []byte {
		for _, kv := range parseRawMaps(t, raw)[m] {
			if bytes.Equal(kv.key, key) {
				return kv.value
			}
		}
		t.Fatalf("no key %x in map %d", key, m)
		return nil
	}
	xpubKV := parseRawMaps(t, raw)[0][1]
	derivKV := parseRawMaps(t, raw)[1][4]
	require.Equal(t, byte(0x06), derivKV.key[0])
	wutxo := valueOf(1, []byte{0x01})

	tests := []struct {
		name string
		in   []byte
		msg  string
	}{
		{name: "empty", in: nil, msg: "neither binary"},
		{name: "text", in: []byte("hello"), msg: "neither binary"},
		{name: "bad base64", in: []byte("cHNidP8B!!!"), msg: "bad base64"},
		{name: "magic only", in: []byte("psbt\xff"), msg: "truncated"},
		{name: "truncated", in: raw[:len(raw)-1], msg: "truncated"},
		{name: "one byte after the last map", in: append(slices.Clone(raw), 0x00), msg: "1 bytes after the last map"},
		{name: "a sixth map", in: append(slices.Clone(raw), 0x01, 0x05, 0x00, 0x00), msg: "bytes after the last map"},
		{name: "binary with a newline", in: append(slices.Clone(raw), '\n'), msg: "bytes after the last map"},
		{name: "version 2", in: add(0, rawKV{[]byte{0xfb}, le32(2)}), msg: "PSBT version 2 is not supported, only version 0"},
		{name: "version 1", in: add(0, rawKV{[]byte{0xfb}, le32(1)}), msg: "PSBT version 1 is not supported"},
		{name: "version of 2 bytes", in: add(0, rawKV{[]byte{0xfb}, []byte{0, 0}}), msg: "bad version field"},
		{name: "global PSBT v2 field", in: add(0, rawKV{[]byte{0x04}, []byte{2}}), msg: "PSBT version 2 field (type 0x04)"},
		{name: "input PSBT v2 field", in: add(1, rawKV{[]byte{0x0e}, make([]byte, 32)}), msg: "input[0]: PSBT version 2 field (type 0x0e)"},
		{name: "output PSBT v2 field", in: add(4, rawKV{[]byte{0x03}, le64(1)}), msg: "output[1]: PSBT version 2 field (type 0x03)"},
		{name: "second unsigned transaction", in: add(0, rawKV{[]byte{0x00, 0x01}, []byte{0}}), msg: "unsigned transaction key 0001 has key data"},
		{name: "duplicate global xpub", in: add(0, xpubKV), msg: "global map: duplicate key 01"},
		{name: "duplicate proprietary key", msg: "global map: duplicate key fc0178", in: edit(func(maps [][]rawKV) [][]rawKV {
			kv := rawKV{[]byte{0xfc, 1, 'x', 0}, []byte{1}}
			maps[0] = append(maps[0], kv, kv)
			return maps
		})},
		{name: "duplicate derivation", in: add(1, derivKV), msg: "input[0]: duplicate key 06"},
		{name: "multi-byte key type", in: add(2, rawKV{[]byte{0xfd, 0x00, 0x01}, nil}), msg: "is a multi-byte compact size"},
		{name: "empty derivation value", in: set(1, derivKV.key, nil), msg: "BIP-32 derivation value of 0 bytes"},
		{name: "derivation value of 6 bytes", in: set(1, derivKV.key, make([]byte, 6)), msg: "BIP-32 derivation value of 6 bytes"},
		{name: "witness_utxo with a byte more", in: set(1, []byte{0x01}, append(slices.Clone(wutxo), 0)), msg: "witness_utxo script length 34 does not match its 35 bytes"},
		{name: "witness_utxo of 9 bytes", in: set(1, []byte{0x01}, wutxo[:9]), msg: "witness_utxo script length"},
		{name: "non_witness_utxo with a byte more", in: set(2, []byte{0x00}, append(valueOf(2, []byte{0x00}), 0)), msg: "input[1]: non_witness_utxo has bytes after the transaction"},
		{name: "unsigned transaction with a byte more", in: set(0, []byte{0x00}, append(valueOf(0, []byte{0x00}), 0)), msg: "unsigned transaction has 1 bytes after it"},
		{name: "finalized input with a sighash type", in: add(1, rawKV{[]byte{0x08}, []byte{0}}), msg: "input[0]: finalized input still carries key type 0x03"},
		{name: "empty taproot derivation", in: add(3, rawKV{append([]byte{0x07}, make([]byte, 32)...), nil}), msg: "empty taproot BIP-32 derivation value"},
		{name: "taproot derivation with 2^58 leaf hashes", in: add(3, rawKV{append([]byte{0x07}, make([]byte, 32)...),
			append([]byte{0xff, 0, 0, 0, 0, 0, 0, 0, 4}, make([]byte, 4)...)}), msg: "claims 288230376151711744 leaf hashes"},
		{name: "non-canonical compact size", in: append(slices.Clone(raw[:5]), 0xfd, 0x01, 0x00), msg: "non-canonical compact size"},
		{name: "no unsigned transaction", msg: "no unsigned transaction", in: edit(func(maps [][]rawKV) [][]rawKV {
			maps[0] = maps[0][1:]
			return maps[:1]
		})},
		{name: "proprietary key without a subtype", in: add(0, rawKV{[]byte{0xfc, 1, 'x'}, nil}), msg: "proprietary key fc0178"},
		{name: "non_witness_utxo of another transaction", in: set(1, []byte{0x00}, valueOf(2, []byte{0x00})), msg: "input[0]: non_witness_utxo is transaction"},
		{name: "non_witness_utxo without the spent output", msg: "input[0]: non_witness_utxo has 1 outputs, the input spends output 5", in: edit(func(maps [][]rawKV) [][]rawKV {
			tx := MustTx(t, maps[0][0].value)
			prev := MustTx(t, maps[1][0].value)
			prev.TxOut = prev.TxOut[:1]
			tx.TxIn[0].PreviousOutPoint = wire.OutPoint{Hash: prev.TxHash(), Index: 5}
			maps[0][0].value, maps[1][0].value = MustTxBytes(t, tx), MustTxBytes(t, prev)
			return maps
		})},
		{name: "sighash type of 2 bytes", in: set(1, []byte{0x03}, []byte{1, 0}), msg: "sighash type value of 2 bytes"},
		{name: "derivation key not on the curve", in: add(1, rawKV{append([]byte{0x06, 0x02}, bytes.Repeat([]byte{0xff}, 32)...), make([]byte, 4)}), msg: "is not a valid public key"},
		{name: "taproot internal key of 31 bytes", in: add(3, rawKV{[]byte{0x05}, make([]byte, 31)}), msg: "taproot internal key value of 31 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePSBT(tt.in)
			RequireCode(t, err, reserve.CodeInvalid, "psbt", tt.msg)
			require.Contains(t, err.Error(), "malformed PSBT: ")
			require.Nil(t, p)
		})
	}

	t.Run("too large", func(t *testing.T) {
		big := make([]byte, MaxPSBTBytes+1)
		copy(big, raw)
		_, err := ParsePSBT(big)
		RequireCode(t, err, reserve.CodeInvalid, "psbt", "is more than the 33554432 allowed")
		text := bytes.Repeat([]byte("A"), base64.StdEncoding.EncodedLen(MaxPSBTBytes)+1)
		copy(text, "cHNidP8B")
		_, err = ParsePSBT(text)
		RequireCode(t, err, reserve.CodeInvalid, "psbt", "base64 characters is more than")
		// MaxPSBTBytes+1 bytes take no more base64 characters than
		// MaxPSBTBytes: the decoded length is checked too.
		_, err = ParsePSBT([]byte(base64.StdEncoding.EncodeToString(big)))
		RequireCode(t, err, reserve.CodeInvalid, "psbt", "33554433 bytes (in base64) is more than the 33554432 allowed")
	})
	t.Run("file limit holds a base64 PSBT of the limit", func(t *testing.T) {
		max := base64.StdEncoding.EncodedLen(MaxPSBTBytes)
		require.GreaterOrEqual(t, MaxPSBTFileBytes, max+2, "room for a CRLF after the longest base64 PSBT")
		require.LessOrEqual(t, MaxPSBTFileBytes, max+64<<10, "only a little slack")
	})
	t.Run("unsigned transaction not first", func(t *testing.T) {
		// BIP-174 fixes no key order; Core writes the version first in
		// some PSBTs.
		in := edit(func(maps [][]rawKV) [][]rawKV {
			maps[0] = append([]rawKV{{[]byte{0xfb}, le32(0)}}, maps[0]...)
			return maps
		})
		p, err := ParsePSBT(in)
		require.NoError(t, err)
		require.Equal(t, add(0, rawKV{[]byte{0xfb}, le32(0)}), MustSerialize(t, p))
	})
	t.Run("version 0 stated", func(t *testing.T) {
		p, err := ParsePSBT(add(0, rawKV{[]byte{0xfb}, le32(0)}))
		require.NoError(t, err)
		require.Len(t, p.Unknowns, 1)
	})
}

// TestSerializePSBT checks the refusal of nothing.
func TestSerializePSBT(t *testing.T) {
	_, err := SerializePSBT(nil)
	RequireCode(t, err, reserve.CodeInvalid, "psbt", "no PSBT to serialize")
}
