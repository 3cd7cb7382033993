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
export BIZOSAAS_STANDINS=1  # the language host and provider plugins cannot be installed here: testkit stand-ins
export PATH="$here/testkit/bin:$here/.tools/pulumi/bin:$PATH"
venv/bin/python -m pytest -ra --cov --cov-report=term "$@"
