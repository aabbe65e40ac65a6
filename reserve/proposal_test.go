package reserve_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

func TestMaySpend(t *testing.T) {
	sig := func(i int) reserve.Signature { return reserve.Signature{Cosigner: i} }
	tests := []struct {
		name      string
		p         reserve.Proposal
		threshold int
		want      bool
	}{
		{"nobody signed", reserve.Proposal{}, 2, false},
		{"fewer than m", reserve.Proposal{Signatures: []reserve.Signature{sig(0)}}, 2, false},
		{"one cosigner recorded twice is one", reserve.Proposal{Signatures: []reserve.Signature{sig(1), sig(1)}}, 2, false},
		{"m cosigners", reserve.Proposal{Signatures: []reserve.Signature{sig(0), sig(2)}}, 2, true},
		{"more than m", reserve.Proposal{Signatures: []reserve.Signature{sig(0), sig(1), sig(2)}}, 2, true},
		{"final transaction", reserve.Proposal{FinalTx: []byte{1}}, 2, true},
		{"no threshold known", reserve.Proposal{Signatures: []reserve.Signature{sig(0)}}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.p.MaySpend(tt.threshold))
		})
	}
}

// TestCheckProposalID: what can be a proposal id (and a file name in a
// signer's queue), and what cannot.
func TestCheckProposalID(t *testing.T) {
	for _, ok := range []string{"P000001", "P1234567", "a-b-9"} {
		require.NoError(t, reserve.CheckProposalID(ok), ok)
	}
	for _, bad := range []string{"", "P 1", "../P1", "P1/x", "P\x00", "Pé", strings.Repeat("P", 33)} {
		require.Error(t, reserve.CheckProposalID(bad), "%q", bad)
	}
}
