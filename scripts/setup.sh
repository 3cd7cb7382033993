#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent: venv, Docker Engine + compose + registry, Pulumi.
# Every step says what it does and how long it took; a long step (the engine build) shows progress.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
start=$(date +%s)

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
  want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "  pip install -r requirements-dev.txt (pinned; ~1 min on a fresh machine)"
    venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
    echo "$want" >"$stamp"
  else
    echo "  venv up to date"
  fi
}

step "Python venv (venv/)" python_env
step "Docker Engine, compose v2, local registry" bash scripts/install-docker.sh
# stack mode: a single-node Swarm, dokploy-network an attachable overlay (scripts/test.sh undoes it when it made it)
step "single-node Swarm on loopback" bash scripts/swarm.sh up
step "Pulumi engine (.tools/pulumi)" bash scripts/install-pulumi.sh
echo "setup: done in $(( $(date +%s) - start ))s"
