"""Scale: `pulumi preview` and a no-op `pulumi up` of a 140-service stack against the same of the 14-service one.

The catalogs are generated from catalog.yaml (``generate``, pure): the 14-service one is catalog.yaml with its own
local image names; the 140-service one has 10 copies of the 14 services, copy k in compose project ``bundle-k``
(10 compose projects of 14 services), each service renamed ``<name>-<k>`` (its ``service_url`` references
follow), with its own container name, published port and local image (a `docker tag` of the catalog's image, so
nothing is built). A stack reads its catalog from ``BIZOSAAS_CATALOG`` (components.program.catalog_file).

Both stacks deploy to one Dokploy stand-in with ``docker=False`` (deploys and containers simulated, Dokploy's
measured latency) and push to the local registry; ``testGate: false`` (nothing to test twice 140 images for: the
measured runs change nothing) and no ``healthUrl`` (nothing listens). One `up` each sets them up (not measured).
"""

from __future__ import annotations

import copy
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from benchmarks.profile import PUSH_TYPE, Phase, Timeline, breakdown, count
from benchmarks.profile import table as profile_table
from benchmarks.results import Row, Sample, fmt_load, fmt_spread
from benchmarks.rss import PeakRss
from components.program import CATALOG_ENV
from deployctl import engine, local_stack
from deployctl.operations import OnEvent, run, up
from testkit import images
from testkit.dokploy import FakeDokploy

ROOT = engine.PROJECT_DIR
NS = "bizosaas-deploy"
UPSTREAM_DIFF = "PULUMI_DOCKER_STANDIN_UPSTREAM_DIFF"
SIZES = (1, 10)
"""Copies of the 14 services: the 14-service and the 140-service stack."""


def generate(raw: dict[str, Any], copies: int, image_prefix: str, port_base: int) -> tuple[dict[str, Any], dict[str, str]]:
    """A catalog of ``copies`` x the services of ``raw`` (see the module docstring), and local image -> the image it
    is a tag of. ``copies == 1``: the same services and compose projects, only the local images are renamed."""
    out = {k: copy.deepcopy(v) for k, v in raw.items() if k not in ("groups", "services")}
    services: dict[str, Any] = {}
    sources: dict[str, str] = {}
    groups: dict[str, Any] = copy.deepcopy(raw["groups"]) if copies == 1 else {}
    for k in range(copies):
        suffix = "" if copies == 1 else f"-{k}"
        if copies > 1:
            groups[f"bundle-{k}"] = {"description": f"generated for the scale benchmark: copy {k} of the {len(raw['services'])} services"}
        for name, spec in raw["services"].items():
            svc = copy.deepcopy(spec)
            if copies > 1:
                svc["group"] = f"bundle-{k}"
                svc["container_name"] = f"{spec['container_name']}{suffix}"
                for var, value in (svc.get("env") or {}).items():
                    for kind in ("service_url", "public_url"):
                        if isinstance(value, dict) and kind in value:
                            svc["env"][var] = {kind: f"{value[kind]}{suffix}"}
                if "route" in svc:  # one host per copy
                    svc["route"] = {**svc["route"], "host": f"{name}{suffix}.{{domain}}"}
            svc["published"] = port_base + len(services)
            svc["local_image"] = f"{image_prefix}-{name}{suffix}:latest"
            sources[svc["local_image"]] = spec["local_image"]
            services[f"{name}{suffix}"] = svc
    return {**out, "groups": groups, "services": services}, sources


@contextmanager
def catalog_env(path: Path) -> Iterator[None]:
    """BIZOSAAS_CATALOG=path for the engine commands run inside (read when each `pulumi` starts)."""
    before = os.environ.get(CATALOG_ENV)
    os.environ[CATALOG_ENV] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CATALOG_ENV, None)
        else:
            os.environ[CATALOG_ENV] = before


@contextmanager
def upstream_diff() -> Iterator[None]:
    """The stand-in docker plugin diffs as the real pulumi-docker does (inputs only): without it, its Tag and RegistryImage
    diffs each run a `docker image inspect` to see a rebuilt local image (testkit/docker_plugin/resources.py)."""
    before = os.environ.get(UPSTREAM_DIFF)
    os.environ[UPSTREAM_DIFF] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(UPSTREAM_DIFF, None)
        else:
            os.environ[UPSTREAM_DIFF] = before


