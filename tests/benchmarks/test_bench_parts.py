"""The benchmark's pure parts: median and spread, the targets, the JSON document, the profile's phases, the
generated scale catalog (it resolves with core.catalog) and the command line. No timing is asserted."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchmarks import bench, overhead, profile, report, targets
from benchmarks.profile import Stamp
from benchmarks.results import Row, Sample, fmt_spread, median, spread, table
from benchmarks.scale import generate
from components.stack_config import settings_from_file
from core.catalog import load_catalog_file, resolve, secret_names
from core.compose import render_compose
from core.model import StackSettings
from tests.catalog_helpers import ROOT

NS = "bizosaas-deploy"


def row(key: str, *seconds: float, pushed: int = 0, writes: int = 0) -> Row:
    return Row(key, key, [Sample(s, pushed=pushed, writes=writes) for s in seconds])


def test_median_and_spread() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert spread([3.0, 1.0, 2.0]) == (1.0, 3.0)
    assert math.isnan(median([])) and all(math.isnan(x) for x in spread([]))
    assert fmt_spread([1.0]) == "-" and fmt_spread([1.04, 2.0, 1.5]) == "1.0-2.0"
    r = Row("a", "a", [Sample(2.0, pushed=14), Sample(4.0, pushed=0), Sample(3.0, pushed=1)])
    assert (r.median, r.spread, r.most("pushed")) == (3.0, (2.0, 4.0), 14)


def test_table_shows_median_spread_and_ratio() -> None:
    lines = table([row("old", 10.0, 12.0), row("a", 5.0, 6.0, 7.0)], base=11.0)
    assert len(lines) == 3
    assert "11.0" in lines[1] and "10.0-12.0" in lines[1] and "1.00" in lines[1]
    assert "6.0" in lines[2] and "5.0-7.0" in lines[2] and "0.55" in lines[2]


def test_targets_met_and_missed_say_by_how_much() -> None:
    rows = {"old": row("old", 10.0), "a1": row("a1", 25.0), "b1": row("b1", 9.0), "c": row("c", 3.0), "preview": row("preview", 2.6)}
    out = {o.name.split(" (")[0].split(",")[0]: o for o in targets.evaluate(rows)}
    cold, one, noop = out["all 14 new"], out["one image changed"], out["no change: no-op up"]
    assert isinstance(cold, targets.Outcome) and not cold.met and cold.ratio == 2.5 and cold.limit == 2.0
    assert "MISSED by 0.50x (5.0 s over 20.0 s)" in cold.line()
    assert one.met and "MET" in one.line() and isinstance(one, targets.Outcome) and one.limit == 1.0
    assert noop.met and isinstance(noop, targets.Outcome) and noop.limit == 1.2 and noop.base_label == "pulumi preview"


def test_our_overhead_is_a_budget_in_seconds() -> None:
    one, every = targets.evaluate({}, None, {"a": 5.5, "b": 2.5})
    assert (one.name, one.met) == ("our overhead, one image changed (b)", True)
    assert (every.name, every.met) == ("our overhead, all 14 new (a)", False)
    assert one.line() == "our overhead, one image changed (b): 2.5 s; target <= 3.0 s: MET (0.5 s to spare)"
    assert every.line() == "our overhead, all 14 new (a): 5.5 s; target <= 5.0 s: MISSED by 0.5 s"
    assert every.as_json() == {"target": every.name, "seconds": 5.5, "limit_seconds": 5.0, "conditions": {}, "met": False}


def test_no_change_target_needs_zero_pushes_and_zero_writes_in_every_run() -> None:
    rows = {"c": Row("c", "c", [Sample(1.0), Sample(1.0, writes=2), Sample(1.0)]), "preview": row("preview", 1.0)}
    (noop,) = targets.evaluate(rows)
    assert noop.ratio_met and not noop.met  # type: ignore[union-attr]
    assert "MISSED 0 Dokploy write calls in every run does not hold" in noop.line()


def test_scale_targets_compare_the_rows_diffed_as_upstream_and_missing_sides() -> None:
    scale = {"preview14": 1.0, "preview140": 1.0, "preview14u": 4.0, "preview140u": 13.0, "noop14u": 5.0, "noop140u": 14.0}
    preview, noop = targets.evaluate({}, scale)
    assert (preview.met, round(preview.ratio, 2)) == (False, 3.25) and (noop.met, noop.ratio) == (True, 2.8)  # type: ignore[union-attr]
    assert "upstream" in preview.name and "upstream" in noop.name
    assert targets.evaluate({"old": row("old", 1.0)}) == []  # nothing to compare: no target


def test_overhead_is_the_wall_time_minus_the_critical_compose_projects_floor() -> None:
    runs = [
        {"backend": {"write": 0.3, "deploy": 6.0, "healthy": 11.0, "stable": 3.6, "window": 3.0},
         "frontend": {"deploy": 4.0, "healthy": 10.5, "stable": 3.2, "window": 3.0}},
        {"backend": {"deploy": 5.0, "healthy": 11.0, "stable": 2.0, "window": 3.0}},  # a window cut short counts as it ran
        {},  # nothing deployed: left out
    ]
    o = overhead.overhead("b", "(b)", [22.0, 20.0, 5.0], runs)
    assert o is not None and [f.project for f in o.floors] == ["backend", "backend"]
    assert o.floors[0].seconds == 20.0 and o.seconds == [2.0, 2.0] and o.median == 2.0
    assert o.floors[0].describe() == "backend: deploy 6.0 + healthy 11.0 + window 3.0"
    assert overhead.overhead("c", "(c)", [5.0], [{}]) is None
    lines = overhead.table([o])
    assert len(lines) == 2 and "2.0" in lines[1] and "21.0" in lines[1] and "backend: deploy 6.0" in lines[1]


def test_json_document_shape_is_strict_json(tmp_path: Path) -> None:
    rows = [row("old", 6.0, 7.0), row("c", 3.0, 2.0)]
    outcomes = targets.evaluate({"c": rows[1], "preview": row("preview", 0.0)})  # a zero base: ratio inf -> null
    facts = {"cpu_count": 2, "python": "3.11", "pulumi_cli": "v3", "standins": True}
    doc = report.document(runs=2, facts=facts, rows=rows, outcomes=outcomes, scale=None, profile={"x": [math.nan]}, commit="abc")
    report.write(tmp_path / "b.json", doc)
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["runs"] == 2 and data["machine"]["cpu_count"] == 2 and data["commit"] == "abc"
    old, c = data["rows"]
    assert old["scenario"] == "old" and old["seconds"] == [6.0, 7.0] and old["median"] == 6.5
    assert (old["min"], old["max"], old["ratio_to_old_loop"]) == (6.0, 7.0, 1.0)
    assert c["ratios_to_old_loop"] == [round(3 / 6.5, 3), round(2 / 6.5, 3)] and c["pushes"] == [0, 0] and c["writes"] == [0, 0]
    assert data["targets"][0]["ratio"] is None and data["targets"][0]["met"] is False
    assert data["profile"] == {"x": [None]}


def test_machine_facts_name_every_version() -> None:
    facts = report.machine(Path("/nonexistent/pulumi"), standins=True)
    assert set(facts) >= {"cpu_count", "python", "pulumi_cli", "pulumi_sdk", "pulumi_docker_sdk", "docker_server", "standins"}
    assert facts["pulumi_cli"].startswith("unavailable") and facts["pulumi_sdk"][0].isdigit()


def test_breakdown_phases_and_concurrency() -> None:
    push, test, compose = profile.PUSH_TYPE, profile.TEST_TYPE, profile.COMPOSE_TYPE
    stamps = [
        Stamp(1.0, "pre", "pulumi:pulumi:Stack", "stack", "same"),
        Stamp(1.1, "pre", test, "t1", "create"), Stamp(1.2, "pre", test, "t2", "create"),
        Stamp(3.0, "outputs", test, "t1", "create"), Stamp(3.5, "outputs", test, "t2", "create"),
        Stamp(3.6, "pre", push, "p1", "update"), Stamp(3.7, "pre", push, "p2", "update"),
        Stamp(4.0, "outputs", push, "p1", "update"), Stamp(4.2, "outputs", push, "p2", "update"),
        Stamp(4.3, "pre", compose, "backend", "update"), Stamp(9.0, "outputs", compose, "backend", "update"),
        Stamp(9.1, "pre", compose, "frontend", "update"), Stamp(12.0, "failed", compose, "frontend", "update"),
        Stamp(12.5, "other"),
    ]
    phases = {p.name.split(" ")[0].rstrip(":"): p for p in profile.breakdown(stamps, 13.0)}
    assert phases["start"].seconds == 1.0
    assert (phases["pre-push"].count, phases["pre-push"].concurrent) == (2, 2)
    assert phases["pushes"].concurrent == 2 and round(phases["pushes"].busy, 2) == 0.9
    assert (phases["compose"].start, phases["compose"].end, phases["compose"].concurrent) == (4.3, 12.0, 1)
    assert phases["tail"].seconds == 1.0 and phases["resource"].count == 13
    assert profile.count(stamps, push) == 2 and profile.count(stamps, compose) == 2
    assert profile.max_concurrent([(0, 1), (1, 2)]) == 1 and profile.max_concurrent([(0, 2), (1, 3), (1.5, 4)]) == 3
    assert len(profile.table("x", list(phases.values()), 13.0)) == 2 + len(phases)


def test_overhead_items_cut_it_at_the_phase_edges_and_add_up_to_it() -> None:
    push, test, compose = profile.PUSH_TYPE, profile.TEST_TYPE, profile.COMPOSE_TYPE
    stamps = [
        Stamp(2.5, "pre", "pulumi:pulumi:Stack", "stack", "same"),
        Stamp(4.0, "pre", test, "t1", "create"), Stamp(5.5, "outputs", test, "t1", "create"),
        Stamp(5.6, "pre", push, "p1", "update"), Stamp(6.0, "outputs", push, "p1", "update"),
        Stamp(6.2, "pre", compose, "backend", "update"), Stamp(23.0, "outputs", compose, "backend", "update"),
    ]
    crit = overhead.Floor("backend", deploy=2.8, healthy=9.8, window=3.0)
    items = overhead.itemise(profile.breakdown(stamps, 24.0), 24.0, crit)
    assert items is not None and [round(x, 2) for x in items] == [2.5, 1.5, 2.2, 1.2, 1.0]
    assert round(sum(items), 6) == round(24.0 - crit.seconds, 6) and len(items) == len(overhead.ITEMS)
    no_deploy = [Stamp(1.0, "pre", "pulumi:pulumi:Stack", "stack", "same")]
    assert overhead.itemise(profile.breakdown(no_deploy, 3.0), 3.0, crit) is None
    lines = overhead.itemised_table({"b": ("(b)", [items, [x + 1 for x in items]]), "a": ("(a)", [])})
    assert "(b)" in lines[0] and "(a)" not in lines[0] and len(lines) == 2 + len(overhead.ITEMS)
    assert lines[1].split()[-1] == "3.0" and lines[-1].split()[-1] == "10.9"  # medians: (2.5 + 3.5) / 2, (8.4 + 13.4) / 2


def test_breakdown_of_a_no_op_spans_the_step_events_of_each_kind() -> None:
    tag = profile.TAG_TYPE
    stamps = [Stamp(1.0, "pre", "pulumi:pulumi:Stack", "stack", "same"), Stamp(1.5, "pre", tag, "t1", "same"),
              Stamp(1.5, "outputs", tag, "t1", "same"), Stamp(2.5, "pre", tag, "t2", "same"), Stamp(2.6, "outputs", tag, "t2", "same")]
    phases = profile.breakdown(stamps, 3.0)
    tags = next(p for p in phases if p.name.startswith("tags"))
    assert (tags.start, tags.end, tags.count, tags.concurrent) == (1.5, 2.6, 2, 0) and "unchanged" in tags.name


def test_breakdown_puts_the_deletes_of_replaced_resources_in_a_phase_of_their_own() -> None:
    tag = profile.TAG_TYPE
    stamps = [Stamp(1.0, "pre", tag, "t1", "create-replacement"), Stamp(2.0, "outputs", tag, "t1", "create-replacement"),
              Stamp(2.0, "pre", tag, "t1", "replace"), Stamp(2.1, "outputs", tag, "t1", "replace"),
              Stamp(9.0, "pre", tag, "t1", "delete-replaced"), Stamp(9.5, "outputs", tag, "t1", "delete-replaced")]
    phases = {p.name: p for p in profile.breakdown(stamps, 10.0)}
    assert (phases["tags"].start, phases["tags"].end, phases["tags"].count) == (1.0, 2.1, 2)
    assert (phases["deletes of replaced resources"].start, phases["deletes of replaced resources"].count) == (9.0, 1)
    assert profile.count(stamps, tag) == 1


def test_breakdown_without_resource_events() -> None:
    (only,) = profile.breakdown([Stamp(0.5, "other")], 2.0)
    assert only.seconds == 2.0


def _export(**verified: str) -> dict[str, Any]:
    """A `pulumi stack export` document with one compose project per keyword (name -> its verified_at) and a tag."""
    resources: list[dict[str, Any]] = [{"urn": "urn:pulumi:s::p::docker:index/tag:Tag::t", "type": profile.TAG_TYPE, "outputs": {}}]
    for name, at in verified.items():
        timings = {"write": 0.4, "deploy": 2.5, "healthy": 10.6, "stable": 3.0, "health_urls": 0.1, "total": 16.8, "at": at}
        resources.append({"urn": f"urn:pulumi:s::p::{profile.COMPOSE_TYPE}::{name}", "type": profile.COMPOSE_TYPE,
                          "outputs": {"verified_at": at, "timings": timings, "stability_window": 3}})
    return {"deployment": {"resources": resources}}


def test_compose_timings_are_those_of_the_projects_the_up_verified() -> None:
    before, after = _export(backend="T1", frontend="T1"), _export(backend="T2", frontend="T1", extra="T2")
    steps = profile.compose_timings(before, after)
    assert sorted(steps) == ["backend", "extra"] and steps["backend"]["at"] == "T2" and steps["backend"]["healthy"] == 10.6
    assert steps["backend"]["window"] == 3.0  # the compose project's stabilityWindow: the floor of our overhead
    assert profile.compose_timings(after, after) == {}


def test_compose_table_has_a_column_per_step_and_names_the_healthcheck_interval() -> None:
    lines = profile.compose_table("cold up", profile.compose_timings({}, _export(backend="T1")), "10s")
    assert lines[1].split() == ["project", *profile.COMPOSE_STEPS]
    assert lines[2].split() == ["backend", "0.4", "2.5", "10.6", "3.0", "0.1", "16.8"]
    assert "catalog.yaml: 10s" in lines[-1]


def _settings(raw: dict[str, Any]) -> StackSettings:
    """The local stack's settings (what the scale stacks start from), every secret the catalog needs set."""
    config = yaml.safe_load((ROOT / "stacks" / "local.yaml").read_text())["config"]
    return settings_from_file("bench-s140", config, secret_names(raw))


