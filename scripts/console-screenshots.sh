#!/usr/bin/env bash
# Refreshes the console's screenshots in docs/console/ (shown in the
# README): runs the console's browser tests (itest/console_test.go) with
# CUSTOS_SCREENSHOTS_DIR set, so each view they visit — login, reserve,
# proposals, a proposal with its intent review, addresses with a QR code,
# policy, audit with a verified result, a refusal — is written there as
# NAME.png. The tests check every screenshot is a non-empty PNG whether
# or not this variable is set. Needs Chromium (scripts/chromium.sh).
#
#   scripts/console-screenshots.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
"$root/scripts/tools.sh"
"$root/scripts/chromium.sh"
export PATH="$root/.bin:$PATH"
export BTCD="$root/.bin/btcd"

out="$root/docs/console"
mkdir -p "$out"
CUSTOS_SCREENSHOTS_DIR="$out" go test -count=1 -timeout 20m -tags itest -run 'TestIntegration/Console:' ./itest/
echo "screenshots in docs/console/:"
ls -1 "$out"/*.png
