"""Load catalog.yaml, overlay one stack's settings, validate everything, resolve the services.

Pure: no pulumi, no network, no Docker. Every problem is reported with the stack, the service and
the key path (``stack staging: services/brain-api/published: ...``), all problems at once, before
anything is pushed or deployed. The shape (types, ranges, patterns, required and unknown keys at every
depth) is schemas/catalog.schema.json's and, for the stack's part, schemas/stack.schema.json's
(``core.schema``); this module checks what a schema cannot say: a service's group among the catalog's
groups, the stack's overrides against the catalog's services and env vars, references between services,
host port and container name clashes, secrets given as plain config, required stack values.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from core import placements, reserialise, routes, schema, swarm, yaml_text
from core.model import SECRET_REF, Catalog, EnvVar, Service, StackSettings

PROJECT = "bizosaas-deploy"
"""The stack schema's namespace (messages use StackSettings.namespace)."""

__all__ = ["Catalog", "CatalogError", "Service", "StackSettings", "load_catalog_file", "resolve", "secret_names"]

Say = Callable[[str, str], None]

# What the code reads, per level: schemas/catalog.schema.json and stack.schema.json list exactly these keys
# (tests/components/test_schema_agreement.py); a key added to one is added to the other.
TOP_KEYS = {"defaults", "groups", "services"}
DEFAULT_KEYS = {"restart", "network", "healthcheck", "deploy", "route"}
HEALTHCHECK_KEYS = {"interval", "timeout", "retries", "start_period", "start_interval"}
"""Timing only: the probe itself is always each service's port and health path."""
SERVICE_KEYS = {"group", "local_image", "container_name", "port", "published", "health", "env", "test", "test_env", "deploy", "route"}
OVERRIDE_KEYS = {"enabled", "published", "env", "local_image", "deploy", "route"}
STACK_KEYS = (
    "registry", "tag", "containerSuffix", "publishAddress", "env", "services", "composeProjects", "domain", "routes", "resourceLimits"
)
"""The stack config keys that shape the catalog (StackSettings): their shape is checked here, with the catalog."""


