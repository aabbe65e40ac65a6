package daemon

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRefusalsCoalesce: refusals are recorded up to refusalBurst per
// window, the rest counted, and the next one recorded carries the count.
func TestRefusalsCoalesce(t *testing.T) {
	var r refusals
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range refusalBurst {
		ok, n := r.admit(t0.Add(time.Duration(i) * time.Millisecond))
		require.True(t, ok, "refusal %d", i)
		require.Zero(t, n)
	}
	for range 1000 {
		ok, _ := r.admit(t0.Add(time.Second))
		require.False(t, ok, "past the burst a refusal is only counted")
	}
	ok, n := r.admit(t0.Add(refusalWindow))
	require.True(t, ok)
	require.Equal(t, 1000, n)
	ok, n = r.admit(t0.Add(refusalWindow + time.Second))
	require.True(t, ok)
	require.Zero(t, n)
}
