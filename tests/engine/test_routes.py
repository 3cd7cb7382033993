"""The shipped local stacks side by side, routed by a real Traefik: `local` and `local-prod` from stacks/local.yaml and
stacks/local-prod.yaml on one Dokploy stand-in (really deploying with Docker), through the real engine and program.

Each stack gets Dokploy domains for its public services (the stand-in writes Traefik's labels at deploy as Dokploy
does), publishes no host port, and is verified through Dokploy's API and through the route; a Traefik configured as
Dokploy's (testkit/traefik.py: a container on dokploy-network, the Docker provider) then sends each stack's host names
to that stack's own containers. Only the identity of the stacks is this run's (names, container suffixes, projects,
domains, images, the Traefik's ports): every Traefik on this engine sees every labelled container. Two services per
stack (brain-api in backend, thrillring-gaming in frontend), one world for the module, tests in order.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from deployctl import local_stack
from deployctl.operations import up
from dokploy_api import DokployClient
from testkit import images
from testkit.dokploy import FakeDokploy
from testkit.traefik import Traefik
from tests.engine_helpers import REGISTRY, ROOT, remove_stack, sh

pytestmark = pytest.mark.engine
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
KEEP = ("brain-api", "thrillring-gaming")  # thrillring-gaming calls brain-api only
NS = "bizosaas-deploy"


class World:
    def __init__(self, tmp: Path, traefik: Traefik) -> None:
        self.run = secrets.token_hex(3)
        self.key = secrets.token_hex(16)
        self.traefik = traefik  # this module's own (tests/conftest.py: random loopback ports)
        self.srv = FakeDokploy(api_keys={self.key}, docker=True, work_dir=tmp / "dokploy", latency=0)
        self.srv.start()
        self.local, self.prod = f"routes-{self.run}", f"routes-{self.run}-prod"
        self.stacks: list[str] = []
        self.images = {n: f"routes-{self.run}/{n}:v1" for n in KEEP}
        for name, tag in self.images.items():
            spec = RAW["services"][name]
            images.build_image(tag, name, int(spec["port"]), spec["health"], variant=self.run)

    def init(self, stack: str, template: str, **keys: Any) -> None:
        """A stack from a shipped template, with this run's identity only."""
        services: dict[str, Any] = {n: {"enabled": False} for n in RAW["services"] if n not in KEEP}
        services.update({n: {"local_image": self.images[n]} for n in KEEP})
        extra = {"registry": f"{REGISTRY}/routes-{self.run}", "tag": stack, "containerSuffix": stack,
                 "dokployUrl": self.srv.base_url, "dokployProject": f"bizosaas-{stack}", "services": services,
                 "traefikUrl": self.traefik.web_url, **keys}
        self.stacks.append(stack)
        st = local_stack.init_from(stack, ROOT / "stacks" / template, extra={f"{NS}:{k}": v for k, v in extra.items()})
        st.set_config(f"{NS}:dokployApiKey", auto.ConfigValue(self.key, secret=True))

    def container(self, service: str, stack: str) -> str:
        return f"{RAW['services'][service]['container_name']}-{stack}"

    def hostname(self, container: str) -> str:
        return sh("docker", "inspect", "-f", "{{.Config.Hostname}}", container)

    def close(self) -> None:
        for stack in reversed(self.stacks):
            remove_stack(stack)
        self.srv.stop()
        images.remove_containers(self.run)
        pushed = sh("docker", "images", "-q", "--filter", f"reference={REGISTRY}/routes-{self.run}/*").split()
        subprocess.run(["docker", "rmi", "-f", *self.images.values(), *sorted(set(pushed))], capture_output=True, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, traefik: Traefik) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("routes")
    (tmp / "backend").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PULUMI_BACKEND_URL", (tmp / "backend").as_uri())
        w = World(tmp, traefik)
        try:
            yield w
        finally:
            w.close()


def test_local_is_verified_through_its_routes_and_publishes_no_host_port(world: World) -> None:
    world.init(world.local, "local.yaml", domain=f"{world.run}.local.bizoholic.test")
    result, _ = up(world.local, quiet=True)
    out = {k: v.value for k, v in result.outputs.items()}
    assert out["verified"] is True
    api = f"api.{world.run}.local.bizoholic.test"
    assert out["verification"]["brain-api"]["route"] == {
        "url": f"http://{api}/health", "through": world.traefik.web_url, "status": 200,
        "seconds": out["verification"]["brain-api"]["route"]["seconds"]}
    assert out["verification"]["thrillring-gaming"]["route"]["url"] == f"http://thrillring.{world.run}.local.bizoholic.test/api/health"
    for name in KEEP:
        assert sh("docker", "port", world.container(name, world.local)) == ""  # no host port: reached through Traefik
    with DokployClient(world.srv.base_url, world.key, allow_insecure_http=True) as client:
        rows = client.overview.domains()
    assert sorted((r["host"], r["projectName"]) for r in rows) == sorted(
        [(api, f"bizosaas-{world.local}"), (f"thrillring.{world.run}.local.bizoholic.test", f"bizosaas-{world.local}")])


def test_local_prod_runs_beside_it_and_each_stacks_hosts_answer_from_its_own_containers(world: World) -> None:
    promote = {"promoteFrom": f"organization/bizosaas-deploy/{world.local}", "protect": False}
    world.init(world.prod, "local-prod.yaml", domain=f"{world.run}.bizoholic.test", **promote)
    result, _ = up(world.prod, quiet=True)
    assert result.outputs["verified"].value is True
    answered = {}
    for stack, domain in ((world.local, f"{world.run}.local.bizoholic.test"), (world.prod, f"{world.run}.bizoholic.test")):
        for name, host in (("brain-api", f"api.{domain}"), ("thrillring-gaming", f"thrillring.{domain}")):
            resp = world.traefik.wait_route(host, "/cgi-bin/whoami")
            answered[(stack, name)] = resp.text.strip()
            assert answered[(stack, name)] == world.hostname(world.container(name, stack)), (stack, name, host)
    assert len(set(answered.values())) == 4  # four containers, each answering only its own stack's host names
    assert world.traefik.get(f"api.{world.run}.nowhere.test", "/health").status_code == 404  # an unknown host: Traefik's 404
