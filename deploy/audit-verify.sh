#!/usr/bin/env bash
# The auditors' periodic check of custosd's audit log, for the alerts
# CustosAuditVerifyFailing and CustosAuditVerifyStale (custos-alerts.yml):
# exports the log with an auditor identity, verifies it offline against the
# pinned log key and the ministries' witness keys, and writes the result
# for node_exporter's textfile collector. Run it from the auditor's own
# machine (cron or a systemd timer), not from custosd's host: the point is
# a check custosd cannot answer for itself.
#
# Environment:
#   CUSTOS_LOG_KEY       the log key pinned at the key ceremony
#   CUSTOS_WITNESS_KEYS  the ministries' witness keys, space-separated
#   CUSTOS_WITNESSES     how many of them must vouch (default: all)
#   TEXTFILE_DIR         node_exporter's --collector.textfile.directory
#   CUSTOSCTL_FLAGS      --rpcserver, --cacert, --tlscert, --tlskey of the auditor
set -uo pipefail
: "${CUSTOS_LOG_KEY:?}" "${CUSTOS_WITNESS_KEYS:?}" "${TEXTFILE_DIR:?}"
read -r -a keys <<<"$CUSTOS_WITNESS_KEYS"
witnesses=()
for k in "${keys[@]}"; do witnesses+=(--witness "$k"); done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ok=0
# shellcheck disable=SC2086 # CUSTOSCTL_FLAGS is a list of flags
if custosctl audit export --out "$work/log.jsonl" $CUSTOSCTL_FLAGS >/dev/null &&
	custosctl audit verify "$work/log.jsonl" --log-key "$CUSTOS_LOG_KEY" "${witnesses[@]}" \
		--witnesses "${CUSTOS_WITNESSES:-${#keys[@]}}" >"$work/verify.out" 2>&1; then
	ok=1
else
	cat "$work/verify.out" >&2 2>/dev/null
fi
cat >"$work/custos_audit_verify.prom" <<PROM
# HELP custos_audit_verify_ok 1 when the last offline verification of the audit log passed.
# TYPE custos_audit_verify_ok gauge
custos_audit_verify_ok $ok
# HELP custos_audit_verify_last_run_timestamp_seconds When the audit log was last verified (pass or fail).
# TYPE custos_audit_verify_last_run_timestamp_seconds gauge
custos_audit_verify_last_run_timestamp_seconds $(date +%s)
PROM
# Renamed into place so node_exporter never reads half a file.
mv "$work/custos_audit_verify.prom" "$TEXTFILE_DIR/custos_audit_verify.prom.tmp" &&
	mv "$TEXTFILE_DIR/custos_audit_verify.prom.tmp" "$TEXTFILE_DIR/custos_audit_verify.prom"
[[ $ok == 1 ]]
