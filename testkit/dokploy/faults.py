"""Scriptable faults for the Dokploy v0.30.2 STAND-IN (tests drive them; real Dokploy has none).

All knobs are thread-safe and can also be set over HTTP with ``POST /__fake__/faults`` (see
``Faults.apply``), so another process can script a standalone server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

DEPLOY_OUTCOMES = (None, "done", "error", "stuck")
DEFAULT_ERROR_LOG_LINE = "Error: simulated deploy failure (testkit.dokploy fault)"
TRIGGER_ACTIONS = ("restart", "database_down")
DATABASE_ERROR = "connect ECONNREFUSED 127.0.0.1:5432"
"""What postgres.js throws while Dokploy's database is down (settings.health answers it as a 500)."""


@dataclass
class _Failure:
    status: int
    times: int | None  # None = every call
    apply: bool  # run the procedure, then answer with the failure (the effect happens, the answer is lost)
    message: str | None


@dataclass
class _Delay:
    seconds: float
    times: int | None
    after: bool  # sleep after running the procedure instead of before


@dataclass
class Trigger:
    """A restart or a database outage that happens ``after`` seconds after an event, once."""

    event: str
    """"deploy" (a deploy job of the compose started: its row is ``running``) or a procedure (a request for it arrived)."""
    action: str
    """"restart" (``FakeDokploy.restart``) or "database_down" (``FakeDokploy.database_outage``)."""
    compose: str | None = None
    """The compose's name the event must concern (None: any)."""
    title: str | None = None
    """deploy: a text the deployment's title must contain (e.g. "rollback")."""
    after: float = 0.3
    seconds: float = 2.0
    """restart: how long the port refuses connections; database_down: how long the database stays down."""
    cancel_running: bool | None = None
    """restart: mark running deployments cancelled once started again (a production build; None: the server's node_env)."""
    startup: float = 0.0
    """restart: seconds between listening again and cancelling the running deployments (production builds)."""


