"""`deployctl logs --stack S SERVICE [--tail N] [--since T]`: a service's log through Dokploy's API, secrets redacted.

Dokploy v0.30.2 serves a compose container's log with ``compose.readLogs`` (composeId, containerId,
``tail`` 1-10000, ``since`` ``all`` or ``\\d+[smhd]``, optional ``search``): it runs ``docker container
logs --timestamps --tail N [--since T] <id> 2>&1`` where the compose runs (its server, if any). Docker
takes ``--since`` as a Go duration, which has no ``d``: Dokploy passes ``3d`` through and Docker refuses
it, so days are sent as hours (``3d`` -> ``72h``). The service's containers are those Dokploy lists for
its compose project (``docker.getContainersByAppNameMatch``; in stack mode the containers of the running
tasks, which ``docker container logs`` reaches only on the node Dokploy runs the command on).

Every line goes through the one redactor (core/redact.py) with the API key and every value of the
compose's env (``compose.one`` returns it): a secret a service prints is shown as ``***``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any

from core.dotenv import env_values
from core.verification import RUNNING, expected_services
from deployctl import target
from deployctl.status import composes
from dokploy_api import DokployClient
from probes.dokploy_runtime import runtime_for

SINCE = re.compile(r"^(all|(\d+)([smhd]))$")
MAX_TAIL = 10000
LINE_LIMIT = 4000


class LogsError(ValueError):
    """A bad argument or a service the stack does not run: one line, naming the stack and the service."""


def since_arg(value: str) -> str:
    """``all``, or a duration Docker takes (``90s``, ``15m``, ``2h``; ``3d`` becomes ``72h``)."""
    m = SINCE.match(value.strip())
    if not m:
        raise LogsError(f"--since {value!r}: should be all, or a number and s, m, h or d (30s, 15m, 2h, 1d)")
    if m.group(1) == "all":
        return "all"
    count, unit = int(m.group(2)), m.group(3)
    return f"{count * 24}h" if unit == "d" else f"{count}{unit}"


def find_service(rows: list[dict[str, Any]], stack: str, service: str) -> dict[str, Any]:
    """The compose (``compose.one`` row) whose compose file in Dokploy declares ``service``."""
    known: dict[str, str] = {}
    for row in rows:
        try:
            names = expected_services(str(row.get("composeFile") or ""))
        except ValueError:
            continue
        known.update(dict.fromkeys(names, str(row.get("name"))))
        if service in names:
            return row
    listed = ", ".join(f"{s} ({g})" for s, g in sorted(known.items())) or "none"
    raise LogsError(f"stack {stack}: no service {service!r} in its compose projects in Dokploy (services: {listed})")


def read(client: DokployClient, row: Mapping[str, Any], service: str, tail: int, since: str) -> list[tuple[str, str, list[str]]]:
    """(container name, its state, its redacted log lines) for each container of the service, running ones first."""
    client.add_redactions(env_values(str(row.get("env") or "")))
    compose_type = str(row.get("composeType") or "docker-compose")
    compose_id, app_name = str(row["composeId"]), str(row.get("appName") or "")
    runtime = runtime_for(client, compose_type, compose_id, app_name, row.get("serverId"), str(row.get("name")))
    containers = [c for c in runtime.read(inspect_all=True).containers if c.service == service]
    containers.sort(key=lambda c: (c.state not in RUNNING, c.name))
    out = []
    for c in containers:
        text = client.compose.read_logs(compose_id, c.id, tail=tail, since=since)
        lines = [client.redact.excerpt(line, LINE_LIMIT) for line in text.splitlines()]
        state = f"{c.state}, {c.health}" if c.health else c.state
        out.append((c.name, state, lines))
    return out


def run(stack: str, service: str, tail: int, since: str) -> int:
    if not 1 <= tail <= MAX_TAIL:
        raise LogsError(f"--tail {tail}: should be 1-{MAX_TAIL} (what Dokploy's compose.readLogs takes)")
    docker_since = since_arg(since)
    where = target.read(stack)
    key = target.api_key(stack)
    target.check_answers(where)
    with target.client(where, key) as client:
        row = find_service(composes(client, where), stack, service)
        logs = read(client, row, service, tail, docker_since)
    label = f"compose project {row.get('name')} ({row.get('appName')})"
    if not logs:
        print(f"stack {stack}: {service} has no container in {label} (`python -m deployctl status --stack {stack}`)", file=sys.stderr)
        return 1
    for name, state, lines in logs:
        if len(logs) > 1:
            print(f"==> {name} ({state}) <==")
        for line in lines:
            print(line)
    print(f"deployctl: {service} in {label}: {', '.join(f'{n} ({s})' for n, s, _ in logs)}; --tail {tail} --since {since}", file=sys.stderr)
    return 0
