// Package failpoint owns Custos's fault injection: the one list of named
// points where a test may crash a process (names.go), and Inject, which
// the code calls at each of them.
//
// In normal builds Inject is an empty function the compiler inlines away:
// no flag, file or environment variable turns a point on. Only a binary
// built with -tags failpoints evaluates the points, through
// go.etcd.io/gofail's runtime, armed by the environment variable
// GOFAIL_FAILPOINTS as gofail documents, for example
//
//	GOFAIL_FAILPOINTS='store-update-proposal-precommit=2*off->return("kill")'
//
// skips two hits of that point and kills the process at the third. The
// values a point may return are "kill" (SIGKILL to the process itself: no
// defers run, bbolt does not roll back, nothing is flushed) and "panic".
//
// The package refuses to do anything else: it never arms a point by
// itself, never serves gofail's HTTP endpoint unless GOFAIL_HTTP asks, and
// imports nothing of Custos.
package failpoint
