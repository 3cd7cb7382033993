"""Benchmark: the platform's old shell loop against `pulumi up`, promotion and rollback.

One run, one machine, one registry (127.0.0.1:5000), one Dokploy stand-in (in process, deploying
with the real Docker Engine). For each scenario: wall time, images pushed, bytes the registry
gained, Dokploy write calls, and the wall-time ratio against the old loop (the baseline, run in
the same process). Not a test: it prints numbers.

    venv/bin/python -m benchmarks.bench        (after `make setup`; BIZOSAAS_DOCKER_STANDIN=1)
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from components.dokploy_client import DokployClient
from deployctl import engine, images, ledger
from deployctl.__main__ import rollback, unpin, up
from deployctl.registry_stats import stored_bytes
from fake_dokploy import FakeDokploy

REGISTRY = "127.0.0.1:5000"
ROOT = engine.PROJECT_DIR
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
PUSH_TYPE = "docker:index/registryImage:RegistryImage"


@dataclass
class Row:
    name: str
    seconds: float
    pushed: int
    bytes_added: int
    writes: int


def old_way(srv: FakeDokploy, key: str, compose_ids: list[str], tag: str) -> tuple[int, int]:
    """The platform's script: docker tag + docker push, one image after another, then one redeploy
    per compose project (waited for, so that it is compared with a deploy that is known done)."""
    for name, spec in RAW["services"].items():
        target = f"{REGISTRY}/bizoholic-digital/bizosaas-platform/{name}:{tag}"
        subprocess.run(["docker", "tag", spec["local_image"], target], check=True, capture_output=True)
        subprocess.run(["docker", "push", target], check=True, capture_output=True)
    client = DokployClient(srv.base_url, key)
    for compose_id in compose_ids:
        client.deploy_and_wait(compose_id, redeploy=True, title="old way", timeout=300, poll_interval=0.5)
    return len(RAW["services"]), len(compose_ids)


def measure(name: str, srv: FakeDokploy, fn: Any) -> Row:
    before = stored_bytes(REGISTRY)
    srv.reset_calls()
    pushed: list[str] = []

    def on_event(event: auto.EngineEvent) -> None:
        md = event.resource_pre_event.metadata if event.resource_pre_event else None
        op = str(md.op.value if md and hasattr(md.op, "value") else md.op if md else "")
        if md and md.type == PUSH_TYPE and op in ("create", "replace", "create-replacement", "update"):
            pushed.append(md.urn)

    started = time.monotonic()
    count = fn(on_event)
    seconds = time.monotonic() - started
    n_pushed = count if isinstance(count, int) else len({u for u in pushed})
    return Row(name, seconds, n_pushed, stored_bytes(REGISTRY) - before, srv.write_calls)


def main() -> int:
    os.environ.setdefault("BIZOSAAS_DOCKER_STANDIN", "1")
    tmp = Path(tempfile.mkdtemp(prefix="bizosaas-bench-"))
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    run = secrets.token_hex(3)
    key = secrets.token_hex(16)
    srv = FakeDokploy(api_keys={key}, docker=True, work_dir=tmp / "dokploy", builds_concurrency=2)
    srv.start()
    staging, prod = f"bench-{run}", f"bench-{run}-prod"

    def config(stack: str, offset: int, **extra: Any) -> dict[str, Any]:
        return {
            "bizosaas:tag": stack, "bizosaas:containerSuffix": stack, "bizosaas:dokployUrl": srv.base_url,
            "bizosaas:dokployProject": f"bizosaas-{stack}", "bizosaas:healthTimeout": 30,
            "bizosaas:services": {n: {"published": s["published"] + offset} for n, s in RAW["services"].items()}, **extra,
        }

    promote = {"bizosaas:promoteFrom": f"organization/bizosaas-deploy/{staging}"}
    for name, template, cfg in ((staging, "local.yaml", config(staging, 30000)), (prod, "local-prod.yaml", config(prod, 30100, **promote))):
        st = engine.init_local_stack(name, ROOT / "stacks" / template, extra=cfg)
        st.set_config("bizosaas:dokployApiKey", auto.ConfigValue(key, secret=True))

    rows: list[Row] = []
    try:
        print(f"[bench] building 14 images, first deploy of {staging} (warm-up, not measured)", flush=True)
        images.build_catalog_images(RAW, variant=f"warm-{run}")
        up(staging, quiet=True)
        compose_ids = list(engine.stack(staging).outputs()["compose_project_ids"].value.values())

        images.build_catalog_images(RAW, variant=f"old-{run}")
        old = measure("old loop: 14 x (docker tag + push), 2 redeploys", srv, lambda _: old_way(srv, key, compose_ids, f"old-{run}")[0])
        rows.append(old)

        def up_staging(ev: Any) -> Any:
            return up(staging, quiet=True, on_event=ev)

        images.build_catalog_images(RAW, variant=f"new-{run}")
        rows.append(measure("pulumi up (a): all 14 images new", srv, up_staging))
        images.build_catalog_images(RAW, variant=f"one-{run}", only=["brain-api"])
        rows.append(measure("pulumi up (b): one image changed", srv, up_staging))
        rows.append(measure("pulumi up (c): nothing changed", srv, up_staging))
        rows.append(measure("promotion staging -> prod", srv, lambda ev: up(prod, quiet=True, on_event=ev)))
        rows.append(measure("rollback staging to previous release", srv, lambda ev: rollback(staging, "previous")[0] and 0))
        unpin(staging)
    finally:
        for name in (prod, staging):
            try:
                engine.stack(name).destroy(color="never")
            except auto.errors.CommandError as exc:
                print(f"[bench] destroy {name}: {str(exc)[-300:]}")
            (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)
        srv.stop()
        images.build_catalog_images(RAW, variant="v1")

    base = rows[0].seconds
    print(f"\n{'scenario':44} {'wall s':>7} {'x old':>6} {'images':>7} {'bytes':>9} {'writes':>7}")
    for r in rows:
        print(f"{r.name:44} {r.seconds:7.1f} {r.seconds / base:6.2f} {r.pushed:7d} {r.bytes_added:9d} {r.writes:7d}")
    print(f"\nledger of {staging}: {[e['release_id'] for e in ledger.releases(staging)]}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
