package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// Policies of the governance tests: policy1 sets up the reserve, policy2
// replaces it (another proposal_expiry, so another hash).
var (
	policy1 = testPolicy("168h", 0)
	policy2 = testPolicy("72h", 0)
)

// policyRecord is text as the store keeps it: number seq (0 for a pending
// change), set or proposed by "by" at fixedNow.
func policyRecord(tb testing.TB, seq uint64, text []byte, by string, approvals ...reserve.ControlSignature) *reserve.PolicyRecord {
	tb.Helper()
	return &reserve.PolicyRecord{Seq: seq, Text: text, Hash: mustPolicyHash(tb, text), By: by, At: fixedNow, Approvals: approvals}
}

// mustControl is officer i's signature over c, made at fixedNow.
func mustControl(tb testing.TB, c reserve.Control, i int) reserve.ControlSignature {
	tb.Helper()
	a, err := reserve.SignControl(&c, testOfficerKey(i))
	require.NoError(tb, err)
	return reserve.ControlSignature{Officer: testOfficerIDs[i], Approval: a, At: fixedNow}
}

// changeSig is officer i's approval of replacing policy1 with policy2.
func changeSig(tb testing.TB, i int) reserve.ControlSignature {
	tb.Helper()
	return mustControl(tb, reserve.Control{
		Action: reserve.ActionPolicyChange, Network: reserve.Regtest, WalletID: testWallet().ID,
		PolicyHash: mustPolicyHash(tb, policy1), Epoch: 1, NewPolicy: mustPolicyHash(tb, policy2),
	}, i)
}

// freezeSig is officer i's signature of a freeze (or unfreeze) of epoch.
func freezeSig(tb testing.TB, a reserve.Action, epoch uint64, i int) reserve.ControlSignature {
	tb.Helper()
	return mustControl(tb, reserve.Control{
		Action: a, Network: reserve.Regtest, WalletID: testWallet().ID,
		PolicyHash: mustPolicyHash(tb, policy1), Epoch: epoch,
	}, i)
}

// MustGovern runs UpdateGovernance with fn and returns the result.
func MustGovern(tb testing.TB, db *store.DB, fn func(g *reserve.Governance) error) reserve.Governance {
	tb.Helper()
	g, err := db.UpdateGovernance(context.Background(), fn)
	require.NoError(tb, err)
	return g
}

// govSnapshot is everything a refused governance change must leave as it
// was.
type govSnapshot struct {
	Governance reserve.Governance
	Policies   []reserve.PolicyRecord
	Audit      []store.AuditEntry
}

func takeGovSnapshot(tb testing.TB, db *store.DB) govSnapshot {
	tb.Helper()
	ctx := context.Background()
	var (
		s   govSnapshot
		err error
	)
	s.Governance, err = db.Governance(ctx)
	require.NoError(tb, err)
	s.Policies, err = db.Policies(ctx)
	require.NoError(tb, err)
	s.Audit, err = db.AuditLog(ctx)
	require.NoError(tb, err)
	return s
}

// audit is an audit entry's kind and detail.
type audit struct{ kind, detail string }

// requireNewAudit checks that the log is before's with exactly want
// appended, each stamped with the store's clock.
func requireNewAudit(tb testing.TB, db *store.DB, before []store.AuditEntry, want ...audit) {
	tb.Helper()
	log, err := db.AuditLog(context.Background())
	require.NoError(tb, err)
	require.Equal(tb, before, log[:len(before)], "earlier audit entries must stay as they were")
	var got []audit
	for _, e := range log[len(before):] {
		require.Equal(tb, fixedNow.Truncate(time.Second), e.Time) // leaves keep seconds
		got = append(got, audit{e.Kind, e.Detail})
	}
	require.Equal(tb, want, got)
}

func TestGovernanceBeforeAnything(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	s := takeGovSnapshot(t, db)
	require.Equal(t, reserve.Governance{}, s.Governance)
	require.Empty(t, s.Policies)
	require.Empty(t, s.Audit)

	// A change that changes nothing writes no audit entry and leaves the
	// zero value.
	called := false
	g := MustGovern(t, db, func(*reserve.Governance) error { called = true; return nil })
	require.True(t, called)
	require.Equal(t, reserve.Governance{}, g)
	require.Equal(t, s, takeGovSnapshot(t, db))

	_, err := db.UpdateGovernance(ctx, nil)
	requireCode(t, err, reserve.CodeInvalid)
}

