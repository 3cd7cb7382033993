"""Where the time of one `pulumi up` goes, from the arrival times of the engine's events.

``Timeline.on_event`` stamps ``time.monotonic()`` on every engine event as the Automation API hands it over (with a
CLI newer than 3.205 the engine streams its events over gRPC to the Automation API, so they arrive as they happen).
``breakdown`` (pure) turns the stamps into phases: the start (engine, plugins and program) up to the first
resource event, the spans of the pre-push tests, tags, pushes and compose projects (from a resource's step event
to its outputs, for the steps that do work), how many of each ran at once, and the tail after the last resource
event. ``startup_times`` measures how long each stand-in plugin takes to answer (spawn to its port on stdout).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi import automation as auto

TEST_TYPE = "command:local:Command"
TAG_TYPE = "docker:index/tag:Tag"
PUSH_TYPE = "docker:index/registryImage:RegistryImage"
COMPOSE_TYPE = "pulumi-python:dynamic/dokploy:ComposeProject"
WORK_OPS = ("create", "update", "replace", "create-replacement", "delete", "delete-replaced", "read", "refresh")
CHANGES = ("create", "update", "replace", "create-replacement")
DELETES = ("delete", "delete-replaced")
PHASES = (("pre-push tests", TEST_TYPE), ("tags", TAG_TYPE), ("pushes (RegistryImage)", PUSH_TYPE), ("compose projects", COMPOSE_TYPE))


@dataclass(frozen=True)
class Stamp:
    """An engine event: seconds since the command started, what kind, about which resource and step."""

    t: float
    kind: str  # pre | outputs | failed | other
    type: str = ""
    urn: str = ""
    op: str = ""


class Timeline:
    """Pass ``on_event`` to the command (call ``start`` right before it, ``finish`` right after)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.ended = self.started
        self.stamps: list[Stamp] = []

    def start(self) -> None:
        self.started = time.monotonic()
        self.stamps.clear()

    def finish(self) -> None:
        self.ended = time.monotonic()

    @property
    def total(self) -> float:
        return self.ended - self.started

    def on_event(self, event: auto.EngineEvent) -> None:
        t = time.monotonic() - self.started
        for kind, ev in (("pre", event.resource_pre_event), ("outputs", event.res_outputs_event), ("failed", event.res_op_failed_event)):
            md = getattr(ev, "metadata", None) if ev is not None else None
            if md is not None:
                op = md.op.value if hasattr(md.op, "value") else str(md.op)
                self.stamps.append(Stamp(t, kind, md.type, md.urn, str(op)))
                return
        self.stamps.append(Stamp(t, "other"))


@dataclass(frozen=True)
class Phase:
    name: str
    start: float
    end: float
    count: int = 0
    busy: float = 0.0  # the sum of the intervals' lengths
    concurrent: int = 0  # the most intervals in flight at once

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def as_json(self) -> dict[str, Any]:
        return {"phase": self.name, "start": round(self.start, 3), "end": round(self.end, 3), "seconds": round(self.seconds, 3),
                "count": self.count, "busy_seconds": round(self.busy, 3), "max_concurrent": self.concurrent}


def intervals(stamps: list[Stamp], rtype: str, ops: tuple[str, ...] = WORK_OPS) -> list[tuple[float, float]]:
    """(start, end) of each step of ``rtype`` that did work (one of ``ops``): its pre event to its outputs (or failure) event."""
    open_at: dict[tuple[str, str], float] = {}
    out: list[tuple[float, float]] = []
    for s in stamps:
        if s.type != rtype or s.op not in ops:
            continue
        if s.kind == "pre":
            open_at[(s.urn, s.op)] = s.t
        elif (s.urn, s.op) in open_at:
            out.append((open_at.pop((s.urn, s.op)), s.t))
    return out


def count(stamps: list[Stamp], rtype: str) -> int:
    """Resources of ``rtype`` that were created, updated or replaced (a replacement's steps count once)."""
    return len({s.urn for s in stamps if s.type == rtype and s.kind == "pre" and s.op in CHANGES})


def max_concurrent(spans: list[tuple[float, float]]) -> int:
    """The most intervals open at one time (an interval ending when another starts does not overlap it)."""
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def breakdown(stamps: list[Stamp], total: float) -> list[Phase]:
    """The phases of one command, in time order of their start (see the module docstring)."""
    resource = [s for s in stamps if s.kind != "other"]
    if not resource:
        return [Phase("start to end (no resource event)", 0.0, total)]
    first, last = resource[0].t, resource[-1].t
    phases = [Phase("start: engine + plugins + program, to the 1st resource event", 0.0, first)]
    for name, rtype in PHASES:
        spans = intervals(stamps, rtype, CHANGES)
        if spans:
            start, end = min(a for a, _ in spans), max(b for _, b in spans)
            phases.append(Phase(name, start, end, len(spans), sum(b - a for a, b in spans), max_concurrent(spans)))
            continue
        same = [s for s in resource if s.type == rtype]  # nothing to do: when the engine had diffed them (step events)
        if same:
            phases.append(Phase(f"{name}, unchanged: their step events", same[0].t, same[-1].t, len({s.urn for s in same})))
    deletes = [span for rtype in {s.type for s in resource} for span in intervals(stamps, rtype, DELETES)]
    if deletes:  # the replaced tags and pushes go last, after every compose project
        start, end = min(a for a, _ in deletes), max(b for _, b in deletes)
        busy = sum(b - a for a, b in deletes)
        phases.append(Phase("deletes of replaced resources", start, end, len(deletes), busy, max_concurrent(deletes)))
    phases.append(Phase("resource events: 1st to last", first, last, len(resource)))
    phases.append(Phase("tail: last resource event to the command's end", last, total))
    return sorted(phases, key=lambda p: (p.start, -p.end))


