"""Issue 25's targets, evaluated on the measured medians: met, or missed and by how much. Pure.

Two kinds: a ratio (a scenario against a baseline measured in the same run: the old loop, a preview, the 14-service
stack), and a budget in seconds (our overhead: ``benchmarks.overhead``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmarks.results import Row

NOOP = 1.2
"""no-op `up` against `pulumi preview` of the same stack"""
COLD_FAST, ONE_FAST = 2.0, 1.0
"""(a1), (b1): all 14 new and one image changed, the first health check after 1 s, against the old loop"""
SCALE = 3.0
"""140 services against 14, preview and no-op `up`, the stand-in docker plugin diffing as upstream's does"""
OVERHEAD_ALL, OVERHEAD_ONE = 5.0, 3.0
"""our overhead (seconds) of (a) all 14 new and (b) one image changed"""


@dataclass(frozen=True)
class Outcome:
    """One target: ``value`` (seconds) against ``limit`` x ``base`` (seconds), plus conditions that must hold."""

    name: str
    value: float
    base: float
    base_label: str
    limit: float
    conditions: tuple[tuple[str, bool], ...] = field(default=())

    @property
    def ratio(self) -> float:
        return self.value / self.base if self.base else math.nan

    @property
    def ratio_met(self) -> bool:
        return self.ratio <= self.limit

    @property
    def met(self) -> bool:
        return self.ratio_met and all(ok for _, ok in self.conditions)

    def line(self) -> str:
        head = f"{self.name}: {self.value:.1f} s = {self.ratio:.2f}x {self.base_label} ({self.base:.1f} s); target <= {self.limit:.1f}x"
        if self.met:
            return f"{head}: MET (by {self.limit - self.ratio:.2f}x, {self.limit * self.base - self.value:.1f} s to spare)"
        why = []
        if not self.ratio_met:
            over = self.value - self.limit * self.base
            why.append(f"by {self.ratio - self.limit:.2f}x ({over:.1f} s over {self.limit * self.base:.1f} s)")
        why += [f"{label} does not hold" for label, ok in self.conditions if not ok]
        return f"{head}: MISSED {'; '.join(why)}"

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.name,
            "seconds": round(self.value, 3),
            "base_seconds": round(self.base, 3),
            "base": self.base_label,
            "ratio": round(self.ratio, 3),
            "limit": self.limit,
            "conditions": dict(self.conditions),
            "met": self.met,
        }


@dataclass(frozen=True)
class Budget:
    """One target in seconds: ``value`` at most ``limit``, plus conditions that must hold."""

    name: str
    value: float
    limit: float
    conditions: tuple[tuple[str, bool], ...] = field(default=())

    @property
    def met(self) -> bool:
        return self.value <= self.limit and all(ok for _, ok in self.conditions)

    def line(self) -> str:
        head = f"{self.name}: {self.value:.1f} s; target <= {self.limit:.1f} s"
        if self.met:
            return f"{head}: MET ({self.limit - self.value:.1f} s to spare)"
        why = [f"by {self.value - self.limit:.1f} s"] if self.value > self.limit or math.isnan(self.value) else []
        why += [f"{label} does not hold" for label, ok in self.conditions if not ok]
        return f"{head}: MISSED {'; '.join(why)}"

    def as_json(self) -> dict[str, Any]:
        return {"target": self.name, "seconds": round(self.value, 3), "limit_seconds": self.limit, "conditions": dict(self.conditions),
                "met": self.met}


Target = Outcome | Budget


def _no_writes(row: Row) -> tuple[tuple[str, bool], ...]:
    """In every run (the most of any run is 0)."""
    return (("0 pushes in every run", row.most("pushed") == 0), ("0 Dokploy write calls in every run", row.most("writes") == 0))


def evaluate(
    rows: Mapping[str, Row], scale: Mapping[str, float] | None = None, overheads: Mapping[str, float] | None = None
) -> list[Target]:
    """The targets for which both sides were measured. ``rows`` by key (old, a1, b1, c, preview, c_u, preview_u); ``scale``: the
    medians ``preview14u``, ``preview140u``, ``noop14u``, ``noop140u`` (the stand-in diffing as upstream); ``overheads``: our
    overhead's median by scenario key (a, b)."""
    out: list[Target] = []
    overheads = overheads or {}
    budgets = (("b", OVERHEAD_ONE, "our overhead, one image changed (b)"), ("a", OVERHEAD_ALL, "our overhead, all 14 new (a)"))
    for key, limit, name in budgets:
        if key in overheads:
            out.append(Budget(name, overheads[key], limit))
    old = rows.get("old")
    if old and "b1" in rows:
        out.append(Outcome("one image changed, 1st health check at 1 s (b1)", rows["b1"].median, old.median, "old loop", ONE_FAST))
    if old and "a1" in rows:
        out.append(Outcome("all 14 new, 1st health check at 1 s (a1)", rows["a1"].median, old.median, "old loop", COLD_FAST))
    if scale and {"preview14u", "preview140u"} <= set(scale):
        name = "scale: preview of 140 services (stand-in diff as upstream)"
        out.append(Outcome(name, scale["preview140u"], scale["preview14u"], "14-service preview", SCALE))
    if scale and {"noop14u", "noop140u"} <= set(scale):
        name = "scale: no-op up of 140 services (stand-in diff as upstream)"
        out.append(Outcome(name, scale["noop140u"], scale["noop14u"], "14-service no-op up", SCALE))
    if "c" in rows and "preview" in rows:
        out.append(Outcome("no change: no-op up", rows["c"].median, rows["preview"].median, "pulumi preview", NOOP, _no_writes(rows["c"])))
    if "c_u" in rows and "preview_u" in rows:  # what the real plugin would do: no `docker image inspect` per diff
        name = "no change, stand-in diff as upstream (informative)"
        out.append(Outcome(name, rows["c_u"].median, rows["preview_u"].median, "pulumi preview", NOOP, _no_writes(rows["c_u"])))
    return out
