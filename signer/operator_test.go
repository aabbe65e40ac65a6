package signer_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/signer"
)

// TestOperatorApproval: an operator's approval verifies only under the
// key that made it, for the proposal and the PSBT bytes it was made over.
func TestOperatorApproval(t *testing.T) {
	dir := t.TempDir()
	MustInit(t, dir)
	key := MustUnlock(t, dir)
	otherDir := t.TempDir()
	_, err := signer.Restore(otherDir, testConfig(), strings.Repeat("zoo ", 11)+"wrong", testPassphrase)
	require.NoError(t, err)
	other := MustUnlock(t, otherDir)

	psbt := []byte("psbt\xff the queued request's bytes")
	mac, err := signer.OperatorApprovalMAC(key, "p-1", psbt)
	require.NoError(t, err)
	require.Len(t, mac, 32)
	forged, err := signer.OperatorApprovalMAC(other, "p-1", psbt)
	require.NoError(t, err)

	tests := []struct {
		name string
		id   string
		psbt []byte
		mac  []byte
		ok   bool
	}{
		{"made with the key, over this id and PSBT", "p-1", psbt, mac, true},
		{"no MAC (an empty approval file)", "p-1", psbt, nil, false},
		{"made with another signer's key", "p-1", psbt, forged, false},
		{"for another proposal", "p-2", psbt, mac, false},
		{"over another PSBT", "p-1", append([]byte{}, append(psbt, 0)...), mac, false},
		{"a truncated MAC", "p-1", psbt, mac[:31], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := signer.VerifyOperatorApproval(key, tc.id, tc.psbt, tc.mac)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, signer.ErrApprovalForged)
		})
	}

	// A locked (zeroed) key makes no approval.
	k := MustUnlock(t, dir)
	k.Zero()
	_, err = signer.OperatorApprovalMAC(k, "p-1", psbt)
	require.Error(t, err)
}
