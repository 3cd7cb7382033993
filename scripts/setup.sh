#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent: venv, Docker Engine + compose + registry, Pulumi.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
start=$(date +%s)

if [[ ! -x venv/bin/python ]]; then python3 -m venv venv; fi
stamp=venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" >"$stamp"
fi
echo "python: $(venv/bin/python -c 'import pulumi, pulumi_docker; print("pulumi", pulumi.__version__ if hasattr(pulumi, "__version__") else "sdk", "pulumi-docker sdk ok")')"

bash scripts/install-docker.sh
bash scripts/swarm.sh up  # stack mode: a single-node Swarm, dokploy-network an attachable overlay (undone by test.sh)
bash scripts/install-pulumi.sh
echo "setup: done in $(( $(date +%s) - start ))s"
