package console

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// MaxAssetsGzip is the budget of the console's script and style together,
// compressed (issue 13: under 300 KB).
const MaxAssetsGzip = 300 << 10

// TestAssetsBudget: the embedded script and style stay under the budget,
// gzip-compressed as a browser would fetch them.
func TestAssetsBudget(t *testing.T) {
	static, err := fs.Sub(assets, "assets")
	require.NoError(t, err)
	var total int
	for _, name := range []string{"app.js", "app.css"} {
		b, err := fs.ReadFile(static, name)
		require.NoError(t, err, "the console's %s is embedded (scripts/console-build.sh)", name)
		require.NotEmpty(t, b, name)
		var buf bytes.Buffer
		w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		require.NoError(t, err)
		_, err = w.Write(b)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		t.Logf("%s: %d bytes, %d gzipped", name, len(b), buf.Len())
		total += buf.Len()
	}
	require.Less(t, total, MaxAssetsGzip, "app.js and app.css together, gzipped")
}

// TestIndexHasNoInlineCode: the page loads its script and style from the
// console's own origin and carries no inline script, handler or style,
// which the Content-Security-Policy would refuse anyway: a page that
// needed them would be broken, not unsafe.
func TestIndexHasNoInlineCode(t *testing.T) {
	b, err := fs.ReadFile(assets, "assets/index.html")
	require.NoError(t, err)
	page := string(b)
	require.Regexp(t, `<script[^>]*\ssrc="/assets/app\.js"`, page)
	require.Regexp(t, `<link[^>]*\shref="/assets/app\.css"`, page)
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script(\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),              // an event handler attribute
		regexp.MustCompile(`(?i)\sstyle\s*=`),                 // an inline style attribute
		regexp.MustCompile(`(?i)<style`),                      // a style element
		regexp.MustCompile(`(?i)(src|href)="(https?:)?//`),    // anything from elsewhere
		regexp.MustCompile(`(?i)javascript:`),
	} {
		require.NotRegexp(t, bad, page)
	}
}

// nobody is an Authenticator that knows no key.
type nobody struct{}

func (nobody) Login(context.Context, [32]byte) (Identity, error) {
	return Identity{}, errors.New("no one")
}
func (nobody) Check(context.Context, Identity) error       { return nil }
func (nobody) LoggedIn(context.Context, Identity, string)  {}
func (nobody) LoggedOut(context.Context, Identity, string) {}
func (nobody) LoginRefused(context.Context, string, error) {}

// TestChallengesBounded: unauthenticated callers can make the console hold
// at most maxChallenges challenges; past that they are told to wait, and
// expired ones make room again.
func TestChallengesBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h, err := New(Config{
		Origin: "https://127.0.0.1:8443", API: http.NotFoundHandler(), Auth: nobody{},
		Now: func() time.Time { return now },
	})
	require.NoError(t, err)
	get := func() int {
		r := httptest.NewRequest(http.MethodGet, "https://127.0.0.1:8443/session/challenge", nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for range maxChallenges {
		require.Equal(t, http.StatusOK, get())
	}
	require.Equal(t, http.StatusTooManyRequests, get())
	now = now.Add(ChallengeTTL + time.Second)
	require.Equal(t, http.StatusOK, get())
}

// TestNewRefusesBadConfig: an origin that is not https://host:port and a
// session TTL out of bounds are refused, naming the option.
func TestNewRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"http origin", Config{Origin: "http://127.0.0.1:8443"}, "console.origin"},
		{"origin with a path", Config{Origin: "https://127.0.0.1:8443/x"}, "console.origin"},
		{"ttl too short", Config{Origin: "https://127.0.0.1:8443", SessionTTL: time.Second}, "console.session-ttl"},
		{"ttl too long", Config{Origin: "https://127.0.0.1:8443", SessionTTL: 48 * time.Hour}, "console.session-ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.API, tc.cfg.Auth = http.NotFoundHandler(), nobody{}
			_, err := New(tc.cfg)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
