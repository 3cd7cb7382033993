"""The world the end-to-end modules share (tests/engine/test_e2e.py, test_e2e_faults.py): one Dokploy stand-in deploying
with the real Docker Engine at a real Dokploy's latency, a staging-like stack and its prod, this run's own images,
registry repositories and host ports. Each module opens its own world, so the two run side by side."""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import yaml
from pulumi import automation as auto

from deployctl import engine, local_stack
from deployctl.operations import up
from testkit import images, ports
from testkit.dokploy import FakeDokploy
from testkit.registry_stats import stored_bytes
from tests.engine_helpers import REGISTRY, remove_stack

ROOT = engine.PROJECT_DIR
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())


class World:
    """One fake Dokploy (really deploying with Docker), a staging-like stack and a prod stack."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.key = secrets.token_hex(16)
        self.run_id = secrets.token_hex(3)
        self.stack = f"test-{self.run_id}"
        self.prod = f"test-{self.run_id}-prod"
        self.port = ports.free_port()
        # host ports: catalog + offset (staging), + offset + 100 (prod), handed to no other test side by side
        self.offset = ports.free_offset([int(s["published"]) for s in RAW["services"].values()], (0, 100))
        # images and registry repositories of this run only: other checkouts on this Docker Engine build the catalog's names
        self.raw = copy.deepcopy(RAW)
        for name, spec in self.raw["services"].items():
            spec["local_image"] = f"bizosaas-e2e-{self.run_id}-{name}:latest"
        self.registry = f"{REGISTRY}/e2e-{self.run_id}"
        self.srv = self.new_server()

    def new_server(self) -> FakeDokploy:
        srv = FakeDokploy(
            api_keys={self.key},
            docker=True,
            work_dir=self.tmp / "dokploy",
            state_file=self.tmp / "dokploy.json",
            port=self.port,
            builds_concurrency=2,
            latency="dokploy",  # as slow as a real Dokploy
        )
        srv.start()
        return srv

    def config(self, stack: str, suffix: str, offset: int, **extra: Any) -> dict[str, Any]:
        services = {n: {"published": s["published"] + offset, "local_image": s["local_image"]} for n, s in self.raw["services"].items()}
        return {
            "bizosaas-deploy:registry": self.registry,
            "bizosaas-deploy:tag": stack,
            "bizosaas-deploy:containerSuffix": suffix,
            "bizosaas-deploy:dokployUrl": self.srv.base_url,
            "bizosaas-deploy:dokployProject": f"bizosaas-{stack}",
            "bizosaas-deploy:services": services,
            "bizosaas-deploy:healthTimeout": 20,
            "bizosaas-deploy:deployTimeout": 90,
            "bizosaas-deploy:routes": {"enabled": False},  # the demo's hosts and Traefik are the demo's (tests/engine/test_routes.py)
            **extra,
        }

    def init(self, stack: str, template: str, config: dict[str, Any]) -> auto.Stack:
        st = local_stack.init_from(stack, ROOT / "stacks" / template, extra=config)
        st.set_config("bizosaas-deploy:dokployApiKey", auto.ConfigValue(self.key, secret=True))
        return st

    def health(self, service: str, prod: bool = False) -> int:
        spec = RAW["services"][service]
        offset = self.offset + (100 if prod else 0)
        try:
            return requests.get(f"http://127.0.0.1:{spec['published'] + offset}{spec['health']}", timeout=3).status_code
        except requests.ConnectionError:
            return 0

    def project_containers(self, suffix: str) -> list[str]:
        out = subprocess.run(["docker", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=True).stdout.split()
        return sorted(n for n in out if n.endswith(f"-{suffix}"))


@contextmanager
def open_world(tmp: Path, deployed: bool) -> Iterator[World]:
    """A world in its own backend under ``tmp``, its 14 images built (v1); with ``deployed``, staging already up and verified
    (a module whose tests start from a running release). Everything it made is removed at the end, even after a failure."""
    saved = os.environ.get("PULUMI_BACKEND_URL")
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    (tmp / "backend").mkdir()
    w = World(tmp)
    try:
        images.build_catalog_images(w.raw, variant="v1")
        w.init(w.stack, "local.yaml", w.config(w.stack, w.stack, w.offset))
        if deployed:
            result, _ = up(w.stack, quiet=True)
            assert result.outputs["verified"].value is True
        yield w
    finally:
        for name in (w.prod, w.stack):
            remove_stack(name)
        w.srv.stop()
        images.remove_containers(w.run_id)  # whatever a failed test left behind
        local = [s["local_image"] for s in w.raw["services"].values()]
        subprocess.run(["docker", "rmi", "-f", *local], capture_output=True, check=False)
        os.environ.pop("PULUMI_BACKEND_URL", None) if saved is None else os.environ.__setitem__("PULUMI_BACKEND_URL", saved)


def registry_bytes(world: World) -> int:
    """Bytes the local registry stores in this run's repositories (what pushes added), asked from the registry itself."""
    return stored_bytes(REGISTRY, prefix=world.registry.split("/", 1)[1])


def changes(result: auto.UpResult) -> dict[str, int]:
    return {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}


def start_registry(port: int, data: Path, readonly: bool) -> subprocess.Popen[bytes]:
    """A registry of its own on 127.0.0.1:port (Debian's docker-registry), read-only or not, over ``data``."""
    config = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(data)}, "maintenance": {"readonly": {"enabled": readonly}}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    path = data.parent / f"registry-{port}-{readonly}.yml"
    path.write_text(json.dumps(config))
    proc = subprocess.Popen(
        [shutil.which("docker-registry") or "/usr/bin/docker-registry", "serve", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                return proc
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("registry did not start")
