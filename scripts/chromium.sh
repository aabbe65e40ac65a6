#!/usr/bin/env bash
# Makes sure a headless Chromium is there for the console's browser tests
# (itest/console_test.go): Debian's `chromium` package at /usr/bin/chromium,
# or whatever $CHROMIUM names. Prints nothing when it is already there.
# Installs it with apt-get when run as root; otherwise says what to run and
# exits 1. Run it (do not source it); scripts/test.sh calls it.
#
#   scripts/chromium.sh
set -euo pipefail

chromium=${CHROMIUM:-/usr/bin/chromium}
if [[ -x "$chromium" ]]; then
	exit 0
fi
if [[ -n "${CHROMIUM:-}" ]]; then
	echo "chromium.sh: \$CHROMIUM=$CHROMIUM is not an executable file" >&2
	exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
	cat >&2 <<'EOF'
chromium.sh: /usr/bin/chromium is missing and this is not root, so it cannot be installed here.
Install Debian's chromium package as root:
    sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium
or point CHROMIUM at a Chromium or Chrome binary:
    CHROMIUM=/path/to/chromium scripts/test.sh
EOF
	exit 1
fi
if ! command -v apt-get >/dev/null; then
	echo "chromium.sh: /usr/bin/chromium is missing and there is no apt-get; install Chromium and set CHROMIUM to its path" >&2
	exit 1
fi
echo "installing Debian's chromium package (for the console's browser tests)" >&2
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp "${TMPDIR:-/tmp}/chromium-install.XXXXXX")
trap 'rm -f "$log"' EXIT
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends chromium; } >"$log" 2>&1; then
	tail -n 20 "$log" >&2
	echo "chromium.sh: apt-get could not install chromium (log above)" >&2
	exit 1
fi
if [[ ! -x /usr/bin/chromium ]]; then
	echo "chromium.sh: apt-get finished but /usr/bin/chromium is not there" >&2
	exit 1
fi
