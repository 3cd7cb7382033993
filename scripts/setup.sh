#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent: venv, Docker Engine + compose + registry, Pulumi.
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

if [[ ! -x venv/bin/python ]]; then python3 -m venv venv; fi
stamp=venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" >"$stamp"
fi
echo "python: $(venv/bin/python -c 'import pulumi, pulumi_docker; print("pulumi", pulumi.__version__ if hasattr(pulumi, "__version__") else "sdk", "pulumi-docker sdk ok")')"

bash scripts/install-docker.sh
bash scripts/install-pulumi.sh
if (( with_s3 )); then
  bash scripts/install-s3.sh
  bash scripts/start-s3.sh
fi
echo "setup: done in $(( $(date +%s) - start ))s"
