#!/usr/bin/env bash
# Installs the local S3-compatible server for the state-backend tests: versitygw (a real S3 gateway
# over a posix directory), built from the Go module proxy into .tools/s3/bin (the only route on
# machines without internet). Idempotent: a cached build of the pinned version is reused.
# Cold on 2 cores: ~120 MB of modules (fewer when the Pulumi build already fetched the AWS SDK),
# ~1.5 min of compiling; prints progress while it builds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VERSITYGW_VERSION=${VERSITYGW_VERSION:-1.8.0}
bin="$here/.tools/s3/bin"
src="$here/.tools/s3-build"
mkdir -p "$bin" "$src"
secs() { echo "$(( $(date +%s) - $1 ))s"; }

if [[ -x "$bin/versitygw" && "$(cat "$bin/.version" 2>/dev/null)" == "$VERSITYGW_VERSION" ]]; then
  echo "s3: cached versitygw v$VERSITYGW_VERSION ($bin/versitygw)"
  exit 0
fi
command -v go >/dev/null || { echo "s3: go is needed to build versitygw" >&2; exit 1; }

echo "s3: building versitygw v$VERSITYGW_VERSION from the Go module proxy into $bin"
cat >"$src/go.mod" <<MOD
module bizosaas-deploy/s3-build

go 1.25

require github.com/versity/versitygw v$VERSITYGW_VERSION
MOD
cat >"$src/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
GO
cd "$src"
export GOFLAGS=-mod=mod CGO_ENABLED=0
t=$(date +%s)
if ! go mod tidy >tidy.log 2>&1; then cat tidy.log >&2; echo "s3: go mod tidy failed" >&2; exit 1; fi
total=$(go list -deps github.com/versity/versitygw/cmd/versitygw | wc -l)
echo "s3: modules ready in $(secs "$t") ($total packages)"

t=$(date +%s)
# `go build -v` names each package it compiles: print a progress line every 10 s
if ! go build -v -trimpath -ldflags "-s -w -X main.Version=v$VERSITYGW_VERSION" -o "$bin/versitygw.tmp" \
  github.com/versity/versitygw/cmd/versitygw 2>&1 | {
  n=0; last=$(date +%s)
  while IFS= read -r line; do
    if [[ $line == *" "* || $line == *:* ]]; then echo "$line"; continue; fi  # errors pass through
    n=$((n + 1))
    if (( $(date +%s) - last >= 10 )); then echo "s3: compiled ${n} packages, of ${total} at most ($(secs "$t"))"; last=$(date +%s); fi
  done
}; then
  echo "s3: build failed" >&2; exit 1
fi
mv "$bin/versitygw.tmp" "$bin/versitygw"
echo "$VERSITYGW_VERSION" >"$bin/.version"
echo "s3: built versitygw $("$bin/versitygw" --version | sed -n 's/^Version *: //p') in $(secs "$t") ($(du -h "$bin/versitygw" | cut -f1))"
