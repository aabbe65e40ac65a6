#!/usr/bin/env bash
# The main job, on a fresh machine: a regtest btcd on loopback, custosd with
# its bbolt store, three ministries' signers, three treasury officers with
# their approval keys, a 2-of-3 reserve wallet under a spending policy,
# funded by mining; then a spend paying two allowlisted addresses:
# proposal, the officers' approvals and cool-off, PSBT export, two
# ministries check the approvals and sign their files, import, broadcast,
# confirmation.
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

step "three treasury officers make their approval keys (each on their own machine)"
export CUSTOS_OFFICER_PASSPHRASE="officer demo passphrase, never use one like it"
declare -A officer_key
for officer in alice bob carol; do
	out=$(custosctl officer keygen --out "$work/$officer.officer" --json)
	officer_key[$officer]=$(sed -n 's/.*"public_key": *"\([^"]*\)".*/\1/p' <<<"$out")
	echo "$officer: ${officer_key[$officer]}"
	# The operator gives each officer a client certificate of the officer role.
	custosd issue-cert --datadir "$work/custosd" --name "$officer" --role officer --out "$work/officers"
done
as_officer() {
	local officer=$1
	shift
	custosctl "$@" --datadir "$work/custosd" --tlscert "$work/officers/$officer.pem" --tlskey "$work/officers/$officer.key" \
		--key "$work/$officer.officer" --yes
}

# wait_state ID STATE TRIES: polls proposal ID every 0.2 s, TRIES times at
# most, until it is in STATE.
wait_state() {
	local state
	for _ in $(seq "$3"); do
		state=$(ctl spend show "$1" --json | sed -n 's/^  "state": *"\([^"]*\)".*/\1/p')
		[[ "$state" == "$2" ]] && return 0
		sleep 0.2
	done
	echo "proposal $1 is $state, not $2" >&2
	return 1
}

# Two payees outside the reserve (regtest addresses of keys nobody here
# holds), on the policy's allowlist.
supplier=bcrt1qpu3a4qrgmeav4zwjkxulszu73yuh336ese0tuu
creditor=bcrt1qupdn36tg8pn7mx4k42agwl5hvyttzm7ugmf4vp

step "the admin sets the spending policy: 2 officers up to 1 BTC, all 3 and a 10 s cool-off up to 100 BTC"
cat >"$work/policy.yaml" <<YAML
version: 1
officers:
  - id: alice
    name: Alice Moreau
    key: ${officer_key[alice]}
  - id: bob
    name: Bob Okafor
    key: ${officer_key[bob]}
  - id: carol
    name: Carol Lindqvist
    key: ${officer_key[carol]}
tiers:
  - up_to: "1"
    approvals: 2
    cool_off: 0s
  - up_to: "100"
    approvals: 3
    cool_off: 10s
  - up_to: unlimited
    approvals: all
    cool_off: 24h
velocity:
  per_24h: "150"
  per_30d: "1000"
allowlist:
  unlisted: extra_approval
  add_delay: 48h
  entries:
    - address: $supplier
      label: Supplier
      added: 2026-01-01T00:00:00Z
    - address: $creditor
      label: Creditor
      added: 2026-01-01T00:00:00Z
fees:
  max_fee: "0.01"
  max_fee_rate: 1000
proposal_expiry: 168h
unfreeze_approvals: 2
YAML
ctl policy set "$work/policy.yaml" | sed -n 1p
ctl policy show --out "$work/pinned-policy.yaml" >/dev/null

step "the audit log's key, which the ministries pin to witness custosd's history"
log_key=$(ctl audit checkpoint --json | sed -n 's/^  "log_key": *"\([^"]*\)".*/\1/p')
echo "$log_key"

step "each ministry pins the descriptor, the policy and the log key, and shows the first address and the policy hash to compare"
for ministry in finance interior defence; do
	custos-signer register --datadir "$work/signer-$ministry" --descriptor "$descriptor" --policy "$work/pinned-policy.yaml" --log-key "$log_key" |
		grep -E '^First receive address|^policy [0-9a-f]{64}'
