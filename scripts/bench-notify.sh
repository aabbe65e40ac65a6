#!/usr/bin/env bash
# Measures issue 15's "a new block reflected in status within 100 ms of
# the node accepting it": push (btcd's websocket notifications) against
# polling at the default --poll, in one run on the same blocks.
#
# A regtest btcd on loopback and two custosd on copies of one 2-of-3
# reserve: "notify" (--node.notify auto, --poll 1s) and "poll"
# (--node.notify off, --poll 1s, the default). scripts/benchnotify then
# generates BLOCKS blocks (default 40) one at a time and times, for each
# daemon, from `generate 1` returning until its metrics show the new
# height (metrics, not GetStatus: a status call would itself wake the
# follower). It prints median, p99 and max of both, and exits 1 if the
# notified daemon's median or p99 is over 100 ms.
# Everything runs in a temporary directory; every process it starts is
# stopped on exit, failure or Ctrl-C (as scripts/demo.sh does).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

blocks=${BLOCKS:-40}

CUSTOS_TOOLS=node "$root/scripts/tools.sh"
name=bench-notify
# Exit status 1 is the benchmark saying "over the goal": no logs for that.
quiet_status=1
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"

step "building custosd, custosctl, custos-signer and benchnotify"
mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/custosd ./cmd/custosctl ./cmd/custos-signer ./scripts/benchnotify
export PATH="$work/bin:$root/.bin:$PATH"

step "making the wallet: three signers' keys, a 2-of-3 reserve (node not started yet)"
export CUSTOS_SIGNER_PASSPHRASE="bench passphrase, never use one like it"
records=()
for ministry in finance interior defence; do
	out=$(custos-signer init --datadir "$work/signer-$ministry" --network regtest --json)
	records+=(--cosigner "$(sed -n 's/.*"key_record": *"\([^"]*\)".*/\1/p' <<<"$out")")
done
start_custosd "$work/notify" "$work/custosd-setup.log" --node.notify off
setup_pid=${pids[-1]}
wait_addr "$work/notify"
custosctl wallet create --datadir "$work/notify" --name "bench reserve" --threshold 2 --birthday 0 "${records[@]}" >/dev/null
address=$(custosctl address new --datadir "$work/notify" --label "block rewards" | sed -n 1p)
kill -TERM "$setup_pid"
wait "$setup_pid" 2>/dev/null || true
cp -a "$work/notify" "$work/poll"

step "starting btcd --regtest and both daemons"
start_btcd "$address"
btcctl generate 1 >/dev/null
notify_metrics=127.0.0.1:$(free_port)
poll_metrics=127.0.0.1:$(free_port)
start_custosd "$work/notify" "$work/custosd-notify.log" --node.notify auto --poll 1s --metrics.listen "$notify_metrics"
start_custosd "$work/poll" "$work/custosd-poll.log" --node.notify off --poll 1s --metrics.listen "$poll_metrics"
wait_addr "$work/notify" || { tail -n 20 "$work/custosd-notify.log" >&2; exit 2; }
wait_addr "$work/poll" || { tail -n 20 "$work/custosd-poll.log" >&2; exit 2; }
for _ in $(seq 100); do grep -q "node notifications connected" "$work/custosd-notify.log" && break; sleep 0.1; done
grep -q "node notifications connected" "$work/custosd-notify.log" || { echo "notifications did not connect" >&2; exit 2; }

step "generating $blocks blocks one at a time"
benchnotify -rpcserver "127.0.0.1:$rpcport" -rpcuser "$rpcuser" -rpcpass "$rpcpass" -blocks "$blocks" \
	-metrics "notify=$notify_metrics" -metrics "poll (--poll 1s)=$poll_metrics"
