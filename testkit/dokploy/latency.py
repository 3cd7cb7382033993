"""How slow a self-hosted Dokploy v0.30.2 is: the stand-in's latency model, in one table.

"measured" numbers come from a running v0.30.2 (development build, 2-core machine, local
registry, images present): shared/dokploy/API.md section 14 (deploys) and section 15 (requests).
Everything else is an ESTIMATE, chosen from the measured neighbours: every request pays the
API-key check and a few database queries (project.remove, a single delete, takes 0.24-0.30 s;
one `docker ...` command behind a read, 0.20 s). A production build is faster, never instant.

A request waits a random time in its span, times ``scale``. The procedure runs in the middle of
that window (``LEAD`` of it first), so what it changes becomes visible to other clients before
its own answer arrives; if the procedure itself is slower (real docker commands), nothing is
added. Concurrent requests wait in parallel, as Node's event loop serves them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Span:
    lo: float
    hi: float
    source: str


_SEC15 = "measured, API.md section 15"
_DOCKER_READ = "estimate: one `docker ...` command, like docker.getStackContainersByAppName (measured 0.20)"

REQUESTS: dict[str, Span] = {
    "project.all": Span(0.37, 0.42, _SEC15),
    "project.create": Span(0.27, 0.40, _SEC15),
    "project.remove": Span(0.24, 0.30, _SEC15),
    "docker.getStackContainersByAppName": Span(0.20, 0.20, _SEC15),
    "swarm.getNodeApps": Span(0.23, 0.23, _SEC15),
    "project.one": Span(0.30, 0.38, "estimate: project.all's nested read, for one project"),
    "compose.one": Span(0.30, 0.38, "estimate: a nested read (environment, project, deployments, mounts, domains)"),
    "compose.create": Span(0.27, 0.40, "estimate: like project.create (insert, then read back)"),
    "docker.getContainersByAppNameMatch": Span(0.20, 0.20, _DOCKER_READ),
    "docker.getServiceContainersByAppName": Span(0.20, 0.20, _DOCKER_READ),
    "docker.getConfig": Span(0.20, 0.20, _DOCKER_READ),
    "compose.readLogs": Span(0.20, 0.25, _DOCKER_READ + " plus the compose lookup"),
}
READ_DEFAULT = Span(0.20, 0.30, "estimate for any other query (GET): key check and one or two queries")
WRITE_DEFAULT = Span(0.24, 0.35, "estimate for any other mutation (POST): like project.create / project.remove")

# Deploy queue (API.md section 14), seconds after compose.deploy (the stand-in counts from the
# moment the job is queued; whether the measurement started at the request or its answer is not recorded):
DEPLOY_ROW = 0.42  # measured: the deployment row appears (the job starts)
DEPLOY_DONE_1 = 0.97  # measured: a 1-service deploy is done
DEPLOY_DONE_8 = 2.22  # measured: an 8-service deploy is done
REDEPLOY_UNCHANGED_DONE = 0.90  # measured: a redeploy with nothing changed (service count not recorded)
STACK_DONE = 0.50  # measured (section 15): a stack deploy is done once `docker stack deploy` returns
PER_SERVICE = (DEPLOY_DONE_8 - DEPLOY_DONE_1) / 7  # straight line through the two measurements
RUN_BASE = DEPLOY_DONE_1 - DEPLOY_ROW - PER_SERVICE

LEAD = 0.5  # share of the latency spent before the procedure runs


def parse_latency(value: str | float | Latency) -> Latency:
    """``"dokploy"`` (measured speed), a scale factor (``0``/``"off"``: no latency) or a Latency."""
    if isinstance(value, Latency):
        return value
    text = str(value).strip().lower()
    if text == "dokploy":
        return Latency(1.0)
    if text in ("off", "none", "zero"):
        return Latency(0.0)
    try:
        scale = float(text)
    except ValueError:
        raise ValueError(f"latency must be 'dokploy', 'off' or a scale factor >= 0, not {value!r}") from None
    if not scale >= 0:
        raise ValueError(f"latency scale must be >= 0, not {value!r}")
    return Latency(scale)


class Latency:
    """Per-procedure request latency and deploy durations, scaled (0 = as fast as possible)."""

    def __init__(self, scale: float = 1.0, seed: int | None = None) -> None:
        self.scale = scale
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def span(self, procedure: str, method: str) -> Span:
        return REQUESTS.get(procedure) or (READ_DEFAULT if method == "GET" else WRITE_DEFAULT)

    def request(self, procedure: str, method: str) -> float:
        if self.scale <= 0:
            return 0.0
        span = self.span(procedure, method)
        with self._lock:
            return self._random.uniform(span.lo, span.hi) * self.scale

    def paced(self, seconds: float, call: Callable[[], T]) -> T:
        """Run ``call`` inside a window of ``seconds``: part of the wait before it, the rest after."""
        if seconds <= 0:
            return call()
        started = time.monotonic()
        time.sleep(seconds * LEAD)
        try:
            return call()
        finally:
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))

    def deploy_start(self) -> float:
        """From compose.deploy to the job starting (deployment row inserted, composeStatus running)."""
        return DEPLOY_ROW * self.scale

    def deploy_run(self, services: int, unchanged: bool = False, stack: bool = False) -> float:
        """From the job starting to done: linear in the number of services; less when nothing changed."""
        if stack:  # Swarm converges later, the deploy does not wait for it
            return (STACK_DONE - DEPLOY_ROW) * self.scale
        if unchanged:
            return (REDEPLOY_UNCHANGED_DONE - DEPLOY_ROW) * self.scale
        return (RUN_BASE + PER_SERVICE * max(1, services)) * self.scale
