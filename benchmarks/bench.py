"""Benchmark: the platform's old shell loop against `pulumi up`, promotion and rollback.

One run, one machine, one registry (127.0.0.1:5000), one Dokploy stand-in (in process, deploying
with the real Docker Engine). For each scenario: wall time, images tested (the pre-push test gate's
commands that ran), images pushed, bytes the registry gained, Dokploy write calls, and the
wall-time ratio against the old loop (the baseline, run in the same process). The gate's cost is
the same change measured with `testGate: false` and with the gate (the default). Then, on a Swarm
(`scripts/swarm.sh up`), a start-first rolling update of one stack-mode service under a request loop, with
the number of failed requests (benchmarks/rolling_update.py). Not a test: it prints numbers.

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

from benchmarks import rolling_update
from deployctl import engine, ledger, local_stack
from deployctl.operations import rollback, unpin, up
from dokploy_api import DokployClient
from dokploy_api.deploy import deploy_and_wait
from dokploy_api.lookup import find_or_create_environment, find_or_create_project
from testkit import images
from testkit.dokploy import FakeDokploy
from testkit.registry_stats import disk_bytes

REGISTRY = "127.0.0.1:5000"
ROOT = engine.PROJECT_DIR
REGISTRY_DATA = ROOT / ".state" / "registry"  # started by scripts/install-docker.sh
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
PUSH_TYPE = "docker:index/registryImage:RegistryImage"
TEST_TYPE = "command:local:Command"
RUNS = ("create", "replace", "create-replacement", "update")


@dataclass
class Row:
    name: str
    seconds: float
    pushed: int
    bytes_added: int
    writes: int
    tested: int = 0


def old_way(client: DokployClient, compose_ids: list[str], tag: str) -> int:
    """The platform's script: docker tag + docker push, one image after another, then one redeploy
    per compose project. Its compose files name the mutable tag; Dokploy does not re-pull a tag it
    has, so they also say `pull_policy: always` (else the old way deploys nothing new at all)."""
    for name, spec in RAW["services"].items():
        target = f"{REGISTRY}/bizoholic-digital/bizosaas-platform/{name}:{tag}"
        subprocess.run(["docker", "tag", spec["local_image"], target], check=True, capture_output=True)
        subprocess.run(["docker", "push", target], check=True, capture_output=True)
    for compose_id in compose_ids:
        deploy_and_wait(client, compose_id, redeploy=True, title="old way", timeout=300, poll_interval=0.5)
    return len(RAW["services"])


def old_compose(text: str, tag: str, offset: int) -> str:
    """The same services as the digest-pinned compose, the old way: mutable tag, pull always."""
    doc = yaml.safe_load(text)
    for svc in doc["services"].values():
        svc["image"] = svc["image"].split("@")[0] + f":{tag}"
        svc["pull_policy"] = "always"
        host, container = svc["ports"][0].split(":")
        svc["ports"] = [f"{int(host) + offset}:{container}"]
        svc["container_name"] += "-old"
    return yaml.safe_dump(doc, sort_keys=False)


def setup_old_way(client: DokployClient, compose: dict[str, str], tag: str, run: str) -> list[str]:
    """Two compose projects deployed the old way (not measured)."""
    for name, spec in RAW["services"].items():
        target = f"{REGISTRY}/bizoholic-digital/bizosaas-platform/{name}:{tag}"
        subprocess.run(["docker", "tag", spec["local_image"], target], check=True, capture_output=True)
        subprocess.run(["docker", "push", target], check=True, capture_output=True)
    project, _ = find_or_create_project(client, f"bench-old-{run}")
    env, _ = find_or_create_environment(client, project, "production")
    ids = []
    for group, text in compose.items():
        row = client.compose.create(name=group, environment_id=env["environmentId"], compose_type="docker-compose")
        client.compose.update(row["composeId"], sourceType="raw", composeFile=old_compose(text, tag, 500))
        deploy_and_wait(client, row["composeId"], timeout=300, poll_interval=0.5)
        ids.append(row["composeId"])
    return ids


def measure(name: str, srv: FakeDokploy, fn: Any) -> Row:
    before = disk_bytes(REGISTRY_DATA)
    srv.reset_calls()
    pushed: list[str] = []
    tested: list[str] = []

    def on_event(event: auto.EngineEvent) -> None:
        md = event.resource_pre_event.metadata if event.resource_pre_event else None
        op = str(md.op.value if md and hasattr(md.op, "value") else md.op if md else "")
        if md and md.type == PUSH_TYPE and op in RUNS:
            pushed.append(md.urn)
        if md and md.type == TEST_TYPE and op in RUNS:
            tested.append(md.urn)

    started = time.monotonic()
    count = fn(on_event)
    seconds = time.monotonic() - started
    n_pushed = count if isinstance(count, int) else len(set(pushed))
    return Row(name, seconds, n_pushed, disk_bytes(REGISTRY_DATA) - before, srv.write_calls, len(set(tested)))


def set_gate(stack: str, on: bool) -> None:
    """The stack's testGate: false, or unset (the default: on)."""
    st = engine.stack(stack)
    if on:
        st.remove_config("bizosaas-deploy:testGate")
    else:
        st.set_config("bizosaas-deploy:testGate", auto.ConfigValue("false"))


