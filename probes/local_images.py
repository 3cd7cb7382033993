"""Check the locally built images against the catalog before anything is pushed.

Decisions (documented in README):
- error: the local image does not exist; the catalog's container port is not among the ports
  the image EXPOSEs (when it exposes any): the service would be unreachable;
- warning: the image EXPOSEs nothing (cannot check); the image defines a HEALTHCHECK that probes
  another port or path than the catalog (compose's healthcheck wins, but someone disagrees).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.catalog import Service

Inspector = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class ImageFacts:
    """What the Docker Engine says about one local image."""

    image_id: str
    exposed_ports: frozenset[int] = frozenset()
    healthcheck: tuple[str, ...] = ()


@dataclass
class ImageReport:
    """The outcome of checking every enabled service's local image."""

    facts: dict[str, ImageFacts] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def docker_inspect_all(images: list[str]) -> Inspector:
    """One `docker image inspect` for every image (a missing one answers None), as an Inspector."""
    run = subprocess.run(["docker", "image", "inspect", *images], capture_output=True, text=True, check=False)
    if run.returncode != 0 and not run.stdout.strip().startswith("[") and "No such" not in run.stderr:
        raise RuntimeError(f"docker image inspect failed: {run.stderr.strip()[:300]}")
    found = json.loads(run.stdout) if run.stdout.strip().startswith("[") else []
    by_tag = {tag: data for data in found for tag in data.get("RepoTags") or []}
    return lambda image: by_tag.get(image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest")


def facts_from_inspect(data: dict[str, Any]) -> ImageFacts:
    """The parts of `docker image inspect` output the checks use."""
    config = data.get("Config") or {}
    ports = frozenset(int(p.split("/")[0]) for p in (config.get("ExposedPorts") or {}))
    test = tuple((config.get("Healthcheck") or {}).get("Test") or ())
    return ImageFacts(image_id=data["Id"], exposed_ports=ports, healthcheck=test)


def check_local_images(stack: str, services: list[Service], inspect: Inspector | None = None) -> ImageReport:
    """Inspect each service's local image and compare it with the catalog."""
    inspect = inspect or docker_inspect_all([s.local_image for s in services])
    report = ImageReport()
    for svc in services:
        where = f"stack {stack}: services/{svc.name}/local_image"
        data = inspect(svc.local_image)
        if data is None:
            report.errors.append(f"{where}: image {svc.local_image} does not exist in the Docker Engine (build it first)")
            continue
        facts = facts_from_inspect(data)
        report.facts[svc.name] = facts
        if not facts.exposed_ports:
            report.warnings.append(f"{where}: image {svc.local_image} EXPOSEs no port; cannot check port {svc.port}")
        elif svc.port not in facts.exposed_ports:
            exposed = ", ".join(str(p) for p in sorted(facts.exposed_ports))
            report.errors.append(
                f"stack {stack}: services/{svc.name}/port: {svc.port} is not a port image {svc.local_image} EXPOSEs ({exposed})"
            )
        probe = " ".join(facts.healthcheck[1:]) if facts.healthcheck else ""
        if probe and not _probes(probe, svc):
            report.warnings.append(
                f"stack {stack}: services/{svc.name}/health: image {svc.local_image} HEALTHCHECK probes {probe!r}, "
                f"the catalog says port {svc.port} path {svc.health_path}"
            )
    return report


def _probes(command: str, svc: Service) -> bool:
    """Whether an image HEALTHCHECK command probes the catalog's port and health path."""
    urls = re.findall(r"https?://[^\s'\"]+", command)
    return any(re.search(rf":{svc.port}(?=/|$)", u) and u.split(str(svc.port), 1)[1].startswith(svc.health_path) for u in urls)