def table(title: str, phases: list[Phase], total: float) -> list[str]:
    out = [f"{title} ({total:.1f} s)", f"  {'phase':62} {'from s':>7} {'to s':>6} {'span s':>7} {'steps':>5} {'busy s':>7} {'at once':>7}"]
    for p in phases:
        n = f"{p.count:5d}" if p.count else "    -"
        busy = f"{p.busy:7.1f}" if p.busy else "      -"
        at_once = f"{p.concurrent:7d}" if p.concurrent else "      -"
        out.append(f"  {p.name:62} {p.start:7.1f} {p.end:6.1f} {p.seconds:7.1f} {n} {busy} {at_once}")
    return out


COMPOSE_STEPS = ("write", "deploy", "healthy", "stable", "health_urls", "total")
"""The compose provider's ``timings`` output: where a compose project's deploy went (components/compose_project_provider.py)."""


def compose_timings(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, float]]:
    """compose project -> its ``timings`` output and its stability window (``window``, s), for each compose project that an
    up deployed or verified again (its ``verified_at`` changed between the two ``pulumi stack export`` documents)."""

    def composes(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
        resources = (doc.get("deployment") or {}).get("resources") or []
        return {r["urn"].rsplit("::", 1)[-1]: r.get("outputs") or {} for r in resources if r.get("type") == COMPOSE_TYPE}

    old = composes(before)
    return {
        name: {**dict(outs.get("timings") or {}), "window": float(outs.get("stability_window") or 0.0)}
        for name, outs in sorted(composes(after).items())
        if outs.get("verified_at") != old.get(name, {}).get("verified_at")
    }


def compose_table(title: str, projects: dict[str, dict[str, float]], healthcheck_interval: str) -> list[str]:
    """The ``timings`` of the compose projects one up deployed, a column per step."""
    out = [f"{title}: inside the compose projects (the provider's timings output; s)"]
    out.append(f"  {'project':24}" + "".join(f"{step:>12}" for step in COMPOSE_STEPS))
    for name, steps in projects.items():
        out.append(f"  {name:24}" + "".join(f"{steps.get(step, 0.0):12.1f}" for step in COMPOSE_STEPS))
    out.append(
        f"  (healthy: until Dokploy reports every container healthy; Docker runs a container's first health check one"
        f" interval after it starts, catalog.yaml: {healthcheck_interval})"
    )
    return out


def time_to_port(argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 30.0) -> float:
    """Seconds from spawning a plugin to the port it prints on stdout (the engine's handshake); the plugin is then killed."""
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env, cwd=cwd, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.monotonic() - started
        if not line.strip().isdigit():
            raise RuntimeError(f"{argv[0]} printed {line!r}, not a port")
        return elapsed
    finally:
        proc.kill()
        proc.wait(timeout=timeout)


def startup_times(root: Path, python: Path, tools_bin: Path, image: str, repeat: int = 3) -> dict[str, float]:
    """Median seconds to a port: each stand-in plugin, the dynamic-provider host (the SDK's, real in production too), and
    `pulumi version` (the engine binary's own start) and one `docker image inspect` (what the stand-in's Tag and
    RegistryImage diffs run per resource, where the real provider asks the Docker API in-process)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    stand_ins = root / "testkit" / "bin"
    plugins = {
        "docker plugin (stand-in, Python)": [str(stand_ins / "pulumi-resource-docker")],
        "command plugin (stand-in, Python)": [str(stand_ins / "pulumi-resource-command")],
        "language host (stand-in, Python)": [str(stand_ins / "pulumi-language-python"), "127.0.0.1:1"],
        "dynamic-provider host (python -m pulumi.dynamic)": [str(python), "-u", "-m", "pulumi.dynamic"],
    }
    out = {name: statistics.median(time_to_port(argv, env, root) for _ in range(repeat)) for name, argv in plugins.items()}

    def timed(argv: list[str]) -> float:
        started = time.monotonic()
        subprocess.run(argv, capture_output=True, check=False, env=env)
        return time.monotonic() - started

    out["pulumi version (engine binary start)"] = statistics.median(timed([str(tools_bin / "pulumi"), "version"]) for _ in range(repeat))
    out["docker image inspect (one CLI call)"] = statistics.median(timed(["docker", "image", "inspect", image]) for _ in range(repeat))
    return out
