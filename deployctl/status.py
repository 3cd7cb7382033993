"""`deployctl status --stack S [--json]`: per service what runs where, read through Dokploy's API, against the last verified release.

Reads, and writes nothing: the stack's releases from the state backend's history (deployctl/ledger.py),
then through Dokploy's API only (so it works from CI and from a laptop): the stack's project and
environment (``project.all``), each compose (``compose.one``: its compose file, app name, mode, server),
what runs in it (probes/dokploy_runtime.py: ``docker.getContainersByAppNameMatch``, ``docker.getConfig``,
``swarm.getNodeApps`` in stack mode). core/status.py compares the two.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from core import ledger as core_ledger
from core.status import KnownRelease, ProjectView, StackStatus, status, table
from deployctl import ledger, target
from dokploy_api import DokployClient
from dokploy_api.lookup import find_environment, find_project
from probes.dokploy_runtime import runtime_for


def known_releases(stack: str) -> list[KnownRelease]:
    """The stack's releases, newest first; a verified one with the record of its newest verified deployment."""
    out = []
    for rel in core_ledger.releases(ledger.deployments(stack)):
        verified = [d for d in rel.deployments if d.status == "verified" and d.has_compose]
        row = verified[-1] if verified else rel.last
        out.append(KnownRelease(rel.id, rel.status, dict(row.release or {})))
    return out


def composes(client: DokployClient, where: target.Target) -> list[dict[str, Any]]:
    """The compose rows (``compose.one``) of the stack's project and environment in Dokploy ([] when it has none)."""
    project = find_project(client, where.project)
    if project is None:
        return []
    env = find_environment(client, project, where.environment)
    rows = client.environment.one(str(env["environmentId"])).get("compose") if env else None
    found = [client.compose.one(str(c["composeId"])) for c in rows or [] if isinstance(c, dict) and c.get("composeId")]
    return sorted(found, key=lambda row: str(row.get("name") or ""))


def view(client: DokployClient, row: Mapping[str, Any], routes: Mapping[str, Sequence[str]]) -> ProjectView:
    """One compose project as Dokploy reports it: every container inspected once."""
    compose_type = str(row.get("composeType") or "docker-compose")
    name, app_name = str(row.get("name") or ""), str(row.get("appName") or "")
    runtime = runtime_for(client, compose_type, str(row.get("composeId")), app_name, row.get("serverId"), name)
    seen = runtime.read(inspect_all=True)
    mode = "stack" if compose_type == "stack" else "compose"
    file = str(row.get("composeFile") or "")
    return ProjectView(name, app_name, mode, file, seen.containers, seen.services, str(row.get("composeStatus") or ""), routes)


def routes_of(record: Mapping[str, Any], group: str) -> dict[str, list[str]]:
    """service -> its public routes, when the release record has them: the URL a browser opens, from the compose project's
    ``routes`` (service -> its Dokploy domain: host, path, https; components/program.py), or a list under
    ``services.<svc>.routes``."""
    compose = (record.get("compose") or {}).get(group) or {}
    services = compose.get("services") or {}
    out = {str(s): [str(r) for r in v.get("routes") or []] for s, v in services.items() if isinstance(v, Mapping) and v.get("routes")}
    for service, route in (compose.get("routes") or {}).items():
        if isinstance(route, Mapping) and route.get("host"):
            path = "" if str(route.get("path") or "/") == "/" else str(route["path"])
            out.setdefault(str(service), []).append(f"{'https' if route.get('https') else 'http'}://{route['host']}{path}")
    return out


def read(stack: str) -> StackStatus:
    where = target.read(stack)
    key = target.api_key(stack)
    target.check_answers(where)
    releases = known_releases(stack)
    newest = releases[0].record if releases else {}
    with target.client(where, key) as client:
        rows = composes(client, where)

    def one(row: Mapping[str, Any]) -> ProjectView:
        with target.client(where, key) as own:  # a session per thread
            return view(own, row, routes_of(newest, str(row.get("name") or "")))

    with ThreadPoolExecutor(max_workers=max(1, len(rows))) as pool:  # the compose projects are read at the same time
        views = list(pool.map(one, rows))
    return status(stack, views, releases)


def run(stack: str, as_json: bool) -> int:
    """Print the status (a table, or JSON for scripts); exit 0 when what runs is the last verified release, 3 on drift."""
    report = read(stack)
    if as_json:
        print(json.dumps(report.as_json(), indent=2, sort_keys=True))
    else:
        print("\n".join(table(report, datetime.now(UTC))))
    return 0 if report.matches else 3
