"""The pre-push test gate through the real engine: the program as `pulumi up` runs it, the pulumi-command
stand-in running probes/image_smoke_test.py against real containers, the docker stand-in, the local registry
and a Dokploy stand-in deploying with Docker.

One small stack (brain-api and auth-service in backend, thrillring-gaming in frontend; the other services
disabled) with its own images (``gate-<run>/<service>:latest`` via the stack's local_image overrides, so
other runs' catalog images are never touched), its own registry path, container names and free host
ports. The tests run in order and share the stack:

1. first up: every image tested, then pushed and deployed;
2. unchanged images: nothing tested, nothing pushed;
3. brain-api answers 500 while thrillring-gaming is rebuilt fine: the up fails naming brain-api, brain-api
   is neither tagged nor pushed, thrillring-gaming is tested and pushed and its compose project deploys,
   the backend compose project does not;
4. brain-api fixed: only brain-api is tested and pushed;
5. auth-service listens on another port than the catalog says: the up fails naming both ports, nothing pushed;
6. fixed: only auth-service is tested and pushed; then an unchanged up tests nothing.
No test container is left behind at any point.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from pulumi import automation as auto

from deployctl import engine, local_stack
from deployctl.operations import EngineFailed, up
from testkit import images, ports
from testkit.dokploy import FakeDokploy
from tests.engine_helpers import REGISTRY, registry_digest, remove_stack

pytestmark = pytest.mark.engine
ROOT = engine.PROJECT_DIR
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
ENABLED = ("brain-api", "auth-service", "thrillring-gaming")
COMMAND = "command:local:Command"
PUSH = "docker:index/registryImage:RegistryImage"
TAG = "docker:index/tag:Tag"
RUNS = {"create", "replace", "create-replacement", "update"}


def _free_port() -> int:
    return ports.free_port()


@dataclass
class Outcome:
    """What one `up` did, from the engine's events: operations per (type, service), error diagnostics, its output."""

    ops: Counter[tuple[str, str]] = field(default_factory=Counter)
    failed: str = ""
    output: list[str] = field(default_factory=list)

    def ran(self, type_: str) -> list[str]:
        """Services whose resource of this type was created, replaced or updated (a Command that ran; a push)."""
        return sorted({svc for (t, svc), _ in self.ops.items() if t == type_})


