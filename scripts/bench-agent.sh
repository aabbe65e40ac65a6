#!/usr/bin/env bash
# Measures issue 12's speed figure: an online signer agent signs the
# largest request (950 inputs, package spendtest) within 1.5x of
# `custos-signer sign` on the same PSBT. BenchmarkSign950 (signer/agent)
# times, each iteration on a fresh copy of the signer's data directory:
#   sign   the sign command's path once the key is unlocked: read the PSBT
#          file, check, sign (ledger and state record synced), write the
#          signed file, cache the derived addresses;
#   agent  one agent against a fake custosd over gRPC on loopback, from
#          the request sent on the stream to the signed PSBT received by
#          ImportPSBT.
# It prints each run's ns/op, the medians and their ratio; exits 1 when
# the ratio is over 1.5. BENCHTIME (default 20x) and COUNT (default 3)
# set the runs; the machine's other load shows in the figures, so keep it
# quiet.
#
#   scripts/bench-agent.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
benchtime=${BENCHTIME:-20x}
count=${COUNT:-3}

out=$(go test ./signer/agent/ -run '^$' -bench '^BenchmarkSign950$' -benchtime "$benchtime" -count "$count")
echo "$out" | grep Benchmark

# median NAME: the median ns/op of the sub-benchmark NAME.
median() {
	echo "$out" | awk -v name="/$1-" '$1 ~ name {print $3}' | sort -n |
		awk '{v[NR] = $1} END {if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
sign=$(median sign)
agent=$(median agent)
ratio=$(awk -v a="$agent" -v s="$sign" 'BEGIN {printf "%.2f", a / s}')
awk -v a="$agent" -v s="$sign" -v r="$ratio" -v n="$count" \
	'BEGIN {printf "950-input request, median of %d runs: custos-signer sign %.1f ms, agent %.1f ms: agent/sign = %sx (target <= 1.5x)\n", n, s / 1e6, a / 1e6, r}'
if awk -v r="$ratio" 'BEGIN {exit !(r > 1.5)}'; then
	exit 1
fi
