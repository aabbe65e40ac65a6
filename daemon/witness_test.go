package daemon_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
)

// withoutWitness is an exported PSBT without its witness fields: each
// export carries the audit checkpoint of the moment (witness.go), so two
// exports of one proposal differ there when anything was logged between.
func withoutWitness(tb testing.TB, raw []byte) []byte {
	tb.Helper()
	p, err := multisig.ParsePSBT(raw)
	require.NoError(tb, err)
	w, err := multisig.ReadWitness(p)
	require.NoError(tb, err)
	require.NotNil(tb, w.Checkpoint, "an export carries the audit checkpoint")
	require.NoError(tb, multisig.SetWitness(p, multisig.Witness{}))
	out, err := multisig.SerializePSBT(p)
	require.NoError(tb, err)
	return out
}
