"""The benchmark's rows: one per scenario, one sample per run; median and spread (min-max). Pure."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One run of one scenario."""

    seconds: float
    pushed: int = 0
    bytes_added: int = 0
    writes: int = 0
    tested: int = 0
    load: float = float("nan")
    """The machine's 1-minute load average when the run started (`uptime`): the machine is shared."""


@dataclass
class Row:
    """A scenario (``key``: a short name the targets refer to) and its runs."""

    key: str
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def median(self) -> float:
        return median(self.seconds)

    @property
    def spread(self) -> tuple[float, float]:
        return spread(self.seconds)

    def most(self, attr: str) -> int:
        """The largest count over the runs (a target of 0 pushes holds only if no run pushed)."""
        return max((int(getattr(s, attr)) for s in self.samples), default=0)

    def as_json(self, base: float | None) -> dict[str, Any]:
        lo, hi = self.spread
        return {
            "key": self.key,
            "scenario": self.name,
            "seconds": [round(s, 3) for s in self.seconds],
            "median": round(self.median, 3),
            "min": round(lo, 3),
            "max": round(hi, 3),
            "ratio_to_old_loop": round(self.median / base, 3) if base else None,
            "ratios_to_old_loop": [round(s / base, 3) for s in self.seconds] if base else None,
            "tested": [s.tested for s in self.samples],
            "pushes": [s.pushed for s in self.samples],
            "bytes_added": [s.bytes_added for s in self.samples],
            "writes": [s.writes for s in self.samples],
            "load": [round(s.load, 2) for s in self.samples],
        }


def median(values: list[float]) -> float:
    """The median (nan when there is no value)."""
    return float(statistics.median(values)) if values else float("nan")


def spread(values: list[float]) -> tuple[float, float]:
    """(min, max); (nan, nan) when there is no value."""
    return (min(values), max(values)) if values else (float("nan"), float("nan"))


def fmt_spread(values: list[float]) -> str:
    """``1.2-1.5`` (one run: ``-``)."""
    if len(values) < 2:
        return "-"
    lo, hi = spread(values)
    return f"{lo:.1f}-{hi:.1f}"


def table(rows: list[Row], base: float) -> list[str]:
    """The main table: median wall time, spread, ratio to the old loop, and the counts (the most of any run)."""
    head = f"{'scenario':46} {'median s':>8} {'min-max':>11} {'x old':>6} {'tested':>7} {'images':>7} {'bytes':>9} {'writes':>7}"
    out = [f"{head} {'load':>9}"]
    for r in rows:
        ratio = r.median / base if base else float("nan")
        out.append(
            f"{r.name:46} {r.median:8.1f} {fmt_spread(r.seconds):>11} {ratio:6.2f} {r.most('tested'):7d} {r.most('pushed'):7d} "
            f"{r.most('bytes_added'):9d} {r.most('writes'):7d} {fmt_load([s.load for s in r.samples]):>9}"
        )
    return out


def fmt_load(loads: list[float]) -> str:
    """The 1-minute load averages at the start of the runs: ``2.1``, or ``1.2-3.4`` over several runs."""
    return f"{loads[0]:.1f}" if len(loads) == 1 else fmt_spread(loads)
