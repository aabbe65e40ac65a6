package multisig

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

// vectorOfficer is a test officer whose Ed25519 seed is 32 bytes of b.
func vectorOfficer(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32))
}

// vectorIntent is the intent of docs/approvals.md's test vector: the
// standard test spend's payee, under a policy hash of 32 bytes of 0xAA.
func vectorIntent() reserve.Intent {
	var policy [32]byte
	for i := range policy {
		policy[i] = 0xaa
	}
	return reserve.Intent{
		Network:    reserve.Regtest,
		WalletID:   "4c2f8a0e91d3b675",
		ProposalID: "P000001",
		PolicyHash: policy,
		Payees:     []reserve.IntentPayee{{Script: psbtPayee("treasury bill"), AmountSat: 1_200_000}},
		FeeCapSat:  20_000,
		ExpiresAt:  time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC),
	}
}

// approvalVectors is testdata/approval_vectors.json.
type approvalVectors struct {
	Encoding      string            `json:"intent_encoding"`
	ApproveDigest string            `json:"approve_digest"`
	RejectDigest  string            `json:"reject_digest"`
	OfficerKeys   map[string]string `json:"officer_public_keys"`
	Signatures    map[string]string `json:"approve_signatures"`
	Fields        []vectorField     `json:"psbt_fields"`
}

type vectorField struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TestApprovalVectors computes the spec's test vector, compares it with
// testdata/approval_vectors.json (rewrite with -update) and checks that
// docs/approvals.md quotes every value, so the spec and the code cannot
// drift apart.
func TestApprovalVectors(t *testing.T) {
	in := vectorIntent()
	enc, err := in.Encode()
	require.NoError(t, err)
	approve, err := in.Digest(reserve.DecisionApprove)
	require.NoError(t, err)
	reject, err := in.Digest(reserve.DecisionReject)
	require.NoError(t, err)
	got := approvalVectors{
		Encoding: hex.EncodeToString(enc), ApproveDigest: hex.EncodeToString(approve[:]), RejectDigest: hex.EncodeToString(reject[:]),
		OfficerKeys: map[string]string{}, Signatures: map[string]string{},
	}
	var approvals []reserve.Approval
	for _, o := range []struct {
		name string
		seed byte
	}{{"alice (seed 01…01)", 1}, {"bob (seed 02…02)", 2}} {
		a, err := reserve.SignIntent(&in, reserve.DecisionApprove, vectorOfficer(o.seed))
		require.NoError(t, err)
		got.OfficerKeys[o.name] = hex.EncodeToString(a.OfficerKey[:])
		got.Signatures[o.name] = hex.EncodeToString(a.Signature[:])
		approvals = append(approvals, a)
	}
	p := &psbt.Packet{}
	require.NoError(t, SetApprovals(p, &in, approvals))
	for _, u := range p.Unknowns {
		got.Fields = append(got.Fields, vectorField{Key: hex.EncodeToString(u.Key), Value: hex.EncodeToString(u.Value)})
	}

	path := filepath.Join("testdata", "approval_vectors.json")
	data, err := json.MarshalIndent(got, "", "  ")
	require.NoError(t, err)
	data = append(data, '\n')
	if *update {
		require.NoError(t, os.WriteFile(path, data, 0o644))
	}
	stored, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(stored), string(data), "run go test -run TestApprovalVectors -update to rewrite %s", path)

	doc, err := os.ReadFile(filepath.Join("..", "docs", "approvals.md"))
	require.NoError(t, err)
	flat := string(bytes.Join(bytes.Fields(doc), nil)) // hex may wrap over lines
	quoted := []string{got.Encoding, got.ApproveDigest, got.RejectDigest}
	for _, m := range []map[string]string{got.OfficerKeys, got.Signatures} {
		for _, v := range m {
			quoted = append(quoted, v)
		}
	}
	for _, f := range got.Fields {
		quoted = append(quoted, f.Key, f.Value)
	}
	for _, v := range quoted {
		require.Contains(t, flat, v, "docs/approvals.md must quote the vector")
	}

	// Parsed back exactly: the intent, the approvals, the signatures.
	readIn, readApprovals, err := ReadApprovals(p)
	require.NoError(t, err)
	require.Equal(t, in, *readIn)
	require.ElementsMatch(t, approvals, readApprovals)
	for _, a := range readApprovals {
		require.NoError(t, reserve.VerifyApproval(readIn, reserve.DecisionApprove, a))
	}
}

