// Package timing is the commands' debug timing: how long each phase of a
// run took (CUSTOS_TIMING) and a CPU profile of the whole run
// (CUSTOS_CPUPROFILE), for scripts/bench-pipeline.sh. Nothing secret is
// printed.
package timing

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"
)

// EnvTiming names the debug variable that makes the command print how long
// its phases took on stderr ("custos-timing: PHASE 12ms"), for
// scripts/bench-pipeline.sh: it tells the deliberate key-unlock KDF apart
// from the rest of a step. Nothing secret is printed.
const EnvTiming = "CUSTOS_TIMING"

// EnvCPUProfile names the debug variable holding a file to write a CPU
// profile of the whole run to (go tool pprof).
const EnvCPUProfile = "CUSTOS_CPUPROFILE"

// Phase prints, when CUSTOS_TIMING is set, how long the phase named label
// took since start.
func Phase(label string, start time.Time) {
	if os.Getenv(EnvTiming) == "" {
		return
	}
	fmt.Fprintf(os.Stderr, "custos-timing: %s %dms\n", label, time.Since(start).Milliseconds())
}

// StartProfile starts the CPU profile CUSTOS_CPUPROFILE names, if any, and
// returns what stops it.
func StartProfile() func() {
	path := os.Getenv(EnvCPUProfile)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "custos-timing: no profile: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
