package multisig

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type bip380File struct {
	Vectors []struct {
		Name       string `json:"name"`
		Descriptor string `json:"descriptor"`
		Valid      bool   `json:"valid"`
	} `json:"vectors"`
	Checksums []struct {
		Name       string `json:"name"`
		Descriptor string `json:"descriptor"`
		Checksum   string `json:"checksum"`
	} `json:"checksums"`
}

// TestBIP380Checksums runs the BIP-380 checksum and character set vectors
// through the checksum check ParseDescriptor uses.
func TestBIP380Checksums(t *testing.T) {
	var file bip380File
	MustReadJSON(t, "bip380_checksums.json", &file)
	require.Len(t, file.Vectors, 8)
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			body, err := splitChecksum(v.Descriptor)
			if !v.Valid {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, strings.Split(v.Descriptor, "#")[0], body)
		})
	}
	for _, v := range file.Checksums {
		t.Run(v.Name, func(t *testing.T) {
			sum, err := DescriptorChecksum(v.Descriptor)
			require.NoError(t, err)
			require.Equal(t, v.Checksum, sum)
		})
	}
}

func TestDescriptorChecksumErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		msg  string
	}{
		{name: "non-ASCII", in: "raw(Ü)", msg: "outside the descriptor character set"},
		{name: "tab", in: "raw(\tdeadbeef)", msg: "character '\\t' at offset 4"},
		{name: "newline", in: "raw(deadbeef)\n", msg: "outside the descriptor character set"},
		{name: "already checksummed", in: "raw(deadbeef)#89f8spxm", msg: "already has a checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DescriptorChecksum(tt.in)
			require.ErrorContains(t, err, tt.msg)
		})
	}
	// A wrong checksum's error gives the right one.
	_, err := splitChecksum("raw(deedbeef)#89f8spxm")
	want, sumErr := DescriptorChecksum("raw(deedbeef)")
	require.NoError(t, sumErr)
	require.ErrorContains(t, err, "want "+want)
}
