package store

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// sampleOfficerKey is officer i's key, from the fixed seed of 32 bytes of
// i+1.
func sampleOfficerKey(i int) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, ed25519.SeedSize))
}

// sampleControlSig is officer i's signature over a freeze of epoch 3.
// The records do not check signatures; a real one keeps the sample honest.
func sampleControlSig(t *testing.T, officer string, i int) reserve.ControlSignature {
	t.Helper()
	c := reserve.Control{Action: reserve.ActionFreeze, Network: reserve.Regtest, WalletID: "w1a2b3c4", Epoch: 3}
	a, err := reserve.SignControl(&c, sampleOfficerKey(i))
	require.NoError(t, err)
	return reserve.ControlSignature{Officer: officer, Approval: a, At: testTime.Add(time.Duration(i) * time.Minute)}
}

// samplePolicyRecord has every field set. The records do not parse the
// text: UpdateGovernance does.
func samplePolicyRecord(t *testing.T) reserve.PolicyRecord {
	return reserve.PolicyRecord{
		Seq:       7,
		Text:      []byte("version: 1\n# officers, tiers, ...\n"),
		Hash:      [32]byte{0xaa, 31: 0xbb},
		By:        "admin@ministry-of-finance",
		At:        testTime,
		Approvals: []reserve.ControlSignature{sampleControlSig(t, "alice", 0), sampleControlSig(t, "bob", 1)},
	}
}

// sampleGovernance has every field set, and more than one element in
// every list.
func sampleGovernance(t *testing.T) reserve.Governance {
	policy, pending := samplePolicyRecord(t), samplePolicyRecord(t)
	pending.Seq, pending.Text, pending.Hash = 0, []byte("version: 1\n# the next one\n"), [32]byte{0xcc}
	pending.Approvals = pending.Approvals[:1]
	return reserve.Governance{
		Policy:  &policy,
		Pending: &pending,
		Freeze: reserve.Freeze{
			Epoch:    3,
			Frozen:   true,
			By:       sampleControlSig(t, "carol", 2),
			Reason:   "keys of the ministry of agriculture — lost",
			Unfreeze: []reserve.ControlSignature{sampleControlSig(t, "alice", 0), sampleControlSig(t, "bob", 1)},
		},
	}
}

func TestGovernanceRecordsRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		// roundTrip encodes, decodes, re-encodes and returns the value,
		// the decoded value, and both encodings.
		roundTrip func(t *testing.T) (want, got any, enc, reenc []byte)
	}{
		{name: "policy record", roundTrip: func(t *testing.T) (any, any, []byte, []byte) {
			r := samplePolicyRecord(t)
			return roundTripPolicyRecord(t, r)
		}},
		{name: "first policy record: no approvals", roundTrip: func(t *testing.T) (any, any, []byte, []byte) {
			r := samplePolicyRecord(t)
			r.Seq, r.Approvals = 1, nil
			return roundTripPolicyRecord(t, r)
		}},
		{name: "governance", roundTrip: func(t *testing.T) (any, any, []byte, []byte) {
			return roundTripGovernance(t, sampleGovernance(t))
		}},
		{name: "zero governance", roundTrip: func(t *testing.T) (any, any, []byte, []byte) {
			return roundTripGovernance(t, reserve.Governance{})
		}},
		{name: "governance with a pending change only", roundTrip: func(t *testing.T) (any, any, []byte, []byte) {
			g := sampleGovernance(t)
			g.Policy, g.Freeze = nil, reserve.Freeze{}
			return roundTripGovernance(t, g)
		}},
		{name: "thawed governance", roundTrip: func(t *testing.T) (any, any, []byte, []byte) {
			g := sampleGovernance(t)
			g.Pending, g.Freeze.Frozen = nil, false
			return roundTripGovernance(t, g)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, got, enc, reenc := tc.roundTrip(t)
			require.Equal(t, want, got)
			require.Equal(t, enc, reenc, "a decoded record must encode to the same bytes")
		})
	}
}

func roundTripPolicyRecord(t *testing.T, r reserve.PolicyRecord) (any, any, []byte, []byte) {
	b, err := encodePolicyRecord(&r)
	require.NoError(t, err)
	got, err := decodePolicyRecord(b)
	require.NoError(t, err)
	b2, err := encodePolicyRecord(&got)
	require.NoError(t, err)
	return r, got, b, b2
}

func roundTripGovernance(t *testing.T, g reserve.Governance) (any, any, []byte, []byte) {
	b, err := encodeGovernance(&g)
	require.NoError(t, err)
	got, err := decodeGovernance(b)
	require.NoError(t, err)
	b2, err := encodeGovernance(&got)
	require.NoError(t, err)
	return g, got, b, b2
}

