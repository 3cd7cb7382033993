"""Deploy a compose once and wait for *that* deployment's outcome (Dokploy only queues a job).

The ids present before the call are recorded, so a previous deployment's result is never
mistaken for this one's. A deploy request that failed in a way that may still have queued a job
(5xx, broken connection) is NOT sent again: a deployment that shows up within ``unsure_grace``
seconds is followed; otherwise the original error is raised.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.redact import excerpt
from dokploy_api.client import DokployClient
from dokploy_api.errors import (
    DeploymentFailed,
    DeploymentTimeout,
    DokployConnectionError,
    DokployError,
    DokployProtocolError,
    DokployServerError,
)

FINAL_DEPLOY_STATUSES = frozenset({"done", "error", "cancelled"})


@dataclass
class _Wait:
    """The state of one wait: what was there before, what we follow, until when."""

    procedure: str
    compose_id: str
    title: str
    before: set[str]
    started: float
    deadline: float
    unsure: DokployError | None = None
    current: dict[str, Any] | None = None
    last_poll_error: DokployError | None = None


def deploy_and_wait(
    client: DokployClient,
    compose_id: str,
    *,
    redeploy: bool = False,
    title: str | None = None,
    description: str | None = None,
    timeout: float = 600.0,
    poll_interval: float = 2.0,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
    log_lines: int = 40,
    unsure_grace: float = 15.0,
) -> dict[str, Any]:
    """Queue exactly one deployment and wait for it to finish; return its row.

    Raises DeploymentFailed (``error``/``cancelled``, with the log tail) or DeploymentTimeout.
    """
    clock = clock or client.clock
    sleep = sleep or client.sleep
    procedure = "compose.redeploy" if redeploy else "compose.deploy"
    before = {r["deploymentId"] for r in client.deployment.all_by_compose(compose_id)}
    title = title or f"pulumi {uuid.uuid4().hex[:12]}"
    started = clock()
    wait = _Wait(procedure, compose_id, title, before, started, started + timeout)
    try:
        send = client.compose.redeploy if redeploy else client.compose.deploy
        send(compose_id, title=title, description=description)
    except (DokployServerError, DokployConnectionError) as exc:
        if isinstance(exc, DokployConnectionError) and not exc.maybe_sent:
            raise
        wait.unsure = exc
        wait.deadline = started + min(unsure_grace, timeout)
    while True:
        row = _poll(client, wait)
        if row is not None and row.get("status") == "done":
            return row
        if row is not None and row.get("status") in FINAL_DEPLOY_STATUSES:
            raise _failed(client, wait, row, log_lines)
        if row is not None and wait.unsure is not None:  # it was queued after all: follow it with the full timeout
            wait.unsure = None
            wait.deadline = started + timeout
        if clock() >= wait.deadline:
            break
        sleep(max(0.0, min(poll_interval, wait.deadline - clock())))
    raise _timed_out(client, wait, clock() - started, unsure_grace, log_lines)


def _poll(client: DokployClient, wait: _Wait) -> dict[str, Any] | None:
    """The deployment this wait follows (the one titled like ours among the new ones), or None yet."""
    try:
        rows = client.deployment.all_by_compose(wait.compose_id)
        wait.last_poll_error = None
    except (DokployServerError, DokployConnectionError, DokployProtocolError) as exc:
        wait.last_poll_error = exc
        return wait.current
    fresh = [r for r in rows if r["deploymentId"] not in wait.before]
    if fresh:
        titled = [r for r in fresh if r.get("title") == wait.title]
        wait.current = titled[0] if titled else fresh[-1]
    return wait.current if fresh else None


def _failed(client: DokployClient, wait: _Wait, row: Mapping[str, Any], lines: int) -> DeploymentFailed:
    dep_id = str(row.get("deploymentId"))
    status = str(row.get("status"))
    tail = log_tail(client, dep_id, lines)
    err = row.get("errorMessage")
    err_part = f": {client.redact(excerpt(str(err), 200))}" if err else ""
    return DeploymentFailed(
        client.redact(f"{wait.procedure}: deployment {dep_id} of compose {wait.compose_id} ended {status!r}{err_part}") + format_tail(tail),
        procedure=wait.procedure,
        deployment_id=dep_id,
        deployment_status=status,
        log_tail=tail,
    )


def _timed_out(client: DokployClient, wait: _Wait, waited: float, unsure_grace: float, lines: int) -> DokployError:
    if wait.unsure is not None and wait.current is None:
        unsure = wait.unsure
        return type(unsure)(
            client.redact(
                f"{unsure}; no deployment appeared within {unsure_grace:g}s, so nothing was deployed; "
                "the deploy was not re-sent (run again)"
            ),
            procedure=unsure.procedure,
            status=unsure.status,
            dokploy_message=unsure.dokploy_message,
            code=unsure.code,
            **({"maybe_sent": True} if isinstance(unsure, DokployConnectionError) else {}),
        )
    if wait.current is None:
        extra = f" (last poll error: {wait.last_poll_error})" if wait.last_poll_error else ""
        return DeploymentTimeout(
            client.redact(
                f"{wait.procedure}: no deployment of compose {wait.compose_id} started within {waited:.0f}s "
                f"(job still queued behind another deploy?){extra}"
            ),
            procedure=wait.procedure,
            deployment_id=None,
            deployment_status="queued",
            log_tail="",
        )
    dep_id = wait.current["deploymentId"]
    tail = log_tail(client, dep_id, lines)
    return DeploymentTimeout(
        client.redact(
            f"{wait.procedure}: deployment {dep_id} of compose {wait.compose_id} still "
            f"{wait.current.get('status')!r} after {waited:.0f}s (Dokploy keeps running it)"
        )
        + format_tail(tail),
        procedure=wait.procedure,
        deployment_id=dep_id,
        deployment_status=str(wait.current.get("status")),
        log_tail=tail,
    )


def log_tail(client: DokployClient, deployment_id: str, lines: int) -> str:
    """The last ``lines`` non-empty lines of a deployment's log, redacted, each cut to 300 characters."""
    try:
        text = client.deployment.read_logs(deployment_id, tail=lines)
    except DokployError as exc:
        return f"(could not read the log: {exc})"
    kept = [client.redact.excerpt(line, 300) for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def format_tail(tail: str) -> str:
    """The log tail as the indented end of an error message."""
    if not tail:
        return "; the deployment log is empty"
    return "; last log lines:\n    " + "\n    ".join(tail.splitlines())
