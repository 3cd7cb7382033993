"""Deploy a compose once and wait for *that* deployment's outcome (Dokploy only queues a job).

The ids present before the call are recorded, so a previous deployment's result is never
mistaken for this one's. A deploy request that failed in a way that may still have queued a job
(5xx, broken connection) is NOT sent again: a deployment that shows up within ``unsure_grace``
seconds is followed; otherwise the original error is raised.

A deployment Dokploy can no longer finish is a failure at once (``DeploymentLost``), not a wait until the
timeout. Dokploy v0.30.2 keeps its deployment queue in memory (``apps/dokploy/server/queues``): a job is in
``deployment.queueList`` from ``compose.deploy`` until the job returns, and the job writes the row's outcome
before it returns. A restart empties the queue; the row of the job that was running stays ``running`` (a
development build) or is marked ``cancelled`` once the new process has started (``initCancelDeployments``,
production builds); a job whose database went away mid-run cannot write its outcome. So, after Dokploy went
away and came back (``transport.outages``), once the row appears, and every ``queue_check`` seconds, the queue is
read *before* the rows: no job of this compose in it while the row is still ``running`` (or not there yet) means
nobody will ever finish it. The queue is trusted for that once it has shown this compose's job, or after an
outage; a queue that never shows it (Dokploy Cloud runs remote deploys outside it) is not. Where the queue cannot
be read or trusted (an older Dokploy, a key without the permission), a ``running`` row whose log has not changed
for ``log_silence`` seconds (0: never) is taken as lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from core.redact import excerpt
from dokploy_api.client import DokployClient
from dokploy_api.errors import (
    DeploymentFailed,
    DeploymentLost,
    DeploymentTimeout,
    DokployConnectionError,
    DokployError,
    DokployProtocolError,
    DokployServerError,
    DokployUnreachable,
)
from dokploy_api.outage import DATABASE, UNREACHABLE

FINAL_DEPLOY_STATUSES = frozenset({"done", "error", "cancelled"})
QUEUE_EVIDENCE = "the job is gone from Dokploy's deployment queue, which is kept in memory"
DATABASE_EVIDENCE = "its job left Dokploy's deployment queue without recording an outcome"
QUEUE_CHECK = 10.0
"""Seconds between two looks at Dokploy's deployment queue while waiting (and at once after Dokploy came back)."""


@dataclass
class _Wait:
    """The state of one wait: what was there before, what we follow, until when."""

    procedure: str
    compose_id: str
    title: str
    before: set[str]
    started: float
    deadline: float
    label: str = ""
    since: int = 0
    """How many outages the transport had recorded when this wait began."""
    outages: int = 0
    """How many outages the transport had recorded when the queue was last looked at."""
    checked: float = 0.0
    queue_readable: bool = True
    queued: bool | None = None
    """Whether the queue had this compose's job at the last look (None: not looked yet, or unreadable)."""
    shown: bool = False
    """Whether the queue has shown this compose's job at least once (it reflects this Dokploy's deploys)."""
    log_seen: str | None = None
    log_changed: float = 0.0
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
    label: str | None = None,
    queue_check: float = QUEUE_CHECK,
    log_silence: float = 0.0,
    before: Collection[str] | None = None,
) -> dict[str, Any]:
    """Queue exactly one deployment and wait for it to finish; return its row.

    ``label`` names the compose in messages (default ``compose <id>``). ``before``: the compose's deployment ids the
    caller read before (while it wrote the compose), else they are read here first. Raises DeploymentFailed (``error``,
    with the log tail), DeploymentLost (Dokploy cannot finish it: see the module docstring) or DeploymentTimeout.
    """
    clock = clock or client.clock
    sleep = sleep or client.sleep
    procedure = "compose.redeploy" if redeploy else "compose.deploy"
    before = {r["deploymentId"] for r in client.deployment.all_by_compose(compose_id)} if before is None else set(before)
    title = title or f"pulumi {uuid.uuid4().hex[:12]}"
    started = clock()
    marks = len(client.transport.outages.seen)
    wait = _Wait(procedure, compose_id, title, before, started, started + timeout, label or f"compose {compose_id}", marks, marks, started)
    wait.log_changed = started
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
        if row is not None and row.get("status") == "cancelled":
            raise _lost(client, wait, row, log_lines, "Dokploy marked it cancelled when it started again")
        if row is not None and row.get("status") in FINAL_DEPLOY_STATUSES:
            raise _failed(client, wait, row, log_lines)
        if row is not None and wait.unsure is not None:  # it was queued after all: follow it with the full timeout
            wait.unsure = None
            wait.deadline = started + timeout
        if wait.unsure is None and _check_due(client, wait, queue_check):
            lost = _check_lost(client, wait, log_lines, log_silence)
            if lost is not None:
                raise lost
        if clock() >= wait.deadline:
            break
        sleep(max(0.0, min(poll_interval, wait.deadline - clock())))
    raise _timed_out(client, wait, clock() - started, unsure_grace, log_lines)


