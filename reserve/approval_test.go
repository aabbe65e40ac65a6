package reserve_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// officerKey is the private key of the test officer whose seed is 32
// bytes of b (alice 1, bob 2, carol 3, dave 4, erin 5: policy_test.go's
// keys).
func officerKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
}

var intentExpiry = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// testIntent pays amount to the listed address under policy p.
func testIntent(p *reserve.Policy, amounts ...int64) reserve.Intent {
	in := reserve.Intent{
		Network: reserve.Mainnet, WalletID: "6c1d0a8f3e2b4d59", ProposalID: "P000042",
		PolicyHash: p.Hash(), FeeCapSat: 100_000, ExpiresAt: intentExpiry,
	}
	for i, a := range amounts {
		in.Payees = append(in.Payees, reserve.IntentPayee{Script: append([]byte{0x00, 0x14}, bytes.Repeat([]byte{byte(i + 1)}, 20)...), AmountSat: a})
	}
	return in
}

func MustEncode(tb testing.TB, in reserve.Intent) []byte {
	tb.Helper()
	b, err := in.Encode()
	require.NoError(tb, err)
	return b
}

func TestIntentRoundTrip(t *testing.T) {
	p := MustParsePolicy(t, basePolicy)
	in := testIntent(p, 50_000_000, 1)
	enc := MustEncode(t, in)
	got, err := reserve.DecodeIntent(enc)
	require.NoError(t, err)
	require.Equal(t, in, got)
	require.Equal(t, enc, MustEncode(t, got))
	require.Equal(t, int64(50_000_001), got.TotalSat())
	// version, network, then the wallet id with its length.
	require.Equal(t, []byte{1, 1, 0, 0, 0, 16}, enc[:6])
}

// TestIntentLinked: an intent that supersedes proposals or repeats a
// payment is written in version 2, round-trips, and each link changes the
// digest; a cancel (supersedes, no payees) is valid. The bytes are the
// vector of docs/approvals.md.
func TestIntentLinked(t *testing.T) {
	p := MustParsePolicy(t, basePolicy)
	for _, tt := range []struct {
		name string
		edit func(*reserve.Intent)
		tail []byte
	}{
		{"supersedes", func(in *reserve.Intent) { in.Supersedes = []string{"P000003", "P000041"} },
			append(append([]byte{0, 0, 0, 2, 0, 0, 0, 7}, "P000003"...), append([]byte{0, 0, 0, 7}, "P000041\x00"...)...)},
		{"repeat", func(in *reserve.Intent) { in.Repeat = true }, []byte{0, 0, 0, 0, 1}},
		{"both", func(in *reserve.Intent) { in.Supersedes, in.Repeat = []string{"P000003"}, true },
			append(append([]byte{0, 0, 0, 1, 0, 0, 0, 7}, "P000003"...), 1)},
		{"cancel", func(in *reserve.Intent) { in.Payees, in.Supersedes = nil, []string{"P000003"} },
			append(append([]byte{0, 0, 0, 1, 0, 0, 0, 7}, "P000003"...), 0)},
		{"consolidate", func(in *reserve.Intent) { in.Payees, in.Consolidate = nil, true },
			[]byte{0, 0, 0, 0, 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base := testIntent(p, 1000)
			in := testIntent(p, 1000)
			tt.edit(&in)
			require.True(t, in.Linked())
			enc := MustEncode(t, in)
			require.Equal(t, byte(reserve.IntentVersionLinked), enc[0])
			require.Equal(t, tt.tail, enc[len(enc)-len(tt.tail):])
			got, err := reserve.DecodeIntent(enc)
			require.NoError(t, err)
			require.True(t, in.Equal(&got))
			require.Equal(t, enc, MustEncode(t, got))
			require.False(t, base.Equal(&in))
			d1, err := base.Digest(reserve.DecisionApprove)
			require.NoError(t, err)
			d2, err := in.Digest(reserve.DecisionApprove)
			require.NoError(t, err)
			require.NotEqual(t, d1, d2)
			require.Equal(t, len(in.Payees) == 0 && !in.Consolidate, in.Cancels())
		})
	}
	// Unknown flags are refused.
	in := testIntent(p, 1000)
	in.Repeat = true
	enc := MustEncode(t, in)
	enc[len(enc)-1] = 0x05
	_, err := reserve.DecodeIntent(enc)
	requireRefusal(t, err, reserve.CodeInvalid, nil, "intent.flags", "unknown flags 0x04")
	// A consolidation read with a payee, or as a repeat, is refused.
	enc[len(enc)-1] = 0x03
	_, err = reserve.DecodeIntent(enc)
	requireRefusal(t, err, reserve.CodeInvalid, nil, "intent.payees", "a consolidation pays no payee")
}

