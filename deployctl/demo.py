"""The main job end to end on the local default (README command one: `make demo`).

Builds the 14 local test images, starts the Dokploy-compatible stand-in (if it is not running),
then runs `pulumi up` on the local stack through the real engine and prints what runs where.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

from deployctl import engine
from testkit import images

LOCAL_DOKPLOY = "http://127.0.0.1:3999"
TEMPLATES = engine.PROJECT_DIR / "stacks"


def say(msg: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def init_stack(stack: str) -> None:
    """Pulumi.<stack>.yaml from stacks/<stack>.yaml, with fresh random secrets."""
    engine.init_local_stack(stack, TEMPLATES / f"{stack}.yaml")


def ensure_fake_dokploy(key: str, url: str = LOCAL_DOKPLOY) -> None:
    """Start `python -m testkit.dokploy` in the background unless one already answers at url."""
    try:
        if requests.get(f"{url}/api/health", timeout=2).ok:
            return
    except requests.ConnectionError:
        pass
    state = engine.STATE_DIR / "dokploy"
    state.mkdir(parents=True, exist_ok=True)
    port = url.rsplit(":", 1)[1]
    log = (engine.STATE_DIR / "dokploy.log").open("ab")
    cmd = [str(engine.VENV_PYTHON), "-m", "testkit.dokploy", "--host", "127.0.0.1", "--port", port,
           "--api-key-env", "DOKPLOY_API_KEY", "--state-file", str(state / "state.json"), "--work-dir", str(state), "--docker"]
    subprocess.Popen(cmd, cwd=engine.PROJECT_DIR, stdout=log, stderr=log, start_new_session=True,
                     env={**os.environ, "DOKPLOY_API_KEY": key})
    for _ in range(100):
        try:
            if requests.get(f"{url}/api/health", timeout=1).ok:
                say(f"Dokploy-compatible stand-in listening on {url} (log: .state/dokploy.log)")
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"the Dokploy stand-in did not start; see {engine.STATE_DIR / 'dokploy.log'}")


def health(url: str) -> str:
    try:
        r = requests.get(url, timeout=3)
        return "healthy" if r.ok else f"HTTP {r.status_code}"
    except requests.RequestException as exc:
        return f"down ({type(exc).__name__})"


def run(stack: str) -> int:
    from deployctl.__main__ import up

    raw = yaml.safe_load((engine.PROJECT_DIR / "catalog.yaml").read_text())
    t0 = time.monotonic()
    say(f"building {len(raw['services'])} local test images (FROM scratch + busybox)")
    for i, name in enumerate(raw["services"], 1):
        images.build_catalog_images(raw, only=[name])
        print(f"  [{i:2}/{len(raw['services'])}] {raw['services'][name]['local_image']}", flush=True)
    say(f"images built in {time.monotonic() - t0:.1f}s")
    init_stack(stack)
    ensure_fake_dokploy(engine.local_dokploy_key())
    say(f"pulumi up --stack {stack} (real engine, file backend under .state/backend)")
    result, elapsed = up(stack)
    changes = {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}
    outputs = {k: v.value for k, v in result.outputs.items()}
    print_table(stack, outputs, elapsed)
    if changes:
        say(f"changed: {changes}; release {outputs['release_id']} verified={outputs['verified']}")
    else:
        say(f"no changes: release {outputs['release_id']} was already deployed and verified; nothing pushed, nothing deployed")
    return 0


def print_table(stack: str, outputs: dict, elapsed: float) -> None:
    cfg = yaml.safe_load(Path(engine.PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    template = cfg.get("bizosaas:healthUrl", "")
    raw = yaml.safe_load((engine.PROJECT_DIR / "catalog.yaml").read_text())
    overrides = cfg.get("bizosaas:services") or {}
    print(f"\n{'service':30} {'image digest':22} {'project':9} health")
    for name, spec in raw["services"].items():
        digest = outputs["image_digests"].get(name)
        if not digest:
            continue
        published = (overrides.get(name) or {}).get("published", spec["published"])
        url = template.format(published=published, port=spec["port"], path=spec["health"], container="", service=name)
        print(f"{name:30} {digest[:19]:22} {spec['group']:9} {health(url)}")
    print(f"\nrelease {outputs['release_id']}  verified={outputs['verified']}  pulumi up took {elapsed:.1f}s\n")
    sys.stdout.flush()
