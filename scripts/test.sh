#!/usr/bin/env bash
# Runs every test Custos has: the import rules, the generated-code check,
# the console's asset check and JavaScript tests (node), go vet, the unit
# tests, and the integration tests against a real regtest node (btcd, installed pinned into .bin/; bitcoind instead when BITCOIND
# names its binary). The integration tests start and stop every process
# they need themselves.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

"$root/scripts/tools.sh"
# The console's browser tests drive Debian's headless Chromium.
"$root/scripts/chromium.sh"
export PATH="$root/.bin:$PATH"
export BTCD="$root/.bin/btcd"

echo "== import rules"
scripts/check-imports.sh
echo "== generated code matches the protos"
scripts/gen-proto.sh --check
echo "== the console's assets rebuild from their sources; its JavaScript tests"
scripts/console-build.sh --check
echo "== go vet"
go vet ./...
go vet -tags itest ./itest/
echo "== unit tests"
go test -count=1 -timeout 20m ./...
echo "== benchmark smoke (one iteration each: the measurements still run)"
go test -count=1 -run '^$' -bench '^BenchmarkSign950$' -benchtime 1x ./signer/agent/
echo "== integration tests (node: ${BITCOIND:-$BTCD})"
go test -count=1 -timeout 40m -tags itest -v ./itest/
