#!/usr/bin/env bash
# Fails when a package depends on one it must not (STYLE.md, "Import
# direction"). Dependencies are transitive: the signer must not reach grpc
# through anything.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
mod=github.com/custos-reserve/custos
status=0

# forbid PKG_PATTERN DEP_REGEX WHY: no package matching PKG_PATTERN may
# depend on an import path matching DEP_REGEX.
forbid() {
	local pattern=$1 dep=$2 why=$3
	local pkgs
	pkgs=$(go list "$mod/$pattern" 2>/dev/null) || return 0
	for pkg in $pkgs; do
		local bad
		bad=$(go list -deps "$pkg" | grep -E "$dep" | grep -vx "$pkg" || true)
		if [[ -n "$bad" ]]; then
			echo "check-imports: $pkg must not depend on $(echo "$bad" | tail -n 3 | tr "\n" " ")($why)" >&2
			status=1
		fi
	done
}

forbid "reserve/..." "^$mod/" "reserve imports nothing of ours"
forbid "durable/..." "^$mod/" "durable only writes and reads files"
forbid "failpoint/..." "^$mod/" "failpoints are named in one list and import nothing of ours"
forbid "multisig/..." "^$mod/(daemon|store|signer|proto|cmd)|^google.golang.org/grpc|^go.etcd.io/bbolt" "multisig is pure Bitcoin work"
forbid "audit/..." "^$mod/(daemon|store|signer|multisig|proto|cmd)|^google.golang.org/grpc|^go.etcd.io/bbolt" "the audit log's formats are shared by the daemon and the offline signer"
forbid "flagfile/..." "^$mod/(daemon|store|signer|multisig|audit|backup|proto|cmd)|^google.golang.org/grpc|^go.etcd.io/bbolt" "a config file is read into flags; it knows nothing of what they configure"
forbid "backup/..." "^$mod/(daemon|store|signer|multisig|proto|cmd)|^google.golang.org/grpc|^go.etcd.io/bbolt" "the backup file format is read by custosd restore and written by the daemon"
forbid "store/..." "^$mod/(daemon|signer|proto|cmd)|^google.golang.org/grpc" "store persists domain records only"
forbid "daemon/..." "^$mod/(signer|store|cmd)" "the daemon holds no keys and gets its store injected"
forbid "signer" "^$mod/(daemon|store|proto|cmd)|^google.golang.org/grpc|^go.etcd.io/bbolt" "a ministry runs the signer offline"
forbid "seal/..." "^$mod/(multisig|daemon|store|signer|officer|passphrase|proto|cmd)|^google.golang.org/grpc|^go.etcd.io/bbolt" "seal is only the at-rest encryption"
forbid "passphrase/..." "^$mod/(multisig|daemon|store|signer|officer|proto|cmd)|^google.golang.org/grpc|^go.etcd.io/bbolt" "a passphrase source only reads a secret"
forbid "officer/..." "^$mod/(daemon|store|signer|multisig|proto|cmd)|^google.golang.org/grpc|^go.etcd.io/bbolt" "an officer's key needs nothing but the intent"
forbid "signer/agent/..." "^$mod/(daemon|store|cmd)|^go.etcd.io/bbolt" "the signer agent never reaches into the daemon"
forbid "cmd/custosctl" "^$mod/signer" "the officers' CLI does not link the ministry signer: the policy chain file is reserve's, the passphrase prompt is package passphrase"
forbid "proto/..." "^$mod/(reserve|multisig|store|daemon|signer|cmd)" "generated code depends on nothing of ours"

# Proto types stop at the daemon's rpc_*.go files. A file elsewhere may
# name methods (custosv1.X_Y_FullMethodName: strings, for the one role
# table and the limits table) and nothing else of the generated package.
# Untracked files count too, so a new file is checked before it is added.
for f in $(git ls-files --cached --others --exclude-standard 'daemon/*.go' 'daemon/**/*.go' 2>/dev/null || true); do
	case "$(basename "$f")" in
	rpc_*.go | auth.go | daemon.go | *_test.go) continue ;;
	esac
	if grep -q '"github.com/custos-reserve/custos/proto/custos/v1"' "$f" &&
		grep -o 'custosv1\.[A-Za-z0-9_]*' "$f" | grep -qv '_FullMethodName$'; then
		echo "check-imports: $f uses proto types; convert in daemon/rpc_*.go" >&2
		status=1
	fi
done
exit $status
