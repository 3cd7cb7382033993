"""Benchmark: the platform's old shell loop against `pulumi up`, promotion and rollback; the issue-16 targets; scale.

One machine, one registry (127.0.0.1:5000), one Dokploy stand-in (in process, deploying with the real Docker
Engine). For each scenario: wall time, images tested (the pre-push test gate's commands that ran), images
pushed, bytes the registry gained, Dokploy write calls, and the wall-time ratio against the old loop (the
baseline, run in the same process, in the same round). ``--runs N`` repeats the rounds: each row then gives
the median and the spread (min-max) of its N runs. The gate's cost is the same change measured with
`testGate: false` and with the gate (the default), and again with the catalog's healthcheck every second (a1, b1).
Then: our overhead in each `up` that deploys (benchmarks/overhead.py), the targets (met, or missed by how much), where the
time of the cold and the no-op `up` goes (benchmarks/profile.py), the scale part (140 services against 14 on a
simulated Dokploy, with peak memory: benchmarks/scale.py) and, on a Swarm (`scripts/swarm.sh up`), a
start-first rolling update under a request loop (benchmarks/rolling_update.py). Not a test: it prints numbers.

    venv/bin/python -m benchmarks.bench [--runs N] [--json PATH] [--only main|scale|rolling ...]
"""

from __future__ import annotations

import argparse
import copy
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from benchmarks import old_loop, overhead, profile, report, rolling_update, scale, targets
from benchmarks.results import Row, Sample, table
from components.program import CATALOG_ENV
from deployctl import engine, ledger, local_stack
from deployctl.operations import OnEvent, rollback, unpin, up
from dokploy_api import DokployClient
from testkit import images, ports
from testkit.dokploy import FakeDokploy
from testkit.registry_stats import disk_bytes, serving_root

ROOT = engine.PROJECT_DIR
REGISTRY_DATA = serving_root(ROOT / ".state" / "registry")  # started by scripts/install-docker.sh, maybe from another checkout
RAW = old_loop.RAW
SCENARIOS = {
    "old": "old loop: 14 x (tag + push), 2 redeploys",
    "a0": "pulumi up (a0): 14 images new, testGate false",
    "b0": "pulumi up (b0): one image new, testGate false",
    "a": "pulumi up (a): all 14 images new (gate)",
    "b": "pulumi up (b): one image changed (gate)",
    "c": "pulumi up (c): nothing changed",
    "preview": "pulumi preview (no change)",
    "c_u": "pulumi up (c) again, stand-in diff as upstream",
    "preview_u": "pulumi preview, stand-in diff as upstream",
    "promote": "promotion staging -> prod",
    "rollback": "rollback staging to previous release",
    "a1": "pulumi up (a1): as (a), 1st health check 1 s",
    "b1": "pulumi up (b1): as (b), 1st health check 1 s",
}
FAST_HEALTH = "1s"
"""a1/b1: the catalog's healthcheck interval, as `start_interval: 1s` gives on Docker Engine >= 25 (this engine refuses it)."""
PROFILED = {
    "a": "cold up (a): 14 images new, gate on", "b": "one image changed (b), gate on", "b1": "one image changed, 1st health check 1 s (b1)",
    "c": "no-op up (c)", "preview": "pulumi preview (no change)",
    "c_u": "no-op up (c), stand-in diff as upstream", "preview_u": "pulumi preview, stand-in diff as upstream",
}
Step = Callable[[OnEvent], Any]



@dataclass
class MainResult:
    rows: list[Row]
    breakdowns: dict[str, list[list[profile.Phase]]] = field(default_factory=dict)  # scenario key -> per run
    totals: dict[str, list[float]] = field(default_factory=dict)
    releases: list[str] = field(default_factory=list)
    staging: str = ""
    after_up: dict[str, list[float]] = field(default_factory=dict)  # the Automation API's own CLI calls after `pulumi up`
    compose_steps: dict[str, list[dict[str, dict[str, float]]]] = field(default_factory=dict)  # key -> per run: project -> timings


def measure(key: str, result: MainResult, srv: FakeDokploy, fn: Step, stack: str = "") -> None:
    """One run of one scenario: its wall time, and from the engine's events the images tested and pushed; with ``stack``,
    the timings of the compose projects the up deployed (read from the state before and after, outside the wall time)."""
    row = next(r for r in result.rows if r.key == key)
    exported = engine.stack(stack).export_stack().deployment if stack else {}
    before = disk_bytes(REGISTRY_DATA)
    srv.reset_calls()
    load = os.getloadavg()[0]
    timeline = profile.Timeline()
    timeline.start()
    count = fn(timeline.on_event)
    timeline.finish()
    pushed = count if isinstance(count, int) else profile.count(timeline.stamps, profile.PUSH_TYPE)
    tested = profile.count(timeline.stamps, profile.TEST_TYPE)
    row.samples.append(Sample(timeline.total, pushed, disk_bytes(REGISTRY_DATA) - before, srv.write_calls, tested, load))
    if key in PROFILED:
        result.breakdowns.setdefault(key, []).append(profile.breakdown(timeline.stamps, timeline.total))
        result.totals.setdefault(key, []).append(timeline.total)
    if stack:
        steps = profile.compose_timings({"deployment": exported}, {"deployment": engine.stack(stack).export_stack().deployment})
        result.compose_steps.setdefault(key, []).append(steps)


