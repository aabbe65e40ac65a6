package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

var testTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func sampleUTXO() reserve.UTXO {
	return reserve.UTXO{
		OutPoint:    wire.OutPoint{Hash: chainhash.Hash{1, 2, 3, 31: 4}, Index: 7},
		AmountSat:   123_456_789,
		Script:      append([]byte{0x00, 0x20}, bytes.Repeat([]byte{0xab}, 32)...),
		Branch:      reserve.BranchChange,
		Index:       42,
		Height:      800_000,
		Coinbase:    true,
		Spent:       true,
		SpentBy:     chainhash.Hash{9, 9, 9},
		SpentHeight: 800_001,
	}
}

func sampleAddress() addressRecord {
	return addressRecord{
		Address: reserve.Address{
			Branch:    reserve.BranchReceive,
			Index:     3,
			Address:   "bcrt1qexampleexampleexample",
			Script:    append([]byte{0x00, 0x20}, bytes.Repeat([]byte{0xcd}, 32)...),
			Label:     "customs duties, March",
			Issued:    true,
			CreatedAt: testTime,
		},
		Used: true,
	}
}

func sampleWallet() reserve.Wallet {
	return reserve.Wallet{
		ID:        "w1a2b3c4",
		Name:      "National reserve",
		Network:   reserve.Regtest,
		Threshold: 2,
		Cosigners: []reserve.Cosigner{
			{Fingerprint: 0xdeadbeef, Path: []uint32{48 | 1<<31, 1 | 1<<31, 0 | 1<<31, 2 | 1<<31}, XPub: "tpubA"},
			{Fingerprint: 0x01020304, Path: []uint32{48 | 1<<31}, XPub: "tpubB"},
			{Fingerprint: 0x0a0b0c0d, XPub: "tpubC"},
		},
		Descriptor:     "wsh(sortedmulti(2,...))#checksum",
		GapLimit:       20,
		BirthdayHeight: 101,
		CreatedAt:      testTime,
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		// roundTrip encodes, decodes and returns both values to compare.
		roundTrip func(t *testing.T) (want, got any)
	}{
		{name: "utxo", roundTrip: func(t *testing.T) (any, any) {
			u := sampleUTXO()
			b, err := encodeUTXO(&u)
			require.NoError(t, err)
			got, err := decodeUTXO(b)
			require.NoError(t, err)
			return u, got
		}},
		{name: "utxo with zero fields", roundTrip: func(t *testing.T) (any, any) {
			u := reserve.UTXO{Script: []byte{0x51}}
			b, err := encodeUTXO(&u)
			require.NoError(t, err)
			got, err := decodeUTXO(b)
			require.NoError(t, err)
			return u, got
		}},
		{name: "address", roundTrip: func(t *testing.T) (any, any) {
			a := sampleAddress()
			b, err := encodeAddress(&a)
			require.NoError(t, err)
			got, err := decodeAddress(b)
			require.NoError(t, err)
			return a, got
		}},
		{name: "address with zero time and empty label", roundTrip: func(t *testing.T) (any, any) {
			a := addressRecord{Address: reserve.Address{Branch: reserve.BranchChange, Index: 1, Script: []byte{1}}}
			b, err := encodeAddress(&a)
			require.NoError(t, err)
			got, err := decodeAddress(b)
			require.NoError(t, err)
			return a, got
		}},
		{name: "wallet", roundTrip: func(t *testing.T) (any, any) {
			w := sampleWallet()
			b, err := encodeWallet(&w)
			require.NoError(t, err)
			got, err := decodeWallet(b)
			require.NoError(t, err)
			return w, got
		}},
		{name: "wallet with maximum cosigners", roundTrip: func(t *testing.T) (any, any) {
			w := sampleWallet()
			w.Cosigners = make([]reserve.Cosigner, reserve.MaxCosigners)
			for i := range w.Cosigners {
				w.Cosigners[i] = reserve.Cosigner{Fingerprint: uint32(i), Path: []uint32{uint32(i)}, XPub: strings.Repeat("x", maxXPubLen)}
			}
			w.Threshold = reserve.MaxCosigners
			b, err := encodeWallet(&w)
			require.NoError(t, err)
			got, err := decodeWallet(b)
			require.NoError(t, err)
			return w, got
		}},
		{name: "audit", roundTrip: func(t *testing.T) (any, any) {
			a := AuditEntry{Time: testTime, Kind: AuditAddressIssue, Detail: `branch=receive index=0 label="x"`}
			b, err := encodeAudit(&a)
			require.NoError(t, err)
			got, err := decodeAudit(b)
			require.NoError(t, err)
			return a, got
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, got := tc.roundTrip(t)
			require.Equal(t, want, got)
		})
	}
}

