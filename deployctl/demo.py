"""The main job end to end on the local default (README command one: `make demo`).

Builds the 14 local test images, starts the Dokploy-compatible stand-in (if it is not running) on the
URL the stack names (``dokployUrl``: http://127.0.0.1:3999 in stacks/local.yaml) and the demo Traefik
(scripts/start-traefik.sh: configured as Dokploy's, web on 127.0.0.1:8880; reused when it runs), then runs
`pulumi up` on the local stack through the real engine and prints what runs where, and what each route answers
through that Traefik. ``standin`` starts the stand-in alone (`python -m deployctl standin --stack local`);
`make down` (deployctl/down.py) stops it.
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
from deployctl import engine, local_stack, operations, target
from probes.routes import Through
from probes.routes import health_url as route_url
from testkit import images
from testkit.dokploy import launch

STANDIN_DIR = engine.STATE_DIR / "dokploy"
"""The stand-in's state, compose files, deployment logs and pid file (its log is .state/dokploy.log)."""
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
    where = target.read(stack)
    if start_standin(where):
        say(f"Dokploy-compatible stand-in listening on {where.url} (log: .state/dokploy.log)")
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
    first = next(iter(outputs["image_digests"]), "SERVICE")
    say(f"what runs: `venv/bin/python -m deployctl status --stack {stack}`; a service's log: `venv/bin/python -m deployctl logs "
        f"--stack {stack} {first}`; tear it down: `make down`")
    return 0


def start_standin(where: target.Target) -> bool:
    """Start the Dokploy stand-in a local stack names (unless something answers there); True if it was started now."""
    if not where.local:
        raise target.TargetError(f"stack {where.stack}: its Dokploy ({where.url}) is not the local stand-in (stacks/, loopback)")
    return bool(launch.ensure_running(where.url, local_stack.local_dokploy_key(), STANDIN_DIR, engine.VENV_PYTHON, engine.PROJECT_DIR))


def stop_standin() -> tuple[int, str] | None:
    """Stop the stand-in started from this checkout (never another's): its (pid, url), or None when none runs."""
    stopped = launch.stop(STANDIN_DIR)
    return (int(stopped[0]), str(stopped[1])) if stopped else None


def standin(stack: str) -> int:
    """`deployctl standin --stack S`: start the stand-in of a local stack (its stack file is made from stacks/S.yaml if missing)."""
    if not (engine.PROJECT_DIR / f"Pulumi.{stack}.yaml").is_file():
        if not (local_stack.TEMPLATES / f"{stack}.yaml").is_file():
            raise target.TargetError(f"stack {stack}: no Pulumi.{stack}.yaml and no stacks/{stack}.yaml to make it from")
        local_stack.init(stack)
    where = target.read(stack)
    started = start_standin(where)
    print(f"Dokploy stand-in of stack {stack} {'started' if started else 'already answering'} on {where.url} (log: .state/dokploy.log; "
          "`make down` stops it)")
    return 0


def ensure_traefik() -> None:
    """The demo Traefik the local stacks route through (scripts/start-traefik.sh: reused when it runs, as after `make demo`'s
    own start; built once from the Go module proxy, ~10 min cold)."""
    say("the demo Traefik (configured as Dokploy's: web on 127.0.0.1:8880, the Docker and Swarm providers on dokploy-network)")
    subprocess.run(["bash", str(START_TRAEFIK)], cwd=engine.PROJECT_DIR, check=True)


def answer(url: str, traefik: dict[str, str]) -> str:
    """What a route answers now through Traefik (its host name sent, never looked up)."""
    try:
        status, body = Through(traefik)(url, 3.0)
    except OSError as exc:
        return f"down ({type(exc).__name__})"
    return f"{status} {body.strip()[:32]}" if 200 <= status < 300 else f"HTTP {status}"


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
    print(f"\n{'service':28} {'image digest':22} {'project':9} {'verified (Dokploy)':22} {'route':43} answer (through {traefik['web']})")
    for name, svc in catalog.services.items():
        digest = outputs["image_digests"].get(name, "")
        rec = records.get(name) or {}
        seen = f"{rec.get('health')}, {rec.get('restarts')} restarts" if rec else "not verified"
        if svc.route:
            route, now = svc.route.url, answer(route_url(inputs(svc)), traefik)
        else:
            route, now = "-", health(health_url(template, svc)) if template else "(no route: dokploy-network only)"
        print(f"{name:28} {digest[:19]:22} {svc.group:9} {seen:22} {route:43} {now}")
    print(f"\nrelease {outputs['release_id']}  verified={outputs['verified']}  pulumi up took {elapsed:.1f}s\n")
    sys.stdout.flush()