class Faults:
    """Fault injection knobs.

    * ``fail_next(procedure, status=500, times=1, apply=False)``: the next ``times`` calls of
      ``procedure`` ("*" = any) answer ``status`` (500: Dokploy's INTERNAL_SERVER_ERROR envelope;
      502/503/504: a reverse proxy's text body). With ``apply=True`` the call runs first.
    * ``delay(procedure, seconds, times=1, after=False)``: sleep before (or after) answering.
    * ``deploy_outcome``: None/"done" (normal), "error" (deployment ends in error with
      ``deploy_error_log_line`` in its log) or "stuck" (stays "running" until ``restart()``);
      applies to every deploy queued while set. ``deploy_outcome_for[compose name]`` overrides it.
    * ``deploy_duration``: seconds a deploy stays "running" (a real docker run at least that long);
      None: derived from the compose file by the server's latency model.
    * ``rate_limited``: every authenticated call answers 401 ``{"message":"Unauthorized"}``,
      like a better-auth key that exhausted its rate limit.
    * ``database_down``: Dokploy's Postgres is down: every authenticated call answers 401
      ``{"message":"Unauthorized"}`` (the key check reads the database), the public
      ``/api/trpc/settings.health`` answers 500, a deploy job can neither start nor write its outcome
      (its row stays ``running``); ``/api/health`` still answers.
    * ``at(event, action, ...)``: a restart or a database outage a moment after an event (``Trigger``),
      fired by the server in the background, once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, list[_Failure]] = {}
        self._delays: dict[str, list[_Delay]] = {}
        self.deploy_outcome: str | None = None
        self.deploy_outcome_for: dict[str, str | None] = {}
        self.deploy_error_log_line: str = DEFAULT_ERROR_LOG_LINE
        self.deploy_duration: float | None = None
        self.rate_limited: bool = False
        self.database_down: bool = False
        self._triggers: list[Trigger] = []

    # -- scripting ----------------------------------------------------------------------------

    def fail_next(self, procedure: str, status: int = 500, times: int | None = 1, *, apply: bool = False,
                  message: str | None = None) -> None:
        with self._lock:
            self._failures.setdefault(procedure.lower(), []).append(_Failure(int(status), times, apply, message))

    def delay(self, procedure: str, seconds: float, times: int | None = 1, *, after: bool = False) -> None:
        with self._lock:
            self._delays.setdefault(procedure.lower(), []).append(_Delay(float(seconds), times, after))

    def at(self, event: str, action: str = "restart", **options: Any) -> Trigger:
        """Fire ``action`` after ``event`` (see ``Trigger`` for the options), once."""
        if action not in TRIGGER_ACTIONS:
            raise ValueError(f"action must be one of {TRIGGER_ACTIONS}")
        trigger = Trigger(event, action, **options)
        with self._lock:
            self._triggers.append(trigger)
        return trigger

    def take_trigger(self, event: str, compose: str | None, title: str = "") -> Trigger | None:
        """The first trigger this event fires (removed: each fires once), or None."""
        with self._lock:
            for trigger in self._triggers:
                if trigger.event.lower() != event.lower() or (trigger.compose is not None and trigger.compose != compose):
                    continue
                if trigger.title is not None and trigger.title not in title:
                    continue
                self._triggers.remove(trigger)
                return trigger
        return None

    def clear(self) -> None:
        """Remove every fault (back to a healthy server)."""
        with self._lock:
            self._failures.clear()
            self._delays.clear()
            self._triggers.clear()
            self.database_down = False
            self.deploy_outcome = None
            self.deploy_outcome_for = {}
            self.deploy_error_log_line = DEFAULT_ERROR_LOG_LINE
            self.rate_limited = False

    def outcome_for(self, compose_name: str) -> str | None:
        with self._lock:
            if compose_name in self.deploy_outcome_for:
                return self.deploy_outcome_for[compose_name]
            return self.deploy_outcome

    # -- consumption (server side) ------------------------------------------------------------

    @staticmethod
    def _take(table: dict[str, list[Any]], procedure: str) -> Any:
        for key in (procedure.lower(), "*"):
            entries = table.get(key)
            if not entries:
                continue
            entry = entries[0]
            if entry.times is not None:
                entry.times -= 1
                if entry.times <= 0:
                    entries.pop(0)
            return entry
        return None

    def take_failure(self, procedure: str) -> _Failure | None:
        with self._lock:
            return self._take(self._failures, procedure)

    def take_delay(self, procedure: str) -> _Delay | None:
        with self._lock:
            return self._take(self._delays, procedure)

    # -- HTTP control -------------------------------------------------------------------------

    def apply(self, spec: dict[str, Any]) -> None:
        """Apply a JSON spec, e.g. ``{"fail_next": {"procedure": "compose.deploy", "status": 502}}``.

        Keys: clear (bool, applied first), fail_next / delay / at (object or list of objects with the
        keyword arguments of the methods), deploy_outcome, deploy_outcome_for (object, merged;
        a null value removes the name), deploy_error_log_line, deploy_duration, rate_limited, database_down.
        """
        if not isinstance(spec, dict):
            raise ValueError("faults spec must be a JSON object")
        if spec.get("clear"):
            self.clear()
        for key, method in (("fail_next", self.fail_next), ("delay", self.delay), ("at", self.at)):
            items = spec.get(key)
            if items is None:
                continue
            for item in items if isinstance(items, list) else [items]:
                method(**item)
        if "deploy_outcome" in spec:
            if spec["deploy_outcome"] not in DEPLOY_OUTCOMES:
                raise ValueError(f"deploy_outcome must be one of {DEPLOY_OUTCOMES}")
            self.deploy_outcome = spec["deploy_outcome"]
        for name, outcome in (spec.get("deploy_outcome_for") or {}).items():
            if outcome is None:
                self.deploy_outcome_for.pop(name, None)
            elif outcome in DEPLOY_OUTCOMES:
                self.deploy_outcome_for[name] = outcome
            else:
                raise ValueError(f"deploy_outcome_for values must be one of {DEPLOY_OUTCOMES}")
        if "deploy_error_log_line" in spec:
            self.deploy_error_log_line = str(spec["deploy_error_log_line"])
        if "deploy_duration" in spec:
            self.deploy_duration = None if spec["deploy_duration"] is None else float(spec["deploy_duration"])
        if "rate_limited" in spec:
            self.rate_limited = bool(spec["rate_limited"])
        if "database_down" in spec:
            self.database_down = bool(spec["database_down"])

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fail_next": {k: [vars(f).copy() for f in v] for k, v in self._failures.items() if v},
                "delay": {k: [vars(d).copy() for d in v] for k, v in self._delays.items() if v},
                "deploy_outcome": self.deploy_outcome,
                "deploy_outcome_for": dict(self.deploy_outcome_for),
                "deploy_error_log_line": self.deploy_error_log_line,
                "deploy_duration": self.deploy_duration,
                "rate_limited": self.rate_limited,
                "database_down": self.database_down,
                "at": [vars(t).copy() for t in self._triggers],
            }