def _poll(client: DokployClient, wait: _Wait) -> dict[str, Any] | None:
    """The deployment this wait follows (the one titled like ours among the new ones), or None yet."""
    try:
        rows = client.deployment.all_by_compose(wait.compose_id)
        wait.last_poll_error = None
    except DokployUnreachable:
        raise  # away longer than the client's bound: not a transient error any more
    except (DokployServerError, DokployConnectionError, DokployProtocolError) as exc:
        wait.last_poll_error = exc
        return wait.current
    fresh = [r for r in rows if r["deploymentId"] not in wait.before]
    if fresh:
        titled = [r for r in fresh if r.get("title") == wait.title]
        wait.current = titled[0] if titled else fresh[-1]
    return wait.current if fresh else None


def _check_due(client: DokployClient, wait: _Wait, every: float) -> bool:
    """Time to look at the queue: Dokploy came back from an outage since the last look, the row is there and the queue
    was not looked at yet, or ``every`` seconds passed."""
    outages = client.transport.outages
    came_back = len(outages.seen) > wait.outages and outages.current is None and wait.last_poll_error is None
    first_row = wait.current is not None and wait.queued is None and wait.queue_readable
    return came_back or first_row or client.clock() - wait.checked >= every


def _check_lost(client: DokployClient, wait: _Wait, lines: int, log_silence: float) -> DeploymentLost | None:
    """The DeploymentLost for a job gone from Dokploy's queue while its row has no outcome, else None (see the docstring)."""
    wait.checked = client.clock()
    wait.outages = len(client.transport.outages.seen)
    if not wait.queue_readable:
        return _silent(client, wait, lines, log_silence)
    try:
        jobs = client.deployment.queue_list()
    except DokployUnreachable:
        raise
    except (DokployConnectionError, DokployServerError):
        return None  # asked again at the next look
    except DokployError:  # no such procedure (an older Dokploy), no permission, an unexpected shape
        wait.queue_readable = False
        wait.queued = None
        return _silent(client, wait, lines, log_silence)
    wait.queued = any(isinstance(j.get("data"), dict) and j["data"].get("composeId") == wait.compose_id for j in jobs)
    wait.shown = wait.shown or wait.queued
    if wait.queued:
        return None
    if not wait.shown and len(client.transport.outages.seen) == wait.since:  # never shown it, nothing happened: no proof
        wait.queue_readable = False
        return _silent(client, wait, lines, log_silence)
    row = _poll(client, wait)  # read after the queue: a job that finished before that read has its outcome written
    if wait.last_poll_error is not None or (row is not None and row.get("status") in FINAL_DEPLOY_STATUSES):
        return None
    return _lost(client, wait, row, lines, QUEUE_EVIDENCE)


def _silent(client: DokployClient, wait: _Wait, lines: int, log_silence: float) -> DeploymentLost | None:
    """Without the queue: a running deployment whose log has not changed for ``log_silence`` seconds is lost."""
    row = wait.current
    if log_silence <= 0 or row is None or row.get("status") != "running":
        return None
    tail = log_tail(client, str(row["deploymentId"]), 5)
    now = client.clock()
    if tail != wait.log_seen:
        wait.log_seen, wait.log_changed = tail, now
        return None
    if now - wait.log_changed < log_silence:
        return None
    evidence = f"its log has not changed for {now - wait.log_changed:.0f}s and Dokploy's deployment queue cannot be read"
    return _lost(client, wait, row, lines, evidence)


def _lost(client: DokployClient, wait: _Wait, row: Mapping[str, Any] | None, lines: int, evidence: str) -> DeploymentLost:
    """What happened, in one sentence: a restart (or the database gone), which deployment, why it will not finish."""
    kinds = client.transport.outages.kinds_since(wait.since)
    cause = "database" if DATABASE in kinds and UNREACHABLE not in kinds else "restart"
    what = "Dokploy's database went away" if cause == "database" else "Dokploy restarted"
    if cause == "database" and evidence == QUEUE_EVIDENCE:
        evidence = DATABASE_EVIDENCE
    if row is None:
        head = f"{what} during the deploy of {wait.label}; the deployment it had queued was lost and will not run ({evidence})"
        return DeploymentLost(client.redact(head), procedure=wait.procedure, deployment_id=None, deployment_status="lost",
                              log_tail="", cause=cause)
    dep_id = str(row.get("deploymentId"))
    tail = log_tail(client, dep_id, lines)
    head = f"{what} during the deploy of {wait.label}; its deployment {dep_id} will not finish ({evidence})"
    return DeploymentLost(client.redact(head) + format_tail(tail), procedure=wait.procedure, deployment_id=dep_id,
                          deployment_status=str(row.get("status")), log_tail=tail, cause=cause)


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
            f"{wait.current.get('status')!r} after {waited:.0f}s "
            f"({'Dokploy keeps running it' if wait.queued else 'Dokploy may still be running it'})"
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
