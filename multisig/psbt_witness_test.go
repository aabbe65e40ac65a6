package multisig_test

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/reserve"
)

// custosKey is a Custos proprietary key: 0xfc, "custos", subtype, keydata.
func custosKey(subtype byte, keyData ...byte) []byte {
	return append(append([]byte{0xfc, 6}, "custos"...), append([]byte{subtype}, keyData...)...)
}

func TestWitnessFields(t *testing.T) {
	fp := []byte{0x73, 0xc5, 0xda, 0x0a}
	cp := &psbt.Unknown{Key: custosKey(multisig.PropCheckpoint), Value: []byte("checkpoint")}
	proof := &psbt.Unknown{Key: custosKey(multisig.PropWitnessProof, fp...), Value: []byte("proof")}
	cosig := &psbt.Unknown{Key: custosKey(multisig.PropCosignature, fp...), Value: []byte("cosig")}
	tests := []struct {
		name     string
		unknowns []*psbt.Unknown
		bad      string
	}{
		{name: "all three", unknowns: []*psbt.Unknown{cp, proof, cosig}},
		{name: "checkpoint only", unknowns: []*psbt.Unknown{cp}},
		{name: "proof without checkpoint", unknowns: []*psbt.Unknown{proof}, bad: "no checkpoint"},
		{name: "checkpoint with key data", unknowns: []*psbt.Unknown{{Key: custosKey(multisig.PropCheckpoint, 1), Value: []byte("x")}}, bad: "key data"},
		{name: "short fingerprint", unknowns: []*psbt.Unknown{cp, {Key: custosKey(multisig.PropWitnessProof, 1, 2, 3), Value: []byte("x")}}, bad: "fingerprint"},
		{name: "empty cosignature", unknowns: []*psbt.Unknown{cp, {Key: custosKey(multisig.PropCosignature, fp...), Value: nil}}, bad: "cosignature"},
		{name: "oversized proof", unknowns: []*psbt.Unknown{cp, {Key: custosKey(multisig.PropWitnessProof, fp...), Value: bytes.Repeat([]byte{'a'}, 9000)}}, bad: "consistency proof"},
		{name: "checkpoint twice", unknowns: []*psbt.Unknown{cp, cp}, bad: "twice"},
		{name: "unknown subtype", unknowns: []*psbt.Unknown{{Key: custosKey(0x05), Value: []byte("x")}}, bad: "unknown subtype"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &psbt.Packet{Unknowns: tc.unknowns}
			w, err := multisig.ReadWitness(p)
			_, _, aerr := multisig.ReadApprovals(p)
			if tc.bad != "" {
				// ReadApprovals refuses what ReadWitness refuses (a
				// field missing its checkpoint aside: no approval
				// depends on it), and unknown subtypes.
				if tc.name == "unknown subtype" {
					require.NoError(t, err)
					require.Error(t, aerr)
					return
				}
				require.Error(t, err)
				require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
				require.Contains(t, err.Error(), tc.bad)
				return
			}
			require.NoError(t, err)
			require.NoError(t, aerr)
			require.Equal(t, []byte("checkpoint"), w.Checkpoint)
			// SetWitness writes back what it read, in canonical order.
			q := &psbt.Packet{}
			require.NoError(t, multisig.SetWitness(q, w))
			again, err := multisig.ReadWitness(q)
			require.NoError(t, err)
			require.Equal(t, w, again)
		})
	}
}
