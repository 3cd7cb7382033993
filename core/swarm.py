"""Stack mode (``docker stack deploy``): the Swarm ``deploy:`` settings of a service, validated, merged, rendered (pure).

A service's settings come in three layers, merged key by key (a mapping is merged, anything else
replaced): the catalog's ``defaults.deploy``, the service's own ``deploy:`` in the catalog, the
stack's ``services.<name>.deploy``. Each layer is validated on its own, so a problem names the
file and key it is in (``services/brain-api/deploy/update_config/order: ...``).

What the port model allows is decided here too: a task publishing a host-mode port holds that port
on its node, so a second task of the service cannot start on the same node. ``start-first``
(the new task before the old one stops) then waits for a port that is never freed: a host-mode
service updates and rolls back ``stop-first`` (``effective``), and the catalog's ``start-first``
default applies to services published through ingress or not published at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from core.model import Placement, Service

Say = Callable[[str, str], None]
Check = Callable[[Any], str | None]
"""A leaf check: None when the value is fine, else what it should be."""

DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")
MEMORY = re.compile(r"^\d+(?:\.\d+)?[bkmgBKMG]?$")
CONSTRAINT = re.compile(r"^[A-Za-z0-9_.-]+\s*(?:==|!=)\s*\S.*$")
START_FIRST, STOP_FIRST = "start-first", "stop-first"
SERVICE_LABEL = "com.bizosaas.service"
STACK_LABEL = "com.bizosaas.stack"


def _int(minimum: int) -> Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        return None if ok else f"should be a whole number >= {minimum}"

    return check


def _one_of(*allowed: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"should be one of {', '.join(allowed)}"

    return check


def _duration(value: Any) -> str | None:
    return None if isinstance(value, str) and DURATION.match(value) else "should be a duration such as 10s, 1m30s or 500ms"


def _ratio(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
    return None if ok else "should be a number from 0 to 1"


def _cpus(value: Any) -> str | None:
    try:
        ok = not isinstance(value, bool) and isinstance(value, int | float | str) and float(value) > 0
    except ValueError:
        ok = False
    return None if ok else "should be a positive number of CPUs such as 0.5 or '2'"


def _memory(value: Any) -> str | None:
    return None if isinstance(value, str) and MEMORY.match(value) else "should be a size such as 512M or 1G"


def _constraints(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(c, str) and CONSTRAINT.match(c) for c in value):
        return None
    return "should be a list of constraints such as 'node.role == manager' or 'node.labels.tier != edge'"


def _preferences(value: Any) -> str | None:
    if isinstance(value, list) and all(isinstance(p, Mapping) and set(p) == {"spread"} and isinstance(p["spread"], str) for p in value):
        return None
    return "should be a list of {spread: <node attribute>}"


def _update_schema(*failure_actions: str) -> dict[str, Any]:
    return {
        "parallelism": _int(0),
        "delay": _duration,
        "order": _one_of(START_FIRST, STOP_FIRST),
        "failure_action": _one_of(*failure_actions),
        "monitor": _duration,
        "max_failure_ratio": _ratio,
    }


SCHEMA: dict[str, Any] = {
    "replicas": _int(1),
    "update_config": _update_schema("rollback", "pause", "continue"),
    "rollback_config": _update_schema("pause", "continue"),
    "restart_policy": {
        "condition": _one_of("none", "on-failure", "any"),
        "delay": _duration,
        "max_attempts": _int(0),
        "window": _duration,
    },
    "resources": {
        "limits": {"cpus": _cpus, "memory": _memory, "pids": _int(1)},
        "reservations": {"cpus": _cpus, "memory": _memory},
    },
    "placement": {"constraints": _constraints, "preferences": _preferences, "max_replicas_per_node": _int(1)},
}
"""The deploy keys a stack may set: what the issue asks for and nothing Swarm would do differently than compose can say."""


def check_deploy(value: Any, path: str, say: Say) -> dict[str, Any]:
    """One layer of deploy settings, validated: every problem said with its key path, the valid part returned."""
    return _checked(value, SCHEMA, path, say)


def _checked(value: Any, schema: Mapping[str, Any], path: str, say: Say) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        say(path, f"should be a mapping of {', '.join(schema)}")
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        where = f"{path}/{key}"
        spec = schema.get(str(key))
        if spec is None:
            say(where, f"unknown key (allowed: {', '.join(schema)})")
        elif isinstance(spec, Mapping):
            inner = _checked(item, spec, where, say)
            if inner:
                out[str(key)] = inner
        elif (why := spec(item)) is not None:
            say(where, f"{item!r} {why}")
        else:
            out[str(key)] = item
    return out


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """The layers merged in order: mappings key by key, anything else (numbers, text, lists) replaced by the later layer."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = merge(out[key], value)
            else:
                out[key] = merge(value) if isinstance(value, Mapping) else value
    return out


def holds_host_port(service: Service, placement: Placement) -> bool:
    """Whether the service's tasks publish a host-mode port (one task per node can hold it)."""
    return placement.stack and placement.ports == "host" and bool(service.published)


def effective(deploy: Mapping[str, Any], host_port: bool) -> dict[str, Any]:
    """The settings as rendered: updates and rollbacks of a host-port service are stop-first (start-first cannot start there)."""
    out = merge(deploy)
    if host_port:
        for section in ("update_config", "rollback_config"):
            if section in out:
                out[section] = {**out[section], "order": STOP_FIRST}
    return out


def deploy_block(service: Service, placement: Placement, stack: str) -> dict[str, Any]:
    """The compose ``deploy:`` of one service in stack mode."""
    d = service.deploy
    out: dict[str, Any] = {"mode": "replicated", "replicas": int(d.get("replicas", 1)), "endpoint_mode": placement.endpoint_mode}
    for key in ("update_config", "rollback_config", "restart_policy", "resources", "placement"):
        if d.get(key):
            out[key] = merge(d[key])
    out["labels"] = {SERVICE_LABEL: service.name, STACK_LABEL: stack}
    return out


def port_entries(service: Service, placement: Placement) -> list[dict[str, Any]]:
    """The long-syntax ports of one service in stack mode (Swarm binds every address: there is no host IP)."""
    if not service.published:
        return []
    return [{"target": service.port, "published": service.published, "protocol": "tcp", "mode": placement.ports}]


def port_summary(service: Service, placement: Placement) -> list[str]:
    """What the preview shows of the ports: ``*:8001:8001 (host)``."""
    return [f"*:{p['published']}:{p['target']} ({p['mode']})" for p in port_entries(service, placement)]


def monitor_seconds(service: Service) -> float:
    """The update monitor period of a service (Swarm's default 5s when unset), in seconds."""
    text = str((service.deploy.get("update_config") or {}).get("monitor") or "5s")
    total = 0.0
    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
        total += float(number) * scale[unit]
    return total
