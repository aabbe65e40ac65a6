package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/daemon"
	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// MustLogKeyOf reads the daemon's log key from its data dir: the
// verifier, and the signer (what a thief of the log key would hold).
func MustLogKeyOf(tb testing.TB, td *testDaemon) (note.Signer, note.Verifier) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(td.dir, daemon.LogKeyFile))
	require.NoError(tb, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Len(tb, lines, 2)
	s, err := note.NewSigner(lines[0])
	require.NoError(tb, err)
	v, err := note.NewVerifier(lines[1])
	require.NoError(tb, err)
	return s, v
}

// MustWitnessKey is cosigner fp's witness key made from seed byte b (a
// signer derives its own from its cosigner key; any seed makes a key of
// the right name).
func MustWitnessKey(tb testing.TB, fp uint32, b byte) (note.Signer, string) {
	tb.Helper()
	skey, vkey, err := audit.NewWitnessKey(bytes.Repeat([]byte{b}, 32), fp)
	require.NoError(tb, err)
	s, err := note.NewSigner(skey)
	require.NoError(tb, err)
	return s, vkey
}

// mustCosigned is raw with cosigner fp's cosignature, by the witness key
// of seed byte b, of signedCP (a checkpoint signed by the log of logV;
// nil: the checkpoint raw carries), as a signer returns it.
func mustCosigned(tb testing.TB, raw []byte, logV note.Verifier, signedCP []byte, fp uint32, b byte) []byte {
	tb.Helper()
	pkt, err := multisig.ParsePSBT(raw)
	require.NoError(tb, err)
	w, err := multisig.ReadWitness(pkt)
	require.NoError(tb, err)
	if signedCP == nil {
		signedCP = w.Checkpoint
	}
	s, vkey := MustWitnessKey(tb, fp, b)
	cosigned, err := audit.Cosign(signedCP, logV, s)
	require.NoError(tb, err)
	w.Cosignatures[fp] = audit.Cosignature{Fingerprint: fp, Key: vkey, Note: cosigned}.Marshal()
	require.NoError(tb, multisig.SetWitness(pkt, w))
	out, err := multisig.SerializePSBT(pkt)
	require.NoError(tb, err)
	return out
}

// witnessKeys are the witness keys the daemon's store records, by
// fingerprint.
func witnessKeys(tb testing.TB, td *testDaemon, logV note.Verifier) map[uint32]string {
	tb.Helper()
	recs, err := td.db.Witnesses(context.Background(), logV.Name())
	require.NoError(tb, err)
	out := map[uint32]string{}
	for fp, r := range recs {
		out[fp] = r.Key
	}
	return out
}

// signersOf are the fingerprints that have signed proposal id.
func signersOf(tb testing.TB, conn *grpc.ClientConn, id string) []string {
	tb.Helper()
	got, err := custosv1.NewSpendServiceClient(conn).GetProposal(callCtx(tb), &custosv1.GetProposalRequest{Id: id})
	require.NoError(tb, err)
	out := []string{}
	for _, s := range got.Proposal.Signers {
		out = append(out, s.Fingerprint)
	}
	return out
}

