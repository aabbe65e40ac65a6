package daemon

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenCAKeyTrailingData: the sealed CA key file is one JSON value;
// white space may follow it, anything else is refused (json.Decoder alone
// reads the first value and ignores the rest).
func TestOpenCAKeyTrailingData(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), bytes.NewReader(bytes.Repeat([]byte{9}, 256)))
	require.NoError(t, err)
	pass := []byte("correct horse battery staple")
	path := filepath.Join(dir, "ca.sealed")
	require.NoError(t, sealCAKey(path, key, pass, bytes.NewReader(bytes.Repeat([]byte{7}, 256))))
	orig, err := os.ReadFile(path)
	require.NoError(t, err)
	tests := []struct {
		name  string
		after string
		ok    bool
	}{
		{name: "white space", after: " \n\t\r\n", ok: true},
		{name: "a second value", after: `{"version":1}`},
		{name: "a stray bracket", after: "]"},
		{name: "text", after: "hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "ca.sealed")
			require.NoError(t, os.WriteFile(p, append(bytes.Clone(orig), tt.after...), 0o600))
			got, err := openCAKey(p, pass)
			if tt.ok {
				require.NoError(t, err)
				require.True(t, got.Equal(key))
				return
			}
			require.ErrorContains(t, err, "data after the JSON value")
			require.Nil(t, got)
		})
	}
}
