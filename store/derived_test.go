package store_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
	"github.com/custos-reserve/custos/store"
)

// TestDerivedKeys checks the derived-key cache: none at first, kept and
// replaced whole, dropped by an empty put, kept across a reopen, and
// refused over its bound without touching what is kept.
func TestDerivedKeys(t *testing.T) {
	tests := []struct {
		name    string
		puts    [][]byte
		want    []byte
		wantErr bool
	}{
		{name: "none at first"},
		{name: "kept", puts: [][]byte{{1, 2, 3}}, want: []byte{1, 2, 3}},
		{name: "replaced whole", puts: [][]byte{{1, 2, 3}, {4}}, want: []byte{4}},
		{name: "dropped by an empty put", puts: [][]byte{{1, 2, 3}, nil}},
		{name: "over the bound: refused, the old one kept", puts: [][]byte{{5}, bytes.Repeat([]byte{1}, store.MaxDerivedKeys+1)},
			want: []byte{5}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := t.TempDir() + "/custos.db"
			db, err := store.Open(path, store.Options{})
			require.NoError(t, err)
			var last error
			for _, p := range tc.puts {
				last = db.PutDerivedKeys(ctx, p)
			}
			if tc.wantErr {
				requireCode(t, last, reserve.CodeInvalid)
			} else {
				require.NoError(t, last)
			}
			require.NoError(t, db.Close())
			db, err = store.Open(path, store.Options{})
			require.NoError(t, err)
			defer func() { require.NoError(t, db.Close()) }()
			got, err := db.DerivedKeys(ctx)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
