"""Where each compose project runs and what its mode allows: ``composeProjects`` (mode, server, and in stack mode
the port and endpoint modes) validated, and the services' deploy settings checked against their project's mode.

Pure: no pulumi, no network, no Docker. Part of ``core.catalog.resolve``: problems go to its ``say``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from core import swarm
from core.model import ENDPOINT_MODES, MODES, PORT_MODES, Placement, Service, StackSettings

Say = Callable[[str, str], None]
PROJECT_KEYS = {"mode", "server", "ports", "endpointMode"}
"""composeProjects.<group>: where and how a compose project runs (schemas/stack.schema.json says their values)."""
STACK_ONLY_PROJECT_KEYS = ("ports", "endpointMode")
WILDCARDS = ("0.0.0.0", "::")


def project_placements(settings: StackSettings, say: Say, groups: list[str]) -> dict[str, Placement]:
    """``composeProjects``: per compose project, its mode, server and (stack mode) port and endpoint modes."""
    ns = settings.namespace
    given = settings.projects or {}
    out: dict[str, Placement] = {}
    for group, spec in given.items():
        path = f"{ns}:composeProjects/{group}"
        if group not in groups:
            close = difflib.get_close_matches(str(group), groups, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            say(path, f"unknown compose project{hint} (the catalog's compose projects are {', '.join(groups)})")
            continue
        if not isinstance(spec, Mapping):
            continue  # the stack schema says what it should be
        mode = spec.get("mode", "compose")
        mode = mode if mode in MODES else "compose"
        server = str(spec.get("server") or "")
        ports, endpoint = spec.get("ports", "ingress"), spec.get("endpointMode", "vip")
        if mode != "stack":
            for key in STACK_ONLY_PROJECT_KEYS:
                if key in spec:
                    say(
                        f"{path}/{key}",
                        f"is a Swarm setting (stack mode only) and compose project {group} runs in compose mode: "
                        f"remove it, or set `pulumi config set --path composeProjects.{group}.mode stack`",
                    )
        ports = ports if ports in PORT_MODES else "ingress"
        endpoint = endpoint if endpoint in ENDPOINT_MODES else "vip"
        out[group] = Placement(mode=str(mode), server=server, ports=str(ports), endpoint_mode=str(endpoint))
    return out


def check_modes(
    services: dict[str, Service],
    placements: Mapping[str, Placement],
    layers: Mapping[str, tuple[dict[str, Any], dict[str, Any]]],
    settings: StackSettings,
    say: Say,
) -> dict[str, Service]:
    """Swarm-only settings in compose mode, compose-only ones in stack mode, and what one node cannot run; the services
    with their deploy settings as rendered (stack mode)."""
    ns = settings.namespace
    out: dict[str, Service] = {}
    published_in_stack: dict[str, list[str]] = {}
    for name, svc in services.items():
        placement = placements.get(svc.group) or Placement()
        own, theirs = layers.get(name, ({}, {}))
        if not placement.stack:
            if theirs:
                say(
                    f"{ns}:services/{name}/deploy",
                    f"is a Swarm setting (stack mode only) and service {name} is in compose project {svc.group}, which runs in "
                    f"compose mode: remove it, or set `pulumi config set --path composeProjects.{svc.group}.mode stack`",
                )
            out[name] = svc
            continue
        if svc.published:
            published_in_stack.setdefault(svc.group, []).append(f"{svc.published} ({name})")
        host = swarm.holds_host_port(svc, placement)
        replicas = int(svc.deploy.get("replicas", 1))
        spread = (svc.deploy.get("placement") or {}).get("max_replicas_per_node") == 1
        if host and replicas > 1 and not spread:
            where = _deploy_path(ns, name, own, theirs, "replicas")
            say(
                where,
                f"{replicas} replicas of {name} publish host port {svc.published} in host mode ({ns}:composeProjects/{svc.group}/ports), "
                f"and only one task per node can hold a host port: on a single node the other {replicas - 1} never start. "
                f"Do not publish it (`{ns}:services/{name}/published: false`; other services reach it at {svc.internal_url}), "
                "publish it through ingress, or spread the replicas with deploy.placement.max_replicas_per_node: 1 "
                f"over at least {replicas} nodes",
            )
        for section in ("update_config", "rollback_config"):
            explicit = (theirs.get(section) or {}).get("order") or (own.get(section) or {}).get("order")
            if host and explicit == swarm.START_FIRST:
                say(
                    _deploy_path(ns, name, own, theirs, section, "order"),
                    f"start-first starts the new task before the old one stops, but the old task holds host port {svc.published} "
                    "on its node, so the new one cannot start there: use stop-first, publish through ingress, or do not publish it",
                )
        out[name] = replace(svc, deploy=swarm.effective(svc.deploy, host))
    one_address = settings.publish_address_given and settings.publish_address not in WILDCARDS
    for group, placement in sorted(placements.items()):
        if placement.stack and placement.endpoint_mode == "dnsrr" and placement.ports == "ingress" and published_in_stack.get(group):
            say(
                f"{ns}:composeProjects/{group}/endpointMode",
                f"dnsrr cannot publish through ingress (Swarm refuses a port published with ingress mode on a dnsrr service; "
                f"published here: {', '.join(published_in_stack[group])}): set ports: host, or endpointMode: vip",
            )
        if placement.stack and published_in_stack.get(group) and one_address:
            say(
                f"{ns}:publishAddress",
                f"{settings.publish_address!r} binds compose-mode ports to one address, but Swarm publishes a port on every address "
                f"of its nodes, so compose project {group} (stack mode) would publish {', '.join(published_in_stack[group])} on every "
                f"interface: remove publishAddress (it is compose mode only), or do not publish those services "
                f"({ns}:services/<name>/published: false)",
            )
    return out


def _deploy_path(ns: str, name: str, own: Mapping[str, Any], theirs: Mapping[str, Any], *keys: str) -> str:
    """Where a deploy setting comes from: the stack's override, the service's catalog entry, or the catalog defaults."""
    suffix = "/".join(keys)

    def has(layer: Mapping[str, Any]) -> bool:
        node: Any = layer
        for key in keys:
            if not isinstance(node, Mapping) or key not in node:
                return False
            node = node[key]
        return True

    if has(theirs):
        return f"{ns}:services/{name}/deploy/{suffix}"
    if has(own):
        return f"services/{name}/deploy/{suffix}"
    return f"catalog.yaml/defaults/deploy/{suffix}"
