"""Issue 16's targets, evaluated on the measured medians: met, or missed and by how much. Pure."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmarks.results import Row

COLD, NOOP, ONE = 1.0, 1.2, 0.5
SCALE = 5.0


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


def evaluate(rows: Mapping[str, Row], scale: Mapping[str, float] | None = None) -> list[Outcome]:
    """The targets for which both sides were measured. ``rows`` by key (old, a, b, c, preview); ``scale``: the medians
    ``preview14``, ``preview140``, ``noop14``, ``noop140``."""
    out: list[Outcome] = []
    old = rows.get("old")
    if old and "a" in rows:
        out.append(Outcome("cold (14 new, gate on, verified)", rows["a"].median, old.median, "old loop", COLD))
    if old and "a1" in rows:  # informative: what start_interval (Docker Engine >= 25) would give
        out.append(Outcome("cold, 1st health check at 1 s (informative)", rows["a1"].median, old.median, "old loop", COLD))
    if "c" in rows and "preview" in rows:
        c = rows["c"]
        conditions = (("0 pushes", c.most("pushed") == 0), ("0 Dokploy write calls", c.most("writes") == 0))
        out.append(Outcome("no change", c.median, rows["preview"].median, "pulumi preview", NOOP, conditions))
    if "c_u" in rows and "preview_u" in rows:  # what the real plugin would do: no `docker image inspect` per diff
        c = rows["c_u"]
        conditions = (("0 pushes", c.most("pushed") == 0), ("0 Dokploy write calls", c.most("writes") == 0))
        name = "no change, stand-in diff as upstream (informative)"
        out.append(Outcome(name, c.median, rows["preview_u"].median, "pulumi preview", NOOP, conditions))
    if old and "b" in rows:
        out.append(Outcome("one image changed (gate on)", rows["b"].median, old.median, "old loop", ONE))
    if old and "b1" in rows:
        out.append(Outcome("one image changed, 1st health check at 1 s (informative)", rows["b1"].median, old.median, "old loop", ONE))
    if scale and {"preview14", "preview140"} <= set(scale):
        out.append(Outcome("scale: preview of 140 services", scale["preview140"], scale["preview14"], "14-service preview", SCALE))
    if scale and {"noop14", "noop140"} <= set(scale):
        out.append(Outcome("scale: no-op up of 140 services", scale["noop140"], scale["noop14"], "14-service no-op up", SCALE))
    return out
