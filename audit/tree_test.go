package audit_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/custos-reserve/custos/audit"
	"github.com/custos-reserve/custos/reserve"
)

func TestFrontierMatchesTreeHash(t *testing.T) {
	m := MustLog(t, 70)
	var f audit.Frontier
	for n := int64(0); n <= m.Size(); n++ {
		want, err := tlog.TreeHash(n, m)
		require.NoError(t, err)
		require.Equal(t, want, f.Root(), "size %d", n)
		if n < m.Size() {
			f.Add(audit.LeafHash(m.Leaf(n + 1)))
		}
	}
}

func TestLeaf(t *testing.T) {
	good := audit.Leaf{
		Seq: 3, Time: time.Date(2025, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600)),
		Actor: reserve.Actor{Name: "alice", Role: "officer", Serial: "0a"}, Kind: "proposal.create",
		IDs: map[string]string{"proposal": "P000001", "txid": "ab"}, Detail: `a "quoted" <detail>`,
	}
	b, err := good.Encode()
	require.NoError(t, err)
	require.Equal(t, `{"seq":3,"time":"2025-01-02T02:04:05Z","actor":{"name":"alice","role":"officer","serial":"0a"},"kind":"proposal.create","ids":{"proposal":"P000001","txid":"ab"},"detail":"a \"quoted\" \u003cdetail\u003e","prev":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`, string(b))
	back, err := audit.ParseLeaf(b)
	require.NoError(t, err)
	again, err := back.Encode()
	require.NoError(t, err)
	require.Equal(t, b, again)

	tests := []struct {
		name  string
		leaf  func(l audit.Leaf) audit.Leaf
		field string
	}{
		{name: "no seq", leaf: func(l audit.Leaf) audit.Leaf { l.Seq = 0; return l }, field: "seq"},
		{name: "no time", leaf: func(l audit.Leaf) audit.Leaf { l.Time = time.Time{}; return l }, field: "time"},
		{name: "no kind", leaf: func(l audit.Leaf) audit.Leaf { l.Kind = ""; return l }, field: "kind"},
		{name: "upper-case kind", leaf: func(l audit.Leaf) audit.Leaf { l.Kind = "Wallet"; return l }, field: "kind"},
		{name: "no actor", leaf: func(l audit.Leaf) audit.Leaf { l.Actor = reserve.Actor{}; return l }, field: "actor"},
		{name: "bad id name", leaf: func(l audit.Leaf) audit.Leaf { l.IDs = map[string]string{"a b": "x"}; return l }, field: "ids"},
		{name: "detail too long", leaf: func(l audit.Leaf) audit.Leaf { l.Detail = strings.Repeat("x", audit.MaxDetailLen+1); return l }, field: "detail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.leaf(good)
			_, err := l.Encode()
			requireInvalid(t, err, tc.field)
		})
	}

	parse := []struct {
		name string
		in   string
	}{
		{name: "extra space", in: strings.Replace(string(b), `"seq":3`, `"seq": 3`, 1)},
		{name: "unknown field", in: strings.Replace(string(b), `{"seq":3`, `{"x":1,"seq":3`, 1)},
		{name: "unescaped html", in: strings.Replace(string(b), `\u003c`, `<`, 1)},
		{name: "other time zone", in: strings.Replace(string(b), `02:04:05Z`, `03:04:05+01:00`, 1)},
		{name: "short prev", in: strings.Replace(string(b), `AAAA=`, `A=`, 1)},
		{name: "trailing data", in: string(b) + "{}"},
		{name: "truncated", in: string(b[:len(b)-3])},
	}
	for _, tc := range parse {
		t.Run("parse "+tc.name, func(t *testing.T) {
			_, err := audit.ParseLeaf([]byte(tc.in))
			requireInvalid(t, err, "")
		})
	}
}

