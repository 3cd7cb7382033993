"""Helpers for tests that drive the real engine, Docker Engine and the local registry."""

from __future__ import annotations

from pathlib import Path

import requests

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
