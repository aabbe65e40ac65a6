package signer

import "errors"

// ErrChangeUnapproved is returned when a pinned policy would be replaced
// without the officers' approvals of the change.
var ErrChangeUnapproved = errors.New("the officers' approvals of the policy change are needed")