// TestIntentRefusals: what Encode refuses to write and DecodeIntent to
// read, each naming the field.
func TestIntentRefusals(t *testing.T) {
	p := MustParsePolicy(t, basePolicy)
	valid := func() reserve.Intent { return testIntent(p, 1000) }
	many := make([]int64, reserve.MaxIntentPayees+1)
	for i := range many {
		many[i] = 1
	}
	for _, tt := range []struct {
		name  string
		edit  func(*reserve.Intent)
		field string
		msg   string
	}{
		{"network 0", func(in *reserve.Intent) { in.Network = 0 }, "intent.network", "unknown network 0"},
		{"network 5", func(in *reserve.Intent) { in.Network = 5 }, "intent.network", "unknown network 5"},
		{"empty wallet id", func(in *reserve.Intent) { in.WalletID = "" }, "intent.wallet_id", "0 bytes"},
		{"long proposal id", func(in *reserve.Intent) { in.ProposalID = string(bytes.Repeat([]byte("P"), 65)) }, "intent.proposal_id", "65 bytes"},
		{"space in id", func(in *reserve.Intent) { in.ProposalID = "P 1" }, "intent.proposal_id", "byte 1 is not printable ASCII"},
		{"no payees", func(in *reserve.Intent) { in.Payees = nil }, "intent.payees", "0 payees"},
		{"too many payees", func(in *reserve.Intent) { *in = testIntent(p, many...) }, "intent.payees", "1001 payees"},
		{"empty script", func(in *reserve.Intent) { in.Payees[0].Script = nil }, "intent.payees[0]", "script of 0 bytes"},
		{"zero amount", func(in *reserve.Intent) { in.Payees[0].AmountSat = 0 }, "intent.payees[0]", "amount 0 sat"},
		{"negative amount", func(in *reserve.Intent) { in.Payees[0].AmountSat = -1 }, "intent.payees[0]", "amount -1 sat"},
		{"total over 21M", func(in *reserve.Intent) { *in = testIntent(p, reserve.MaxSat, 1) }, "intent.payees", "more than 21000000 BTC"},
		{"zero fee cap", func(in *reserve.Intent) { in.FeeCapSat = 0 }, "intent.fee_cap", "0 sat"},
		{"fraction of a second", func(in *reserve.Intent) { in.ExpiresAt = intentExpiry.Add(time.Millisecond) }, "intent.expires_at", "not a whole second"},
		{"before 1970", func(in *reserve.Intent) { in.ExpiresAt = time.Unix(0, 0) }, "intent.expires_at", "not a whole second after 1970"},
		{"supersedes itself", func(in *reserve.Intent) { in.Supersedes = []string{in.ProposalID} }, "intent.supersedes[0]", "cannot supersede itself"},
		{"supersedes out of order", func(in *reserve.Intent) { in.Supersedes = []string{"P000007", "P000003"} }, "intent.supersedes[1]", "increasing order"},
		{"supersedes one twice", func(in *reserve.Intent) { in.Supersedes = []string{"P000003", "P000003"} }, "intent.supersedes[1]", "increasing order"},
		{"supersedes a bad id", func(in *reserve.Intent) { in.Supersedes = []string{"P 3"} }, "intent.supersedes[0]", "not printable ASCII"},
		{"supersedes too many", func(in *reserve.Intent) {
			for i := range reserve.MaxIntentSupersedes + 1 {
				in.Supersedes = append(in.Supersedes, fmt.Sprintf("P%06d", i+100))
			}
		}, "intent.supersedes", "17 proposals, want at most 16"},
		{"a repeat that pays no one", func(in *reserve.Intent) { in.Payees, in.Repeat = nil, true }, "intent.payees", "0 payees, want 1"},
		{"a cancel of nothing", func(in *reserve.Intent) { in.Payees, in.Supersedes = nil, nil }, "intent.payees", "0 payees, want 1"},
		{"a consolidation that pays a payee", func(in *reserve.Intent) { in.Consolidate = true }, "intent.payees", "a consolidation pays no payee, got 1"},
		{"a consolidation that supersedes", func(in *reserve.Intent) {
			in.Payees, in.Consolidate, in.Supersedes = nil, true, []string{"P000003"}
		}, "intent.supersedes", "a consolidation supersedes no proposal"},
		{"a consolidation that repeats", func(in *reserve.Intent) { in.Payees, in.Consolidate, in.Repeat = nil, true, true }, "intent.flags", "a consolidation is no repeat"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := valid()
			tt.edit(&in)
			_, err := in.Encode()
			requireRefusal(t, err, reserve.CodeInvalid, nil, tt.field, tt.msg)
			_, err = in.Digest(reserve.DecisionApprove)
			requireRefusal(t, err, reserve.CodeInvalid, nil, tt.field, tt.msg)
		})
	}

	enc := MustEncode(t, valid())
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(enc)) }
	// Offsets: version 0, network 1, wallet id length 2..5.
	payeeCount := 2 + 4 + 16 + 4 + 7 + 32
	for _, tt := range []struct {
		name  string
		data  []byte
		field string
		msg   string
	}{
		{"empty", nil, "intent", "truncated in version"},
		{"version 3", mutate(func(b []byte) []byte { b[0] = 3; return b }), "intent.version", "version 3, want 1 or 2"},
		{"version 2 without its fields", mutate(func(b []byte) []byte { b[0] = 2; return b }), "intent", "truncated in supersedes count"},
		{"version 2 of an unlinked intent", mutate(func(b []byte) []byte { b[0] = 2; return append(b, 0, 0, 0, 0, 0) }), "intent.version", "it is written in version 1"},
		{"truncated", enc[:len(enc)-1], "intent", "truncated in expires_at"},
		{"trailing byte", append(bytes.Clone(enc), 0), "intent", "1 bytes after the end"},
		{"id length past the limit", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[2:], 65); return b }), "intent", "wallet_id of 65 bytes is longer than 64"},
		{"id past the end", enc[:10], "intent", "truncated in wallet_id: 16 bytes needed, 4 left"},
		{"no payees", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[payeeCount:], 0); return b }), "intent.payees", "0 payees"},
		{"huge payee count", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[payeeCount:], 1<<31); return b }), "intent.payees", "2147483648 payees"},
		{"amount over 21M", mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[payeeCount+4:], 1<<63); return b }), "intent.payees[0]", "more than 21000000 BTC"},
		{"fee cap over 21M", mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[len(b)-16:], 1<<62); return b }), "intent.fee_cap", "more than 21000000 BTC"},
		{"negative expiry", mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[len(b)-8:], 1<<63); return b }), "intent.expires_at", "is not a time"},
	} {
		t.Run("decode "+tt.name, func(t *testing.T) {
			_, err := reserve.DecodeIntent(tt.data)
			requireRefusal(t, err, reserve.CodeInvalid, nil, tt.field, tt.msg)
		})
	}
}

