package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer/signertest"
)

// TestIntentExpiryBound: spend approve signs only an intent that expires
// within the proposal expiry of the policy it names, that policy read
// from the daemon and hashed here.
func TestIntentExpiryBound(t *testing.T) {
	text := signertest.PolicyYAML(signertest.Officers())
	pol := signertest.MustParsePolicy(t, text)
	hash := pol.Hash()
	other := signertest.MustParsePolicy(t, signertest.PolicyYAML(signertest.Officers()[:2]))
	now := signertest.Now()
	info := &custosv1.PolicyInfo{Seq: 1, Text: text, Hash: hash[:]}
	forged := &custosv1.PolicyInfo{Seq: 1, Text: signertest.PolicyYAML(signertest.Officers()[:2]), Hash: hash[:]}
	intent := func(expires time.Time) *reserve.Intent {
		return &reserve.Intent{PolicyHash: hash, ExpiresAt: expires}
	}
	tests := []struct {
		name string
		g    *custosv1.GetPolicyResponse
		in   *reserve.Intent
		want string
	}{
		{name: "dated by the policy", g: &custosv1.GetPolicyResponse{Policy: info}, in: intent(now.Add(pol.ProposalExpiry))},
		{name: "under a policy since replaced", g: &custosv1.GetPolicyResponse{History: []*custosv1.PolicyInfo{info}}, in: intent(now.Add(time.Hour))},
		{name: "a year ahead", g: &custosv1.GetPolicyResponse{Policy: info}, in: intent(now.AddDate(1, 0, 0)),
			want: "intent.expires_at: the intent expires at 2027-12-01T12:00:00Z, later than the policy's proposal expiry"},
		{name: "expired", g: &custosv1.GetPolicyResponse{Policy: info}, in: intent(now.Add(-time.Second)), want: "the intent expired"},
		{name: "the daemon has no such policy", g: &custosv1.GetPolicyResponse{Policy: &custosv1.PolicyInfo{Text: text, Hash: make([]byte, 32)}},
			in: intent(now.Add(time.Hour)), want: "the daemon has no policy"},
		{name: "another document under the intent's hash", g: &custosv1.GetPolicyResponse{Policy: forged}, in: intent(now.Add(time.Hour)),
			want: fmt.Sprintf("hashes to %x", other.Hash())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := intentExpiryError(tt.g, tt.in, now)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}