def quiet_preview(stack_name: str, on_event: OnEvent | None = None) -> auto.PreviewResult:
    """`pulumi preview` as the measured `up` runs: no diff, no progress output."""
    return run(engine.stack(stack_name).preview, on_event, color="never", suppress_progress=True)


@dataclass
class ScaleStack:
    services: int
    stack: str
    catalog: Path
    images: list[str]
    setup_seconds: float = 0.0


@dataclass
class ScaleResult:
    stacks: list[ScaleStack]
    rows: dict[str, Row]  # preview14, noop14, preview140, noop140; the same + "u": the stand-in's diffs as upstream's
    rss: dict[str, dict[str, float]] = field(default_factory=dict)  # row key -> process kind -> peak MiB (the largest over runs)
    breakdowns: dict[str, list[Phase]] = field(default_factory=dict)  # row key -> its 1st run's phases

    def medians(self) -> dict[str, float]:
        return {k: r.median for k, r in self.rows.items()}


def _config(stack: str, base_url: str) -> dict[str, Any]:
    return {
        f"{NS}:tag": stack, f"{NS}:containerSuffix": stack, f"{NS}:dokployUrl": base_url, f"{NS}:dokployProject": f"bizosaas-{stack}",
        f"{NS}:healthTimeout": 30, f"{NS}:testGate": False, f"{NS}:routes": {"enabled": False},  # nothing routes a simulation
    }


def _ensure_sources(raw: dict[str, Any]) -> None:
    """The catalog's local images, built only if one is missing (the main benchmark leaves them built)."""
    names = [s["local_image"] for s in raw["services"].values()]
    if subprocess.run(["docker", "image", "inspect", *names], capture_output=True, check=False).returncode != 0:
        images.build_catalog_images(raw, variant="v1")


def setup(
    raw: dict[str, Any], tmp: Path, run_id: str, srv: FakeDokploy, key: str, stacks: list[ScaleStack], say: Callable[[str], None]
) -> None:
    """Generate, tag, init and `up` once (not measured) the 14- and the 140-service stacks (added to ``stacks`` first)."""
    _ensure_sources(raw)
    template = yaml.safe_load((ROOT / "stacks" / "local.yaml").read_text())
    template["config"].pop(f"{NS}:healthUrl", None)  # simulated containers answer nothing
    (tmp / "scale-template.yaml").write_text(yaml.safe_dump(template, sort_keys=False))
    for copies in SIZES:
        n = copies * len(raw["services"])
        catalog, sources = generate(raw, copies, f"bizosaas-bench-{run_id}-s{n}", 30000 if copies == 1 else 31000)
        path = tmp / f"catalog-{n}.yaml"
        path.write_text(yaml.safe_dump(catalog, sort_keys=False))
        for target, source in sources.items():
            subprocess.run(["docker", "tag", source, target], check=True, capture_output=True)
        stack = ScaleStack(n, f"bench-{run_id}-s{n}", path, list(sources))
        stacks.append(stack)
        with catalog_env(path):
            st = local_stack.init_from(stack.stack, tmp / "scale-template.yaml", extra=_config(stack.stack, srv.base_url))
            st.set_config(f"{NS}:dokployApiKey", auto.ConfigValue(key, secret=True))
            say(f"[bench] scale: first up of {stack.stack} ({n} services, {len(catalog['groups'])} compose projects; not measured)")
            _, stack.setup_seconds = up(stack.stack, quiet=True)


def measure(stacks: list[ScaleStack], srv: FakeDokploy, runs: int) -> ScaleResult:
    """Per run, per stack: a preview, then a no-op up, each with the peak RSS of the engine's processes; then both
    again with the stand-in docker plugin diffing like the real one (no `docker image inspect` per Tag and push)."""
    result = ScaleResult(stacks, {})
    for _ in range(runs):
        for upstream in (False, True):
            for stack in stacks:
                _measure_stack(result, stack, srv, upstream)
    return result


