"""The main job end to end through the real engine, Docker Engine, registry and Dokploy stand-in:
ship, no-op, one-image change, promotion, rollback, and the faults of a real run.

The tests of this module share one world (a staging-like stack and its prod) and run in order.
"""

from __future__ import annotations

import copy
import json
import os
import random
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import requests
import yaml
from pulumi import automation as auto

from deployctl import engine, ledger, local_stack
from deployctl.operations import EngineFailed, rollback, unpin, up
from testkit import images, ports
from testkit.dokploy import FakeDokploy
from testkit.registry_stats import stored_bytes
from tests.engine_helpers import REGISTRY, registry_digest, remove_stack

pytestmark = pytest.mark.engine
ROOT = engine.PROJECT_DIR
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())


def _free_offset() -> int:
    """An offset for the catalog's published ports under which they, and the prod stack's (+100), are all free, handed to
    no other test side by side (testkit/ports.py)."""
    published = [int(s["published"]) for s in RAW["services"].values()]
    for _ in range(100):
        offset = random.randrange(15000, 50000, 100)
        if ports.claim([p + offset + extra for p in published for extra in (0, 100)]):
            return offset
    raise RuntimeError("no free range of host ports for the e2e stacks")


class World:
    """One fake Dokploy (really deploying with Docker), a staging-like stack and a prod stack."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.key = secrets.token_hex(16)
        self.run_id = secrets.token_hex(3)
        self.stack = f"test-{self.run_id}"
        self.prod = f"test-{self.run_id}-prod"
        self.port = _free_port()
        self.offset = _free_offset()  # host ports: catalog + offset (staging), + offset + 100 (prod)
        # images and registry repositories of this run only: other checkouts on this Docker Engine build the catalog's names
        self.raw = copy.deepcopy(RAW)
        for name, spec in self.raw["services"].items():
            spec["local_image"] = f"bizosaas-e2e-{self.run_id}-{name}:latest"
        self.registry = f"{REGISTRY}/e2e-{self.run_id}"
        self.srv = self.new_server()

    def new_server(self) -> FakeDokploy:
        srv = FakeDokploy(
            api_keys={self.key},
            docker=True,
            work_dir=self.tmp / "dokploy",
            state_file=self.tmp / "dokploy.json",
            port=self.port,
            builds_concurrency=2,
            latency="dokploy",  # as slow as a real Dokploy
        )
        srv.start()
        return srv

    def config(self, stack: str, suffix: str, offset: int, **extra: Any) -> dict[str, Any]:
        services = {n: {"published": s["published"] + offset, "local_image": s["local_image"]} for n, s in self.raw["services"].items()}
        return {
            "bizosaas-deploy:registry": self.registry,
            "bizosaas-deploy:tag": stack,
            "bizosaas-deploy:containerSuffix": suffix,
            "bizosaas-deploy:dokployUrl": self.srv.base_url,
            "bizosaas-deploy:dokployProject": f"bizosaas-{stack}",
            "bizosaas-deploy:services": services,
            "bizosaas-deploy:healthTimeout": 20,
            "bizosaas-deploy:deployTimeout": 90,
            "bizosaas-deploy:routes": {"enabled": False},  # the demo's hosts and Traefik are the demo's (tests/engine/test_routes.py)
            **extra,
        }

    def init(self, stack: str, template: str, config: dict[str, Any]) -> auto.Stack:
        st = local_stack.init_from(stack, ROOT / "stacks" / template, extra=config)
        st.set_config("bizosaas-deploy:dokployApiKey", auto.ConfigValue(self.key, secret=True))
        return st

    def health(self, service: str, prod: bool = False) -> int:
        spec = RAW["services"][service]
        offset = self.offset + (100 if prod else 0)
        try:
            return requests.get(f"http://127.0.0.1:{spec['published'] + offset}{spec['health']}", timeout=3).status_code
        except requests.ConnectionError:
            return 0

    def project_containers(self, suffix: str) -> list[str]:
        out = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=True).stdout.split()
        return sorted(n for n in out if n.endswith(f"-{suffix}"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("e2e")
    saved = {k: os.environ.get(k) for k in ("PULUMI_BACKEND_URL",)}
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    (tmp / "backend").mkdir()
    w = World(tmp)
    images.build_catalog_images(w.raw, variant="v1")
    w.init(w.stack, "local.yaml", w.config(w.stack, w.stack, w.offset))
    try:
        yield w
    finally:
        for name in (w.prod, w.stack):
            remove_stack(name)
        w.srv.stop()
        images.remove_containers(w.run_id)  # whatever a failed test left behind
        local = [s["local_image"] for s in w.raw["services"].values()]
        subprocess.run(["docker", "rmi", "-f", *local], capture_output=True, check=False)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def registry_bytes(world: World) -> int:
    """Bytes the local registry stores in this run's repositories (what pushes added), asked from the registry itself."""
    return stored_bytes(REGISTRY, prefix=world.registry.split("/", 1)[1])