class Gate:
    def __init__(self, tmp: Path) -> None:
        self.run = secrets.token_hex(3)
        self.ids: list[str] = []  # every image id this run built
        self.stack = f"gate-{self.run}"
        self.srv = FakeDokploy(api_keys={local_stack.local_dokploy_key()}, docker=True, work_dir=tmp / "dokploy", latency=0)
        self.srv.start()
        self.published = {name: _free_port() for name in ENABLED}
        self.registry = f"{REGISTRY}/gate-{self.run}"
        overrides: dict[str, Any] = {name: {"enabled": False} for name in RAW["services"] if name not in ENABLED}
        overrides.update({name: {"published": self.published[name], "local_image": self.image(name)} for name in ENABLED})
        local_stack.init_from(self.stack, ROOT / "stacks" / "local.yaml", extra={
            "bizosaas-deploy:registry": self.registry,
            "bizosaas-deploy:tag": self.stack,
            "bizosaas-deploy:containerSuffix": self.stack,
            "bizosaas-deploy:dokployUrl": self.srv.base_url,
            "bizosaas-deploy:dokployProject": f"bizosaas-{self.stack}",
            "bizosaas-deploy:healthTimeout": 30,
            "bizosaas-deploy:deployTimeout": 120,
            "bizosaas-deploy:testTimeout": 4,  # the failing cases wait this long
            "bizosaas-deploy:services": overrides,
            "bizosaas-deploy:routes": {"enabled": False},
        })

    def secret_values(self) -> list[str]:
        """The stack's secret values (random, from local_stack.init_from): none may reach a test or its output."""
        config = engine.stack(self.stack).get_all_config()
        values = json.loads(config["bizosaas-deploy:secrets"].value)
        return [*values.values(), config["bizosaas-deploy:dokployApiKey"].value]

    def image(self, name: str) -> str:
        return f"gate-{self.run}/{name}:latest"

    def build(self, name: str, variant: str, **broken: Any) -> str:
        spec = RAW["services"][name]
        return images.build_image(self.image(name), name, spec["port"], spec["health"], f"{variant}-{self.run}", **broken)

    def up(self) -> Outcome:
        outcome = Outcome()

        def on_event(event: auto.EngineEvent) -> None:
            md = event.resource_pre_event.metadata if event.resource_pre_event else None
            op = str(md.op.value if md and hasattr(md.op, "value") else md.op if md else "")
            if md and op in RUNS and md.type in (COMMAND, PUSH, TAG):
                name = md.urn.rsplit("::", 1)[-1]
                outcome.ops[(md.type, name.rsplit("-", 1)[0])] += 1

        try:
            up(self.stack, quiet=True, on_event=on_event)
        except EngineFailed as exc:
            outcome.failed = "\n".join(exc.problems)
        return outcome

    def digest(self, name: str) -> str:
        """What the registry holds under this stack's tag for the service ("" when nothing was pushed)."""
        try:
            return registry_digest(f"{self.registry}/{name}", self.stack)
        except requests.HTTPError:
            return ""

    def health(self, name: str) -> int:
        try:
            return requests.get(f"http://127.0.0.1:{self.published[name]}{RAW['services'][name]['health']}", timeout=3).status_code
        except requests.ConnectionError:
            return 0

    def deployed_variant(self, name: str) -> str:
        """The variant the deployed container serves (the test images answer it in their health body)."""
        resp = requests.get(f"http://127.0.0.1:{self.published[name]}{RAW['services'][name]['health']}", timeout=3)
        return str(resp.json()["variant"]).removesuffix(f"-{self.run}")

    def test_containers(self) -> list[str]:
        """Test containers (label bizosaas.test) of this run's images, whatever their state."""
        listed = subprocess.run(["docker", "ps", "-aq", "--filter", "label=bizosaas.test"], capture_output=True, text=True, check=True)
        if not listed.stdout.split():
            return []
        inspected = subprocess.run(["docker", "inspect", "-f", "{{.Name}} {{.Image}}", *listed.stdout.split()],
                                   capture_output=True, text=True, check=False).stdout.splitlines()
        return [line for line in inspected if line.split()[-1] in self.ids]


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    tmp = tmp_path_factory.mktemp("gate")
    saved = os.environ.get("PULUMI_BACKEND_URL")
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    (tmp / "backend").mkdir()
    g = Gate(tmp)
    try:
        g.ids += [g.build(name, "v1") for name in ENABLED]
        yield g
    finally:
        remove_stack(g.stack)
        g.srv.stop()
        images.remove_containers(g.stack)
        subprocess.run(["docker", "rmi", "-f", *(g.image(n) for n in ENABLED)], capture_output=True, check=False)
        os.environ.pop("PULUMI_BACKEND_URL", None) if saved is None else os.environ.__setitem__("PULUMI_BACKEND_URL", saved)


def test_first_up_tests_every_image_before_pushing_it(gate: Gate) -> None:
    outcome = gate.up()
    assert outcome.failed == ""
    assert outcome.ran(COMMAND) == outcome.ran(PUSH) == sorted(ENABLED)
    stdout = {r["urn"].rsplit("::", 1)[-1]: r["outputs"].get("stdout", "") for r in _resources(gate) if r["type"] == COMMAND}
    assert stdout["brain-api-test"].startswith("image test of brain-api passed: GET /health on port 8001 answered 200 after ")
    assert {name: gate.health(name) for name in ENABLED} == dict.fromkeys(ENABLED, 200)
    assert gate.test_containers() == []
    commands = json.dumps([r for r in _resources(gate) if r["type"] == COMMAND])
    assert [v for v in gate.secret_values() if v in commands] == []  # no secret in a test's inputs or outputs