def time_after_up(stack: str, into: dict[str, list[float]]) -> None:
    """What `Stack.up` of the Automation API runs after `pulumi up` itself, unless ``results=False`` (deployctl.operations.up):
    the stack's outputs (`pulumi stack output --json --show-secrets`) and its last update (`pulumi stack history --json`)."""
    st = engine.stack(stack)
    for name, call in (("pulumi stack output --json --show-secrets", st.outputs), ("pulumi stack history --json", st.info)):
        started = time.monotonic()
        call()
        into.setdefault(name, []).append(time.monotonic() - started)


@contextmanager
def fast_health(tmp: Path) -> Iterator[None]:
    """The program reads a catalog whose healthcheck runs every ``FAST_HEALTH`` (``BIZOSAAS_CATALOG``), for a1 and b1."""
    raw = copy.deepcopy(RAW)
    raw["defaults"]["healthcheck"] = {**raw["defaults"]["healthcheck"], "interval": FAST_HEALTH}
    path = tmp / "catalog-fast-health.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    before = os.environ.get(CATALOG_ENV)
    os.environ[CATALOG_ENV] = str(path)
    try:
        yield
    finally:
        os.environ.pop(CATALOG_ENV, None) if before is None else os.environ.__setitem__(CATALOG_ENV, before)


def set_gate(stack: str, on: bool) -> None:
    """The stack's testGate: false, or unset (the default: on)."""
    st = engine.stack(stack)
    if on:
        st.remove_config("bizosaas-deploy:testGate")
    else:
        st.set_config("bizosaas-deploy:testGate", auto.ConfigValue("false"))