// TestGovernancePolicyHistory takes the reserve through its first policy,
// a change proposed and approved, and the change coming into force.
func TestGovernancePolicyHistory(t *testing.T) {
	db := MustWallet(t)
	h1, h2 := mustPolicyHash(t, policy1), mustPolicyHash(t, policy2)
	alice, bob := changeSig(t, 0), changeSig(t, 1)
	rec1 := policyRecord(t, 1, policy1, "admin")
	rec2 := policyRecord(t, 2, policy2, "alice", alice, bob)

	steps := []struct {
		name         string
		fn           func(g *reserve.Governance) error
		want         reserve.Governance
		wantPolicies []reserve.PolicyRecord
		wantAudit    []audit
	}{
		{
			name:         "first policy",
			fn:           func(g *reserve.Governance) error { g.Policy = policyRecord(t, 1, policy1, "admin"); return nil },
			want:         reserve.Governance{Policy: rec1},
			wantPolicies: []reserve.PolicyRecord{*rec1},
			wantAudit:    []audit{{store.AuditPolicySet, fmt.Sprintf(`seq=1 hash=%x by="admin" approvals=[]`, h1)}},
		},
		{
			name:         "change proposed with its proposer's approval",
			fn:           func(g *reserve.Governance) error { g.Pending = policyRecord(t, 0, policy2, "alice", alice); return nil },
			want:         reserve.Governance{Policy: rec1, Pending: policyRecord(t, 0, policy2, "alice", alice)},
			wantPolicies: []reserve.PolicyRecord{*rec1},
			wantAudit: []audit{
				{store.AuditPolicyPropose, fmt.Sprintf(`hash=%x by="alice" approvals=1`, h2)},
				{store.AuditPolicyApprove, fmt.Sprintf(`officer alice approved policy %x (1 approvals)`, h2)},
			},
		},
		{
			name: "second approval",
			fn: func(g *reserve.Governance) error {
				g.Pending.Approvals = append(g.Pending.Approvals, bob)
				return nil
			},
			want:         reserve.Governance{Policy: rec1, Pending: policyRecord(t, 0, policy2, "alice", alice, bob)},
			wantPolicies: []reserve.PolicyRecord{*rec1},
			wantAudit:    []audit{{store.AuditPolicyApprove, fmt.Sprintf(`officer bob approved policy %x (2 approvals)`, h2)}},
		},
		{
			name: "change in force as policy 2",
			fn: func(g *reserve.Governance) error {
				next := *g.Pending
				next.Seq = g.Policy.Seq + 1
				g.Policy, g.Pending = &next, nil
				return nil
			},
			want:         reserve.Governance{Policy: rec2},
			wantPolicies: []reserve.PolicyRecord{*rec1, *rec2},
			wantAudit: []audit{
				{store.AuditPolicySet, fmt.Sprintf(`seq=2 hash=%x by="alice" approvals=["alice" "bob"]`, h2)},
				{store.AuditPolicyPropose, fmt.Sprintf("hash=%x closed", h2)},
			},
		},
	}
	for _, st := range steps {
		// Steps build on each other: no t.Run, the first failure stops.
		before := takeGovSnapshot(t, db)
		got, err := db.UpdateGovernance(context.Background(), st.fn)
		require.NoError(t, err, st.name)
		require.Equal(t, st.want, got, st.name)
		after := takeGovSnapshot(t, db)
		require.Equal(t, st.want, after.Governance, st.name)
		require.Equal(t, st.wantPolicies, after.Policies, st.name)
		requireNewAudit(t, db, before.Audit, st.wantAudit...)
	}
}

