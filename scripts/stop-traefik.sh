#!/usr/bin/env bash
# Removes the long-lived Traefik of `make demo` (scripts/start-traefik.sh), and only it: the container
# named ${BIZOSAAS_TRAEFIK_NAME:-bizosaas-traefik} when it carries our label bizosaas.test=traefik.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
exec venv/bin/python -m testkit.traefik stop --name "${BIZOSAAS_TRAEFIK_NAME:-bizosaas-traefik}"
