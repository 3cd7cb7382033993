"""Load catalog.yaml, overlay one stack's settings, validate everything, resolve the services.

Pure: no pulumi, no network, no Docker. Every problem is reported with the stack, the service and
the key path (``stack staging: services/brain-api/published: ...``), all problems at once, before
anything is pushed or deployed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from core import placements, routes, swarm
from core.model import SECRET_REF, Catalog, EnvVar, Service, StackSettings

__all__ = ["Catalog", "CatalogError", "Service", "StackSettings", "load_catalog_file", "resolve", "secret_names"]

Say = Callable[[str, str], None]

TOP_KEYS = {"defaults", "groups", "services"}
DEFAULT_KEYS = {"restart", "network", "healthcheck", "deploy", "route"}
HEALTHCHECK_KEYS = {"interval", "timeout", "retries", "start_period", "start_interval"}
"""Timing only: the probe itself is always each service's port and health path."""
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
"""A compose healthcheck duration (Go's time.ParseDuration with a unit on every number): 10s, 1m30s, 500ms."""
SERVICE_KEYS = {"group", "local_image", "container_name", "port", "published", "health", "env", "test", "test_env", "deploy", "route"}
OPTIONAL_KEYS = {"published", "env", "test", "test_env", "deploy", "route"}
OVERRIDE_KEYS = {"enabled", "published", "env", "local_image", "deploy", "route"}
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
SERVICE_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Docker reference grammar (distribution/reference), restricted to what we push to.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
REGISTRY_REPO = re.compile(rf"^{_HOST}(?:/{_COMPONENT})+$")
LOCAL_IMAGE = re.compile(rf"^(?:{_HOST}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~/%-]*(?:\?[A-Za-z0-9._~%=&-]*)?$")
"""A URL path (and query) of unreserved characters: it goes into a healthcheck command, nothing may be interpreted."""


class CatalogError(ValueError):
    """One or more problems in the catalog or a stack's settings; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def load_catalog_file(path: Path) -> dict[str, Any]:
    """Read catalog.yaml as plain data."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise CatalogError([f"{path.name}: should be a mapping with defaults, groups and services"])
    return data


def secret_names(raw: Mapping[str, Any]) -> frozenset[str]:
    """Every secret any service of the raw catalog refers to ({secret: true} env vars and ${NAME} references)."""
    names: set[str] = set()
    for spec in (raw.get("services") or {}).values():
        for var, value in ((spec or {}).get("env") or {}).items() if isinstance(spec, Mapping) else ():
            if isinstance(value, Mapping) and value.get("secret") is True:
                names.add(str(var))
            elif isinstance(value, str):
                names.update(SECRET_REF.findall(value))
    return frozenset(names)


