package main

import (
	"fmt"

	"github.com/custos-reserve/custos/reserve"
)

// allPages fetches a paged list to its end, or until limit items were
// collected (0: no limit), so each list command prints one list as before
// the daemon paged it. fetch gets the page token ("" first) and the page
// size to ask for, and returns the page and the next token ("" at the
// end).
func allPages[T any](limit int, fetch func(token string, size int32) ([]T, string, error)) ([]T, error) {
	if limit < 0 {
		return nil, usageError{fmt.Sprintf("--limit must not be negative, got %d", limit)}
	}
	var (
		out   []T
		token string
	)
	for {
		size := reserve.MaxPageSize
		if limit > 0 {
			size = min(size, limit-len(out))
		}
		page, next, err := fetch(token, int32(size))
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		token = next
	}
}
