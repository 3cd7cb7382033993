"""Verification through Dokploy's API: wait until what runs is the new release, healthy, then watch it over the stability window.

Everything is read through Dokploy (``docker.*``, ``swarm.*``, ``compose.readLogs``), so it works
from anywhere that reaches Dokploy, and only ever sees the compose project it is given (its
``appName``): another stack's containers on the same host are never looked at. What the
observations mean is decided by ``core.verification``; this module decides when to look.

Readers, one per compose type, each poll:

* compose mode (``ComposeRuntime``): one ``docker.getContainersByAppNameMatch`` (appType
  docker-compose: the project's label), then ``docker.getConfig`` only for a container that is
  new or whose listed state changed (state, the health in its status, its exit code, an uptime
  that went down). Dokploy answers ``[]`` (listing) or an empty body (inspect) when its docker
  command fails: an empty listing after containers were seen is asked again once, and a failed
  inspect keeps the last view of a known container (inspected again once its listed state differs
  from that view);
* stack mode (``StackRuntime``): one ``swarm.getNodeApps`` (image, replicas) and one
  ``docker.getContainersByAppNameMatch`` (appType stack: the running tasks' containers), then
  ``docker.getConfig`` for new or changed containers and, since a task's listed status shows no
  health, for the ones not yet healthy. Dokploy reports a stack deployment done as soon as
  ``docker stack deploy`` returns, so this reading is where convergence is checked: replicas n/n
  of the new digest, no task of an older one left, and no Swarm rollback (the service's image
  back to an older one). On failure it also reads ``docker.getStackContainersByAppName`` once:
  the failing service's Swarm tasks with their error (``task: non-zero exit (1)``, ...), and the
  log of the last container seen running the new image (a rolled-back task's container is gone
  from the running listing).

At the end of the stability window every container is inspected once more (``RestartCount`` and
``StartedAt`` catch a restart between two polls).

Guarantees of ``verify_runtime``:

* it waits at most ``health_timeout`` for the release to be running and healthy, then
  ``window`` seconds, plus the time of the last reading; each wait is cut to the time left;
* it fails at once for what waiting cannot fix (compose mode: a container of an older image
  still running, a container that exited) and at the first change during the window;
* ``VerificationFailed`` names every failing service, what was expected and what was seen, with
  the last log lines of the container concerned (secrets redacted by the client's redactor);
* the clock and the sleep are injectable: tests do not wait.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from core.verification import (
    Assessment,
    Container,
    Expected,
    Finding,
    SwarmService,
    assess,
    baseline,
    container_from_inspect,
    digest_of,
    record_of,
    same_image,
    swarm_services,
    unstable,
)
from dokploy_api import DokployClient, DokployError

__all__ = ["ComposeRuntime", "Observation", "Runtime", "StackRuntime", "VerificationFailed", "Verified", "runtime_for", "verify_runtime"]

LOG_LINE_LIMIT = 300
INSPECTS_AT_ONCE = 8
"""``docker.getConfig`` requests in flight at once for one compose project (new containers, the window's last look)."""
MAX_LOGGED_CONTAINERS = 4
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_EXIT = re.compile(r"^(?:Exited|Restarting) \((-?\d+)\)")
_UP = re.compile(r"^Up (.+?)(?: \(.*\))?$")
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400, "year": 365 * 86400}


@dataclass(frozen=True)
class Observation:
    """One reading: the containers (from their inspect objects) and, in stack mode, the Swarm services."""

    containers: list[Container]
    services: dict[str, SwarmService] | None = None


class Runtime(Protocol):
    """What runs for one compose project, read through Dokploy."""

    mode: str
    calls: Counter[str]

    def read(self, *, inspect_all: bool = False) -> Observation: ...

    def logs(self, container_id: str, lines: int) -> list[str]: ...

    def name_of(self, container_id: str) -> str: ...

    def describe(self) -> str:
        """How messages name the project: its catalog name, then Dokploy's app name in parentheses."""
        ...

    def explain(self, findings: Sequence[Finding], expected: Mapping[str, Expected], lines: int, logged: set[str]) -> list[str]:
        """More than the findings say (stack mode: the Swarm tasks' errors); ``logged``: containers whose log is shown already."""
        ...