def changes(result: auto.UpResult) -> dict[str, int]:
    return {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}


def test_up_ships_14_healthy_services_pinned_by_digest(world: World) -> None:
    result, _ = up(world.stack, quiet=True)
    out = {k: v.value for k, v in result.outputs.items()}
    assert out["verified"] is True
    assert len(out["release_manifest"]) == 14
    repo = f"{world.registry}/brain-api"
    assert out["release_manifest"]["brain-api"] == f"{repo}@{registry_digest(repo, world.stack)}"
    assert len(world.project_containers(world.stack)) == 14
    assert {s: world.health(s) for s in RAW["services"]} == dict.fromkeys(RAW["services"], 200)
    backend = yaml.safe_load(out["compose"]["backend"])
    assert backend["services"]["brain-api"]["image"] == out["release_manifest"]["brain-api"]
    assert [(r.id, r.status) for r in ledger.releases(world.stack)] == [(out["release_id"], "verified")]  # recorded by `up` itself
    assert out["release"]["compose"]["backend"]["text"] == out["compose"]["backend"]


def test_second_up_changes_nothing_pushes_nothing_and_writes_nothing(world: World) -> None:
    before = registry_bytes(world)
    world.srv.reset_calls()
    result, _ = up(world.stack, quiet=True)
    assert changes(result) == {}
    assert world.srv.write_calls == 0, world.srv.calls
    assert registry_bytes(world) == before
    assert len(ledger.releases(world.stack)) == 1


def test_one_changed_image_pushes_one_and_redeploys_one_project(world: World) -> None:
    old = engine.stack(world.stack).outputs()["release_manifest"].value
    images.build_catalog_images(world.raw, variant="v2", only=["brain-api"])
    world.srv.reset_calls()
    result, _ = up(world.stack, quiet=True)
    manifest = result.outputs["release_manifest"].value
    assert [s for s in manifest if manifest[s] != old[s]] == ["brain-api"]
    deploys = [c for c in world.srv.calls if c[1] in ("compose.deploy", "compose.redeploy")]
    assert len(deploys) == 1, world.srv.calls
    assert changes(result) == {"replace": 3, "update": 2}, changes(result)  # test + tag + push replaced, release record and backend updated
    assert world.health("brain-api") == 200
    assert len(ledger.releases(world.stack)) == 2


def test_prod_promotes_the_verified_release_without_pushing(world: World) -> None:
    source = f"organization/bizosaas-deploy/{world.stack}"
    expect = engine.stack(world.stack).outputs()["release_id"].value  # what the promote workflow sets from the approved run
    # a promoted stack protects its Dokploy resources by default; this test stack is destroyed at the end
    promote = {"bizosaas-deploy:promoteFrom": source, "bizosaas-deploy:expectRelease": expect, "bizosaas-deploy:protect": False}
    world.init(world.prod, "local-prod.yaml", world.config(world.prod, world.prod, world.offset + 100, **promote))
    before = registry_bytes(world)
    result, _ = up(world.prod, quiet=True)
    staging = engine.stack(world.stack).outputs()
    assert result.outputs["release_manifest"].value == staging["release_manifest"].value
    assert result.outputs["verified"].value is True
    assert registry_bytes(world) == before
    types = {r["type"] for r in engine.stack(world.prod).export_stack().deployment["resources"]}
    assert not any(t.startswith("docker:") for t in types), types
    assert world.health("brain-api", prod=True) == 200
    assert result.outputs["release"].value["promoted_from"] == source


