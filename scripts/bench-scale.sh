#!/usr/bin/env bash
# Measures issue 15 on the reserve Custos will become: at each size of the
# scale fixture (SIZES, default "1000 10000 50000" coins), in one run,
#   start      custosd opening the fixture until it serves over mTLS (a
#              health check answers), until it reports its wallet synced,
#              and until its follower holds every stored address's keys
#              (imported from the store's cache, or derived), median of
#              RUNS restarts (default 3), and its resident memory (VmRSS
#              from /proc) when synced;
#   reads      GetStatus, GetBalance, a 100-item page of ListUtxos and of
#              ListProposals, GetProposal: CLIENTS concurrent clients
#              (default 50) over mTLS for DURATION each (default 5s), with
#              scripts/loadrpc, against its empty health-check baseline;
#   firsts     the first ProposeSpend over all the fixture's coins and the
#              first GetProposal after the restart, and a status, each as
#              the wall time of its custosctl command (status-cli is the
#              process and handshake cost the other two include);
#   propose    ProposeSpend (then CancelProposal, one pair per call) from
#              one client over all the fixture's coins;
#   memory     VmRSS and its peak (VmHWM) after the load.
# It prints a table of cost against size, writes the raw numbers to
# .bench/scale-results/ (results.tsv, loadrpc's lines, the logs) and draws
# docs/scale.png (log-log, gnuplot).
#
# The fixture. At 50,000 coins it is the issue's reserve: 100,000 issued
# addresses, 50,000 unspent coins (100 deposits a block), 10,000 proposals
# in every end state, 1,000,000 audit entries; smaller sizes scale all of
# it (scripts/benchscale SizeFor). Driving the daemon against a node for a
# million audit entries takes hours, so scripts/benchscale writes the
# store through the store's OWN API, from a deterministic generator (fixed
# seeds, fixed clock): store.DB's CreateWallet with the wallet's real
# descriptor, IssueAddress and PutAddresses (the lookahead kept as the
# follower keeps it), ApplyBlock with real transactions paying the
# wallet's real derived scripts in blocks chained by their real header
# hashes, CreateProposal and UpdateProposal through each proposal's
# transitions, and AppendEvent for the security events that make up the
# rest of a real log. These are the calls, checks and audit appends the
# daemon and its follower make, in the same transactions, so every
# derived record (balance totals, page indexes, proposal counts, the audit
# tree) is the one production writes. What it skips: the node (blocks
# carry only the wallet's transactions, as the follower's filtered view
# does, and no proof of work), officers' signed approvals and PSBT
# signatures (proposals are made as under no approval policy; REJECTED is
# a transition without a signed veto), and the daemon's request handling
# around each write. The same size gives the same records: the summary's
# audit root (over every leaf, times included) is the fixture's identity;
# the file's bytes differ between builds only by the store's random page
# token key. Fixtures are cached under .bench/scale-vN/ (git-ignored),
# keyed by the generator's version.
#
# custosd runs against `benchscale node`, a stub that answers the three
# node RPCs a synced follower asks (getblockchaininfo at the fixture's
# tip, getblockhash, an empty getrawmempool): a real node's chain would
# disagree with the generated blocks and the follower would rewind them.
# Every process it starts is stopped on exit, failure or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

sizes=${SIZES:-"1000 10000 50000"}
clients=${CLIENTS:-50}
duration=${DURATION:-5s}
runs=${RUNS:-3}

name=bench-scale
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

step "building custosd, custosctl, loadrpc and benchscale"
mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/custosd ./cmd/custosctl ./scripts/loadrpc ./scripts/benchscale
export PATH="$work/bin:$PATH"
version=$(benchscale version)
cache="$root/.bench/scale-v$version"
out="$root/.bench/scale-results"
rm -rf "$out"
mkdir -p "$cache" "$out"
results="$out/results.tsv"
printf 'coins\toperation\tvalue\tunit\tratio\n' >"$results"
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