def main() -> int:
    os.environ.setdefault("BIZOSAAS_STANDINS", "1")
    tmp = Path(tempfile.mkdtemp(prefix="bizosaas-bench-"))
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    run = secrets.token_hex(3)
    key = secrets.token_hex(16)
    # as slow as a measured Dokploy v0.30.2 (testkit/dokploy/latency.py): API round trips count in the wall times
    srv = FakeDokploy(api_keys={key}, docker=True, work_dir=tmp / "dokploy", builds_concurrency=2, latency="dokploy")
    srv.start()
    staging, prod = f"bench-{run}", f"bench-{run}-prod"

    def config(stack: str, offset: int, **extra: Any) -> dict[str, Any]:
        return {
            "bizosaas-deploy:tag": stack, "bizosaas-deploy:containerSuffix": stack, "bizosaas-deploy:dokployUrl": srv.base_url,
            "bizosaas-deploy:dokployProject": f"bizosaas-{stack}", "bizosaas-deploy:healthTimeout": 30,
            "bizosaas-deploy:services": {n: {"published": s["published"] + offset} for n, s in RAW["services"].items()}, **extra,
        }

    promote = {"bizosaas-deploy:promoteFrom": f"organization/bizosaas-deploy/{staging}"}
    for name, template, cfg in ((staging, "local.yaml", config(staging, 21000)), (prod, "local-prod.yaml", config(prod, 21100, **promote))):
        st = local_stack.init_from(name, ROOT / "stacks" / template, extra=cfg)
        st.set_config("bizosaas-deploy:dokployApiKey", auto.ConfigValue(key, secret=True))

    rows: list[Row] = []
    try:
        print(f"[bench] building 14 images, first deploy of {staging} (warm-up, not measured)", flush=True)
        images.build_catalog_images(RAW, variant=f"warm-{run}")
        up(staging, quiet=True)
        client = DokployClient(srv.base_url, key)
        old_ids = setup_old_way(client, engine.stack(staging).outputs()["compose"].value, f"old-{run}", run)

        images.build_catalog_images(RAW, variant=f"old-{run}")
        rows.append(measure("old loop: 14 x (tag + push), 2 redeploys", srv, lambda _: old_way(client, old_ids, f"old-{run}")))

        def up_staging(ev: Any) -> Any:
            return up(staging, quiet=True, on_event=ev)

        set_gate(staging, on=False)  # the same changes without the pre-push test gate, for its cost
        images.build_catalog_images(RAW, variant=f"new0-{run}")
        rows.append(measure("pulumi up (a0): 14 images new, testGate false", srv, up_staging))
        images.build_catalog_images(RAW, variant=f"one0-{run}", only=["brain-api"])
        rows.append(measure("pulumi up (b0): one image new, testGate false", srv, up_staging))
        set_gate(staging, on=True)
        images.build_catalog_images(RAW, variant=f"new-{run}")
        rows.append(measure("pulumi up (a): all 14 images new (gate)", srv, up_staging))
        images.build_catalog_images(RAW, variant=f"one-{run}", only=["brain-api"])
        rows.append(measure("pulumi up (b): one image changed (gate)", srv, up_staging))
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
        for compose_id in locals().get("old_ids", []):
            client.compose.delete(compose_id, delete_volumes=True)
        srv.stop()
        images.remove_containers(run)  # whatever a failed run left behind
        images.build_catalog_images(RAW, variant="v1")

    base = rows[0].seconds
    print(f"\n{'scenario':46} {'wall s':>7} {'x old':>6} {'tested':>7} {'images':>7} {'bytes':>9} {'writes':>7}")
    for r in rows:
        print(f"{r.name:46} {r.seconds:7.1f} {r.seconds / base:6.2f} {r.tested:7d} {r.pushed:7d} {r.bytes_added:9d} {r.writes:7d}")
    by_name = {r.name.split(":")[0]: r for r in rows}
    pairs = (("14 images new", "pulumi up (a0)", "pulumi up (a)"), ("one image new", "pulumi up (b0)", "pulumi up (b)"))
    for label, without, gated in pairs:
        off, on = by_name[without], by_name[gated]
        print(f"test gate cost, {label:14}: {on.seconds - off.seconds:+6.1f} s ({on.seconds / off.seconds - 1:+.0%}) for {on.tested} tests")
    print(f"\nreleases of {staging}, newest first (recorded by `pulumi up` in the backend's history): ")
    for line in ledger.lines(ledger.deployments(staging)):
        print(f"  {line}")
    if rolling_update.swarm_ready():
        print(rolling_update.report(rolling_update.run(tmp / "rolling")))
    else:
        print("rolling update under load: skipped (this engine is no Swarm manager: bash scripts/swarm.sh up)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