def _fake_release_stack(name: str, manifest: dict[str, str], verified: bool) -> None:
    def program() -> None:
        pulumi.export("release_manifest", manifest)
        pulumi.export("verified", verified)

    engine.stack(name, program=program).up(color="never")


def test_prod_refuses_an_unverified_release_and_a_digest_not_in_the_registry(world: World) -> None:
    manifest = engine.stack(world.stack).outputs()["release_manifest"].value
    prod = engine.stack(world.prod)
    try:
        prod.set_config("bizosaas-deploy:expectRelease", auto.ConfigValue("r-000000000000"))
        with pytest.raises(auto.errors.CommandError, match=r"expectRelease: the source stack runs release r-\w{12}, not r-000000000000"):
            prod.preview(color="never")
        prod.remove_config("bizosaas-deploy:expectRelease")
        _fake_release_stack(f"{world.stack}-unverified", manifest, verified=False)
        prod.set_config("bizosaas-deploy:promoteFrom", auto.ConfigValue(f"organization/bizosaas-deploy/{world.stack}-unverified"))
        with pytest.raises(auto.errors.CommandError, match="was not verified healthy; refusing to promote it"):
            prod.preview(color="never")
        missing = {**manifest, "brain-api": manifest["brain-api"].split("@")[0] + "@sha256:" + "0" * 64}
        _fake_release_stack(f"{world.stack}-missing", missing, verified=True)
        prod.set_config("bizosaas-deploy:promoteFrom", auto.ConfigValue(f"organization/bizosaas-deploy/{world.stack}-missing"))
        with pytest.raises(auto.errors.CommandError, match=r"brain-api: .*@sha256:0{64} is not in the registry"):
            prod.preview(color="never")
    finally:
        prod.set_config("bizosaas-deploy:promoteFrom", auto.ConfigValue(f"organization/bizosaas-deploy/{world.stack}"))
        for name in (f"{world.stack}-unverified", f"{world.stack}-missing"):
            engine.stack(name, program=lambda: None).destroy(color="never")
            (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)


