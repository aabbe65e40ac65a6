package seal

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

func TestKDFBounds(t *testing.T) {
	require.NoError(t, DefaultKDF().Validate())
	require.NoError(t, KDF{Time: 1, MemoryKiB: 8, Threads: 1}.Validate())
	require.NoError(t, KDF{Time: 64, MemoryKiB: 4 << 20, Threads: 255}.Validate())
	for _, tt := range []struct {
		k    KDF
		want string
	}{
		{KDF{Time: 0, MemoryKiB: 64, Threads: 1}, "argon2id time 0 is outside 1..64"},
		{KDF{Time: 65, MemoryKiB: 64, Threads: 1}, "argon2id time 65 is outside 1..64"},
		{KDF{Time: 1, MemoryKiB: 64, Threads: 0}, "threads must be at least 1"},
		{KDF{Time: 1, MemoryKiB: 15, Threads: 2}, "argon2id memory 15 KiB is outside 16..4194304 KiB"},
		{KDF{Time: 1, MemoryKiB: 4<<20 + 1, Threads: 1}, "argon2id memory 4194305 KiB"},
	} {
		require.ErrorContains(t, tt.k.Validate(), tt.want)
		_, err := AEAD([]byte("passphrase"), []byte("salt"), tt.k)
		require.ErrorContains(t, err, tt.want)
	}
}

// TestAEAD: the same passphrase and salt give the same key; another
// passphrase or salt cannot open what it sealed; an empty one is refused.
func TestAEAD(t *testing.T) {
	k := KDF{Time: 1, MemoryKiB: 64, Threads: 1}
	nonce := make([]byte, 24)
	a, err := AEAD([]byte("passphrase"), []byte("salt-salt-salt!!"), k)
	require.NoError(t, err)
	sealed := a.Seal(nil, nonce, []byte("secret"), []byte("header"))
	b, err := AEAD([]byte("passphrase"), []byte("salt-salt-salt!!"), k)
	require.NoError(t, err)
	got, err := b.Open(nil, nonce, sealed, []byte("header"))
	require.NoError(t, err)
	require.Equal(t, "secret", string(got))
	_, err = b.Open(nil, nonce, sealed, []byte("Header"))
	require.Error(t, err, "header is bound")
	for _, other := range [][2]string{{"passphrasf", "salt-salt-salt!!"}, {"passphrase", "salt-salt-salt!?"}} {
		c, err := AEAD([]byte(other[0]), []byte(other[1]), k)
		require.NoError(t, err)
		_, err = c.Open(nil, nonce, sealed, []byte("header"))
		require.Error(t, err)
	}
	_, err = AEAD(nil, []byte("salt"), k)
	require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
	require.ErrorContains(t, err, "empty passphrase")
}
