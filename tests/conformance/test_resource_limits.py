"""Resource limits (a stack's ``resourceLimits``, what stacks/pr.yaml gives every PR environment) reach the containers in both
modes: Dokploy keeps a service's ``deploy.resources.limits`` in the compose file it runs (it only adds its domain labels), so
``docker compose up`` (compose mode) and ``docker stack deploy`` (stack mode, Swarm's task limits) apply them. Through the real
engine: one compose project per mode, then each container's HostConfig read through Dokploy's own API
(``docker.getContainersByAppNameMatch``, ``docker.getConfig``) and compared: memory, CPUs, the process limit.
"""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pytest

from components.compose_project import ComposeProject, ComposeProjectArgs
from components.dokploy_project import DokployProject, DokployProjectArgs
from tests.conformance.conftest import InlineStack, Target, inline_stack

pytestmark = pytest.mark.engine
SERVICE = "limited"
LIMITS = "      resources:\n        limits: {cpus: '0.25', memory: 128M, pids: 64}\n"
EXPECTED = {"Memory": 128 * 2**20, "NanoCpus": 250_000_000, "PidsLimit": 64}


def compose_text(target: Target, stack_mode: bool) -> str:
    name = "" if stack_mode else f"    container_name: conformance-{target.run}-limited\n"
    return (f"services:\n  {SERVICE}:\n    image: {target.image}\n{name}    deploy:\n{LIMITS}"
            "    networks: [dokploy-network]\nnetworks:\n  dokploy-network:\n    external: true\n")  # fmt: skip


class Limits(InlineStack):
    kind = "limits"

    def program(self) -> None:
        t = self.target
        project = DokployProject("project", DokployProjectArgs(t.url, t.project_name, allow_insecure_http=t.standin is not None))
        for name, stack_mode in (("limitscompose", False), ("limitsstack", True)):
            compose = ComposeProject(
                name,
                ComposeProjectArgs(
                    dokploy_url=t.url, project_name=t.project_name, environment_name="production", project_id=project.project_id,
                    environment_id=project.environment_id, compose_name=name, compose_file=compose_text(t, stack_mode),
                    env=pulumi.Output.secret(""), services={SERVICE: {"image": t.image}}, health_urls={},
                    compose_type="stack" if stack_mode else "docker-compose", deploy_timeout=240.0, poll_interval=0.5,
                    health_timeout=60.0, stability_window=1.0, allow_insecure_http=t.standin is not None,
                ),
            )  # fmt: skip
            pulumi.export(f"id_{name}", compose.compose_id)

    def host_config(self, compose_id: str, app_type: str) -> dict[str, int]:
        """The container's limits as Dokploy's API shows them (docker inspect's HostConfig)."""
        config = self.inspect(compose_id, app_type)["HostConfig"]
        return {key: int(config.get(key) or 0) for key in EXPECTED}


@pytest.fixture(scope="module")
def limits(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limits]:
    with inline_stack(Limits, target, tmp_path_factory) as it:
        yield it


def test_deploy_resources_limits_reach_the_containers_in_compose_and_stack_mode(limits: Limits) -> None:
    result = limits.stack.up(color="never")
    seen = {name: limits.host_config(result.outputs[f"id_{name}"].value, app_type)
            for name, app_type in (("limitscompose", "docker-compose"), ("limitsstack", "stack"))}
    assert seen == {"limitscompose": EXPECTED, "limitsstack": EXPECTED}