func TestUpdateGovernanceRefuses(t *testing.T) {
	h2 := mustPolicyHash(t, policy2)
	garbage := []byte("version: 1\nofficers: []\n")
	// inForce puts policy1 in force.
	inForce := func(t *testing.T, db *store.DB) {
		MustGovern(t, db, func(g *reserve.Governance) error { g.Policy = policyRecord(t, 1, policy1, "admin"); return nil })
	}
	tests := []struct {
		name   string
		before func(t *testing.T, db *store.DB) // nil: a fresh store
		fn     func(t *testing.T, g *reserve.Governance) error
		field  string
		msg    string
	}{
		// Texts and hashes.
		{name: "policy text that does not parse", field: "policy", msg: "policy text does not parse",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Policy = &reserve.PolicyRecord{Seq: 1, Text: garbage, Hash: h2, By: "admin", At: fixedNow}
				return nil
			}},
		{name: "pending text that does not parse", before: inForce, field: "pending", msg: "policy text does not parse",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Pending = &reserve.PolicyRecord{Text: garbage, Hash: h2, By: "alice", At: fixedNow}
				return nil
			}},
		{name: "policy hash not the text's", field: "policy", msg: fmt.Sprintf("policy hash %x is not the text's", h2),
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Policy = policyRecord(t, 1, policy1, "admin")
				g.Policy.Hash = h2
				return nil
			}},
		{name: "pending hash not the text's", before: inForce, field: "pending", msg: "is not the text's",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Pending = policyRecord(t, 0, policy2, "alice")
				g.Pending.Hash[0] ^= 1
				return nil
			}},

		// Numbering.
		{name: "first policy numbered 2", field: "policy.seq", msg: "the first policy is number 1, not 2",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Policy = policyRecord(t, 2, policy1, "admin")
				return nil
			}},
		{name: "first policy numbered 0", field: "policy.seq", msg: "the first policy is number 1, not 0",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Policy = policyRecord(t, 0, policy1, "admin")
				return nil
			}},
		{name: "skipping a number", before: inForce, field: "policy.seq", msg: "the next policy is number 2, not 3",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Policy = policyRecord(t, 3, policy2, "admin")
				return nil
			}},
		{name: "going back a number", before: inForce, field: "policy.seq", msg: "the next policy is number 2, not 0",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Policy = policyRecord(t, 0, policy2, "admin")
				return nil
			}},

		// The policy in force.
		{name: "same number with another text", before: inForce, field: "policy", msg: "policy 1 in force cannot be changed",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Policy = policyRecord(t, 1, policy2, "admin")
				return nil
			}},
		{name: "same number with another author", before: inForce, field: "policy", msg: "policy 1 in force cannot be changed",
			fn: func(t *testing.T, g *reserve.Governance) error { g.Policy.By = "mallory"; return nil }},
		{name: "same number with an approval added", before: inForce, field: "policy", msg: "policy 1 in force cannot be changed",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Policy.Approvals = append(g.Policy.Approvals, changeSig(t, 0))
				return nil
			}},
		{name: "same number set at another time", before: inForce, field: "policy", msg: "policy 1 in force cannot be changed",
			fn: func(t *testing.T, g *reserve.Governance) error { g.Policy.At = g.Policy.At.Add(1); return nil }},
		{name: "new policy equal to the one in force", before: inForce, field: "policy", msg: "the new policy is the one in force",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Policy = policyRecord(t, 2, policy1, "alice")
				return nil
			}},
		{name: "new policy equal to the one in force, reformatted", before: inForce, field: "policy", msg: "the new policy is the one in force",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Policy = policyRecord(t, 2, append([]byte("# Same rules, new comment.\n"), policy1...), "alice")
				return nil
			}},
		{name: "policy removed", before: inForce, field: "policy", msg: "cannot be removed",
			fn: func(t *testing.T, g *reserve.Governance) error { g.Policy = nil; return nil }},

		// The freeze.
		{name: "freeze epoch going back", field: "freeze.epoch", msg: "cannot go back from 2 to 1",
			before: func(t *testing.T, db *store.DB) {
				inForce(t, db)
				MustGovern(t, db, func(g *reserve.Governance) error {
					g.Freeze = reserve.Freeze{Epoch: 2, Frozen: true, By: freezeSig(t, reserve.ActionFreeze, 2, 0)}
					return nil
				})
			},
			fn: func(t *testing.T, g *reserve.Governance) error { g.Freeze.Epoch = 1; return nil }},
		{name: "frozen with epoch 0", field: "freeze.epoch", msg: "a freeze has an epoch from 1",
			fn: func(t *testing.T, g *reserve.Governance) error {
				g.Freeze = reserve.Freeze{Frozen: true, By: freezeSig(t, reserve.ActionFreeze, 1, 0), Reason: "no epoch"}
				return nil
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := MustWallet(t)
			if tc.before != nil {
				tc.before(t, db)
			}
			before := takeGovSnapshot(t, db)

			got, err := db.UpdateGovernance(context.Background(), func(g *reserve.Governance) error { return tc.fn(t, g) })
			requireCode(t, err, reserve.CodeInvalid)
			var re *reserve.Error
			require.ErrorAs(t, err, &re)
			require.Equal(t, tc.field, re.Field, "error: %v", err)
			require.ErrorContains(t, err, tc.msg)
			require.Equal(t, reserve.Governance{}, got)
			require.Equal(t, before, takeGovSnapshot(t, db), "a refused change must change nothing")
		})
	}
}