def uptime(status: str) -> float | None:
    """Seconds of ``Up <human duration>`` in a ``docker ps`` status (a lower bound; None when not up)."""
    m = _UP.match(status or "")
    if not m:
        return None
    text = m.group(1).strip()
    if text.startswith("Less than"):
        return 0.0
    n = re.match(r"^(About an?|\d+) (\w+?)s?$", text)
    if not n:
        return None
    unit = _UNITS.get(n.group(2))
    if unit is None:
        return None
    count = 1 if n.group(1).startswith("About") else int(n.group(1))
    return float(count * unit)


def signature(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """What of a listed row means the container changed: its state, the health in its status, its exit code."""
    status = str(row.get("status") or "")
    health = _HEALTH.search(status)
    code = _EXIT.match(status)
    return str(row.get("state") or ""), health.group(1) if health else "", code.group(1) if code else ""


@dataclass
class _Seen:
    container: Container
    signature: tuple[str, str, str]
    uptime: float | None


@dataclass
class _Reader:
    """The listing-then-inspect-what-changed reading both modes share."""

    client: DokployClient
    compose_id: str
    app_name: str
    server_id: str | None = None
    label: str = ""
    """The compose project's catalog name (``backend``), which messages show before the Dokploy app name."""
    calls: Counter[str] = field(default_factory=Counter)
    _cache: dict[str, _Seen] = field(default_factory=dict, init=False)
    _names: dict[str, str] = field(default_factory=dict, init=False)

    mode = "compose"
    app_type = "docker-compose"

    def _reinspect(self, seen: _Seen) -> bool:
        return False

    def _list(self) -> list[dict[str, Any]]:
        self.calls["docker.getContainersByAppNameMatch"] += 1
        return self.client.docker.containers_by_app_name_match(self.app_name, self.app_type, self.server_id)

    def _inspect(self, ids: list[str]) -> dict[str, Any]:
        """``docker.getConfig`` of each container, at most ``INSPECTS_AT_ONCE`` in flight (Dokploy runs one `docker inspect`
        per request, and serves requests concurrently): a final look at 8 containers costs one round trip, not 8."""
        self.calls["docker.getConfig"] += len(ids)
        if len(ids) < 2:
            return {cid: self.client.docker.config(cid, self.server_id) for cid in ids}
        with ThreadPoolExecutor(max_workers=min(len(ids), INSPECTS_AT_ONCE), thread_name_prefix="inspect") as pool:
            return dict(zip(ids, pool.map(lambda cid: self.client.docker.config(cid, self.server_id), ids), strict=True))

    def _containers(self, *, inspect_all: bool) -> list[Container]:
        rows = self._list()
        if not rows and self._cache:  # Dokploy answers [] when its docker command fails: ask again before believing all is gone
            rows = self._list()
        listed: list[tuple[str, tuple[str, str, str], float | None, bool]] = []
        for row in rows:
            cid = str(row["containerId"])
            if not cid:  # stack mode: a task that has no container yet (preparing, starting) is listed with ""
                continue
            sig, up = signature(row), uptime(str(row.get("status") or ""))
            seen = self._cache.get(cid)
            restarted = seen is not None and up is not None and seen.uptime is not None and up < seen.uptime
            stale = seen is None or inspect_all or seen.signature != sig or restarted or self._reinspect(seen)
            listed.append((cid, sig, up, stale))
        inspected = self._inspect([cid for cid, _, _, stale in listed if stale])
        out: list[Container] = []
        cache: dict[str, _Seen] = {}
        for cid, sig, up, stale in listed:
            seen = self._cache.get(cid)
            if seen is not None and not stale:
                seen = replace(seen, uptime=up)
            elif (obj := inspected.get(cid)) is not None:
                seen = _Seen(container_from_inspect(obj, self.app_name), sig, up)
                self._names[seen.container.id] = seen.container.name
            elif seen is None:  # removed since the listing, or Dokploy's inspect failed (it answers an empty body for both)
                continue
            # else: keep the last view with its own signature: inspected again once the listing differs
            cache[cid] = seen
            out.append(seen.container)
        self._cache = cache
        return out

    def read(self, *, inspect_all: bool = False) -> Observation:
        return Observation(self._containers(inspect_all=inspect_all))

    def name_of(self, container_id: str) -> str:
        return self._names.get(container_id, container_id[:12])

    def describe(self) -> str:
        """``compose project backend (compose-program-neural-system-e756e3)``: the catalog name, Dokploy's app name after it."""
        return f"{self.mode} project {self.label} ({self.app_name})" if self.label else f"{self.mode} project {self.app_name}"

    def explain(self, findings: Sequence[Finding], expected: Mapping[str, Expected], lines: int, logged: set[str]) -> list[str]:
        return []

    def logs(self, container_id: str, lines: int) -> list[str]:
        """The container's last log lines through ``compose.readLogs``, each redacted and cut."""
        self.calls["compose.readLogs"] += 1
        try:
            text = self.client.compose.read_logs(self.compose_id, container_id, tail=lines)
        except DokployError as exc:
            return [f"(could not read the log: {exc})"]
        kept = [self.client.redact.excerpt(line, LOG_LINE_LIMIT) for line in text.splitlines() if line.strip()]
        return kept[-lines:]


@dataclass
class ComposeRuntime(_Reader):
    """Compose mode: the containers labelled with the compose project (``appName``)."""

    mode = "compose"
    app_type = "docker-compose"


@dataclass
class StackRuntime(_Reader):
    """Stack mode (``docker stack deploy``): the Swarm services of the stack and their running tasks' containers."""

    mode = "stack"
    app_type = "stack"

    def _reinspect(self, seen: _Seen) -> bool:
        c = seen.container
        return c.state != "running" or c.health not in (None, "healthy")

    _seen: dict[str, list[Container]] = field(default_factory=dict, init=False)
    """service -> every container seen running it, in the order first seen (a rolled-back task's container leaves the listing)."""

    def read(self, *, inspect_all: bool = False) -> Observation:
        self.calls["swarm.getNodeApps"] += 1
        services = swarm_services(self.client.swarm.node_apps(self.server_id), self.app_name)
        containers = self._containers(inspect_all=inspect_all)
        for c in containers:
            if c.service is not None:
                known = self._seen.setdefault(c.service, [])
                known[:] = [k for k in known if k.id != c.id] + [c]
        return Observation(containers, services)

    def tasks(self) -> list[dict[str, Any]]:
        """Every Swarm task of the stack, old ones included (``docker stack ps``), through Dokploy."""
        self.calls["docker.getStackContainersByAppName"] += 1
        try:
            return self.client.docker.stack_containers(self.app_name, self.server_id)
        except DokployError:
            return []

    def explain(self, findings: Sequence[Finding], expected: Mapping[str, Expected], lines: int, logged: set[str]) -> list[str]:
        """Per failing service: its Swarm tasks that ended (their error), and the last container seen running the new image
        (its state, its last health probe's output, its log)."""
        services = list(dict.fromkeys(f.service for f in findings))
        if not services:
            return []
        rows = self.tasks()
        out: list[str] = []
        for service in services:
            ended = task_errors(rows, self.app_name, service)
            if ended:
                out.append(f"Swarm tasks of {service} that ended (docker stack ps):\n    " + "\n    ".join(ended))
            want = expected.get(service)
            mine = [c for c in self._seen.get(service, []) if want is not None and same_image(c.image, want.image)]
            if not mine:
                continue
            last = mine[-1]
            health = f", {last.health}" if last.health else ""
            probe = f"; last health check: {last.health_output}" if last.health_output and last.health != "healthy" else ""
            out.append(f"last seen of the new image {digest_of(last.image)[:19]}: {last.name} {last.state}{health}{probe}")
            if last.id not in logged and lines > 0:
                logged.add(last.id)
                tail = self.logs(last.id, lines)
                out.append(f"last log lines of {last.name}:\n    " + "\n    ".join(tail) if tail else f"the log of {last.name} is empty")
        return out


ENDED = ("Failed", "Rejected", "Complete", "Orphaned")
"""A task's current state when it ended by itself (Shutdown is Swarm stopping a task it replaced)."""


def task_errors(rows: Sequence[Mapping[str, Any]], app_name: str, service: str, limit: int = 3) -> list[str]:
    """``<task id> <task name> (<current state>): <error>`` of a service's tasks that failed or ended by themselves, as
    listed (newest first). A task killed for being unhealthy whose process exits 0 on SIGTERM ends Complete, no error."""
    out: list[str] = []
    for row in rows:
        name = str(row.get("name") or "")
        error = str(row.get("error") or "").strip()
        if error == "Error:":  # Dokploy's parser keeps the label of the last line's empty error
            error = ""
        current = str(row.get("currentState") or "")
        if name.rsplit(".", 1)[0] != f"{app_name}_{service}" or not (error or current.startswith(ENDED)):
            continue
        task = str(row.get("containerId") or "")[:12]
        out.append(f"task {task} {name} ({current or row.get('state') or '?'}): {error or 'no error (its process exited 0)'}")
        if len(out) >= limit:
            break
    return out


def runtime_for(
    client: DokployClient, compose_type: str, compose_id: str, app_name: str, server_id: str | None = None, label: str = ""
) -> Runtime:
    """The reader for a compose of this type (``docker-compose`` or ``stack``); ``label``: its catalog name, for messages."""
    cls = StackRuntime if compose_type == "stack" else ComposeRuntime
    return cls(client, compose_id, app_name, server_id or None, label)


@dataclass(frozen=True)
class Verified:
    """A passed verification: the per-service record, when the release was healthy, what it cost."""

    record: dict[str, dict[str, Any]]
    healthy_after: float
    elapsed: float
    calls: dict[str, int]


class VerificationFailed(Exception):
    """What runs is not the release, not healthy, or not stable; names each service, expected and seen."""

    def __init__(self, message: str, findings: Sequence[Finding], phase: str) -> None:
        super().__init__(message)
        self.findings = list(findings)
        self.phase = phase
        self.services = list(dict.fromkeys(f.service for f in findings))


def verify_runtime(
    runtime: Runtime,
    expected: Mapping[str, Expected],
    *,
    health_timeout: float = 120.0,
    window: float = 10.0,
    interval: float = 1.0,
    log_lines: int = 10,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Verified:
    """Wait until ``expected`` runs healthy (``health_timeout``), then stays so for ``window`` seconds; raise VerificationFailed."""
    start = clock()
    deadline = start + max(0.0, health_timeout)
    interval = max(0.01, interval)
    what = runtime.describe()
    while True:
        obs = runtime.read()
        judged = assess(expected, obs.containers, mode=runtime.mode, services=obs.services)
        if judged.failed:
            raise _failure(runtime, f"{what}: not running as deployed", judged.failed, "deploy", log_lines, expected)
        if judged.done:
            break
        if clock() >= deadline:
            late = f"{what}: not running healthy within {health_timeout:g}s"
            raise _failure(runtime, late, judged.waiting, "health", log_lines, expected)
        sleep(max(0.0, min(interval, deadline - clock())))
    healthy_after = clock() - start
    latest = obs
    if window > 0:
        latest = _watch(runtime, expected, judged, window, interval, clock, sleep, what, log_lines)
    return Verified(record_of(judged, window, latest.containers), healthy_after, clock() - start, dict(runtime.calls))


def _watch(
    runtime: Runtime,
    expected: Mapping[str, Expected],
    judged: Assessment,
    window: float,
    interval: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    what: str,
    log_lines: int,
) -> Observation:
    """Poll over the stability window; the last reading inspects every container again."""
    marks = baseline(judged)
    end = clock() + window
    while True:
        left = end - clock()
        if left > 0:
            sleep(min(interval, left))
        final = clock() >= end
        obs = runtime.read(inspect_all=final)
        problems = unstable(expected, marks, obs.containers, mode=runtime.mode, services=obs.services, window=window)
        if problems:
            raise _failure(runtime, f"{what}: not stable over the {window:g}s stability window", problems, "window", log_lines, expected)
        if final:
            return obs


def _failure(
    runtime: Runtime, head: str, findings: Sequence[Finding], phase: str, log_lines: int, expected: Mapping[str, Expected]
) -> VerificationFailed:
    lines = [f"verification failed: {head}: " + "; ".join(f.describe() for f in findings)]
    logged = list(dict.fromkeys(f.container for f in findings if f.container))[:MAX_LOGGED_CONTAINERS]
    for cid in logged:
        tail = runtime.logs(cid, log_lines) if log_lines > 0 else []
        name = runtime.name_of(cid)
        if tail:
            lines.append(f"last log lines of {name}:\n    " + "\n    ".join(tail))
        else:
            lines.append(f"the log of {name} is empty")
    lines += runtime.explain(findings, expected, log_lines, set(logged))
    return VerificationFailed("\n".join(lines), findings, phase)