def resolve(raw: Mapping[str, Any], settings: StackSettings) -> Catalog:
    """Overlay one stack's settings on the raw catalog, validate everything, return the services."""
    problems: list[str] = []

    def say(path: str, msg: str) -> None:
        problems.append(f"stack {settings.stack}: {path}: {msg}")

    ns = settings.namespace

    if not REGISTRY_REPO.match(settings.registry or ""):
        say(f"{ns}:registry", f"{settings.registry!r} is not a valid image repository (host[:port]/path, lower case)")
    if not TAG.match(settings.tag or ""):
        say(f"{ns}:tag", f"{settings.tag!r} is not a valid image tag ([A-Za-z0-9_.-], at most 128)")
    _check_shape(raw, say)
    try:
        ipaddress.ip_address(settings.publish_address)
    except ValueError:
        say(f"{ns}:publishAddress", f"{settings.publish_address!r} should be an IP address (127.0.0.1, 0.0.0.0, ...)")

    given_services = raw.get("services")
    raw_services: Mapping[str, Any] = given_services if isinstance(given_services, Mapping) else {}
    overrides = settings.services or {}
    for name in overrides:
        if name not in raw_services:
            say(f"{ns}:services/{name}", f"unknown service (known: {', '.join(raw_services)})")
        elif not isinstance(overrides[name], Mapping):
            say(f"{ns}:services/{name}", "should be a mapping")
        else:
            for key in sorted(set(overrides[name]) - OVERRIDE_KEYS):
                say(f"{ns}:services/{name}/{key}", f"unknown key (allowed: {', '.join(sorted(OVERRIDE_KEYS))})")

    given_defaults = raw.get("defaults")
    default_deploy = given_defaults.get("deploy") if isinstance(given_defaults, Mapping) else None
    base_deploy = swarm.check_deploy(default_deploy, "catalog.yaml/defaults/deploy", say)
    default_route = given_defaults.get("route") if isinstance(given_defaults, Mapping) else None
    stack_routes = routes.StackRoutes(settings.stack, ns, settings.domain, settings.routes or None, default_route, say)
    services: dict[str, Service] = {}
    layers: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for name, spec in raw_services.items():
        given = overrides.get(name)
        over: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        enabled = over.get("enabled", True)
        if not isinstance(enabled, bool):
            say(f"{ns}:services/{name}/enabled", f"should be true or false, not {enabled!r}")
        if enabled is False:
            continue
        svc = _service(name, spec, over, settings, say, _group_names(raw))
        if svc:
            own = swarm.check_deploy(spec.get("deploy"), f"services/{name}/deploy", say)
            theirs = swarm.check_deploy(over.get("deploy"), f"{ns}:services/{name}/deploy", say) if "deploy" in over else {}
            layers[name] = (own, theirs)
            route = stack_routes.route(name, spec, over)
            services[name] = replace(svc, deploy=swarm.merge(base_deploy, own, theirs), route=route)

    where = placements.project_placements(settings, say, _group_names(raw))
    services = placements.check_modes(services, where, layers, settings, say)
    _check_references(services, raw_services, settings, say)
    _check_unique(services, say)
    routes.check_unique(services, say)
    for group in _group_names(raw):
        if raw_services and not any(s.group == group for s in services.values()):
            say(
                f"services (group {group})",
                f"no enabled service is in group {group}: its compose project would be deleted; "
                "enable one (or remove the group from the catalog on purpose)",
            )
    if problems:
        raise CatalogError(problems)
    return Catalog(
        stack=settings.stack,
        tag=settings.tag,
        services=services,
        defaults=dict(raw.get("defaults") or {}),
        groups=dict(raw.get("groups") or {}),
        publish_address=settings.publish_address,
        placements=where,
        warnings=tuple(stack_routes.warnings()),
    )


def _service(name: str, spec: Any, over: Mapping[str, Any], settings: StackSettings, say: Say, groups: list[str]) -> Service | None:
    ns = settings.namespace
    path = f"services/{name}"
    if not SERVICE_NAME.match(name):
        say(path, "service names are lower-case words joined by '-'")
    if not isinstance(spec, Mapping):
        say(path, "should be a mapping")
        return None
    for key in sorted(set(spec) - SERVICE_KEYS):
        say(f"{path}/{key}", f"unknown key (allowed: {', '.join(sorted(SERVICE_KEYS))})")
    for key in sorted(SERVICE_KEYS - set(spec) - OPTIONAL_KEYS):
        say(f"{path}/{key}", "is required")
    if spec.get("group") not in groups:
        say(f"{path}/group", f"should be one of the catalog's groups ({', '.join(groups)}), not {spec.get('group')!r}")
    local_image = over.get("local_image", spec.get("local_image", ""))
    if not isinstance(local_image, str) or not LOCAL_IMAGE.match(local_image):
        say(f"{path}/local_image", f"{local_image!r} is not a valid image reference")
    port = _port(spec.get("port"), f"{path}/port", say)
    published = _published(name, spec, over, ns, say)
    health = spec.get("health", "")
    if not isinstance(health, str) or not HEALTH_PATH.match(health):
        say(f"{path}/health", f"{health!r} should be a path starting with '/' of letters, digits and ._~%/- (and a ?query)")
    base = spec.get("container_name", "")
    container = f"{base}-{settings.container_suffix}" if settings.container_suffix else str(base)
    if not CONTAINER_NAME.match(container):
        say(f"{path}/container_name", f"{container!r} is not a valid container name")
    env = _env(name, spec.get("env") or {}, over.get("env") or {}, settings, say)
    test = _test(spec.get("test"), f"{path}/test", say)
    test_env = _test_env(spec.get("test_env"), f"{path}/test_env", say)
    return Service(
        name=name,
        group=str(spec.get("group")),
        local_image=str(local_image),
        image_repository=f"{settings.registry}/{name}",
        container_name=container,
        port=port,
        published=published,
        health_path=str(health),
        env=env,
        test=test,
        test_env=test_env,
    )