class CatalogError(ValueError):
    """One or more problems in the catalog or a stack's settings; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def load_catalog_file(path: Path) -> dict[str, Any]:
    """Read catalog.yaml as plain data."""
    data = yaml_text.load(path.read_text())
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
    for problem in schema.catalog_problems(raw):
        say(_catalog_path(problem.path), problem.message)
    for problem in schema.stack_problems(_stack_part(settings)):
        if problem.keyword != "required" or len(problem.path) > 1:  # the keys the config check requires are its own
            say("/".join(str(part) for part in problem.path).replace(f"{PROJECT}:", f"{ns}:", 1), problem.message)

    given_services = raw.get("services")
    raw_services: Mapping[str, Any] = given_services if isinstance(given_services, Mapping) else {}
    overrides = settings.services or {}
    for name in overrides:
        if name not in raw_services:
            say(f"{ns}:services/{name}", f"unknown service{_did_you_mean(name, raw_services)} (known: {', '.join(raw_services)})")

    given_defaults = raw.get("defaults")
    base_deploy = swarm.valid(given_defaults.get("deploy") if isinstance(given_defaults, Mapping) else None)
    default_route = given_defaults.get("route") if isinstance(given_defaults, Mapping) else None
    stack_routes = routes.StackRoutes(settings.stack, ns, settings.domain, settings.routes, default_route, say)
    limits = _limits_layer(settings)
    services: dict[str, Service] = {}
    layers: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for name, spec in raw_services.items():
        given = overrides.get(name)
        over: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        if over.get("enabled", True) is False:
            continue
        svc = _service(name, spec, over, settings, say, _group_names(raw))
        if svc:
            own = swarm.valid(spec.get("deploy"))
            theirs = swarm.valid(over.get("deploy")) if "deploy" in over else {}
            layers[name] = (own, theirs)
            route = stack_routes.route(name, spec, over)
            deploy = swarm.merge(base_deploy, own, limits, theirs)  # the stack's resourceLimits under its per-service deploy
            services[name] = replace(svc, deploy=deploy, route=route, limits=dict((limits.get("resources") or {}).get("limits") or {}))

    where = placements.project_placements(settings, say, _group_names(raw))
    services = placements.check_modes(services, where, layers, settings, say)
    _check_references(services, raw_services, settings, say)
    _check_unique(services, say)
    routes.check_unique(services, say)
    _check_text(raw, settings, services, base_deploy, layers, say)
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


def _catalog_path(path: tuple[Any, ...]) -> str:
    """``services/<name>/...`` (the service is named), else ``catalog.yaml/...``."""
    text = "/".join(str(part) for part in path)
    return text if path[:1] == ("services",) and len(path) > 1 else f"catalog.yaml/{text}".rstrip("/")


def _stack_part(settings: StackSettings) -> dict[str, Any]:
    """The catalog-shaping stack keys as the stack schema reads them (what StackSettings holds of them)."""
    given = {
        "registry": settings.registry,
        "tag": settings.tag,
        "containerSuffix": settings.container_suffix,
        "publishAddress": settings.publish_address,
        "env": dict(settings.env or {}),
        "services": dict(settings.services or {}),
        "composeProjects": dict(settings.projects or {}),
        "domain": settings.domain,
        "routes": dict(settings.routes or {}),
        "resourceLimits": dict(settings.limits or {}),
    }
    return {f"{PROJECT}:{k}": v for k, v in given.items() if k in STACK_KEYS and (v or k in ("registry", "tag"))}


def _limits_layer(settings: StackSettings) -> dict[str, Any]:
    """The stack's ``resourceLimits`` as a deploy layer (``resources.limits``), when the schema takes them (else its problem is
    reported with the stack's): every service gets them, in compose mode (docker compose applies a service's
    ``deploy.resources.limits`` to its container) and in stack mode (Swarm's task limits)."""
    return swarm.valid({"resources": {"limits": dict(settings.limits)}}) if settings.limits else {}


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]}?" if close else ""


def _service(name: str, spec: Any, over: Mapping[str, Any], settings: StackSettings, say: Say, groups: list[str]) -> Service | None:
    """One service, its stack overrides applied; only what the schemas cannot say is checked here (its group is one of
    the catalog's, its env overrides are env vars of the service)."""
    if not isinstance(spec, Mapping):
        return None
    path = f"services/{name}"
    if isinstance(spec.get("group"), str) and spec.get("group") not in groups:
        say(f"{path}/group", f"should be one of the catalog's groups ({', '.join(groups)}), not {spec.get('group')!r}")
    local_image = over.get("local_image", spec.get("local_image", ""))
    port = _port(spec.get("port"))
    published = _published(name, spec, over, settings.namespace, say)
    base = spec.get("container_name", "")
    container = f"{base}-{settings.container_suffix}" if settings.container_suffix else str(base)
    env = _env(name, _mapping(spec.get("env")), _mapping(over.get("env")), settings, say)
    return Service(
        name=name,
        group=str(spec.get("group")),
        local_image=str(local_image),
        image_repository=f"{settings.registry}/{name}",
        container_name=container,
        port=port,
        published=published,
        health_path=str(spec.get("health", "")),
        env=env,
        test=_test(spec.get("test")),
        test_env=_test_env(spec.get("test_env")),
    )


def _published(name: str, spec: Mapping[str, Any], over: Mapping[str, Any], ns: str, say: Say) -> int:
    """The host port a service publishes: none unless the stack asks (``services.<name>.published``: a port, or true for the
    catalog's ``published``). Services reach each other over dokploy-network, the public through routes: two stacks
    on one Dokploy host (staging and prod) then never compete for a port."""
    asked = over.get("published", False)
    if asked is True:
        if "published" not in spec:
            say(f"{ns}:services/{name}/published", "true publishes the catalog's host port, and the catalog gives none: give a port number")
        return _port(spec.get("published"))
    return _port(asked)  # false (or nothing): 0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _port(value: Any) -> int:
    """A port as the schema allows it (1-65535), 0 otherwise (the schema's problem is reported)."""
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535 else 0


