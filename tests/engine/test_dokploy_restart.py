"""Dokploy restarting, losing its database or staying away during a real `pulumi up` (the real engine, the real
program, a Dokploy stand-in that deploys with Docker and restarts like Dokploy v0.30.2's container).

One world for the module: one stand-in (a development build, the one the issue measured: a deployment lost in a
restart stays ``running`` forever; as slow as a measured Dokploy), two tiny images, one stack with two compose
projects (backend, and extra: the one a test deletes) from a small catalog whose healthcheck runs every second. Each test changes the
backend's env (``DEPLOY_REV``) so that one `up` deploys one compose project, turns a fault on at the right moment
(``faults.at``), and checks that the `up` in flight fails within seconds (never the 120 s deploy timeout) saying what
happened, and that the next plain `up` converges and verifies. A restart during verification or during a delete does
not make the release or the delete wrong: that `up` goes on once Dokploy answers, and succeeds.
Each test prints the time from the fault to the failure.
"""

from __future__ import annotations

import copy
import secrets
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from components.program import CATALOG_ENV
from deployctl import ledger
from deployctl.operations import EngineFailed, up
from testkit import images
from testkit.dokploy import FakeDokploy
from tests.engine_helpers import NS, ROOT, StackFiles, free_ports, remove_stack, sh

pytestmark = pytest.mark.engine
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
GROUPS = {"brain-api": "backend", "business-directory-backend": "extra"}
DEPLOY_TIMEOUT = 120