// TestUpdateGovernanceFnError checks that fn's error comes back as is and
// that nothing fn changed before it is written.
func TestUpdateGovernanceFnError(t *testing.T) {
	errBoom := errors.New("officer key unreachable")
	classified := reserve.Errorf(reserve.CodeDenied, "only an officer may freeze")
	tests := []struct {
		name string
		err  error
	}{
		{name: "plain error", err: errBoom},
		{name: "classified error", err: classified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := MustWallet(t)
			MustGovern(t, db, func(g *reserve.Governance) error { g.Policy = policyRecord(t, 1, policy1, "admin"); return nil })
			before := takeGovSnapshot(t, db)

			got, err := db.UpdateGovernance(context.Background(), func(g *reserve.Governance) error {
				// Valid changes, each of which would be written and
				// audited without the error.
				g.Policy = policyRecord(t, 2, policy2, "alice")
				g.Freeze = reserve.Freeze{Epoch: 1, Frozen: true, By: freezeSig(t, reserve.ActionFreeze, 1, 0)}
				return tc.err
			})
			require.Same(t, tc.err, err, "fn's error must come back as is")
			require.Equal(t, reserve.Governance{}, got)
			require.Equal(t, before, takeGovSnapshot(t, db))
		})
	}
}

// TestGovernanceFreeze takes the reserve through a freeze, an unfreeze in
// two approvals and a second freeze, checking the state and the audit log
// at each step.
func TestGovernanceFreeze(t *testing.T) {
	db := MustWallet(t)
	MustGovern(t, db, func(g *reserve.Governance) error { g.Policy = policyRecord(t, 1, policy1, "admin"); return nil })
	rec1 := policyRecord(t, 1, policy1, "admin")
	freeze1 := freezeSig(t, reserve.ActionFreeze, 1, 0)
	unfreezeBob, unfreezeCarol := freezeSig(t, reserve.ActionUnfreeze, 1, 1), freezeSig(t, reserve.ActionUnfreeze, 1, 2)
	freeze2 := freezeSig(t, reserve.ActionFreeze, 2, 2)

	steps := []struct {
		name      string
		fn        func(g *reserve.Governance) error
		want      reserve.Freeze
		wantAudit []audit
	}{
		{
			name: "frozen by alice",
			fn: func(g *reserve.Governance) error {
				g.Freeze = reserve.Freeze{Epoch: 1, Frozen: true, By: freeze1, Reason: "suspected key compromise"}
				return nil
			},
			want:      reserve.Freeze{Epoch: 1, Frozen: true, By: freeze1, Reason: "suspected key compromise"},
			wantAudit: []audit{{store.AuditFreeze, `epoch=1 officer=alice reason="suspected key compromise"`}},
		},
		{
			name: "bob approves the unfreeze",
			fn: func(g *reserve.Governance) error {
				g.Freeze.Unfreeze = append(g.Freeze.Unfreeze, unfreezeBob)
				return nil
			},
			want:      reserve.Freeze{Epoch: 1, Frozen: true, By: freeze1, Reason: "suspected key compromise", Unfreeze: []reserve.ControlSignature{unfreezeBob}},
			wantAudit: []audit{{store.AuditUnfreeze, "epoch=1 approvals=1"}},
		},
		{
			name: "carol's approval lifts it",
			fn: func(g *reserve.Governance) error {
				g.Freeze.Unfreeze = append(g.Freeze.Unfreeze, unfreezeCarol)
				g.Freeze.Frozen = false
				return nil
			},
			want: reserve.Freeze{Epoch: 1, By: freeze1, Reason: "suspected key compromise",
				Unfreeze: []reserve.ControlSignature{unfreezeBob, unfreezeCarol}},
			wantAudit: []audit{{store.AuditUnfreeze, "epoch=1 lifted approvals=2"}},
		},
		{
			name: "frozen again by carol",
			fn: func(g *reserve.Governance) error {
				g.Freeze = reserve.Freeze{Epoch: g.Freeze.Epoch + 1, Frozen: true, By: freeze2, Reason: "audit \"finding\" 7"}
				return nil
			},
			want:      reserve.Freeze{Epoch: 2, Frozen: true, By: freeze2, Reason: "audit \"finding\" 7"},
			wantAudit: []audit{{store.AuditFreeze, `epoch=2 officer=carol reason="audit \"finding\" 7"`}},
		},
	}
	for _, st := range steps {
		before := takeGovSnapshot(t, db)
		got, err := db.UpdateGovernance(context.Background(), st.fn)
		require.NoError(t, err, st.name)
		want := reserve.Governance{Policy: rec1, Freeze: st.want}
		require.Equal(t, want, got, st.name)
		after := takeGovSnapshot(t, db)
		require.Equal(t, want, after.Governance, st.name)
		require.Equal(t, []reserve.PolicyRecord{*rec1}, after.Policies, "a freeze files no policy")
		requireNewAudit(t, db, before.Audit, st.wantAudit...)
	}
}

