package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	custosv1 "github.com/custos-reserve/custos/proto/custos/v1"
)

// psbtOfSize is size bytes that start like a binary PSBT: enough for
// the reader, which leaves checking the PSBT to the daemon.
func psbtOfSize(size int) []byte {
	b := make([]byte, size)
	copy(b, "psbt\xff")
	return b
}

// spend import reads a PSBT file binary or base64 of up to
// multisig.MaxPSBTFileBytes and hands the daemon the PSBT in binary, so a
// base64 PSBT within multisig.MaxPSBTBytes fits the request limit.
func TestReadPSBTFile(t *testing.T) {
	dir := t.TempDir()
	atLimit := psbtOfSize(multisig.MaxPSBTBytes)
	text := base64.StdEncoding.EncodeToString(atLimit)
	tests := []struct {
		name string
		data []byte
		want []byte   // nil: refused
		msg  []string // what the refusal says
	}{
		{name: "binary", data: psbtOfSize(100), want: psbtOfSize(100)},
		{name: "base64 of MaxPSBTBytes", data: []byte(text), want: atLimit},
		{name: "base64 with a line end", data: []byte(text + "\r\n"), want: atLimit},
		{name: "base64 of MaxPSBTBytes+1", data: []byte(base64.StdEncoding.EncodeToString(psbtOfSize(multisig.MaxPSBTBytes + 1))),
			msg: []string{"holds a PSBT of 33554433 bytes", "at most 33554432 bytes"}},
		{name: "file over the file limit", data: append([]byte(text), bytes.Repeat([]byte("\n"), multisig.MaxPSBTFileBytes-len(text)+1)...),
			msg: []string{fmt.Sprintf("is more than the %d bytes a PSBT file may have", multisig.MaxPSBTFileBytes)}},
		{name: "not base64", data: []byte("cHNidP8 not base64"), msg: []string{"neither a binary PSBT nor base64"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.psbt", i))
			require.NoError(t, os.WriteFile(path, tt.data, 0o600))
			got, err := readPSBTFile(path)
			if tt.want == nil {
				require.Error(t, err)
				for _, m := range tt.msg {
					require.ErrorContains(t, err, m)
				}
				return
			}
			require.NoError(t, err)
			require.True(t, bytes.Equal(tt.want, got), "got %d bytes, want %d", len(got), len(tt.want))
		})
	}

	t.Run("the daemon gets a base64 PSBT of MaxPSBTBytes", func(t *testing.T) {
		d := MustDaemon(t)
		path := filepath.Join(dir, "big.txt")
		require.NoError(t, os.WriteFile(path, []byte(text+"\n"), 0o600))
		r := ctl(t, "spend", "import", "P000001", path, "--datadir", d)
		require.Error(t, r.err)
		// The daemon's answer about the PSBT, not a size limit on the way.
		require.NotContains(t, r.stderr, "may have")
		require.NotContains(t, r.stderr, "ResourceExhausted")
		require.Contains(t, r.stderr, `NotFound: proposal "P000001" does not exist`)
	})
}

// A signer whose signatures are not in the final transaction came too
// late, or was one more than the finalizer needed: spend show says only
// that it is not in the transaction.
func TestSignerNotInTransaction(t *testing.T) {
	in, out := true, false
	var buf bytes.Buffer
	e := &env{common: &common{}, stdout: &buf}
	require.NoError(t, printProposal(e, &custosv1.Proposal{Id: "P000001", Signers: []*custosv1.ProposalSigner{
		{Cosigner: 0, Fingerprint: "aaaaaaaa", InTransaction: &in},
		{Cosigner: 2, Fingerprint: "cccccccc", InTransaction: &out},
	}}))
	line := ""
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(l, "signed by") {
			line = l
		}
	}
	require.Contains(t, line, "cosigner 1 (aaaaaaaa), cosigner 3 (cccccccc) (not in the final transaction)")
	require.NotContains(t, line, "after")
}