class World(StackFiles):
    """The stand-in, the images, the small catalog and the one stack of this module."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run = secrets.token_hex(3)
        self.key = secrets.token_hex(16)
        self.srv = FakeDokploy(api_keys={self.key}, docker=True, work_dir=tmp / "dokploy", state_file=tmp / "dokploy.json",
                               latency="dokploy", node_env="development")
        self.srv.start()
        self.registry = f"127.0.0.1:5000/restart-{self.run}"
        self.stacks: list[str] = []
        self.catalog = tmp / "catalog.yaml"
        self.write_catalog(GROUPS)
        self.images = {name: self.build(name) for name in GROUPS}
        self.stack = f"rs{self.run}"
        self.rev = 1
        ports = free_ports(len(GROUPS))
        services = {name: {"published": port, "local_image": self.images[name]} for name, port in zip(GROUPS, ports, strict=True)}
        config = self.config(self.stack, services, {"healthTimeout": 60, "stabilityWindow": 1, "deployTimeout": DEPLOY_TIMEOUT})
        config[f"{NS}:env"] = {**config[f"{NS}:env"], "DEPLOY_REV": "1"}
        self.init(self.stack, config)

    def write_catalog(self, groups: dict[str, str]) -> None:
        """The catalog the program reads (BIZOSAAS_CATALOG): these services in these groups, a healthcheck every second,
        the backend reading DEPLOY_REV from the stack."""
        raw = copy.deepcopy(RAW)
        raw["defaults"]["healthcheck"] = {**raw["defaults"]["healthcheck"], "interval": "1s"}
        raw["groups"] = {g: {"description": f"restart test {g}"} for g in sorted(set(groups.values()))}
        raw["services"] = {name: {**RAW["services"][name], "group": group} for name, group in groups.items()}
        raw["services"]["brain-api"]["env"] = {**RAW["services"]["brain-api"]["env"], "DEPLOY_REV": {"stack": "DEPLOY_REV"}}
        self.catalog.write_text(yaml.safe_dump(raw, sort_keys=False))

    def build(self, service: str) -> str:
        spec = RAW["services"][service]
        tag = f"restart-{self.run}/{service}:ok"
        images.build_image(tag, service, int(spec["port"]), spec["health"], variant=self.run)
        return tag

    def next_rev(self) -> None:
        """A new DEPLOY_REV: the next `up` deploys the backend, and only it."""
        self.rev += 1
        env = self.plain(self.stack, "env")
        self.set_plain(self.stack, "env", {**env, "DEPLOY_REV": str(self.rev)})

    def app_name(self, group: str) -> str:
        return str(next(c["appName"] for c in self.srv.state.snapshot()["composes"] if c["name"] == group))

    def deployments(self, group: str) -> list[tuple[str, str]]:
        """(title, status) of a compose project's deployments, newest first."""
        snap = self.srv.state.snapshot()
        compose_id = next(c["composeId"] for c in snap["composes"] if c["name"] == group)
        return [(d["title"], d["status"]) for d in reversed(snap["deployments"]) if d["composeId"] == compose_id]

    def detected_after(self, group: str, since: int) -> float:
        """Seconds from the fault's start to the first rollback deployment of a compose project after it: when the `up`
        had noticed the lost deployment, written the previous compose back and queued its redeploy."""
        began = time.time() - (time.monotonic() - self.fault_started(since))
        snap = self.srv.state.snapshot()
        compose_id = next(c["composeId"] for c in snap["composes"] if c["name"] == group)
        created = [datetime.fromisoformat(d["createdAt"].replace("Z", "+00:00")).timestamp() for d in snap["deployments"]
                   if d["composeId"] == compose_id and d["title"].startswith("pulumi rollback")]
        return min(t for t in created if t >= began) - began

    def fault_started(self, since: int) -> float:
        """When the first fault event after index ``since`` began (time.monotonic())."""
        return self.srv.events[since][0]

    def fails(self, since: int) -> tuple[str, float]:
        """Run `up`, expect it to fail; (its error text, seconds from the fault's start to the failure)."""
        with pytest.raises(EngineFailed) as err:
            up(self.stack, quiet=True)
        failed = time.monotonic()
        text = "\n".join(err.value.problems)
        print(f"--- the failed up said:\n{text}\n---")
        return text, failed - self.fault_started(since)

    def last_update(self) -> str:
        """The status of the stack's newest update, as the release ledger reads it from the backend's history."""
        return max((d for r in ledger.releases(self.stack) for d in r.deployments), key=lambda d: d.update).status

    def converges(self) -> auto.UpResult:
        """The next plain `up`: succeeds, verified, recorded verified."""
        result, elapsed = up(self.stack, quiet=True)
        assert result.outputs["verified"].value is True
        assert self.last_update() == "verified"
        print(f"the next plain up converged in {elapsed:.1f}s")
        return result

    def close(self) -> None:
        for stack in reversed(self.stacks):
            remove_stack(stack)
        self.srv.stop()
        images.remove_containers(self.run)
        pushed = sh("docker", "images", "-q", "--filter", f"reference={self.registry}/*").split()
        subprocess.run(["docker", "rmi", "-f", *self.images.values(), *sorted(set(pushed))], capture_output=True, check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("restart")
    (tmp / "backend").mkdir()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PULUMI_BACKEND_URL", (tmp / "backend").as_uri())
        env.setenv(CATALOG_ENV, str(tmp / "catalog.yaml"))
        w = World(tmp)
        try:
            result, elapsed = up(w.stack, quiet=True)
            assert result.outputs["verified"].value is True
            print(f"first up: {elapsed:.1f}s")
            yield w
        finally:
            w.close()


def test_a_restart_during_the_deploy_and_again_during_its_rollback_fails_at_once_and_the_next_up_converges(world: World) -> None:
    world.next_rev()
    since = len(world.srv.events)
    world.srv.faults.at("deploy", compose="backend", title="update", after=0.3, seconds=3.0)
    world.srv.faults.at("deploy", compose="backend", title="rollback", after=0.3, seconds=3.0)
    text, seconds = world.fails(since)
    app = world.app_name("backend")
    lost = f"Dokploy restarted during the deploy of compose project backend ({app}); its deployment "
    assert text.count(lost) == 2, text  # the update's deployment, then the rollback's
    assert "will not finish (the job is gone from Dokploy's deployment queue, which is kept in memory)" in text
    assert "rollback to the previous version FAILED too: Dokploy restarted during the deploy" in text
    statuses = world.deployments("backend")
    assert [s for t, s in statuses[:2]] == ["running", "running"], statuses  # a development build: lost rows stay running
    assert world.last_update() == "failed"
    print(f"restart during the deploy (and its rollback) -> rollback queued {world.detected_after('backend', since):.1f}s and the up "
          f"failed {seconds:.1f}s after the first restart began (each restart: 3 s down); deploy timeout {DEPLOY_TIMEOUT}s")
    assert seconds < 45
    world.converges()
    assert world.deployments("backend")[0][1] == "done"


def test_the_database_down_at_the_end_of_a_deploy_fails_naming_the_database_and_the_next_up_converges(world: World) -> None:
    world.next_rev()
    since = len(world.srv.events)
    world.srv.faults.at("deploy", "database_down", compose="backend", after=0.3, seconds=6.0)
    text, seconds = world.fails(since)
    app = world.app_name("backend")
    assert f"Dokploy's database went away during the deploy of compose project backend ({app}); its deployment " in text
    assert "is missing, wrong, expired or rate-limited" not in text  # the 401s were waited out, not blamed on the key
    assert "rolled back to the previous compose file and env: deployment" in text and "the previous version verified again" in text
    assert ("GET", "deployment.allByCompose", 401) in world.srv.calls
    print(f"database down for 6 s under a deploy -> rollback queued {world.detected_after('backend', since):.1f}s and the up "
          f"failed {seconds:.1f}s after it went down")
    assert seconds < 40
    world.converges()


def test_dokploy_away_longer_than_the_bound_fails_naming_the_url_and_the_wait_and_the_next_up_converges(world: World) -> None:
    world.set_plain(world.stack, "dokployUnreachableTimeout", 5)
    world.next_rev()
    since = len(world.srv.events)
    world.srv.faults.at("deploy", compose="backend", title="update", after=0.3, seconds=20.0)
    try:
        text, seconds = world.fails(since)
    finally:
        world.set_plain(world.stack, "dokployUnreachableTimeout", 180)
    app = world.app_name("backend")
    assert (f"Dokploy at {world.srv.base_url} did not answer for 5s while waiting for the update deploy of compose project "
            f"backend ({app}) (connection refused): it is down or restarting; gave up after 5s (dokployUnreachableTimeout); "
            "run `pulumi up` again once Dokploy answers") in text, text
    assert world.last_update() == "failed"  # recorded as a failed update, nothing half-done
    print(f"Dokploy down for 20 s, bound 5 s -> up failed {seconds:.1f}s after it went down")
    assert seconds < 15
    deadline = time.monotonic() + 30
    while len(world.srv.events) < since + 2 and time.monotonic() < deadline:  # until it listens again
        time.sleep(0.5)
    world.converges()


def test_a_restart_during_verification_is_waited_out_and_the_up_verifies(world: World) -> None:
    world.next_rev()
    since = len(world.srv.events)
    world.srv.faults.at("docker.getContainersByAppNameMatch", compose="backend", after=0.2, seconds=3.0)
    result, elapsed = up(world.stack, quiet=True)
    assert len(world.srv.events) >= since + 2, world.srv.events  # it did restart, while verifying
    assert result.outputs["verified"].value is True
    app = world.app_name("backend")
    assert f"compose project backend ({app}): Dokploy did not answer for " in result.stdout
    assert "verification went on once it answered, and passed" in result.stdout
    print(f"restart (3 s down) during verification -> up verified in {elapsed:.1f}s")


def test_a_restart_during_a_delete_is_finished_and_the_next_up_creates_it_again(world: World) -> None:
    app = world.app_name("extra")
    services = world.plain(world.stack, "services")
    world.write_catalog({k: v for k, v in GROUPS.items() if v != "extra"})  # the extra project goes: it is deleted
    world.set_plain(world.stack, "services", {k: v for k, v in services.items() if GROUPS[k] != "extra"})
    since = len(world.srv.events)
    world.srv.faults.at("compose.delete", compose="extra", after=0.0, seconds=3.0)
    result, elapsed = up(world.stack, quiet=True)
    assert len(world.srv.events) >= since + 2  # it did restart, during the delete
    left = sh("docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={app}")
    assert left == ""  # nothing of the deleted project is left behind
    assert "extra" not in [c["name"] for c in world.srv.state.snapshot()["composes"]]
    print(f"restart (3 s down) during the delete of extra -> up done in {elapsed:.1f}s; "
          f"{'it removed what the cut-short delete left' if 'left containers behind' in result.stdout else 'nothing was left to remove'}")
    world.write_catalog(GROUPS)
    world.set_plain(world.stack, "services", services)
    world.converges()  # the same container names again: nothing of the old project is in the way
    assert len(world.deployments("extra")) == 1
