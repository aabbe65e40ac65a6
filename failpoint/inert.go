//go:build !failpoints

package failpoint

// Enabled is false in normal builds: Inject does nothing.
const Enabled = false

// Inject marks the point name in the code. In normal builds it does
// nothing; in a failpoints build it may kill the process there.
func Inject(Name) {}