def run_main(tmp: Path, runs: int) -> MainResult:
    """The scenarios, ``runs`` rounds, each round in the same order (the old loop first)."""
    run = secrets.token_hex(3)
    key = secrets.token_hex(16)
    # as slow as a measured Dokploy v0.30.2 (testkit/dokploy/latency.py): API round trips count in the wall times
    srv = FakeDokploy(api_keys={key}, docker=True, work_dir=tmp / "dokploy", builds_concurrency=2, latency="dokploy")
    srv.start()
    staging, prod = f"bench-{run}", f"bench-{run}-prod"
    result = MainResult([Row(k, name) for k, name in SCENARIOS.items()], staging=staging)

    def config(stack: str, offset: int, **extra: Any) -> dict[str, Any]:
        return {
            "bizosaas-deploy:tag": stack, "bizosaas-deploy:containerSuffix": stack, "bizosaas-deploy:dokployUrl": srv.base_url,
            "bizosaas-deploy:dokployProject": f"bizosaas-{stack}", "bizosaas-deploy:healthTimeout": 30,
            "bizosaas-deploy:services": {n: {"published": s["published"] + offset} for n, s in RAW["services"].items()},
            "bizosaas-deploy:routes": {"enabled": False}, **extra,  # the bench measures what it always did: no routes
        }

    # protect: false, so that the bench can destroy prod at the end (protect is on by default for a promoting stack)
    promote = {"bizosaas-deploy:promoteFrom": f"organization/bizosaas-deploy/{staging}", "bizosaas-deploy:protect": False}
    client = DokployClient(srv.base_url, key)
    old_ids: list[str] = []
    try:
        # host ports: the catalog's + offset (staging), + 100 (prod), + 500 (the old loop's projects), free on this machine
        offset = ports.free_offset([int(s["published"]) for s in RAW["services"].values()], (0, 100, 500))
        stacks = ((staging, "local.yaml", config(staging, offset)), (prod, "local-prod.yaml", config(prod, offset + 100, **promote)))
        for name, template, cfg in stacks:
            st = local_stack.init_from(name, ROOT / "stacks" / template, extra=cfg)
            st.set_config("bizosaas-deploy:dokployApiKey", auto.ConfigValue(key, secret=True))
        print(f"[bench] building 14 images, first deploy of {staging} (warm-up, not measured)", flush=True)
        images.build_catalog_images(RAW, variant=f"warm-{run}")
        up(staging, quiet=True)
        old_ids = old_loop.setup(client, engine.stack(staging).outputs()["compose"].value, f"old-{run}", run)

        def up_staging(ev: OnEvent) -> Any:
            return up(staging, quiet=True, on_event=ev, results=False)  # as `deployctl up`: no reads after it

        for r in range(runs):
            print(f"[bench] round {r + 1}/{runs} (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
            images.build_catalog_images(RAW, variant=f"old-{run}-{r}")
            measure("old", result, srv, lambda _: old_loop.run(client, old_ids, f"old-{run}"))
            set_gate(staging, on=False)  # the same changes without the pre-push test gate, for its cost
            images.build_catalog_images(RAW, variant=f"new0-{run}-{r}")
            measure("a0", result, srv, up_staging, staging)
            images.build_catalog_images(RAW, variant=f"one0-{run}-{r}", only=["brain-api"])
            measure("b0", result, srv, up_staging, staging)
            set_gate(staging, on=True)
            images.build_catalog_images(RAW, variant=f"new-{run}-{r}")
            measure("a", result, srv, up_staging, staging)
            images.build_catalog_images(RAW, variant=f"one-{run}-{r}", only=["brain-api"])
            measure("b", result, srv, up_staging, staging)
            measure("c", result, srv, up_staging)
            time_after_up(staging, result.after_up)
            measure("preview", result, srv, lambda ev: scale.quiet_preview(staging, ev))  # right next to (c): the same stack
            with scale.upstream_diff():  # the stand-in docker plugin's share: its extra `docker image inspect` per diff
                measure("c_u", result, srv, up_staging)
                measure("preview_u", result, srv, lambda ev: scale.quiet_preview(staging, ev))
            measure("promote", result, srv, lambda ev: up(prod, quiet=True, on_event=ev, results=False))
            measure("rollback", result, srv, lambda ev: rollback(staging, "previous", quiet=True, results=False)[0] and 0)
            unpin(staging)
            with fast_health(tmp):  # how much of (a) and (b) is Docker's first health check, 10 s after a start
                up(staging, quiet=True)  # not measured: the healthchecks change, the compose projects redeploy
                images.build_catalog_images(RAW, variant=f"fast-{run}-{r}")
                measure("a1", result, srv, up_staging, staging)
                images.build_catalog_images(RAW, variant=f"fastone-{run}-{r}", only=["brain-api"])
                measure("b1", result, srv, up_staging, staging)
            up(staging, quiet=True)  # not measured: back to catalog.yaml's healthcheck
        result.releases = ledger.lines(ledger.deployments(staging))
    finally:
        for name in (prod, staging):
            try:
                engine.stack(name).destroy(color="never")
            except auto.errors.CommandError as exc:
                print(f"[bench] destroy {name}: {str(exc)[-300:]}")
            (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)
        for compose_id in old_ids:
            client.compose.delete(compose_id, delete_volumes=True)
        client.close()
        srv.stop()
        images.remove_containers(run)  # whatever a failed run left behind
        images.build_catalog_images(RAW, variant="v1")
    return result


OVERHEAD_ROWS = ("a", "b", "a1", "b1", "a0", "b0")
"""The scenarios that deploy, whose overhead is printed (benchmarks/overhead.py)."""


def overheads(result: MainResult) -> list[overhead.Overhead]:
    """Our overhead in each deploying scenario, per run (the compose projects' timings of that run)."""
    rows = {r.key: r for r in result.rows}
    out = [overhead.overhead(k, rows[k].name, rows[k].seconds, result.compose_steps.get(k, [])) for k in OVERHEAD_ROWS if k in rows]
    return [o for o in out if o is not None]


def itemised(result: MainResult) -> dict[str, tuple[str, list[list[float]]]]:
    """Each profiled deploying scenario's overhead per run, cut in overhead.ITEMS (its profile and compose timings)."""
    out: dict[str, tuple[str, list[list[float]]]] = {}
    for key in (k for k in OVERHEAD_ROWS if k in PROFILED):
        per_run = zip(result.breakdowns.get(key, []), result.totals.get(key, []), result.compose_steps.get(key, []), strict=False)
        items = [overhead.itemise(phases, total, f) for phases, total, projects in per_run if (f := overhead.floor(projects))]
        out[key] = (SCENARIOS[key], [i for i in items if i is not None])
    return out


def print_main(result: MainResult, runs: int) -> None:
    rows = result.rows
    base = rows[0].median
    print(f"\n{runs} run(s) per scenario; wall time: the median, and min-max when runs > 1; counts: the most of any run;"
          " load: the 1-minute load average when each run started")
    print("\n".join(table(rows, base)))
    print("\nour overhead: the wall time minus Dokploy's deploy + time to healthy + the stability window of the compose project on"
          " the critical path (their timings output)")
    print("\n".join(overhead.table(overheads(result))))
    print("our overhead, item by item, in time order (from the profile's phases; the items add up to it)")
    print("\n".join(overhead.itemised_table(itemised(result))))
    by_key = {r.key: r for r in rows}
    for label, without, gated in (("14 images new", "a0", "a"), ("one image new", "b0", "b")):
        off, on = by_key[without], by_key[gated]
        cost = on.median - off.median
        print(f"test gate cost, {label:14}: {cost:+6.1f} s ({on.median / off.median - 1:+.0%}) for {on.most('tested')} tests")
    print(f"\nreleases of {result.staging}, newest first (recorded by `pulumi up` in the backend's history): ")
    for line in result.releases:
        print(f"  {line}")


def print_profile(result: MainResult, startup: dict[str, float]) -> None:
    print("\nwhere the time goes (1st run; arrival times of the engine's events, streamed over gRPC to this process)")
    for key, title in PROFILED.items():
        if result.breakdowns.get(key):
            print("\n".join(profile.table(title, result.breakdowns[key][0], result.totals[key][0])))
    interval = str(((RAW.get("defaults") or {}).get("healthcheck") or {}).get("interval", "?"))
    for key, per_run in result.compose_steps.items():
        if per_run and per_run[0]:
            print("\n".join(profile.compose_table(SCENARIOS[key], per_run[0], interval)))
    print("\nwhat the Automation API reads after `pulumi up` unless told not to (`deployctl up` and the measured ups do not; median)")
    for name, runs in result.after_up.items():
        print(f"  {name:58} {statistics.median(runs):6.2f} s")
    print("\nstart-up cost per process (spawn to its port on stdout; median of 3)")
    for name, seconds in startup.items():
        print(f"  {name:58} {seconds:6.2f} s")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1, help="runs of each measured scenario (rows give the median and min-max); default 1")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows, targets, scale, profile and machine facts as JSON")
    parser.add_argument(
        "--only", action="append", choices=("main", "scale", "rolling"), metavar="PART",
        help="run only this part (repeatable): main (the scenarios, targets and profile), scale (140 vs 14 services), "
        "rolling (the rolling update under load); default: all",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs should be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    parts = set(args.only or ("main", "scale", "rolling"))
    os.environ.setdefault("BIZOSAAS_STANDINS", "1")
    tmp = Path(tempfile.mkdtemp(prefix="bizosaas-bench-"))
    os.environ["PULUMI_BACKEND_URL"] = (tmp / "backend").as_uri()
    engine.engine_env()  # our pulumi and the stand-ins first on PATH, for the version and start-up measurements too
    facts = report.machine(engine.TOOLS_BIN / "pulumi", engine.standins_enabled())
    print("[bench] machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)
    result = run_main(tmp, args.runs) if "main" in parts else None
    image = RAW["services"]["brain-api"]["local_image"]
    startup = profile.startup_times(ROOT, engine.VENV_PYTHON, engine.TOOLS_BIN, image) if result else {}
    scaled = scale.run_scale(RAW, tmp, args.runs, print) if "scale" in parts else None

    if result:
        print_main(result, args.runs)
    if scaled:
        print()
        print("\n".join(scale.report(scaled)))
    spent = {o.key: o.median for o in overheads(result)} if result else {}
    outcomes = targets.evaluate({r.key: r for r in result.rows} if result else {}, scaled.medians() if scaled else None, spent)
    print("\ntargets (issue 25), on the medians:")
    for outcome in outcomes:
        print(f"  {outcome.line()}")
    if result:
        print_profile(result, startup)
    if args.json:
        doc = report.document(
            runs=args.runs, facts=facts, rows=result.rows if result else [], outcomes=outcomes, commit=_commit(),
            scale=scale.as_json(scaled) if scaled else None,
            profile={
                "breakdowns": {k: [[p.as_json() for p in phases] for phases in v] for k, v in result.breakdowns.items()},
                "totals": result.totals, "compose_steps": result.compose_steps, "startup_seconds": startup,
                "automation_api_after_up_seconds": result.after_up,
                "overhead_seconds": {o.key: [round(x, 3) for x in o.seconds] for o in overheads(result)},
                "overhead_items": {"items": list(overhead.ITEMS), "runs": {k: [[round(x, 3) for x in run] for run in v]
                                                                           for k, (_, v) in itemised(result).items()}},
            } if result else None,
        )
        report.write(args.json, doc)
        print(f"\n[bench] wrote {args.json}")
    if "rolling" in parts:
        if rolling_update.swarm_ready():
            print(rolling_update.report(rolling_update.run(tmp / "rolling")))
        else:
            print("rolling update under load: skipped (this engine is no Swarm manager: bash scripts/swarm.sh up)")
    return 0


def _commit() -> str:
    run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return run.stdout.strip()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