// TestGovernanceFreezeKeepingTheEpochIsAudited checks that freezing a
// thawed reserve is audited even when the caller forgot to move the epoch.
func TestGovernanceFreezeKeepingTheEpochIsAudited(t *testing.T) {
	db := MustWallet(t)
	MustGovern(t, db, func(g *reserve.Governance) error {
		g.Freeze = reserve.Freeze{Epoch: 1, By: freezeSig(t, reserve.ActionFreeze, 1, 0), Reason: "drill"}
		return nil
	})
	before := takeGovSnapshot(t, db)
	g := MustGovern(t, db, func(g *reserve.Governance) error { g.Freeze.Frozen = true; return nil })
	require.True(t, g.Freeze.Frozen)
	requireNewAudit(t, db, before.Audit, audit{store.AuditFreeze, `epoch=1 officer=alice reason="drill"`})
}

// TestGovernanceLargePolicy stores a policy with a large allowlist: any
// document the policy format accepts must fit in the store.
func TestGovernanceLargePolicy(t *testing.T) {
	text := testPolicy("168h", 4000)
	require.Greater(t, len(text), 256<<10)
	require.LessOrEqual(t, len(text), reserve.MaxPolicyBytes)
	db := MustWallet(t)
	rec := policyRecord(t, 1, text, "admin")

	got := MustGovern(t, db, func(g *reserve.Governance) error { g.Policy = policyRecord(t, 1, text, "admin"); return nil })
	require.Equal(t, reserve.Governance{Policy: rec}, got)
	s := takeGovSnapshot(t, db)
	require.Equal(t, got, s.Governance)
	require.Equal(t, []reserve.PolicyRecord{*rec}, s.Policies)
}

// TestGovernanceSurvivesReopening checks that the governance, the policy
// history and the audit entries are on disk.
func TestGovernanceSurvivesReopening(t *testing.T) {
	db := MustWallet(t)
	MustGovern(t, db, func(g *reserve.Governance) error { g.Policy = policyRecord(t, 1, policy1, "admin"); return nil })
	want := MustGovern(t, db, func(g *reserve.Governance) error {
		g.Pending = policyRecord(t, 0, policy2, "alice", changeSig(t, 0), changeSig(t, 2))
		g.Freeze = reserve.Freeze{Epoch: 1, Frozen: true, By: freezeSig(t, reserve.ActionFreeze, 1, 1), Reason: "drill",
			Unfreeze: []reserve.ControlSignature{freezeSig(t, reserve.ActionUnfreeze, 1, 0)}}
		return nil
	})
	before := takeGovSnapshot(t, db)
	require.Equal(t, want, before.Governance)
	require.NoError(t, db.Close())

	db = MustOpenPath(t, db.Path())
	require.Equal(t, before, takeGovSnapshot(t, db))

	// The history goes on from where it was.
	MustGovern(t, db, func(g *reserve.Governance) error {
		next := *g.Pending
		next.Seq = 2
		g.Policy, g.Pending = &next, nil
		return nil
	})
	policies, err := db.Policies(context.Background())
	require.NoError(t, err)
	require.Len(t, policies, 2)
	require.Equal(t, uint64(2), policies[1].Seq)
	require.Equal(t, policy2, policies[1].Text)
}
