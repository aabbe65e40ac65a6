#!/usr/bin/env bash
# Writes the store fixture of a release: builds custosd, custosctl and
# custos-signer of REV (a commit or tag, from `git archive`, so the work
# tree may hold anything), runs a demo-like flow on regtest btcd that leaves
# every kind of record in the store, stops custosd and writes
#   store/testdata/store-REV.db.gz   the bbolt file, gzipped
#   store/testdata/store-REV.json    what the flow made: the log key, the
#                                    witness keys, each proposal's state,
#                                    the identities, the audit size
# store/upgrade_test.go opens every such pair with the current code
# (docs/operating.md, "Upgrading": each release adds its own).
#
#   scripts/store-fixture.sh 84852d5
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rev=${1:?usage: scripts/store-fixture.sh REV (a commit or tag)}
short=$(git rev-parse --short=7 "$rev^{commit}")

CUSTOS_TOOLS=node "$root/scripts/tools.sh"
name=fixture
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"

step "building $short's custosd, custosctl and custos-signer"
mkdir -p "$work/src" "$work/bin"
git archive "$short" | tar -x -C "$work/src"
(cd "$work/src" && go build -o "$work/bin/" ./cmd/custosd ./cmd/custosctl ./cmd/custos-signer)
export PATH="$work/bin:$root/.bin:$PATH"

ctl() { custosctl "$@" --datadir "$work/custosd"; }
field() { sed -n "s/^  \"$1\": *\"\\([^\"]*\\)\".*/\\1/p"; }

step "custosd with a sealed CA (so identities are issued over the API too)"
echo "fixture CA passphrase" >"$work/ca.pass"
start_custosd "$work/custosd" "$work/custosd.log" --confirmations 1 --ca-passphrase-file "$work/ca.pass"
custosd_pid=${pids[-1]}
wait_addr "$work/custosd"

