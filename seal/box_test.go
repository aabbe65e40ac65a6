package seal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

var (
	boxKDF        = KDF{Time: 1, MemoryKiB: 64, Threads: 1}
	boxPassphrase = []byte("correct horse battery")
	boxHeader     = []byte("header of the file")
	boxSecret     = []byte("thirty-two bytes of secret seed!")
)

// mustBox seals boxSecret under boxPassphrase and boxHeader, with a salt
// of 0x01 bytes and a nonce of 0x02 bytes.
func mustBox(tb testing.TB) *Box {
	tb.Helper()
	rnd := bytes.NewReader(append(bytes.Repeat([]byte{1}, SaltLen), bytes.Repeat([]byte{2}, NonceLen)...))
	b, err := NewBox(boxKDF, rnd)
	require.NoError(tb, err)
	require.NoError(tb, b.Seal(boxPassphrase, boxSecret, boxHeader))
	return b
}

// TestBoxNew: a new box takes its salt, then its nonce, from rnd, and a
// source that runs dry is an error.
func TestBoxNew(t *testing.T) {
	b := mustBox(t)
	require.Equal(t, bytes.Repeat([]byte{1}, SaltLen), b.Salt)
	require.Equal(t, bytes.Repeat([]byte{2}, NonceLen), b.Nonce)
	require.Len(t, b.Ciphertext, len(boxSecret)+Overhead)
	require.NotContains(t, string(b.Ciphertext), string(boxSecret))

	for _, tt := range []struct {
		name string
		n    int
		want string
	}{
		{name: "no salt", n: SaltLen - 1, want: "unable to read a salt"},
		{name: "no nonce", n: SaltLen + NonceLen - 1, want: "unable to read a nonce"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBox(boxKDF, bytes.NewReader(make([]byte, tt.n)))
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestBoxSeal: a box is sealed once, under a passphrase that is not
// empty; a second seal would reuse the nonce.
func TestBoxSeal(t *testing.T) {
	tests := []struct {
		name       string
		sealed     bool
		passphrase []byte
		want       string
	}{
		{name: "fresh box", passphrase: boxPassphrase},
		{name: "sealed twice", sealed: true, passphrase: boxPassphrase, want: "already sealed"},
		{name: "empty passphrase", passphrase: nil, want: "empty passphrase"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewBox(boxKDF, bytes.NewReader(make([]byte, SaltLen+NonceLen)))
			require.NoError(t, err)
			if tt.sealed {
				require.NoError(t, b.Seal(boxPassphrase, []byte("first secret"), boxHeader))
			}
			before := bytes.Clone(b.Ciphertext)
			err = b.Seal(tt.passphrase, boxSecret, boxHeader)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, before, b.Ciphertext, "a refused seal changes nothing")
		})
	}
}

// TestBoxOpen: only the passphrase, header, salt, KDF, nonce and
// ciphertext the box was sealed with open it; otherwise Open fails with
// ErrOpen and never calls use.
func TestBoxOpen(t *testing.T) {
	flip := func(b []byte) { b[len(b)-1] ^= 1 }
	tests := []struct {
		name       string
		edit       func(b *Box)
		passphrase []byte
		header     []byte
		want       error
	}{
		{name: "as sealed", passphrase: boxPassphrase, header: boxHeader},
		{name: "wrong passphrase", passphrase: []byte("correct horse batterz"), header: boxHeader, want: ErrOpen},
		{name: "other header", passphrase: boxPassphrase, header: []byte("header of the filf"), want: ErrOpen},
		{name: "no header", passphrase: boxPassphrase, want: ErrOpen},
		{name: "salt changed", edit: func(b *Box) { flip(b.Salt) }, passphrase: boxPassphrase, header: boxHeader, want: ErrOpen},
		{name: "nonce changed", edit: func(b *Box) { flip(b.Nonce) }, passphrase: boxPassphrase, header: boxHeader, want: ErrOpen},
		{name: "ciphertext changed", edit: func(b *Box) { b.Ciphertext[0] ^= 1 }, passphrase: boxPassphrase, header: boxHeader, want: ErrOpen},
		{name: "tag changed", edit: func(b *Box) { flip(b.Ciphertext) }, passphrase: boxPassphrase, header: boxHeader, want: ErrOpen},
		{name: "kdf changed", edit: func(b *Box) { b.KDF.Time++ }, passphrase: boxPassphrase, header: boxHeader, want: ErrOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustBox(t)
			if tt.edit != nil {
				tt.edit(b)
			}
			called := false
			err := b.Open(tt.passphrase, tt.header, func(secret []byte) error {
				called = true
				require.Equal(t, boxSecret, secret)
				return nil
			})
			if tt.want == nil {
				require.NoError(t, err)
				require.True(t, called)
				return
			}
			require.ErrorIs(t, err, tt.want)
			require.False(t, called, "use must not see what did not open")
		})
	}

	_, err := AEAD(nil, nil, boxKDF)
	require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(err))
	err = mustBox(t).Open(nil, boxHeader, func([]byte) error { return nil })
	require.ErrorContains(t, err, "empty passphrase")
	require.NotErrorIs(t, err, ErrOpen, "an empty passphrase is refused, not tried")
}

