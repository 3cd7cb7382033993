"""Helpers for tests that drive the real engine, Docker Engine and the local registry."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import requests
import yaml
from pulumi import automation as auto

from deployctl import engine, local_stack
from testkit import ports
from testkit.dokploy import FakeDokploy

ROOT = engine.PROJECT_DIR
NS = "bizosaas-deploy"
REGISTRY = "127.0.0.1:5000"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def registry_digest(repository: str, tag: str) -> str:
    """Docker-Content-Digest of repository:tag, asked from the registry itself."""
    host, name = repository.split("/", 1)
    resp = requests.head(f"http://{host}/v2/{name}/manifests/{tag}", headers={"Accept": MANIFEST_V2}, timeout=10)
    resp.raise_for_status()
    return resp.headers["Docker-Content-Digest"]


def tiny_project(tmp_path: Path, name: str = "smoke") -> Path:
    """A project folder with only a Pulumi.yaml (the program runs inline)."""
    work = tmp_path / name
    work.mkdir(parents=True, exist_ok=True)
    (work / "Pulumi.yaml").write_text(f"name: {name}\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n")
    return work


def free_ports(count: int, hosts: tuple[str, ...] = ("127.0.0.1", "127.0.0.2")) -> list[int]:
    """Ports nothing listens on, on every one of ``hosts``, handed to no other test side by side (testkit/ports.py)."""
    return ports.free_ports(count, hosts)


def sh(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def remove_stack(stack: str) -> None:
    """Destroy a test's stack and delete its stack file; a failed destroy is printed (the caller removes the
    containers whatever happened)."""
    try:
        engine.stack(stack).destroy(color="never")
    except auto.errors.CommandError as exc:
        print(f"destroy {stack} failed: {str(exc)[-400:]}")
    (ROOT / f"Pulumi.{stack}.yaml").unlink(missing_ok=True)


def remove_compose_apps(srv: FakeDokploy) -> None:
    """What the stand-in's compose apps left in Docker after a test (a failed destroy, another project deployed through
    the API, containers removed by name): `docker compose -p <appName> down` for each, which removes their containers and
    their `<appName>_default` network too. Left behind, those networks use up Docker's address pools (about 30 bridge
    networks) and a later run's deploys fail with "could not find an available, non-overlapping IPv4 address pool"."""
    for app in sorted({c["appName"] for c in srv.state.composes.values() if c.get("composeType") != "stack"}):
        subprocess.run(["docker", "compose", "-p", app, "down", "--remove-orphans", "--timeout", "2"],
                       capture_output=True, timeout=120, check=False)


class StackFiles:
    """Stacks of one test module on the Dokploy stand-in: created from a config, their plain keys read and edited
    in their stack files (as a user's editor would), removed by the module's World.close()."""

    tmp: Path
    key: str
    stacks: list[str]
    registry: str
    srv: FakeDokploy

    def config(self, stack: str, services: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
        """A stack on the stand-in, from stacks/local.yaml without health URLs or routes (verification reads Dokploy's view; the
        demo's hosts and Traefik are the demo's); ``keys`` (names without the namespace) win."""
        template = yaml.safe_load((ROOT / "stacks" / "local.yaml").read_text())["config"]
        template.pop(f"{NS}:healthUrl", None)
        mine = {
            "registry": self.registry, "tag": stack, "containerSuffix": stack, "dokployUrl": self.srv.base_url,
            "dokployProject": f"bizosaas-{stack}", "services": services, "deployTimeout": 120, "pollInterval": 0.5,
            "rollbackOnFailure": True, "routes": {"enabled": False}, **keys,
        }
        return {**template, **{f"{NS}:{k}": v for k, v in mine.items()}}

    def init(self, stack: str, config: dict[str, Any]) -> auto.Stack:
        template = self.tmp / f"{stack}.template.yaml"
        template.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
        self.stacks.append(stack)
        st = local_stack.init_from(stack, template)
        st.set_config(f"{NS}:dokployApiKey", auto.ConfigValue(self.key, secret=True))
        return st

    def set_plain(self, stack: str, key: str, value: Any) -> None:
        path = ROOT / f"Pulumi.{stack}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["config"][f"{NS}:{key}"] = value
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def plain(self, stack: str, key: str) -> Any:
        return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"][f"{NS}:{key}"]
