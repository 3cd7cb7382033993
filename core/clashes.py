"""What a stack asks for that another project on the same Dokploy already has: a host port, a host and path (pure).

Two compose projects on one Dokploy server cannot publish the same host port (the second deploy fails to bind it),
and two routes of one host and path make Traefik pick one of them at random. The program reads what the others
publish and route through Dokploy's API (``components.clash_check``) and this module says which of the stack's
ports and routes are taken, naming the owner, before anything is pushed or deployed.

A port is taken when the other compose runs on the same server (Dokploy's host, or the same ``serverId``) and
publishes it on an address that overlaps (either is every address, or both are the same). A route is taken when an
enabled domain of another compose or application has its host (compared without case) and path, on any server of
the Dokploy: DNS sends a host name to one place.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from core import yaml_text

EVERY_ADDRESS = ("", "0.0.0.0", "::")
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


@dataclass(frozen=True)
class Binding:
    """One host port a compose project publishes."""

    server_id: str
    """The Dokploy server it runs on ("" = Dokploy's own host)."""
    address: str
    """The host address it binds ("" = every address)."""
    port: int
    protocol: str = "tcp"
    service: str = ""


@dataclass(frozen=True)
class Wanted:
    """A host port this stack's service asks for, with the config key that asks."""

    binding: Binding
    key: str


@dataclass(frozen=True)
class Claim:
    """A host and path this stack's service routes, with the config key that names it."""

    host: str
    path: str
    service: str
    key: str


@dataclass(frozen=True)
class Other:
    """Another compose project on the Dokploy: who it is (for messages) and what it publishes."""

    owner: str
    """"compose backend (project bizosaas-prod, environment production)"."""
    bindings: tuple[Binding, ...]


def published(compose_text: str, server_id: str) -> tuple[Binding, ...]:
    """The host ports a compose file publishes (short and long syntax, ranges); nothing for a file that does not parse.
    A port given by a ${VARIABLE} cannot be known and is left out."""
    try:
        doc = yaml_text.load(compose_text or "")
    except yaml.YAMLError:
        return ()
    services = doc.get("services") if isinstance(doc, Mapping) else None
    out: list[Binding] = []
    for name, spec in (services.items() if isinstance(services, Mapping) else ()):
        ports = spec.get("ports") if isinstance(spec, Mapping) else None
        for entry in ports if isinstance(ports, list) else ():
            out += _bindings(entry, server_id, str(name))
    return tuple(out)


def _bindings(entry: Any, server_id: str, service: str) -> list[Binding]:
    if isinstance(entry, Mapping):  # long syntax: published, target, host_ip, protocol
        address, protocol = str(entry.get("host_ip") or ""), str(entry.get("protocol") or "tcp")
        return [Binding(server_id, address, p, protocol, service) for p in _numbers(entry.get("published"))]
    if isinstance(entry, int) and not isinstance(entry, bool):
        return []  # a container port only: nothing published on a fixed host port
    text = str(entry)
    text, _, protocol = text.partition("/")
    parts = text.rsplit(":", 2) if not text.startswith("[") else re.split(r"(?<=\]):|:(?=\d+$)", text)
    if len(parts) < 2:
        return []  # "8080": a container port, published on a random host port
    address = parts[0].strip("[]") if len(parts) == 3 else ""
    host = parts[-2]
    return [Binding(server_id, address, p, protocol or "tcp", service) for p in _numbers(host)]


def _numbers(value: Any) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    match = _RANGE.match(str(value or "").strip())
    if not match:
        return []
    first = int(match.group(1))
    last = int(match.group(2) or first)
    return list(range(first, last + 1)) if 0 < first <= last < 65536 and last - first < 1024 else []


def _overlaps(a: str, b: str) -> bool:
    if a in EVERY_ADDRESS or b in EVERY_ADDRESS:
        return True
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a == b


def _where(server_id: str, servers: Mapping[str, str]) -> str:
    return f"server {servers.get(server_id, server_id)}" if server_id else "Dokploy's host"


def port_problems(stack: str, wanted: Iterable[Wanted], others: Iterable[Other], servers: Mapping[str, str] | None = None) -> list[str]:
    """One line per port this stack asks for that another compose project on the same server already publishes."""
    others = list(others)
    names = servers or {}
    out: list[str] = []
    for want in wanted:
        mine = want.binding
        for other in others:
            hit = next((b for b in other.bindings if b.server_id == mine.server_id and b.port == mine.port
                        and b.protocol == mine.protocol and _overlaps(b.address, mine.address)), None)
            if hit is None:
                continue
            out.append(
                f"stack {stack}: {want.key}: host port {mine.port} on {_where(mine.server_id, names)} is already published by "
                f"{other.owner} (service {hit.service}, {hit.address or '*'}:{hit.port}); one port can be bound once: publish "
                f"{mine.service} on another port, or not at all (its route and dokploy-network reach it)"
            )
            break
    return out


def route_problems(stack: str, claims: Iterable[Claim], domains: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per host and path this stack routes that an enabled domain of another project already routes.

    ``domains``: rows of ``overview.domains`` (the stack's own compose projects left out by the caller)."""
    rows = [d for d in domains if isinstance(d, Mapping) and d.get("enabled") is not False]
    out: list[str] = []
    for claim in claims:
        for row in rows:
            if str(row.get("host") or "").lower() != claim.host.lower() or str(row.get("path") or "/") != claim.path:
                continue
            out.append(
                f"stack {stack}: {claim.key}: {claim.host}{'' if claim.path == '/' else claim.path} is already routed by "
                f"{owner_of(row)}: Traefik would send its requests to either; give {claim.service} another host, or remove that "
                "domain in Dokploy"
            )
            break
    return out


def owner_of(row: Mapping[str, Any]) -> str:
    """Who holds an ``overview.domains`` row, for a message: "compose backend (project p, environment e)"."""
    kind = row.get("serviceOwnerType") or "service"
    return f"{kind} {row.get('serviceName')} (project {row.get('projectName')}, environment {row.get('environmentName')})"