// TestApprovalsTravelInThePSBT: the fields survive serialization, strict
// parsing, a signer's signing and the daemon's combine; setting them again
// replaces only Custos's fields.
func TestApprovalsTravelInThePSBT(t *testing.T) {
	w := MustPSBTWallet(t, "approvals", 2, 3)
	p := w.MustStandardSpend(t)
	foreign := &psbt.Unknown{Key: []byte{0xfc, 0x05, 's', 'p', 'a', 'r', 'o', 0x00}, Value: []byte{1}}
	p.Unknowns = append(p.Unknowns, foreign)
	in := vectorIntent()
	a1, err := reserve.SignIntent(&in, reserve.DecisionApprove, vectorOfficer(1))
	require.NoError(t, err)
	require.NoError(t, SetApprovals(p, &in, []reserve.Approval{a1}))

	parsed := MustParse(t, MustSerialize(t, p))
	signed := w.MustSigned(t, MustParse(t, MustSerialize(t, parsed)), 0)
	canonical := MustParse(t, MustSerialize(t, parsed))
	_, err = CombinePSBT(canonical, signed, w.d, 0)
	require.NoError(t, err)
	for _, q := range []*psbt.Packet{parsed, signed, canonical} {
		gotIn, gotA, err := ReadApprovals(q)
		require.NoError(t, err)
		require.Equal(t, in, *gotIn)
		require.Equal(t, []reserve.Approval{a1}, gotA)
	}

	a2, err := reserve.SignIntent(&in, reserve.DecisionApprove, vectorOfficer(2))
	require.NoError(t, err)
	require.NoError(t, SetApprovals(parsed, &in, []reserve.Approval{a2, a1}))
	_, gotA, err := ReadApprovals(MustParse(t, MustSerialize(t, parsed)))
	require.NoError(t, err)
	require.Len(t, gotA, 2)
	require.Contains(t, parsed.Unknowns, foreign, "other proprietary fields are kept")

	err = SetApprovals(parsed, &in, []reserve.Approval{a1, a1})
	RequireCode(t, err, reserve.CodeInvalid, "approvals", "two approvals by officer key")

	none, noneA, err := ReadApprovals(w.MustStandardSpend(t))
	require.NoError(t, err)
	require.Nil(t, none)
	require.Empty(t, noneA)
}

// TestReadApprovalsRefusals: one malformed Custos field per row.
func TestReadApprovalsRefusals(t *testing.T) {
	in := vectorIntent()
	enc, err := in.Encode()
	require.NoError(t, err)
	key := bytes.Repeat([]byte{7}, 32)
	intentField := &psbt.Unknown{Key: proprietaryKey(PropIntent, nil), Value: enc}
	for _, tt := range []struct {
		name   string
		fields []*psbt.Unknown
		msg    string
	}{
		{"intent twice", []*psbt.Unknown{intentField, intentField}, "appears twice"},
		{"approval without intent", []*psbt.Unknown{{Key: proprietaryKey(PropApproval, key), Value: make([]byte, 64)}}, "1 approvals and no intent"},
		{"short officer key", []*psbt.Unknown{intentField, {Key: proprietaryKey(PropApproval, key[:31]), Value: make([]byte, 64)}}, "31 bytes of officer key"},
		{"short signature", []*psbt.Unknown{intentField, {Key: proprietaryKey(PropApproval, key), Value: make([]byte, 63)}}, "63-byte signature"},
		{"intent with key data", []*psbt.Unknown{{Key: proprietaryKey(PropIntent, []byte{1}), Value: enc}}, "1 bytes of key data"},
		{"unknown subtype", []*psbt.Unknown{intentField, {Key: proprietaryKey(0x07, nil), Value: nil}}, "unknown subtype 0x07"},
		{"no subtype", []*psbt.Unknown{{Key: custosPrefix, Value: nil}}, "has no subtype"},
		{"truncated intent", []*psbt.Unknown{{Key: proprietaryKey(PropIntent, nil), Value: enc[:len(enc)-1]}}, "intent: intent: truncated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ReadApprovals(&psbt.Packet{Unknowns: tt.fields})
			RequireCode(t, err, reserve.CodeInvalid, "psbt.custos", tt.msg)
		})
	}
}

