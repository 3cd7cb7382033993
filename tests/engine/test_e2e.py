"""The main job end to end through the real engine, Docker Engine, registry and Dokploy stand-in: ship, no-op, one-image
change, promotion and rollback. The faults of a real run are in test_e2e_faults.py, in a world of their own.

The tests of this module share one world (tests/engine/e2e_world.py: a staging-like stack and its prod) and run in order.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pulumi
import pytest
import yaml
from pulumi import automation as auto

from deployctl import engine, ledger
from deployctl.operations import rollback, unpin, up
from testkit import images
from tests.engine.e2e_world import RAW, ROOT, World, changes, open_world, registry_bytes
from tests.engine_helpers import registry_digest

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(tmp_path_factory.mktemp("e2e"), deployed=False) as w:  # the first test ships it
        yield w


def test_up_ships_14_healthy_services_pinned_by_digest(world: World) -> None:
    result, _ = up(world.stack, quiet=True)
    out = {k: v.value for k, v in result.outputs.items()}
    assert out["verified"] is True
    assert len(out["release_manifest"]) == 14
    repo = f"{world.registry}/brain-api"
    assert out["release_manifest"]["brain-api"] == f"{repo}@{registry_digest(repo, world.stack)}"
    assert len(world.project_containers(world.stack)) == 14
    assert {s: world.health(s) for s in RAW["services"]} == dict.fromkeys(RAW["services"], 200)
    backend = yaml.safe_load(out["compose"]["backend"])
    assert backend["services"]["brain-api"]["image"] == out["release_manifest"]["brain-api"]
    assert [(r.id, r.status) for r in ledger.releases(world.stack)] == [(out["release_id"], "verified")]  # recorded by `up` itself
    assert out["release"]["compose"]["backend"]["text"] == out["compose"]["backend"]


def test_second_up_changes_nothing_pushes_nothing_and_writes_nothing(world: World) -> None:
    before = registry_bytes(world)
    world.srv.reset_calls()
    result, _ = up(world.stack, quiet=True)
    assert changes(result) == {}
    assert world.srv.write_calls == 0, world.srv.calls
    assert registry_bytes(world) == before
    assert len(ledger.releases(world.stack)) == 1


def test_one_changed_image_pushes_one_and_redeploys_one_project(world: World) -> None:
    old = engine.stack(world.stack).outputs()["release_manifest"].value
    images.build_catalog_images(world.raw, variant="v2", only=["brain-api"])
    world.srv.reset_calls()
    result, _ = up(world.stack, quiet=True)
    manifest = result.outputs["release_manifest"].value
    assert [s for s in manifest if manifest[s] != old[s]] == ["brain-api"]
    deploys = [c for c in world.srv.calls if c[1] in ("compose.deploy", "compose.redeploy")]
    assert len(deploys) == 1, world.srv.calls
    assert changes(result) == {"replace": 3, "update": 2}, changes(result)  # test + tag + push replaced, release record and backend updated
    assert world.health("brain-api") == 200
    assert len(ledger.releases(world.stack)) == 2


def test_prod_promotes_the_verified_release_without_pushing(world: World) -> None:
    source = f"organization/bizosaas-deploy/{world.stack}"
    expect = engine.stack(world.stack).outputs()["release_id"].value  # what the promote workflow sets from the approved run
    # a promoted stack protects its Dokploy resources by default; this test stack is destroyed at the end
    promote = {"bizosaas-deploy:promoteFrom": source, "bizosaas-deploy:expectRelease": expect, "bizosaas-deploy:protect": False}
    world.init(world.prod, "local-prod.yaml", world.config(world.prod, world.prod, world.offset + 100, **promote))
    before = registry_bytes(world)
    result, _ = up(world.prod, quiet=True)
    staging = engine.stack(world.stack).outputs()
    assert result.outputs["release_manifest"].value == staging["release_manifest"].value
    assert result.outputs["verified"].value is True
    assert registry_bytes(world) == before
    types = {r["type"] for r in engine.stack(world.prod).export_stack().deployment["resources"]}
    assert not any(t.startswith("docker:") for t in types), types
    assert world.health("brain-api", prod=True) == 200
    assert result.outputs["release"].value["promoted_from"] == source


def _fake_release_stack(name: str, manifest: dict[str, str], verified: bool) -> None:
    def program() -> None:
        pulumi.export("release_manifest", manifest)
        pulumi.export("verified", verified)

    engine.stack(name, program=program).up(color="never")


def test_prod_refuses_an_unverified_release_and_a_digest_not_in_the_registry(world: World) -> None:
    manifest = engine.stack(world.stack).outputs()["release_manifest"].value
    prod = engine.stack(world.prod)
    try:
        prod.set_config("bizosaas-deploy:expectRelease", auto.ConfigValue("r-000000000000"))
        with pytest.raises(auto.errors.CommandError, match=r"expectRelease: the source stack runs release r-\w{12}, not r-000000000000"):
            prod.preview(color="never")
        prod.remove_config("bizosaas-deploy:expectRelease")
        _fake_release_stack(f"{world.stack}-unverified", manifest, verified=False)
        prod.set_config("bizosaas-deploy:promoteFrom", auto.ConfigValue(f"organization/bizosaas-deploy/{world.stack}-unverified"))
        with pytest.raises(auto.errors.CommandError, match="was not verified healthy; refusing to promote it"):
            prod.preview(color="never")
        missing = {**manifest, "brain-api": manifest["brain-api"].split("@")[0] + "@sha256:" + "0" * 64}
        _fake_release_stack(f"{world.stack}-missing", missing, verified=True)
        prod.set_config("bizosaas-deploy:promoteFrom", auto.ConfigValue(f"organization/bizosaas-deploy/{world.stack}-missing"))
        with pytest.raises(auto.errors.CommandError, match=r"brain-api: .*@sha256:0{64} is not in the registry"):
            prod.preview(color="never")
    finally:
        prod.set_config("bizosaas-deploy:promoteFrom", auto.ConfigValue(f"organization/bizosaas-deploy/{world.stack}"))
        for name in (f"{world.stack}-unverified", f"{world.stack}-missing"):
            engine.stack(name, program=lambda: None).destroy(color="never")
            (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)


def test_rollback_to_the_previous_release_redeploys_one_project_and_pushes_nothing(world: World) -> None:
    current, first = ledger.releases(world.stack)  # newest first: brain-api v2, then the first release
    recorded = first.last.release or {}
    before = registry_bytes(world)
    world.srv.reset_calls()
    result, elapsed, row = rollback(world.stack, "previous", quiet=True)
    assert row.release_id == first.id
    assert result.outputs["release_id"].value == first.id and result.outputs["release"].value["pinned"] == first.id
    deploys = [c for c in world.srv.calls if c[1] in ("compose.deploy", "compose.redeploy")]
    assert len(deploys) == 1
    assert registry_bytes(world) == before
    running = subprocess.run(
        ["docker", "inspect", "-f", "{{.Config.Image}}", f"bizosaas-brain-{world.stack}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert running == recorded["manifest"]["brain-api"]
    resources = engine.stack(world.stack).export_stack().deployment["resources"]
    composes = {r["outputs"]["compose_name"]: r["outputs"]["compose_sha256"] for r in resources if r["type"].endswith("ComposeProject")}
    assert composes == {g: c["sha256"] for g, c in recorded["compose"].items()}  # the compose projects as recorded
    print(f"rollback took {elapsed:.1f}s")
    unpin(world.stack)
    result, _ = up(world.stack, quiet=True)  # back to the freshly pushed images (brain-api v2)
    assert result.outputs["release_id"].value == current.id == ledger.releases(world.stack)[0].id
