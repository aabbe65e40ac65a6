package audit_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/audit"
)

func TestVerifyExport(t *testing.T) {
	s, v, _ := MustLogKey(t, testOrigin, 1)
	m := MustLog(t, 10)
	good := MustExport(t, m, s)
	require.Len(t, good, 11)
	edit := func(line int, from, to string) func([][]byte) [][]byte {
		return func(l [][]byte) [][]byte {
			l[line-1] = bytes.Replace(l[line-1], []byte(from), []byte(to), 1)
			return l
		}
	}
	_, otherV, _ := MustLogKey(t, testOrigin, 2)
	otherS, _, _ := MustLogKey(t, audit.OriginPrefix+"ffff", 3)
	otherLog := MustExport(t, &audit.Memory{Origin: audit.OriginPrefix + "ffff"}, otherS)

	tests := []struct {
		name   string
		change func([][]byte) [][]byte
		raw    []byte
		field  string // "" = accepted
	}{
		{name: "untouched export", change: func(l [][]byte) [][]byte { return l }},
		{name: "edited detail of leaf 4", change: edit(5, "total=4000", "total=4001"), field: "line 5"},
		{name: "edited actor of leaf 1", change: edit(2, `"alice"`, `"mallory"`), field: "line 2"},
		{name: "edited last leaf", change: edit(11, "total=10000", "total=10001"), field: "line 11"},
		{name: "edited prev of leaf 7 only", change: func(l [][]byte) [][]byte {
			lf, err := audit.ParseLeaf(l[7])
			require.NoError(t, err)
			lf.Prev[0] ^= 1
			l[7], err = lf.Encode()
			require.NoError(t, err)
			return l
		}, field: "line 7"},
		{name: "non-canonical spacing", change: edit(3, `"seq":2,`, `"seq": 2,`), field: "line 3"},
		{name: "deleted leaf 3", change: func(l [][]byte) [][]byte { return slices.Delete(l, 3, 4) }, field: "line 4"},
		{name: "deleted last leaf", change: func(l [][]byte) [][]byte { return l[:10] }, field: "line 11"},
		{name: "inserted copy of leaf 2", change: func(l [][]byte) [][]byte { return slices.Insert(l, 3, l[2]) }, field: "line 4"},
		{name: "appended line past the checkpoint", change: func(l [][]byte) [][]byte { return append(l, l[10]) }, field: "line 12"},
		{name: "swapped leaves 5 and 6", change: func(l [][]byte) [][]byte { l[5], l[6] = l[6], l[5]; return l }, field: "line 6"},
		{name: "truncated in the middle of the last line", raw: []byte(strings.TrimSuffix(string(join(good)), "\n")[:len(join(good))-40]), field: "line 11"},
		{name: "blank line", change: func(l [][]byte) [][]byte { return slices.Insert(l, 2, []byte{}) }, field: "line 3"},
		{name: "empty file", raw: []byte{}, field: "line 1"},
		{name: "foreign file", raw: []byte("{\"hello\":\"world\"}\n"), field: "line 1"},
		{name: "not JSON", raw: []byte("\x00\x01binary\n"), field: "line 1"},
		{name: "export of another log", raw: join(otherLog), field: "line 1"},
		{name: "checkpoint with a forged signature", change: edit(1, `\n\n— `, `\n\n— x`), field: "line 1"},
		{name: "a second value after the header", change: func(l [][]byte) [][]byte { l[0] = append(bytes.Clone(l[0]), "{}"...); return l }, field: "line 1"},
		{name: "a stray bracket after the header", change: func(l [][]byte) [][]byte { l[0] = append(bytes.Clone(l[0]), ']'); return l }, field: "line 1"},
		{name: "white space after the header", change: func(l [][]byte) [][]byte { l[0] = append(bytes.Clone(l[0]), " \t"...); return l }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.raw
			if tc.change != nil {
				in = join(tc.change(slices.Clone(good)))
			}
			cp, err := audit.VerifyExport(bytes.NewReader(in), v)
			if tc.field == "" {
				require.NoError(t, err)
				require.Equal(t, int64(10), cp.Size)
				return
			}
			requireInvalid(t, err, tc.field)
			var le *audit.LineError
			require.ErrorAs(t, err, &le)
		})
	}

	t.Run("wrong key", func(t *testing.T) {
		_, err := audit.VerifyExport(bytes.NewReader(join(good)), otherV)
		requireInvalid(t, err, "line 1")
		require.Contains(t, err.Error(), "wrong key")
	})
	t.Run("empty log", func(t *testing.T) {
		cp, err := audit.VerifyExport(bytes.NewReader(join(MustExport(t, MustLog(t, 0), s))), v)
		require.NoError(t, err)
		require.Equal(t, int64(0), cp.Size)
	})
}

func TestVerifyExportUnpaddedPrev(t *testing.T) {
	s, v, _ := MustLogKey(t, testOrigin, 1)
	lines := MustExport(t, MustLog(t, 2), s)
	i := bytes.LastIndex(lines[2], []byte(`="}`))
	lines[2][i] = 'A' // 44 base64 digits, no padding: 33 bytes
	_, err := audit.VerifyExport(bytes.NewReader(join(lines)), v)
	requireInvalid(t, err, "line 3")
}