// TestDigestCoversEverything: every field, and the decision, changes the
// digest; a signature for one never verifies for another.
func TestDigestCoversEverything(t *testing.T) {
	p := MustParsePolicy(t, basePolicy)
	base := testIntent(p, 1000, 2000)
	approve, err := base.Digest(reserve.DecisionApprove)
	require.NoError(t, err)
	reject, err := base.Digest(reserve.DecisionReject)
	require.NoError(t, err)
	require.NotEqual(t, approve, reject)
	_, err = base.Digest(3)
	require.ErrorContains(t, err, "unknown decision 3")

	a, err := reserve.SignIntent(&base, reserve.DecisionApprove, officerKey(1))
	require.NoError(t, err)
	require.NoError(t, reserve.VerifyApproval(&base, reserve.DecisionApprove, a))
	require.ErrorIs(t, reserve.VerifyApproval(&base, reserve.DecisionReject, a), reserve.ErrBadApprovalSignature)

	edits := map[string]func(*reserve.Intent){
		"network":     func(in *reserve.Intent) { in.Network = reserve.Testnet },
		"wallet":      func(in *reserve.Intent) { in.WalletID = "6c1d0a8f3e2b4d5a" },
		"proposal":    func(in *reserve.Intent) { in.ProposalID = "P000043" },
		"policy":      func(in *reserve.Intent) { in.PolicyHash[31] ^= 1 },
		"amount":      func(in *reserve.Intent) { in.Payees[1].AmountSat++ },
		"script":      func(in *reserve.Intent) { in.Payees[0].Script[21] ^= 1 },
		"payee order": func(in *reserve.Intent) { in.Payees[0], in.Payees[1] = in.Payees[1], in.Payees[0] },
		"extra payee": func(in *reserve.Intent) { in.Payees = append(in.Payees, in.Payees[0]) },
		"fee cap":     func(in *reserve.Intent) { in.FeeCapSat++ },
		"expiry":      func(in *reserve.Intent) { in.ExpiresAt = in.ExpiresAt.Add(time.Second) },
	}
	same := testIntent(p, 1000, 2000)
	require.True(t, base.Equal(&same))
	same.ExpiresAt = same.ExpiresAt.In(time.FixedZone("UTC+2", 2*60*60))
	require.True(t, base.Equal(&same), "the same instant in another zone encodes the same")
	for name, edit := range edits {
		in := testIntent(p, 1000, 2000)
		edit(&in)
		d, err := in.Digest(reserve.DecisionApprove)
		require.NoError(t, err, name)
		require.NotEqual(t, approve, d, name)
		require.False(t, base.Equal(&in), name)
		require.False(t, in.Equal(&base), name)
		require.ErrorIs(t, reserve.VerifyApproval(&in, reserve.DecisionApprove, a), reserve.ErrBadApprovalSignature, name)
	}
	_, err = reserve.SignIntent(&base, reserve.DecisionApprove, ed25519.PrivateKey{1, 2})
	require.ErrorContains(t, err, "not an Ed25519 private key")
}

