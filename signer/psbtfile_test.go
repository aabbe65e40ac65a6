package signer_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/multisig"
	"github.com/custos-reserve/custos/signer"
)

// PaddedPSBT returns p serialized and grown to exactly size bytes with
// unknown global fields (kept by the parser), so a test can build a valid
// PSBT at the size limit.
func PaddedPSBT(tb testing.TB, p *psbt.Packet, size int) []byte {
	tb.Helper()
	c := MustClone(tb, p)
	base := len(MustSerialize(tb, c))
	const chunk = 3_000_000
	for i := 0; base+chunk < size; i++ {
		c.Unknowns = append(c.Unknowns, &psbt.Unknown{Key: []byte{0x40, byte(i)}, Value: make([]byte, chunk)})
		base = len(MustSerialize(tb, c))
	}
	last := c.Unknowns[len(c.Unknowns)-1]
	last.Value = make([]byte, len(last.Value)+size-base)
	b := MustSerialize(tb, c)
	require.Len(tb, b, size)
	return b
}

// A PSBT within multisig.MaxPSBTBytes written in base64 (sign --base64,
// spend export --base64) is 4/3 its size: ReadPSBT takes it; a larger
// file is refused naming the file limit, and a PSBT over MaxPSBTBytes in
// base64 is refused by the parser naming the PSBT limit.
func TestReadPSBTBase64Limit(t *testing.T) {
	f := newWalletFixture(t)
	p := newSpend(t, f.desc).create(t, normalFee)
	dir := t.TempDir()
	atLimit := PaddedPSBT(t, p, multisig.MaxPSBTBytes)
	text := base64.StdEncoding.EncodeToString(atLimit)
	over := base64.StdEncoding.EncodeToString(append(atLimit, 0))

	tests := []struct {
		name string
		data string
		msg  string // "" = accepted
	}{
		{name: "base64 of MaxPSBTBytes", data: text},
		{name: "base64 of MaxPSBTBytes with CRLF", data: "\r\n" + text + "\r\n"},
		{name: "base64 of MaxPSBTBytes+1", data: over, msg: fmt.Sprintf("%d bytes (in base64) is more than the %d allowed", multisig.MaxPSBTBytes+1, multisig.MaxPSBTBytes)},
		{name: "file over the file limit", data: text + string(make([]byte, multisig.MaxPSBTFileBytes-len(text)+1)),
			msg: fmt.Sprintf("a PSBT file may have at most %d bytes (a PSBT of %d bytes in base64)", multisig.MaxPSBTFileBytes, multisig.MaxPSBTBytes)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("%d.txt", i))
			require.NoError(t, os.WriteFile(path, []byte(tt.data), 0o600))
			got, err := signer.ReadPSBT(path)
			if tt.msg != "" {
				require.ErrorContains(t, err, tt.msg)
				return
			}
			require.NoError(t, err)
			require.Equal(t, atLimit, MustSerialize(t, got))
		})
	}
}