def test_the_generated_140_service_catalog_resolves_with_core_catalog() -> None:
    raw = load_catalog_file(ROOT / "catalog.yaml")
    generated, sources = generate(raw, 10, "bizosaas-bench-x-s140", 31000)
    catalog = resolve(generated, _settings(generated))
    assert len(catalog.services) == 140 and len(catalog.group_names) == 10
    assert all(len(catalog.group(g)) == 14 for g in catalog.group_names)
    assert len({s.container_name for s in catalog.services.values()}) == 140
    assert len({s["published"] for s in generated["services"].values()}) == 140  # its own port each (published if a stack asks)
    assert len({s.route.host for s in catalog.services.values() if s.route}) == 110  # its own host each (the local stack's domain)
    assert len({s.local_image for s in catalog.services.values()}) == 140 == len(sources)
    assert set(sources.values()) == {s["local_image"] for s in raw["services"].values()}
    frontend = catalog.services["client-portal-3"]
    urls = {v.value for v in frontend.env if v.kind in ("service_url", "public_url")}
    assert urls and all(u.endswith("-3") and u in catalog.services for u in urls)
    digests = {s.name: "sha256:" + "a" * 64 for s in catalog.group("bundle-3")}
    text = render_compose(catalog, "bundle-3", digests)
    assert "container_name: bizosaas-brain-3-local" in text and "bizosaas-brain-4-local" not in text


