"""The main job end to end on the local default (README command one: `make demo`).

Builds the 14 local test images, starts the Dokploy-compatible stand-in and the demo Traefik (if they are not
running; scripts/start-traefik.sh: Traefik configured as Dokploy's, web on 127.0.0.1:8880), then runs `pulumi up`
on the local stack through the real engine and prints what runs where, and what each route answers through Traefik.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import requests
import yaml

from components.program import catalog_file
from components.stack_config import PROJECT, settings_from_file
from core.catalog import load_catalog_file, resolve, secret_names
from core.compose import health_url
from core.routes import inputs, traefik_addresses
from deployctl import engine, local_stack, operations
from probes.routes import Through
from probes.routes import health_url as route_url
from testkit import images
from testkit.dokploy import launch

LOCAL_DOKPLOY = "http://127.0.0.1:3999"
START_TRAEFIK = engine.PROJECT_DIR / "scripts" / "start-traefik.sh"


def say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def health(url: str) -> str:
    try:
        r = requests.get(url, timeout=3)
        return "healthy" if r.ok else f"HTTP {r.status_code}"
    except requests.RequestException as exc:
        return f"down ({type(exc).__name__})"


def run(stack: str) -> int:
    """Build the images, start the stand-in, `pulumi up` the local stack, print what runs where."""
    raw = load_catalog_file(catalog_file())
    t0 = time.monotonic()
    say(f"building {len(raw['services'])} local test images (FROM scratch + busybox)")
    for i, name in enumerate(raw["services"], 1):
        images.build_catalog_images(raw, only=[name])
        print(f"  [{i:2}/{len(raw['services'])}] {raw['services'][name]['local_image']}", flush=True)
    say(f"images built in {time.monotonic() - t0:.1f}s")
    local_stack.init(stack)
    if launch.ensure_running(
        LOCAL_DOKPLOY, local_stack.local_dokploy_key(), engine.STATE_DIR / "dokploy", engine.VENV_PYTHON, engine.PROJECT_DIR
    ):
        say(f"Dokploy-compatible stand-in listening on {LOCAL_DOKPLOY} (log: .state/dokploy.log)")
    ensure_traefik()
    say(f"pulumi up --stack {stack} (real engine, file backend under .state/backend)")
    result, elapsed = operations.up(stack)
    changes = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
    outputs = {k: v.value for k, v in result.outputs.items()}
    print_table(stack, outputs, elapsed)
    if changes:
        say(f"changed: {changes}; release {outputs['release_id']} verified={outputs['verified']}")
    else:
        say(f"no changes: release {outputs['release_id']} was already deployed and verified; nothing pushed, nothing deployed")
    return 0


def ensure_traefik() -> None:
    """The demo Traefik (scripts/start-traefik.sh: built once from the Go module proxy, ~10 min cold; reused when running)."""
    if not START_TRAEFIK.is_file():
        raise SystemExit(f"{START_TRAEFIK} is missing: the local stacks route through the demo Traefik it starts")
    say("the demo Traefik (configured as Dokploy's: web on 127.0.0.1:8880, the Docker and Swarm providers on dokploy-network)")
    subprocess.run(["bash", str(START_TRAEFIK)], cwd=engine.PROJECT_DIR, check=True)


def answer(url: str, traefik: dict[str, str]) -> str:
    """What a route answers now through Traefik (its host name sent, never looked up)."""
    try:
        status, body = Through(traefik)(url, 3.0)
    except OSError as exc:
        return f"down ({type(exc).__name__})"
    return f"{status} {body.strip()[:40]}" if 200 <= status < 300 else f"HTTP {status}"


def print_table(stack: str, outputs: dict[str, Any], elapsed: float) -> None:
    """service, digest, compose project, what verification saw through Dokploy, its route and what the route answers now
    through Traefik (or, for a stack with health URLs, whether its health URL answers)."""
    config = (yaml.safe_load((engine.PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config") or {}
    raw = load_catalog_file(catalog_file())
    catalog = resolve(raw, settings_from_file(stack, config, secret_names(raw)))
    template = str(config.get(f"{PROJECT}:healthUrl") or "")
    traefik = traefik_addresses(str(config.get(f"{PROJECT}:dokployUrl") or ""), str(config.get(f"{PROJECT}:traefikUrl") or ""),
                                str(config.get(f"{PROJECT}:traefikHttpsUrl") or ""))
    records = outputs.get("verification") or {}
    print(f"\n{'service':28} {'image digest':22} {'project':9} {'verified (Dokploy)':22} {'route':38} answer (through {traefik['web']})")
    for name, svc in catalog.services.items():
        digest = outputs["image_digests"].get(name, "")
        rec = records.get(name) or {}
        seen = f"{rec.get('health')}, {rec.get('restarts')} restarts" if rec else "not verified"
        if svc.route:
            url = route_url(inputs(svc))
            route, now = svc.route.url, answer(url, traefik)
        else:
            route, now = "-", health(health_url(template, svc)) if template else "(no route: dokploy-network only)"
        print(f"{name:28} {digest[:19]:22} {svc.group:9} {seen:22} {route:38} {now}")
    print(f"\nrelease {outputs['release_id']}  verified={outputs['verified']}  pulumi up took {elapsed:.1f}s\n")
    sys.stdout.flush()
