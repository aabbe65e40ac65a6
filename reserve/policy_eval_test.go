package reserve_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

const btc = reserve.SatPerBTC

// Times around the base policy's allowlist: addrNew was added at
// 2026-11-20T00:00:00Z with a 48h delay.
var (
	addrNewEffective = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	afterAll         = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

func pay(addr string, sat int64) []reserve.Payment {
	return []reserve.Payment{{Address: addr, AmountSat: sat}}
}

// requireRefusal checks a refusal: its code, its sentinel, the field the
// *reserve.Error names, and the figures in its message.
func requireRefusal(tb testing.TB, err error, code reserve.Code, sentinel error, field string, msg ...string) {
	tb.Helper()
	require.Error(tb, err)
	require.Equal(tb, code, reserve.CodeOf(err), "%v", err)
	if sentinel != nil {
		require.ErrorIs(tb, err, sentinel)
	}
	var e *reserve.Error
	require.True(tb, errors.As(err, &e))
	require.Equal(tb, field, e.Field, "%v", err)
	for _, m := range msg {
		require.ErrorContains(tb, err, m)
	}
}

func TestPolicyRequire(t *testing.T) {
	base := MustParsePolicy(t, basePolicy)
	noVelocity := MustParsePolicy(t, edit(t, basePolicy, "velocity:\n  per_24h: \"150\"\n  per_30d: \"1000\"\n", ""))
	refuse := MustParsePolicy(t, edit(t, basePolicy, "unlisted: extra_approval", "unlisted: refuse"))

	tier0 := reserve.Requirement{Tier: 0, Approvals: 2, CoolOff: 0}
	tier1 := reserve.Requirement{Tier: 1, Approvals: 3, CoolOff: time.Hour}
	tier2 := reserve.Requirement{Tier: 2, Approvals: 4, CoolOff: 24 * time.Hour}
	unlisted := func(r reserve.Requirement, addrs ...string) reserve.Requirement {
		r.Approvals++
		r.Unlisted = addrs
		return r
	}

	tests := []struct {
		name   string
		policy *reserve.Policy // base when nil
		pays   []reserve.Payment
		fee    int64 // sat; 1000 sat for 200 vB when both are zero
		vsize  int64 // vB
		spent  reserve.Spent
		now    time.Time // afterAll when zero
		want   reserve.Requirement
		// Refusals: code, sentinel (may be nil), field, message parts.
		code     reserve.Code
		sentinel error
		field    string
		msg      []string
	}{
		// Tiers, by the total external amount.
		{name: "one satoshi is the first tier", pays: pay(addrListed, 1), want: tier0},
		{name: "exactly the first bound is the first tier", pays: pay(addrListed, btc), want: tier0},
		{name: "one satoshi over the first bound is the second tier", pays: pay(addrListed, btc+1), want: tier1},
		{name: "exactly the second bound is the second tier", pays: pay(addrListed, 100*btc), want: tier1},
		{name: "one satoshi over the second bound is the unlimited tier", pays: pay(addrListed, 100*btc+1), want: tier2},
		{name: "the whole supply is the unlimited tier", policy: noVelocity, pays: pay(addrListed, reserve.MaxSat), want: tier2},
		{name: "payments exactly at the first bound together", pays: []reserve.Payment{{addrListed, 60_000_000}, {addrNew, 40_000_000}}, want: tier0},
		{name: "payments one satoshi over the first bound together", pays: []reserve.Payment{{addrListed, 60_000_000}, {addrNew, 40_000_001}}, want: tier1},
		{name: "payments one satoshi over the second bound together", pays: []reserve.Payment{{addrListed, 50 * btc}, {addrListed, 50*btc + 1}}, want: tier2},

		// Velocity: spent + total against each cap.
		{name: "24h: exactly at the cap", pays: pay(addrListed, btc), spent: reserve.Spent{Last24h: 149 * btc, Last30d: 149 * btc}, want: tier0},
		{name: "24h: one satoshi over the cap", pays: pay(addrListed, btc+1), spent: reserve.Spent{Last24h: 149 * btc, Last30d: 149 * btc},
			code: reserve.CodeDenied, sentinel: reserve.ErrVelocityExceeded, field: "velocity.per_24h",
			msg: []string{"149.00000000 BTC already paid in 24 hours + 1.00000001 BTC in this proposal = 150.00000001 BTC, more than the cap of 150.00000000 BTC"}},
		{name: "24h: a payment alone over the cap", pays: pay(addrListed, 150*btc+1),
			code: reserve.CodeDenied, sentinel: reserve.ErrVelocityExceeded, field: "velocity.per_24h",
			msg: []string{"0.00000000 BTC already paid in 24 hours + 150.00000001 BTC"}},
		{name: "24h: a payment alone exactly at the cap", pays: pay(addrListed, 150*btc), want: tier2},
		{name: "24h: the cap already reached", pays: pay(addrListed, 1), spent: reserve.Spent{Last24h: 150 * btc, Last30d: 150 * btc},
			code: reserve.CodeDenied, sentinel: reserve.ErrVelocityExceeded, field: "velocity.per_24h", msg: []string{"= 150.00000001 BTC"}},
		{name: "30d: exactly at the cap", pays: pay(addrListed, btc), spent: reserve.Spent{Last24h: 0, Last30d: 999 * btc}, want: tier0},
		{name: "30d: one satoshi over the cap", pays: pay(addrListed, btc+1), spent: reserve.Spent{Last24h: 0, Last30d: 999 * btc},
			code: reserve.CodeDenied, sentinel: reserve.ErrVelocityExceeded, field: "velocity.per_30d",
			msg: []string{"999.00000000 BTC already paid in 30 days + 1.00000001 BTC in this proposal = 1000.00000001 BTC, more than the cap of 1000.00000000 BTC"}},
		{name: "30d: the 24h window has room but 30d has not", pays: pay(addrListed, 2*btc), spent: reserve.Spent{Last24h: 10 * btc, Last30d: 999 * btc},
			code: reserve.CodeDenied, sentinel: reserve.ErrVelocityExceeded, field: "velocity.per_30d"},
		{name: "both windows over: the 24h one is named", pays: pay(addrListed, 2*btc), spent: reserve.Spent{Last24h: 149 * btc, Last30d: 999 * btc},
			code: reserve.CodeDenied, sentinel: reserve.ErrVelocityExceeded, field: "velocity.per_24h"},
		{name: "no caps: any amount spent", policy: noVelocity, pays: pay(addrListed, 100*btc), spent: reserve.Spent{Last24h: reserve.MaxSat, Last30d: reserve.MaxSat}, want: tier1},

		// Allowlist and its delay.
		{name: "a listed payee in effect", pays: pay(addrListed, btc), want: tier0},
		{name: "a new entry exactly at added + delay is in effect", pays: pay(addrNew, btc), now: addrNewEffective, want: tier0},
		{name: "a new entry one second before added + delay is not", pays: pay(addrNew, btc), now: addrNewEffective.Add(-time.Second), want: unlisted(tier0, addrNew)},
		{name: "a new entry at its added time is not", pays: pay(addrNew, btc), now: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), want: unlisted(tier0, addrNew)},
		{name: "an unlisted payee: one approval more", pays: pay(addrOther, btc), want: unlisted(tier0, addrOther)},
		{name: "an unlisted payee in the second tier", pays: pay(addrOther, 100*btc), want: unlisted(tier1, addrOther)},
		{name: "unlisted payees counted once, in payment order", pays: []reserve.Payment{{addrOther, 1}, {addrListed, 1}, {"bc1qunknown", 1}, {addrOther, 1}},
			want: unlisted(tier0, addrOther, "bc1qunknown")},
		{name: "addresses match exactly", pays: pay("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", btc), want: unlisted(tier0, "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4")},
		{name: "extra approval over the officer count is refused", pays: pay(addrOther, 100*btc+1),
			code: reserve.CodeDenied, sentinel: reserve.ErrTooFewOfficers, field: "allowlist.unlisted",
			msg: []string{"tiers[2] needs 4, one more for unlisted payee " + addrOther + ", but the policy has 4 officers"}},
		{name: "refuse: an unlisted payee", policy: refuse, pays: []reserve.Payment{{addrListed, 1}, {addrOther, 1}},
			code: reserve.CodeDenied, sentinel: reserve.ErrUnlistedRefused, field: "allowlist.unlisted",
			msg: []string{"payee not on the allowlist: " + addrOther + ", and the policy refuses unlisted payees"}},
		{name: "refuse: a new entry one second before its delay", policy: refuse, pays: pay(addrNew, 1), now: addrNewEffective.Add(-time.Second),
			code: reserve.CodeDenied, sentinel: reserve.ErrUnlistedRefused, field: "allowlist.unlisted",
			msg: []string{addrNew + " (listed, in effect from 2026-11-22T00:00:00Z)"}},
		{name: "refuse: a new entry exactly at its delay", policy: refuse, pays: pay(addrNew, 1), now: addrNewEffective, want: tier0},
		{name: "refuse: listed payees in the unlimited tier", policy: refuse, pays: pay(addrListed, 101*btc), want: tier2},
		{name: "refuse: the allowlist is checked before the fee", policy: refuse, pays: pay(addrOther, 1), fee: 2_000_000, vsize: 10_000,
			code: reserve.CodeDenied, sentinel: reserve.ErrUnlistedRefused, field: "allowlist.unlisted"},

		// Fees: max_fee 0.01 BTC, max_fee_rate 1000 sat/vB.
		{name: "fee exactly at max_fee", pays: pay(addrListed, btc), fee: 1_000_000, vsize: 1000, want: tier0},
		{name: "fee one satoshi over max_fee", pays: pay(addrListed, btc), fee: 1_000_001, vsize: 2000,
			code: reserve.CodeDenied, sentinel: reserve.ErrFeeOverCap, field: "fees.max_fee",
			msg: []string{"1000001 sat is more than max_fee 0.01000000 BTC (1000000 sat)"}},
		{name: "fee exactly at max_fee_rate", pays: pay(addrListed, btc), fee: 200_000, vsize: 200, want: tier0},
		{name: "fee one satoshi over max_fee_rate", pays: pay(addrListed, btc), fee: 200_001, vsize: 200,
			code: reserve.CodeDenied, sentinel: reserve.ErrFeeOverCap, field: "fees.max_fee_rate",
			msg: []string{"200001 sat for 200 vB is more than max_fee_rate 1000 sat/vB × 200 vB = 200000 sat"}},
		{name: "no fee", pays: pay(addrListed, btc), fee: 0, vsize: 1, want: tier0},
		{name: "the largest transaction", pays: pay(addrListed, btc), fee: 1_000_000, vsize: 1_000_000, want: tier0},

		// Bad arguments.
		{name: "no payments (a cancel) needs the lowest tier", pays: nil, want: tier0},
		{name: "no payments still obey the fee cap", pays: nil, fee: 2_000_000, vsize: 10_000, code: reserve.CodeDenied, field: "fees.max_fee"},
		{name: "a zero payment", pays: pay(addrListed, 0), code: reserve.CodeInvalid, field: "pays[0].amount"},
		{name: "a negative payment", pays: []reserve.Payment{{addrListed, 1}, {addrListed, -1}}, code: reserve.CodeInvalid, field: "pays[1].amount"},
		{name: "a payment over the supply", policy: noVelocity, pays: pay(addrListed, reserve.MaxSat+1), code: reserve.CodeInvalid, field: "pays[0].amount"},
		{name: "payments adding up over the supply", policy: noVelocity, pays: []reserve.Payment{{addrListed, reserve.MaxSat}, {addrListed, 1}},
			code: reserve.CodeInvalid, field: "pays", msg: []string{"more than 21000000 BTC"}},
		{name: "payments that would overflow int64", policy: noVelocity, pays: []reserve.Payment{{addrListed, reserve.MaxSat}, {addrListed, reserve.MaxSat}, {addrListed, math.MaxInt64}},
			code: reserve.CodeInvalid, field: "pays"},
		{name: "an empty address", pays: pay("", 1), code: reserve.CodeInvalid, field: "pays[0].address"},
		{name: "a negative fee", pays: pay(addrListed, 1), fee: -1, vsize: 200, code: reserve.CodeInvalid, field: "fee"},
		{name: "a zero vsize", pays: pay(addrListed, 1), fee: 1, vsize: 0, code: reserve.CodeInvalid, field: "vsize"},
		{name: "a vsize over a block", pays: pay(addrListed, 1), fee: 1, vsize: 1_000_001, code: reserve.CodeInvalid, field: "vsize"},
		{name: "negative spent", pays: pay(addrListed, 1), spent: reserve.Spent{Last24h: -1}, code: reserve.CodeInvalid, field: "spent.last_24h"},
		{name: "spent over the supply", pays: pay(addrListed, 1), spent: reserve.Spent{Last30d: reserve.MaxSat + 1}, code: reserve.CodeInvalid, field: "spent.last_30d"},
		{name: "more spent in 24 hours than in 30 days", pays: pay(addrListed, 1), spent: reserve.Spent{Last24h: 2, Last30d: 1},
			code: reserve.CodeInvalid, field: "spent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			if p == nil {
				p = base
			}
			fee, vsize := tt.fee, tt.vsize
			if fee == 0 && vsize == 0 {
				fee, vsize = 1000, 200
			}
			now := tt.now
			if now.IsZero() {
				now = afterAll
			}
			before := p.Hash()
			got, err := p.Require(tt.pays, fee, vsize, tt.spent, now)
			require.Equal(t, before, p.Hash(), "Require must not change the policy")
			if tt.code != reserve.CodeInternal {
				requireRefusal(t, err, tt.code, tt.sentinel, tt.field, tt.msg...)
				require.Zero(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestPolicyRequireFailsClosed covers policies not made by ParsePolicy:
// Require refuses rather than approve too easily.
func TestPolicyRequireFailsClosed(t *testing.T) {
	now := afterAll
	tests := []struct {
		name   string
		modify func(p *reserve.Policy)
		code   reserve.Code
		field  string
		target error
	}{
		{name: "no tiers", modify: func(p *reserve.Policy) { p.Tiers = nil }, code: reserve.CodeInternal},
		{name: "no unlimited tier", modify: func(p *reserve.Policy) { p.Tiers = p.Tiers[:1] }, code: reserve.CodeInternal},
		{name: "a tier needing no approvals", modify: func(p *reserve.Policy) { p.Tiers[2].Approvals = 0 }, code: reserve.CodeInternal},
		{name: "more approvals than officers", modify: func(p *reserve.Policy) { p.Officers = p.Officers[:3] },
			code: reserve.CodeDenied, field: "tiers[2].approvals", target: reserve.ErrTooFewOfficers},
		{name: "unspecified unlisted action refuses", modify: func(p *reserve.Policy) {
			p.Allowlist.Unlisted = reserve.UnlistedUnspecified
			p.Allowlist.Entries = nil
		}, code: reserve.CodeDenied, field: "allowlist.unlisted", target: reserve.ErrUnlistedRefused},
		{name: "zero fee caps refuse any fee", modify: func(p *reserve.Policy) { p.Fees = reserve.Fees{} },
			code: reserve.CodeDenied, field: "fees.max_fee", target: reserve.ErrFeeOverCap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustParsePolicy(t, basePolicy)
			tt.modify(p)
			_, err := p.Require(pay(addrListed, 101*btc), 1000, 200, reserve.Spent{}, now)
			requireRefusal(t, err, tt.code, tt.target, tt.field)
		})
	}
	// A huge rate cap cannot overflow into a refusal.
	p := MustParsePolicy(t, basePolicy)
	p.Fees.MaxFeeRate = math.MaxInt64
	_, err := p.Require(pay(addrListed, 1), 1_000_000, 1_000_000, reserve.Spent{}, now)
	require.NoError(t, err)
}

func TestUnlistedActionString(t *testing.T) {
	require.Equal(t, "extra_approval", reserve.UnlistedExtraApproval.String())
	require.Equal(t, "refuse", reserve.UnlistedRefuse.String())
	require.Equal(t, "unspecified", reserve.UnlistedUnspecified.String())
	require.Equal(t, "unlisted(9)", reserve.UnlistedAction(9).String())
}

// TestFeeCap: the most fee a transaction may pay is the lower of max_fee
// and max_fee_rate × vsize, and what FeeCap says is allowed Require
// allows, one satoshi more it refuses.
func TestFeeCap(t *testing.T) {
	p := MustParsePolicy(t, basePolicy) // max_fee 0.01 BTC, max_fee_rate 1000
	pay := []reserve.Payment{{Address: addrListed, AmountSat: 1000}}
	for _, tc := range []struct {
		vsize, want int64
	}{{1, 1000}, {200, 200_000}, {1000, 1_000_000}, {5000, 1_000_000}} {
		require.Equal(t, tc.want, p.FeeCap(tc.vsize), "%d vB", tc.vsize)
		_, err := p.Require(pay, tc.want, tc.vsize, reserve.Spent{}, afterAll)
		require.NoError(t, err, "%d vB", tc.vsize)
		_, err = p.Require(pay, tc.want+1, tc.vsize, reserve.Spent{}, afterAll)
		require.ErrorIs(t, err, reserve.ErrFeeOverCap, "%d vB", tc.vsize)
	}
}

// TestSpentAdd: a payment counts in a window if made less than its length
// before now; one dated after now counts as recent; sums stop at MaxSat.
func TestSpentAdd(t *testing.T) {
	now := afterAll
	for _, tc := range []struct {
		name     string
		at       time.Time
		day, mon int64
	}{
		{"a second ago", now.Add(-time.Second), 5, 5},
		{"a second short of a day", now.Add(-reserve.Window24h + time.Second), 5, 5},
		{"exactly a day", now.Add(-reserve.Window24h), 0, 5},
		{"a second short of 30 days", now.Add(-reserve.Window30d + time.Second), 0, 5},
		{"exactly 30 days", now.Add(-reserve.Window30d), 0, 0},
		{"tomorrow (a clock set back)", now.Add(reserve.Window24h), 5, 5},
	} {
		var s reserve.Spent
		s.Add(tc.at, now, 5)
		require.Equal(t, reserve.Spent{Last24h: tc.day, Last30d: tc.mon}, s, tc.name)
	}
	s := reserve.Spent{Last24h: reserve.MaxSat - 1, Last30d: reserve.MaxSat}
	s.Add(now, now, reserve.MaxSat)
	require.Equal(t, reserve.Spent{Last24h: reserve.MaxSat, Last30d: reserve.MaxSat}, s)
}
