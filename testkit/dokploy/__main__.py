"""CLI of the Dokploy v0.30.2 STAND-IN for the local stack.

    python -m testkit.dokploy --host 127.0.0.1 --port 3000 --api-key-env DOKPLOY_API_KEY \
        --state-file .state/dokploy/state.json --work-dir .state/dokploy --docker

The API key is read from the environment variable named by --api-key-env (never from the
command line, never logged). Only loopback hosts are accepted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from testkit.dokploy import yamltext
from testkit.dokploy.latency import parse_latency
from testkit.dokploy.server import FakeDokploy, is_loopback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testkit.dokploy", description="Dokploy v0.30.2 stand-in (HTTP API)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--api-key-env", default="DOKPLOY_API_KEY", help="name of the env var holding the accepted x-api-key")
    parser.add_argument("--state-file", help="JSON file the state is saved to after every write and loaded from at start")
    parser.add_argument("--work-dir", help="where compose files and deployment logs go (like /etc/dokploy)")
    parser.add_argument("--docker", action="store_true", help="really run docker compose for deploys")
    parser.add_argument("--latency", type=parse_latency, default="dokploy",
                        help="'dokploy' (default: as slow as a measured v0.30.2), a scale factor, or 0 for no latency")
    parser.add_argument("--deploy-start-delay", type=float, help="seconds before a queued job starts (default: from --latency, 0.42)")
    parser.add_argument("--builds-concurrency", type=int, default=1, help="jobs running at once across composes (Dokploy default 1)")
    parser.add_argument("--server", action="append", default=[], metavar="NAME",
                        help="create a remote server with this name unless one exists (repeatable; all run on the local engine)")
    parser.add_argument("--node-env", choices=("production", "development"), default="production",
                        help="production (default): deployments left running are cancelled at start; development: they stay running")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    args = parser.parse_args(argv)

    if not is_loopback(args.host):
        parser.error(f"refusing non-loopback host {args.host!r}: the stand-in is for local use only")
    key = os.environ.get(args.api_key_env, "")
    if not key:
        parser.error(f"environment variable {args.api_key_env} is empty or unset; it must hold the API key")

    def log(line: str) -> None:
        print(f"[testkit.dokploy {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    srv = FakeDokploy(api_keys={key}, docker=args.docker, work_dir=args.work_dir, state_file=args.state_file,
                      deploy_start_delay=args.deploy_start_delay, host=args.host, port=args.port,
                      builds_concurrency=args.builds_concurrency, latency=args.latency, access_log=None if args.quiet else log,
                      servers=args.server, node_env=args.node_env)
    url = srv.start()
    log(f"Dokploy v0.30.2 stand-in listening on {url} (docker={'on' if args.docker else 'off'}, latency x{srv.latency.scale:g}, "
        f"compose files re-serialised by {yamltext.engine()})")
    if srv._last_cancelled:
        log(f"restart: {len(srv._last_cancelled)} deployment(s) left running were cancelled")

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    log("stopping")
    srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