def _env(name: str, spec: Mapping[str, Any], over: Mapping[str, Any], settings: StackSettings, say: Say) -> tuple[EnvVar, ...]:
    ns = settings.namespace
    out: list[EnvVar] = []
    for var in over:
        if var not in spec:
            say(f"{ns}:services/{name}/env/{var}", f"is not an env var of this service in catalog.yaml{_did_you_mean(var, spec)}")
    for var, value in spec.items():
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
                out.append(EnvVar(var, "literal", str(over[var])))
            elif key in settings.env:
                out.append(EnvVar(var, "literal", str(settings.env[key])))
            else:
                say(f"{ns}:env/{key}", f"is required by service {name} (env {var})")
        elif var in over:
            out.append(EnvVar(var, "literal", str(over[var])))
        else:
            out.append(EnvVar(var, "plain", str(value)))
    return tuple(out)


def _test(value: Any) -> tuple[str, ...]:
    """The service's own pre-push test, run inside its image: text (``/bin/sh -c`` it) or an argv list (run as is)."""
    if isinstance(value, str):
        return ("/bin/sh", "-c", value)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _test_env(value: Any) -> tuple[tuple[str, str], ...]:
    """Placeholders the pre-push test container gets (it never gets a secret): NAME: one line of text or a number."""
    return tuple((str(var), str(placeholder)) for var, placeholder in value.items()) if isinstance(value, Mapping) else ()


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


def _check_text(
    raw: Mapping[str, Any],
    settings: StackSettings,
    services: dict[str, Service],
    base_deploy: Mapping[str, Any],
    layers: Mapping[str, tuple[dict[str, Any], dict[str, Any]]],
    say: Say,
) -> None:
    """Every value the catalog or the stack puts into the compose text, as it reaches docker compose once Dokploy has
    re-written the file (``core.reserialise``): what would arrive as something else, or stop the deploy, is named where
    it is set."""
    ns = settings.namespace

    def check(path: str, value: Any, note: str = "") -> None:
        for sub, why in reserialise.problems_in(value):
            say(f"{path}/{sub}".rstrip("/"), f"{note}{why}")

    check("the stack name (label com.bizosaas.stack)", settings.stack)
    defaults = _mapping(raw.get("defaults"))
    check("catalog.yaml/defaults/network", defaults.get("network", "dokploy-network"))
    check("catalog.yaml/defaults/healthcheck", dict(_mapping(defaults.get("healthcheck"))))
    check("catalog.yaml/defaults/deploy", dict(base_deploy))
    check(f"{ns}:publishAddress", f"{settings.publish_address}:1:1")  # as a compose-mode port says it
    raw_services = _mapping(raw.get("services"))
    readers: dict[str, list[str]] = {}  # a stack value -> the services (env vars) that read it
    for name, svc in services.items():
        over = _mapping(settings.services.get(name))
        check(f"services/{name}", name)
        suffix = f"(with {ns}:containerSuffix {settings.container_suffix!r}) " if settings.container_suffix else ""
        check(f"services/{name}/container_name", svc.container_name, suffix)
        own, theirs = layers.get(name, ({}, {}))
        check(f"services/{name}/deploy", own)
        check(f"{ns}:services/{name}/deploy", theirs)
        spec_env = _mapping(_mapping(raw_services.get(name)).get("env"))
        for var in svc.env:
            if var.kind == "plain":
                check(f"services/{name}/env/{var.name}", var.value)
            elif var.kind == "literal" and var.name in _mapping(over.get("env")):
                check(f"{ns}:services/{name}/env/{var.name}", var.value)
            elif var.kind == "literal":
                readers.setdefault(str(spec_env[var.name]["stack"]), []).append(f"{name} (env {var.name})")
    for key, users in readers.items():
        check(f"{ns}:env/{key}", settings.env.get(key, ""), f"(read by {_plural(users, 'service')}) ")


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
