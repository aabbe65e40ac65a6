package signer_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/signer"
	"github.com/custos-reserve/custos/signer/signertest"
)

// MustKey is a new signer key (cheap KDF) for tests that only need one.
func MustKey(tb testing.TB) *signer.Key {
	tb.Helper()
	dir := tb.TempDir()
	MustInit(tb, dir)
	return MustUnlock(tb, dir)
}

func TestLedgerAppendAndRead(t *testing.T) {
	key := MustKey(t)
	l := MustLedgerWith(t, nil)
	dir := filepath.Dir(l.Path())
	require.Equal(t, filepath.Join(dir, signer.LedgerFileName), l.Path())
	require.Empty(t, MustEntries(t, l))
	require.NoFileExists(t, l.Path(), "opening creates nothing")

	a := entryFor([32]byte{1}, 0x01, 70_000_000, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{9}, Index: 2})
	b := entryFor([32]byte{2}, 0x02, 1, signertest.Now().Add(time.Hour),
		wire.OutPoint{Hash: chainhash.Hash{8}}, wire.OutPoint{Hash: chainhash.Hash{7}, Index: 1})
	require.NoError(t, l.Append(key, a))
	require.NoError(t, l.Append(key, b))
	require.Equal(t, []signer.LedgerEntry{a, b}, MustEntries(t, l))

	data, err := os.ReadFile(l.Path())
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, lines, 2)
	// Each line names the SHA-256 of the line before it without its MAC
	// (zeros on the first): the lines form a chain, and each ends with
	// its MAC under the signer's key.
	body0 := `{"prev":"0000000000000000000000000000000000000000000000000000000000000000",` +
		`"intent_digest":"0100000000000000000000000000000000000000000000000000000000000000",` +
		`"proposal_id":"P000000","policy_hash":"aa00000000000000000000000000000000000000000000000000000000000000",` +
		`"txid":"` + chainhash.Hash{1}.String() + `","inputs":["` + chainhash.Hash{9}.String() + `:2"],` +
		`"amount_sat":70000000,"signed_at":"2026-12-01T12:00:00Z"`
	require.True(t, strings.HasPrefix(lines[0], body0+`,"mac":"`), lines[0])
	require.Len(t, lines[0], len(body0)+len(`,"mac":"`)+64+len(`"}`))
	prev := sha256.Sum256([]byte(body0 + "}"))
	require.True(t, strings.HasPrefix(lines[1], `{"prev":"`+hex.EncodeToString(prev[:])+`",`), lines[1])

	// A line another key wrote does not authenticate under this one.
	otherDir := t.TempDir()
	_, err = signer.Restore(otherDir, testConfig(), mnemonicLegal, testPassphrase)
	require.NoError(t, err)
	otherKey := MustUnlock(t, otherDir)
	other := MustLedgerWith(t, data)
	err = other.Append(otherKey, entryFor([32]byte{3}, 0x03, 1, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{6}}))
	require.ErrorIs(t, err, signer.ErrLedgerCorrupt)
	require.ErrorContains(t, err, "line 1: the line does not authenticate under this signer's key")
	require.Equal(t, data, MustRead(t, other.Path()), "nothing appended")
	st, err := os.Stat(l.Path())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

