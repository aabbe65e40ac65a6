#!/usr/bin/env bash
# Measures issue 15's "the 950-input spend end to end through the CLIs":
# Custos's pipeline, each step a fresh process as an operator runs it
#   spend propose → 2 officers `spend approve` (sealed officer keys)
#   → spend export → 2 × `custos-signer sign` → 2 × `spend import`
#   → custosd finalizes and broadcasts (waited for with `spend show`)
# and, where BITCOIND names a bitcoind binary (say
# /work/corebuild/src/build/bin/bitcoind; never committed), Bitcoin Core's
# wallet doing the same 2-of-3 pipeline on its own regtest datadir with
# the same 950-coin shape, in the same run. It prints each step's wall
# time and the totals; Custos's deliberate key-unlock KDF time (argon2id,
# t=3, 64 MiB: two officer keys and two signer keys), which an unencrypted
# Core wallet does not have, is measured inside the processes
# (CUSTOS_TIMING=1 makes custosctl and custos-signer print their phases on
# stderr) and reported apart. Goal: Custos, KDF excluded, at most half of
# Core's total.
#
# The coins: 1049 block rewards to one reserve address (regtest halves
# every 150 blocks, so they are of several sizes), of which the first 950
# are mature (coinbase maturity: 100 blocks), and a payment of those 950
# less 0.1 BTC (btcd forgets a regtest chain mined by `generate` when it
# is restarted, so the rewards cannot go elsewhere after the first 950),
# so that both wallets must spend all 950 (some 397,000 weight units: the
# largest 2-of-3 P2WSH spend that is standard). Both wallets put every
# input's previous transaction in the PSBT.
#
# Bitcoin Core's side, as run below (wallet "ca" holds cosigner 1's
# private key, "cb" cosigner 2's, both the whole 2-of-3 descriptor; PSBTs
# of ~1 MB go through -stdin, as no single argument may exceed 128 KiB):
#   bitcoin-cli createwallet k1 (k2, k3); listdescriptors true  -> tprv1..3
#   bitcoin-cli getdescriptorinfo "pk(tprvN)"                   -> tpubN
#   bitcoin-cli -named createwallet wallet_name=ca blank=true
#   bitcoin-cli -rpcwallet=ca importdescriptors '[{"desc":"wsh(sortedmulti(2,tprv1/0/*,tpub2/0/*,tpub3/0/*))#…",
#       "active":true,"internal":false,"timestamp":"now","range":[0,999]}, {… /1/* …,"internal":true}]'
#   (cb the same with tprv2)
#   bitcoin-cli generatetoaddress 1050 <ca address>   (the wallet waits 101 confirmations)
#   timed:
#   bitcoin-cli -rpcwallet=ca -named walletcreatefundedpsbt outputs='[{"<payee>":<amount>}]' \
#       options='{"fee_rate":1,"subtractFeeFromOutputs":[0]}'
#     (the fee from the payment: without it this v31.99 build fails the
#     950-input funding with "Internal bug detected: Fee needed > fee paid",
#     wallet/spend.cpp:1398; the shape is otherwise the same: 950 inputs,
#     payment and change)
#   bitcoin-cli -rpcwallet=ca -stdin walletprocesspsbt   <<< PSBT   -> A
#   bitcoin-cli -rpcwallet=cb -stdin walletprocesspsbt   <<< PSBT   -> B
#   bitcoin-cli -stdin combinepsbt                       <<< '["A","B"]'
#   bitcoin-cli -stdin finalizepsbt                      <<< COMBINED -> HEX
#   bitcoin-cli -stdin testmempoolaccept                 <<< '["HEX"]'
#   bitcoin-cli -stdin sendrawtransaction                <<< HEX
#
# Everything runs in a temporary directory; every process it starts is
# stopped on exit, failure or Ctrl-C (scripts/lib.sh). Exit status 3: the
# goal is not met (only when Core ran).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

coins=950
feerate=${FEERATE:-1}
# BENCH_ONLY=core skips Custos's side (to look at Core's alone).
bitcoind_bin=${BITCOIND:-}

CUSTOS_TOOLS=node "$root/scripts/tools.sh"
name=bench-pipeline
quiet_status=3
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"

# now_ms prints the wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# The steps' names and times, in the order run, per side.
declare -a custos_steps=() core_steps=()
declare -A custos_ms=() core_ms=()
# timed SIDE STEP CMD...: runs CMD with its stdout to $work/out, its stderr
# to $work/err (and custos timing lines to $work/timing), and records its
# wall time under SIDE's STEP.
timed() {
	local side=$1 label=$2 t0 t1
	shift 2
	t0=$(now_ms)
	if ! "$@" >"$work/out" 2>"$work/err"; then
		echo "$label failed:" >&2
		cat "$work/err" >&2
		return 1
	fi
	t1=$(now_ms)
	grep '^custos-timing:' "$work/err" >>"$work/timing" || true
	if [[ $side == custos ]]; then
		custos_steps+=("$label")
		custos_ms[$label]=$((t1 - t0))
	else
		core_steps+=("$label")
		core_ms[$label]=$((t1 - t0))
	fi
}

