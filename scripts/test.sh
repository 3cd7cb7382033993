#!/usr/bin/env bash
# The test suite: lint (ruff), types (mypy, product packages), then pytest with coverage
# (unit, provider, stand-ins, engine end-to-end), its modules side by side on BIZOSAAS_TEST_WORKERS pytest-xdist
# workers (default 4: most of the suite waits on Dokploy's latency, health checks and windows, not on the 2 cores),
# a whole module per worker, the slowest first (tests/schedule.py). At the end: the 15 slowest tests, then the wall time
# (from BIZOSAAS_TEST_T0, when `make test` set it before scripts/setup.sh, else from this script's start).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
t0=${BIZOSAAS_TEST_T0:-$(date +%s)}
t_script=$(date +%s)
workers=${BIZOSAAS_TEST_WORKERS:-4}
t_lint=$t_script t_pytest=$t_script
elapsed() { local s=$(( $2 - $1 )); printf '%dm%02ds' $(( s / 60 )) $(( s % 60 )); }
finish() {
  local rc=$? now
  bash scripts/swarm.sh down  # leave the engine as setup.sh found it (does nothing when setup.sh did not make the Swarm)
  now=$(date +%s)
  echo "test: wall time $(elapsed "$t0" "$now") (setup $(elapsed "$t0" "$t_script"), lint and types $(elapsed "$t_lint" "$t_pytest")," \
    "pytest $(elapsed "$t_pytest" "$now") on $workers workers); exit $rc"
}
trap finish EXIT
t_lint=$(date +%s)
venv/bin/ruff check .
venv/bin/mypy
t_pytest=$(date +%s)
export BIZOSAAS_STANDINS=1  # the language host and provider plugins cannot be installed here: testkit stand-ins
# The suite is CPU-bound on 2 cores at 4 workers (README: The test suite), and it starts the Go programs over and over
# (the pulumi CLI about a thousand times, docker and compose thousands): their garbage collector runs when the heap has
# grown 400% instead of 100% (`pulumi version`: 0.17 s of CPU instead of 0.25 s; a few MB more each; same behaviour).
export GOGC=${GOGC:-400}
export PATH="$here/testkit/bin:$here/.tools/pulumi/bin:$PATH"
venv/bin/python -m pytest -ra --cov --cov-report=term -n "$workers" --dist loadfile --slowest 15 "$@"
