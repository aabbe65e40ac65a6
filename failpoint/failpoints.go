//go:build failpoints

package failpoint

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	gofail "go.etcd.io/gofail/runtime"
)

// Enabled is true in a failpoints build: Inject evaluates the points
// GOFAIL_FAILPOINTS arms.
const Enabled = true

// The actions a point's return value may name.
const (
	ActionKill  = "kill"
	ActionPanic = "panic"
)

var (
	registerOnce sync.Once
	registered   map[Name]*gofail.Failpoint
)

// register creates every listed point in gofail's runtime, which arms the
// ones GOFAIL_FAILPOINTS names. A name there that is not listed is a typo
// that would make a crash test pass without crashing: the process stops.
func register() {
	registered = make(map[Name]*gofail.Failpoint, len(all))
	for _, n := range all {
		registered[n] = gofail.NewFailpoint(string(n))
	}
	for _, term := range strings.Split(os.Getenv(EnvVar), ";") {
		name, _, _ := strings.Cut(term, "=")
		if name != "" && !Listed(Name(name)) {
			fmt.Fprintf(os.Stderr, "failpoint: %s names %q, which is not a listed failpoint\n", EnvVar, name)
			os.Exit(2)
		}
	}
}

// Inject evaluates the point name: nothing unless it is armed and its
// terms say so now; then "kill" sends SIGKILL to this process and never
// returns, "panic" panics. An unlisted name panics.
func Inject(name Name) {
	registerOnce.Do(register)
	fp := registered[name]
	if fp == nil {
		panic(fmt.Sprintf("failpoint: Inject(%q): not a listed failpoint", name))
	}
	v, err := fp.Acquire()
	if err != nil {
		return
	}
	act(name, v)
}

// act carries out what an armed point returned.
func act(name Name, v any) {
	switch v {
	case ActionKill:
		// Written unbuffered before the kill, so a test can tell which
		// point ended the process.
		fmt.Fprintf(os.Stderr, "failpoint: %s: kill\n", name)
		p, err := os.FindProcess(os.Getpid())
		if err == nil {
			_ = p.Kill()
		}
		for { // the signal is on its way; nothing more runs here
			time.Sleep(time.Hour)
		}
	case ActionPanic:
		panic(fmt.Sprintf("failpoint: %s: panic", name))
	default:
		fmt.Fprintf(os.Stderr, "failpoint: %s returned %v; want %q or %q\n", name, v, ActionKill, ActionPanic)
	}
}
