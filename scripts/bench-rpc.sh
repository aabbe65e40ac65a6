#!/usr/bin/env bash
# Measures issue 11, "Speed": RPCs per second and p50/p99 of a real custosd
# over mutual TLS on loopback with CLIENTS concurrent clients (default 50),
# each phase DURATION long (default 5s):
#   baseline   an empty gRPC health check, so every figure is also a ratio;
#   reads      GetStatus, GetBalance, ListUtxos, ListProposals, GetProposal;
#   changes    NewAddress, and ProposeSpend + CancelProposal pairs.
# The reserve is a 2-of-3 regtest wallet under a one-officer policy, funded
# by BLOCKS (default 300) blocks mined to it by a regtest btcd (some 200
# spendable coins); custosd runs with --rpc.rate 0 (no per-identity rate
# limit: one admin identity makes all the calls). The measurement itself
# is scripts/loadrpc. Everything runs in a temporary directory; every
# process it starts is stopped on exit, failure or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

clients=${CLIENTS:-50}
duration=${DURATION:-5s}
blocks=${BLOCKS:-300}

CUSTOS_TOOLS=node "$root/scripts/tools.sh"
name=bench-rpc
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"

step "building custosd, custosctl, custos-signer and loadrpc"
mkdir -p "$work/bin"
go build -o "$work/bin/" ./cmd/custosd ./cmd/custosctl ./cmd/custos-signer ./scripts/loadrpc
export PATH="$work/bin:$root/.bin:$PATH"
ctl() { custosctl "$@" --datadir "$work/custosd"; }

step "starting custosd without a per-identity rate limit"
start_custosd "$work/custosd" "$work/custosd.log" --rpc.rate 0
wait_addr "$work/custosd"

step "a 2-of-3 reserve and a one-officer policy"
export CUSTOS_SIGNER_PASSPHRASE="bench passphrase, never use one like it"
records=()
for ministry in finance interior defence; do
	out=$(custos-signer init --datadir "$work/signer-$ministry" --network regtest --json)
	records+=(--cosigner "$(sed -n 's/.*"key_record": *"\([^"]*\)".*/\1/p' <<<"$out")")
done
ctl wallet create --name "bench reserve" --threshold 2 "${records[@]}" >/dev/null
export CUSTOS_OFFICER_PASSPHRASE="officer bench passphrase, never use one like it"
officer_key=$(custosctl officer keygen --out "$work/alice.officer" --json | sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p')
payee=bcrt1qpu3a4qrgmeav4zwjkxulszu73yuh336ese0tuu
cat >"$work/policy.yaml" <<YAML
version: 1
officers:
  - id: alice
    name: Alice Moreau
    key: $officer_key
tiers:
  - up_to: unlimited
    approvals: 1
    cool_off: 0s
velocity:
  per_24h: "1000000"
  per_30d: "1000000"
allowlist:
  unlisted: extra_approval
  add_delay: 48h
  entries:
    - address: $payee
      label: Supplier
      added: 2026-01-01T00:00:00Z
fees:
  max_fee: "0.01"
  max_fee_rate: 1000
proposal_expiry: 168h
unfreeze_approvals: 1
YAML
ctl policy set "$work/policy.yaml" >/dev/null
address=$(ctl address new --label "block rewards" | sed -n 1p)

step "starting btcd --regtest and mining $blocks blocks to the reserve"
start_btcd "$address"
left=$blocks
while ((left > 0)); do
	chunk=$((left < 100 ? left : 100))
	btcctl generate "$chunk" >/dev/null
	left=$((left - chunk))
done
ctl status --wait --timeout 120s >/dev/null
ctl balance | sed -n 1,3p

step "one open proposal for GetProposal"
proposal=$(ctl spend propose --to "$payee=0.5" --feerate 2 --memo "bench" --json)
id=$(sed -n 's/^  "id": *"\([^"]*\)".*/\1/p' <<<"$proposal")
echo "proposal $id"

step "load: $clients clients, $duration per phase"
loadrpc -datadir "$work/custosd" -clients "$clients" -duration "$duration" -proposal "$id" -pay "$payee"
