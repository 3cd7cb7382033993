"""Read and check one stack's Pulumi config; the only module that knows the config keys.

The keys live in the project's namespace (``bizosaas-deploy:``, the name in Pulumi.yaml), so the
commands a Pulumi user types work as printed: ``pulumi config set --secret dokployApiKey ...``.
``check`` reports every problem of a stack's config at once, each naming the stack, the key and
the command that fixes it: an unknown key, a key in a namespace the program does not read (such
as the ``bizosaas:`` namespace of stacks written before this layout), a value of the wrong type, a
secret given as plain text (every value under ``secrets`` included), a required key missing.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from core import schema, yaml_text
from core.model import StackSettings
from core.routes import traefik_addresses

PROJECT = "bizosaas-deploy"
"""The namespace the program reads (Pulumi.yaml's project name)."""
LEGACY_NAMESPACE = "bizosaas"
"""The namespace stacks written before the config fix used; read by nothing now."""
ENGINE_NAMESPACES = ("pulumi",)
"""Namespaces the engine itself reads (``pulumi:disable-default-providers`` ...)."""
API_KEY_ENV = "DOKPLOY_API_KEY"
MIGRATE = "sed -i 's/^  bizosaas:/  bizosaas-deploy:/' Pulumi.{stack}.yaml"


@dataclass(frozen=True)
class Key:
    """One config key: its kind and what it is for (the text the error for an unknown key lists)."""

    kind: str
    """text | number | bool | object | secret | secrets (an object whose every value is a secret)"""
    help: str


KEYS: dict[str, Key] = {
    "registry": Key("text", "image repository prefix the images are pushed to (ghcr.io/org/platform)"),
    "tag": Key("text", "the tag pushed beside the digest, for humans (default: the stack name)"),
    "containerSuffix": Key("text", "appended to every container name (staging, prod)"),
    "registryUser": Key("text", "user the images are pushed as (unset: a registry without authentication)"),
    "registryToken": Key("secret", "token with write:packages for registryUser"),
    "registryPullUser": Key("text", "user Dokploy pulls as (registers registry credentials in Dokploy)"),
    "registryPullToken": Key("secret", "token with read:packages for registryPullUser"),
    "registryPullHost": Key("text", "registry host Dokploy logs in to (default ghcr.io)"),
    "registryName": Key("text", "name of the registry entry in Dokploy (default ghcr)"),
    "dockerHost": Key("text", "Docker Engine the images are pushed from (default DOCKER_HOST)"),
    "publishAddress": Key("text", "host address the services' ports are published on (default 127.0.0.1; 0.0.0.0 = every interface)"),
    "dokployUrl": Key("text", "Dokploy base URL (https://...)"),
    "dokployApiKey": Key("secret", f"Dokploy API key (or the {API_KEY_ENV} environment variable)"),
    "dokployProject": Key("text", "Dokploy project (default bizosaas-<stack>)"),
    "dokployEnvironment": Key("text", "environment in that project (default production)"),
    "dokployAllowHttp": Key("bool", "allow plain http:// to a non-loopback Dokploy"),
    "healthUrl": Key(
        "text",
        "optional reachability check from where `pulumi up` runs, on top of the verification through Dokploy's API: "
        "health URL template ({published} {port} {path} {container} {service})",
    ),
    "healthTimeout": Key("number", "seconds the new containers have to run healthy after a deploy (and the health URLs to answer)"),
    "stabilityWindow": Key(
        "number",
        "seconds every new container must then stay up, healthy and unrestarted (default 30 when promoteFrom is set, else 10)",
    ),
    "deployTimeout": Key("number", "seconds a Dokploy deployment may take"),
    "dokployUnreachableTimeout": Key(
        "number",
        "seconds an `up` waits for a Dokploy that does not answer (restarting, down, or its database down: 401 to every key) "
        "before it fails naming the URL and what it was doing (default 180)",
    ),
    "deployLogSilence": Key(
        "number",
        "seconds a running deployment's log may stay unchanged before it is taken as lost in a Dokploy restart; used only "
        "where Dokploy's deployment queue cannot be read (an older Dokploy, a key without the permission; default 600, 0: never)",
    ),
    "pollInterval": Key("number", "seconds between deployment polls"),
    "rollbackOnFailure": Key("bool", "restore the previous compose file and env when a deploy or verification fails"),
    "env": Key("object", "stack values the catalog's {stack: KEY} env vars read"),
    "services": Key(
        "object",
        "per-service overrides: enabled, published (a host port, or true: the catalog's; default none), env, local_image, "
        "deploy (stack mode), route (false: none; or host, path, https, certificate, cert_resolver)",
    ),
    "domain": Key("text", "the stack's base domain, filling {domain} in the catalog's route hosts (staging.example.com)"),
    "routes": Key(
        "object",
        "every route of the stack: enabled (false: none), https, certificate (letsencrypt | none | custom), cert_resolver, "
        "verify (false: no check through Traefik after a deploy)",
    ),
    "traefikUrl": Key(
        "text", "where `up` reaches the Traefik of the Dokploy host to check the http routes (default http://<dokployUrl's host>)"
    ),
    "traefikHttpsUrl": Key(
        "text", "where `up` reaches that Traefik's websecure entrypoint for the https routes (default https://<traefikUrl's host>)"
    ),
    "resourceLimits": Key(
        "object",
        "every service's resource limits, in compose and stack mode: cpus (0.5), memory (256M), pids; rendered "
        "as each service's deploy.resources.limits (docker compose and Swarm both apply it; a service's own stack-mode deploy wins)",
    ),
    "composeProjects": Key(
        "object",
        "per compose project (backend, frontend): mode (compose | stack: docker stack deploy on Dokploy's Swarm), server (a Dokploy "
        "server's name; default Dokploy's host), and in stack mode ports (ingress | host) and endpointMode (vip | dnsrr)",
    ),
    "secrets": Key("secrets", "the secret env values, each set with --secret --path secrets.NAME"),
    "promoteFrom": Key("text", "org/project/stack whose verified release this stack deploys"),
    "checkRegistry": Key("bool", "promotion: check every digest is in the registry first"),
    "pinnedRelease": Key("text", "rollback: the id of an earlier verified release of this stack, deployed again as recorded (r-...)"),
    # (an object service -> repository@sha256, written by deployctl before releases were recorded, is still read: legacy_pin)
    "expectRelease": Key("text", "promotion: the release of the promoteFrom stack this stack may deploy; any other is refused (r-...)"),
    "protect": Key("bool", "refuse to delete the compose projects and the Dokploy project (default: true when promoteFrom is set)"),
    "testGate": Key("bool", "test each image before it is tagged and pushed (default true; stacks that push nothing run no test)"),
    "testTimeout": Key("number", "seconds the pre-push test waits for an image's health path to say 2xx (and its own test; default 120)"),
}
"""Every key, its kind and help text; schemas/stack.schema.json has each (``bizosaas-deploy:<name>``) with this help as
its description, its type, range and nested keys (tests/components/test_schema_agreement.py keeps the two equal)."""


def set_command(name: str) -> str:
    """The command that sets a key, as a user types it."""
    kind = KEYS[name].kind if name in KEYS else "text"
    if kind == "secrets":
        return "pulumi config set --secret --path secrets.NAME <value>"
    if kind == "object":
        return f"pulumi config set --path {name}.KEY <value>"
    return f"pulumi config set {'--secret ' if kind == 'secret' else ''}{name} <value>"


def check(
    stack: str,
    values: Mapping[str, Any],
    secret_keys: Collection[str],
    stack_file: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    dry_run: bool = False,
) -> list[str]:
    """Every problem of one stack's config (``values``: full key -> raw value, as the engine passes it).

    A preview (``dry_run``) needs no Dokploy API key: it calls nothing (a pull-request preview runs without one).
    """
    environ = os.environ if environ is None else environ
    problems: list[str] = []

    def say(key: str, msg: str) -> None:
        problems.append(f"stack {stack}: {key}: {msg}")

    ours: dict[str, Any] = {}
    for full, raw in sorted(values.items()):
        namespace, _, name = full.partition(":")
        if namespace == PROJECT:
            if _check_key(name, full in secret_keys, say):
                ours[full] = _value(full, raw)
        elif namespace == LEGACY_NAMESPACE:
            say(
                full,
                f"this program reads the {PROJECT}: namespace (the project name), not {LEGACY_NAMESPACE}: ; "
                f"set it again with `{set_command(name)}`, or move every key at once: {MIGRATE.format(stack=stack)}",
            )
        elif namespace not in ENGINE_NAMESPACES:
            say(full, f"nothing reads the {namespace}: namespace; this program reads {PROJECT}: keys (`{set_command(name)}`)")
    present = {full.partition(":")[2] for full in values if full.startswith(f"{PROJECT}:")}
    for problem in schema.stack_problems(ours):  # the shape: types, ranges, nested keys, required keys
        key = "/".join(str(part) for part in problem.path)
        name = key.partition(":")[2]
        if problem.keyword == "required" and name in KEYS:
            say(key, f"is required, the {KEYS[name].help}: `{set_command(name)}`")
        else:
            say(key, problem.message)
    if "dokployApiKey" not in present and not environ.get(API_KEY_ENV) and not dry_run:
        say(f"{PROJECT}:dokployApiKey", f"is required: `{set_command('dokployApiKey')}`, or set {API_KEY_ENV}")
    pushes = not ({"promoteFrom", "pinnedRelease"} & present)
    for user, token in (("registryUser", "registryToken"), ("registryPullUser", "registryPullToken")):
        if user in present and token not in present and (pushes or user == "registryPullUser"):
            say(f"{PROJECT}:{token}", f"is required with {user}: `{set_command(token)}`")
    if f"{PROJECT}:secrets" in secret_keys:  # else the whole object is plain: said once above
        problems += _plain_secrets(stack, stack_file)
    return problems


def _check_key(name: str, is_secret: bool, say: Callable[[str, str], None]) -> bool:
    """A key of the project's namespace: known (else the nearest name), and secret if it must be; whether to validate it."""
    key = f"{PROJECT}:{name}"
    spec = KEYS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, KEYS, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        say(key, f"unknown key; {hint}known keys: {', '.join(sorted(KEYS))}")
        return False
    if spec.kind in ("secret", "secrets") and not is_secret:
        say(key, f"is a secret but set as plain text: `pulumi config rm {name}`, then `{set_command(name)}`")
    return True


def _value(full: str, raw: Any) -> Any:
    """A value as the engine passes it (text), as the schema reads it: JSON for numbers, booleans and objects; a key that
    takes text keeps its text ('123' stays '123', an object's JSON is an object)."""
    value = _parsed(raw)
    if isinstance(raw, str) and not isinstance(value, dict | list) and schema.takes_text(full):
        return raw
    return value


def _parsed(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _plain_secrets(stack: str, stack_file: Mapping[str, Any] | None) -> list[str]:
    """Values under ``secrets`` that the stack file holds in plain text (the engine marks the whole object secret)."""
    config = (stack_file or {}).get("config") or {}
    tree = config.get(f"{PROJECT}:secrets")
    if not isinstance(tree, Mapping) or "secure" in tree:
        return []
    return [
        f"stack {stack}: {PROJECT}:secrets/{name}: is plain text in Pulumi.{stack}.yaml; every value under secrets must be secret: "
        f"`pulumi config set --secret --path secrets.{name} <value>`"
        for name, value in sorted(tree.items())
        if not (isinstance(value, Mapping) and "secure" in value)
    ]


def api_key() -> str:
    """The Dokploy API key of the running stack (``dokployApiKey``, else DOKPLOY_API_KEY), "" when there is none (a preview)."""
    value = pulumi.runtime.get_config(f"{PROJECT}:dokployApiKey")
    return value if isinstance(value, str) and value else os.environ.get(API_KEY_ENV, "")


def all_config() -> dict[str, Any]:
    """Every config value the engine gave the program (full key -> raw value), the keys nothing reads included.

    The SDK has no public way to list the config (``pulumi.Config`` and ``pulumi.runtime.get_config`` answer one key
    asked by name); an unknown key can only be found in the whole map, which pulumi SDK 3.272 keeps in
    ``pulumi.runtime.config.CONFIG`` (not in ``pulumi.runtime.__all__``). Checked against 3.272;
    tests/components/test_public_sdk.py fails loudly when the name or its meaning changes.
    """
    whole = getattr(pulumi.runtime.config, "CONFIG", None)
    if whole is None:
        raise RuntimeError(
            "this pulumi SDK no longer has pulumi.runtime.config.CONFIG (checked with 3.272): stack config checks cannot list the keys"
        )
    return dict(whole.get())


def check_running_stack(stack: str) -> list[str]:
    """``check`` for the stack the program runs as: the engine's config, its secret keys, the stack file beside Pulumi.yaml."""
    values = all_config()
    secret_keys = {k for k in values if pulumi.runtime.is_config_secret(k)}
    path = Path.cwd() / f"Pulumi.{stack}.yaml"
    stack_file = yaml_text.load(path.read_text()) if path.is_file() else None
    return check(stack, values, secret_keys, stack_file if isinstance(stack_file, Mapping) else None, dry_run=pulumi.runtime.is_dry_run())


@dataclass(frozen=True)
class DeploySettings:
    """Where and how the compose projects are deployed and verified."""

    dokploy_url: str
    project_name: str
    environment_name: str
    health_url: str
    """Template of each service's health URL (keys: published, port, path, container, service); "" = no reachability check."""
    deploy_timeout: float
    poll_interval: float
    health_timeout: float
    stability_window: float
    """Seconds the new containers must stay up, healthy and unrestarted once healthy."""
    rollback_on_failure: bool
    allow_insecure_http: bool
    protect: bool
    """Compose projects and the Dokploy project cannot be deleted (or replaced) without first setting protect: false."""
    traefik: Mapping[str, str] = field(default_factory=dict)
    """Where `up` reaches the Dokploy host's Traefik to check every route after a deploy: {"web": http URL, "websecure": https
    URL}; {} = routes are not checked (``routes.verify: false``)."""


def read_settings(cfg: pulumi.Config, stack: str) -> StackSettings:
    """The catalog-shaping part of the stack config (``check`` has vetted the types and secrecy)."""
    secrets = _mapping(_safe(cfg.get_object, "secrets"))
    names = frozenset(k for k, v in secrets.items() if v not in (None, ""))
    return _settings(stack, cfg.get, cfg.get_object, names)


def settings_from_file(stack: str, config: Mapping[str, Any], secret_names: frozenset[str]) -> StackSettings:
    """The same settings from a stack file's ``config:`` mapping, without decrypting anything (tools, the demo)."""

    def get(key: str) -> Any:
        return config.get(f"{PROJECT}:{key}")

    return _settings(stack, get, get, secret_names)


def _settings(stack: str, text: Callable[[str], Any], obj: Callable[[str], Any], secret_names: frozenset[str]) -> StackSettings:
    return StackSettings(
        stack=stack,
        registry=str(text("registry") or ""),
        tag=str(text("tag") or stack),
        container_suffix=str(text("containerSuffix") or ""),
        env={k: str(v) for k, v in _mapping(_safe(obj, "env")).items()},
        services=_mapping(_safe(obj, "services")),
        secret_names=secret_names,
        publish_address=str(text("publishAddress") or "127.0.0.1"),
        publish_address_given=bool(text("publishAddress")),
        projects=_mapping(_safe(obj, "composeProjects")),
        namespace=PROJECT,
        domain=str(text("domain") or "").strip(),
        routes=_mapping(_safe(obj, "routes")),
        limits=_mapping(_safe(obj, "resourceLimits")),
    )


def _safe(obj: Callable[[str], Any], key: str) -> Any:
    try:
        return obj(key)
    except pulumi.ConfigTypeError:  # reported by check()
        return None


def legacy_pin(cfg: pulumi.Config) -> dict[str, str] | None:
    """A pinnedRelease written before releases were recorded: service -> repository@sha256 (None otherwise)."""
    value = optional_object(cfg, "pinnedRelease")
    return {str(k): str(v) for k, v in value.items()} if value else None


def optional_object(cfg: pulumi.Config, key: str) -> dict[str, Any] | None:
    """An object-valued key, or None when it is unset or not an object (``check`` reports the latter)."""
    value = _safe(cfg.get_object, key)
    return dict(value) if isinstance(value, Mapping) else None


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def read_deploy(cfg: pulumi.Config, stack: str) -> DeploySettings:
    """The Dokploy and verification part of the stack config."""
    return DeploySettings(
        dokploy_url=cfg.get("dokployUrl") or "",
        project_name=cfg.get("dokployProject") or f"bizosaas-{stack}",
        environment_name=cfg.get("dokployEnvironment") or "production",
        health_url=cfg.get("healthUrl") or "",
        deploy_timeout=_seconds(cfg, "deployTimeout", 600),
        poll_interval=_seconds(cfg, "pollInterval", 2),
        health_timeout=_seconds(cfg, "healthTimeout", 120),
        stability_window=_stability_window(cfg),
        rollback_on_failure=bool(cfg.get_bool("rollbackOnFailure")),
        allow_insecure_http=bool(cfg.get_bool("dokployAllowHttp")),
        protect=_protect(cfg),
        traefik=_traefik(cfg),
    )


def _traefik(cfg: pulumi.Config) -> dict[str, str]:
    """The Traefik entrypoints route checks go through ({} when ``routes.verify`` is false)."""
    if (optional_object(cfg, "routes") or {}).get("verify") is False:
        return {}
    return traefik_addresses(cfg.get("dokployUrl") or "", cfg.get("traefikUrl") or "", cfg.get("traefikHttpsUrl") or "")


@dataclass(frozen=True)
class GateSettings:
    """The pre-push test gate of a stack that pushes images."""

    enabled: bool
    timeout: float
    """Seconds the health path has to answer 2xx (and the catalog's own test to pass)."""


DEFAULT_TEST_TIMEOUT = 120.0


def read_gate(cfg: pulumi.Config) -> GateSettings:
    """testGate (on unless set to false) and testTimeout; only read where images are pushed."""
    return GateSettings(enabled=cfg.get_bool("testGate") is not False, timeout=_seconds(cfg, "testTimeout", DEFAULT_TEST_TIMEOUT))


def _seconds(cfg: pulumi.Config, key: str, default: float) -> float:
    """A number of seconds as set (its range is the schema's, checked before anything runs), the default only when unset."""
    value = cfg.get_float(key)
    return default if value is None else float(value)


def _stability_window(cfg: pulumi.Config) -> float:
    return _seconds(cfg, "stabilityWindow", 30.0 if cfg.get("promoteFrom") else 10.0)


def _protect(cfg: pulumi.Config) -> bool:
    value = cfg.get_bool("protect")
    return bool(cfg.get("promoteFrom")) if value is None else value
