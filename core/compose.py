"""Render one Dokploy compose project from the catalog and the digests, and the per-service preview summary.

Pure: the same catalog and digests give the same bytes. Images are pinned as
``<repository>@sha256:<digest>``; secret values never enter the YAML: it says ``${NAME}`` and
Dokploy writes the values to the ``.env`` beside the file (compose interpolates them; in stack
mode Dokploy exports them on ``docker stack deploy``'s command line, which interpolates them).

Two modes, per compose project (``Catalog.placement``):

* compose mode (``docker compose``): one container per service, named by ``container_name``, its
  port published on ``publishAddress``, ``restart``, and the stack's ``resourceLimits`` as ``deploy.resources.limits``
  (docker compose applies them to the container; ``mem_limit``/``cpus`` would say the same, but ``docker stack deploy``
  refuses ``mem_limit``, so both modes use one spelling);
* stack mode (``docker stack deploy``, ``core.swarm``): no ``container_name`` (Swarm refuses it) and
  no ``restart`` (``deploy.restart_policy``); ``deploy:`` from the catalog and the stack; ports in
  long syntax with the stack's publish mode (Swarm binds every address); the network is the external
  overlay ``dokploy-network`` on which the service is also known by the same per-stack name a
  compose-mode container has (an alias), so service URLs read the same in both modes and two stacks
  on one network never resolve each other's services (the bare service name is shared by all).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core import reserialise, swarm
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
    """One service's entry, in the mode of its compose project."""
    if catalog.placement(service.group).stack:
        return stack_service_entry(catalog, service, digest)
    network = catalog.defaults.get("network", "dokploy-network")
    entry: dict[str, Any] = {
        "image": image_ref(service, digest),
        "container_name": service.container_name,
        "restart": catalog.defaults.get("restart", "unless-stopped"),
        "ports": compose_ports(catalog, service),
        "environment": {v.name: compose_value(v, catalog.services) for v in service.env},
        "healthcheck": healthcheck(catalog, service),
        "networks": [network],
        "labels": {"com.bizosaas.service": service.name, "com.bizosaas.stack": catalog.stack},
    }
    if not entry["ports"]:
        del entry["ports"]
    if service.limits:  # the stack's resourceLimits: docker compose applies a service's deploy.resources.limits to its container
        entry["deploy"] = {"resources": {"limits": dict(service.limits)}}
    return entry


def compose_ports(catalog: Catalog, service: Service) -> list[str]:
    """Compose mode: ``address:published:port``, nothing for a service that is not published."""
    return [f"{catalog.publish_address}:{service.published}:{service.port}"] if service.published else []


def stack_service_entry(catalog: Catalog, service: Service, digest: str) -> dict[str, Any]:
    """One service's entry in stack mode (``docker stack deploy``)."""
    network = catalog.defaults.get("network", "dokploy-network")
    placement = catalog.placement(service.group)
    entry: dict[str, Any] = {"image": image_ref(service, digest)}
    ports = swarm.port_entries(service, placement)
    if ports:
        entry["ports"] = ports
    entry.update(
        {
            "environment": {v.name: compose_value(v, catalog.services) for v in service.env},
            "healthcheck": healthcheck(catalog, service),
            "networks": {network: {"aliases": [service.container_name]}},
            "labels": {"com.bizosaas.service": service.name, "com.bizosaas.stack": catalog.stack},
            "deploy": swarm.deploy_block(service, placement, catalog.stack),
        }
    )
    return entry


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
    return reserialise.dump(doc)  # quoted wherever YAML 1.2 or docker compose would read text as another type


def service_summary(catalog: Catalog, service: Service, image: Any, health_url: str) -> dict[str, Any]:
    """What a reviewer needs to see per service in `pulumi preview --diff` (no secret values).

    ``image`` is the pinned reference, or an Output of it: then, in a preview where only some
    images are being pushed, only those services' ``image`` fields are unknown.
    """
    placement = catalog.placement(service.group)
    summary: dict[str, Any] = {
        "image": image,
        "ports": swarm.port_summary(service, placement) if placement.stack else compose_ports(catalog, service),
        "env": {v.name: ("<secret>" if v.kind == "secret" else env_value(v, catalog.services)) for v in service.env},
        "health": health_url,
    }
    if placement.stack:  # compose mode keeps the summary it always had (no diff for existing stacks)
        summary["deploy"] = {k: v for k, v in swarm.deploy_block(service, placement, catalog.stack).items() if k != "labels"}
    elif service.limits:  # ... unless the stack sets resourceLimits
        summary["limits"] = dict(service.limits)
    return summary


def health_url(template: str, service: Service) -> str:
    """The URL verification GETs for one service (template keys: published, port, path, container, service);
    "" when the template needs a published port and the service has none."""
    if not service.published and "{published}" in template:
        return ""
    return template.format(
        published=service.published, port=service.port, path=service.health_path, container=service.container_name, service=service.name
    )
