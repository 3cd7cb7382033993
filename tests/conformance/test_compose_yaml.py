"""Dokploy re-serialises our compose text: what it deploys means what we rendered, in compose and in stack mode.

Through the real engine, against every target (see conftest): two compose projects rendered by ``core.compose`` from a
small catalog whose env values are hostile YAML (booleans of YAML 1.1, numbers of YAML 1.2, indicators, ``: ``, ``#``,
``$``, backticks, several lines, unicode, long lines) that ``core.reserialise`` lets through. Then, through Dokploy's own
API: ``compose.getConvertedCompose`` (the file a deploy writes) means to docker compose what we rendered (read by
``docker compose config`` when the docker CLI is here, else compared as YAML 1.2 data), and every container's
environment (``docker.getConfig``) holds each value exactly. A few values ``core.reserialise`` refuses (Go's number
spellings, ``1_000``) are put into the text all the same: they show the change it predicts (the container gets 1000).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi import automation as auto

from components.compose_project import ComposeProject, ComposeProjectArgs
from components.dokploy_project import DokployProject, DokployProjectArgs
from core import reserialise
from core.catalog import resolve
from core.compose import render_compose
from core.model import StackSettings
from deployctl import engine
from testkit.dokploy import yamltext
from tests.conformance.conftest import Target
from tests.reserialise_helpers import compose_config

pytestmark = pytest.mark.engine
HOSTILE = [
    "on", "off", "yes", "no", "y", "N", "True", "~", "null", "", "08", "0777", "0o17", "0x1F", "1e3", "-.5", ".inf", "1.",
    "12345678901234567890", "8001:8001", "1:20", "*x", "&x", "!x", "%x", "@x", "`x`", "#x", "a: b", "a #b", "- x", "? x",
    "<<", "---", "[x]", "{x}", "'", '"', "\\", "$$x", "${X}", "pa$word", "Host(`a.example`) && PathPrefix(`/p`)",
    "x\ny", "x\n", " x\ny", "a\tb", "a\n\tb", "é 日本 🎉", "a\xa0b", "word " * 300,
]  # fmt: skip
CHANGED = {"1_000": "1000", "0b101": "5", "0X1F": "31", "+0x1F": "31", "1_0.5": "10.5"}
"""Values core.reserialise refuses, written quoted as the program would: Dokploy writes them unquoted, docker reads numbers."""
GROUPS = {"yamlcompose": "docker-compose", "yamlstack": "stack"}


def env_names() -> dict[str, str]:
    assert not any(reserialise.problem(v) for v in HOSTILE) and all(reserialise.problem(v) for v in CHANGED)
    return {f"V{i}": v for i, v in enumerate(HOSTILE)}


def rendered(target: Target) -> dict[str, str]:
    """Our compose text per compose project, as the program renders it (the target's image instead of a pushed digest)."""
    names = env_names()
    service = {"local_image": "conformance/web:latest", "port": target.port, "health": target.health,
               "env": {name: {"stack": name} for name in names}}  # fmt: skip
    raw = {
        "defaults": {"healthcheck": {"interval": "1s", "timeout": "2s", "retries": 5, "start_period": "0s"}},
        "groups": {group: {"description": "conformance"} for group in GROUPS},
        "services": {f"{group}-web": {**service, "group": group, "container_name": f"conformance-{target.run}-{group}"}
                     for group in GROUPS},
    }  # fmt: skip
    settings = StackSettings(stack="conformance", registry="conformance.invalid/yaml", tag="x", env=names,
                             projects={"yamlstack": {"mode": "stack", "endpointMode": "dnsrr"}})  # fmt: skip
    catalog = resolve(raw, settings)
    digest = "sha256:" + "0" * 64
    out = {}
    for group in GROUPS:
        text = render_compose(catalog, group, {f"{group}-web": digest})
        doc = yaml.safe_load(text.replace(f"conformance.invalid/yaml/{group}-web@{digest}", target.image))
        doc["services"][f"{group}-web"]["environment"].update({f"C{i}": v for i, v in enumerate(CHANGED)})
        out[group] = reserialise.dump(doc)  # the renderer's own dumper, with the refused values added
    return out


class World:
    def __init__(self, target: Target, work: Path) -> None:
        self.target = target
        self.texts = rendered(target)
        self.stack = engine.stack(f"conformance-yaml-{target.run}", program=self.program, work_dir=work)
        self.stack.set_config("bizosaas-deploy:dokployApiKey", auto.ConfigValue(target.key, secret=True))

    def program(self) -> None:
        t = self.target
        project = DokployProject("project", DokployProjectArgs(t.url, t.project_name, allow_insecure_http=t.standin is not None))
        for group, compose_type in GROUPS.items():
            compose = ComposeProject(
                group,
                ComposeProjectArgs(
                    dokploy_url=t.url, project_name=t.project_name, environment_name="production", project_id=project.project_id,
                    environment_id=project.environment_id, compose_name=group, compose_file=self.texts[group],
                    env=pulumi.Output.secret(""), services={f"{group}-web": {"image": t.image}}, health_urls={},
                    compose_type=compose_type, deploy_timeout=240.0, poll_interval=0.5, health_timeout=90.0, stability_window=1.0,
                    allow_insecure_http=t.standin is not None,
                ),
            )  # fmt: skip
            pulumi.export(f"id_{group}", compose.compose_id)

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
def world(target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp(f"conformance-yaml-{target.name}")
    saved = os.environ.get("PULUMI_BACKEND_URL")
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    (tmp / "backend").mkdir()
    work = tmp / "project"
    work.mkdir()
    (work / "Pulumi.yaml").write_text("name: bizosaas-conformance\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n")
    w = World(target, work)
    try:
        yield w
    finally:
        w.clean()
        if saved is None:
            os.environ.pop("PULUMI_BACKEND_URL", None)
        else:
            os.environ["PULUMI_BACKEND_URL"] = saved


def meaning(text: str) -> Any:
    """What docker compose reads from a file (YAML 1.2 data where the docker CLI is not here)."""
    return compose_config(text) if shutil.which("docker") else yamltext.model_parse(text)


def environments(world: World, compose_id: str, app_type: str) -> dict[str, str]:
    with world.target.client() as client:
        app_name = str(client.compose.one(compose_id)["appName"])
        [row] = client.docker.containers_by_app_name_match(app_name, app_type)
        config = client.docker.config(row["containerId"]) or {}
    return dict(item.split("=", 1) for item in config["Config"]["Env"])


def test_the_deployed_file_and_the_containers_hold_what_we_rendered_in_both_modes(world: World) -> None:
    result = world.stack.up(color="never")
    names = env_names()
    wrong: dict[str, Any] = {}
    for group, compose_type in GROUPS.items():
        compose_id = result.outputs[f"id_{group}"].value
        with world.target.client() as client:
            shown = client.query("compose.getConvertedCompose", composeId=compose_id)
        ours, theirs = meaning(world.texts[group]), meaning(str(shown))
        assert ours is not None and theirs is not None, f"{group}: docker compose refuses a file"
        service = f"{group}-web"
        their_env = theirs["services"][service]["environment"]
        changed = {f"C{i}": their_env.pop(f"C{i}") for i in range(len(CHANGED))}
        for i in range(len(CHANGED)):
            ours["services"][service]["environment"].pop(f"C{i}")
        assert theirs == ours, f"{group}: compose.getConvertedCompose does not mean what we rendered"
        assert {k: str(v) for k, v in changed.items()} == {f"C{i}": v for i, v in enumerate(CHANGED.values())}
        seen = environments(world, compose_id, "stack" if compose_type == "stack" else "docker-compose")
        wrong.update({f"{group}/{k}": (v, seen.get(k)) for k, v in names.items() if seen.get(k) != v})
        wrong.update({f"{group}/{k}": (v, seen.get(k)) for k, v in zip(changed, CHANGED.values(), strict=True) if seen.get(k) != v})
    print(f"{len(HOSTILE)} hostile values exact in both modes; {len(CHANGED)} refused ones changed as predicted")
    assert not wrong