def _published(name: str, spec: Mapping[str, Any], over: Mapping[str, Any], ns: str, say: Say) -> int:
    """The host port a service publishes: none unless the stack asks (``services.<name>.published``: a port, or true for the
    catalog's ``published``). Services reach each other over dokploy-network, the public through routes: two stacks
    on one Dokploy host (staging and prod) then never compete for a port."""
    catalog_port = _port(spec["published"], f"services/{name}/published", say) if "published" in spec else 0
    asked = over.get("published", False)
    if asked is False:
        return 0
    if asked is True:
        if "published" not in spec:
            say(f"{ns}:services/{name}/published", "true publishes the catalog's host port, and the catalog gives none: give a port number")
        return catalog_port
    return _port(asked, f"{ns}:services/{name}/published", say)


def _port(value: Any, path: str, say: Say) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        say(path, f"{value!r} should be a port number in 1-65535")
        return 0
    return int(value)


def _env(name: str, spec: Mapping[str, Any], over: Mapping[str, Any], settings: StackSettings, say: Say) -> tuple[EnvVar, ...]:
    ns = settings.namespace
    out: list[EnvVar] = []
    for var in over:
        if var not in spec:
            say(f"{ns}:services/{name}/env/{var}", "is not an env var of this service in catalog.yaml")
    for var, value in spec.items():
        path = f"services/{name}/env/{var}"
        if not ENV_NAME.match(str(var)):
            say(path, "env var names are upper case letters, digits and '_'")
        if isinstance(value, Mapping) and value.get("secret") is True:
            if var in over or var in settings.env:
                where = f"{ns}:services/{name}/env/{var}" if var in over else f"{ns}:env/{var}"
                say(where, f"is a secret: set it with `pulumi config set --secret --path secrets.{var}`, not as plain config")
            out.append(EnvVar(var, "secret"))
        elif isinstance(value, Mapping) and "service_url" in value:
            out.append(EnvVar(var, "service_url", str(value["service_url"])))
        elif isinstance(value, Mapping) and "public_url" in value:  # the route's URL (a browser's), else the internal one
            out.append(EnvVar(var, "public_url", str(value["public_url"])))
        elif isinstance(value, Mapping) and "stack" in value:
            key = str(value["stack"])
            if var in over:
                out.append(EnvVar(var, "literal", _scalar(over[var], f"{ns}:services/{name}/env/{var}", say)))
            elif key in settings.env:
                out.append(EnvVar(var, "literal", str(settings.env[key])))
            else:
                say(f"{ns}:env/{key}", f"is required by service {name} (env {var})")
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            if var in over:
                out.append(EnvVar(var, "literal", _scalar(over[var], f"{ns}:services/{name}/env/{var}", say)))
            else:
                out.append(EnvVar(var, "plain", str(value)))
        else:
            say(path, "should be text, {secret: true}, {service_url: <service>}, {public_url: <service>} or {stack: <key>}")
    return tuple(out)


def _test(value: Any, path: str, say: Say) -> tuple[str, ...]:
    """The service's own pre-push test, run inside its image: text (``/bin/sh -c`` it) or an argv list (run as is)."""
    if value is None:
        return ()
    if isinstance(value, str) and value.strip() and "\0" not in value:
        return ("/bin/sh", "-c", value)
    if isinstance(value, list) and value and all(isinstance(v, str) and v and "\0" not in v for v in value):
        return tuple(value)
    say(path, "should be a command (text, run with /bin/sh -c inside the image) or a non-empty list of arguments (run as is)")
    return ()


