#!/usr/bin/env bash
# The main job, on a fresh machine: a regtest btcd on loopback, custosd with
# its bbolt store, three ministries' signers, a 2-of-3 reserve wallet funded
# by mining, then a spend paying two external addresses: proposal, PSBT
# export, two ministries sign their files, import, broadcast, confirmation.
# Everything runs in a temporary directory and every process it starts is
# stopped on exit, failure or Ctrl-C (scripts/lib.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

CUSTOS_TOOLS=node "$root/scripts/tools.sh"
name=demo
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"

step "building custosd, custosctl and custos-signer"
mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/custosd ./cmd/custosctl ./cmd/custos-signer
export PATH="$work/bin:$root/.bin:$PATH"

ctl() { custosctl "$@" --datadir "$work/custosd"; }

step "starting custosd (regtest; it waits for the node)"
start_custosd "$work/custosd" "$work/custosd.log" --confirmations 1
wait_addr "$work/custosd"
echo "custosd listening on $(cat "$work/custosd/custosd.addr") with mutual TLS"

step "three ministries make their keys (each would do this on its own air-gapped machine)"
export CUSTOS_SIGNER_PASSPHRASE="demo passphrase, never use one like it"
records=()
for ministry in finance interior defence; do
	out=$(custos-signer init --datadir "$work/signer-$ministry" --network regtest --json)
	record=$(sed -n 's/.*"key_record": *"\([^"]*\)".*/\1/p' <<<"$out")
	echo "$ministry: $record"
	records+=(--cosigner "$record")
done

step "the admin creates the 2-of-3 reserve wallet"
ctl wallet create --name "sovereign reserve" --threshold 2 "${records[@]}"
descriptor=$(ctl wallet show --json | sed -n 's/.*"descriptor": *"\([^"]*\)".*/\1/p')

step "each ministry pins the descriptor and shows the first address to compare"
for ministry in finance interior defence; do
	custos-signer register --datadir "$work/signer-$ministry" --descriptor "$descriptor" | grep -i 'first'
done
ctl address list --all >"$work/addresses.txt"
echo "custosd's receive address 0: $(sed -n '2p' "$work/addresses.txt" | awk '{print $2}')"

step "an officer asks for a receive address"
address=$(ctl address new --label "block rewards")
echo "$address"

step "starting btcd --regtest, mining to the reserve"
btcd --regtest --datadir="$work/btcd" --logdir="$work/btcd" --notls \
	--rpclisten="127.0.0.1:$rpcport" --listen="127.0.0.1:$p2pport" --nolisten --nodnsseed \
	--rpcuser="$rpcuser" --rpcpass="$rpcpass" --miningaddr="$address" >"$work/btcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do btcctl getblockcount >/dev/null 2>&1 && break; sleep 0.2; done
btcctl generate 101 >/dev/null
echo "mined 101 blocks; height $(btcctl getblockcount)"

step "waiting for custosd to sync"
ctl status --wait --timeout 60s

step "the reserve's balance"
ctl balance
ctl utxos >"$work/utxos.txt"
sed -n '1,4p' "$work/utxos.txt"
echo "... $(($(wc -l <"$work/utxos.txt") - 1)) outputs: block rewards spendable after 100 confirmations, the rest immature"

# Two payees outside the reserve (regtest addresses of keys nobody here holds).
supplier=bcrt1qpu3a4qrgmeav4zwjkxulszu73yuh336ese0tuu
creditor=bcrt1qupdn36tg8pn7mx4k42agwl5hvyttzm7ugmf4vp

step "an officer proposes paying 60 BTC and 25.5 BTC"
proposal=$(ctl spend propose --to "$supplier=60" --to "$creditor=25.5" --feerate 4 --memo "invoice 2026-118" --json)
id=$(sed -n 's/^  "id": *"\([^"]*\)".*/\1/p' <<<"$proposal")
ctl spend show "$id"

step "the PSBT goes to the ministries on a file"
ctl spend export "$id" --out "$work/$id.psbt"

step "finance and defence check it on their own machines and sign"
for ministry in finance defence; do
	custos-signer sign --datadir "$work/signer-$ministry" --in "$work/$id.psbt" --out "$work/$id.$ministry.psbt" --yes
done

step "the signed files come back; with two signatures custosd finalizes and broadcasts"
ctl spend import "$id" "$work/$id.finance.psbt" >/dev/null
ctl spend import "$id" "$work/$id.defence.psbt" | grep -E 'signatures added|^state|^txid'

step "a block confirms it"
btcctl generate 1 >/dev/null
for _ in $(seq 100); do
	state=$(ctl spend show "$id" --json | sed -n 's/^  "state": *"\([^"]*\)".*/\1/p')
	[[ "$state" == CONFIRMED ]] && break
	sleep 0.2
done
[[ "$state" == CONFIRMED ]] || { echo "proposal $id is $state, not CONFIRMED" >&2; exit 1; }
shown=$(ctl spend show "$id" --json)
echo "confirmed txid: $(sed -n 's/^  "txid": *"\([^"]*\)".*/\1/p' <<<"$shown")"
echo "fee:            $(sed -n 's/^  "fee": *"\([^"]*\)".*/\1/p' <<<"$shown") BTC"
ctl status --wait --timeout 60s >/dev/null
step "the reserve's new balance"
ctl balance