// TestDecodeUTXORefuses checks every way a stored value can be wrong.
func TestDecodeUTXORefuses(t *testing.T) {
	u := sampleUTXO()
	good, err := encodeUTXO(&u)
	require.NoError(t, err)
	// The script length byte sits after version(1) txid(32) vout(4)
	// amount(8).
	const scriptLenAt = 1 + 32 + 4 + 8
	branchAt := scriptLenAt + 1 + len(u.Script)
	coinbaseAt := branchAt + 1 + 4 + 4

	tests := []struct {
		name    string
		mutate  func(b []byte) []byte
		wantErr error  // matched with errors.Is when set
		wantMsg string // matched as a substring
	}{
		{name: "empty", mutate: func([]byte) []byte { return nil }, wantErr: errTruncated},
		{name: "unknown version", mutate: func(b []byte) []byte { b[0] = 2; return b }, wantMsg: "unknown record version 2"},
		{name: "version zero", mutate: func(b []byte) []byte { b[0] = 0; return b }, wantMsg: "unknown record version 0"},
		{name: "truncated in a fixed field", mutate: func(b []byte) []byte { return b[:10] }, wantErr: errTruncated},
		{name: "truncated in the script", mutate: func(b []byte) []byte { return b[:scriptLenAt+5] }, wantErr: errTruncated},
		{name: "truncated by one byte", mutate: func(b []byte) []byte { return b[:len(b)-1] }, wantErr: errTruncated},
		{name: "trailing byte", mutate: func(b []byte) []byte { return append(b, 0) }, wantErr: errTrailing},
		{name: "script length over the limit", mutate: func(b []byte) []byte {
			out := append([]byte(nil), b[:scriptLenAt]...)
			out = append(out, 0xff, 0xff, 0xff, 0xff, 0x0f) // uvarint 2^32-1
			return append(out, b[scriptLenAt+1:]...)
		}, wantMsg: "script: length is over the 10000 allowed"},
		{name: "uvarint overflowing 64 bits", mutate: func(b []byte) []byte {
			out := append([]byte(nil), b[:scriptLenAt]...)
			return append(out, bytes.Repeat([]byte{0xff}, 11)...)
		}, wantMsg: "script: length is over"},
		{name: "non-canonical script length", mutate: func(b []byte) []byte {
			out := append([]byte(nil), b[:scriptLenAt]...)
			out = append(out, b[scriptLenAt]|0x80, 0x00) // same length, two bytes
			return append(out, b[scriptLenAt+1:]...)
		}, wantErr: errNonCanonical},
		{name: "boolean neither 0 nor 1", mutate: func(b []byte) []byte { b[coinbaseAt] = 2; return b }, wantErr: errNonCanonical},
		{name: "unknown branch", mutate: func(b []byte) []byte { b[branchAt] = 7; return b }, wantMsg: "unknown branch 7"},
		{name: "negative amount", mutate: func(b []byte) []byte { b[1+32+4] = 0xff; return b }, wantMsg: "amount_sat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeUTXO(tc.mutate(append([]byte(nil), good...)))
			require.Error(t, err)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			require.Contains(t, err.Error(), tc.wantMsg)
		})
	}

	t.Run("every proper prefix is truncated", func(t *testing.T) {
		for n := 0; n < len(good); n++ {
			_, err := decodeUTXO(good[:n])
			require.Error(t, err, "prefix of %d bytes", n)
		}
	})
}

func TestDecodeWalletRefuses(t *testing.T) {
	w := sampleWallet()
	good, err := encodeWallet(&w)
	require.NoError(t, err)

	// A wallet whose cosigner count claims more than MaxCosigners.
	countAt := 1 + 1 + len(w.ID) + 1 + len(w.Name) + 1 + 4
	require.Equal(t, byte(len(w.Cosigners)), good[countAt])

	tests := []struct {
		name    string
		mutate  func(b []byte) []byte
		wantErr error
		wantMsg string
	}{
		{name: "unknown version", mutate: func(b []byte) []byte { b[0] = 9; return b }, wantMsg: "unknown record version 9"},
		{name: "trailing bytes", mutate: func(b []byte) []byte { return append(b, 1, 2, 3) }, wantErr: errTrailing},
		{name: "truncated", mutate: func(b []byte) []byte { return b[:len(b)/2] }, wantErr: errTruncated},
		{name: "too many cosigners", mutate: func(b []byte) []byte { b[countAt] = reserve.MaxCosigners + 1; return b }, wantMsg: "cosigners: length is over the 20 allowed"},
		{name: "threshold out of range", mutate: func(b []byte) []byte { b[countAt-4] = 0xff; return b }, wantMsg: "threshold"},
		{name: "id length over the limit", mutate: func(b []byte) []byte {
			return append([]byte{recordVersion, 0x81, 0x02}, b[1:]...) // uvarint 257
		}, wantMsg: "id: length is over the 256 allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeWallet(tc.mutate(append([]byte(nil), good...)))
			require.Error(t, err)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			require.Contains(t, err.Error(), tc.wantMsg)
		})
	}
}

