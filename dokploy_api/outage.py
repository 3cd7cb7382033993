"""Dokploy going away during a run: the outages one client lived through, the bound on each, the database check.

What Dokploy v0.30.2 does (its source: ``apps/dokploy/server/server.ts``, ``pages/api/[...trpc].ts``,
``packages/server/src/lib/auth.ts`` ``validateRequest``, ``server/api/routers/settings.ts`` ``health``):

* **Restarting** (an upgrade, a crash, ``docker service update``): its port refuses connections, or a proxy in
  front of it answers 502/503/504, until the new process listens again (after waiting for Postgres and migrating).
* **Its Postgres down**: every request with a key answers ``401 {"message":"Unauthorized"}``: ``validateRequest``
  catches the failed key lookup and returns no session, before any procedure runs, so the request had no effect
  and may be sent again, whatever it was. Nothing in that answer tells it from a bad key; the public tRPC
  procedure ``settings.health`` does: ``GET /api/trpc/settings.health`` (no key; Dokploy's own container
  HEALTHCHECK) runs ``SELECT 1`` and answers 500 while the database is down, 200 ``{"status":"ok"}`` otherwise.

An outage starts at the first failed attempt of a request and ends at the next answer; a request keeps trying
while its outage is younger than the bound (``Outages.bound`` seconds; 0: no bound, the transport's count of
retries only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import requests
from requests import exceptions as rexc

UNREACHABLE = "unreachable"
"""No answer: connection refused or broken, a timeout, or a proxy's 502/503/504."""
DATABASE = "database"
"""Every keyed call refused with 401 while settings.health fails: Dokploy's database is down."""

DB_DOWN = "down"
DB_UP = "up"
DB_NO_ANSWER = "no answer"
DB_UNKNOWN = "unknown"
HEALTH_PATH = "/api/trpc/settings.health"


@dataclass
class Outage:
    """One stretch of time Dokploy did not answer (or refused every key); ``ended`` is None while it lasts."""

    kind: str
    detail: str
    started: float
    ended: float | None = None

    def seconds(self, now: float) -> float:
        return (self.ended if self.ended is not None else now) - self.started


class Outages:
    """The outages of one client, oldest first, and the current one (None: Dokploy answers)."""

    def __init__(self, bound: float, clock: Callable[[], float]) -> None:
        self.bound = max(0.0, float(bound))
        self.clock = clock
        self.seen: list[Outage] = []
        self.current: Outage | None = None

    def failing(self, kind: str, detail: str) -> Outage:
        """A request failed: start an outage, or say what the current one looks like now."""
        if self.current is None:
            self.current = Outage(kind, detail, self.clock())
            self.seen.append(self.current)
        else:
            self.current.kind, self.current.detail = kind, detail
        return self.current

    def left(self) -> float:
        """Seconds the current outage may still last (0 without a bound or an outage)."""
        if self.current is None or self.bound <= 0:
            return 0.0
        return max(0.0, self.bound - self.current.seconds(self.clock()))

    def answered(self) -> None:
        """Dokploy answered: the current outage, if any, is over."""
        if self.current is not None:
            self.current.ended = self.clock()
            self.current = None

    def kinds_since(self, index: int) -> set[str]:
        """The kinds of the outages that started at or after ``seen[index]``."""
        return {o.kind for o in self.seen[index:]}


def database_state(session: requests.Session, base_url: str, timeout: tuple[float, float] | float) -> tuple[str, str]:
    """(state, detail) of Dokploy's database from its public health procedure: DB_DOWN, DB_UP, DB_NO_ANSWER, DB_UNKNOWN.

    No key is sent. DB_UNKNOWN: something answered that is not Dokploy's tRPC (a proxy, an older Dokploy).
    """
    try:
        resp = session.get(f"{base_url}{HEALTH_PATH}", timeout=timeout, allow_redirects=False)
    except rexc.RequestException as exc:
        return DB_NO_ANSWER, type(exc).__name__
    try:
        body = resp.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if resp.status_code == 200 and isinstance(body, dict) and "result" in body:
        return DB_UP, "settings.health answers ok"
    if resp.status_code >= 500 and isinstance(error, dict):
        inner = error.get("json") if isinstance(error.get("json"), dict) else error
        message = inner.get("message") if isinstance(inner, dict) else None
        return DB_DOWN, f"settings.health: {str(message or 'Internal server error')[:120]} ({resp.status_code})"
    return DB_UNKNOWN, f"settings.health answered {resp.status_code}"
