"""Stack mode (``docker stack deploy``): the Swarm ``deploy:`` settings of a service, validated, merged, rendered (pure).

A service's settings come in three layers, merged key by key (a mapping is merged, anything else
replaced): the catalog's ``defaults.deploy``, the service's own ``deploy:`` in the catalog, the
stack's ``services.<name>.deploy``. Each layer is validated on its own by the schemas (``$defs/deploy`` of
schemas/catalog.schema.json), so a problem names the file and key it is in
(``services/brain-api/deploy/update_config/order: ...``).

What the port model allows is decided here too: a task publishing a host-mode port holds that port
on its node, so a second task of the service cannot start on the same node. ``start-first``
(the new task before the old one stops) then waits for a port that is never freed: a host-mode
service updates and rolls back ``stop-first`` (``effective``), and the catalog's ``start-first``
default applies to services published through ingress or not published at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core import schema
from core.model import Placement, Service

DURATION_UNITS = r"(?:ns|us|µs|ms|s|m|h)"
START_FIRST, STOP_FIRST = "start-first", "stop-first"
SERVICE_LABEL = "com.bizosaas.service"
STACK_LABEL = "com.bizosaas.stack"
DEPLOY_POINTER = "catalog.schema.json#/$defs/deploy"
"""The deploy keys a catalog or stack may set, their types and ranges (what compose's deploy: says and Swarm takes)."""
_UPDATE = {"parallelism": None, "delay": None, "order": None, "failure_action": None, "monitor": None, "max_failure_ratio": None}
DEPLOY_KEYS: dict[str, Any] = {
    "replicas": None,
    "update_config": _UPDATE,
    "rollback_config": _UPDATE,
    "restart_policy": {"condition": None, "delay": None, "max_attempts": None, "window": None},
    "resources": {"limits": {"cpus": None, "memory": None, "pids": None}, "reservations": {"cpus": None, "memory": None}},
    "placement": {"constraints": None, "preferences": None, "max_replicas_per_node": None},
}
"""What the rendering passes to Swarm, key by key: schemas/catalog.schema.json's deploy lists exactly these (agreement test)."""


def valid(value: Any) -> dict[str, Any]:
    """One layer of deploy settings when the schema takes it, else nothing (its problems are reported with the document's)."""
    return dict(value) if isinstance(value, Mapping) and schema.fits(DEPLOY_POINTER, value) else {}


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
    for number, unit in re.findall(rf"(\d+(?:\.\d+)?)({DURATION_UNITS})", text):
        total += float(number) * scale[unit]
    return total
