# Shared by the scripts that start processes (demo.sh, bench-sync.sh):
# a temporary work dir, the list of pids the script started, a cleanup
# that stops exactly those pids and removes the dir on exit, failure or
# Ctrl-C, a free loopback port finder, the regtest node's ports and
# credentials with btcctl bound to them, and the node (btcd) and custosd
# started against them.
# Source it after setting `name`; add every started process with
# `pids+=($!)`.
# shellcheck shell=bash

work=$(mktemp -d "${TMPDIR:-/tmp}/custos-${name:?}.XXXXXX")
pids=()

cleanup() {
	local status=$?
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ $status -ne 0 && $status -ne ${quiet_status:-0} ]]; then
		echo "$name failed; logs:" >&2
		tail -n 20 "$work"/*.log >&2 2>/dev/null || true
	fi
	rm -rf "$work"
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

# free_port prints a loopback TCP port nobody listens on.
free_port() {
	local port
	while :; do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
}

# The regtest node's RPC and P2P ports and credentials, and btcctl
# speaking to it.
rpcport=$(free_port)
p2pport=$(free_port)
rpcuser=custos
rpcpass=$name-$RANDOM$RANDOM
touch "$work/btcctl.conf"
btcctl() { command btcctl --configfile="$work/btcctl.conf" --regtest --notls --rpcserver="127.0.0.1:$rpcport" --rpcuser="$rpcuser" --rpcpass="$rpcpass" "$@"; }

# start_btcd MININGADDR: starts the regtest btcd in the background on the
# ports above, mining to MININGADDR and logging to $work/btcd.log, and
# waits until it answers RPC.
start_btcd() {
	btcd --regtest --datadir="$work/btcd" --logdir="$work/btcd" --notls \
		--rpclisten="127.0.0.1:$rpcport" --listen="127.0.0.1:$p2pport" --nolisten --nodnsseed \
		--rpcuser="$rpcuser" --rpcpass="$rpcpass" --miningaddr="$1" >"$work/btcd.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do btcctl getblockcount >/dev/null 2>&1 && return 0; sleep 0.2; done
	echo "btcd did not start" >&2
	return 1
}

# start_custosd DATADIR LOG [FLAG...]: starts custosd in the background on
# DATADIR against the node, logging to LOG, with any extra flags.
start_custosd() {
	CUSTOSD_NODE_RPCPASS=$rpcpass custosd --datadir "$1" --network regtest --rpclisten 127.0.0.1:0 \
		--node.kind btcd --node.rpchost "127.0.0.1:$rpcport" --node.rpcuser "$rpcuser" --poll 250ms "${@:3}" \
		>"$2" 2>&1 &
	pids+=($!)
}

# wait_addr DATADIR: waits for the custosd on DATADIR to listen.
wait_addr() {
	for _ in $(seq 100); do [[ -f "$1/custosd.addr" ]] && return 0; sleep 0.1; done
	echo "custosd did not start" >&2
	return 1
}
