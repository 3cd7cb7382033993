#!/usr/bin/env bash
# Installs a real Traefik v3 for the tests and `make demo`: built from the Go module proxy alone
# (no Debian, PyPI or npm package ships it) into .tools/traefik/bin/traefik (static, CGO_ENABLED=0,
# version stamped: `traefik version`), plus the test image bizosaas-test/traefik:<version>
# (FROM scratch + that binary) that testkit/traefik.py and scripts/start-traefik.sh run.
# The wrapper module is scripts/traefik/ (pins, tidied go.sum, our own dynamic/ext package).
# Idempotent: a cached build of the same wrapper module and an image of that binary are reused.
# Cold on 2 cores: ~310 MB of modules, ~9 min of compiling, ~3.3 GB of memory; cached: a second.
# --no-image: the binary only (scripts/setup.sh builds it in the background before Docker is there).
set -euo pipefail
image_too=1
for arg in "$@"; do
  case $arg in
    --no-image) image_too=0 ;;
    *) echo "usage: $0 [--no-image]" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
src="$here/scripts/traefik"
bin="$here/.tools/traefik/bin"
version=$(sed -n 's#^require github.com/traefik/traefik/v3 v\([0-9.]*\).*#\1#p' "$src/go.mod")
image="bizosaas-test/traefik:$version"
pkg=github.com/traefik/traefik/v3/cmd/traefik
mkdir -p "$bin"
secs() { echo "$(( $(date +%s) - $1 ))s"; }
# what the binary is built from: a change to a pin, go.sum or ext/ builds it again
want=$(cd "$src" && cat go.mod go.sum ext/go.mod ext/ext.go | sha256sum | cut -d' ' -f1)

if [[ -x "$bin/traefik" && "$(cat "$bin/.built-from" 2>/dev/null)" == "$want" ]]; then
  echo "traefik: cached $("$bin/traefik" version | sed -n 's/^Version: *//p') ($bin/traefik)"
else
  command -v go >/dev/null || { echo "traefik: go is needed to build Traefik (the Go toolchain, >= 1.26)" >&2; exit 1; }
  echo "traefik: building Traefik v$version from the Go module proxy into $bin"
  echo "traefik: (cold on 2 cores: ~310 MB of modules, ~9 min of compiling, ~3.3 GB of memory)"
  cd "$src"
  # -mod=readonly: every module is checked against the committed go.sum, which is never rewritten
  export GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
  t=$(date +%s)
  # `go list -deps` downloads exactly the modules this platform's build needs; -x names each fetch
  list="$here/.tools/traefik/packages.txt"
  if ! go list -x -deps "$pkg" 2>&1 >"$list" | {
    n=0; last=$(date +%s)
    while IFS= read -r line; do
      case $line in
        "go: downloading "*) n=$((n + 1))
          if (( $(date +%s) - last >= 10 )); then echo "traefik: downloaded $n modules ($(secs "$t"))"; last=$(date +%s); fi ;;
        "# get "*|"") ;;
        *) echo "$line" ;;  # errors pass through
      esac
    done
    (( n == 0 )) || echo "traefik: downloaded $n modules"
  }; then
    echo "traefik: resolving the modules failed (above)" >&2; exit 1
  fi
  total=$(grep -c . "$list")
  echo "traefik: modules ready in $(secs "$t") ($total packages to compile, the standard library's included)"

  t=$(date +%s)
  # reproducible: the build date stamped is the release's own (the proxy's .info Time)
  date=$(go list -m -f '{{.Time}}' github.com/traefik/traefik/v3 | cut -d' ' -f1)
  v=github.com/traefik/traefik/v3/pkg/version
  # `go build -v` names each package it compiles: a progress line every 15 s; errors pass through
  if ! go build -v -trimpath -o "$bin/traefik.tmp" \
    -ldflags "-s -w -X $v.Version=$version -X $v.BuildDate=$date -X $v.Codename=bizosaas-deploy" "$pkg" 2>&1 | {
    n=0; last=$(date +%s)
    while IFS= read -r line; do
      if [[ $line == *" "* || $line == *:* ]]; then echo "$line"; continue; fi
      n=$((n + 1))
      if (( $(date +%s) - last >= 15 )); then echo "traefik: compiled $n packages, of $total at most ($(secs "$t"))"; last=$(date +%s); fi
    done
  }; then
    rm -f "$bin/traefik.tmp"; echo "traefik: build failed (above)" >&2; exit 1
  fi
  [[ -s "$bin/traefik.tmp" ]] || { echo "traefik: build failed (above)" >&2; exit 1; }
  mv "$bin/traefik.tmp" "$bin/traefik"
  echo "$want" >"$bin/.built-from"
  echo "traefik: built $("$bin/traefik" version | sed -n 's/^Version: *//p') in $(secs "$t") ($(du -h "$bin/traefik" | cut -f1))"
fi

(( image_too )) || exit 0
# the test image: FROM scratch + the binary, labelled with the binary's sha256 (rebuilt when it changes)
command -v docker >/dev/null || { echo "traefik: docker is needed for the image $image" >&2; exit 1; }
sha=$(sha256sum "$bin/traefik" | cut -d' ' -f1)
if [[ "$(docker image inspect -f '{{index .Config.Labels "bizosaas.traefik.sha256"}}' "$image" 2>/dev/null)" == "$sha" ]]; then
  echo "traefik: image $image up to date"
  exit 0
fi
t=$(date +%s)
ctx="$here/.tools/traefik/image"
rm -rf "$ctx" && mkdir -p "$ctx"
ln "$bin/traefik" "$ctx/traefik" 2>/dev/null || cp "$bin/traefik" "$ctx/traefik"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY traefik /traefik
LABEL bizosaas.test="traefik" bizosaas.traefik.sha256="$sha" org.opencontainers.image.version="$version"
EXPOSE 80 443 8080
ENTRYPOINT ["/traefik"]
DOCKERFILE
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0  # the classic builder when buildx is absent
if ! out=$(docker build -q -t "$image" "$ctx" 2>&1); then
  echo "$out" >&2; echo "traefik: docker build of $image failed" >&2; exit 1
fi
rm -rf "$ctx"
echo "traefik: image $image built in $(secs "$t")"
