package store

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// sampleApprovedProposal is sampleProposal with the approval section set:
// an intent, an approval by officer 0 and a veto by officer 1, a release
// time and the id of the proposal it replaces.
func sampleApprovedProposal(t *testing.T) reserve.Proposal {
	t.Helper()
	p := sampleProposal()
	p.Intent = &reserve.Intent{
		Network:    reserve.Regtest,
		WalletID:   p.WalletID,
		ProposalID: "P000041",
		PolicyHash: [32]byte{0x35, 0xb9, 31: 0xc4},
		Payees: []reserve.IntentPayee{
			{Script: p.Payees[0].Script, AmountSat: p.Payees[0].AmountSat},
			{Script: p.Payees[1].Script, AmountSat: p.Payees[1].AmountSat},
		},
		FeeCapSat: 10_000,
		ExpiresAt: time.Date(2026, 3, 21, 0, 0, 0, 0, time.UTC),
	}
	for i, d := range []reserve.Decision{reserve.DecisionApprove, reserve.DecisionReject} {
		a, err := reserve.SignIntent(p.Intent, d, sampleOfficerKey(i))
		require.NoError(t, err)
		p.Decisions = append(p.Decisions, reserve.OfficerDecision{
			Officer: []string{"alice", "bob"}[i], Decision: d, Approval: a, At: testTime.Add(time.Duration(i+1) * time.Hour),
		})
	}
	p.ReleaseAt = testTime.Add(3 * time.Hour)
	p.Replaces = "P000041"
	return p
}

func TestProposalApprovalSectionRoundTrip(t *testing.T) {
	p := sampleApprovedProposal(t)
	b, err := encodeProposal(&p)
	require.NoError(t, err)
	require.Equal(t, proposalVersion, b[0])
	got, err := decodeProposal(b)
	require.NoError(t, err)
	require.Equal(t, p, got)

	// The decoded decisions still verify: key, signature and decision
	// came back bit for bit, and so did the intent they sign.
	for i, d := range got.Decisions {
		require.NoError(t, reserve.VerifyApproval(got.Intent, d.Decision, d.Approval), "decisions[%d]", i)
	}
	b2, err := encodeProposal(&got)
	require.NoError(t, err)
	require.Equal(t, b, b2, "a decoded record must encode to the same bytes")

	// Every proper prefix that cuts into the approval section is refused.
	noSection := sampleProposal()
	short, err := encodeProposal(&noSection)
	require.NoError(t, err)
	sectionAt := len(short) - (1 + 1 + 8 + 1)
	for n := sectionAt; n < len(b); n++ {
		_, err := decodeProposal(b[:n])
		require.ErrorIs(t, err, errTruncated, "prefix of %d bytes", n)
	}
}

func TestProposalUnknownDecision(t *testing.T) {
	p := sampleApprovedProposal(t)
	good, err := encodeProposal(&p)
	require.NoError(t, err)
	// The record ends: decision(1) officer_key(32) signature(64) at(8) of
	// the last decision, release_at(8), replaces(uvarint len || bytes).
	lastDecisionAt := len(good) - (1 + len(p.Replaces)) - 8 - 8 - 64 - 32 - 1
	require.Equal(t, byte(reserve.DecisionReject), good[lastDecisionAt])

	for _, d := range []byte{0, 3, 0xff} {
		b := append([]byte(nil), good...)
		b[lastDecisionAt] = d
		_, err := decodeProposal(b)
		var le *limitError
		require.ErrorAs(t, err, &le, "decision byte %d", d)
		require.Equal(t, "decisions[1].decision", le.Field)
		require.ErrorContains(t, err, "unknown decision")

		// The encoder refuses it as well, so the store never writes it.
		bad := sampleApprovedProposal(t)
		bad.Decisions[1].Decision = reserve.Decision(d)
		_, err = encodeProposal(&bad)
		require.ErrorAs(t, err, &le, "decision %d", d)
		require.Equal(t, "decisions[1].decision", le.Field)
	}
}

func TestEncodeProposalRefusesInvalidIntent(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(in *reserve.Intent)
	}{
		{name: "no payees", mutate: func(in *reserve.Intent) { in.Payees = nil }},
		{name: "no proposal id", mutate: func(in *reserve.Intent) { in.ProposalID = "" }},
		{name: "expiry with a fraction of a second", mutate: func(in *reserve.Intent) { in.ExpiresAt = in.ExpiresAt.Add(time.Millisecond) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := sampleApprovedProposal(t)
			tc.mutate(p.Intent)
			_, err := encodeProposal(&p)
			var le *limitError
			require.ErrorAs(t, err, &le)
			require.Equal(t, "intent", le.Field)
		})
	}

	t.Run("intent cut short in the record", func(t *testing.T) {
		p := sampleApprovedProposal(t)
		good, err := encodeProposal(&p)
		require.NoError(t, err)
		enc, err := p.Intent.Encode()
		require.NoError(t, err)
		at := bytes.Index(good, enc)
		require.Positive(t, at)
		// Shorten the intent by its last byte and its length to match: a
		// record whose framing holds but whose intent does not decode.
		lenAt := at - len(binary.AppendUvarint(nil, uint64(len(enc))))
		b := append([]byte(nil), good[:lenAt]...)
		b = binary.AppendUvarint(b, uint64(len(enc)-1))
		b = append(b, enc[:len(enc)-1]...)
		b = append(b, good[at+len(enc):]...)
		_, err = decodeProposal(b)
		require.ErrorContains(t, err, "intent: ")
		require.ErrorContains(t, err, "truncated in expires_at")
		require.NotErrorIs(t, err, errTruncated, "the record's framing holds; the intent is refused")
	})
}
