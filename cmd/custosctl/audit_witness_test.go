package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

// witnessedExport is an export file of a 5-entry log whose header
// carries the cosignatures of two witnesses: fp1 cosigned size 3, fp2
// size 5.
type witnessedExport struct {
	path, logKey string
	// keys are the witnesses' verifier keys by fingerprint.
	keys map[uint32]string
}

const (
	witnessFP1 uint32 = 0x11111111
	witnessFP2 uint32 = 0x22222222
)

// MustWitnessKey is the witness key of cosigner fp from a fixed seed byte.
func MustWitnessKey(tb testing.TB, fp uint32, seed byte) (note.Signer, string) {
	tb.Helper()
	skey, vkey, err := audit.NewWitnessKey(bytes.Repeat([]byte{seed}, 32), fp)
	require.NoError(tb, err)
	s, err := note.NewSigner(skey)
	require.NoError(tb, err)
	return s, vkey
}

func MustWitnessedExport(tb testing.TB, dir string) witnessedExport {
	tb.Helper()
	origin := audit.OriginPrefix + "c0ffee"
	skey, vkey, err := audit.NewLogKey(bytes.NewReader(bytes.Repeat([]byte{1}, 32)), origin)
	require.NoError(tb, err)
	logS, err := note.NewSigner(skey)
	require.NoError(tb, err)
	logV, err := note.NewVerifier(vkey)
	require.NoError(tb, err)
	m := &audit.Memory{Origin: origin}
	for i := range 5 {
		_, err := m.Append(audit.Leaf{Time: time.Date(2025, 1, 1, 0, i, 0, 0, time.UTC), Actor: reserve.Actor{Name: "a", Role: "admin"}, Kind: "test.event", Detail: strings.Repeat("x", i)})
		require.NoError(tb, err)
	}
	signedAt := func(size int64) []byte {
		cp, err := m.Checkpoint(size)
		require.NoError(tb, err)
		msg, err := audit.SignCheckpoint(cp, logS)
		require.NoError(tb, err)
		return msg
	}
	out := witnessedExport{logKey: vkey, keys: map[uint32]string{}}
	var ws []audit.ExportWitness
	for fp, size := range map[uint32]int64{witnessFP1: 3, witnessFP2: 5} {
		s, wkey := MustWitnessKey(tb, fp, byte(fp))
		out.keys[fp] = wkey
		cosigned, err := audit.Cosign(signedAt(size), logV, s)
		require.NoError(tb, err)
		p, err := audit.ProveConsistency(m, size, 5, 5)
		require.NoError(tb, err)
		proof, err := p.MarshalText()
		require.NoError(tb, err)
		ws = append(ws, audit.ExportWitness{Cosignature: audit.Cosignature{Fingerprint: fp, Key: wkey, Note: cosigned}, Proof: proof})
	}
	var buf bytes.Buffer
	require.NoError(tb, audit.WriteExportHeader(&buf, signedAt(5), ws...))
	for seq := int64(1); seq <= 5; seq++ {
		require.NoError(tb, audit.WriteExportLeaf(&buf, m.Leaf(seq)))
	}
	out.path = filepath.Join(dir, "witnessed.jsonl")
	require.NoError(tb, os.WriteFile(out.path, buf.Bytes(), 0o600))
	return out
}

// TestAuditVerifyWitness: audit verify --witness checks, offline, that
// each witness key given cosigned a checkpoint the exported one extends;
// a wrong witness key is named, and fewer vouching than --witnesses N
// fails the file.
func TestAuditVerifyWitness(t *testing.T) {
	dir := t.TempDir()
	e := MustWitnessedExport(t, dir)
	k1, k2 := e.keys[witnessFP1], e.keys[witnessFP2]
	_, wrong2 := MustWitnessKey(t, witnessFP2, 0x99) // fp2's name, another key
	_, absent := MustWitnessKey(t, 0x33333333, 0x33)
	keyFile := filepath.Join(dir, "w1.key")
	require.NoError(t, os.WriteFile(keyFile, []byte(k1+"\n"), 0o600))

	tests := []struct {
		name string
		args []string
		err  string // "" = accepted
		out  []string
	}{
		{name: "both witnesses vouch", args: []string{"--witness", k1, "--witness", k2},
			out: []string{"witness 11111111: vouches for size 3", "witness 22222222: vouches for size 5"}},
		{name: "a witness key from a file, json", args: []string{"--witness", keyFile, "--json"},
			out: []string{`"fingerprint": "11111111"`, `"ok": true`, `"size": 3`}},
		{name: "a wrong witness key is named", args: []string{"--witness", k1, "--witness", wrong2},
			err: "1 of the 2 witnesses given vouch for this log, 2 needed (not vouching: 22222222)",
			out: []string{"witness 11111111: vouches", "witness 22222222: does NOT vouch", "wrong witness key"}},
		{name: "a witness with no cosignature in the export", args: []string{"--witness", k1, "--witness", absent},
			err: "not vouching: 33333333", out: []string{"witness 33333333: does NOT vouch", "carries no cosignature"}},
		{name: "--witnesses 1: one of two vouching is enough", args: []string{"--witness", k1, "--witness", wrong2, "--witnesses", "1"},
			out: []string{"witness 11111111: vouches", "witness 22222222: does NOT vouch"}},
		{name: "--witnesses 2: one vouching is fewer", args: []string{"--witness", wrong2, "--witness", k1, "--witnesses", "2"},
			err: "1 of the 2 witnesses given vouch for this log, 2 needed"},
		{name: "--witnesses more than the keys given", args: []string{"--witness", k1, "--witnesses", "2"},
			err: "--witnesses 2: want 0 to the 1 --witness keys given"},
		{name: "--witnesses without keys", args: []string{"--witnesses", "1"},
			err: "--witnesses 1 needs that many --witness keys"},
		{name: "a key that is not a witness key", args: []string{"--witness", e.logKey},
			err: "is not a Custos witness key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"audit", "verify", "--datadir", filepath.Join(dir, "no-daemon"), e.path, "--log-key", e.logKey}, tc.args...)
			err := runWith(context.Background(), args, strings.NewReader(""), &out, &errOut)
			for _, want := range tc.out {
				require.Contains(t, out.String(), want)
			}
			if tc.err == "" {
				require.NoError(t, err, errOut.String())
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.err)
		})
	}
}

// TestUsageMentionsWitness: custosctl's usage text tells an auditor that
// audit verify checks the ministries' witnesses.
func TestUsageMentionsWitness(t *testing.T) {
	var out, errOut bytes.Buffer
	err := runWith(context.Background(), []string{"help"}, strings.NewReader(""), &out, &errOut)
	require.Error(t, err)
	var line string
	for _, l := range strings.Split(errOut.String(), "\n") {
		if strings.Contains(l, "audit verify") {
			line = l
		}
	}
	require.Contains(t, line, "--witness KEY")
	require.Contains(t, line, "--witnesses N")
}
