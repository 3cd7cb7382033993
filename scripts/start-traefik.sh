#!/usr/bin/env bash
# Starts the long-lived Traefik of `make demo`: the container bizosaas-traefik (image
# bizosaas-test/traefik:<version>, built by scripts/install-traefik.sh), configured the way Dokploy
# configures its own (testkit/traefik-config/), on dokploy-network, with its entrypoints on loopback:
#   web       127.0.0.1:${BIZOSAAS_TRAEFIK_WEB_PORT:-8880}   (Dokploy's :80)
#   websecure 127.0.0.1:${BIZOSAAS_TRAEFIK_WEBSECURE_PORT:-8443}  (Dokploy's :443, self-signed default certificate)
#   API       127.0.0.1:${BIZOSAAS_TRAEFIK_API_PORT:-8882}   (Dokploy's insecure API :8080: /api/http/routers)
# Ports chosen clear of the catalog's published ports (3000-3005, 8001-8009), the Dokploy stand-in
# (3999), the registry (5000) and the S3 server (9310). Idempotent: a running instance on these ports
# is reused (and says so); on other ports it is started again. scripts/stop-traefik.sh removes it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
exec venv/bin/python -m testkit.traefik start --name "${BIZOSAAS_TRAEFIK_NAME:-bizosaas-traefik}" \
  --web-port "${BIZOSAAS_TRAEFIK_WEB_PORT:-8880}" \
  --websecure-port "${BIZOSAAS_TRAEFIK_WEBSECURE_PORT:-8443}" \
  --api-port "${BIZOSAAS_TRAEFIK_API_PORT:-8882}"
