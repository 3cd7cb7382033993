"""Targets of the conformance suite: the Dokploy stand-in (always) and a real Dokploy (DOKPLOY_URL + DOKPLOY_API_KEY).

Against a real Dokploy the suite creates one project named ``conformance-<random>`` with two small
composes, and removes them at the end (also when a test fails). The image it deploys there is
``DOKPLOY_CONFORMANCE_IMAGE`` (default ``nginx:1.27-alpine``): any image that Dokploy's host can pull
and that keeps running, answering ``DOKPLOY_CONFORMANCE_HEALTH`` (default ``/``) on its port
``DOKPLOY_CONFORMANCE_PORT`` (default 80). Its route (a Dokploy domain, plain http on Traefik's web entrypoint,
host ``conformance-<random>.invalid``: no DNS needed) is asked at ``DOKPLOY_TRAEFIK_URL`` (the web entrypoint of
the Dokploy host's Traefik, ``http://<host>``), when given. The stand-in's routes go through a Traefik of the
suite's own (testkit/traefik.py), configured as Dokploy's.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from pulumi import automation as auto

from deployctl import engine
from dokploy_api import DokployClient
from testkit import images
from testkit import traefik as traefik_kit
from testkit.dokploy import FakeDokploy

REGISTRY = "127.0.0.1:5000"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


@dataclass
class Target:
    """A Dokploy to check, and what to deploy on it."""

    name: str
    url: str
    key: str = field(repr=False)
    image: str
    run: str
    standin: FakeDokploy | None = None
    port: int = 8080
    """The port the image listens on (its route's port)."""
    health: str = "/health"
    """A path the image answers 2xx (its route's check)."""
    traefik_url: str = ""
    """The web entrypoint of the Traefik that routes this Dokploy's domains ("": the route is not asked)."""

    def client(self) -> DokployClient:
        return DokployClient(self.url, self.key, allow_insecure_http=self.standin is not None)

    @property
    def project_name(self) -> str:
        return f"conformance-{self.run}"


def _standin_image(run: str) -> str:
    """A tiny image in the local registry, pinned by digest (what the program deploys)."""
    repo = f"{REGISTRY}/conformance/web"
    images.build_image(f"{repo}:{run}", "web", 8080, "/health")
    subprocess.run(["docker", "push", f"{repo}:{run}"], check=True, capture_output=True)
    resp = requests.head(f"http://{REGISTRY}/v2/conformance/web/manifests/{run}", headers={"Accept": MANIFEST_V2}, timeout=10)
    resp.raise_for_status()
    return f"{repo}@{resp.headers['Docker-Content-Digest']}"


@pytest.fixture(scope="module", params=["standin", "real"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    run = secrets.token_hex(4)
    if request.param == "real":
        url, key = os.environ.get("DOKPLOY_URL"), os.environ.get("DOKPLOY_API_KEY")
        if not url or not key:
            pytest.skip("no real Dokploy: set DOKPLOY_URL and DOKPLOY_API_KEY to run this suite against one (README: Conformance)")
        image = os.environ.get("DOKPLOY_CONFORMANCE_IMAGE", "nginx:1.27-alpine")
        port, health = int(os.environ.get("DOKPLOY_CONFORMANCE_PORT") or 80), os.environ.get("DOKPLOY_CONFORMANCE_HEALTH") or "/"
        yield Target("dokploy", url, key, image, run, port=port, health=health, traefik_url=os.environ.get("DOKPLOY_TRAEFIK_URL", ""))
        return
    tmp: Path = tmp_path_factory.mktemp("conformance")
    key = secrets.token_hex(16)
    srv = FakeDokploy(api_keys={key}, docker=True, work_dir=tmp / "dokploy", state_file=tmp / "dokploy.json")
    srv.start()
    traefik = _traefik()
    try:
        yield Target("stand-in", srv.base_url, key, _standin_image(run), run, srv, traefik_url=traefik.web_url if traefik else "")
    finally:
        srv.stop()
        if traefik is not None:
            traefik.stop()


def _traefik() -> traefik_kit.Traefik | None:
    """A Traefik of the suite's own for the stand-in's routes (None, said by the route test, when it is not installed here)."""
    return traefik_kit.start() if traefik_kit.installed() else None


class InlineStack:
    """One engine stack of the suite, its program the subclass's ``program``, on a file backend of its own (``inline_stack``).

    ``clean`` destroys it and removes what it left in Dokploy, by the project's unique name only.
    """

    kind = "inline"
    """The stack is ``conformance-<kind>-<run>``."""

    def __init__(self, target: Target, work: Path) -> None:
        self.target = target
        self.stack = engine.stack(f"conformance-{self.kind}-{target.run}", program=self.program, work_dir=work)
        self.stack.set_config("bizosaas-deploy:dokployApiKey", auto.ConfigValue(target.key, secret=True))  # the full key the providers read

    def program(self) -> None:
        raise NotImplementedError

    def inspect(self, compose_id: str, app_type: str) -> dict[str, Any]:
        """``docker inspect`` of the compose's one container, as Dokploy's API shows it (``docker.getConfig``)."""
        with self.target.client() as client:
            app_name = str(client.compose.one(compose_id)["appName"])
            [row] = client.docker.containers_by_app_name_match(app_name, app_type)
            return client.docker.config(row["containerId"]) or {}

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


S = TypeVar("S", bound=InlineStack)


@contextmanager
def inline_stack(kind: type[S], target: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S]:
    """``kind`` made on a file backend and in a project directory of its own; cleaned at the end, also when a test fails."""
    tmp = tmp_path_factory.mktemp(f"conformance-{kind.kind}-{target.name}")
    saved = os.environ.get("PULUMI_BACKEND_URL")
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    (tmp / "backend").mkdir()
    work = tmp / "project"
    work.mkdir()
    (work / "Pulumi.yaml").write_text("name: bizosaas-conformance\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n")
    it = kind(target, work)
    try:
        yield it
    finally:
        it.clean()
        if saved is None:
            os.environ.pop("PULUMI_BACKEND_URL", None)
        else:
            os.environ["PULUMI_BACKEND_URL"] = saved
