"""A stack asking for a host port another compose project publishes, and a host another project routes, through the real
engine and program: refused at preview and at up with a message naming the owner, before anything is pushed, created
or deployed.

The other project is a compose deployed on the same Dokploy stand-in (really, with Docker: its container holds the
port) with a domain, made through Dokploy's API as a user of the UI would.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from deployctl.operations import EngineFailed, preview, up
from dokploy_api import DokployClient
from dokploy_api.deploy import deploy_and_wait
from testkit import images
from testkit.dokploy import FakeDokploy
from tests.engine_helpers import REGISTRY, ROOT, StackFiles, free_ports, remove_compose_apps, remove_stack, sh

pytestmark = pytest.mark.engine
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
KEEP = ("brain-api", "admin-dashboard")


class World(StackFiles):
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run = secrets.token_hex(3)
        self.key = secrets.token_hex(16)
        self.srv = FakeDokploy(api_keys={self.key}, docker=True, work_dir=tmp / "dokploy", latency=0)
        self.srv.start()
        self.registry = f"{REGISTRY}/clash-{self.run}"
        self.stacks: list[str] = []
        self.images = {n: f"clash-{self.run}/{n}:v1" for n in KEEP}
        for name, tag in self.images.items():
            spec = RAW["services"][name]
            images.build_image(tag, name, int(spec["port"]), spec["health"], variant=self.run)
        [self.port] = free_ports(1)
        self.domain = f"{self.run}.clash.test"
        self.other = self.deploy_other()

    def deploy_other(self) -> str:
        """A compose of another project that publishes self.port and routes api.<domain>, deployed."""
        text = (f"services:\n  web:\n    image: {self.images['brain-api']}\n    container_name: legacy-{self.run}\n"
                f"    ports: ['127.0.0.1:{self.port}:8001']\n")
        with DokployClient(self.srv.base_url, self.key, allow_insecure_http=True) as client:
            project = client.project.create(f"legacy-{self.run}")
            compose = client.compose.create("web", project["environment"]["environmentId"], source_type="raw", compose_file=text)
            client.domain.create({"host": f"api.{self.domain}", "composeId": compose["composeId"], "serviceName": "web", "port": 8001})
            deploy_and_wait(client, compose["composeId"], timeout=120, poll_interval=0.5)  # DeploymentFailed with its log otherwise
        return f"legacy-{self.run}"

    def close(self) -> None:
        for stack in reversed(self.stacks):
            remove_stack(stack)
        self.srv.stop()
        remove_compose_apps(self.srv)  # the other project's compose and its network
        images.remove_containers(self.run)
        subprocess.run(["docker", "rmi", "-f", *self.images.values()], capture_output=True, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("clash")
    (tmp / "backend").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PULUMI_BACKEND_URL", (tmp / "backend").as_uri())
        w = World(tmp)
        try:
            yield w
        finally:
            w.close()


def test_a_taken_port_and_host_fail_preview_and_up_naming_the_owner_before_any_push(world: World) -> None:
    assert sh("docker", "port", f"legacy-{world.run}") == f"8001/tcp -> 127.0.0.1:{world.port}"  # the port is really held
    stack = f"clash-{world.run}"
    services: dict[str, Any] = {n: {"enabled": False} for n in RAW["services"] if n not in KEEP}
    services["brain-api"] = {"local_image": world.images["brain-api"], "published": world.port}
    services["admin-dashboard"] = {"local_image": world.images["admin-dashboard"]}
    world.init(stack, world.config(stack, services, {"domain": world.domain, "routes": {"https": False, "certificate": "none",
                                                                                     "verify": False}}))
    owner = f"compose web (project {world.other}, environment production)"
    expected = [
        f"stack {stack}: bizosaas-deploy:services/brain-api/published: host port {world.port} on Dokploy's host is already published "
        f"by {owner} (service web, 127.0.0.1:{world.port})",
        f"stack {stack}: services/brain-api/route: api.{world.domain} is already routed by {owner}",
    ]
    for run in (preview, lambda s: up(s, quiet=True)):
        world.srv.reset_calls()
        with pytest.raises(EngineFailed) as err:
            run(stack)
        text = "\n".join(err.value.problems)
        assert "invalid configuration, nothing was pushed or deployed" in text
        assert all(line in text for line in expected), text
        assert "admin-dashboard" not in text  # its route (admin.<domain>) is free
        assert world.srv.write_calls == 0, world.srv.calls  # nothing created in Dokploy: not even the project
    tags = requests.get(f"http://{REGISTRY}/v2/clash-{world.run}/brain-api/tags/list", timeout=5)
    assert tags.status_code == 404  # never pushed
