"""A compose project's routes as Dokploy domains: request bodies, the reconcile plan, and what a refresh reports (pure).

Dokploy keeps a compose service's public routes as ``domain`` rows (``domain.create`` with ``composeId``,
``serviceName``, ``host``, ``path``, ``port``, ``https``, ``certificateType``) and turns them into Traefik labels
when it deploys the compose file. A ComposeProject owns every domain of its compose: the declared routes
(``routes``: service -> ``core.routes.inputs``) are matched to the domains Dokploy holds, first by host and path
(a domain made by hand for the same host is adopted, not duplicated), then by service; a match that differs is
updated, a route without one is created, a domain that matches no route is deleted.

The fields managed are the ones that decide where Traefik sends a request and how: host, path (and stripPath, on
for a path prefix so that the service sees its own paths), port, https, certificateType, customCertResolver,
serviceName, domainType, customEntrypoint (none: Dokploy's web and websecure), internalPath ("/") and enabled.
Middlewares and forward auth added in Dokploy's UI are left as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Route = Mapping[str, Any]
"""One entry of the ``routes`` input: host, path, port, https, certificate, cert_resolver, health."""
Row = Mapping[str, Any]
"""A domain row as Dokploy returns it (``domain.byComposeId``, ``compose.one``'s ``domains``)."""
NOT_DECLARED = "(not declared) "
"""How a refresh names a domain that no route claims, in the ``routes`` it records."""


def declared(routes: Mapping[str, Route] | None) -> dict[str, Route]:
    """The routes of services in a ``routes`` value (one a refresh recorded also names the domains no route claims)."""
    return {k: v for k, v in (routes or {}).items() if isinstance(v, Mapping) and not str(k).startswith(NOT_DECLARED)}


def fields(service: str, route: Route) -> dict[str, Any]:
    """The managed fields of the domain that serves ``route`` of ``service``, as Dokploy stores them."""
    path = str(route.get("path") or "/")
    return {
        "host": str(route["host"]),
        "path": path,
        "port": int(route["port"]),
        "https": bool(route.get("https")),
        "certificateType": str(route.get("certificate") or "none"),
        "customCertResolver": route.get("cert_resolver") or None,
        "serviceName": service,
        "domainType": "compose",
        "customEntrypoint": None,
        "stripPath": path != "/",
        "internalPath": "/",
        "enabled": True,
    }


def create_body(compose_id: str, service: str, route: Route) -> dict[str, Any]:
    """``domain.create``'s body (openapi.json: ``enabled`` is not an input of create; a new domain is enabled)."""
    body = {k: v for k, v in fields(service, route).items() if k != "enabled"}
    return {**body, "composeId": compose_id}


def update_body(domain_id: str, service: str, route: Route) -> dict[str, Any]:
    """``domain.update``'s body: every managed field (``host`` is required by the schema)."""
    return {**fields(service, route), "domainId": domain_id}


def _normal(row: Row) -> dict[str, Any]:
    """The managed fields of a live row, with Dokploy's defaults for what it left empty."""
    port = row.get("port")
    return {
        "host": str(row.get("host") or ""),
        "path": str(row.get("path") or "/"),
        "port": int(port) if isinstance(port, int | float) and not isinstance(port, bool) else port,
        "https": bool(row.get("https")),
        "certificateType": str(row.get("certificateType") or "none"),
        "customCertResolver": row.get("customCertResolver") or None,
        "serviceName": row.get("serviceName"),
        "domainType": row.get("domainType"),
        "customEntrypoint": row.get("customEntrypoint") or None,
        "stripPath": bool(row.get("stripPath")),
        "internalPath": str(row.get("internalPath") or "/"),
        "enabled": row.get("enabled") is not False,
    }


def differences(row: Row, service: str, route: Route) -> list[str]:
    """The managed fields in which a live domain differs from the route (empty: it serves the route as declared)."""
    want, have = fields(service, route), _normal(row)
    return [k for k in want if want[k] != have[k]]


def _key(host: Any, path: Any) -> tuple[str, str]:
    return (str(host or "").lower(), str(path or "/"))


def match(declared: Mapping[str, Route], live: Sequence[Row]) -> tuple[dict[str, Row], list[Row]]:
    """(service -> the live domain that serves its route, the live domains no route claims).

    A domain with the route's host and path is that route's (adopted whatever its service); else the route takes a
    domain of its service that no other route claims (its host or path was changed, here or in Dokploy's UI)."""
    free = [r for r in live if isinstance(r, Mapping)]
    matched: dict[str, Row] = {}
    for service, route in declared.items():
        hit = next((r for r in free if _key(r.get("host"), r.get("path")) == _key(route["host"], route.get("path"))), None)
        if hit is not None:
            matched[service] = hit
            free.remove(hit)
    for service in declared:
        if service in matched:
            continue
        hit = next((r for r in free if r.get("serviceName") == service), None)
        if hit is not None:
            matched[service] = hit
            free.remove(hit)
    return matched, free


@dataclass
class Plan:
    """What makes Dokploy's domains of one compose the declared routes (no action: nothing to write)."""

    create: list[tuple[str, Route]] = field(default_factory=list)
    update: list[tuple[Row, str, Route]] = field(default_factory=list)
    delete: list[Row] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.create or self.update or self.delete)

    def describe(self) -> list[str]:
        """One phrase per action, for logs and errors."""
        out = [f"create {_shown(r['host'], r.get('path'))} -> {s}" for s, r in self.create]
        out += [f"update {_shown(r['host'], r.get('path'))} -> {s}" for _, s, r in self.update]
        out += [f"delete {_shown(r.get('host'), r.get('path'))}" for r in self.delete]
        return out