step "three ministries, the wallet, three officers"
export CUSTOS_SIGNER_PASSPHRASE="fixture passphrase, not a secret"
export CUSTOS_OFFICER_PASSPHRASE="fixture officer passphrase, not a secret"
records=()
for ministry in finance interior defence; do
	out=$(custos-signer init --datadir "$work/signer-$ministry" --network regtest --json)
	records+=(--cosigner "$(sed -n 's/.*"key_record": *"\([^"]*\)".*/\1/p' <<<"$out")")
done
ctl wallet create --name "fixture reserve" --threshold 2 "${records[@]}" >/dev/null
descriptor=$(ctl wallet show --json | sed -n 's/.*"descriptor": *"\([^"]*\)".*/\1/p')
declare -A officer_key
for officer in alice bob carol; do
	officer_key[$officer]=$(custosctl officer keygen --out "$work/$officer.officer" --json | field public_key)
	custosd issue-cert --datadir "$work/custosd" --name "$officer" --role officer --out "$work/officers" \
		--ca-passphrase-file "$work/ca.pass" >/dev/null
done
as_officer() {
	local officer=$1
	shift
	custosctl "$@" --datadir "$work/custosd" --tlscert "$work/officers/$officer.pem" --tlskey "$work/officers/$officer.key" \
		--key "$work/$officer.officer" --yes
}
wait_state() {
	local state
	for _ in $(seq "$3"); do
		state=$(ctl spend show "$1" --json | field state)
		[[ "$state" == "$2" ]] && return 0
		sleep 0.2
	done
	echo "proposal $1 is $state, not $2" >&2
	return 1
}

step "identities issued over the API, one revoked"
ctl identity issue --role auditor --name audrey --out "$work/ids" >/dev/null
ctl identity issue --role officer --name dave --out "$work/ids" >/dev/null
ctl identity revoke dave --reason "left the ministry" >/dev/null

step "the policy, the log key, the ministries register"
supplier=bcrt1qpu3a4qrgmeav4zwjkxulszu73yuh336ese0tuu
creditor=bcrt1qupdn36tg8pn7mx4k42agwl5hvyttzm7ugmf4vp
cat >"$work/policy.yaml" <<YAML
version: 1
officers:
  - {id: alice, name: Alice Moreau, key: ${officer_key[alice]}}
  - {id: bob, name: Bob Okafor, key: ${officer_key[bob]}}
  - {id: carol, name: Carol Lindqvist, key: ${officer_key[carol]}}
tiers:
  - {up_to: "1", approvals: 2, cool_off: 0s}
  - {up_to: "100", approvals: 3, cool_off: 2s}
  - {up_to: unlimited, approvals: all, cool_off: 24h}
velocity: {per_24h: "150", per_30d: "1000"}
allowlist:
  unlisted: extra_approval
  add_delay: 48h
  entries:
    - {address: $supplier, label: Supplier, added: 2026-01-01T00:00:00Z}
    - {address: $creditor, label: Creditor, added: 2026-01-01T00:00:00Z}
fees: {max_fee: "0.01", max_fee_rate: 1000}
proposal_expiry: 168h
unfreeze_approvals: 2
YAML
ctl policy set "$work/policy.yaml" >/dev/null
ctl policy show --out "$work/pinned-policy.yaml" >/dev/null
log_key=$(ctl audit checkpoint --json | field log_key)
for ministry in finance interior defence; do
	custos-signer register --datadir "$work/signer-$ministry" --descriptor "$descriptor" --policy "$work/pinned-policy.yaml" \
		--log-key "$log_key" >/dev/null
done

step "addresses, mining 110 blocks to the reserve (11 mature coins)"
address=$(ctl address new --label "block rewards" | sed -n 1p)
ctl address new --label "customs" >/dev/null
start_btcd "$address"
btcctl generate 110 >/dev/null
ctl status --wait --timeout 60s >/dev/null

step "a freeze and its lifting"
as_officer alice freeze --reason "fixture drill" >/dev/null
as_officer alice unfreeze >/dev/null
as_officer bob unfreeze >/dev/null

propose() { ctl spend propose "$@" --feerate 4 --json | field id; }

step "P1: approved, cool-off, signed by two ministries, broadcast, CONFIRMED"
p1=$(propose --to "$supplier=60" --to "$creditor=25.5" --memo "invoice 1")
for officer in alice bob carol; do as_officer "$officer" spend approve "$p1" >/dev/null; done
wait_state "$p1" SIGNING 100
ctl spend export "$p1" --out "$work/p1.psbt" >/dev/null
for ministry in finance defence; do
	custos-signer sign --datadir "$work/signer-$ministry" --in "$work/p1.psbt" --out "$work/p1.$ministry.psbt" --yes >/dev/null
	ctl spend import "$p1" "$work/p1.$ministry.psbt" >/dev/null
done
btcctl generate 1 >/dev/null
wait_state "$p1" CONFIRMED 100

step "P2: SIGNING with one signature; P3: REJECTED; P4: CANCELED; P5: PENDING_APPROVAL with one approval"
p2=$(propose --to "$supplier=0.5" --memo "invoice 2")
as_officer alice spend approve "$p2" >/dev/null
as_officer bob spend approve "$p2" >/dev/null
wait_state "$p2" SIGNING 100
ctl spend export "$p2" --out "$work/p2.psbt" >/dev/null
custos-signer sign --datadir "$work/signer-interior" --in "$work/p2.psbt" --out "$work/p2.interior.psbt" --yes >/dev/null
ctl spend import "$p2" "$work/p2.interior.psbt" >/dev/null
p3=$(propose --to "$creditor=0.25" --memo "invoice 3")
as_officer carol spend reject "$p3" >/dev/null
p4=$(propose --to "$supplier=0.3" --memo "invoice 4")
ctl spend cancel "$p4" --reason "entered twice" >/dev/null
p5=$(propose --to "$creditor=0.2" --memo "invoice 5")
as_officer alice spend approve "$p5" >/dev/null
ctl status --wait --timeout 60s >/dev/null

step "what the store holds"
size=$(ctl audit checkpoint --json | sed -n 's/^  "checkpoint": *"[^\\]*\\n\([0-9]*\)\\n.*/\1/p')
witness_keys=()
for ministry in finance interior defence; do
	witness_keys+=("$(custos-signer witness-key --datadir "$work/signer-$ministry" --json | field witness_key)")
done
proposals=""
for id in "$p1" "$p2" "$p3" "$p4" "$p5"; do
	proposals+="${proposals:+, }\"$id\": \"$(ctl spend show "$id" --json | field state)\""
done
identities=$(ctl identity list --json | sed -n 's/^    "name": *"\([^"]*\)".*/"\1"/p' | paste -sd, | sed 's/,/, /g')
utxos=$(ctl utxos --json | grep -c '"txid"' || true)

step "stopping custosd; writing store/testdata/store-$short.*"
kill -TERM "$custosd_pid"
wait "$custosd_pid" || true
mkdir -p store/testdata
gzip -9 -n <"$work/custosd/custos.db" >"store/testdata/store-$short.db.gz"
cat >"store/testdata/store-$short.json" <<JSON
{
  "revision": "$short",
  "network": "regtest",
  "made_by": "scripts/store-fixture.sh $short",
  "log_key": "$log_key",
  "audit_size": $size,
  "witness_keys": ["${witness_keys[0]}", "${witness_keys[1]}", "${witness_keys[2]}"],
  "proposals": {$proposals},
  "identities": [$identities],
  "utxos": $utxos
}
JSON
cat "store/testdata/store-$short.json"
ls -l "store/testdata/store-$short.db.gz"