// TestBoxOpenClears: the secret is cleared when use returns, whether use
// succeeds or fails, and use's error is Open's.
func TestBoxOpenClears(t *testing.T) {
	useErr := errors.New("the key does not match")
	for _, tt := range []struct {
		name string
		err  error
	}{
		{name: "use succeeds"},
		{name: "use fails", err: useErr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var seen []byte
			err := mustBox(t).Open(boxPassphrase, boxHeader, func(secret []byte) error {
				require.Equal(t, boxSecret, secret)
				seen = secret
				return tt.err
			})
			require.ErrorIs(t, err, tt.err)
			require.Equal(t, make([]byte, len(boxSecret)), seen, "the secret outlived use")
		})
	}
}

// TestBoxFields: Fields and Box are inverses, and Box refuses every
// field a key file may not hold.
func TestBoxFields(t *testing.T) {
	b := mustBox(t)
	f := b.Fields()
	require.Equal(t, KDFName, f.KDF)
	require.Equal(t, CipherName, f.Cipher)
	back, err := f.Box(len(boxSecret))
	require.NoError(t, err)
	require.Equal(t, b, back)
	require.NoError(t, back.Open(boxPassphrase, boxHeader, func([]byte) error { return nil }))

	tests := []struct {
		name string
		edit func(f *Fields)
		want string
	}{
		{name: "kdf", edit: func(f *Fields) { f.KDF = "scrypt" }, want: `unsupported kdf "scrypt" (want argon2id)`},
		{name: "cipher", edit: func(f *Fields) { f.Cipher = "aes256gcm" }, want: `unsupported cipher "aes256gcm" (want xchacha20poly1305)`},
		{name: "kdf params", edit: func(f *Fields) { f.KDFParams.MemoryKiB = 1 << 31 }, want: "kdf_params: argon2id memory"},
		{name: "short salt", edit: func(f *Fields) { f.Salt = f.Salt[2:] }, want: "salt is not 16 bytes of hex"},
		{name: "salt not hex", edit: func(f *Fields) { f.Salt = "zz" + f.Salt[2:] }, want: "salt is not 16 bytes of hex"},
		{name: "long nonce", edit: func(f *Fields) { f.Nonce += "00" }, want: "nonce is not 24 bytes of hex"},
		{name: "short ciphertext", edit: func(f *Fields) { f.Ciphertext = f.Ciphertext[2:] }, want: "ciphertext is not 48 bytes of hex"},
		{name: "odd ciphertext", edit: func(f *Fields) { f.Ciphertext += "0" }, want: "ciphertext is not 48 bytes of hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := b.Fields()
			tt.edit(&f)
			got, err := f.Box(len(boxSecret))
			require.Nil(t, got)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
