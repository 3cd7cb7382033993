"""Verification through Dokploy's API, through the real engine, the real program (CLI route) and a Dokploy stand-in that
really deploys with Docker: what runs is the release, healthy, and stays up, as Dokploy itself sees it.

One stand-in of its own (random port, its own work dir) and stacks with random names, two services each
(brain-api in the backend project, admin-dashboard in the frontend one), host ports chosen free at run time,
images under their own names and repositories. Each container, stack file and stack is removed at the end.
The tests share the world and run in order (stack A: healthy, crash, leftover; stacks S and P: isolation).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from deployctl import engine, ledger
from deployctl.operations import EngineFailed, up
from dokploy_api import DokployClient
from testkit import images
from testkit.dokploy import FakeDokploy
from tests.engine_helpers import ROOT, StackFiles, free_ports, remove_stack, sh

pytestmark = pytest.mark.engine
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
KEEP = ("brain-api", "admin-dashboard")  # one service per compose project


class World(StackFiles):
    """The stand-in, the local images and the stacks of this module."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run = secrets.token_hex(3)
        self.key = secrets.token_hex(16)
        self.srv = FakeDokploy(api_keys={self.key}, docker=True, work_dir=tmp / "dokploy", state_file=tmp / "dokploy.json", latency=0)
        self.srv.start()
        self.registry = f"127.0.0.1:5000/verify-{self.run}"
        self.stacks: list[str] = []
        self.images: dict[str, str] = {}
        for name in KEEP:
            self.images[name] = self.build(name, "ok")
        self.images["brain-api-crash"] = self.build("brain-api", "crash", behaviour="once-then-exit")
        self.images["brain-api-v2"] = self.build("brain-api", "v2")

    def build(self, service: str, variant: str, behaviour: str = "serve") -> str:
        spec = RAW["services"][service]
        tag = f"verify-{self.run}/{service}:{variant}"
        images.build_image(tag, service, int(spec["port"]), spec["health"], variant=f"{self.run}-{variant}", behaviour=behaviour)
        return tag

    def stack_config(self, stack: str, ports: list[int], *, window: float, **extra: Any) -> dict[str, Any]:
        services: dict[str, Any] = {n: {"enabled": False} for n in RAW["services"] if n not in KEEP}
        for name, port in zip(KEEP, ports, strict=True):
            services[name] = {"published": port, "local_image": self.images[name]}
        return self.config(stack, services, {"healthTimeout": 60, "stabilityWindow": window, **extra})

    def secrets_of(self, stack: str) -> list[str]:
        values = engine.stack(stack).get_all_config()
        return [v.value for v in values.values() if v.secret] + [self.key]

    def app_name(self, stack: str, group: str) -> str:
        compose_id = engine.stack(stack).outputs()["compose_project_ids"].value[group]
        with DokployClient(self.srv.base_url, self.key, allow_insecure_http=True) as client:
            return str(client.compose.one(compose_id)["appName"])

    def image_of(self, container: str) -> str:
        return sh("docker", "inspect", "-f", "{{.Config.Image}}", container)

    def close(self) -> None:
        for stack in reversed(self.stacks):
            remove_stack(stack)
        self.srv.stop()
        images.remove_containers(self.run)  # every container of this module has the run id in its name
        pushed = sh("docker", "images", "-q", "--filter", f"reference={self.registry}/*").split()  # tagged for the pushes
        subprocess.run(["docker", "rmi", "-f", *self.images.values(), *sorted(set(pushed))], capture_output=True, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("verification")
    (tmp / "backend").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PULUMI_BACKEND_URL", (tmp / "backend").as_uri())
        w = World(tmp)
        try:
            yield w
        finally:
            w.close()


@pytest.fixture(scope="module")
def stack_a(world: World) -> str:
    """A staging-like stack whose window (8 s) outlasts the crash test's 5 s."""
    name = f"v{world.run}a"
    world.init(name, world.stack_config(name, free_ports(2), window=8))
    return name


def problems(err: pytest.ExceptionInfo[EngineFailed]) -> str:
    return "\n".join(err.value.problems)


def test_a_healthy_release_passes_with_its_record_in_the_outputs_and_the_ledger(world: World, stack_a: str) -> None:
    world.srv.reset_calls()
    result, elapsed = up(stack_a, quiet=True)
    out = {k: v.value for k, v in result.outputs.items()}
    assert out["verified"] is True
    record = out["verification"]
    assert set(record) == set(KEEP)
    for name in KEEP:
        container = f"{RAW['services'][name]['container_name']}-{stack_a}"
        assert record[name] == {
            "digest": out["image_digests"][name],
            "image": out["release_manifest"][name],
            "health": "healthy",
            "restarts": 0,
            "replicas": 1,
            "window_s": 8.0,
            "containers": [container],
        }
        assert world.image_of(container) == out["release_manifest"][name]  # what Dokploy said is what Docker runs
    [entry] = ledger.releases(stack_a)  # recorded by the up itself, verification record included
    assert (entry.id, entry.status) == (out["release_id"], "verified") and (entry.last.release or {})["verification"] == record
    calls = Counter(p for _, p, _ in world.srv.calls if p.startswith(("docker.", "compose.readLogs", "swarm.")))
    print(f"\nverification of 2 projects x 1 service: {dict(calls)}; up took {elapsed:.1f}s")
    # per container: inspected when new, when its listed health turned healthy, once more at the end of the window
    assert calls["docker.getConfig"] <= 2 * 3 + 2, calls
    assert set(calls) <= {"docker.getContainersByAppNameMatch", "docker.getConfig"}


def test_a_service_that_answers_once_then_exits_fails_up_naming_it_and_the_verified_revert(world: World, stack_a: str) -> None:
    before = engine.stack(stack_a).outputs()
    good = before["release_manifest"].value["brain-api"]
    services = world.plain(stack_a, "services")
    crash = {**services["brain-api"], "local_image": world.images["brain-api-crash"]}
    world.set_plain(stack_a, "services", {**services, "brain-api": crash})
    started = time.monotonic()
    with pytest.raises(EngineFailed) as err:
        up(stack_a, quiet=True)
    text = problems(err)
    print(f"\nthe crash was found and the revert verified in {time.monotonic() - started:.1f}s:\n{text}")
    brain = f"bizosaas-brain-{stack_a}"
    assert "not stable over the 8s stability window: brain-api: expected RestartCount to stay 0 over the 8s stability window; " in text
    assert f"saw 1 ({brain} restarted" in text
    assert f"last log lines of {brain}:" in text and "answered its health path once; exiting with 1 in 5 s" in text
    assert "rolled back to the previous compose file and env: deployment " in text
    assert "done; the previous version verified again: brain-api as deployed, healthy, stable over 8s" in text
    assert not [s for s in world.secrets_of(stack_a) if s and s in text]
    assert world.image_of(brain) == good  # the revert runs
    crashed, verified = ledger.releases(stack_a)  # newest first: the crash is recorded as failed, never rolled back to
    assert crashed.status == "failed" and (verified.status, (verified.last.release or {})["manifest"]["brain-api"]) == ("verified", good)
    world.set_plain(stack_a, "services", services)


def test_a_container_of_an_older_digest_left_in_the_project_fails_verification(world: World, stack_a: str) -> None:
    old = engine.stack(stack_a).outputs()["release_manifest"].value["brain-api"]
    app = world.app_name(stack_a, "backend")
    leftover = f"verify-{world.run}-leftover"
    # what `docker compose run -d brain-api` of the previous release leaves behind: a one-off container of the project
    sh("docker", "run", "-d", "--name", leftover, "--network", "dokploy-network", "--label", f"com.docker.compose.project={app}",
       "--label", "com.docker.compose.service=brain-api", "--label", "com.docker.compose.oneoff=True", old)
    services = world.plain(stack_a, "services")
    world.set_plain(stack_a, "services", {**services, "brain-api": {**services["brain-api"], "local_image": world.images["brain-api-v2"]}})
    world.set_plain(stack_a, "rollbackOnFailure", False)
    try:
        started = time.monotonic()
        with pytest.raises(EngineFailed) as err:
            up(stack_a, quiet=True)
        text = problems(err)
        print(f"\nthe leftover was found {time.monotonic() - started:.1f}s after `up` started:\n{text}")
        assert f"compose project backend ({app}): not running as deployed: " in text  # its catalog name, Dokploy's after it
        assert f"\nnext: python -m deployctl logs --stack {stack_a} brain-api --tail 50" in text  # what helps next
        assert "Traceback" not in text and 'File "' not in text and "Exception calling application" not in text
        assert f"brain-api: expected only {world.registry}/brain-api@sha256:" in text
        assert f" running; saw {leftover} still runs {old} (running)" in text
        assert "rolled back" not in text
    finally:
        subprocess.run(["docker", "rm", "-f", leftover], capture_output=True, check=False)
    result, _ = up(stack_a, quiet=True)  # nothing left over: the same release now verifies
    assert result.outputs["verified"].value is True
    assert result.outputs["verification"].value["brain-api"]["digest"] != old.split("@")[1]


def test_prod_and_staging_on_one_host_never_verify_each_others_containers(world: World) -> None:
    """As the shipped stack files: one Dokploy host, prod promotes staging's digests and has no port overrides
    (here prod publishes the same ports on 127.0.0.2), and a health URL that staging's containers answer."""
    ports = free_ports(2)
    staging, prod = f"v{world.run}s", f"v{world.run}p"
    world.init(staging, world.stack_config(staging, ports, window=2))
    world.init(prod, world.stack_config(prod, ports, window=2, promoteFrom=f"organization/bizosaas-deploy/{staging}",
                                        publishAddress="127.0.0.2", protect=False))
    staged = up(staging, quiet=True)[0].outputs["verification"].value
    promoted = up(prod, quiet=True)[0].outputs
    assert promoted["verified"].value is True
    record = promoted["verification"].value
    assert {n: r["digest"] for n, r in record.items()} == {n: r["digest"] for n, r in staged.items()}  # the same digests ...
    for name in KEEP:  # ... and each stack saw only its own containers
        assert record[name]["containers"] == [f"{RAW['services'][name]['container_name']}-{prod}"]
        assert staged[name]["containers"] == [f"{RAW['services'][name]['container_name']}-{staging}"]

    # prod goes down; its stack file's health URL (the host, the published port) is answered by staging's container
    for name in KEEP:
        sh("docker", "stop", "-t", "2", f"{RAW['services'][name]['container_name']}-{prod}")
    brain = RAW["services"]["brain-api"]
    assert requests.get(f"http://127.0.0.1:{ports[0]}{brain['health']}", timeout=5).status_code == 200
    world.set_plain(prod, "healthUrl", "http://127.0.0.1:{published}{path}")  # a health URL change: verify again, no deploy
    with pytest.raises(EngineFailed) as err:
        up(prod, quiet=True)
    text = problems(err)
    print(f"\nprod, down while staging answers its URL:\n{text}")
    for name in KEEP:
        assert f"{name}: expected its container running; saw {RAW['services'][name]['container_name']}-{prod} exited" in text
    assert f"-{staging}" not in text
    assert engine.stack(staging).outputs()["verified"].value is True
