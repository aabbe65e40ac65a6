package reserve

import (
	"errors"
	"fmt"
)

// Code classifies a failure so that every edge (gRPC, CLI exit status) can
// map it once. Values are persisted nowhere, but keep them stable anyway.
type Code int

const (
	// CodeInternal is a failure the caller cannot fix: a bug, a broken
	// store. Its details belong in the log, not in the reply.
	CodeInternal Code = 0
	// CodeInvalid is bad input: the message names the field and the reason.
	CodeInvalid Code = 1
	// CodeNotFound is an unknown id or a record that does not exist yet.
	CodeNotFound Code = 2
	// CodeConflict is a request that clashes with existing state: a wallet
	// that already exists, a duplicate key, a second daemon on one store.
	CodeConflict Code = 3
	// CodeDenied is a caller whose role does not allow the request.
	CodeDenied Code = 4
	// CodeUnavailable is a dependency that is down for now (the node).
	CodeUnavailable Code = 5
	// CodeFailedPrecondition is a request that is valid but not in the
	// current state (no wallet yet, wrong network for this daemon).
	CodeFailedPrecondition Code = 6
)

// String names the code for logs and CLI output.
func (c Code) String() string {
	switch c {
	case CodeInternal:
		return "internal"
	case CodeInvalid:
		return "invalid"
	case CodeNotFound:
		return "not-found"
	case CodeConflict:
		return "conflict"
	case CodeDenied:
		return "denied"
	case CodeUnavailable:
		return "unavailable"
	case CodeFailedPrecondition:
		return "failed-precondition"
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// Error is a classified failure. Field, when set, names the input that was
// wrong ("threshold", "cosigner[2]") so the user can find it. Msg is the whole
// human-readable reason; Err, when set, is the cause kept for errors.Is and
// errors.As and is already described by Msg.
type Error struct {
	Code  Code
	Field string
	Msg   string
	Err   error
}

// Error implements error.
func (e *Error) Error() string {
	msg := e.Msg
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	return msg
}

// Unwrap returns the cause, so errors.Is sees through a classified error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a classified error with a formatted message. A %w verb in
// format keeps the cause reachable with errors.Is and errors.As.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Code: code, Msg: err.Error()}
	// fmt.Errorf wraps one %w as Unwrap() error and several as
	// Unwrap() []error; keep every cause reachable either way.
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		e.Err = u.Unwrap()
	case interface{ Unwrap() []error }:
		e.Err = errors.Join(u.Unwrap()...)
	}
	return e
}

// Invalid builds a CodeInvalid error naming the field at fault.
func Invalid(field, format string, args ...any) *Error {
	e := Errorf(CodeInvalid, format, args...)
	e.Field = field
	return e
}

// CodeOf returns the code of the first *Error in err's chain, and
// CodeInternal for anything unclassified.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
