#!/usr/bin/env bash
# Installs the Pulumi engine (CLI) into .tools/pulumi/bin.
# Preference: a `pulumi` already on PATH (>= 3.272), the official installer when reachable,
# otherwise a build from the Go module proxy (the only route on machines without internet).
# Idempotent: a cached build is reused.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PULUMI_VERSION=${PULUMI_VERSION:-3.274.1}
bin="$here/.tools/pulumi/bin"
mkdir -p "$bin"

progress() {  # progress "what" "regex": counts matching lines of stdin, one line every 100 (a build is work, not a hang)
  awk -v what="$1" -v re="$2" -v t0="$(date +%s)" '
    $0 ~ re { n++; if (n % 100 == 0) { printf "  %d %s (%ds)\n", n, what, systime() - t0; fflush() } }
    /(^|[^a-z])(error|cannot|fatal)[^a-z]/ { print "  " $0; fflush() }
    END { printf "  %d %s in all\n", n, what }'
}

version_ok() {  # $1 = "v3.274.1" or "3.274.1"
  local v=${1#v}; local minor=${v#3.}; minor=${minor%%.*}
  [[ $v == 3.* && $minor =~ ^[0-9]+$ && $minor -ge 272 ]]
}

if [[ -x "$bin/pulumi" ]] && version_ok "$("$bin/pulumi" version 2>/dev/null)"; then
  echo "pulumi: cached $("$bin/pulumi" version)"
elif command -v pulumi >/dev/null && [[ "$(command -v pulumi)" != "$bin/pulumi" ]] && version_ok "$(pulumi version 2>/dev/null)"; then
  ln -sf "$(command -v pulumi)" "$bin/pulumi"
  echo "pulumi: using $(command -v pulumi) $(pulumi version)"
elif curl -fsS --max-time 5 -o /dev/null https://get.pulumi.com/ 2>/dev/null; then
  curl -fsSL https://get.pulumi.com | sh -s -- --version "$PULUMI_VERSION" --install-root "$here/.tools/pulumi"
else
  echo "pulumi: building v$PULUMI_VERSION from the Go module proxy (cold: ~5 min on 2 cores, ~1.6 GB of modules)"
  src="$here/.tools/pulumi-build"
  mkdir -p "$src"
  cat > "$src/go.mod" <<MOD
module bizosaas-deploy/pulumi-build

go 1.26

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)
MOD
  cat > "$src/tools.go" <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
  t0=$(date +%s)
  echo "pulumi: resolving and downloading modules (go mod tidy)"
  (cd "$src" && GOFLAGS=-mod=mod go mod tidy -x 2>&1 | progress "module files fetched" "^# get ") \
    || { echo "pulumi: go mod tidy failed once; retrying"; (cd "$src" && GOFLAGS=-mod=mod go mod tidy); }
  echo "pulumi: modules ready in $(( $(date +%s) - t0 ))s; compiling (about 1,200 packages)"
  t0=$(date +%s)
  (cd "$src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -v -trimpath -tags osusergo,grpcnotrace \
     -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
     -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi 2>&1 | progress "packages compiled" "^[a-z]")
  echo "pulumi: compiled in $(( $(date +%s) - t0 ))s"
  echo "pulumi: built $("$bin/pulumi" version)"
fi

# The dynamic-provider host script ships inside the SDK module (python/dist); put it beside pulumi.
if [[ ! -x "$bin/pulumi-resource-pulumi-python" ]]; then
  sdk=$(cd "$here" && GOFLAGS=-mod=mod go mod download -json "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$bin/"
  install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$bin/"
fi
