#!/usr/bin/env bash
# Builds the browser console: installs the pinned front-end dependencies
# (daemon/console/web/package-lock.json, no install scripts) and bundles
# web/src/main.js with esbuild into daemon/console/assets/app.js, next to
# app.css and index.html. The assets are committed and embedded by the
# daemon (go:embed), so a build needs no node; this script is how they are
# made, and it is deterministic: the same sources give the same bytes.
#
#   scripts/console-build.sh           rebuild daemon/console/assets/
#   scripts/console-build.sh --check   rebuild into a temporary directory,
#                                      fail naming each file that differs
#                                      from the committed assets, then run
#                                      the node tests (web/test/)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
web="$root/daemon/console/web"
assets="$root/daemon/console/assets"

check=false
case "${1:-}" in
"") ;;
--check) check=true ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

command -v node >/dev/null || { echo "console-build: node is not installed (node 20 or later)" >&2; exit 1; }
command -v npm >/dev/null || { echo "console-build: npm is not installed" >&2; exit 1; }

cd "$web"
# --ignore-scripts: no package runs code at install. esbuild's binary comes
# as the optional dependency @esbuild/<platform>, which needs no script.
# Reinstall only when the lock file changed since the last install.
if ! cmp -s package-lock.json node_modules/.custos-installed-lock.json 2>/dev/null; then
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	cp package-lock.json node_modules/.custos-installed-lock.json
fi
esbuild="$web/node_modules/.bin/esbuild"

out="$assets"
if $check; then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

# Licences of the bundled packages are kept, at the end of app.js.
"$esbuild" src/main.js --bundle --minify --format=esm --target=es2020 \
	--legal-comments=eof --charset=utf8 --log-level=warning --outfile="$out/app.js"
cp src/app.css "$out/app.css"
cp index.html "$out/index.html"

if $check; then
	status=0
	for f in index.html app.js app.css; do
		if ! cmp -s "$out/$f" "$assets/$f"; then
			echo "console-build: daemon/console/assets/$f differs from what the sources build: run scripts/console-build.sh" >&2
			status=1
		fi
	done
	extra=$(cd "$assets" && ls | grep -vxE 'index.html|app.js|app.css' || true)
	if [[ -n "$extra" ]]; then
		echo "console-build: daemon/console/assets/ holds files the build does not make: $extra" >&2
		status=1
	fi
	[[ $status == 0 ]] || exit 1
fi

js=$(gzip -9n <"$out/app.js" | wc -c)
css=$(gzip -9n <"$out/app.css" | wc -c)
echo "console-build: app.js $(wc -c <"$out/app.js") bytes, app.css $(wc -c <"$out/app.css") bytes; gzip $js + $css = $((js + css)) bytes (budget 300 KB)"

if $check; then
	node --test test/
fi
