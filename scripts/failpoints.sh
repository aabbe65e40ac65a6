#!/usr/bin/env bash
# Runs the failpoint itest case alone with many kills: the README flow,
# round after round, with custosd, custosctl and the signers killed at
# random failpoints (failpoint/names.go) until KILLS kills (default 200).
# Rounds add a freeze lifted by two officers, a two-block reorg, a
# broadcast payment cancelled by a conflicting spend (its kept coins
# released once the conflict is buried) and, every third round, a fresh
# reserve (wallet create and policy set) on a new daemon.
# CUSTOS_FAILPOINT_SEED replays a run; the seed is printed either way.
# Prints the kills, rounds, reserves, the points that fired (of those
# reachable; store-other-* are listed but no transaction reaches them)
# and the wall time.
#
#   scripts/failpoints.sh [KILLS]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/tools.sh"
export PATH="$root/.bin:$PATH"
export BTCD="$root/.bin/btcd"
export CUSTOS_KILLS=${1:-200}

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
status=0
go test -count=1 -timeout 60m -tags itest -v \
	-run 'TestIntegration/failpoints:_the_README_flow_completes_through_random_kills' \
	./itest/ >"$log" 2>&1 || status=$?
grep -E 'failpoint run:|FAILPOINT-SUMMARY|--- (PASS|FAIL)' "$log" || true
if [[ $status -ne 0 ]]; then
	echo "== failed; the end of the log:" >&2
	tail -n 80 "$log" >&2
fi
echo "wall time: $(($(date +%s) - start)) s"
exit $status