func TestCheckpoint(t *testing.T) {
	s, v, vkey := MustLogKey(t, testOrigin, 1)
	require.True(t, strings.HasPrefix(vkey, testOrigin+"+"))
	m := MustLog(t, 5)
	cp, err := m.Checkpoint(5)
	require.NoError(t, err)
	signed, err := audit.SignCheckpoint(cp, s)
	require.NoError(t, err)
	got, err := audit.OpenCheckpoint(signed, v)
	require.NoError(t, err)
	require.Equal(t, cp, got)
	parsed, err := audit.ParseCheckpoint(cp.Text())
	require.NoError(t, err)
	require.Equal(t, cp, parsed)

	_, wrongV, _ := MustLogKey(t, testOrigin, 9)
	otherS, _, _ := MustLogKey(t, audit.OriginPrefix+"other", 1)
	_, err = audit.SignCheckpoint(cp, otherS)
	requireInvalid(t, err, "checkpoint")
	otherCP := cp
	otherCP.Origin = otherS.Name()
	otherSigned, err := audit.SignCheckpoint(otherCP, otherS)
	require.NoError(t, err)

	tests := []struct {
		name string
		msg  []byte
	}{
		{name: "wrong key", msg: signed},
		{name: "other origin", msg: otherSigned},
		{name: "unsigned", msg: cp.Text()},
		{name: "size edited", msg: bytes.Replace(signed, []byte("\n5\n"), []byte("\n6\n"), 1)},
		{name: "extension line", msg: bytes.Replace(signed, []byte("=\n\n"), []byte("=\nextra\n\n"), 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			verifier := v
			if tc.name == "wrong key" {
				verifier = wrongV
			}
			_, err := audit.OpenCheckpoint(tc.msg, verifier)
			requireInvalid(t, err, "checkpoint")
		})
	}
	_, err = audit.ParseLogKey("not a key")
	requireInvalid(t, err, "log key")
}

func TestProofs(t *testing.T) {
	m := MustLog(t, 17)
	for size := int64(1); size <= m.Size(); size++ {
		cp, err := m.Checkpoint(size)
		require.NoError(t, err)
		for seq := int64(1); seq <= size; seq++ {
			p, err := audit.ProveInclusion(m, seq, size)
			require.NoError(t, err)
			text, err := p.MarshalText()
			require.NoError(t, err)
			back, err := audit.ParseInclusionProof(text)
			require.NoError(t, err)
			require.NoError(t, back.Check(m.Leaf(seq), cp), "seq %d size %d", seq, size)
			if seq > 1 {
				requireInvalid(t, back.Check(m.Leaf(seq-1), cp), "leaf")
			}

			old, err := m.Checkpoint(seq)
			require.NoError(t, err)
			c, err := audit.ProveConsistency(m, seq, size, m.Size())
			require.NoError(t, err)
			text, err = c.MarshalText()
			require.NoError(t, err)
			cback, err := audit.ParseConsistencyProof(text)
			require.NoError(t, err)
			require.NoError(t, cback.Check(old, cp), "old %d new %d", seq, size)
			if seq < size {
				forked := old
				forked.Root[0] ^= 1
				requireInvalid(t, cback.Check(forked, cp), "proof")
			}
		}
	}

	refused := []struct {
		name  string
		run   func() error
		field string
	}{
		{name: "inclusion seq past the size", run: func() error { _, err := audit.ProveInclusion(m, 6, 5); return err }, field: "seq"},
		{name: "inclusion seq 0", run: func() error { _, err := audit.ProveInclusion(m, 0, 5); return err }, field: "seq"},
		{name: "consistency new past the log", run: func() error { _, err := audit.ProveConsistency(m, 1, 18, 17); return err }, field: "new"},
		{name: "consistency old past new", run: func() error { _, err := audit.ProveConsistency(m, 6, 5, 17); return err }, field: "old"},
		{name: "proof for another size", run: func() error {
			p, err := audit.ProveInclusion(m, 2, 5)
			require.NoError(t, err)
			cp, err := m.Checkpoint(6)
			require.NoError(t, err)
			return p.Check(m.Leaf(2), cp)
		}, field: "proof"},
		{name: "tampered proof hash", run: func() error {
			p, err := audit.ProveInclusion(m, 2, 5)
			require.NoError(t, err)
			p.Hashes[0][0] ^= 1
			cp, err := m.Checkpoint(5)
			require.NoError(t, err)
			return p.Check(m.Leaf(2), cp)
		}, field: "proof"},
		{name: "malformed proof text", run: func() error {
			_, err := audit.ParseInclusionProof([]byte("custos-audit-inclusion/v1\nseq x\nsize 3\n"))
			return err
		}, field: "proof"},
		{name: "proof text seq past size", run: func() error {
			_, err := audit.ParseInclusionProof([]byte("custos-audit-inclusion/v1\nseq 4\nsize 3\n"))
			return err
		}, field: "seq"},
		{name: "consistency text of another kind", run: func() error {
			_, err := audit.ParseConsistencyProof([]byte("custos-audit-inclusion/v1\nold 1\nnew 3\n"))
			return err
		}, field: "proof"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) { requireInvalid(t, tc.run(), tc.field) })
	}
}
