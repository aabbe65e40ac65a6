# Shared by the scripts that start processes (demo.sh, bench-sync.sh):
# a temporary work dir, the list of pids the script started, a cleanup
# that stops exactly those pids and removes the dir on exit, failure or
# Ctrl-C, and a free loopback port finder. Source it after setting
# `name`; add every started process with `pids+=($!)`.
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