// TestCountApprovals: the quorum at and one satoshi over each tier
// boundary, and every refusal.
func TestCountApprovals(t *testing.T) {
	p := MustParsePolicy(t, basePolicy)
	before := intentExpiry.Add(-time.Hour)
	sign := func(in reserve.Intent, d reserve.Decision, officers ...byte) []reserve.Approval {
		var out []reserve.Approval
		for _, o := range officers {
			a, err := reserve.SignIntent(&in, d, officerKey(o))
			require.NoError(t, err)
			out = append(out, a)
		}
		return out
	}
	count := func(in reserve.Intent, approvals []reserve.Approval, now time.Time) (reserve.Quorum, error) {
		pays := []reserve.Payment{}
		for _, py := range in.Payees {
			pays = append(pays, reserve.Payment{Address: addrListed, AmountSat: py.AmountSat})
		}
		return reserve.CountApprovals(p, &in, approvals, pays, 1000, 200, reserve.Spent{}, now)
	}

	for _, tt := range []struct {
		name      string
		amount    int64
		officers  []byte
		met       bool
		approvers []string
		need      int
	}{
		{"1 BTC by two", btc, []byte{1, 2}, true, []string{"alice", "bob"}, 2},
		{"1 BTC by one", btc, []byte{3}, false, []string{"carol"}, 2},
		{"1 BTC + 1 sat by two", btc + 1, []byte{1, 2}, false, []string{"alice", "bob"}, 3},
		{"1 BTC + 1 sat by three", btc + 1, []byte{4, 2, 1}, true, []string{"alice", "bob", "dave"}, 3},
		{"100 BTC by three", 100 * btc, []byte{1, 2, 3}, true, []string{"alice", "bob", "carol"}, 3},
		{"100 BTC + 1 sat by three", 100*btc + 1, []byte{1, 2, 3}, false, []string{"alice", "bob", "carol"}, 4},
		{"100 BTC + 1 sat by all", 100*btc + 1, []byte{1, 2, 3, 4}, true, []string{"alice", "bob", "carol", "dave"}, 4},
		{"no approvals", 1000, nil, false, nil, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := testIntent(p, tt.amount)
			q, err := count(in, sign(in, reserve.DecisionApprove, tt.officers...), before)
			require.NoError(t, err)
			require.Equal(t, tt.met, q.Met())
			require.Equal(t, tt.approvers, q.Officers)
			require.Equal(t, tt.need, q.Requirement.Approvals)
		})
	}

	in := testIntent(p, 1000)
	good := sign(in, reserve.DecisionApprove, 1, 2)
	forged := sign(in, reserve.DecisionApprove, 1, 2)
	forged[1].Signature[0] ^= 1
	other := testIntent(p, 1000)
	other.ProposalID = "P000099"
	for _, tt := range []struct {
		name      string
		in        reserve.Intent
		approvals []reserve.Approval
		now       time.Time
		field     string
		msg       string
	}{
		{"forged signature", in, forged, before, "approvals[1]", "officer bob: approval signature does not verify"},
		{"not an officer", in, sign(in, reserve.DecisionApprove, 1, 5), before, "approvals[1]", "is not an officer of policy"},
		{"one officer twice", in, append(sign(in, reserve.DecisionApprove, 1), good[0]), before, "approvals[1]", "officer alice approved twice"},
		{"approvals for another proposal", in, sign(other, reserve.DecisionApprove, 1, 2), before, "approvals[0]", "approval signature does not verify"},
		{"a veto is not an approval", in, sign(in, reserve.DecisionReject, 1, 2), before, "approvals[0]", "approval signature does not verify"},
		{"expired, exactly", in, good, intentExpiry, "intent.expires_at", "the intent expired at 2026-12-04T12:00:00Z"},
		{"another policy", func() reserve.Intent { o := in; o.PolicyHash[0] ^= 1; return o }(), good, before, "intent.policy_hash", "approvals are under policy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := count(tt.in, tt.approvals, tt.now)
			requireRefusal(t, err, reserve.CodeInvalid, nil, tt.field, tt.msg)
		})
	}

	// The payments must be the intent's, in order.
	_, err := reserve.CountApprovals(p, &in, good, pay(addrListed, 999), 1000, 200, reserve.Spent{}, before)
	requireRefusal(t, err, reserve.CodeInvalid, nil, "pays[0]", "999 sat, the intent says 1000 sat")
	_, err = reserve.CountApprovals(p, &in, good, nil, 1000, 200, reserve.Spent{}, before)
	requireRefusal(t, err, reserve.CodeInvalid, nil, "pays", "0 payments for an intent of 1 payees")
	// The policy's own refusals come through as they are.
	_, err = reserve.CountApprovals(p, &in, good, pay(addrListed, 1000), 2*btc, 200, reserve.Spent{}, before)
	requireRefusal(t, err, reserve.CodeDenied, reserve.ErrFeeOverCap, "fees.max_fee")
	big := testIntent(p, 100*btc)
	_, err = reserve.CountApprovals(p, &big, nil, pay(addrListed, 100*btc), 1000, 200, reserve.Spent{Last24h: 60 * btc, Last30d: 60 * btc}, before)
	requireRefusal(t, err, reserve.CodeDenied, reserve.ErrVelocityExceeded, "velocity.per_24h")
}

