"""Render one Dokploy compose project from the catalog and the digests, and the per-service preview summary.

Pure: the same catalog and digests give the same bytes. Images are pinned as
``<repository>@sha256:<digest>``; secret values never enter the YAML: it says ``${NAME}`` and
Dokploy writes the values to the ``.env`` beside the file (compose interpolates them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from core.model import Catalog, EnvVar, Service, env_value

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_LONE_DOLLAR = re.compile(r"\$(?!\{[A-Z][A-Z0-9_]*\})")


class RenderError(ValueError):
    """A digest or secret value that cannot go into a compose project."""


def image_ref(service: Service, digest: str) -> str:
    """The immutable reference a machine reads: repository@sha256:..."""
    if not DIGEST.match(digest or ""):
        raise RenderError(f"service {service.name}: {digest!r} is not a sha256 digest")
    return f"{service.image_repository}@{digest}"


def healthcheck(catalog: Catalog, service: Service) -> dict[str, Any]:
    """The compose healthcheck: GET the catalog's health path on the container port (no shell: nothing is interpreted).

    The catalog's defaults set only the timing; the probe cannot be replaced.
    """
    url = f"http://127.0.0.1:{service.port}{service.health_path}"
    timing = {k: v for k, v in (catalog.defaults.get("healthcheck") or {}).items() if k != "test"}
    return {"test": ["CMD", "wget", "-q", "-O", "/dev/null", url], **timing}


def compose_value(var: EnvVar, services: Mapping[str, Service]) -> str:
    """An env value as the compose file must spell it: ``$`` doubled except in the catalog's ``${SECRET}``
    references, so compose interpolates only those (a stack's ``pa$word`` stays ``pa$word``)."""
    value = env_value(var, services)
    if var.kind == "literal":
        return value.replace("$", "$$")
    if var.kind == "plain":
        return _LONE_DOLLAR.sub("$$", value)
    return value


def service_entry(catalog: Catalog, service: Service, digest: str) -> dict[str, Any]:
    """One service's compose entry."""
    network = catalog.defaults.get("network", "dokploy-network")
    return {
        "image": image_ref(service, digest),
        "container_name": service.container_name,
        "restart": catalog.defaults.get("restart", "unless-stopped"),
        "ports": [f"{catalog.publish_address}:{service.published}:{service.port}"],
        "environment": {v.name: compose_value(v, catalog.services) for v in service.env},
        "healthcheck": healthcheck(catalog, service),
        "networks": [network],
        "labels": {"com.bizosaas.service": service.name, "com.bizosaas.stack": catalog.stack},
    }


def render_compose(catalog: Catalog, group: str, digests: Mapping[str, str]) -> str:
    """The compose YAML of one group (backend or frontend), stable key order."""
    services = catalog.group(group)
    missing = [s.name for s in services if s.name not in digests]
    if missing:
        raise RenderError(f"group {group}: no digest for {', '.join(missing)}")
    network = catalog.defaults.get("network", "dokploy-network")
    doc = {
        "services": {s.name: service_entry(catalog, s, digests[s.name]) for s in services},
        "networks": {network: {"external": True}},
    }
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=4096)


def service_summary(catalog: Catalog, service: Service, image: Any, health_url: str) -> dict[str, Any]:
    """What a reviewer needs to see per service in `pulumi preview --diff` (no secret values).

    ``image`` is the pinned reference, or an Output of it: then, in a preview where only some
    images are being pushed, only those services' ``image`` fields are unknown.
    """
    return {
        "image": image,
        "ports": [f"{catalog.publish_address}:{service.published}:{service.port}"],
        "env": {v.name: ("<secret>" if v.kind == "secret" else env_value(v, catalog.services)) for v in service.env},
        "health": health_url,
    }


def health_url(template: str, service: Service) -> str:
    """The URL verification GETs for one service (template keys: published, port, path, container, service)."""
    return template.format(
        published=service.published, port=service.port, path=service.health_path, container=service.container_name, service=service.name
    )
