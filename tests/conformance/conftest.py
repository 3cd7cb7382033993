"""Targets of the conformance suite: the Dokploy stand-in (always) and a real Dokploy (DOKPLOY_URL + DOKPLOY_API_KEY).

Against a real Dokploy the suite creates one project named ``conformance-<random>`` with two small
composes, and removes them at the end (also when a test fails). The image it deploys there is
``DOKPLOY_CONFORMANCE_IMAGE`` (default ``nginx:1.27-alpine``): any image that Dokploy's host can pull
and that keeps running.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from dokploy_api import DokployClient
from testkit import images
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
        yield Target("dokploy", url, key, os.environ.get("DOKPLOY_CONFORMANCE_IMAGE", "nginx:1.27-alpine"), run)
        return
    tmp: Path = tmp_path_factory.mktemp("conformance")
    key = secrets.token_hex(16)
    srv = FakeDokploy(api_keys={key}, docker=True, work_dir=tmp / "dokploy", state_file=tmp / "dokploy.json")
    srv.start()
    try:
        yield Target("stand-in", srv.base_url, key, _standin_image(run), run, srv)
    finally:
        srv.stop()
