package proof

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWriteReport renders the report of a verified and of a failed proof.
// PROOF_REPORT_OUT=dir keeps them (docs/proof-report.png is a screenshot).
func TestWriteReport(t *testing.T) {
	fx, f, _ := validProof(t)
	f.Message = `Reserve audit 2025-06-30 <script>alert("x")</script> & challenge 7f3a`
	at := time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)
	r, err := Verify(context.Background(), mustReparse(t, f), fx.c, Options{Now: func() time.Time { return at }})
	require.NoError(t, err)
	var ok, bad bytes.Buffer
	require.NoError(t, WriteReport(&ok, ReportData{File: f, Result: r, At: r.At, Node: "127.0.0.1:18334"}))
	require.NoError(t, WriteReport(&bad, ReportData{File: f, Err: errors.New(`input[2]: coin <x> was spent at height 3, before the proof's height 4`), At: at}))

	for _, s := range []string{"VERIFIED", "6.00000000 BTC", "600000000 sat", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; challenge",
		f.BlockHash.String(), f.Signers[0].Fingerprint, "reveals every address", "re-derived from the descriptor at its listed derivation", "2025-06-30 12:00:00 UTC", "1 still unspent now, 2 spent after"} {
		require.Contains(t, ok.String(), s)
	}
	require.NotContains(t, ok.String(), "<script>")
	for _, s := range []string{"http://", "https://", "src=", "href=", "url("} {
		require.NotContains(t, ok.String(), s, "self-contained: no external resource")
	}
	require.Contains(t, bad.String(), "FAILED")
	require.Contains(t, bad.String(), "coin &lt;x&gt; was spent at height 3")
	require.NotContains(t, bad.String(), "spent after the proof")

	f.Descriptor, f.Derivations, r.Ownership = "", nil, Ownership{}
	var noDesc bytes.Buffer
	require.NoError(t, WriteReport(&noDesc, ReportData{File: f, Result: r, At: at}))
	require.Contains(t, noDesc.String(), "withheld")
	require.Contains(t, noDesc.String(), "the coins' ownership rests on the signatures alone")
	require.NotContains(t, noDesc.String(), "reveals every address")

	if dir := os.Getenv("PROOF_REPORT_OUT"); dir != "" {
		require.NoError(t, os.WriteFile(dir+"/verified.html", ok.Bytes(), 0o644))
		require.NoError(t, os.WriteFile(dir+"/failed.html", bad.Bytes(), 0o644))
	}
}

// mustReparse returns f as a file with its message changed, re-signed:
// here only the message field differs, so the signatures would not match;
// the report test verifies the original and shows the changed message.
func mustReparse(t *testing.T, f *File) *File {
	t.Helper()
	g := *f
	g.Message = "Reserve audit 2025-06-30: challenge 7f3a"
	return &g
}