// TestImportCosignatureRefusals: over real gRPC, the cosignatures a
// returned PSBT carries are checked before anything is stored: a wrong
// witness key after the first use, a checkpoint of another log, a root
// not in the daemon's history, a size past its log, a cosignature by no
// cosigner of the wallet are each refused naming the cosignature, and
// neither the signatures beside them nor any witness are stored.
func TestImportCosignatureRefusals(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	id := mustSigningProposal(t, td, w)
	officer := MustDialAs(t, td, daemon.RoleOfficer)
	spend := custosv1.NewSpendServiceClient(officer)
	logS, logV := MustLogKeyOf(t, td)
	fp1, fp2 := MustCosigner(t, 1).Fingerprint, MustCosigner(t, 2).Fingerprint

	// Cosigner 1's witness key is recorded the first time, from its
	// signer's file.
	_, key1 := MustWitnessKey(t, fp1, 0xa1)
	_, err := spend.ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: mustCosigned(t, mustSignedBy(t, officer, w, id, 1), logV, nil, fp1, 0xa1)})
	require.NoError(t, err)
	recorded := witnessKeys(t, td, logV)
	require.Equal(t, map[uint32]string{fp1: key1}, recorded)
	signed := signersOf(t, officer, id)
	require.Equal(t, []string{fmt.Sprintf("%08x", fp1)}, signed)

	foreignOrigin := audit.OriginPrefix + "ffeeddccbbaa99887766554433221100"
	foreignSKey, foreignVKey, err := audit.NewLogKey(bytes.NewReader(bytes.Repeat([]byte{0x77}, 32)), foreignOrigin)
	require.NoError(t, err)
	foreignS, err := note.NewSigner(foreignSKey)
	require.NoError(t, err)
	foreignV, err := note.NewVerifier(foreignVKey)
	require.NoError(t, err)
	sign := func(s note.Signer, cp audit.Checkpoint) []byte {
		msg, err := audit.SignCheckpoint(cp, s)
		require.NoError(t, err)
		return msg
	}
	foreignCP := sign(foreignS, audit.Checkpoint{Origin: foreignOrigin, Size: 3, Root: [32]byte{3}})
	// Signed with the stolen log key: a size the log has, another root.
	forgedCP := sign(logS, audit.Checkpoint{Origin: logV.Name(), Size: 2, Root: [32]byte{0xde, 0xad}})
	beyondCP := sign(logS, audit.Checkpoint{Origin: logV.Name(), Size: 1 << 40, Root: [32]byte{0xbe}})
	const stranger uint32 = 0x99999999

	tests := []struct {
		name string
		// psbt makes the PSBT from one signed by cosigner 2.
		psbt func(raw []byte) []byte
		want []string
	}{
		{"a wrong witness key after first use", func(raw []byte) []byte { return mustCosigned(t, raw, logV, nil, fp1, 0xb1) },
			[]string{fmt.Sprintf("cosignature[%08x]", fp1), "wrong witness key", key1}},
		{"a checkpoint of another log", func(raw []byte) []byte { return mustCosigned(t, raw, foreignV, foreignCP, fp2, 0xa2) },
			[]string{fmt.Sprintf("cosignature[%08x]", fp2), foreignOrigin}},
		{"a root not in the daemon's history", func(raw []byte) []byte { return mustCosigned(t, raw, logV, forgedCP, fp2, 0xa2) },
			[]string{fmt.Sprintf("cosignature[%08x]", fp2), "cosigns size 2", "this log's root at that size"}},
		{"a size past the daemon's log", func(raw []byte) []byte { return mustCosigned(t, raw, logV, beyondCP, fp2, 0xa2) },
			[]string{fmt.Sprintf("cosignature[%08x]", fp2), fmt.Sprintf("cosigns size %d", int64(1)<<40)}},
		{"a cosignature by no cosigner of the wallet", func(raw []byte) []byte { return mustCosigned(t, raw, logV, nil, stranger, 0xa9) },
			[]string{"cosignature[99999999]", "no cosigner of the wallet"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.psbt(mustSignedBy(t, officer, w, id, 2))
			_, err := spend.ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: raw})
			requireCode(t, err, codes.InvalidArgument, tc.want...)
			require.Equal(t, signed, signersOf(t, officer, id), "no signature stored")
			require.Equal(t, recorded, witnessKeys(t, td, logV), "no witness stored")
		})
	}
}