def plan(declared: Mapping[str, Route], live: Sequence[Row]) -> Plan:
    """Deletes first (a host freed by one route can be taken by another), then updates, then creates."""
    matched, extra = match(declared, live)
    out = Plan(delete=list(extra))
    for service, route in declared.items():
        row = matched.get(service)
        if row is None:
            out.create.append((service, route))
        elif differences(row, service, route):
            out.update.append((row, service, route))
    return out


def live_view(declared: Mapping[str, Route], live: Sequence[Row]) -> dict[str, dict[str, Any]]:
    """The ``routes`` input as Dokploy's domains say it (what a refresh records, so the next diff shows the drift).

    A route's entry is the declared one with the live host, path, port, https and certificate; a managed field that
    the route input has no place for is added under its own key (``enabled: false``, ``service: other``, ...). A route
    with no domain is missing; a domain no route claims appears as ``(not declared) <host><path>``."""
    matched, extra = match(declared, live)
    out: dict[str, dict[str, Any]] = {}
    for service, route in declared.items():
        row = matched.get(service)
        if row is None:
            continue
        have = _normal(row)
        entry: dict[str, Any] = {
            **dict(route),
            "host": have["host"],
            "path": have["path"],
            "port": have["port"],
            "https": have["https"],
            "certificate": have["certificateType"],
            "cert_resolver": have["customCertResolver"] or "",
        }
        want = fields(service, route)
        for key, name in (("serviceName", "service"), ("customEntrypoint", "entrypoint"), ("stripPath", "strip_path"),
                          ("internalPath", "internal_path"), ("enabled", "enabled"), ("domainType", "domain_type")):
            if have[key] != want[key]:
                entry[name] = have[key]
        out[service] = entry
    for row in extra:
        have = _normal(row)
        out[f"{NOT_DECLARED}{_shown(have['host'], have['path'])}"] = {
            "host": have["host"], "path": have["path"], "port": have["port"], "https": have["https"],
            "certificate": have["certificateType"], "service": have["serviceName"],
        }
    return out


def drift(declared: Mapping[str, Route], live: Sequence[Row]) -> list[str]:
    """What differs between the declared routes and Dokploy's domains, one sentence each (empty: nothing)."""
    matched, extra = match(declared, live)
    out: list[str] = []
    for service, route in declared.items():
        row = matched.get(service)
        shown = _shown(route["host"], route.get("path"))
        if row is None:
            out.append(f"the domain {shown} of service {service} was removed in Dokploy")
        elif diff := differences(row, service, route):
            out.append(f"the domain {shown} of service {service} was changed in Dokploy ({', '.join(diff)})")
    out += [f"Dokploy holds a domain no route declares: {_shown(r.get('host'), r.get('path'))} (service {r.get('serviceName')})"
            for r in extra]
    return out


def _shown(host: Any, path: Any) -> str:
    return f"{host}{'' if not path or path == '/' else path}"
