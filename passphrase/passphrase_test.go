package passphrase_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/passphrase"
)

// envSigner is the variable custos-signer reads.
const envSigner = "CUSTOS_SIGNER_PASSPHRASE"

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// prompts answers successive prompts from a list and records the labels.
type prompts struct {
	answers []string
	asked   []string
}

func (p *prompts) prompt(_ context.Context, label string) ([]byte, error) {
	p.asked = append(p.asked, label)
	if len(p.answers) == 0 {
		return nil, errors.New("no more answers")
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return []byte(a), nil
}

func noTerminal(context.Context, string) ([]byte, error) { return nil, passphrase.ErrNoTerminal }

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pass")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestPassphraseSources(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		src     func(t *testing.T, p *prompts) passphrase.Source
		answers []string
		newKey  bool
		want    string
		wantErr string
		asked   int
	}{
		{
			name: "env",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, LookupEnv: env(map[string]string{envSigner: "from the env"}), Prompt: p.prompt}
			},
			want: "from the env",
		},
		{
			name: "env set but empty",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, LookupEnv: env(map[string]string{envSigner: ""}), Prompt: p.prompt}
			},
			wantErr: "CUSTOS_SIGNER_PASSPHRASE is set but empty",
		},
		{
			name: "file, first line, newline trimmed",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, File: writeFile(t, "from a file\nsecond line\n"), Prompt: p.prompt}
			},
			want: "from a file",
		},
		{
			name: "file with CRLF and no env",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, LookupEnv: env(nil), File: writeFile(t, "crlf line  \r\n")}
			},
			want: "crlf line  ",
		},
		{
			name: "file without newline",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, File: writeFile(t, "no newline")}
			},
			want: "no newline",
		},
		{
			name: "file with empty first line",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, File: writeFile(t, "\nsecret on line two\n")}
			},
			wantErr: "first line",
		},
		{
			name: "missing file",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, File: filepath.Join(t.TempDir(), "nope")}
			},
			wantErr: "unable to read passphrase file",
		},
		{
			name: "env and file both set",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, LookupEnv: env(map[string]string{envSigner: "a"}), File: writeFile(t, "b\n")}
			},
			wantErr: "use one",
		},
		{
			name: "none available: no prompt",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, LookupEnv: env(nil)}
			},
			wantErr: "no passphrase available: no terminal to ask on; set CUSTOS_SIGNER_PASSPHRASE or pass --passphrase-file FILE",
		},
		{
			name: "none available: no terminal",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, LookupEnv: env(nil), Prompt: noTerminal}
			},
			wantErr: "set CUSTOS_SIGNER_PASSPHRASE or pass --passphrase-file",
		},
		{
			name: "no variable named: the environment is not read",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{LookupEnv: env(map[string]string{envSigner: "from the env"}), Prompt: noTerminal}
			},
			wantErr: "no passphrase available: no terminal to ask on; pass --passphrase-file FILE",
		},
		{
			name: "terminal prompt once to unlock",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, LookupEnv: env(nil), Prompt: p.prompt}
			},
			answers: []string{"typed in"},
			want:    "typed in",
			asked:   1,
		},
		{
			name: "terminal prompt twice for a new key",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, Prompt: p.prompt}
			},
			answers: []string{"typed twice", "typed twice"},
			newKey:  true,
			want:    "typed twice",
			asked:   2,
		},
		{
			name: "terminal prompts differ",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, Prompt: p.prompt}
			},
			answers: []string{"typed twice", "typed twise"},
			newKey:  true,
			wantErr: "do not match",
			asked:   2,
		},
		{
			name: "terminal empty",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, Prompt: p.prompt}
			},
			answers: []string{""},
			wantErr: "empty passphrase",
			asked:   1,
		},
		{
			name: "new key: short passphrase from the env",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, LookupEnv: env(map[string]string{envSigner: "1234567"})}
			},
			newKey:  true,
			wantErr: "needs at least 8",
		},
		{
			name: "new key: short passphrase typed",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, Prompt: p.prompt}
			},
			answers: []string{"short", "short"},
			newKey:  true,
			wantErr: "needs at least 8",
			asked:   2,
		},
		{
			name: "new key: eight characters, not bytes",
			src: func(t *testing.T, p *prompts) passphrase.Source {
				return passphrase.Source{EnvName: envSigner, LookupEnv: env(map[string]string{envSigner: "ñññññññ"})}
			},
			newKey:  true,
			wantErr: "has 7 characters",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &prompts{answers: tt.answers}
			src := tt.src(t, p)
			var got []byte
			var err error
			if tt.newKey {
				got, err = src.New(ctx)
			} else {
				got, err = src.Existing(ctx)
			}
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.want, string(got))
			}
			require.Len(t, p.asked, tt.asked)
		})
	}
}

func TestPassphraseNoSourceIsSentinel(t *testing.T) {
	_, err := passphrase.Source{EnvName: envSigner, Prompt: noTerminal}.Existing(context.Background())
	require.ErrorIs(t, err, passphrase.ErrNoPassphrase)
}