for n in $sizes; do
	if [[ ! -f "$cache/$n/custos.db" ]]; then
		step "building the $n-coin fixture (cached in $cache/$n)"
		tmp=$(mktemp -d "${BENCH_TMP:-/dev/shm}/custos-scale.XXXXXX")
		benchscale gen -coins "$n" -out "$tmp/custos.db" -summary "$tmp/fixture.json" | tail -n 1
		mkdir -p "$cache/$n"
		mv "$tmp/fixture.json" "$tmp/custos.db" "$cache/$n/"
		rmdir "$tmp"
	fi
done

export CUSTOS_OFFICER_PASSPHRASE="officer bench passphrase, never use one like it"
# set_policy DATADIR PAYEE: a one-officer policy, PAYEE on the allowlist.
set_policy() {
	local key
	key=$(custosctl officer keygen --out "$1/alice.officer" --json | sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p')
	cat >"$1/policy.yaml" <<YAML
version: 1
officers:
  - {id: alice, name: Alice Moreau, key: $key}
tiers:
  - {up_to: unlimited, approvals: 1, cool_off: 0s}
velocity: {per_24h: "1000000", per_30d: "1000000"}
allowlist:
  unlisted: extra_approval
  add_delay: 48h
  entries:
    - {address: $2, label: Supplier, added: 2024-01-01T00:00:00Z}
fees: {max_fee: "0.01", max_fee_rate: 1000}
proposal_expiry: 168h
unfreeze_approvals: 1
YAML
	custosctl policy set "$1/policy.yaml" --datadir "$1" >/dev/null
}

median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for n in $sizes; do
	step "$n coins: $(sed -n 's/^  "\(issued_addresses\|audit_size\)": *\([0-9]*\).*/\1 \2/p' "$cache/$n/fixture.json" | paste -sd' ')"
	payee=$(sed -n 's/.*"payee": *"\([^"]*\)".*/\1/p' "$cache/$n/fixture.json")
	data="$work/custosd-$n"
	mkdir -p "$data"
	cp "$cache/$n/custos.db" "$data/custos.db"

	benchscale node -store "$cache/$n/custos.db" -addrfile "$work/node-$n.addr" >"$out/node-$n.log" 2>&1 &
	pids+=($!)
	node_pid=$!
	for _ in $(seq 100); do [[ -s "$work/node-$n.addr" ]] && break; sleep 0.1; done
	node=$(cat "$work/node-$n.addr")

	# start LOG: starts custosd on the fixture's copy, logging to LOG.
	start() {
		rm -f "$data/custosd.addr"
		t0=$(date +%s%N)
		custosd --datadir "$data" --network regtest --rpclisten 127.0.0.1:0 --rpc.rate 0 --loglevel debug \
			--node.kind btcd --node.rpchost "$node" --node.rpcuser bench --node.rpcpass bench --node.notify off \
			>"$1" 2>&1 &
		pids+=($!)
		custosd_pid=$!
	}
	# keys_ready LOG: milliseconds from the start until the follower had
	# every stored address's keys (imported or derived), from its log.
	keys_ready() {
		local line
		for _ in $(seq 1200); do
			line=$(grep -m1 'msg="derived the stored addresses"' "$1" || true)
			[[ -n $line ]] && break
			sleep 0.1
		done
		[[ -n $line ]] || { echo "the follower did not load its keys in 120 s" >&2; return 1; }
		local at
		at=$(date -d "$(sed -n 's/^time=\([^ ]*\).*/\1/p' <<<"$line")" +%s%N)
		echo $(((at - t0) / 1000000))
	}
	# The first start makes the data dir's TLS material and keys, keeps the
	# derived keys, and sets a one-officer policy allowing the payee (the
	# fixture's history was made without one): not timed.
	start "$out/custosd-$n-first.log"
	benchscale wait -datadir "$data" -since "$t0" -pid "$custosd_pid" >/dev/null
	keys_ready "$out/custosd-$n-first.log" >/dev/null
	set_policy "$data" "$payee"
	serving=() synced=() keys=() rss=() rss_keys=() anon_keys=()
	for r in $(seq "$runs"); do
		stop "$custosd_pid"
		start "$out/custosd-$n-$r.log"
		read -r s y m < <(benchscale wait -datadir "$data" -since "$t0" -pid "$custosd_pid")
		k=$(keys_ready "$out/custosd-$n-$r.log")
		read -r km _ ka < <(benchscale rss "$custosd_pid")
		serving+=("$s") synced+=("$y") keys+=("$k") rss+=("$m") rss_keys+=("$km") anon_keys+=("$ka")
		echo "restart $r: serving in ${s} ms, synced in ${y} ms (RSS ${m} MB), every address's keys in ${k} ms (RSS ${km} MB, ${ka} MB of it heap)"
	done
	record "$n" start-serving "$(echo "${serving[*]}" | median)" ms ""
	record "$n" start-synced "$(echo "${synced[*]}" | median)" ms ""
	record "$n" start-keys "$(echo "${keys[*]}" | median)" ms ""
	record "$n" rss-start "$(echo "${rss[*]}" | median)" MB ""
	record "$n" rss-keys "$(echo "${rss_keys[*]}" | median)" MB ""
	record "$n" heap-keys "$(echo "${anon_keys[*]}" | median)" MB ""

	# The first of each after the restart (keys loaded), each timed as the
	# custosctl command's wall time: what an operator waits for. A first
	# call may pay for what later ones find loaded.
	ctl() { custosctl "$@" --datadir "$data"; }
	t=$(date +%s%N)
	id=$(ctl spend propose --to "$payee=0.001" --feerate 2 --repeat --json | sed -n 's/^  "id": *"\([^"]*\)".*/\1/p')
	record "$n" propose-first "$((($(date +%s%N) - t) / 1000000))" ms ""
	ctl spend cancel "$id" --reason "bench-scale" >/dev/null
	t=$(date +%s%N)
	ctl spend show P000001 --json >/dev/null
	record "$n" getproposal-first "$((($(date +%s%N) - t) / 1000000))" ms ""
	t=$(date +%s%N)
	ctl status --json >/dev/null
	record "$n" status-cli "$((($(date +%s%N) - t) / 1000000))" ms ""

	lines="$out/loadrpc-$n.tsv"
	loadrpc -datadir "$data" -clients "$clients" -duration "$duration" -proposal P000001 -tsv "$lines" \
		-phases GetStatus,GetBalance,ListUtxos,ListProposals,GetProposal | tee "$out/loadrpc-$n.txt"
	loadrpc -datadir "$data" -clients 1 -duration "$duration" -pay "$payee" -tsv "$lines" \
		-phases ProposeSpend+CancelProposal | tee -a "$out/loadrpc-$n.txt"
	# Each loadrpc run starts with its own baseline: the reads' ratios are
	# to the CLIENTS one (the first line), propose's to the 1-client p50.
	awk -F'\t' -v n="$n" '
		NR == 1 { base_rate = $4; base_p99 = $6; next }
		$1 ~ /baseline/ { one_p50 = $5; next }
		$1 == "ProposeSpend+CancelProposal" {
			printf "%s\tpropose-p50\t%s\tms\t%.2f\n", n, $5, $5 / one_p50; next
		}
		{
			printf "%s\t%s-rate\t%s\treq/s\t%.2f\n", n, $1, $4, $4 / base_rate
			printf "%s\t%s-p99\t%s\tms\t%.2f\n", n, $1, $6, $6 / base_p99
		}
		END { printf "%s\tbaseline-rate\t%s\treq/s\t1\n%s\tbaseline-p99\t%s\tms\t1\n", n, base_rate, n, base_p99 }
	' "$lines" >>"$results"
	awk -F'\t' -v f="$out/loadrpc-$n.txt" '$3 > 0 { print $1 ": " $3 " calls failed, see " f > "/dev/stderr" }' "$lines"
	read -r now peak anon < <(benchscale rss "$custosd_pid")
	record "$n" rss-after-load "$now" MB ""
	record "$n" heap-after-load "$anon" MB ""
	record "$n" rss-peak "$peak" MB ""
	stop "$custosd_pid"
	stop "$node_pid"
done

step "cost against size (raw numbers: $results)"
awk -F'\t' '
	NR == 1 { next }
	!($2 in seen) { seen[$2] = 1; ops[++nops] = $2; unit[$2] = $4 }
	!($1 in seensize) { seensize[$1] = 1; sizes[++nsizes] = $1 }
	{ v[$2, $1] = $3; r[$2, $1] = $5 }
	END {
		printf "%-22s %6s", "operation", "unit"
		for (j = 1; j <= nsizes; j++) printf " %20s", sizes[j] " coins"
		printf "   %s\n", "largest/smallest"
		for (i = 1; i <= nops; i++) {
			o = ops[i]
			printf "%-22s %6s", o, unit[o]
			for (j = 1; j <= nsizes; j++) {
				cell = v[o, sizes[j]]
				if (r[o, sizes[j]] != "") cell = cell " (" r[o, sizes[j]] "x)"
				printf " %20s", cell
			}
			first = v[o, sizes[1]]; last = v[o, sizes[nsizes]]
			printf "   %.2f\n", (first > 0 ? last / first : 0)
		}
	}' "$results" | tee "$out/table.txt"
echo "(x): ratio to the same run's empty health check: at $clients clients its calls/s or p99; propose-p50 to its p50 at 1 client"

step "drawing docs/scale.png"
plot_data() { awk -F'\t' -v op="$1" '$2 == op { print $1, $3 }' "$results"; }
for op in start-serving start-synced start-keys GetStatus-p99 GetBalance-p99 ListUtxos-p99 ListProposals-p99 GetProposal-p99 \
	propose-p50 propose-first getproposal-first status-cli baseline-p99 GetStatus-rate GetBalance-rate ListUtxos-rate ListProposals-rate baseline-rate \
	rss-start rss-keys heap-keys rss-peak heap-after-load; do
	plot_data "$op" >"$out/$op.dat"
done
gnuplot <<GNUPLOT
set terminal pngcairo size 1500,760 font ",10"
set output "$root/docs/scale.png"
set multiplot layout 1,3 title "Custos at scale: cost against coins held (log-log; $clients clients over mTLS, 2 cores)"
set logscale xy
set xlabel "coins (addresses x2, proposals /5, audit entries x20)"
set key outside below left Left reverse font ",9" maxrows 6
set xrange [700:70000]
set xtics ("10^3" 1000, "10^4" 10000, "5x10^4" 50000)
set grid
set title "time (ms)"
plot "$out/start-serving.dat" w lp t "start to serving", "$out/start-synced.dat" w lp t "start to synced", \
	"$out/start-keys.dat" w lp t "start to every address's keys", \
	"$out/propose-p50.dat" w lp t "ProposeSpend p50 (1 client)", "$out/propose-first.dat" w lp t "first spend propose (CLI)", \
	"$out/getproposal-first.dat" w lp t "first spend show (CLI)", "$out/status-cli.dat" w lp dt 2 t "status (CLI, baseline)", \
	"$out/GetStatus-p99.dat" w lp t "GetStatus p99", \
	"$out/GetBalance-p99.dat" w lp t "GetBalance p99", "$out/ListUtxos-p99.dat" w lp t "ListUtxos page p99", \
	"$out/ListProposals-p99.dat" w lp t "ListProposals page p99", "$out/GetProposal-p99.dat" w lp t "GetProposal p99", \
	"$out/baseline-p99.dat" w lp dt 2 t "health check p99 (baseline)"
set title "throughput (req/s)"
plot "$out/GetStatus-rate.dat" w lp t "GetStatus", "$out/GetBalance-rate.dat" w lp t "GetBalance", \
	"$out/ListUtxos-rate.dat" w lp t "ListUtxos page", "$out/ListProposals-rate.dat" w lp t "ListProposals page", \
	"$out/baseline-rate.dat" w lp dt 2 t "health check (baseline)"
set title "resident memory (MB)"
plot "$out/rss-start.dat" w lp t "synced", "$out/rss-keys.dat" w lp t "every address's keys loaded", \
	"$out/heap-keys.dat" w lp dt 2 t "  of it anonymous (heap)", "$out/rss-peak.dat" w lp t "peak, after the load", \
	"$out/heap-after-load.dat" w lp dt 2 t "  anonymous after the load"
unset multiplot
GNUPLOT
echo "docs/scale.png written; raw numbers in $out (results.tsv, loadrpc-*.txt, custosd-*.log)"
