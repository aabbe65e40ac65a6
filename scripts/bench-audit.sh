#!/usr/bin/env bash
# Measures issue 11's audit figures, each as a ratio to a baseline taken in
# the same run:
#   (a) audit append vs a proposal's RPC: BenchmarkAuditAppendVsPropose
#       (daemon) times ProposeSpend over mTLS on loopback and AppendEvent (a
#       leaf in a transaction of its own, fsync included: an upper bound).
#       Target: append <= 20% of propose.
#   (b) audit verify of a 1,000,000-entry export (made with package audit,
#       not the daemon): BenchmarkVerifyExport (audit) against reading the
#       same file and SHA-256ing each line. Target: verify < 10 s.
# Exits 1 when a target is missed. RUNS (default 30) proposals per run.
#
#   scripts/bench-audit.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${RUNS:-30}
status=0

ns() { awk -v name="$1" '$1 ~ name {print $3; exit}'; }

out=$(go test ./daemon/ -run '^$' -bench BenchmarkAuditAppendVsPropose -benchtime "${runs}x" -count=1)
echo "$out" | grep Benchmark
propose=$(echo "$out" | ns '/propose')
append=$(echo "$out" | ns '/append')
ratio=$(awk -v a="$append" -v p="$propose" 'BEGIN {printf "%.1f", 100*a/p}')
echo "audit append: ${append} ns, propose RPC: ${propose} ns: append is ${ratio}% of a proposal (target <= 20%)"
awk -v r="$ratio" 'BEGIN {exit !(r > 20)}' && status=1

out=$(AUDIT_BENCH_LEAVES=1000000 go test ./audit/ -run '^$' -bench BenchmarkVerifyExport -benchtime 1x -count=1 -timeout 20m)
echo "$out" | grep Benchmark
verify=$(echo "$out" | ns '/verify')
base=$(echo "$out" | ns '/baseline')
awk -v v="$verify" -v b="$base" 'BEGIN {printf "audit verify of 1,000,000 entries: %.2f s (%.1fx reading and hashing the file, %.2f s; target < 10 s)\n", v/1e9, v/b, b/1e9}'
awk -v v="$verify" 'BEGIN {exit !(v >= 10e9)}' && status=1
exit $status
