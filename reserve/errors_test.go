package reserve_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/custos-reserve/custos/reserve"
)

func TestCodeOf(t *testing.T) {
	notFound := reserve.Errorf(reserve.CodeNotFound, "no proposal %s", "p1")
	tests := []struct {
		name string
		err  error
		want reserve.Code
	}{
		{name: "nil", err: nil, want: reserve.CodeInternal},
		{name: "unclassified", err: errors.New("disk on fire"), want: reserve.CodeInternal},
		{name: "classified", err: notFound, want: reserve.CodeNotFound},
		{name: "wrapped once with %w", err: fmt.Errorf("unable to load: %w", notFound), want: reserve.CodeNotFound},
		{name: "wrapped twice with %w", err: fmt.Errorf("rpc: %w", fmt.Errorf("unable to load: %w", notFound)), want: reserve.CodeNotFound},
		{name: "wrapped with %v loses the code", err: fmt.Errorf("unable to load: %v", notFound), want: reserve.CodeInternal},
		{name: "invalid", err: reserve.Invalid("threshold", "must be positive"), want: reserve.CodeInvalid},
		{name: "joined after an unclassified error", err: errors.Join(errors.New("first"), reserve.Errorf(reserve.CodeConflict, "exists")), want: reserve.CodeConflict},
		{name: "the outermost classification wins", err: reserve.Errorf(reserve.CodeUnavailable, "node: %w", reserve.Invalid("x", "bad")), want: reserve.CodeUnavailable},
		{name: "unknown code kept", err: &reserve.Error{Code: 42, Msg: "odd"}, want: reserve.Code(42)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, reserve.CodeOf(tt.err))
		})
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name      string
		field     string
		format    string
		args      []any
		wantField string
		wantMsg   string
	}{
		{name: "field leads the message", field: "threshold", format: "threshold %d is outside 1..%d", args: []any{5, 3},
			wantField: "threshold", wantMsg: "threshold: threshold 5 is outside 1..3"},
		{name: "indexed field", field: "cosigner[2]", format: "not a key record", wantField: "cosigner[2]", wantMsg: "cosigner[2]: not a key record"},
		{name: "no field, message alone", field: "", format: "bad input", wantField: "", wantMsg: "bad input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := reserve.Invalid(tt.field, tt.format, tt.args...)
			require.Equal(t, reserve.CodeInvalid, err.Code)
			require.Equal(t, tt.wantField, err.Field)
			require.EqualError(t, err, tt.wantMsg)
			require.Equal(t, reserve.CodeInvalid, reserve.CodeOf(fmt.Errorf("wrapped: %w", err)))
		})
	}
}

func TestErrorfKeepsCause(t *testing.T) {
	sentinel := errors.New("disk full")
	other := errors.New("lock held")
	pathErr := &fs.PathError{Op: "open", Path: "/x", Err: os.ErrNotExist}
	tests := []struct {
		name    string
		err     *reserve.Error
		wantMsg string
		// reach are errors errors.Is must find through err; miss it must not.
		reach []error
		miss  []error
	}{
		{name: "%w keeps the cause", err: reserve.Errorf(reserve.CodeInternal, "unable to write: %w", sentinel),
			wantMsg: "unable to write: disk full", reach: []error{sentinel}, miss: []error{other}},
		{name: "%w keeps a wrapped cause's chain", err: reserve.Errorf(reserve.CodeNotFound, "no file: %w", pathErr),
			wantMsg: "no file: open /x: file does not exist", reach: []error{os.ErrNotExist, fs.ErrNotExist}},
		{name: "%v keeps only the text", err: reserve.Errorf(reserve.CodeInternal, "unable to write: %v", sentinel),
			wantMsg: "unable to write: disk full", miss: []error{sentinel}},
		{name: "no verb, no cause", err: reserve.Errorf(reserve.CodeDenied, "officers may not do this"),
			wantMsg: "officers may not do this", miss: []error{sentinel}},
		// fmt.Errorf with two %w verbs returns an error whose Unwrap gives
		// []error; errors.Unwrap of it is nil, so Errorf drops both causes.
		{name: "two %w verbs keep both causes", err: reserve.Errorf(reserve.CodeConflict, "%w and %w", sentinel, other),
			wantMsg: "disk full and lock held", reach: []error{sentinel, other}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.EqualError(t, tt.err, tt.wantMsg)
			wrapped := fmt.Errorf("outer: %w", tt.err)
			for _, target := range tt.reach {
				require.ErrorIs(t, tt.err, target)
				require.ErrorIs(t, wrapped, target)
			}
			for _, target := range tt.miss {
				require.NotErrorIs(t, tt.err, target)
			}
		})
	}
}

func TestErrorfAs(t *testing.T) {
	pathErr := &fs.PathError{Op: "open", Path: "/x", Err: os.ErrNotExist}
	err := fmt.Errorf("store: %w", reserve.Errorf(reserve.CodeInternal, "unable to open: %w", pathErr))

	var gotPath *fs.PathError
	require.ErrorAs(t, err, &gotPath)
	require.Same(t, pathErr, gotPath)

	var gotReserve *reserve.Error
	require.ErrorAs(t, err, &gotReserve)
	require.Equal(t, reserve.CodeInternal, gotReserve.Code)
}

func TestCodeString(t *testing.T) {
	tests := []struct {
		code reserve.Code
		want string
	}{
		{reserve.CodeInternal, "internal"},
		{reserve.CodeInvalid, "invalid"},
		{reserve.CodeNotFound, "not-found"},
		{reserve.CodeConflict, "conflict"},
		{reserve.CodeDenied, "denied"},
		{reserve.CodeUnavailable, "unavailable"},
		{reserve.CodeFailedPrecondition, "failed-precondition"},
		{reserve.Code(42), "code(42)"},
		{reserve.Code(-1), "code(-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, tt.code.String())
		})
	}
}
