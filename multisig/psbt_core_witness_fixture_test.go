package multisig

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// witnessOrigin is the audit log origin of MustCustosWitnessSpend, the
// one of docs/audit.md's test vectors.
const witnessOrigin = audit.OriginPrefix + "00112233445566778899aabbccddeeff"

// witnessFixture is what MustCustosWitnessSpend put in its PSBT, for the
// tests to compare field by field.
type witnessFixture struct {
	Intent    reserve.Intent
	Approvals []reserve.Approval
	Witness   Witness
	// LogKey is the log's verifier key; WitnessKeys the cosigners'.
	LogKey      string
	WitnessKeys map[uint32]string
}

// MustCustosWitnessSpend is MustCustosCoreSpend (the spend of
// testdata/core/custos-export) as Custos hands it to a signer and a signer
// hands it back, with every Custos field, written by the code that writes
// them in the daemon and the signer:
//   - 0x00 and 0x01: the intent (the spend's payee, under a policy hash of
//     32 bytes of 0xaa) and two officers' approvals (Ed25519 seeds of 32
//     bytes of 0x01 and 0x02), by SetApprovals;
//   - 0x02 and 0x03: the signed checkpoint of an audit log of 5 leaves
//     (log key from 32 bytes of 0x01, as docs/audit.md's vector) and
//     consistency proofs to it for 73c5da0a (from size 2) and b8688df1
//     (from size 4), as the daemon's witnessPSBT computes and sets them
//     (audit.ProveConsistency, MarshalText, SetWitness); 28645006 has
//     witnessed nothing yet and gets none;
//   - 0x04: the cosignatures of that checkpoint by 73c5da0a and 28645006
//     (witness keys by audit.NewWitnessKey from 32 bytes of 0x02 and
//     0x03), as the signer's cosignature and addCosignature make them
//     (audit.Cosign, Cosignature.Marshal, ReadWitness, SetWitness).
//
// Every signature is Ed25519, so the PSBT is the same on every run.
func MustCustosWitnessSpend(tb testing.TB, d *Descriptor) (*psbt.Packet, witnessFixture) {
	tb.Helper()
	p := MustCustosCoreSpend(tb, d)
	var f witnessFixture

	var policy [32]byte
	for i := range policy {
		policy[i] = 0xaa
	}
	out := p.UnsignedTx.TxOut[1]
	f.Intent = reserve.Intent{
		Network:    reserve.Regtest,
		WalletID:   "4c2f8a0e91d3b675",
		ProposalID: "P000042",
		PolicyHash: policy,
		Payees:     []reserve.IntentPayee{{Script: out.PkScript, AmountSat: out.Value}},
		FeeCapSat:  20_000,
		ExpiresAt:  time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC),
	}
	for _, b := range []byte{2, 1} {
		a, err := reserve.SignIntent(&f.Intent, reserve.DecisionApprove, vectorOfficer(b))
		require.NoError(tb, err)
		f.Approvals = append(f.Approvals, a)
	}
	require.NoError(tb, SetApprovals(p, &f.Intent, f.Approvals))
	slices.SortFunc(f.Approvals, func(a, b reserve.Approval) int { return bytes.Compare(a.OfficerKey[:], b.OfficerKey[:]) })

	// The coordinator's export (daemon/witness.go, witnessPSBT).
	skey, vkey, err := audit.NewLogKey(bytes.NewReader(bytes.Repeat([]byte{1}, 32)), witnessOrigin)
	require.NoError(tb, err)
	logS, err := note.NewSigner(skey)
	require.NoError(tb, err)
	logV, err := audit.ParseLogKey(vkey)
	require.NoError(tb, err)
	f.LogKey = vkey
	log := &audit.Memory{Origin: witnessOrigin}
	for i := range 5 {
		_, err := log.Append(audit.Leaf{Time: time.Date(2025, 1, 2, 3, 4+i, 5, 0, time.UTC),
			Actor: reserve.Actor{Name: "alice", Role: "officer", Serial: "0a1b"}, Kind: "proposal.create",
			IDs: map[string]string{"proposal": fmt.Sprintf("P%06d", 38+i)}, Detail: "payees=1"})
		require.NoError(tb, err)
	}
	cp, err := log.Checkpoint(5)
	require.NoError(tb, err)
	signed, err := audit.SignCheckpoint(cp, logS)
	require.NoError(tb, err)
	w := Witness{Checkpoint: signed, Proofs: map[uint32][]byte{}}
	for fp, old := range map[uint32]int64{0x73c5da0a: 2, 0xb8688df1: 4} {
		proof, err := audit.ProveConsistency(log, old, 5, log.Size())
		require.NoError(tb, err)
		w.Proofs[fp], err = proof.MarshalText()
		require.NoError(tb, err)
	}
	require.NoError(tb, SetWitness(p, w))
	p = MustParse(tb, MustSerialize(tb, p)) // the exported file

	// Two signers cosign it (signer/witness.go, cosignature and
	// addCosignature), one after the other.
	f.WitnessKeys = map[uint32]string{}
	for fp, seed := range map[uint32]byte{0x73c5da0a: 2, 0x28645006: 3} {
		wskey, wvkey, err := audit.NewWitnessKey(bytes.Repeat([]byte{seed}, 32), fp)
		require.NoError(tb, err)
		ws, err := note.NewSigner(wskey)
		require.NoError(tb, err)
		msg, err := audit.Cosign(signed, logV, ws)
		require.NoError(tb, err)
		got, err := ReadWitness(p)
		require.NoError(tb, err)
		got.Cosignatures[fp] = audit.Cosignature{Fingerprint: fp, Key: wvkey, Note: msg}.Marshal()
		require.NoError(tb, SetWitness(p, got))
		f.WitnessKeys[fp] = wvkey
	}
	f.Witness, err = ReadWitness(p)
	require.NoError(tb, err)
	return MustParse(tb, MustSerialize(tb, p)), f
}

// witnessDir is where the recordings of MustCustosWitnessSpend are.
var witnessDir = filepath.Join("testdata", "core", "custos-witness")

// TestCustosWitnessFixture: the recorded custos-witness.psbt.b64 (the
// input of every recording in testdata/core/custos-witness and of the
// Electrum ones) is what MustCustosWitnessSpend builds today, byte for
// byte. -update rewrites it (then record again: see the README there).
func TestCustosWitnessFixture(t *testing.T) {
	p, _ := MustCustosWitnessSpend(t, MustCoreWallet(t))
	b64 := base64.StdEncoding.EncodeToString(MustSerialize(t, p))
	name := filepath.Join(witnessDir, "custos-witness.psbt.b64")
	if *update {
		require.NoError(t, os.MkdirAll(witnessDir, 0o755))
		require.NoError(t, os.WriteFile(name, []byte(b64+"\n"), 0o644))
	}
	recorded, err := os.ReadFile(name)
	require.NoError(t, err)
	require.Equal(t, string(bytes.TrimSpace(recorded)), b64)
}
