"""Resource limits (a stack's ``resourceLimits``, what stacks/pr.yaml gives every PR environment) reach the containers in both
modes: Dokploy keeps a service's ``deploy.resources.limits`` in the compose file it runs (it only adds its domain labels), so
``docker compose up`` (compose mode) and ``docker stack deploy`` (stack mode, Swarm's task limits) apply them. Through the real
engine: one compose project per mode, then each container's HostConfig read through Dokploy's own API
(``docker.getContainersByAppNameMatch``, ``docker.getConfig``) and compared: memory, CPUs, the process limit.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
from pulumi import automation as auto

from components.compose_project import ComposeProject, ComposeProjectArgs
from components.dokploy_project import DokployProject, DokployProjectArgs
from deployctl import engine
from tests.conformance.conftest import Target

pytestmark = pytest.mark.engine
SERVICE = "limited"
LIMITS = "      resources:\n        limits: {cpus: '0.25', memory: 128M, pids: 64}\n"
EXPECTED = {"Memory": 128 * 2**20, "NanoCpus": 250_000_000, "PidsLimit": 64}


def compose_text(target: Target, stack_mode: bool) -> str:
    name = "" if stack_mode else f"    container_name: conformance-{target.run}-limited\n"
    return (f"services:\n  {SERVICE}:\n    image: {target.image}\n{name}    deploy:\n{LIMITS}"
            "    networks: [dokploy-network]\nnetworks:\n  dokploy-network:\n    external: true\n")  # fmt: skip


class Limits:
    def __init__(self, target: Target, work: Path) -> None:
        self.target = target
        self.stack = engine.stack(f"conformance-limits-{target.run}", program=self.program, work_dir=work)
        self.stack.set_config("bizosaas-deploy:dokployApiKey", auto.ConfigValue(target.key, secret=True))

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
        with self.target.client() as client:
            app_name = str(client.compose.one(compose_id)["appName"])
            [row] = client.docker.containers_by_app_name_match(app_name, app_type)
            config = (client.docker.config(row["containerId"]) or {})["HostConfig"]
        return {key: int(config.get(key) or 0) for key in EXPECTED}

    def clean(self) -> None:
        try:
            self.stack.destroy(color="never")
        except auto.CommandError as exc:
            print(f"conformance clean-up: destroy failed: {str(exc)[-500:]}")
        with self.target.client() as client:
            for project in client.project.all():
                if project.get("name") == self.target.project_name:
                    for env in project.get("environments") or []:
                        for compose in env.get("compose") or []:
                            client.compose.delete(compose["composeId"])
                    client.project.remove(project["projectId"])


@pytest.fixture(scope="module")
def limits(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limits]:
    tmp = tmp_path_factory.mktemp(f"conformance-limits-{target.name}")
    saved = os.environ.get("PULUMI_BACKEND_URL")
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    (tmp / "backend").mkdir()
    work = tmp / "project"
    work.mkdir()
    (work / "Pulumi.yaml").write_text("name: bizosaas-conformance\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n")
    it = Limits(target, work)
    try:
        yield it
    finally:
        it.clean()
        if saved is None:
            os.environ.pop("PULUMI_BACKEND_URL", None)
        else:
            os.environ["PULUMI_BACKEND_URL"] = saved


def test_deploy_resources_limits_reach_the_containers_in_compose_and_stack_mode(limits: Limits) -> None:
    result = limits.stack.up(color="never")
    seen = {name: limits.host_config(result.outputs[f"id_{name}"].value, app_type)
            for name, app_type in (("limitscompose", "docker-compose"), ("limitsstack", "stack"))}
    assert seen == {"limitscompose": EXPECTED, "limitsstack": EXPECTED}