# The amount of all the coins less 0.1 BTC, in BTC: regtest's subsidy
# halves every 150 blocks.
total=0
for ((h = 1; h <= coins; h++)); do total=$((total + (5000000000 >> (h / 150)))); done
pay_sat=$((total - 10000000))
pay_btc=$(printf '%d.%08d' $((pay_sat / 100000000)) $((pay_sat % 100000000)))
payee=bcrt1qpu3a4qrgmeav4zwjkxulszu73yuh336ese0tuu

custos_total=0 kdf_ms=0
if [[ ${BENCH_ONLY:-} != core ]]; then
step "building custosd, custosctl and custos-signer"
mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/custosd ./cmd/custosctl ./cmd/custos-signer
export PATH="$work/bin:$root/.bin:$PATH"
ctl() { custosctl "$@" --datadir "$work/custosd"; }

step "a 2-of-3 reserve: three signers, three officers, a policy"
start_custosd "$work/custosd" "$work/custosd.log" --confirmations 1
wait_addr "$work/custosd"
export CUSTOS_SIGNER_PASSPHRASE="bench passphrase, never use one like it"
export CUSTOS_OFFICER_PASSPHRASE="officer bench passphrase, never use one like it"
records=()
for ministry in finance interior defence; do
	out=$(custos-signer init --datadir "$work/signer-$ministry" --network regtest --json)
	records+=(--cosigner "$(sed -n 's/.*"key_record": *"\([^"]*\)".*/\1/p' <<<"$out")")
done
ctl wallet create --name "bench reserve" --threshold 2 --birthday 0 "${records[@]}" >/dev/null
descriptor=$(ctl wallet show --json | sed -n 's/.*"descriptor": *"\([^"]*\)".*/\1/p')
declare -A officer_key
for officer in alice bob carol; do
	out=$(custosctl officer keygen --out "$work/$officer.officer" --json)
	officer_key[$officer]=$(sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p' <<<"$out")
	custosd issue-cert --datadir "$work/custosd" --name "$officer" --role officer --out "$work/officers" >/dev/null
done
cat >"$work/policy.yaml" <<YAML
version: 1
officers:
  - id: alice
    name: Alice
    key: ${officer_key[alice]}
  - id: bob
    name: Bob
    key: ${officer_key[bob]}
  - id: carol
    name: Carol
    key: ${officer_key[carol]}
tiers:
  - up_to: unlimited
    approvals: 2
    cool_off: 0s
velocity:
  per_24h: "1000000"
  per_30d: "1000000"
allowlist:
  unlisted: extra_approval
  add_delay: 48h
  entries:
    - address: $payee
      label: Payee
      added: 2026-01-01T00:00:00Z
fees:
  max_fee: "0.01"
  max_fee_rate: 1000
proposal_expiry: 168h
unfreeze_approvals: 2
YAML
ctl policy set "$work/policy.yaml" >/dev/null
ctl policy show --out "$work/pinned-policy.yaml" >/dev/null
log_key=$(ctl audit checkpoint --json | sed -n 's/^  "log_key": *"\([^"]*\)".*/\1/p')
for ministry in finance interior defence; do
	custos-signer register --datadir "$work/signer-$ministry" --descriptor "$descriptor" \
		--policy "$work/pinned-policy.yaml" --log-key "$log_key" >/dev/null
done
address=$(ctl address new --label "block rewards" | sed -n 1p)

step "btcd --regtest: $((coins + 99)) block rewards to the reserve, the first $coins mature"
start_btcd "$address"
btcctl generate $((coins + 99)) >/dev/null
ctl status --wait --timeout 120s >/dev/null
confirmed_sat() { ctl balance --json | jq .confirmed_sat; }
for _ in $(seq 300); do
	(($(confirmed_sat) >= total)) && (($(ctl status --json | jq '.synced_height // 0') >= coins + 99)) && break
	sleep 0.2
done
(($(confirmed_sat) >= total)) || {
	echo "custosd sees $(confirmed_sat) sat, not $total" >&2
	ctl balance >&2
	ctl status >&2
	exit 2
}

as_officer() {
	local officer=$1
	shift
	custosctl "$@" --datadir "$work/custosd" --tlscert "$work/officers/$officer.pem" --tlskey "$work/officers/$officer.key" \
		--key "$work/$officer.officer" --yes
}

step "Custos: the $coins-input spend through the CLIs (timed)"
export CUSTOS_TIMING=1
: >"$work/timing"
timed custos "spend propose" ctl spend propose --to "$payee=$pay_btc" --feerate "$feerate" --memo "bench" --json
id=$(sed -n 's/^  "id": *"\([^"]*\)".*/\1/p' "$work/out")
inputs=$(jq '.inputs | length' "$work/out" 2>/dev/null || echo "?")
timed custos "spend approve (alice)" as_officer alice spend approve "$id" --json
timed custos "spend approve (bob)" as_officer bob spend approve "$id" --json
timed custos "spend export" ctl spend export "$id" --out "$work/$id.psbt"
for ministry in finance interior; do
	timed custos "custos-signer sign ($ministry)" custos-signer sign --datadir "$work/signer-$ministry" \
		--in "$work/$id.psbt" --out "$work/$id.$ministry.psbt" --yes
done
for ministry in finance interior; do
	timed custos "spend import ($ministry)" ctl spend import "$id" "$work/$id.$ministry.psbt" --json
done
# wait_broadcast: custosd finalizes and broadcasts once it has two
# signatures; the import may already say so.
wait_broadcast() {
	local state
	for _ in $(seq 500); do
		state=$(ctl spend show "$id" --json | sed -n 's/^  "state": *"\([^"]*\)".*/\1/p')
		[[ $state == BROADCAST || $state == CONFIRMED ]] && return 0
		sleep 0.01
	done
	echo "proposal $id is $state, not BROADCAST" >&2
	return 1
}
timed custos "finalize + broadcast (wait)" wait_broadcast
txid=$(ctl spend show "$id" --json | sed -n 's/^  "txid": *"\([^"]*\)".*/\1/p')
btcctl getrawmempool | grep -q "$txid" || { echo "$txid is not in btcd's mempool" >&2; exit 2; }
unset CUSTOS_TIMING
psbt_bytes=$(stat -c %s "$work/$id.psbt")
signed_bytes=$(stat -c %s "$work/$id.finance.psbt")
kdf_ms=$(awk '/^custos-timing: .*kdf/ { for (i = 1; i <= NF; i++) if ($i ~ /ms$/) { sub(/ms$/, "", $i); s += $i } } END { printf "%d", s }' "$work/timing")
echo "proposal $id: $inputs inputs, PSBT $psbt_bytes bytes, signed $signed_bytes bytes, txid $txid"
fi

if [[ -n $bitcoind_bin ]]; then
	step "Bitcoin Core ($bitcoind_bin): the same 2-of-3 shape on its own regtest datadir"
	cli_bin=$(dirname "$bitcoind_bin")/bitcoin-cli
	core_rpc=$(free_port)
	core_p2p=$(free_port)
	mkdir -p "$work/core"
	"$bitcoind_bin" -regtest -datadir="$work/core" -rpcport="$core_rpc" -port="$core_p2p" -listen=0 \
		-rpcuser=bench -rpcpassword=bench -fallbackfee=0.0001 -server -txindex=0 >"$work/bitcoind.log" 2>&1 &
	pids+=($!)
	cli() { "$cli_bin" -regtest -datadir="$work/core" -rpcport="$core_rpc" -rpcuser=bench -rpcpassword=bench "$@"; }
	for _ in $(seq 300); do cli getblockcount >/dev/null 2>&1 && break; sleep 0.2; done
	cli getblockcount >/dev/null || { grep -v 'thread \(start\|exit\)' "$work/bitcoind.log" | head -40 >&2; exit 2; }
	declare -a tprv=() tpub=()
	for k in 1 2 3; do
		cli createwallet "k$k" >/dev/null
		tprv[k]=$(cli -rpcwallet="k$k" listdescriptors true | grep -o 'tprv[1-9A-HJ-NP-Za-km-z]*' | head -1)
		tpub[k]=$(cli getdescriptorinfo "pk(${tprv[k]})" | jq -r .descriptor | sed 's/^pk(\(.*\))#.*/\1/')
	done
	# import WALLET KEYS: the 2-of-3 descriptor, receive and change, with KEYS.
	import() {
		local w=$1 keys=$2 recv change
		recv=$(cli getdescriptorinfo "wsh(sortedmulti(2,$keys))" | jq -r .checksum)
		change=$(cli getdescriptorinfo "wsh(sortedmulti(2,${keys//\/0\/\*/\/1\/\*}))" | jq -r .checksum)
		cli -named createwallet wallet_name="$w" blank=true >/dev/null
		cli -rpcwallet="$w" importdescriptors "[
			{\"desc\":\"wsh(sortedmulti(2,$keys))#$recv\",\"active\":true,\"internal\":false,\"timestamp\":\"now\",\"range\":[0,999]},
			{\"desc\":\"wsh(sortedmulti(2,${keys//\/0\/\*/\/1\/\*}))#$change\",\"active\":true,\"internal\":true,\"timestamp\":\"now\",\"range\":[0,999]}]" |
			jq -e 'all(.success)' >/dev/null
	}
	import ca "${tprv[1]}/0/*,${tpub[2]}/0/*,${tpub[3]}/0/*"
	import cb "${tpub[1]}/0/*,${tprv[2]}/0/*,${tpub[3]}/0/*"
	core_address=$(cli -rpcwallet=ca getnewaddress)
	# Core's wallet spends a block reward at 101 confirmations (custosd, as
	# consensus, at 100): one block more for the same 950 coins.
	cli generatetoaddress $((coins + 100)) "$core_address" >/dev/null
	for _ in $(seq 300); do
		[[ $(cli -rpcwallet=ca getbalances | jq '.mine.trusted * 100000000 | round') -ge $total &&
			$(cli -rpcwallet=cb getbalances | jq '.mine.trusted * 100000000 | round') -ge $total ]] && break
		sleep 0.2
	done

	step "Bitcoin Core: the $coins-input spend through bitcoin-cli (timed)"
	timed core "walletcreatefundedpsbt" cli -rpcwallet=ca -named walletcreatefundedpsbt \
		outputs="[{\"$payee\":$pay_btc}]" options="{\"fee_rate\":$feerate,\"subtractFeeFromOutputs\":[0]}"
	jq -r .psbt "$work/out" >"$work/core.psbt"
	timed core "walletprocesspsbt (ca)" cli -rpcwallet=ca -stdin walletprocesspsbt <"$work/core.psbt"
	jq -r .psbt "$work/out" >"$work/core.a.psbt"
	timed core "walletprocesspsbt (cb)" cli -rpcwallet=cb -stdin walletprocesspsbt <"$work/core.psbt"
	jq -r .psbt "$work/out" >"$work/core.b.psbt"
	printf '["%s","%s"]\n' "$(cat "$work/core.a.psbt")" "$(cat "$work/core.b.psbt")" >"$work/core.pair"
	timed core "combinepsbt" cli -stdin combinepsbt <"$work/core.pair"
	cp "$work/out" "$work/core.combined"
	timed core "finalizepsbt" cli -stdin finalizepsbt <"$work/core.combined"
	jq -r .hex "$work/out" >"$work/core.hex"
	printf '["%s"]\n' "$(cat "$work/core.hex")" >"$work/core.hexes"
	timed core "testmempoolaccept" cli -stdin testmempoolaccept <"$work/core.hexes"
	jq -e '.[0].allowed' "$work/out" >/dev/null || { cat "$work/out" >&2; exit 2; }
	timed core "sendrawtransaction" cli -stdin sendrawtransaction <"$work/core.hex"
	core_inputs=$(cli -stdin decoderawtransaction <"$work/core.hex" | jq '.vin | length' 2>/dev/null || echo "?")
	core_psbt_bytes=$(($(stat -c %s "$work/core.psbt") * 3 / 4))
	echo "Core: $core_inputs inputs, PSBT ~$core_psbt_bytes bytes (binary), txid $(cat "$work/out")"
fi

step "results (wall time per step, ms)"
sum() {
	local -n steps=$1 ms=$2
	local s=0 k
	for k in "${steps[@]}"; do s=$((s + ms[$k])); done
	echo "$s"
}
for k in "${custos_steps[@]:+${custos_steps[@]}}"; do printf '  custos  %-34s %6d\n' "$k" "${custos_ms[$k]}"; done
custos_total=$(sum custos_steps custos_ms)
printf '  custos  %-34s %6d\n' "TOTAL" "$custos_total"
printf '  custos  %-34s %6d\n' "  of which key-unlock KDF (4 unlocks)" "$kdf_ms"
printf '  custos  %-34s %6d\n' "TOTAL without the KDF" $((custos_total - kdf_ms))
sed 's/^custos-timing: /  phase   /' "$work/timing"
if [[ -n $bitcoind_bin ]]; then
	for k in "${core_steps[@]}"; do printf '  core    %-34s %6d\n' "$k" "${core_ms[$k]}"; done
	core_total=$(sum core_steps core_ms)
	printf '  core    %-34s %6d\n' "TOTAL" "$core_total"
	ratio=$(awk -v a=$((custos_total - kdf_ms)) -v b="$core_total" 'BEGIN { printf "%.2f", a / b }')
	echo "Custos (without the KDF) / Core: $ratio (goal: at most 0.50)"
	awk -v r="$ratio" 'BEGIN { exit !(r <= 0.5) }' || exit 3
fi
