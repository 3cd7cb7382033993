"""ComposeProject's properties and the pure decisions about them: input checks, the diff, drift seen in Dokploy."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from components.provider_support import is_unknown, norm_url, same
from core.dotenv import bad_line
from dokploy_api import DokployConfigError, check_base_url

COMPOSE_TYPES = ("docker-compose", "stack")
COMPOSE_INPUTS = (
    "dokploy_url",
    "api_key",
    "project_name",
    "environment_name",
    "project_id",
    "environment_id",
    "compose_name",
    "compose_file",
    "env",
    "services",
    "health_urls",
    "compose_type",
    "server_name",
    "server_id",
    "deploy_timeout",
    "poll_interval",
    "health_timeout",
    "stability_window",
    "rollback_on_failure",
    "allow_insecure_http",
    "delete_volumes",
    "routes",
    "traefik",
)
COMPOSE_COMPUTED = (
    "compose_id",
    "app_name",
    "deployment_id",
    "deployment_status",
    "deployment_finished_at",
    "healthy",
    "verification",
    "verified_at",
    "timings",
    "compose_sha256",
    "env_sha256",
    "drift",
)
REPLACE_KEYS = ("dokploy_url", "environment_id", "compose_name", "compose_type", "server_name")
"""A compose lives in one environment of one Dokploy, runs in one mode (compose or stack) on one server (Dokploy cannot
change a compose's serverId, and a compose-mode project's containers are not a stack's services): moving it is a new
compose (the old one deleted first)."""
UPDATE_KEYS = tuple(k for k in COMPOSE_INPUTS if k not in (*REPLACE_KEYS, "api_key", "compose_file", "env", "server_id"))
"""Inputs that change in place (the compose file and env are compared by hash)."""
ABSENT_IS_EMPTY = ("routes", "traefik")
"""Inputs a state written before routes existed does not have: missing there means none (no change, no redeploy)."""
ROUTE_KEYS = {"host": str, "path": str, "port": int, "https": bool, "certificate": str, "cert_resolver": str, "health": str}
"""One entry of ``routes`` (core.routes.inputs): the domain Dokploy holds for the service, and the path a check GETs."""
SECRET_OUTPUTS = ["env", "env_sha256"]
"""The env text, and its hash (an unsalted hash of short secrets could be brute-forced from the state)."""


def sha256_text(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def check_inputs(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(property, reason) for every invalid input; unknown preview values are not judged."""
    failures: list[tuple[str, str]] = []

    def fail(prop: str, reason: str) -> None:
        failures.append((prop, f"{prop}: {reason}"))

    def known(key: str) -> bool:
        return key in props and not is_unknown(props[key])

    insecure = props.get("allow_insecure_http", False)
    if known("dokploy_url"):
        try:
            check_base_url(props["dokploy_url"], allow_insecure_http=bool(insecure) if not is_unknown(insecure) else True)
        except DokployConfigError as exc:
            fail("dokploy_url", str(exc).removeprefix("dokploy_url: "))
    elif "dokploy_url" not in props:
        fail("dokploy_url", "is required")
    for key in ("server_name", "server_id"):
        if known(key) and not isinstance(props[key], str):
            fail(key, "should be text (empty: Dokploy's own host)")
        elif known(key) and props[key] != props[key].strip():
            fail(key, "should not start or end with spaces")
    for key in ("project_name", "environment_name", "compose_name", "project_id", "environment_id"):
        if key not in props:
            fail(key, "is required")
        elif known(key) and (not isinstance(props[key], str) or not props[key].strip()):
            fail(key, "should be a non-empty string")
        elif known(key) and props[key] != props[key].strip():
            fail(key, "should not start or end with spaces")
    if known("compose_type") and props["compose_type"] not in COMPOSE_TYPES:
        fail("compose_type", f"should be one of {', '.join(COMPOSE_TYPES)}")
    if "compose_file" not in props:
        fail("compose_file", "is required")
    elif known("compose_file") and (not isinstance(props["compose_file"], str) or not props["compose_file"].strip()):
        fail("compose_file", "should be non-empty compose YAML")
    if known("env"):
        env = props["env"]
        if env is not None and not isinstance(env, str):
            fail("env", "should be dotenv text (KEY=value lines)")
        elif isinstance(env, str) and (n := bad_line(env)) is not None:
            fail("env", f"line {n} is not KEY=value")
    if known("services"):
        svc = props["services"]
        if not isinstance(svc, Mapping) or not all(isinstance(v, Mapping) for v in svc.values()):
            fail("services", "should map each service name to a summary object")
    if known("health_urls"):
        urls = props["health_urls"]
        if not isinstance(urls, Mapping):
            fail("health_urls", "should map service names to URLs")
        else:
            for name, url in urls.items():
                if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
                    fail("health_urls", f"{name}: should be an http(s) URL")
    if known("routes"):
        failures += [("routes", f"routes: {why}") for why in _route_problems(props["routes"])]
    if known("traefik") and not _traefik_ok(props["traefik"]):
        fail("traefik", "should be {} (no route checks) or {web: http://host[:port], websecure: https://host[:port]}")
    for key, minimum in (("deploy_timeout", 1.0), ("poll_interval", 0.01), ("health_timeout", 0.0), ("stability_window", 0.0)):
        if known(key):
            v = props[key]
            if isinstance(v, bool) or not isinstance(v, int | float) or v < minimum:
                fail(key, f"should be a number >= {minimum:g} (seconds)")
    for key in ("rollback_on_failure", "allow_insecure_http", "delete_volumes"):
        if known(key) and not isinstance(props[key], bool):
            fail(key, "should be true or false")
    return failures


def diff_inputs(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(keys that force a replacement, keys that change in place) between the stored outputs and new inputs."""
    replaces: list[str] = []
    changed: list[str] = []
    for key in REPLACE_KEYS:
        if key not in new:
            continue
        if is_unknown(new[key]):
            changed.append(key)
        elif (key in old or key == "server_name") and not same(norm_url(old.get(key) or ""), norm_url(new[key] or "")):
            replaces.append(key)  # a state written before servers existed ran on Dokploy's host (server_name "")
    # the server's id, resolved from its name by the program ("" in a preview without an API key: not compared then);
    # the same name with another id is another server (one deleted and created again in Dokploy)
    new_server = new.get("server_id")
    if is_unknown(new_server):
        changed.append("server_id")
    elif new_server and (old.get("server_id") or "") != new_server and "server_name" not in replaces:
        replaces.append("server_id")
    for key, hash_key in (("compose_file", "compose_sha256"), ("env", "env_sha256")):
        if key in new and (is_unknown(new[key]) or old.get(hash_key) != sha256_text(new[key])):
            changed.append(key)
    for key in UPDATE_KEYS:
        if key in ABSENT_IS_EMPTY and key in new and not is_unknown(new[key]):
            if not same(old.get(key) or {}, new[key] or {}):
                changed.append(key)
        elif key in new and (is_unknown(new[key]) or key not in old or not same(old[key], new[key])):
            changed.append(key)
    if old.get("drift") or old.get("deployment_status") not in (None, "done") or old.get("healthy") is False:
        changed.append("deployment")
    return replaces, changed


def live_drift(live: Mapping[str, Any], declared_type: str | None) -> tuple[list[str], dict[str, Any] | None]:
    """What a compose row in Dokploy says differs from what we manage, and its latest deployment row (or None)."""
    drift: list[str] = []
    if live.get("sourceType") != "raw":
        drift.append(f"sourceType is {live.get('sourceType')!r} in Dokploy, not 'raw'")
    if declared_type and live.get("composeType") != declared_type:
        drift.append(f"composeType is {live.get('composeType')!r} in Dokploy")
    if live.get("createEnvFile") is False:
        drift.append("createEnvFile is off in Dokploy")
    deployments = [d for d in live.get("deployments") or [] if isinstance(d, dict)]
    latest = max(deployments, key=lambda d: str(d.get("createdAt") or "")) if deployments else None
    if latest is not None and latest.get("status") in ("error", "cancelled"):
        drift.append(f"the last deployment {latest.get('deploymentId')} ended {latest.get('status')!r}")
    if live.get("composeStatus") == "idle" and deployments:
        drift.append("the compose is idle in Dokploy (stopped, or a deploy was cancelled)")
    return drift, latest


def _route_problems(routes: Any) -> list[str]:
    """What is wrong with a ``routes`` input (service -> route entry)."""
    if routes is None:
        return []
    if not isinstance(routes, Mapping):
        return ["should map service names to routes"]
    out: list[str] = []
    for service, route in routes.items():
        if not isinstance(route, Mapping):
            out.append(f"{service}: should be a route (host, path, port, https, certificate, cert_resolver, health)")
            continue
        for key, kind in ROUTE_KEYS.items():
            value = route.get(key)
            if kind is int:  # numbers reach a provider as floats
                ok = isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer() and 0 < value < 65536
            else:
                ok = isinstance(value, kind)
            if not ok:
                out.append(f"{service}: {key} should be {'a port' if kind is int else kind.__name__}, not {value!r}")
        if set(route) - set(ROUTE_KEYS):
            out.append(f"{service}: unknown keys {', '.join(sorted(set(route) - set(ROUTE_KEYS)))}")
    return out


def _traefik_ok(entries: Any) -> bool:
    if not entries:
        return True
    if not isinstance(entries, Mapping) or set(entries) != {"web", "websecure"}:
        return False
    return all(isinstance(entries[k], str) and re.match(rf"^{scheme}://[^/\s]+/?$", entries[k])
               for k, scheme in (("web", "http"), ("websecure", "https")))
