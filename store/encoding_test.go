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

// sampleProposal has every field of a proposal set, and more than one
// element in every list.
func sampleProposal() reserve.Proposal {
	return reserve.Proposal{
		ID:       "P000042",
		WalletID: "w1a2b3c4",
		State:    reserve.StateSigning,
		Payees: []reserve.Payee{
			{Address: "bcrt1qpayeeone", Script: []byte{0x00, 0x14, 1, 2, 3}, AmountSat: 150_000_000},
			{Address: "bcrt1qpayeetwo", Script: []byte{0x00, 0x20, 4, 5, 6}, AmountSat: 1},
		},
		Memo:    "fertiliser, Q2 — ministry of agriculture",
		FeeRate: 12,
		FeeSat:  4_321,
		VSize:   360,
		Inputs: []reserve.Input{
			{OutPoint: wire.OutPoint{Hash: chainhash.Hash{7, 31: 1}, Index: 3}, AmountSat: 100_000_000, Branch: reserve.BranchReceive, Index: 9},
			{OutPoint: wire.OutPoint{Hash: chainhash.Hash{8}, Index: 0}, AmountSat: 60_000_000, Branch: reserve.BranchChange, Index: 2},
		},
		Change:     &reserve.Change{Index: 5, AmountSat: 9_995_679, Vout: 2},
		UnsignedTx: []byte{0x02, 0, 0, 0, 0x02, 0xaa, 0xbb},
		PSBT:       append([]byte("psbt\xff"), bytes.Repeat([]byte{0x5a}, 300)...),
		Signatures: []reserve.Signature{
			{Cosigner: 0, Fingerprint: 0xdeadbeef, At: testTime},
			{Cosigner: 2, Fingerprint: 0x0a0b0c0d, At: testTime.Add(time.Minute)},
		},
		Txid:            chainhash.Hash{0xfe, 31: 0xef},
		FinalTx:         []byte{0x02, 0, 0, 0, 0, 1},
		ConfirmedHeight: 812_345,
		FailReason:      "node said: min relay fee not met",
		CreatedBy:       "officer-alice",
		CreatedAt:       testTime,
		ExpiresAt:       testTime.Add(72 * time.Hour),
		History: []reserve.Transition{
			{State: reserve.StatePendingApproval, At: testTime, Actor: "officer-alice", Note: "proposed"},
			{State: reserve.StateApproved, At: testTime.Add(time.Hour), Actor: "daemon", Note: "2 of 3 officers"},
			{State: reserve.StateSigning, At: testTime.Add(2 * time.Hour), Actor: "daemon"},
		},
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
		{name: "proposal", roundTrip: func(t *testing.T) (any, any) {
			p := sampleProposal()
			b, err := encodeProposal(&p)
			require.NoError(t, err)
			got, err := decodeProposal(b)
			require.NoError(t, err)
			return p, got
		}},
		{name: "proposal with only a state", roundTrip: func(t *testing.T) (any, any) {
			p := reserve.Proposal{State: reserve.StateReplaced}
			b, err := encodeProposal(&p)
			require.NoError(t, err)
			got, err := decodeProposal(b)
			require.NoError(t, err)
			return p, got
		}},
		{name: "proposal with a large PSBT", roundTrip: func(t *testing.T) (any, any) {
			p := sampleProposal()
			p.PSBT = bytes.Repeat([]byte{0x70, 0x73}, 4<<20) // 8 MiB
			p.FinalTx = bytes.Repeat([]byte{0x01}, 2<<20)
			b, err := encodeProposal(&p)
			require.NoError(t, err)
			got, err := decodeProposal(b)
			require.NoError(t, err)
			return p, got
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

// TestDecodeProposalRefuses checks the ways a stored proposal can be
// wrong that the generic record checks do not already cover.
func TestDecodeProposalRefuses(t *testing.T) {
	p := sampleProposal()
	good, err := encodeProposal(&p)
	require.NoError(t, err)
	stateAt := 1 + 1 + len(p.ID) + 1 + len(p.WalletID)
	payeesAt := stateAt + 1
	require.Equal(t, byte(len(p.Payees)), good[payeesAt])

	// Offsets counted from the end: ... created_by created_at(8)
	// expires_at(8) history(count) then the history entries.
	historyLen := 0
	for _, h := range p.History {
		historyLen += 1 + 8 + 1 + len(h.Actor) + 1 + len(h.Note)
	}
	// A proposal without approvals ends with an empty approval section:
	// intent(1) decisions(1) release_at(8) replaces(1).
	const emptySection = 1 + 1 + 8 + 1
	require.Equal(t, make([]byte, emptySection), good[len(good)-emptySection:])
	historyEnd := len(good) - emptySection
	historyCountAt := historyEnd - historyLen - 1
	require.Equal(t, byte(len(p.History)), good[historyCountAt])
	lastHistoryStateAt := historyEnd - (1 + 8 + 1 + len(p.History[2].Actor) + 1)

	tests := []struct {
		name    string
		mutate  func(b []byte) []byte
		wantErr error
		wantMsg string
	}{
		{name: "unknown version", mutate: func(b []byte) []byte { b[0] = 3; return b }, wantMsg: "unknown record version 3"},
		{name: "version 1 record", mutate: func(b []byte) []byte { b[0] = 1; return b }, wantMsg: "unknown record version 1"},
		{name: "intent that does not decode", mutate: func(b []byte) []byte {
			out := append([]byte(nil), b[:historyEnd]...)
			out = append(out, 2, 9, 9) // a 2-byte intent of an unknown version
			return append(out, b[historyEnd+1:]...)
		}, wantMsg: "intent"},
		{name: "approval section cut short", mutate: func(b []byte) []byte { return b[:len(b)-1] }, wantErr: errTruncated},
		{name: "trailing byte", mutate: func(b []byte) []byte { return append(b, 0) }, wantErr: errTrailing},
		{name: "unspecified state", mutate: func(b []byte) []byte { b[stateAt] = 0; return b }, wantMsg: "unknown proposal state 0"},
		{name: "unknown state", mutate: func(b []byte) []byte { b[stateAt] = 12; return b }, wantMsg: "unknown proposal state 12"},
		{name: "unknown state in the history", mutate: func(b []byte) []byte { b[lastHistoryStateAt] = 99; return b }, wantMsg: "history[2].state"},
		{name: "more payees than the record holds", mutate: func(b []byte) []byte { b[payeesAt] = 100; return b }, wantErr: errTruncated},
		{name: "more history than allowed", mutate: func(b []byte) []byte {
			out := append([]byte(nil), b[:historyCountAt]...)
			out = append(out, 0x81, 0x08) // uvarint 1025
			return append(out, b[historyCountAt+1:]...)
		}, wantMsg: "history: length is over the 1024 allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeProposal(tc.mutate(append([]byte(nil), good...)))
			require.Error(t, err)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			require.Contains(t, err.Error(), tc.wantMsg)
		})
	}

	t.Run("every proper prefix is refused", func(t *testing.T) {
		for n := 0; n < len(good); n++ {
			_, err := decodeProposal(good[:n])
			require.Error(t, err, "prefix of %d bytes", n)
		}
	})
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
		{name: "proposal PSBT over 64 MiB", wantField: "psbt", encode: func() error {
			p := sampleProposal()
			p.PSBT = make([]byte, maxPSBTLen+1)
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal final tx over 64 MiB", wantField: "final_tx", encode: func() error {
			p := sampleProposal()
			p.FinalTx = make([]byte, maxPSBTLen+1)
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal unsigned tx over the consensus size", wantField: "unsigned_tx", encode: func() error {
			p := sampleProposal()
			p.UnsignedTx = make([]byte, maxUnsignedTxLen+1)
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal memo too long", wantField: "memo", encode: func() error {
			p := sampleProposal()
			p.Memo = strings.Repeat("m", maxTextLen+1)
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal payee script too long", wantField: "payees[1].script", encode: func() error {
			p := sampleProposal()
			p.Payees[1].Script = make([]byte, maxScriptLen+1)
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal too many inputs", wantField: "inputs", encode: func() error {
			p := sampleProposal()
			p.Inputs = make([]reserve.Input, maxProposalItems+1)
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal history too long", wantField: "history", encode: func() error {
			p := sampleProposal()
			p.History = make([]reserve.Transition, maxHistoryLen+1)
			for i := range p.History {
				p.History[i].State = reserve.StateSigning
			}
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal unknown state", wantField: "state", encode: func() error {
			p := sampleProposal()
			p.State = 0
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal transition to no state", wantField: "history[1].state", encode: func() error {
			p := sampleProposal()
			p.History[1].State = 0
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal payee amount over the supply", wantField: "payees[0].amount_sat", encode: func() error {
			p := sampleProposal()
			p.Payees[0].AmountSat = reserve.MaxSat + 1
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal input with unknown branch", wantField: "inputs[1].branch", encode: func() error {
			p := sampleProposal()
			p.Inputs[1].Branch = 2
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal negative change", wantField: "change.amount_sat", encode: func() error {
			p := sampleProposal()
			p.Change.AmountSat = -5
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal cosigner past the last", wantField: "signatures[1].cosigner", encode: func() error {
			p := sampleProposal()
			p.Signatures[1].Cosigner = reserve.MaxCosigners
			_, err := encodeProposal(&p)
			return err
		}},
		{name: "proposal expiry out of range", wantField: "expires_at", encode: func() error {
			p := sampleProposal()
			p.ExpiresAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
			_, err := encodeProposal(&p)
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

// FuzzDecodeProposal is FuzzDecodeUTXO for proposal records.
func FuzzDecodeProposal(f *testing.F) {
	p := sampleProposal()
	good, err := encodeProposal(&p)
	require.NoError(f, err)
	f.Add(good)
	f.Add(good[:len(good)/2])
	min := reserve.Proposal{State: reserve.StatePendingApproval}
	minimal, err := encodeProposal(&min)
	require.NoError(f, err)
	f.Add(minimal)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeProposal(b)
		if err != nil {
			return
		}
		again, err := encodeProposal(&p)
		require.NoError(t, err)
		require.Equal(t, b, again)
	})
}
