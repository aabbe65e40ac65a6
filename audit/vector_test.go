package audit_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/audit"
)

var update = flag.Bool("update", false, "rewrite the vector in docs/audit.md")

// vectorText is the test vector of docs/audit.md: a 3-leaf log signed by
// the log key of seed byte 1.
func vectorText(t *testing.T) string {
	t.Helper()
	s, v, vkey := MustLogKey(t, testOrigin, 1)
	m := MustLog(t, 3)
	var b strings.Builder
	b.WriteString("log key (verifier): " + vkey + "\n\nleaves (leaf hash, then the line):\n")
	for seq := int64(1); seq <= 3; seq++ {
		h := audit.LeafHash(m.Leaf(seq))
		b.WriteString(h.String() + "\n" + string(m.Leaf(seq)) + "\n")
	}
	cp, err := m.Checkpoint(3)
	require.NoError(t, err)
	signed, err := audit.SignCheckpoint(cp, s)
	require.NoError(t, err)
	_, err = audit.OpenCheckpoint(signed, v)
	require.NoError(t, err)
	b.WriteString("\nsigned checkpoint:\n" + string(signed))
	ip, err := audit.ProveInclusion(m, 2, 3)
	require.NoError(t, err)
	text, _ := ip.MarshalText()
	b.WriteString("\ninclusion proof of leaf 2 in tree 3:\n" + string(text))
	cpf, err := audit.ProveConsistency(m, 1, 3, 3)
	require.NoError(t, err)
	text, _ = cpf.MarshalText()
	b.WriteString("\nconsistency proof of tree 1 in tree 3:\n" + string(text))
	var export bytes.Buffer
	require.NoError(t, m.WriteExport(&export, s))
	_, err = audit.VerifyExport(bytes.NewReader(export.Bytes()), v)
	require.NoError(t, err)
	return b.String()
}

// TestDocsVector holds docs/audit.md's vector to what the code produces:
// the block between the vector markers must be vectorText.
func TestDocsVector(t *testing.T) {
	doc, err := os.ReadFile("../docs/audit.md")
	require.NoError(t, err)
	const begin, end = "<!-- vector begin -->\n```\n", "```\n<!-- vector end -->"
	_, rest, ok := strings.Cut(string(doc), begin)
	require.True(t, ok, "docs/audit.md has no vector block")
	block, _, ok := strings.Cut(rest, end)
	require.True(t, ok)
	want := vectorText(t)
	if *update {
		doc = []byte(strings.Replace(string(doc), begin+block+end, begin+want+end, 1))
		require.NoError(t, os.WriteFile("../docs/audit.md", doc, 0o644))
		return
	}
	require.Equal(t, want, block, "run go test ./audit -run TestDocsVector -update after a deliberate format change")
}
