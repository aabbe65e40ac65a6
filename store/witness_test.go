package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	custosaudit "github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

const witnessOrigin = custosaudit.OriginPrefix + "00112233445566778899aabbccddeeff"

// witnessRec is the record of cosigner fp under the witness key of seed
// byte keySeed, cosigning size with a root made from size.
func witnessRec(tb testing.TB, fp uint32, keySeed byte, size int64) custosaudit.WitnessRecord {
	tb.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = keySeed
	}
	_, vkey, err := custosaudit.NewWitnessKey(seed, fp)
	require.NoError(tb, err)
	cp := custosaudit.Checkpoint{Origin: witnessOrigin, Size: size, Root: [32]byte{byte(size), 0xee}}
	return custosaudit.WitnessRecord{Fingerprint: fp, Key: vkey, Checkpoint: cp, Cosigned: fmt.Appendf(nil, "cosigned note of size %d", size)}
}

// auditKinds are the kinds of the store's audit leaves from seq from on.
func auditKinds(tb testing.TB, db *store.DB, from int64) []string {
	tb.Helper()
	lines, err := db.AuditLeaves(context.Background(), from, 0, 1000)
	require.NoError(tb, err)
	kinds := []string{}
	for _, line := range lines {
		l, err := custosaudit.ParseLeaf(line)
		require.NoError(tb, err)
		kinds = append(kinds, l.Kind)
	}
	return kinds
}