def test_unchanged_images_are_not_tested_again(gate: Gate) -> None:
    outcome = gate.up()
    assert outcome.failed == ""
    assert outcome.ops == Counter()


def test_an_image_answering_500_is_not_pushed_and_the_up_fails_naming_it(gate: Gate) -> None:
    before = {name: gate.digest(name) for name in ENABLED}
    gate.ids.append(gate.build("brain-api", "v2-broken", health_status=500))
    gate.ids.append(gate.build("thrillring-gaming", "v2"))  # passes: still pushed (not deployed: the release is one whole)
    outcome = gate.up()
    expected = "image test of service brain-api FAILED: GET /health on its catalog port 8001 answered HTTP 500, not 2xx, for 4s"
    assert expected in outcome.failed
    assert "thrillring-gaming" not in outcome.failed.replace("bizosaas-thrillring", "")
    assert outcome.ran(COMMAND) == ["brain-api", "thrillring-gaming"]
    assert outcome.ran(TAG) == outcome.ran(PUSH) == ["thrillring-gaming"]  # brain-api: neither tagged nor pushed
    assert gate.digest("brain-api") == before["brain-api"]
    assert gate.digest("thrillring-gaming") != before["thrillring-gaming"]
    # no compose project deploys: a release is the whole manifest, recorded (ReleaseRecord) before any deploy, and one of
    # its images failed; the frontend's pushed image waits in the registry for the next up
    assert gate.deployed_variant("thrillring-gaming") == "v1"
    assert gate.deployed_variant("brain-api") == "v1"
    assert gate.test_containers() == []


def test_the_fixed_image_is_the_only_one_tested_and_pushed(gate: Gate) -> None:
    before = {name: gate.digest(name) for name in ENABLED}
    gate.ids.append(gate.build("brain-api", "v3"))
    outcome = gate.up()
    assert outcome.failed == ""
    assert outcome.ran(COMMAND) == outcome.ran(PUSH) == ["brain-api"]
    assert [n for n in ENABLED if gate.digest(n) != before[n]] == ["brain-api"]
    assert gate.deployed_variant("brain-api") == "v3"
    assert gate.deployed_variant("thrillring-gaming") == "v2"  # pushed by the failed up, deployed by this one


def test_an_image_listening_on_another_port_is_not_pushed_and_the_up_fails_naming_both_ports(gate: Gate) -> None:
    before = gate.digest("auth-service")
    gate.ids.append(gate.build("auth-service", "v2-port", listen_port=9999))  # EXPOSEs 8007, as the catalog says; listens on 9999
    outcome = gate.up()
    print(f"\n--- the failure of the wrong-port up, as deployctl reports it ---\n{outcome.failed}\n---")
    assert "image test of service auth-service FAILED: it listens on port 9999, not on its catalog port 8007" in outcome.failed
    assert "    listening on port 9999" in outcome.failed  # the container's last lines
    assert [v for v in gate.secret_values() if v in outcome.failed] == []
    assert outcome.ran(COMMAND) == ["auth-service"] and outcome.ran(PUSH) == [] and outcome.ran(TAG) == []
    assert gate.digest("auth-service") == before
    assert gate.test_containers() == []


def test_fixed_again_only_that_image_is_tested_and_pushed_then_nothing_is_tested(gate: Gate) -> None:
    gate.ids.append(gate.build("auth-service", "v3"))
    outcome = gate.up()
    assert outcome.failed == ""
    assert outcome.ran(COMMAND) == outcome.ran(PUSH) == ["auth-service"]
    assert gate.health("auth-service") == 200
    again = gate.up()
    assert again.failed == "" and again.ops == Counter()
    assert gate.test_containers() == []


def _resources(gate: Gate) -> list[dict[str, Any]]:
    return list(engine.stack(gate.stack).export_stack().deployment["resources"])
