#!/usr/bin/env bash
# Measures issue 2: "Syncing 1,000 regtest blocks must not take longer than
# the node takes to serve them over RPC."
#
# A regtest btcd on loopback mines BLOCKS blocks (default 1000) to a 2-of-3
# reserve address. Then, RUNS times each (default 3):
#   (a) the node serving them: scripts/benchsync fetches every block from
#       genesis to the tip, one getblockhash and one getblock (verbosity 0)
#       at a time, with btcd's rpcclient in HTTP POST mode;
#   (b) custosd syncing them: custosd starts on a fresh copy of a data dir
#       holding only the wallet (birthday 0), and the time runs from its
#       start until `custosctl status --json` says synced at the tip.
# It prints both medians and their ratio, and exits 1 if custosd is slower.
# Everything runs in a temporary directory; every process it starts is
# stopped on exit, failure or Ctrl-C (as scripts/demo.sh does).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

blocks=${BLOCKS:-1000}
runs=${RUNS:-3}

CUSTOS_TOOLS=node "$root/scripts/tools.sh"
name=bench-sync
# Exit status 1 is the benchmark saying "slower": no logs for that.
quiet_status=1
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"

# stop PID: stops one process this script started and forgets it.
stop() {
	local pid=$1 keep=() p
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for p in "${pids[@]}"; do
		[[ $p == "$pid" ]] || keep+=("$p")
	done
	pids=("${keep[@]}")
}

step "building custosd, custosctl, custos-signer and benchsync"
mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/custosd ./cmd/custosctl ./cmd/custos-signer ./scripts/benchsync
export PATH="$work/bin:$root/.bin:$PATH"

step "making the wallet: three signers' keys, a 2-of-3 reserve born at height 0 (node not started yet)"
export CUSTOS_SIGNER_PASSPHRASE="bench passphrase, never use one like it"
records=()
for ministry in finance interior defence; do
	out=$(custos-signer init --datadir "$work/signer-$ministry" --network regtest --json)
	records+=(--cosigner "$(sed -n 's/.*"key_record": *"\([^"]*\)".*/\1/p' <<<"$out")")
done
start_custosd "$work/wallet" "$work/custosd-setup.log"
setup_pid=${pids[-1]}
wait_addr "$work/wallet"
custosctl wallet create --datadir "$work/wallet" --name "bench reserve" --threshold 2 --birthday 0 "${records[@]}" >/dev/null
address=$(custosctl address new --datadir "$work/wallet" --label "block rewards" | sed -n 1p)
echo "mining to the reserve's receive address $address"
stop "$setup_pid"

step "starting btcd --regtest and mining $blocks blocks to the reserve"
start_btcd "$address"
left=$blocks
while ((left > 0)); do
	chunk=$((left < 100 ? left : 100))
	btcctl generate "$chunk" >/dev/null
	left=$((left - chunk))
done
height=$(btcctl getblockcount)
echo "node at height $height"

serve_times=()
custosd_times=()
for i in $(seq "$runs"); do
	step "run $i of $runs: (a) the node serving blocks 0..$height"
	serve_times+=("$(benchsync serve -rpcserver "127.0.0.1:$rpcport" -rpcuser "$rpcuser" -rpcpass "$rpcpass")")

	step "run $i of $runs: (b) custosd syncing them from a fresh data dir"
	run="$work/custosd-$i"
	cp -a "$work/wallet" "$run"
	rm -f "$run/custosd.addr"
	start=$(date +%s%N)
	start_custosd "$run" "$work/custosd-$i.log"
	run_pid=${pids[-1]}
	custosd_times+=("$(benchsync wait -since "$start" -height "$height" -custosctl "$work/bin/custosctl" -datadir "$run" -log "$work/custosd-$i.log")")
	stop "$run_pid"
done

step "result ($blocks blocks mined, $((height + 1)) fetched from genesis)"
join() { local IFS=,; echo "$*"; }
benchsync report -serve "$(join "${serve_times[@]}")" -custosd "$(join "${custosd_times[@]}")"
