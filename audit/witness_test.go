package audit_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

const testFP = 0x73c5da0a

// MustWitnessKey is cosigner fp's witness key from a fixed seed byte.
func MustWitnessKey(tb testing.TB, fp uint32, seed byte) (note.Signer, string) {
	tb.Helper()
	skey, vkey, err := audit.NewWitnessKey(bytes.Repeat([]byte{seed}, 32), fp)
	require.NoError(tb, err)
	s, err := note.NewSigner(skey)
	require.NoError(tb, err)
	return s, vkey
}

func mustSigned(tb testing.TB, m *audit.Memory, s note.Signer, size int64) (audit.Checkpoint, []byte) {
	tb.Helper()
	cp, err := m.Checkpoint(size)
	require.NoError(tb, err)
	msg, err := audit.SignCheckpoint(cp, s)
	require.NoError(tb, err)
	return cp, msg
}

func TestCheckExtends(t *testing.T) {
	m := MustLog(t, 6)
	fork := &audit.Memory{Origin: testOrigin}
	for i := range 6 {
		_, err := fork.Append(audit.Leaf{Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Actor: reserve.Actor{Name: "x", Role: "y"}, Kind: "fork", Detail: fmt.Sprint(i)})
		require.NoError(t, err)
	}
	cp := func(mm *audit.Memory, n int64) audit.Checkpoint {
		c, err := mm.Checkpoint(n)
		require.NoError(t, err)
		return c
	}
	proof := func(mm *audit.Memory, old, new int64) *audit.ConsistencyProof {
		p, err := audit.ProveConsistency(mm, old, new, mm.Size())
		require.NoError(t, err)
		return &p
	}
	other := cp(m, 5)
	other.Origin = audit.OriginPrefix + "ff"
	tests := []struct {
		name   string
		prev   audit.Checkpoint
		next   audit.Checkpoint
		proof  *audit.ConsistencyProof
		field  string
		forked bool
	}{
		{name: "nothing witnessed", next: cp(m, 3)},
		{name: "extends", prev: cp(m, 2), next: cp(m, 5), proof: proof(m, 2, 5)},
		{name: "same checkpoint", prev: cp(m, 4), next: cp(m, 4)},
		{name: "smaller", prev: cp(m, 4), next: cp(m, 3), proof: proof(m, 3, 3), field: "checkpoint", forked: true},
		{name: "same size other root", prev: cp(m, 4), next: cp(fork, 4), field: "checkpoint", forked: true},
		{name: "forked later", prev: cp(m, 2), next: cp(fork, 5), proof: proof(fork, 2, 5), field: "checkpoint", forked: true},
		{name: "other log", prev: cp(m, 2), next: other, proof: proof(m, 2, 5), field: "checkpoint", forked: true},
		{name: "no proof", prev: cp(m, 2), next: cp(m, 5), field: "consistency proof"},
		{name: "proof of other sizes", prev: cp(m, 2), next: cp(m, 5), proof: proof(m, 3, 5), field: "consistency proof"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := audit.CheckExtends(tc.prev, tc.next, tc.proof)
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			requireInvalid(t, err, tc.field)
			require.Equal(t, tc.forked, errors.Is(err, audit.ErrForked), "%v", err)
			if tc.forked && tc.next.Origin == tc.prev.Origin {
				require.Contains(t, err.Error(), fmt.Sprint(tc.next.Size))
				require.Contains(t, err.Error(), tc.prev.Root.String())
			}
		})
	}
}

func TestCosignature(t *testing.T) {
	m := MustLog(t, 3)
	s, v, _ := MustLogKey(t, testOrigin, 1)
	ws, wkey := MustWitnessKey(t, testFP, 2)
	_, wrongKey := MustWitnessKey(t, testFP, 3)
	_, otherFPKey := MustWitnessKey(t, testFP+1, 2)
	_, signed := mustSigned(t, m, s, 3)
	cosigned, err := audit.Cosign(signed, v, ws)
	require.NoError(t, err)
	_, otherV, _ := MustLogKey(t, audit.OriginPrefix+"ff", 4)

	tests := []struct {
		name  string
		c     audit.Cosignature
		log   note.Verifier
		field string
	}{
		{name: "good", c: audit.Cosignature{Fingerprint: testFP, Key: wkey, Note: cosigned}, log: v},
		{name: "wrong witness key", c: audit.Cosignature{Fingerprint: testFP, Key: wrongKey, Note: cosigned}, log: v, field: "cosignature"},
		{name: "key of another cosigner", c: audit.Cosignature{Fingerprint: testFP, Key: otherFPKey, Note: cosigned}, log: v, field: "witness key"},
		{name: "not cosigned", c: audit.Cosignature{Fingerprint: testFP, Key: wkey, Note: signed}, log: v, field: "cosignature"},
		{name: "checkpoint of another log", c: audit.Cosignature{Fingerprint: testFP, Key: wkey, Note: cosigned}, log: otherV, field: "checkpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Through the field encoding, as a PSBT carries it.
			c, err := audit.ParseCosignature(tc.c.Fingerprint, tc.c.Marshal())
			if err == nil {
				_, err = audit.OpenCosignature(c, tc.log)
			}
			if tc.field == "" {
				require.NoError(t, err)
				return
			}
			requireInvalid(t, err, tc.field)
		})
	}
	for _, bad := range []string{"", "no newline", wkey + "\n"} {
		_, err := audit.ParseCosignature(testFP, []byte(bad))
		requireInvalid(t, err, "cosignature")
	}
}