def test_the_generated_14_service_catalog_is_catalog_yaml_with_its_own_images() -> None:
    raw = load_catalog_file(ROOT / "catalog.yaml")
    generated, sources = generate(raw, 1, "bizosaas-bench-x-s14", 30000)
    catalog = resolve(generated, _settings(generated))
    assert list(catalog.services) == list(raw["services"]) and catalog.group_names == list(raw["groups"])
    assert {s.local_image for s in catalog.services.values()} == set(sources)
    assert all(img.startswith("bizosaas-bench-x-s14-") for img in sources)


def test_command_line() -> None:
    args = bench.parse_args(["--runs", "3", "--json", "/tmp/x.json", "--only", "scale"])
    assert (args.runs, args.json, args.only) == (3, Path("/tmp/x.json"), ["scale"])
    assert bench.parse_args([]).runs == 1
    with pytest.raises(SystemExit):
        bench.parse_args(["--runs", "0"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--only", "everything"])


def test_the_old_loops_compose_uses_the_mutable_tag_and_other_ports() -> None:
    from benchmarks.old_loop import old_compose

    text = yaml.safe_dump({"services": {
        "a": {"image": "r/a@sha256:1", "ports": ["127.0.0.1:21001:8001"], "container_name": "ca"},  # with publishAddress
        "b": {"image": "r/b@sha256:2", "ports": ["21002:8002"], "container_name": "cb"},
    }})
    doc = yaml.safe_load(old_compose(text, "old-1", 500))
    a, b = doc["services"]["a"], doc["services"]["b"]
    assert (a["image"], a["ports"], a["container_name"], a["pull_policy"]) == ("r/a:old-1", ["127.0.0.1:21501:8001"], "ca-old", "always")
    assert b["ports"] == ["21502:8002"]


class _Server:
    write_calls = 0

    def reset_calls(self) -> None:
        pass


def test_a_profiled_scenario_measured_without_a_stack_prints_its_profile(capsys: pytest.CaptureFixture[str]) -> None:
    """The previews and the no-op ups are profiled but have no compose timings: their totals are kept all the same
    (a 3-run bench once died at the end on `KeyError: 'c'`)."""
    result = bench.MainResult(rows=[row(key) for key in bench.SCENARIOS])
    for key in ("c", "preview"):
        bench.measure(key, result, _Server(), lambda on_event: 0)  # type: ignore[arg-type]
    assert set(result.totals) == {"c", "preview"} and not result.compose_steps
    bench.print_profile(result, {})
    out = capsys.readouterr().out
    assert "no-op up (c)" in out and "pulumi preview (no change)" in out
