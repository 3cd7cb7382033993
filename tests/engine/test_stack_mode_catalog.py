"""The shipped catalog, all 14 services, in stack mode through the real engine (issue 22: names Swarm takes).

Dokploy's generated appName (``compose-<verb>-<adjective>-<noun>-<6>``) plus ``_business-directory-backend`` was 67
characters, and Swarm refuses a service name over 63: moving the shipped backend to stack mode failed at deploy. The
program now asks for ``<stack>-<group>`` and checks every derived name at preview. Here both compose projects of the
unreduced catalog run as stacks on this engine's single-node Swarm through a Dokploy stand-in that really runs
``docker stack deploy``: the ``up`` verifies, and every Swarm service is ``<our appName>_<service>``. Images are
built under this module's own names (never the shared ``bizosaas-*:latest``); nothing is published (host-mode
ports would need one free port per service, and 2 brain-api replicas on one node cannot share one); everything is
removed at the end, also when the test fails.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.names import app_name_base
from deployctl.operations import up
from testkit import images
from testkit.dokploy import FakeDokploy
from tests.engine.test_stack_mode import swarm_manager
from tests.engine_helpers import ROOT, StackFiles, remove_stack, sh

pytestmark = pytest.mark.engine
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())


class World(StackFiles):
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run = secrets.token_hex(3)
        self.key = secrets.token_hex(16)
        self.srv = FakeDokploy(api_keys={self.key}, docker=True, work_dir=tmp / "dokploy", state_file=tmp / "dokploy.json", latency=0)
        self.srv.start()
        self.registry = f"127.0.0.1:5000/catalog-{self.run}"
        self.stacks: list[str] = []
        self.images = {}
        for name, spec in RAW["services"].items():
            tag = f"catalog-{self.run}/{name}:v1"
            images.build_image(tag, name, int(spec["port"]), spec["health"], variant=self.run)
            self.images[name] = tag

    def close(self) -> None:
        for stack in reversed(self.stacks):
            remove_stack(stack)
        apps = [c["appName"] for c in self.srv.state.composes.values()]
        self.srv.stop()
        for app in apps:  # whatever a failed test left behind, by our own names only
            subprocess.run(["docker", "stack", "rm", app], capture_output=True, check=False)
        pushed = sh("docker", "images", "-q", "--filter", f"reference={self.registry}/*").split()
        subprocess.run(["docker", "rmi", "-f", *self.images.values(), *sorted(set(pushed))], capture_output=True, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if not swarm_manager():
        pytest.skip("needs the engine as a Swarm manager with dokploy-network an attachable overlay: bash scripts/swarm.sh up")
    tmp = tmp_path_factory.mktemp("stack-catalog")
    (tmp / "backend").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PULUMI_BACKEND_URL", (tmp / "backend").as_uri())
        env.setenv("BIZOSAAS_LEDGER_DIR", str(tmp / "ledger"))
        w = World(tmp)
        try:
            yield w
        finally:
            w.close()


def test_the_shipped_catalog_runs_in_stack_mode_under_the_app_name_we_chose(world: World) -> None:
    stack = f"cat{world.run}"
    services: dict[str, Any] = {n: {"published": False, "local_image": world.images[n]} for n in RAW["services"]}
    mode = {"mode": "stack", "ports": "host", "endpointMode": "dnsrr"}
    keys = {"composeProjects": {"backend": mode, "frontend": mode}, "healthTimeout": 180, "stabilityWindow": 2, "testGate": False}
    world.init(stack, world.config(stack, services, keys))
    result, elapsed = up(stack, quiet=True)
    print(f"\nthe 14-service catalog in stack mode: up took {elapsed:.1f}s")
    assert result.outputs["verified"].value is True
    assert sorted(result.outputs["verification"].value) == sorted(RAW["services"])
    running = set(sh("docker", "service", "ls", "--format", "{{.Name}}").split())
    for group in ("backend", "frontend"):
        [compose] = [c for c in world.srv.state.composes.values() if c["name"] == group and c["composeType"] == "stack"]
        app = compose["appName"]
        assert app.startswith(app_name_base(stack, group) + "-") and len(app) == len(app_name_base(stack, group)) + 7
        for name, spec in RAW["services"].items():
            if spec["group"] == group:
                assert f"{app}_{name}" in running and len(f"{app}_{name}") <= 63


def test_a_noop_up_reads_dokploy_once_per_compose_project_and_deploys_nothing(world: World) -> None:
    """What the provider's look at Dokploy costs a no-op up, next to a refresh before it (what Pulumi.yaml
    ``options: refresh: always`` would do on every up); printed for the README, not asserted (no timed assertions)."""
    stack = f"cat{world.run}"
    world.srv.reset_calls()
    result, plain = up(stack, quiet=True)
    reads = [p for _, p, _ in world.srv.calls if p == "compose.one"]
    assert {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"} == {}
    assert world.srv.write_calls == 0 and len(reads) == 2  # one look per compose project, nothing written
    world.srv.reset_calls()
    _, refreshed = up(stack, quiet=True, refresh=True)
    print(f"\nno-op up of the 14-service stack: {plain:.1f}s (2 compose.one), with --refresh: {refreshed:.1f}s "
          f"({len(world.srv.calls)} Dokploy calls)")