// TestCheckIntentOutputs: a transaction carries out the intent only if
// its payees are exactly the intent's and its fee is within the cap.
func TestCheckIntentOutputs(t *testing.T) {
	w := MustPSBTWallet(t, "intent outputs", 2, 3)
	a, err := Analyze(w.MustStandardSpend(t), w.d) // 1,200,000 to the payee, fee 10,000
	require.NoError(t, err)
	require.Len(t, a.Change, 1)
	base := vectorIntent()
	other := psbtPayee("someone else")
	for _, tt := range []struct {
		name  string
		edit  func(*reserve.Intent)
		field string
		msg   string
	}{
		{"exact", func(*reserve.Intent) {}, "", ""},
		{"fee exactly at the cap", func(in *reserve.Intent) { in.FeeCapSat = 10_000 }, "", ""},
		{"fee over the cap", func(in *reserve.Intent) { in.FeeCapSat = 9_999 }, "fee", "fee 0.00010000 BTC is over the approved cap of 0.00009999 BTC"},
		{"amount changed after approval", func(in *reserve.Intent) { in.Payees[0].AmountSat = 1_100_000 }, "output[0]", "pays 0.01200000 BTC to"},
		{"address changed after approval", func(in *reserve.Intent) { in.Payees[0].Script = other }, "output[0]", "which the approved intent does not"},
		{"an approved payee not paid", func(in *reserve.Intent) {
			in.Payees = append(in.Payees, reserve.IntentPayee{Script: other, AmountSat: 5})
		}, "outputs", "the approved payee 1 (0.00000005 BTC to script"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			in.Payees = append([]reserve.IntentPayee(nil), base.Payees...)
			tt.edit(&in)
			err := CheckIntentOutputs(a, &in)
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			RequireCode(t, err, reserve.CodeInvalid, tt.field, tt.msg)
		})
	}

	// An extra payee in the transaction: the change output re-labelled as
	// a payee stands for one.
	extra := a
	extra.Payees = append(append([]OutputInfo(nil), a.Payees...), a.Change[0])
	err = CheckIntentOutputs(extra, &base)
	RequireCode(t, err, reserve.CodeInvalid, "output[1]", "which the approved intent does not")

	// The same payee twice is two payees: each output matches one.
	twice := a
	twice.Payees = []OutputInfo{a.Payees[0], a.Payees[0]}
	in := base
	in.Payees = []reserve.IntentPayee{base.Payees[0], base.Payees[0]}
	require.NoError(t, CheckIntentOutputs(twice, &in))
	in.Payees = base.Payees
	err = CheckIntentOutputs(twice, &in)
	RequireCode(t, err, reserve.CodeInvalid, "output[0]", "which the approved intent does not")
}

// FuzzReadApprovals: Custos fields from outside are refused or read into
// an intent and approvals that SetApprovals writes back and ReadApprovals
// reads again unchanged.
func FuzzReadApprovals(f *testing.F) {
	in := vectorIntent()
	enc, err := in.Encode()
	require.NoError(f, err)
	a, err := reserve.SignIntent(&in, reserve.DecisionApprove, vectorOfficer(1))
	require.NoError(f, err)
	f.Add(proprietaryKey(PropIntent, nil), enc, proprietaryKey(PropApproval, a.OfficerKey[:]), a.Signature[:])
	f.Add(custosPrefix, []byte{}, proprietaryKey(7, nil), []byte{1})
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 []byte) {
		p := &psbt.Packet{Unknowns: []*psbt.Unknown{{Key: k1, Value: v1}, {Key: k2, Value: v2}}}
		gotIn, gotA, err := ReadApprovals(p)
		if err != nil {
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err), "%v", err)
			return
		}
		if gotIn == nil {
			require.Empty(t, gotA)
			return
		}
		q := &psbt.Packet{}
		require.NoError(t, SetApprovals(q, gotIn, gotA))
		againIn, againA, err := ReadApprovals(q)
		require.NoError(t, err)
		require.Equal(t, *gotIn, *againIn)
		require.ElementsMatch(t, gotA, againA)
	})
}