def _measure_stack(result: ScaleResult, stack: ScaleStack, srv: FakeDokploy, upstream: bool) -> None:
    for kind, label in (("preview", "preview"), ("noop", "no-op up")):
        key = f"{kind}{stack.services}{'u' if upstream else ''}"
        name = f"{label}, {stack.services} services" + (", stand-in diff as upstream" if upstream else "")
        row = result.rows.setdefault(key, Row(key, name))
        timeline = Timeline()
        srv.reset_calls()
        load = os.getloadavg()[0]
        with catalog_env(stack.catalog), PeakRss() as peak, upstream_diff() if upstream else nullcontext():
            timeline.start()
            if kind == "preview":
                quiet_preview(stack.stack, timeline.on_event)
            else:
                up(stack.stack, quiet=True, on_event=timeline.on_event, results=False)
            timeline.finish()
        row.samples.append(Sample(timeline.total, pushed=count(timeline.stamps, PUSH_TYPE), writes=srv.write_calls, load=load))
        result.breakdowns.setdefault(key, breakdown(timeline.stamps, timeline.total))
        seen = result.rss.setdefault(key, {})
        for proc, mib in peak.mib.items():
            seen[proc] = max(seen.get(proc, 0.0), mib)


def teardown(stacks: list[ScaleStack], say: Callable[[str], None]) -> None:
    for stack in stacks:
        with catalog_env(stack.catalog):
            try:
                engine.stack(stack.stack).destroy(color="never")
            except auto.errors.CommandError as exc:
                say(f"[bench] destroy {stack.stack}: {str(exc)[-300:]}")
        (ROOT / f"Pulumi.{stack.stack}.yaml").unlink(missing_ok=True)
        if stack.images:
            subprocess.run(["docker", "image", "rm", *stack.images], capture_output=True, check=False)  # only the tags


def run_scale(raw: dict[str, Any], tmp: Path, runs: int, say: Callable[[str], None]) -> ScaleResult:
    """Set up, measure, tear down (the stacks, their tags; the stand-in)."""
    run_id, key = secrets.token_hex(3), secrets.token_hex(16)
    srv = FakeDokploy(api_keys={key}, docker=False, latency="dokploy")
    srv.start()
    stacks: list[ScaleStack] = []
    try:
        started = time.monotonic()
        setup(raw, tmp, run_id, srv, key, stacks, say)
        say(f"[bench] scale: set up in {time.monotonic() - started:.0f} s; measuring {runs} run(s)")
        return measure(stacks, srv, runs)
    finally:
        teardown(stacks, say)
        srv.stop()


def report(result: ScaleResult) -> list[str]:
    out = [f"{'scale (simulated Dokploy, testGate false)':52} {'median s':>8} {'min-max':>11} {'images':>7} {'writes':>7} {'load':>9}"]
    rss_keys = [k for k in result.rss if not k.endswith("u")]
    for r in result.rows.values():
        loads = fmt_load([s.load for s in r.samples])
        out.append(f"{r.name:52} {r.median:8.1f} {fmt_spread(r.seconds):>11} {r.most('pushed'):7d} {r.most('writes'):7d} {loads:>9}")
    for s in result.stacks:
        out.append(f"  (first up of the {s.services}-service stack, not measured: {s.setup_seconds:.1f} s)")
    kinds = sorted({k for per in result.rss.values() for k in per})
    keys = rss_keys
    out.append("")
    out.append(f"{'peak RSS, MiB (VmHWM, /proc every 50 ms)':52} " + " ".join(f"{k:>11}" for k in keys))
    for kind in kinds:
        out.append(f"{kind:52} " + " ".join(f"{result.rss[k].get(kind, 0.0):11.0f}" for k in keys))
    for key in result.rows:  # the targets compare the rows diffed as upstream ("u")
        phases = result.breakdowns.get(key)
        if phases:
            out += ["", *profile_table(f"where the time goes: {result.rows[key].name} (1st run)", phases, max(p.end for p in phases))]
    return out


def as_json(result: ScaleResult) -> dict[str, Any]:
    return {
        "stacks": [{"services": s.services, "setup_seconds": round(s.setup_seconds, 3)} for s in result.stacks],
        "test_gate": False,
        "dokploy": "simulated (docker=False), Dokploy's latency",
        "rows": [r.as_json(None) for r in result.rows.values()],
        "peak_rss_mib": {k: {kind: round(v, 1) for kind, v in per.items()} for k, per in result.rss.items()},
        "breakdowns": {k: [p.as_json() for p in phases] for k, phases in result.breakdowns.items()},
        "rss_method": "VmHWM of each descendant process from /proc, sampled every 50 ms from a thread",
    }
