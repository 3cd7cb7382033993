"""Public routes: a service's ``route`` in the catalog, filled and overridden for one stack, validated (pure).

A route is declared once per service in catalog.yaml (``services.<name>.route``: a host template such as
``api.{domain}``, an optional path, https and the certificate type), over the catalog's ``defaults.route``. A stack
fills the template (``domain``: ``staging.bizoholic.com``) and may override it, in this order: the stack's ``routes``
(every route of the stack: ``https``, ``certificate``, ``cert_resolver``; ``enabled: false`` turns them all off), then
``services.<name>.route`` (one service: any route key, or ``false``: no route). The shape of each layer is the schemas'
(schemas/catalog.schema.json, stack.schema.json: keys, types, the path, the certificate types); this module checks
what they cannot say, naming the key the value came from: the placeholders of a template, the host it gives (a valid
DNS name), a letsencrypt or custom certificate only with https and a custom one with its resolver, no two services on
one host and path.

Each route becomes a Dokploy domain of the service's compose project (``core.domains``); the program checks it
against what other projects route (``core.clashes``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from core.model import CERTIFICATES, Route, Service

Say = Callable[[str, str], None]

ROUTE_KEYS = ("host", "path", "https", "certificate", "cert_resolver")
"""A route, in the catalog (``services.<name>.route``) and in a stack's ``services.<name>.route``."""
DEFAULT_KEYS = ("path", "https", "certificate", "cert_resolver")
"""``defaults.route`` in the catalog: what every route has unless it says otherwise (no host: each service has its own)."""
STACK_KEYS = ("enabled", "https", "certificate", "cert_resolver", "verify")
"""A stack's ``routes``: its setting for every route (``verify``: check each route through Traefik after a deploy)."""
PLACEHOLDERS = ("domain", "stack", "service")
"""What a host template may use: the stack's ``domain``, the stack's name, the service's name."""
HOSTNAME = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
"""Dokploy's domain check (RFC 1123 labels, no underscore: Let's Encrypt refuses them), lower case (Traefik compares
host names without case, Dokploy keeps them as given: one spelling avoids two domains for one host)."""
PATH = re.compile(r"^/(?:[A-Za-z0-9._~%-]+(?:/[A-Za-z0-9._~%-]+)*)?$")
"""A path prefix: "/" or "/segment[/segment...]" of unreserved characters, no trailing "/" (it goes into a Traefik rule)."""
RESOLVER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def valid(value: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """The well-formed part of one layer of route settings (the schemas report the rest, with its key path)."""
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        ok = (
            (key in ("https", "enabled", "verify") and isinstance(item, bool))
            or (key == "certificate" and item in CERTIFICATES)
            or (key == "host" and isinstance(item, str) and bool(item.strip()))
            or (key == "path" and isinstance(item, str) and bool(PATH.match(item)))
            or (key == "cert_resolver" and isinstance(item, str) and bool(RESOLVER.match(item)))
        )
        if key in keys and ok:
            out[str(key)] = item
    return out


def fill(template: str, domain: str, stack: str, service: str) -> str:
    """The host a template names for one stack and service ({domain}, {stack}, {service})."""
    return template.format(domain=domain, stack=stack, service=service)


def placeholders(template: str) -> list[str]:
    """The placeholders a host template uses; ValueError for anything that is not a plain {name}."""
    names: list[str] = []
    for _text, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or spec or conversion or not name.isidentifier():
            raise ValueError("placeholders are written {domain}, {stack} or {service}")
        names.append(name)
    return names


class StackRoutes:
    """The route settings of one stack (its ``routes`` object and ``domain``), applied to each service's catalog route."""

    def __init__(self, stack: str, namespace: str, domain: str, routes: Any, defaults: Any, say: Say) -> None:
        self.stack, self.ns, self.say = stack, namespace, say
        self.domain = domain if HOSTNAME.match(domain or "") else ""  # (the stack schema reports one that is not a DNS name)
        self.defaults = valid(defaults, DEFAULT_KEYS)
        self.layer = valid(routes, STACK_KEYS)
        self.enabled = self.layer.get("enabled", True)
        self.without_domain: list[str] = []

    def route(self, name: str, spec: Mapping[str, Any], over: Mapping[str, Any]) -> Route | None:
        """The route of one service in this stack (None: it has none), from its catalog entry and the stack's override."""
        given = over.get("route")
        ours_path = f"{self.ns}:services/{name}/route"
        if given is False:
            return None
        theirs = valid(given, ROUTE_KEYS)
        own = valid(spec.get("route"), ROUTE_KEYS)
        if not own and not theirs:
            return None
        if not self.enabled:
            return None
        merged = {**self.defaults, **own, **{k: v for k, v in self.layer.items() if k not in ("enabled", "verify")}, **theirs}

        def where(key: str) -> str:
            if key in theirs:
                return f"{ours_path}/{key}"
            if key in self.layer:
                return f"{self.ns}:routes/{key}"
            if key in own:
                return f"services/{name}/route/{key}"
            return f"catalog.yaml/defaults/route/{key}"

        template = merged.get("host")
        if not isinstance(template, str):
            if not isinstance(spec.get("route"), Mapping) and isinstance(over.get("route"), Mapping):  # (the catalog's: the schema's)
                self.say(f"{ours_path}/host", "is required: the catalog gives this service no route, so its host name (or a template "
                         "such as api.{domain}) is needed")
            return None
        host = self._host(name, template, where("host"))
        if host is None:
            return None
        route = Route(
            host=host,
            path=str(merged.get("path", "/")),
            https=bool(merged.get("https", True)),
            certificate=str(merged.get("certificate", "letsencrypt" if merged.get("https", True) else "none")),
            cert_resolver=str(merged.get("cert_resolver", "")),
        )
        self._check_certificate(route, where)
        return route

    def _host(self, name: str, template: str, path: str) -> str | None:
        try:
            used = placeholders(template)
        except ValueError as exc:
            self.say(path, f"{template!r}: {exc}")
            return None
        unknown = [p for p in used if p not in PLACEHOLDERS]
        if unknown:
            allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            self.say(path, f"{template!r}: unknown placeholder {{{unknown[0]}}} (allowed: {allowed})")
            return None
        if "domain" in used and not self.domain:
            self.without_domain.append(name)
            return None
        host = fill(template, self.domain, self.stack, name)
        if len(host) > 253 or not HOSTNAME.match(host):
            shown = f"{template!r} gives {host!r}, which" if host != template else f"{host!r}"
            self.say(path, f"{shown} is not a valid host name (lower-case letters, digits, '-' and '.'; labels of at most 63)")
            return None
        return host

    def _check_certificate(self, route: Route, where: Callable[[str], str]) -> None:
        if route.certificate in ("letsencrypt", "custom") and not route.https:
            self.say(
                where("certificate"),
                f"{route.certificate} certificates are served on Traefik's websecure entrypoint, but the route of {route.host} has "
                "https: false; set https: true, or certificate: none for a plain-http route",
            )
        if route.certificate == "custom" and not route.cert_resolver:
            self.say(where("certificate"), "certificate: custom needs cert_resolver: a certificate resolver of Dokploy's Traefik")
        if route.cert_resolver and route.certificate != "custom":
            self.say(where("cert_resolver"), f"only a route with certificate: custom uses a resolver (this one has {route.certificate})")

    def warnings(self) -> list[str]:
        """Routes left off because the stack sets no domain (one line)."""
        if not self.without_domain:
            return []
        names = ", ".join(self.without_domain)
        return [
            f"stack {self.stack}: {self.ns}:domain is not set, so {names} get no route through Traefik (their catalog hosts are "
            f"templates of {{domain}}): set it (`pulumi config set domain example.com`) to route them, or "
            f"`pulumi config set --path routes.enabled false` to say the stack has no routes"
        ]


def check_unique(services: Mapping[str, Service], say: Say) -> None:
    """No two services of one stack on the same host and path (Traefik would pick one of them at random)."""
    seen: dict[tuple[str, str], str] = {}
    for svc in services.values():
        if svc.route is None:
            continue
        key = (svc.route.host, svc.route.path)
        if key in seen:
            say(f"services/{svc.name}/route", f"{svc.route.host}{_shown(svc.route.path)} is already the route of service {seen[key]}")
        seen.setdefault(key, svc.name)


def _shown(path: str) -> str:
    return "" if path == "/" else path


def inputs(service: Service) -> dict[str, Any]:
    """The ComposeProject's ``routes`` entry of one service: the domain Dokploy must hold, and what verification GETs."""
    route = service.route
    assert route is not None
    return {
        "host": route.host,
        "path": route.path,
        "port": service.port,
        "https": route.https,
        "certificate": route.certificate,
        "cert_resolver": route.cert_resolver,
        "health": service.health_path,
    }


def traefik_addresses(dokploy_url: str, web: str = "", websecure: str = "") -> dict[str, str]:
    """Where route checks reach Traefik: the ``web`` and ``websecure`` entrypoints. Default: the Dokploy host, which
    runs Dokploy's Traefik on ports 80 and 443 (its own UI is served through it); websecure defaults to web's host."""
    if not web:
        host = urlsplit(dokploy_url.strip()).hostname or ""
        web = f"http://{_bracketed(host)}" if host else ""
    web = web.strip().rstrip("/")
    if not websecure and web:
        host = urlsplit(web).hostname or ""
        websecure = f"https://{_bracketed(host)}" if host else ""
    return {"web": web, "websecure": websecure.strip().rstrip("/")}


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