func TestCheckWitnesses(t *testing.T) {
	m := MustLog(t, 5)
	s, v, _ := MustLogKey(t, testOrigin, 1)
	ws, wkey := MustWitnessKey(t, testFP, 2)
	_, wrongKey := MustWitnessKey(t, testFP, 3)
	_, absentKey := MustWitnessKey(t, testFP+1, 2)
	_, signed := mustSigned(t, m, s, 3)
	cosigned, err := audit.Cosign(signed, v, ws)
	require.NoError(t, err)
	cp, exported := mustSigned(t, m, s, 5)
	p, err := audit.ProveConsistency(m, 3, 5, 5)
	require.NoError(t, err)
	proof, _ := p.MarshalText()
	ew := audit.ExportWitness{Cosignature: audit.Cosignature{Fingerprint: testFP, Key: wkey, Note: cosigned}, Proof: proof}

	// Through the export header, as custosctl audit verify reads it.
	var buf bytes.Buffer
	require.NoError(t, audit.WriteExportHeader(&buf, exported, ew))
	gotCP, got, err := audit.ReadExportWitnesses(&buf, v)
	require.NoError(t, err)
	require.Equal(t, cp, gotCP)

	badProof := ew
	badProof.Proof = []byte("custos-audit-consistency/v1\nold 2\nnew 5\n")
	tests := []struct {
		name string
		ws   []audit.ExportWitness
		key  string
		ok   bool
	}{
		{name: "vouches", ws: got, key: wkey, ok: true},
		{name: "missing", ws: got, key: absentKey},
		{name: "wrong witness key", ws: got, key: wrongKey},
		{name: "bad proof", ws: []audit.ExportWitness{badProof}, key: wkey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := audit.CheckWitnesses(cp, tc.ws, v, []string{tc.key})
			require.NoError(t, err)
			require.Len(t, vs, 1)
			if tc.ok {
				require.NoError(t, vs[0].Err)
				require.EqualValues(t, 3, vs[0].Checkpoint.Size)
				return
			}
			requireInvalid(t, vs[0].Err, "")
			require.Contains(t, vs[0].Err.Error(), audit.WitnessName(vs[0].Fingerprint))
		})
	}
	_, err = audit.CheckWitnesses(cp, got, v, []string{"not a key"})
	requireInvalid(t, err, "witness")
	_, err = audit.CheckWitnesses(cp, got, v, []string{wkey, wkey})
	requireInvalid(t, err, "witness")
}

// witnessVectorText is docs/audit.md's witness vector: the log of the
// first vector, cosigner 73c5da0a's witness key from seed 0x02 × 32, its
// cosignature of the checkpoint of size 1 and the PSBT fields of an
// export at size 3 (keys, then values, in hex).
func witnessVectorText(t *testing.T) string {
	t.Helper()
	s, v, _ := MustLogKey(t, testOrigin, 1)
	ws, wkey := MustWitnessKey(t, testFP, 2)
	m := MustLog(t, 3)
	_, signed1 := mustSigned(t, m, s, 1)
	cosigned, err := audit.Cosign(signed1, v, ws)
	require.NoError(t, err)
	c := audit.Cosignature{Fingerprint: testFP, Key: wkey, Note: cosigned}
	_, err = audit.OpenCosignature(c, v)
	require.NoError(t, err)
	_, signed3 := mustSigned(t, m, s, 3)
	p, err := audit.ProveConsistency(m, 1, 3, 3)
	require.NoError(t, err)
	proof, _ := p.MarshalText()
	key := func(subtype byte, keyData string) string {
		return "fc06" + hex.EncodeToString([]byte("custos")) + fmt.Sprintf("%02x", subtype) + keyData
	}
	var b strings.Builder
	b.WriteString("witness key (verifier) of cosigner 73c5da0a: " + wkey + "\n\n")
	b.WriteString("cosigned checkpoint of size 1 (the value's note):\n" + string(cosigned) + "\n")
	b.WriteString("PSBT fields of the export at size 3 (key, then value):\n")
	fmt.Fprintf(&b, "%s\n  %x\n", key(0x02, ""), signed3)
	fmt.Fprintf(&b, "%s\n  %x\n", key(0x03, "73c5da0a"), proof)
	fmt.Fprintf(&b, "%s\n  %x\n", key(0x04, "73c5da0a"), c.Marshal())
	return b.String()
}

// TestDocsWitnessVector holds docs/audit.md's witness vector to the code.
func TestDocsWitnessVector(t *testing.T) {
	doc, err := os.ReadFile("../docs/audit.md")
	require.NoError(t, err)
	const begin, end = "<!-- witness vector begin -->\n```\n", "```\n<!-- witness vector end -->"
	_, rest, ok := strings.Cut(string(doc), begin)
	require.True(t, ok, "docs/audit.md has no witness vector block")
	block, _, ok := strings.Cut(rest, end)
	require.True(t, ok)
	want := witnessVectorText(t)
	if *update {
		doc = []byte(strings.Replace(string(doc), begin+block+end, begin+want+end, 1))
		require.NoError(t, os.WriteFile("../docs/audit.md", doc, 0o644))
		return
	}
	require.Equal(t, want, block, "run go test ./audit -run TestDocsWitnessVector -update after a deliberate format change")
}
