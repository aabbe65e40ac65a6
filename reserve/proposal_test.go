package reserve_test

import (
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