func TestDecodeGovernanceRecordsRefuse(t *testing.T) {
	r := samplePolicyRecord(t)
	goodPolicy, err := encodePolicyRecord(&r)
	require.NoError(t, err)
	g := sampleGovernance(t)
	goodGov, err := encodeGovernance(&g)
	require.NoError(t, err)
	// The governance record starts with policy_present; the frozen byte
	// follows both policy record bodies and the epoch.
	const policyPresentAt = 1
	require.Equal(t, byte(1), goodGov[policyPresentAt])
	p, err := encodePolicyRecord(g.Policy)
	require.NoError(t, err)
	q, err := encodePolicyRecord(g.Pending)
	require.NoError(t, err)
	frozenAt := 1 + 1 + (len(p) - 1) + 1 + (len(q) - 1) + 8
	require.Equal(t, byte(1), goodGov[frozenAt])

	decoders := []struct {
		name   string
		good   []byte
		decode func(b []byte) error
	}{
		{name: "policy record", good: goodPolicy, decode: func(b []byte) error { _, err := decodePolicyRecord(b); return err }},
		{name: "governance", good: goodGov, decode: func(b []byte) error { _, err := decodeGovernance(b); return err }},
	}
	tests := []struct {
		name    string
		only    string // a decoder name, or "" for both
		mutate  func(b []byte) []byte
		wantErr error  // matched with errors.Is when set
		wantMsg string // matched as a substring
	}{
		{name: "empty", mutate: func([]byte) []byte { return nil }, wantErr: errTruncated},
		{name: "truncated by one byte", mutate: func(b []byte) []byte { return b[:len(b)-1] }, wantErr: errTruncated},
		{name: "truncated in half", mutate: func(b []byte) []byte { return b[:len(b)/2] }, wantErr: errTruncated},
		{name: "trailing byte", mutate: func(b []byte) []byte { return append(b, 0) }, wantErr: errTrailing},
		{name: "unknown version", mutate: func(b []byte) []byte { b[0] = 2; return b }, wantMsg: "unknown record version 2"},
		{name: "version zero", mutate: func(b []byte) []byte { b[0] = 0; return b }, wantMsg: "unknown record version 0"},
		{name: "policy present neither 0 nor 1", only: "governance",
			mutate: func(b []byte) []byte { b[policyPresentAt] = 2; return b }, wantErr: errNonCanonical},
		{name: "frozen neither 0 nor 1", only: "governance",
			mutate: func(b []byte) []byte { b[frozenAt] = 2; return b }, wantErr: errNonCanonical},
		{name: "policy absent but its body there", only: "governance",
			mutate: func(b []byte) []byte { b[policyPresentAt] = 0; return b }},
	}
	for _, dec := range decoders {
		for _, tc := range tests {
			if tc.only != "" && tc.only != dec.name {
				continue
			}
			t.Run(dec.name+"/"+tc.name, func(t *testing.T) {
				err := dec.decode(tc.mutate(append([]byte(nil), dec.good...)))
				require.Error(t, err)
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
				}
				require.ErrorContains(t, err, tc.wantMsg)
			})
		}
		t.Run(dec.name+"/every proper prefix is refused", func(t *testing.T) {
			for n := 0; n < len(dec.good); n++ {
				require.Error(t, dec.decode(dec.good[:n]), "prefix of %d bytes", n)
			}
		})
	}
}

// TestEncodeGovernanceRefusesOverLimits checks that the store never
// writes a governance record it could not read back, naming the field.
func TestEncodeGovernanceRefusesOverLimits(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(g *reserve.Governance)
		field  string
	}{
		{name: "policy text", field: "text",
			mutate: func(g *reserve.Governance) { g.Policy.Text = bytes.Repeat([]byte{'#'}, reserve.MaxPolicyBytes+1) }},
		{name: "policy author", field: "by", mutate: func(g *reserve.Governance) { g.Policy.By = strings.Repeat("b", maxNameLen+1) }},
		{name: "approval officer", field: "approvals[1].officer",
			mutate: func(g *reserve.Governance) { g.Policy.Approvals[1].Officer = strings.Repeat("o", maxIDLen+1) }},
		{name: "too many approvals", field: "approvals",
			mutate: func(g *reserve.Governance) { g.Pending.Approvals = make([]reserve.ControlSignature, maxControlSigs+1) }},
		{name: "freeze reason", field: "freeze.reason",
			mutate: func(g *reserve.Governance) { g.Freeze.Reason = strings.Repeat("r", maxTextLen+1) }},
		{name: "freeze officer", field: "freeze.by.officer",
			mutate: func(g *reserve.Governance) { g.Freeze.By.Officer = strings.Repeat("o", maxIDLen+1) }},
		{name: "unfreeze approvals", field: "freeze.unfreeze",
			mutate: func(g *reserve.Governance) { g.Freeze.Unfreeze = make([]reserve.ControlSignature, maxControlSigs+1) }},
		{name: "time outside the years 1678 to 2262", field: "freeze.unfreeze[0].at",
			mutate: func(g *reserve.Governance) { g.Freeze.Unfreeze[0].At = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := sampleGovernance(t)
			tc.mutate(&g)
			_, err := encodeGovernance(&g)
			var le *limitError
			require.ErrorAs(t, err, &le)
			require.Equal(t, tc.field, le.Field, "error: %v", err)
		})
	}
}
