#!/usr/bin/env bash
# Installs the project's pinned tools into .bin/ with `go install` and
# prints nothing on success. Source it or run it; every other script calls it.
# Versions live here and nowhere else.
set -euo pipefail

BTCD_VERSION=v0.26.2
BUF_VERSION=v1.50.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/.bin"
mkdir -p "$bin"

# install NAME PACKAGE VERSION: go install PACKAGE@VERSION unless .bin/NAME
# already is that version (a stamp file records what was installed).
install() {
	local name=$1 pkg=$2 version=$3
	local stamp="$bin/.$name.version"
	if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
		return 0
	fi
	echo "installing $pkg@$version" >&2
	GOBIN="$bin" go install "$pkg@$version"
	echo "$version" >"$stamp"
}

install btcd github.com/btcsuite/btcd "$BTCD_VERSION"
install btcctl github.com/btcsuite/btcd/cmd/btcctl "$BTCD_VERSION"
# CUSTOS_TOOLS=node installs only the regtest node (what the demo needs).
if [[ "${CUSTOS_TOOLS:-all}" == all ]]; then
	install buf github.com/bufbuild/buf/cmd/buf "$BUF_VERSION"
	install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
	install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
fi
