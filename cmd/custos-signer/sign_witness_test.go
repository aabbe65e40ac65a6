package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/signer"
)

// TestSignJSONWitnessed: sign --json says which checkpoint of the
// coordinator's audit log the signature witnessed (size, root, and the
// size witnessed before) once a log key is pinned, and says nothing of a
// log when none is.
func TestSignJSONWitnessed(t *testing.T) {
	origin := audit.OriginPrefix + "00112233445566778899aabbccddeeff"
	skey, vkey, err := audit.NewLogKey(bytes.NewReader(bytes.Repeat([]byte{7}, 32)), origin)
	require.NoError(t, err)
	logSigner, err := note.NewSigner(skey)
	require.NoError(t, err)
	cp := audit.Checkpoint{Origin: origin, Size: 12, Root: [32]byte{0xab, 0xcd}}
	signedCP, err := audit.SignCheckpoint(cp, logSigner)
	require.NoError(t, err)

	tests := []struct {
		name string
		pin  bool
		want *signWitnessed
	}{
		{"no log key pinned", false, nil},
		{"log key pinned: the first checkpoint witnessed", true, &signWitnessed{Size: 12, Root: cp.Root.String(), PreviousSize: 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newSignFixture(t)
			if tc.pin {
				key, err := signer.Unlock(f.dir, []byte(testPassphrase))
				require.NoError(t, err)
				_, err = signer.PinLogKey(f.dir, key, vkey)
				key.Zero()
				require.NoError(t, err)
			}
			require.NoError(t, multisig.SetWitness(f.pkt, multisig.Witness{Checkpoint: signedCP}))
			in := f.write(t, "witnessed.psbt", f.bytes(t))
			r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", in, "--out", f.out(t), "--yes", "--json")
			require.NoError(t, r.err, r.stderr)
			o := decode[signOutput](t, r.stdout)
			require.Equal(t, tc.want, o.Witnessed)
			if tc.want == nil {
				require.NotContains(t, r.stdout, `"witnessed"`)
			}
		})
	}
}
