#!/usr/bin/env bash
# Runs every native Go fuzz target of the module for SECONDS each (default
# 60), one after the other, and fails on the first crash. Minimizing a new
# interesting input is capped at 100 runs: with the default (60 s each) the
# PSBT targets spend most of their time minimizing instead of fuzzing. New crashers are
# written by go test under the package's testdata/fuzz/ and become
# regression cases of the ordinary tests.
#   scripts/fuzz.sh 600       # ten minutes per target
#   FUZZ_MATCH=PSBT scripts/fuzz.sh 60   # only targets whose name matches
#   FUZZ_PARALLEL=1 scripts/fuzz.sh 600  # one fuzzing worker (default: one per core)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-60}
match=${FUZZ_MATCH:-.}

mapfile -t pkgs < <(go list ./...)
for pkg in "${pkgs[@]}"; do
	mapfile -t targets < <(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' | grep -E "$match" || true)
	for target in "${targets[@]}"; do
		echo "== $pkg $target (${seconds}s)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "${seconds}s" -fuzzminimizetime 100x ${FUZZ_PARALLEL:+-parallel "$FUZZ_PARALLEL"} "$pkg"
	done
done
