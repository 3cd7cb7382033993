"""The program's releases under pulumi mocks: the `release` output and ReleaseRecord it writes, a pinned
release deployed as recorded (images kept, nothing pushed), and expectRelease refusing before any change."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pulumi
import pytest

from core import ledger
from core.catalog import CatalogError, resolve
from core.compose import health_url, image_ref, render_compose, service_summary
from core.release import release_id
from tests.catalog_helpers import RAW, fake_digest, settings
from tests.components.test_program import (
    RAW_SERVICES,
    SECRET_VALUES,
    Mocks,
    RecordingMonitor,
    checked_config,
    image_inspector,
    stack_config,
)

HEALTH = "https://staging.example.test:{published}{path}"
PROJECT = "bizosaas-deploy"


@pytest.fixture
def mocks() -> Mocks:
    m = Mocks()
    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(m, project=PROJECT, stack="staging", preview=False)
    cfg, secret_keys = stack_config()
    pulumi.runtime.set_all_config(cfg, secret_keys)
    return m


def recorded_release(suffix: str = "-old", verified: bool = True) -> dict[str, Any]:
    """A release of the staging stack as an earlier `up` recorded it (other digests than the mocks push now)."""
    published = {"brain-api": {"published": True}, "auth-service": {"published": True}}  # as the test stack (stack_config)
    catalog = resolve(RAW, settings(services=published, domain="staging.example.test"))
    digests = {n: fake_digest(n + suffix) for n in catalog.services}
    compose = {}
    for group in ("backend", "frontend"):
        services = catalog.group(group)
        compose[group] = {
            "text": render_compose(catalog, group, digests),
            "env_keys": sorted(set().union(*(s.secret_names() for s in services))),
            "health_urls": {s.name: health_url(HEALTH, s) for s in services},
            "services": {s.name: service_summary(catalog, s, image_ref(s, digests[s.name]), health_url(HEALTH, s)) for s in services},
            "compose_type": "docker-compose",
        }
    manifest = {n: f"{s.image_repository}@{digests[n]}" for n, s in catalog.services.items()}
    rec = ledger.record(stack="staging", manifest=manifest, compose=compose)
    return {**rec, "by": "alice", "commit": "c0ffee" * 6, "recorded_at": "2026-12-01T10:00:00Z", "verified": verified}


def deployment(update: int, rel: dict[str, Any]) -> ledger.Deployment:
    return ledger.Deployment(update, "update", "succeeded", 0, 0, {}, rel, verified=rel["verified"])


def pin(mocks: Mocks, release: str) -> RecordingMonitor:
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="staging", preview=False, monitor=monitor)
    cfg, secret_keys = stack_config()
    pulumi.runtime.set_all_config({**cfg, f"{PROJECT}:pinnedRelease": release}, secret_keys)
    return monitor


@pulumi.runtime.test
def test_up_exports_the_release_and_records_it_before_the_compose_projects(mocks: Mocks) -> Any:
    from components.program import build

    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="staging", preview=False, monitor=monitor)
    repo = "ghcr.io/bizoholic-digital/bizosaas-platform"
    mocks.seen = {n: f"{repo}/{n}@{fake_digest(n)}" for n in RAW_SERVICES}  # verification saw every new digest running
    outputs = build("staging", pulumi.Config(PROJECT), inspect=image_inspector, config_problems=checked_config())

    def check(args: list[Any]) -> None:
        rel, compose, manifest, is_secret = args
        assert rel["id"] == release_id(manifest) and rel["manifest"] == manifest and rel["stack"] == "staging"
        assert rel["verified"] is True and rel["pinned"] == "" and rel["promoted_from"] == ""
        assert rel["compose"]["backend"]["text"] == compose["backend"]
        assert rel["compose"]["backend"]["sha256"] == ledger.sha256_text(compose["backend"])
        assert "DATABASE_URL" in rel["compose"]["backend"]["env_keys"] and "JWT_SECRET" in rel["compose"]["backend"]["env_keys"]
        assert rel["compose"]["backend"]["health_urls"]["brain-api"] == "https://staging.example.test:8001/health"
        assert rel["compose"]["frontend"]["services"]["client-portal"]["image"] == manifest["client-portal"]
        assert rel["verification"]["brain-api"] == {"digest": fake_digest("brain-api"), "health": "healthy"}
        assert rel["by"] and set(rel) >= {"commit", "recorded_at"}
        assert is_secret is False  # the backend keeps it readable: no secret may flow into it
        assert not [v for v in SECRET_VALUES.values() if v in str(rel)]
        (record,) = [r for r in mocks.resources if r.typ == ledger.RECORD_TYPE]
        assert record.inputs["release_id"] == rel["id"]
        assert record.inputs["compose_sha256"]["frontend"] == rel["compose"]["frontend"]["sha256"]
        urn = f"urn:pulumi:staging::{PROJECT}::pulumi:pulumi:Stack${ledger.RECORD_TYPE}::release"
        deps = {r.name: set(r.dependencies) for r in monitor.requests}
        assert urn in deps["backend"] and urn in deps["frontend"]

    released = outputs["release"]
    secret = pulumi.Output.from_input(released.is_secret())
    return pulumi.Output.all(released, outputs["compose"], outputs["release_manifest"], secret).apply(check)


def test_a_pinned_stack_deploys_the_recorded_compose_texts_and_keeps_its_images(mocks: Mocks) -> None:
    from components.program import build

    old, now = recorded_release("-old"), recorded_release("-now")
    monitor = pin(mocks, old["id"])
    seen: list[Any] = []

    @pulumi.runtime.test
    def declare() -> Any:
        history = [deployment(1, old), deployment(2, now)]
        outputs = build("staging", pulumi.Config(PROJECT), inspect=image_inspector, config_problems=[], history=lambda s: history)
        return pulumi.Output.all(outputs["image_digests"], outputs["release"]).apply(seen.append)

    declare()
    digests, rel = seen[0]
    assert digests["brain-api"] == fake_digest("brain-api-old") and rel["id"] == old["id"] and rel["pinned"] == old["id"]
    assert rel["compose"] == {g: {k: old["compose"][g].get(k, rel["compose"][g]["routes"]) for k in rel["compose"][g]}
                              for g in old["compose"]}
    assert rel["compose"]["backend"]["routes"]["brain-api"]["host"] == "api.staging.example.test"  # the stack's routes today
    compose = {r.name: r.inputs["compose_file"] for r in mocks.resources if r.typ == "pulumi-python:dynamic/dokploy:ComposeProject"}
    assert compose == {"backend": old["compose"]["backend"]["text"], "frontend": old["compose"]["frontend"]["text"]}
    backend = next(r for r in mocks.resources if r.name == "backend")
    assert backend.inputs["health_urls"] == old["compose"]["backend"]["health_urls"]
    assert backend.inputs["services"]["brain-api"]["image"] == old["manifest"]["brain-api"]
    docker = [r for r in monitor.requests if r.type.startswith("docker:index/")]
    assert len(docker) == 28 and all(list(r.ignoreChanges) == ["*"] for r in docker)  # declared, unchanged: nothing tagged or pushed
    assert len([r for r in mocks.resources if r.typ == "bizosaas:index:ServiceImage"]) == 14
    (record,) = [r for r in mocks.resources if r.typ == ledger.RECORD_TYPE]
    assert record.inputs["pinned"] == old["id"] and record.inputs["release_id"] == old["id"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda r: r["compose"]["backend"].update(text=r["compose"]["backend"]["text"] + "# edit\n"), "does not match its recorded sha256"),
        (lambda r: r["manifest"].update({"brain-api": r["manifest"]["brain-api"][:-4] + "0000"}), "the record of r-"),
        (lambda r: r["compose"].pop("frontend"), "deployed the projects ['backend'], this stack has ['backend', 'frontend']"),
    ],
    ids=["compose-edited", "manifest-edited", "project-missing"],
)
def test_a_pinned_release_whose_record_does_not_check_out_is_refused_before_any_resource(mocks: Mocks, damage: Any, message: str) -> None:
    from components.program import build

    rel = recorded_release()
    damage(rel)
    pin(mocks, rel["id"])
    with pytest.raises(CatalogError, match=re.escape(message)) as info:
        build("staging", pulumi.Config(PROJECT), inspect=image_inspector, config_problems=[], history=lambda s: [deployment(1, rel)])
    assert all(p.startswith(f"stack staging: {PROJECT}:pinnedRelease") for p in info.value.problems), info.value.problems
    assert mocks.resources == []


def test_a_pin_to_an_unknown_or_unverified_release_is_refused_before_any_resource(mocks: Mocks) -> None:
    from components.program import build

    rel = recorded_release(verified=False)
    pin(mocks, "r-000000000000")
    with pytest.raises(CatalogError) as unknown:
        build("staging", pulumi.Config(PROJECT), inspect=image_inspector, config_problems=[], history=lambda s: [deployment(1, rel)])
    assert unknown.value.problems == [
        f"stack staging: {PROJECT}:pinnedRelease: no release r-000000000000 in the stack's update history (known: {rel['id']})"
    ]
    pin(mocks, rel["id"])
    with pytest.raises(CatalogError, match=r"was never verified \(update 1 unverified\); refusing to deploy it again"):
        build("staging", pulumi.Config(PROJECT), inspect=image_inspector, config_problems=[], history=lambda s: [deployment(1, rel)])
    assert mocks.resources == []


def promote(mocks: Mocks, expect: str) -> RecordingMonitor:
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="prod", preview=False, monitor=monitor)
    cfg, secret_keys = stack_config()
    cfg = {**cfg, f"{PROJECT}:promoteFrom": "organization/bizosaas-deploy/staging", f"{PROJECT}:expectRelease": expect}
    pulumi.runtime.set_all_config(cfg, secret_keys)
    return monitor


def staging_release_id() -> str:
    return release_id({n: f"ghcr.io/bizoholic-digital/bizosaas-platform/{n}@{fake_digest(n)}" for n in RAW_SERVICES})


def test_prod_refuses_a_release_other_than_the_expected_one_before_any_change(mocks: Mocks) -> None:
    from components.program import build

    monitor = promote(mocks, "r-000000000000")

    @pulumi.runtime.test
    def declare() -> Any:
        return build("prod", pulumi.Config(PROJECT), inspect=image_inspector, config_problems=[])["release_id"]

    with pytest.raises(Exception, match=rf"expectRelease: the source stack runs release {staging_release_id()}, not r-000000000000"):
        declare()
    assert [r.type for r in monitor.requests if not r.type.startswith("pulumi:")] == []  # not even the Dokploy project


def test_prod_deploys_the_expected_release(mocks: Mocks) -> None:
    from components.program import build

    monitor = promote(mocks, staging_release_id())
    got: list[Any] = []

    @pulumi.runtime.test
    def declare() -> Any:
        outputs = build("prod", pulumi.Config(PROJECT), inspect=image_inspector, config_problems=[])
        return pulumi.Output.all(outputs["release_id"], outputs["release"]).apply(got.append)

    declare()
    assert got[0][0] == staging_release_id() and got[0][1]["promoted_from"] == "organization/bizosaas-deploy/staging"
    assert {r.type for r in monitor.requests} >= {"pulumi-python:dynamic/dokploy:Project", "pulumi-python:dynamic/dokploy:ComposeProject"}


def test_a_pin_written_before_releases_were_recorded_still_deploys_its_digests(mocks: Mocks) -> None:
    import json

    from components.program import build

    old = recorded_release("-old")
    pulumi.runtime.set_config(f"{PROJECT}:pinnedRelease", json.dumps(old["manifest"]))  # the object an older deployctl wrote
    got: list[Any] = []

    @pulumi.runtime.test
    def declare() -> Any:
        outputs = build("staging", pulumi.Config(PROJECT), inspect=image_inspector, config_problems=[], history=lambda s: [])
        return pulumi.Output.all(outputs["release_id"], outputs["compose"]).apply(got.append)

    declare()
    assert got[0][0] == old["id"] and got[0][1]["backend"] == old["compose"]["backend"]["text"]
    assert not [r for r in mocks.resources if r.typ.startswith("docker:")]  # as before: nothing declared to push