func TestDecodeAddressAndAuditRefuse(t *testing.T) {
	a := sampleAddress()
	goodAddr, err := encodeAddress(&a)
	require.NoError(t, err)
	e := AuditEntry{Time: testTime, Kind: "k", Detail: "d"}
	goodAudit, err := encodeAudit(&e)
	require.NoError(t, err)

	tests := []struct {
		name   string
		decode func() error
	}{
		{name: "address with trailing bytes", decode: func() error { _, err := decodeAddress(append(goodAddr, 0)); return err }},
		{name: "address truncated", decode: func() error { _, err := decodeAddress(goodAddr[:len(goodAddr)-3]); return err }},
		{name: "address with unknown branch", decode: func() error {
			b := append([]byte(nil), goodAddr...)
			b[1] = 2
			_, err := decodeAddress(b)
			return err
		}},
		{name: "audit with unknown version", decode: func() error {
			b := append([]byte(nil), goodAudit...)
			b[0] = 3
			_, err := decodeAudit(b)
			return err
		}},
		{name: "audit truncated", decode: func() error { _, err := decodeAudit(goodAudit[:5]); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Error(t, tc.decode())
		})
	}
}

func TestEncodeRefusesOverLimits(t *testing.T) {
	tests := []struct {
		name      string
		encode    func() error
		wantField string
	}{
		{name: "utxo script too long", wantField: "script", encode: func() error {
			u := sampleUTXO()
			u.Script = make([]byte, maxScriptLen+1)
			_, err := encodeUTXO(&u)
			return err
		}},
		{name: "utxo amount over the supply", wantField: "amount_sat", encode: func() error {
			u := sampleUTXO()
			u.AmountSat = reserve.MaxSat + 1
			_, err := encodeUTXO(&u)
			return err
		}},
		{name: "utxo negative amount", wantField: "amount_sat", encode: func() error {
			u := sampleUTXO()
			u.AmountSat = -1
			_, err := encodeUTXO(&u)
			return err
		}},
		{name: "address label too long", wantField: "label", encode: func() error {
			a := sampleAddress()
			a.Label = strings.Repeat("l", MaxLabelLen+1)
			_, err := encodeAddress(&a)
			return err
		}},
		{name: "address time out of range", wantField: "created_at", encode: func() error {
			a := sampleAddress()
			a.CreatedAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
			_, err := encodeAddress(&a)
			return err
		}},
		{name: "wallet with too many cosigners", wantField: "cosigners", encode: func() error {
			w := sampleWallet()
			w.Cosigners = make([]reserve.Cosigner, reserve.MaxCosigners+1)
			_, err := encodeWallet(&w)
			return err
		}},
		{name: "wallet xpub too long", wantField: "cosigners[1].xpub", encode: func() error {
			w := sampleWallet()
			w.Cosigners[1].XPub = strings.Repeat("x", maxXPubLen+1)
			_, err := encodeWallet(&w)
			return err
		}},
		{name: "wallet negative threshold", wantField: "threshold", encode: func() error {
			w := sampleWallet()
			w.Threshold = -1
			_, err := encodeWallet(&w)
			return err
		}},
		{name: "audit detail too long", wantField: "detail", encode: func() error {
			_, err := encodeAudit(&AuditEntry{Detail: strings.Repeat("d", maxAuditDetailLen+1)})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.encode()
			var le *limitError
			require.True(t, errors.As(err, &le), "want a limitError, got %v", err)
			require.Equal(t, tc.wantField, le.Field)
		})
	}
}

func TestMigrationsAreOrdered(t *testing.T) {
	require.NotEmpty(t, migrations)
	for i, m := range migrations {
		require.Equal(t, uint32(i+1), m.version, "migration %d (%s)", i, m.name)
		require.NotEmpty(t, m.name)
		require.NotNil(t, m.apply)
	}
}

// FuzzDecodeUTXO checks that no input makes the decoder panic, and that
// whatever it accepts re-encodes to the same bytes (the encoding is
// canonical).
func FuzzDecodeUTXO(f *testing.F) {
	u := sampleUTXO()
	good, err := encodeUTXO(&u)
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{recordVersion})
	f.Add(good[:len(good)-1])
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := decodeUTXO(b)
		if err != nil {
			return
		}
		again, err := encodeUTXO(&u)
		require.NoError(t, err)
		require.Equal(t, b, again)
	})
}

// FuzzDecodeWallet is FuzzDecodeUTXO for wallet records.
func FuzzDecodeWallet(f *testing.F) {
	w := sampleWallet()
	good, err := encodeWallet(&w)
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{recordVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := decodeWallet(b)
		if err != nil {
			return
		}
		again, err := encodeWallet(&w)
		require.NoError(t, err)
		require.Equal(t, b, again)
	})
}

// FuzzDecodeAddress is FuzzDecodeUTXO for address records.
func FuzzDecodeAddress(f *testing.F) {
	a := sampleAddress()
	good, err := encodeAddress(&a)
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAddress(b)
		if err != nil {
			return
		}
		again, err := encodeAddress(&a)
		require.NoError(t, err)
		require.Equal(t, b, again)
	})
}