def test_rollback_to_the_previous_release_redeploys_one_project_and_pushes_nothing(world: World) -> None:
    current, first = ledger.releases(world.stack)  # newest first: brain-api v2, then the first release
    recorded = first.last.release or {}
    before = registry_bytes(world)
    world.srv.reset_calls()
    result, elapsed, row = rollback(world.stack, "previous", quiet=True)
    assert row.release_id == first.id
    assert result.outputs["release_id"].value == first.id and result.outputs["release"].value["pinned"] == first.id
    deploys = [c for c in world.srv.calls if c[1] in ("compose.deploy", "compose.redeploy")]
    assert len(deploys) == 1
    assert registry_bytes(world) == before
    running = subprocess.run(
        ["docker", "inspect", "-f", "{{.Config.Image}}", f"bizosaas-brain-{world.stack}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert running == recorded["manifest"]["brain-api"]
    resources = engine.stack(world.stack).export_stack().deployment["resources"]
    composes = {r["outputs"]["compose_name"]: r["outputs"]["compose_sha256"] for r in resources if r["type"].endswith("ComposeProject")}
    assert composes == {g: c["sha256"] for g, c in recorded["compose"].items()}  # the compose projects as recorded
    print(f"rollback took {elapsed:.1f}s")
    unpin(world.stack)
    result, _ = up(world.stack, quiet=True)  # back to the freshly pushed images (brain-api v2)
    assert result.outputs["release_id"].value == current.id == ledger.releases(world.stack)[0].id


def test_unhealthy_service_fails_up_restores_previous_compose_and_next_up_converges(world: World) -> None:
    good = engine.stack(world.stack).outputs()["release_id"].value
    broken_dir = world.tmp / "broken"
    broken_dir.mkdir()
    images.write_context(broken_dir, "brain-api", 8001, "/not-the-health-path", "broken")
    subprocess.run(
        ["docker", "build", "-q", "-t", world.raw["services"]["brain-api"]["local_image"], str(broken_dir)],
        check=True,
        capture_output=True,
        env={"DOCKER_BUILDKIT": "0", "PATH": os.environ["PATH"]},
    )
    entries = len(ledger.releases(world.stack))
    st = engine.stack(world.stack)
    # the pre-push test gate would stop this image before any push (tests/engine/test_gate.py): this test is about an
    # image that reaches Dokploy and fails there, so the gate is off for this one up
    st.set_config("bizosaas-deploy:testGate", auto.ConfigValue("false"))
    try:
        with pytest.raises(EngineFailed) as err:
            up(world.stack, quiet=True)
    finally:
        st.remove_config("bizosaas-deploy:testGate")
    text = str(err.value)
    # verification reads Dokploy's API: the container never turns healthy (its health path is not served)
    assert f"brain-api: expected healthy; saw bizosaas-brain-{world.stack} running" in text
    listed = ledger.releases(world.stack)
    assert len(listed) == entries + 1 and listed[0].status == "failed"  # recorded as failed: `previous` skips it
    assert world.health("brain-api") == 200  # rolled back to the last good compose file
    assert engine.stack(world.stack).outputs()["release_id"].value == good
    images.build_catalog_images(world.raw, variant="v2", only=["brain-api"])
    result, _ = up(world.stack, quiet=True)
    assert result.outputs["verified"].value is True


def test_dokploy_killed_mid_deploy_fails_clearly_and_next_up_converges(world: World) -> None:
    images.build_catalog_images(world.raw, variant="v3", only=["brain-api"])

    def kill_when_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(d["status"] == "running" for d in world.srv.state.snapshot()["deployments"]):
                world.srv.stop()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    st = engine.stack(world.stack)
    st.set_config("bizosaas-deploy:dokployUnreachableTimeout", auto.ConfigValue("10"))  # how long it waits for a Dokploy that is gone
    try:
        with pytest.raises(EngineFailed) as err:
            up(world.stack, quiet=True)
    finally:
        killer.join()
        st.remove_config("bizosaas-deploy:dokployUnreachableTimeout")
    assert "backend" in str(err.value)
    assert f"Dokploy at {world.srv.base_url} did not answer for 10s while waiting for the update deploy" in str(err.value)
    world.srv = world.new_server()  # Dokploy restarts: a deployment left running is now cancelled
    result, _ = up(world.stack, quiet=True)
    assert result.outputs["verified"].value is True
    assert world.health("brain-api") == 200


def test_two_ups_at_once_one_waits_on_the_lock_and_state_stays_consistent(world: World) -> None:
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(up(world.stack, quiet=True)[0])
        except EngineFailed as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []  # the second waited for the first's lock
    again, _ = up(world.stack, quiet=True)
    assert changes(again) == {}


def test_registry_refusing_a_push_fails_before_any_deploy_and_next_up_converges(world: World, tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "ro-registry"
    data.mkdir()
    reg = _start_registry(port, data, readonly=True)
    name = f"{world.stack}-ro"
    kept = ("brain-api", "thrillring-gaming")  # one service per compose project (a project left empty is refused)
    only_brain: dict[str, Any] = {n: {"enabled": False} for n in RAW["services"] if n not in kept}
    only_brain.update({n: {"published": _free_port(), "local_image": world.raw["services"][n]["local_image"]} for n in kept})
    config = world.config(
        name,
        name,
        0,
        **{"bizosaas-deploy:registry": f"127.0.0.1:{port}/bizoholic-digital/bizosaas-platform", "bizosaas-deploy:services": only_brain},
    )
    world.init(name, "local.yaml", config)
    try:
        world.srv.reset_calls()
        with pytest.raises(EngineFailed) as err:
            up(name, quiet=True)
        assert f"127.0.0.1:{port}" in str(err.value)
        assert not [c for c in world.srv.calls if c[1] in ("compose.deploy", "compose.redeploy")]
        assert ledger.releases(name) == []
        reg.terminate()
        reg.wait()
        reg = _start_registry(port, data, readonly=False)
        result, _ = up(name, quiet=True)
        assert result.outputs["verified"].value is True
    finally:
        engine.stack(name).destroy(color="never")
        (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)
        reg.terminate()


def _start_registry(port: int, data: Path, readonly: bool) -> subprocess.Popen[bytes]:
    config = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(data)}, "maintenance": {"readonly": {"enabled": readonly}}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    path = data.parent / f"registry-{port}-{readonly}.yml"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [shutil.which("docker-registry") or "/usr/bin/docker-registry", "serve", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                return proc
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("registry did not start")


def _free_port() -> int:
    return ports.free_port()
