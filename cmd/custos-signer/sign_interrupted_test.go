package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/signer/signertest"
)

// TestSignInterruptedWrite checks issue 10's signer half: when the signed
// PSBT cannot be written after the signature was recorded, the error says
// it is recorded (entry, txid) and how to get the file; signing the same
// PSBT again writes it, says it was signed before, and adds no entry.
func TestSignInterruptedWrite(t *testing.T) {
	signedAt := signertest.Now().UTC().Format(time.RFC3339)
	tests := []struct {
		name string
		json bool
	}{
		{name: "text"},
		{name: "json", json: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSignFixture(t)
			txid := f.pkt.UnsignedTx.TxHash().String()
			args := func(out string) []string {
				a := []string{"--datadir", f.dir, "--in", f.in, "--out", out, "--yes"}
				if tt.json {
					a = append(a, "--json")
				}
				return a
			}

			// The output's directory does not exist: the write fails after
			// the ledger append, as a kill or a full disk would leave it.
			lost := filepath.Join(t.TempDir(), "no such dir", "signed.psbt")
			r := runSign(t, testPassphrase, "", args(lost)...)
			require.Equal(t, 1, r.code, r.stderr)
			require.Contains(t, r.stderr, "transaction "+txid+" is recorded in the ledger ")
			require.Contains(t, r.stderr, " as entry 1, but the signed PSBT was not written: ")
			require.Contains(t, r.stderr, "run sign on the same PSBT again with an --out that can be written: it writes the signed PSBT and adds no ledger entry")
			require.NotContains(t, r.stdout, "Already signed", "the first signing is not called a repeat")
			require.Equal(t, "1", stateValue(t, f.dir, "ledger_entries"))
			head := stateValue(t, f.dir, "ledger_head")

			// The next run of the same command says what happened before.
			out := f.out(t)
			r = runSign(t, testPassphrase, "", args(out)...)
			require.NoError(t, r.err, r.stderr)
			f.requireSigned(t, out)
			if tt.json {
				var o signOutput
				require.NoError(t, json.Unmarshal([]byte(r.stdout), &o))
				require.Equal(t, signedAt, o.AlreadySignedAt)
				require.Equal(t, uint64(1), o.LedgerEntry)
				require.Equal(t, uint64(1), o.LedgerEntries)
			} else {
				require.Contains(t, r.stdout, "Already signed on "+signedAt+" (ledger entry 1); writing the signed PSBT again adds no ledger entry.\n")
			}
			require.Equal(t, "1", stateValue(t, f.dir, "ledger_entries"), "no second entry")
			require.Equal(t, head, stateValue(t, f.dir, "ledger_head"))
		})
	}
}

// TestSignFirstIsNotAlready checks that a first signing reports the entry
// it added and does not claim an earlier one.
func TestSignFirstIsNotAlready(t *testing.T) {
	f := newSignFixture(t)
	r := runSign(t, testPassphrase, "", "--datadir", f.dir, "--in", f.in, "--out", f.out(t), "--yes", "--json")
	require.NoError(t, r.err, r.stderr)
	var o signOutput
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &o))
	require.Empty(t, o.AlreadySignedAt)
	require.Equal(t, uint64(1), o.LedgerEntry)
}
