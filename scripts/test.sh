#!/usr/bin/env bash
# The test suite: lint (ruff), types (mypy, product packages), then pytest with coverage
# (unit, provider, stand-ins, engine end-to-end).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# leave the engine as setup.sh found it (swarm.sh down does nothing when setup.sh did not make the Swarm)
trap 'bash scripts/swarm.sh down' EXIT
venv/bin/ruff check .
venv/bin/mypy
export BIZOSAAS_DOCKER_STANDIN=1  # the real pulumi-docker plugin cannot be installed here
export PATH="$here/testkit/bin:$here/.tools/pulumi/bin:$PATH"
venv/bin/python -m pytest -ra --cov --cov-report=term "$@"