// TestLedgerCorrupt: a line that is not an entry stops everything, named
// by its number; it is never skipped.
func TestLedgerCorrupt(t *testing.T) {
	key := MustKey(t)
	good := entryFor([32]byte{1}, 0x01, 70_000_000, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{9}, Index: 2})
	l := MustLedgerWith(t, nil)
	require.NoError(t, l.Append(key, good))
	require.NoError(t, l.Append(key, good))
	data, err := os.ReadFile(l.Path())
	require.NoError(t, err)
	valid, second, _ := strings.Cut(strings.TrimSuffix(string(data), "\n"), "\n")

	tests := []struct {
		name string
		text string
		want string
	}{
		{name: "not JSON", text: valid + "\nhello\n", want: "line 2: not a ledger entry"},
		{name: "blank line", text: valid + "\n\n" + second + "\n", want: "line 2: not a ledger entry"},
		{name: "first line removed", text: second + "\n", want: "line 1: the line does not follow the line before it"},
		{name: "line repeated", text: valid + "\n" + valid + "\n", want: "line 2: the line does not follow the line before it"},
		{name: "lines swapped", text: second + "\n" + valid + "\n", want: "line 1: the line does not follow"},
		{name: "line edited", text: strings.Replace(valid, `70000000`, `7000000`, 1) + "\n" + second + "\n", want: "line 2: the line does not follow"},
		{name: "no prev", text: strings.Replace(valid, `"prev":"0000000000000000000000000000000000000000000000000000000000000000",`, ``, 1) + "\n", want: `line 1: prev "" is not 64 hex digits`},
		{name: "no MAC", text: strings.Replace(valid, valid[strings.Index(valid, `,"mac":"`):], `}`, 1) + "\n", want: `line 1: mac "" is not 64 hex digits`},
		{name: "MAC not last", text: macFirst(valid) + "\n", want: "line 1: the line is not in the form custos-signer writes"},
		{name: "unknown field", text: strings.Replace(valid, `"amount_sat"`, `"note":"x","amount_sat"`, 1) + "\n", want: `line 1: not a ledger entry: json: unknown field "note"`},
		{name: "two values", text: valid + valid + "\n", want: "line 1: data after the entry"},
		{name: "short digest", text: strings.Replace(valid, `"intent_digest":"01`, `"intent_digest":"`, 1) + "\n", want: "line 1: intent_digest"},
		{name: "bad txid", text: strings.Replace(valid, `"txid":"`, `"txid":"zz`, 1) + "\n", want: "line 1: txid"},
		{name: "bad input", text: strings.Replace(valid, `:2"]`, `"]`, 1) + "\n", want: "line 1: inputs[0]"},
		{name: "no inputs", text: strings.Replace(valid, `["`+chainhash.Hash{9}.String()+`:2"]`, `[]`, 1) + "\n", want: "line 1: inputs is empty"},
		{name: "negative amount", text: strings.Replace(valid, `70000000`, `-5`, 1) + "\n", want: "line 1: amount_sat -5 is outside"},
		{name: "bad time", text: strings.Replace(valid, `2026-12-01T12:00:00Z`, `yesterday`, 1) + "\n", want: `line 1: signed_at "yesterday"`},
		{name: "stray bracket after the entry", text: valid + "}\n", want: "line 1: data after the entry"},
		{name: "no proposal", text: strings.Replace(valid, `"P000000"`, `""`, 1) + "\n", want: "line 1: proposal_id is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := MustLedgerWith(t, []byte(tt.text))
			path := l.Path()
			_, err = l.Entries()
			require.ErrorIs(t, err, signer.ErrLedgerCorrupt)
			require.ErrorContains(t, err, path+" "+tt.want)
			require.ErrorContains(t, err, "nothing was signed")
			require.Equal(t, reserve.CodeFailedPrecondition, reserve.CodeOf(err))
		})
	}
}

// TestLedgerTornTail: a last line without its line end past the entries
// the state record binds is what a crash during an append leaves; it is
// not an entry, and the next append writes over it. Among the recorded
// entries it is damage.
func TestLedgerTornTail(t *testing.T) {
	key := MustKey(t)
	first := entryFor([32]byte{1}, 0x01, 70_000_000, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{9}, Index: 2})
	second := entryFor([32]byte{2}, 0x02, 1, signertest.Now(), wire.OutPoint{Hash: chainhash.Hash{8}})
	l := MustLedgerWith(t, nil)
	require.NoError(t, l.Append(key, first))
	data, err := os.ReadFile(l.Path())
	require.NoError(t, err)
	torn := append(slices.Clone(data), data[:40]...)

	l = MustLedgerWith(t, torn)
	require.Equal(t, []signer.LedgerEntry{first}, MustEntries(t, l))
	require.NoError(t, l.Append(key, second))
	require.Equal(t, []signer.LedgerEntry{first, second}, MustEntries(t, MustLedgerWith(t, MustRead(t, l.Path()))))

	// Signed and recorded, then its line end lost: damage.
	f := newWalletFixture(t)
	us := f.us()
	_, _, err = signer.Sign(f.approved(t, newSpend(t, f.desc), normalFee), us.pinned, us.key, us.rules)
	require.NoError(t, err)
	data = MustRead(t, us.rules.Ledger.Path())
	require.NoError(t, os.WriteFile(us.rules.Ledger.Path(), data[:len(data)-1], 0o600))
	reopened, err := signer.OpenLedger(us.dir)
	require.NoError(t, err)
	_, err = reopened.Entries()
	require.ErrorIs(t, err, signer.ErrLedgerCorrupt)
	require.ErrorContains(t, err, "line 1: the line is incomplete (no line end)")
}

// macFirst moves a ledger line's MAC from its last field to its first.
func macFirst(line string) string {
	i := strings.Index(line, `,"mac":"`)
	mac := line[i+1 : len(line)-1]
	return `{` + mac + `,` + line[1:i] + `}`
}

// MustRead reads a file.
func MustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	return data
}

// TestSignRefusesACorruptLedger: a ledger damaged after it was opened
// stops signing too, with nothing signed or written.
func TestSignRefusesACorruptLedger(t *testing.T) {
	f := newWalletFixture(t)
	p := f.approved(t, newSpend(t, f.desc), normalFee)
	before := MustSerialize(t, p)
	rules := freshRules(t, f)
	require.NoError(t, os.WriteFile(rules.Ledger.Path(), []byte("{}\n"), 0o600))

	_, n, err := signer.Sign(p, f.us().pinned, f.us().key, rules)
	require.ErrorIs(t, err, signer.ErrLedgerCorrupt)
	require.ErrorContains(t, err, rules.Ledger.Path()+" line 1: ")
	require.Zero(t, n)
	require.Equal(t, before, MustSerialize(t, p))
	require.Equal(t, "{}\n", string(ledgerBytes(t, rules.Ledger)))
}