def _test_env(value: Any, path: str, say: Say) -> tuple[tuple[str, str], ...]:
    """Placeholders the pre-push test container gets (it never gets a secret): NAME: one line of text or a number."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        say(path, "should be a mapping of NAME: placeholder value")
        return ()
    out: list[tuple[str, str]] = []
    for var, placeholder in value.items():
        where = f"{path}/{var}"
        if not isinstance(var, str) or not ENV_NAME.match(var):
            say(where, "env var names are upper case letters, digits and '_'")
        elif isinstance(placeholder, bool) or not isinstance(placeholder, str | int | float):
            say(where, "should be text or a number: a non-secret placeholder for the test container")
        elif any(c in str(placeholder) for c in "\n\r\0"):
            say(where, "should be one line (the test container's env file takes one line per variable)")
        elif SECRET_REF.search(str(placeholder)):
            say(where, f"{placeholder!r}: the test container gets no secrets and nothing is interpolated; write a fake value")
        else:
            out.append((var, str(placeholder)))
    return tuple(out)


def _scalar(value: Any, path: str, say: Say) -> str:
    """A stack-given env value: text or a number, never a mapping or list (they would become Python's repr)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        say(path, f"should be text or a number, not {type(value).__name__}")
        return ""
    return str(value)


def _check_shape(raw: Mapping[str, Any], say: Say) -> None:
    """The catalog's own structure: known top-level keys, at least one service, timing-only healthcheck defaults."""
    for key in sorted(set(raw) - TOP_KEYS):
        say(f"catalog.yaml/{key}", f"unknown top-level key (allowed: {', '.join(sorted(TOP_KEYS))})")
    services = raw.get("services")
    if not isinstance(services, Mapping) or not services:
        say(
            "catalog.yaml/services",
            "is required: a mapping of at least one service (nothing would be deployed, and prod's compose projects deleted)",
        )
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        say("catalog.yaml/defaults", "should be a mapping")
        defaults = {}
    for key in sorted(set(defaults) - DEFAULT_KEYS):
        say(f"catalog.yaml/defaults/{key}", f"unknown key (allowed: {', '.join(sorted(DEFAULT_KEYS))})")
    health = defaults.get("healthcheck") or {}
    for key in sorted(set(health) - HEALTHCHECK_KEYS if isinstance(health, Mapping) else {"(not a mapping)"}):
        say(
            f"catalog.yaml/defaults/healthcheck/{key}",
            f"only the timing may be set ({', '.join(sorted(HEALTHCHECK_KEYS))}); the probe is each service's port and health path",
        )
    for key, value in sorted(health.items()) if isinstance(health, Mapping) else ():
        if key == "retries" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            say("catalog.yaml/defaults/healthcheck/retries", f"should be a whole number of at least 1, not {value!r}")
        elif key in HEALTHCHECK_KEYS - {"retries"} and not (isinstance(value, str) and DURATION.match(value)):
            say(f"catalog.yaml/defaults/healthcheck/{key}", f"should be a duration with its unit (10s, 1m30s, 500ms), not {value!r}")
    groups = raw.get("groups")
    if not isinstance(groups, Mapping) or not groups:
        say("catalog.yaml/groups", "is required: a mapping of the compose projects (name: {description: ...})")
    for key in _group_names(raw):
        if not SERVICE_NAME.match(key):
            say(f"catalog.yaml/groups/{key}", "group names are lower-case words joined by '-' (each is a Dokploy compose name)")


def _group_names(raw: Mapping[str, Any]) -> list[str]:
    """The compose projects the catalog declares, in its order."""
    groups = raw.get("groups")
    return [str(g) for g in groups] if isinstance(groups, Mapping) else []


def _check_references(services: dict[str, Service], raw_services: Mapping[str, Any], settings: StackSettings, say: Say) -> None:
    ns = settings.namespace
    for svc in services.values():
        for var in svc.env:
            if var.kind in ("service_url", "public_url") and var.value not in services:
                why = "is disabled in this stack" if var.value in raw_services else "is not in the catalog"
                say(f"services/{svc.name}/env/{var.name}", f"points at service {var.value!r}, which {why}")
    missing: dict[str, list[str]] = {}
    for svc in services.values():
        for secret in sorted(svc.secret_names() - settings.secret_names):
            missing.setdefault(secret, []).append(svc.name)
    for secret, users in sorted(missing.items()):
        hint = f"pulumi config set --secret --path secrets.{secret} <value>"
        say(f"{ns}:secrets/{secret}", f"is required by {_plural(users, 'service')}: {hint}")


def _plural(names: list[str], noun: str) -> str:
    return f"{noun} {names[0]}" if len(names) == 1 else f"{noun}s {', '.join(names)}"


def _check_unique(services: dict[str, Service], say: Say) -> None:
    seen_ports: dict[int, str] = {}
    seen_names: dict[str, str] = {}
    for svc in services.values():
        if svc.published and svc.published in seen_ports:
            say(f"services/{svc.name}/published", f"host port {svc.published} is already published by {seen_ports[svc.published]}")
        if svc.published:
            seen_ports.setdefault(svc.published, svc.name)
        if svc.container_name in seen_names:
            say(f"services/{svc.name}/container_name", f"{svc.container_name!r} is already used by {seen_names[svc.container_name]}")
        seen_names.setdefault(svc.container_name, svc.name)