// TestWitnessKeyFirstUse: a cosigner's witness key is taken the first
// time only from the signer identity bound to that cosigner, or from an
// admin or officer whose import adds that cosigner's signatures (its
// signer's own file); a key presented any other way is refused,
// PermissionDenied naming the cosignature, and nothing is stored.
func TestWitnessKeyFirstUse(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	id := mustSigningProposal(t, td, w)
	officer := MustDialAs(t, td, daemon.RoleOfficer)
	_, logV := MustLogKeyOf(t, td)
	fp1, fp2, fp3 := MustCosigner(t, 1).Fingerprint, MustCosigner(t, 2).Fingerprint, MustCosigner(t, 3).Fingerprint
	ministry1 := mustIssueSigner(t, td, "ministry-1", fp1)
	_, key1 := MustWitnessKey(t, fp1, 0xa1)
	_, key3 := MustWitnessKey(t, fp3, 0xa3)
	hex := func(fp uint32) string { return fmt.Sprintf("%08x", fp) }

	tests := []struct {
		name string
		conn *grpc.ClientConn
		// seeds sign the PSBT; cosigner is the cosignature's, by key seed
		// byte key.
		seeds    []byte
		cosigner uint32
		key      byte
		code     codes.Code
		want     []string
		// signers and witnesses afterwards.
		signers   []string
		witnesses map[uint32]string
	}{
		{"a signer identity introduces another cosigner's key", ministry1, []byte{1}, fp2, 0xa2, codes.PermissionDenied,
			[]string{"cosignature[" + hex(fp2) + "]", "ministry-1", "nothing was stored"}, []string{}, map[uint32]string{}},
		{"an officer's file without that cosigner's new signatures", officer, []byte{1}, fp3, 0xa3, codes.PermissionDenied,
			[]string{"cosignature[" + hex(fp3) + "]", "officer"}, []string{}, map[uint32]string{}},
		{"the signer identity bound to the cosigner", ministry1, []byte{1}, fp1, 0xa1, codes.OK, nil,
			[]string{hex(fp1)}, map[uint32]string{fp1: key1}},
		{"its signer's file, carried by an officer, with its new signatures", officer, []byte{3}, fp3, 0xa3, codes.OK, nil,
			[]string{hex(fp1), hex(fp3)}, map[uint32]string{fp1: key1, fp3: key3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := mustCosigned(t, mustSignedBy(t, officer, w, id, tc.seeds...), logV, nil, tc.cosigner, tc.key)
			_, err := custosv1.NewSpendServiceClient(tc.conn).ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: raw})
			if tc.code == codes.OK {
				require.NoError(t, err)
			} else {
				requireCode(t, err, tc.code, tc.want...)
			}
			require.ElementsMatch(t, tc.signers, signersOf(t, officer, id))
			require.Equal(t, tc.witnesses, witnessKeys(t, td, logV))
		})
	}
}

// TestExportCarriesWitnesses: audit export's header carries each
// recorded witness's latest cosignature with a consistency proof to the
// exported checkpoint, which audit.CheckWitnesses accepts under the
// witness's key and refuses under another.
func TestExportCarriesWitnesses(t *testing.T) {
	td := MustStartDaemon(t)
	w := MustCreateWallet(t, td)
	id := mustSigningProposal(t, td, w)
	officer := MustDialAs(t, td, daemon.RoleOfficer)
	_, logV := MustLogKeyOf(t, td)
	fp1 := MustCosigner(t, 1).Fingerprint
	_, key1 := MustWitnessKey(t, fp1, 0xa1)
	_, other1 := MustWitnessKey(t, fp1, 0xb1)
	_, err := custosv1.NewSpendServiceClient(officer).ImportPSBT(callCtx(t), &custosv1.ImportPSBTRequest{Id: id, Psbt: mustCosigned(t, mustSignedBy(t, officer, w, id, 1), logV, nil, fp1, 0xa1)})
	require.NoError(t, err)

	stream, err := custosv1.NewAuditServiceClient(MustDialAs(t, td, daemon.RoleAuditor)).ExportAudit(callCtx(t), &custosv1.ExportAuditRequest{})
	require.NoError(t, err)
	var file bytes.Buffer
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.NoError(t, audit.WriteExportLeaf(&file, m.GetLine()))
	}
	cp, err := audit.VerifyExport(bytes.NewReader(file.Bytes()), logV)
	require.NoError(t, err)
	gotCP, ws, err := audit.ReadExportWitnesses(bytes.NewReader(file.Bytes()), logV)
	require.NoError(t, err)
	require.Equal(t, cp, gotCP)
	require.Len(t, ws, 1)
	require.Equal(t, fp1, ws[0].Cosignature.Fingerprint)
	require.Equal(t, key1, ws[0].Cosignature.Key)

	vouches, err := audit.CheckWitnesses(cp, ws, logV, []string{key1})
	require.NoError(t, err)
	require.Len(t, vouches, 1)
	require.NoError(t, vouches[0].Err)
	require.Positive(t, vouches[0].Checkpoint.Size)
	require.LessOrEqual(t, vouches[0].Checkpoint.Size, cp.Size)

	vouches, err = audit.CheckWitnesses(cp, ws, logV, []string{other1})
	require.NoError(t, err)
	require.ErrorContains(t, vouches[0].Err, "wrong witness key")
}
