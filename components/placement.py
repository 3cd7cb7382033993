"""Where the compose projects run: Dokploy servers resolved by name, the pull credentials every pulling machine
needs, and what a reviewer should know of a stack-mode project.

A compose project's ``composeProjects.<group>.server`` is a Dokploy server's name, resolved with one ``server.all``
before anything is declared: an unknown or ambiguous name is a problem reported with the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from components import stack_config
from components.dokploy_project import DokployProject
from components.registry_credentials import DokployRegistry, RegistryArgs
from components.stack_config import DeploySettings
from core import swarm
from core.catalog import Catalog
from dokploy_api import DokployClient, DokployError

ServerLister = Callable[[], list[dict[str, Any]]]
"""``server.all`` of the stack's Dokploy (tests: a list)."""


def server_ids(
    stack: str, catalog: Catalog, deploy: DeploySettings, problems: list[str], list_servers: ServerLister | None
) -> dict[str, str]:
    """name -> serverId of every Dokploy server a compose project is placed on (one ``server.all``); unknown or
    ambiguous names are added to ``problems``. Without an API key (a preview) nothing is resolved: every id is ""."""
    wanted: dict[str, list[str]] = {}
    for group in catalog.group_names:
        name = catalog.placement(group).server
        if name and catalog.group(group):
            wanted.setdefault(name, []).append(group)
    if not wanted:
        return {}
    key = stack_config.api_key()
    if list_servers is None and not key:
        pulumi.log.warn(
            f"stack {stack}: this preview has no Dokploy API key, so the server names {', '.join(sorted(wanted))} were not checked "
            "against Dokploy's servers; `pulumi up` checks them before anything changes"
        )
        return dict.fromkeys(wanted, "")
    where = {name: f"stack {stack}: {stack_config.PROJECT}:composeProjects/{groups[0]}/server" for name, groups in wanted.items()}
    try:
        if list_servers is None:
            with DokployClient(deploy.dokploy_url, key, allow_insecure_http=deploy.allow_insecure_http) as client:
                rows = client.server.all()
        else:
            rows = list_servers()
    except DokployError as exc:
        problems += [f"{where[n]}: could not list Dokploy's servers to find {n!r}: {exc}" for n in sorted(wanted)]
        return {}
    known = sorted({str(r.get("name")) for r in rows})
    ids: dict[str, str] = {}
    for name in sorted(wanted):
        matches = [str(r.get("serverId")) for r in rows if r.get("name") == name]
        if not matches:
            problems.append(f"{where[name]}: no Dokploy server is named {name!r} (Dokploy's servers: {', '.join(known) or 'none'})")
        elif len(matches) > 1:
            problems.append(f"{where[name]}: {len(matches)} Dokploy servers are named {name!r} ({', '.join(matches)}): rename all but one")
        else:
            ids[name] = matches[0]
    return ids


def stack_mode_warnings(stack: str, catalog: Catalog, deploy: DeploySettings) -> list[str]:
    """What a reviewer should know of a stack-mode project that is not an error."""
    out: list[str] = []
    for group in catalog.group_names:
        placement = catalog.placement(group)
        if not placement.stack:
            continue
        slow = [s.name for s in catalog.group(group) if swarm.monitor_seconds(s) > deploy.stability_window]
        if slow:
            out.append(
                f"stack {stack}: {stack_config.PROJECT}:stabilityWindow ({deploy.stability_window:g}s) is shorter than the Swarm update "
                f"monitor of {', '.join(slow)} in compose project {group}: a rollback Swarm starts after the window is not seen by "
                "this `up`"
            )
    return out


def dokploy_registry(
    cfg: pulumi.Config, deploy: DeploySettings, project: DokployProject, catalog: Catalog, server_ids: Mapping[str, str]
) -> DokployRegistry | None:
    """Pull credentials on every machine that pulls: Dokploy's host and each server a compose project runs on (GHCR: read:packages)."""
    if not cfg.get("registryPullUser"):
        return None
    placed = [catalog.placement(g) for g in catalog.group_names if catalog.group(g)]
    servers = {p.server: server_ids.get(p.server, "") for p in placed if p.server}
    return DokployRegistry(
        "registry",
        RegistryArgs(
            dokploy_url=deploy.dokploy_url,
            registry_name=cfg.get("registryName") or "ghcr",
            registry_url=cfg.get("registryPullHost") or "ghcr.io",
            username=cfg.require("registryPullUser"),
            password=cfg.require_secret("registryPullToken"),
            allow_insecure_http=deploy.allow_insecure_http,
            servers=servers,
            on_host=any(not p.server for p in placed),
        ),
        opts=pulumi.ResourceOptions(depends_on=[project]),
    )
