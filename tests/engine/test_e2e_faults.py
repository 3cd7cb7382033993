"""The faults of a real run, end to end through the real engine, Docker Engine, registry and Dokploy stand-in: an image
that fails its health check, Dokploy killed mid-deploy, two ups at once, a registry that refuses the push. Each leaves
state that the next plain up converges from.

The tests of this module share one world (tests/engine/e2e_world.py), deployed and verified before the first, and run in
order; test_e2e.py's happy path runs beside it in a world of its own.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from deployctl import engine, ledger
from deployctl.operations import EngineFailed, up
from testkit import images, ports
from tests.engine.e2e_world import RAW, ROOT, World, changes, open_world, start_registry

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with open_world(tmp_path_factory.mktemp("e2e-faults"), deployed=True) as w:
        yield w


def test_unhealthy_service_fails_up_restores_previous_compose_and_next_up_converges(world: World) -> None:
    good = engine.stack(world.stack).outputs()["release_id"].value
    broken_dir = world.tmp / "broken"
    broken_dir.mkdir()
    images.write_context(broken_dir, "brain-api", 8001, "/not-the-health-path", "broken")
    subprocess.run(
        ["docker", "build", "-q", "-t", world.raw["services"]["brain-api"]["local_image"], str(broken_dir)],
        check=True,
        capture_output=True,
        env={"DOCKER_BUILDKIT": "0", "PATH": os.environ["PATH"]},
    )
    entries = len(ledger.releases(world.stack))
    st = engine.stack(world.stack)
    # the pre-push test gate would stop this image before any push (tests/engine/test_gate.py): this test is about an
    # image that reaches Dokploy and fails there, so the gate is off for this one up
    st.set_config("bizosaas-deploy:testGate", auto.ConfigValue("false"))
    try:
        with pytest.raises(EngineFailed) as err:
            up(world.stack, quiet=True)
    finally:
        st.remove_config("bizosaas-deploy:testGate")
    text = str(err.value)
    # verification reads Dokploy's API: the container never turns healthy (its health path is not served)
    assert f"brain-api: expected healthy; saw bizosaas-brain-{world.stack} running" in text
    listed = ledger.releases(world.stack)
    assert len(listed) == entries + 1 and listed[0].status == "failed"  # recorded as failed: `previous` skips it
    assert world.health("brain-api") == 200  # rolled back to the last good compose file
    assert engine.stack(world.stack).outputs()["release_id"].value == good
    images.build_catalog_images(world.raw, variant="v2", only=["brain-api"])
    result, _ = up(world.stack, quiet=True)
    assert result.outputs["verified"].value is True


def test_dokploy_killed_mid_deploy_fails_clearly_and_next_up_converges(world: World) -> None:
    images.build_catalog_images(world.raw, variant="v3", only=["brain-api"])

    def kill_when_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(d["status"] == "running" for d in world.srv.state.snapshot()["deployments"]):
                world.srv.stop()
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_running)
    killer.start()
    st = engine.stack(world.stack)
    st.set_config("bizosaas-deploy:dokployUnreachableTimeout", auto.ConfigValue("10"))  # how long it waits for a Dokploy that is gone
    try:
        with pytest.raises(EngineFailed) as err:
            up(world.stack, quiet=True)
    finally:
        killer.join()
        st.remove_config("bizosaas-deploy:dokployUnreachableTimeout")
    assert "backend" in str(err.value)
    assert f"Dokploy at {world.srv.base_url} did not answer for 10s while waiting for the update deploy" in str(err.value)
    world.srv = world.new_server()  # Dokploy restarts: a deployment left running is now cancelled
    result, _ = up(world.stack, quiet=True)
    assert result.outputs["verified"].value is True
    assert world.health("brain-api") == 200


def test_two_ups_at_once_one_waits_on_the_lock_and_state_stays_consistent(world: World) -> None:
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(up(world.stack, quiet=True)[0])
        except EngineFailed as exc:
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []  # the second waited for the first's lock
    again, _ = up(world.stack, quiet=True)
    assert changes(again) == {}


def test_registry_refusing_a_push_fails_before_any_deploy_and_next_up_converges(world: World, tmp_path: Path) -> None:
    port = ports.free_port()
    data = tmp_path / "ro-registry"
    data.mkdir()
    reg = start_registry(port, data, readonly=True)
    name = f"{world.stack}-ro"
    kept = ("brain-api", "thrillring-gaming")  # one service per compose project (a project left empty is refused)
    only_brain: dict[str, Any] = {n: {"enabled": False} for n in RAW["services"] if n not in kept}
    only_brain.update({n: {"published": ports.free_port(), "local_image": world.raw["services"][n]["local_image"]} for n in kept})
    config = world.config(
        name,
        name,
        0,
        **{"bizosaas-deploy:registry": f"127.0.0.1:{port}/bizoholic-digital/bizosaas-platform", "bizosaas-deploy:services": only_brain},
    )
    world.init(name, "local.yaml", config)
    try:
        world.srv.reset_calls()
        with pytest.raises(EngineFailed) as err:
            up(name, quiet=True)
        assert f"127.0.0.1:{port}" in str(err.value)
        assert not [c for c in world.srv.calls if c[1] in ("compose.deploy", "compose.redeploy")]
        assert ledger.releases(name) == []
        reg.terminate()
        reg.wait()
        reg = start_registry(port, data, readonly=False)
        result, _ = up(name, quiet=True)
        assert result.outputs["verified"].value is True
    finally:
        engine.stack(name).destroy(color="never")
        (ROOT / f"Pulumi.{name}.yaml").unlink(missing_ok=True)
        reg.terminate()