// FuzzDecodeIntent: an intent from outside (a PSBT's custos field) either
// is refused or decodes to one whose encoding is exactly the input, whose
// digests can be taken, and that Validate accepts.
func FuzzDecodeIntent(f *testing.F) {
	p := MustParsePolicy(f, basePolicy)
	f.Add(MustEncode(f, testIntent(p, 1000)))
	f.Add(MustEncode(f, testIntent(p, 1, reserve.MaxSat-1)))
	f.Add([]byte{1, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := reserve.DecodeIntent(data)
		if err != nil {
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "%v", err)
			return
		}
		require.NoError(t, in.Validate())
		enc, err := in.Encode()
		require.NoError(t, err)
		require.Equal(t, data, enc)
		_, err = in.Digest(reserve.DecisionApprove)
		require.NoError(t, err)
	})
}

// TestCheckExpiry: an intent is good from its creation until it expires,
// and may not expire later than the policy's proposal expiry from the
// checker's now, give or take ExpiryClockSkew.
func TestCheckExpiry(t *testing.T) {
	p := MustParsePolicy(t, basePolicy) // proposal_expiry: 168h
	now := intentExpiry.Add(-p.ProposalExpiry)
	for _, tt := range []struct {
		name string
		now  time.Time
		msg  string
	}{
		{name: "just created", now: now},
		{name: "a second before it expires", now: intentExpiry.Add(-time.Second)},
		{name: "checker's clock behind by the allowed skew", now: now.Add(-reserve.ExpiryClockSkew)},
		{name: "checker's clock behind by a second more", now: now.Add(-reserve.ExpiryClockSkew - time.Second),
			msg: "intent.expires_at: the intent expires at 2026-12-04T12:00:00Z, later than the policy's proposal expiry of 168h0m0s from now (2026-12-04T11:59:59Z, with 10m0s for clock skew)"},
		{name: "dated a year ahead", now: intentExpiry.AddDate(-1, 0, 0),
			msg: "later than the policy's proposal expiry of 168h0m0s from now"},
		{name: "at its expiry", now: intentExpiry, msg: "intent.expires_at: the intent expired at 2026-12-04T12:00:00Z"},
		{name: "after its expiry", now: intentExpiry.Add(time.Hour), msg: "the intent expired"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := p.CheckExpiry(intentExpiry, tt.now)
			if tt.msg == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.msg)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
		})
	}

	// CountApprovals applies it: approvals of an intent dated too far
	// ahead count for nothing.
	in := testIntent(p, 1000)
	a, err := reserve.SignIntent(&in, reserve.DecisionApprove, officerKey(1))
	require.NoError(t, err)
	pays := []reserve.Payment{{Address: addrListed, AmountSat: 1000}}
	_, err = reserve.CountApprovals(p, &in, []reserve.Approval{a}, pays, 1000, 200, reserve.Spent{}, intentExpiry.AddDate(0, -1, 0))
	require.ErrorContains(t, err, "intent.expires_at: the intent expires at 2026-12-04T12:00:00Z, later than")
}