// TestRecordWitnesses: a witness key is kept the first time (a
// witness.key leaf); each cosignature gets a witness.cosign leaf; the
// larger checkpoint is kept; a key other than the one kept is refused,
// CodeInvalid naming "cosignature", and nothing of the batch is written.
func TestRecordWitnesses(t *testing.T) {
	const fpA, fpB uint32 = 0x0a0a0a0a, 0x0b0b0b0b
	db := MustOpen(t)
	ctx := context.Background()

	tests := []struct {
		name string
		recs []custosaudit.WitnessRecord
		// refused: CodeInvalid naming the cosignature, nothing written.
		refused bool
		kinds   []string
		// want is the records afterwards, by fingerprint.
		want map[uint32]custosaudit.WitnessRecord
	}{
		{name: "first key of each witness is kept", recs: []custosaudit.WitnessRecord{witnessRec(t, fpA, 1, 5), witnessRec(t, fpB, 2, 7)},
			kinds: []string{store.AuditWitnessKey, store.AuditWitnessCosign, store.AuditWitnessKey, store.AuditWitnessCosign},
			want:  map[uint32]custosaudit.WitnessRecord{fpA: witnessRec(t, fpA, 1, 5), fpB: witnessRec(t, fpB, 2, 7)}},
		{name: "a larger checkpoint replaces the recorded one", recs: []custosaudit.WitnessRecord{witnessRec(t, fpA, 1, 9)},
			kinds: []string{store.AuditWitnessCosign},
			want:  map[uint32]custosaudit.WitnessRecord{fpA: witnessRec(t, fpA, 1, 9), fpB: witnessRec(t, fpB, 2, 7)}},
		{name: "a smaller checkpoint is logged, the larger kept", recs: []custosaudit.WitnessRecord{witnessRec(t, fpA, 1, 6)},
			kinds: []string{store.AuditWitnessCosign},
			want:  map[uint32]custosaudit.WitnessRecord{fpA: witnessRec(t, fpA, 1, 9), fpB: witnessRec(t, fpB, 2, 7)}},
		{name: "another witness key is refused", recs: []custosaudit.WitnessRecord{witnessRec(t, fpA, 3, 10)}, refused: true,
			want: map[uint32]custosaudit.WitnessRecord{fpA: witnessRec(t, fpA, 1, 9), fpB: witnessRec(t, fpB, 2, 7)}},
		{name: "a batch with one wrong key writes nothing", recs: []custosaudit.WitnessRecord{witnessRec(t, fpB, 2, 11), witnessRec(t, fpA, 3, 11)}, refused: true,
			want: map[uint32]custosaudit.WitnessRecord{fpA: witnessRec(t, fpA, 1, 9), fpB: witnessRec(t, fpB, 2, 7)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			size, _, err := db.AuditTree(ctx)
			require.NoError(t, err)
			err = db.RecordWitnesses(ctx, "P000001", tc.recs)
			if tc.refused {
				requireCode(t, err, reserve.CodeInvalid)
				var re *reserve.Error
				require.ErrorAs(t, err, &re)
				require.Equal(t, "cosignature", re.Field)
				require.ErrorContains(t, err, "0a0a0a0a")
				after, _, err := db.AuditTree(ctx)
				require.NoError(t, err)
				require.Equal(t, size, after, "no audit leaf")
			} else {
				require.NoError(t, err)
				require.Equal(t, tc.kinds, auditKinds(t, db, size+1))
			}
			got, err := db.Witnesses(ctx, witnessOrigin)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestRecordWitnessesSurvivesReopen: the records are read back from the
// file after a restart.
func TestRecordWitnessesSurvivesReopen(t *testing.T) {
	path := t.TempDir() + "/custos.db"
	db, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	rec := witnessRec(t, 0x01020304, 4, 3)
	require.NoError(t, db.RecordWitnesses(context.Background(), "P000002", []custosaudit.WitnessRecord{rec}))
	require.NoError(t, db.Close())
	db = MustOpenPath(t, path)
	got, err := db.Witnesses(context.Background(), witnessOrigin)
	require.NoError(t, err)
	require.Equal(t, map[uint32]custosaudit.WitnessRecord{rec.Fingerprint: rec}, got)
}

// TestUpdateProposalWitnessed: an import's signatures and its file's
// cosignatures are written together or not at all — a refused update
// records no cosignature, a refused cosignature writes no signature.
func TestUpdateProposalWitnessed(t *testing.T) {
	ctx := context.Background()
	const fp uint32 = 0x0c0c0c0c
	sign := func(p *reserve.Proposal) error {
		p.Signatures = append(p.Signatures, reserve.Signature{Cosigner: 1, At: fixedNow})
		return nil
	}
	setup := func(t *testing.T) *store.DB {
		db := MustFunded(t)
		MustCreate(t, db, testProposal(fundingUTXOs()[0]))
		MustMove(t, db, "P000001", reserve.StateApproved)
		MustMove(t, db, "P000001", reserve.StateSigning)
		return db
	}

	t.Run("both written", func(t *testing.T) {
		db := setup(t)
		p, err := db.UpdateProposalWitnessed(ctx, "P000001", sign, []custosaudit.WitnessRecord{witnessRec(t, fp, 1, 5)})
		require.NoError(t, err)
		require.Len(t, p.Signatures, 1)
		got, err := db.Witnesses(ctx, witnessOrigin)
		require.NoError(t, err)
		require.Contains(t, got, fp)
		// The same file imported again: nothing new, no second leaf.
		size, _, err := db.AuditTree(ctx)
		require.NoError(t, err)
		_, err = db.UpdateProposalWitnessed(ctx, "P000001", func(*reserve.Proposal) error { return nil }, []custosaudit.WitnessRecord{witnessRec(t, fp, 1, 5)})
		require.NoError(t, err)
		after, _, err := db.AuditTree(ctx)
		require.NoError(t, err)
		require.Equal(t, size, after)
	})
	t.Run("a refused update records no cosignature", func(t *testing.T) {
		db := setup(t)
		_, err := db.UpdateProposalWitnessed(ctx, "P000001", func(*reserve.Proposal) error {
			return reserve.Errorf(reserve.CodeDenied, "the signer identity may not add that")
		}, []custosaudit.WitnessRecord{witnessRec(t, fp, 1, 5)})
		requireCode(t, err, reserve.CodeDenied)
		got, err := db.Witnesses(ctx, witnessOrigin)
		require.NoError(t, err)
		require.NotContains(t, got, fp)
	})
	t.Run("a refused cosignature writes no signature", func(t *testing.T) {
		db := setup(t)
		require.NoError(t, db.RecordWitnesses(ctx, "P000001", []custosaudit.WitnessRecord{witnessRec(t, fp, 1, 5)}))
		_, err := db.UpdateProposalWitnessed(ctx, "P000001", sign, []custosaudit.WitnessRecord{witnessRec(t, fp, 2, 6)})
		requireCode(t, err, reserve.CodeInvalid)
		p, err := db.Proposal(ctx, "P000001")
		require.NoError(t, err)
		require.Empty(t, p.Signatures)
	})
}
