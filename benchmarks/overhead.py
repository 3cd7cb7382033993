"""Our overhead in one `up`: its wall time minus what Dokploy and Docker take, from the compose projects' ``timings``. Pure.

The floor of an `up` that deploys is, for the compose project on its critical path (the one whose floor is largest: the
compose projects deploy in parallel), Dokploy's deploy (``deploy``: the job, from the deploy request to its row ``done``),
the time until Docker reports every container healthy (``healthy``) and the stability window (the configured seconds:
what ``stable`` takes beyond them, the window's last look at the containers, is ours). Everything else is ours: the
engine and the program starting, the pre-push tests, tags and pushes, the writes to Dokploy, our polling, the tail.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchmarks.profile import Phase
from benchmarks.results import fmt_spread


@dataclass(frozen=True)
class Floor:
    """Dokploy's and Docker's part of one `up`: the critical compose project and its parts (seconds)."""

    project: str
    deploy: float
    healthy: float
    window: float

    @property
    def seconds(self) -> float:
        return self.deploy + self.healthy + self.window

    def describe(self) -> str:
        return f"{self.project}: deploy {self.deploy:.1f} + healthy {self.healthy:.1f} + window {self.window:.1f}"


def floor(projects: Mapping[str, Mapping[str, float]]) -> Floor | None:
    """The critical compose project's floor, from each project's ``timings`` (with ``window``: its stability window, s);
    None when no compose project deployed."""
    floors = [
        Floor(name, t["deploy"], t.get("healthy", 0.0), min(t.get("stable", 0.0), t.get("window", 0.0)))
        for name, t in projects.items()
        if t.get("deploy")
    ]
    return max(floors, key=lambda f: f.seconds, default=None)


@dataclass(frozen=True)
class Overhead:
    """One scenario's runs: wall time, the floor and what is left (ours), per run."""

    key: str
    name: str
    walls: tuple[float, ...]
    floors: tuple[Floor, ...]

    @property
    def seconds(self) -> list[float]:
        return [w - f.seconds for w, f in zip(self.walls, self.floors, strict=True)]

    @property
    def median(self) -> float:
        return float(statistics.median(self.seconds)) if self.walls else float("nan")


def overhead(key: str, name: str, walls: Sequence[float], per_run: Sequence[Mapping[str, Mapping[str, float]]]) -> Overhead | None:
    """The overhead of a scenario over its runs (a run without a deployed compose project is left out); None without one."""
    pairs = [(w, f) for w, projects in zip(walls, per_run, strict=False) if (f := floor(projects)) is not None]
    if not pairs:
        return None
    return Overhead(key, name, tuple(w for w, _ in pairs), tuple(f for _, f in pairs))


def table(rows: Sequence[Overhead]) -> list[str]:
    """A row per scenario: our overhead (median, min-max), the median wall time and floor, the 1st run's critical project."""
    out = [f"{'our overhead':46} {'median s':>8} {'min-max':>11} {'wall s':>7} {'floor s':>7}  critical compose project (1st run)"]
    for r in rows:
        wall = statistics.median(r.walls)
        floor_s = statistics.median(f.seconds for f in r.floors)
        out.append(f"{r.name:46} {r.median:8.1f} {fmt_spread(r.seconds):>11} {wall:7.1f} {floor_s:7.1f}  {r.floors[0].describe()}")
    return out


ITEMS = (
    "start: engine, plugins and program, to the 1st resource event",
    "program and engine: 1st resource event to the 1st image step",
    "pre-push tests, tags and pushes: to the 1st compose project's step",
    "compose projects beyond the floor: write, polling, the window's last look",
    "after the compose projects: deletes of replaced resources, the tail",
)
"""What one `up`'s overhead is made of, in time order; they add up to it (``itemise``)."""


def itemise(phases: Sequence[Phase], total: float, critical: Floor) -> list[float] | None:
    """Our overhead in one run, cut in ``ITEMS`` at the profile's phase edges (benchmarks/profile.py); they sum to ``total``
    minus the floor of the critical compose project. None when the run deployed no compose project."""
    by_name = {p.name: p for p in phases}
    compose = by_name.get("compose projects")
    if compose is None:
        return None
    first = next((p.end for p in phases if p.name.startswith("start:")), 0.0)
    images = [by_name[n].start for n in ("pre-push tests", "tags", "pushes (RegistryImage)") if n in by_name]
    work = min(images, default=compose.start)
    return [first, work - first, compose.start - work, compose.seconds - critical.seconds, total - compose.end]


def itemised_table(runs: Mapping[str, tuple[str, Sequence[list[float]]]]) -> list[str]:
    """A column per scenario (key -> its name and each run's ``itemise``), a row per item: the median over its runs."""
    keys = [k for k, (_, per_run) in runs.items() if per_run]
    out = [f"  {'item (median s over the runs)':74}" + "".join(f"{'(' + k + ')':>8}" for k in keys)]
    for i, item in enumerate(ITEMS):
        out.append(f"  {item:74}" + "".join(f"{statistics.median(r[i] for r in runs[k][1]):8.1f}" for k in keys))
    out.append(f"  {'= our overhead':74}" + "".join(f"{statistics.median(sum(r) for r in runs[k][1]):8.1f}" for k in keys))
    return out