done
ctl address list --all >"$work/addresses.txt"
echo "custosd's receive address 0: $(sed -n '2p' "$work/addresses.txt" | awk '{print $3}')"

step "an officer asks for a receive address"
# The first line is the address; the next say its branch and index.
address=$(ctl address new --label "block rewards" | sed -n 1p)
echo "$address"

step "two ministries (M of the wallet) verify it offline against their pinned descriptor before it is published"
for ministry in finance interior; do
	custos-signer address verify "$address" --datadir "$work/signer-$ministry" | grep -E '^VERIFIED|^Branch'
done

step "starting btcd --regtest, mining to the reserve"
start_btcd "$address"
btcctl generate 101 >/dev/null
echo "mined 101 blocks; height $(btcctl getblockcount)"

step "waiting for custosd to sync"
ctl status --wait --timeout 60s

step "the reserve's balance"
ctl balance
ctl utxos >"$work/utxos.txt"
sed -n '1,4p' "$work/utxos.txt"
echo "... $(($(wc -l <"$work/utxos.txt") - 1)) outputs: block rewards spendable after 100 confirmations, the rest immature"

step "what paying 60 BTC and 25.5 BTC needs under the policy"
ctl policy check --to "$supplier=60" --to "$creditor=25.5"

step "an officer proposes it"
proposal=$(ctl spend propose --to "$supplier=60" --to "$creditor=25.5" --feerate 4 --memo "invoice 2026-118" --json)
id=$(sed -n 's/^  "id": *"\([^"]*\)".*/\1/p' <<<"$proposal")
ctl spend show "$id"

step "alice reads the intent and approves it with her key; then bob and carol"
as_officer alice spend approve "$id" | sed -n '1,/^decided/p'
as_officer bob spend approve "$id" >/dev/null
as_officer carol spend approve "$id" | grep -E '^(state|officers|release at)'

step "the cool-off: any officer could still veto; then custosd releases it to the signers"
wait_state "$id" SIGNING 150
echo "$id is SIGNING"

step "the PSBT, with the intent and the three approvals, goes to the ministries on a file"
ctl spend export "$id" --out "$work/$id.psbt"

step "finance and defence check it, and the officers' approvals, on their own machines and sign"
for ministry in finance defence; do
	custos-signer sign --datadir "$work/signer-$ministry" --in "$work/$id.psbt" --out "$work/$id.$ministry.psbt" --yes
done

step "the signed files come back; with two signatures custosd finalizes and broadcasts"
ctl spend import "$id" "$work/$id.finance.psbt" >/dev/null
ctl spend import "$id" "$work/$id.defence.psbt" | grep -E 'signatures added|^state|^txid'

step "a block confirms it"
btcctl generate 1 >/dev/null
wait_state "$id" CONFIRMED 100
shown=$(ctl spend show "$id" --json)
echo "confirmed txid: $(sed -n 's/^  "txid": *"\([^"]*\)".*/\1/p' <<<"$shown")"
echo "fee:            $(sed -n 's/^  "fee": *"\([^"]*\)".*/\1/p' <<<"$shown") BTC"
ctl status --wait --timeout 60s >/dev/null
step "the reserve's new balance"
ctl balance

step "an auditor exports the audit log and checks it offline: every entry, custosd's signature, and the two ministries that witnessed it"
ctl audit export --out "$work/audit.jsonl" >/dev/null
witnesses=()
for ministry in finance defence; do
	witnesses+=(--witness "$(custos-signer witness-key --datadir "$work/signer-$ministry" --json | sed -n 's/^  "witness_key": *"\([^"]*\)".*/\1/p')")
done
custosctl audit verify "$work/audit.jsonl" --log-key "$log_key" "${witnesses[@]}" --witnesses 2
