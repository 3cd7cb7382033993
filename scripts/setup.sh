#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent: venv, Docker Engine + compose + registry, Pulumi, Traefik.
# Every step says what it does and how long it took; a long step (the engine build) shows progress.
# --with-s3 (make test): also the local S3-compatible server for the state-backend tests
# (scripts/install-s3.sh, ~1.5 min cold, then scripts/start-s3.sh); make demo does not need it.
set -euo pipefail
with_s3=0
for arg in "$@"; do
  case $arg in
    --with-s3) with_s3=1 ;;
    *) echo "usage: $0 [--with-s3]" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
start=$(date +%s)

# Traefik (~9 min cold) builds in the background from the start, so that its compiling overlaps the
# downloads of the steps below (pip, Docker, the Pulumi modules); its step at the end waits for it
# (printing its output) and builds its image. Ctrl-C or a failed step stops it.
mkdir -p .state
traefik_log=.state/install-traefik.log
setsid bash scripts/install-traefik.sh --no-image >"$traefik_log" 2>&1 </dev/null &
traefik_pid=$!
trap 'kill -- -"$traefik_pid" 2>/dev/null || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step() {  # step "what" command...: runs it, then prints how long it took
  local what=$1 t0; shift
  t0=$(date +%s)
  echo "setup: $what ..."
  "$@"
  echo "setup: $what: done in $(( $(date +%s) - t0 ))s"
}

python_env() {
  if [[ ! -x venv/bin/python ]]; then python3 -m venv venv; fi
  local stamp=venv/.requirements.sha256 want
  want=$(cat requirements.txt requirements-s3.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "  pip install -r requirements-dev.txt (pinned, with requirements-s3.txt; ~1 min on a fresh machine)"
    venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
    echo "$want" >"$stamp"
  else
    echo "  venv up to date"
  fi
}

traefik() {  # the background build's output until it ends, then the image (cached binary)
  tail -n +1 -f --pid="$traefik_pid" "$traefik_log" &
  wait $!  # (a signal interrupts `wait` at once, not a foreground tail)
  wait "$traefik_pid" || { echo "setup: building Traefik failed (above; log $traefik_log)" >&2; return 1; }
  bash scripts/install-traefik.sh
}

step "Python venv (venv/)" python_env
step "Docker Engine, compose v2, local registry" bash scripts/install-docker.sh
# stack mode: a single-node Swarm, dokploy-network an attachable overlay (scripts/test.sh undoes it when it made it)
step "single-node Swarm on loopback" bash scripts/swarm.sh up
step "Pulumi engine (.tools/pulumi)" bash scripts/install-pulumi.sh
# the npm packages Dokploy pins (yaml: the stand-in writes compose files as Dokploy does; dotenv, shell-quote: checks)
step "Dokploy's npm packages (.tools/dokploy-js)" bash scripts/install-dokploy-js.sh
# a real Traefik, configured as Dokploy's, for the routes of the tests and of make demo (cached)
step "Traefik (.tools/traefik, image bizosaas-test/traefik; built in the background since the start)" traefik
if (( with_s3 )); then
  step "S3-compatible server (.tools/s3, for the state-backend tests)" bash scripts/install-s3.sh
  step "S3-compatible server on loopback" bash scripts/start-s3.sh
fi
echo "setup: done in $(( $(date +%s) - start ))s"
