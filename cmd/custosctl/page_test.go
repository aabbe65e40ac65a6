package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// pagedList serves items in pages of two with tokens, recording the
// sizes asked for.
type pagedList struct {
	items []int
	sizes []int32
}

func (l *pagedList) fetch(token string, size int32) ([]int, string, error) {
	l.sizes = append(l.sizes, size)
	from := 0
	if token != "" {
		if _, err := fmt.Sscanf(token, "after-%d", &from); err != nil {
			return nil, "", errors.New("bad token")
		}
	}
	to := min(from+2, len(l.items), from+int(size))
	next := ""
	if to < len(l.items) {
		next = fmt.Sprintf("after-%d", to)
	}
	return l.items[from:to], next, nil
}

func TestAllPages(t *testing.T) {
	for _, tt := range []struct {
		name  string
		items []int
		limit int
		want  []int
		sizes []int32
		err   string
	}{
		{name: "every page", items: []int{1, 2, 3, 4, 5}, want: []int{1, 2, 3, 4, 5}, sizes: []int32{1000, 1000, 1000}},
		{name: "empty list", items: nil, want: nil, sizes: []int32{1000}},
		{name: "limit stops early", items: []int{1, 2, 3, 4, 5}, limit: 3, want: []int{1, 2, 3}, sizes: []int32{3, 1}},
		{name: "limit past the end", items: []int{1, 2}, limit: 10, want: []int{1, 2}, sizes: []int32{10}},
		{name: "negative limit", items: []int{1}, limit: -1, err: "--limit must not be negative"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := &pagedList{items: tt.items}
			got, err := allPages(tt.limit, l.fetch)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.ErrorAs(t, err, new(usageError))
				require.Empty(t, l.sizes, "nothing fetched")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.sizes, l.sizes)
		})
	}
}
