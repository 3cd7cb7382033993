"""Releases recorded by `pulumi up` itself, in a team state backend on a real S3-compatible server
(versitygw on loopback): the real program, engine, Docker Engine, registry and Dokploy stand-in.

One world, in order: two verified releases, a deliberately failed deploy, `deployctl releases`
listing all three from the bucket, `rollback --release previous` landing on the last verified
release (its recorded compose hashes, 0 bytes pushed, the image resources kept), a damaged record
skipped with a warning, unpin. Then the store under concurrency: two stacks and two updates of one
stack recording at the same time, and previews that never take (or leave) the stack lock.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import requests
import yaml
from pulumi import automation as auto

from components.release_record import ReleaseRecord, ReleaseRecordArgs
from core import ledger
from deployctl import engine, local_stack, operations
from probes import state_backend
from testkit import images, ports, s3
from testkit.dokploy import FakeDokploy
from testkit.registry_stats import stored_bytes
from tests.engine_helpers import REGISTRY, remove_stack, tiny_project

pytestmark = pytest.mark.engine
ROOT = engine.PROJECT_DIR
RAW = yaml.safe_load((ROOT / "catalog.yaml").read_text())
ENABLED = ("brain-api", "thrillring-gaming")  # one per compose project; the frontend links only to brain-api
ENV_KEYS = ("PULUMI_BACKEND_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")


def free_port() -> int:
    return ports.free_port()


class World:
    """A bucket as the team's state backend, a Dokploy stand-in and one stack of the real program with two services."""

    def __init__(self, tmp: Path, server: s3.Server) -> None:
        self.server = server
        self.run = secrets.token_hex(3)
        self.stack = f"test-{self.run}-s3"
        self.bucket = f"bizosaas.releases-{self.run}"  # a dot, as AWS-style names have: the engine writes, botocore reads
        self.key = secrets.token_hex(16)
        self.repo_prefix = f"s3test-{self.run}"
        self.ports = {n: free_port() for n in ENABLED}
        self.srv = FakeDokploy(api_keys={self.key}, docker=True, work_dir=tmp / "dokploy", port=free_port(), latency=0)

    def local_image(self, name: str) -> str:
        return f"bizosaas-s3test-{self.run}-{name}:latest"

    def build(self, name: str, variant: str, health: str | None = None) -> None:
        spec = RAW["services"][name]
        images.build_image(self.local_image(name), name, int(spec["port"]), health or spec["health"], variant)

    def config(self) -> dict[str, Any]:
        services: dict[str, Any] = {n: {"enabled": False} for n in RAW["services"] if n not in ENABLED}
        services.update({n: {"published": self.ports[n], "local_image": self.local_image(n)} for n in ENABLED})
        return {
            "bizosaas-deploy:registry": f"{REGISTRY}/{self.repo_prefix}",
            "bizosaas-deploy:tag": self.stack,
            "bizosaas-deploy:containerSuffix": self.stack,
            "bizosaas-deploy:dokployUrl": self.srv.base_url,
            "bizosaas-deploy:dokployProject": f"bizosaas-{self.stack}",
            "bizosaas-deploy:services": services,
            "bizosaas-deploy:healthTimeout": 15,
            "bizosaas-deploy:deployTimeout": 90,
            "bizosaas-deploy:rollbackOnFailure": False,  # a failed deploy stays deployed: the rollback must replace it
            "bizosaas-deploy:routes": {"enabled": False},
        }

    def pushed_bytes(self) -> int:
        return stored_bytes(REGISTRY, prefix=self.repo_prefix)

    def running_image(self, name: str) -> str:
        container = f"{RAW['services'][name]['container_name']}-{self.stack}"
        out = subprocess.run(["docker", "inspect", "-f", "{{.Config.Image}}", container], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def health(self, name: str) -> int:
        try:
            return requests.get(f"http://127.0.0.1:{self.ports[name]}{RAW['services'][name]['health']}", timeout=3).status_code
        except requests.ConnectionError:
            return 0

    def state(self) -> list[dict[str, Any]]:
        """The stack's resources (not the ones a failed update left pending deletion)."""
        return [r for r in engine.stack(self.stack).export_stack().deployment["resources"] if not r.get("delete")]

    def deployctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deployctl", *args, "--stack", self.stack],
            cwd=ROOT,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )


@pytest.fixture(scope="module")
def world(server: s3.Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("s3releases"), server)
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    server.create_bucket(w.bucket)
    os.environ.update({"PULUMI_BACKEND_URL": server.backend_url(w.bucket), **server.env()})
    w.srv.start()
    for name in ENABLED:
        w.build(name, "v1")
    st = local_stack.init_from(w.stack, ROOT / "stacks" / "local.yaml", extra=w.config())
    st.set_config("bizosaas-deploy:dokployApiKey", auto.ConfigValue(w.key, secret=True))
    try:
        yield w
    finally:
        remove_stack(w.stack)
        w.srv.stop()
        images.remove_containers(w.stack)
        subprocess.run(["docker", "rmi", "-f", *(w.local_image(n) for n in ENABLED)], capture_output=True, check=False)
        server.delete_bucket(w.bucket)
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def history(world: World) -> list[ledger.Deployment]:
    backend = state_backend.open_backend(world.server.backend_url(world.bucket))
    return state_backend.read_deployments(backend, "bizosaas-deploy", world.stack, print)


def test_a_plain_pulumi_up_records_its_release_in_the_bucket(world: World) -> None:
    result = engine.stack(world.stack).up(color="never")  # the Automation API's `pulumi up`: nothing around it records anything
    out = {k: v.value for k, v in result.outputs.items()}
    assert out["verified"] is True and out["release"]["verified"] is True and out["release"]["id"] == out["release_id"]
    (row,) = history(world)
    assert (row.release_id, row.status, row.update) == (out["release_id"], "verified", 1)
    assert row.release["compose"]["backend"]["text"] == out["compose"]["backend"]  # type: ignore[index]
    keys = world.server.list_keys(world.bucket, f".pulumi/history/bizosaas-deploy/{world.stack}/")
    assert len([k for k in keys if k.endswith(".checkpoint.json")]) == 1, keys


def test_the_standard_cli_records_the_next_release_and_deployctl_lists_both(world: World) -> None:
    world.build("brain-api", "v2")
    env = {**os.environ, "PATH": os.pathsep.join([str(engine.STANDINS_BIN), str(engine.TOOLS_BIN), os.environ.get("PATH", "")])}
    cli = subprocess.run(
        ["pulumi", "up", "--yes", "--non-interactive", "--stack", world.stack, "--color", "never"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert cli.returncode == 0, cli.stdout[-3000:] + cli.stderr[-3000:]
    rows = history(world)
    assert [r.status for r in rows] == ["verified", "verified"] and rows[0].release_id != rows[1].release_id
    listed = world.deployctl("releases")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [[rows[1].release_id, "verified"], [rows[0].release_id, "verified"]], listed.stdout
    assert "by " in lines[0] and "commit " in lines[0] and "update 2" in lines[0]


def test_a_deliberately_failed_deploy_is_recorded_as_failed(world: World) -> None:
    world.build("brain-api", "broken", health="/not-the-health-path")
    st = engine.stack(world.stack)
    # the pre-push test gate would stop this image before its push (tests/engine/test_gate.py): this failure must reach Dokploy
    st.set_config("bizosaas-deploy:testGate", auto.ConfigValue("false"))
    try:
        with pytest.raises(operations.EngineFailed) as failed:
            operations.up(world.stack, quiet=True)
    finally:
        st.remove_config("bizosaas-deploy:testGate")
    assert "brain-api: expected healthy; saw " in str(failed.value)  # verification, through Dokploy's API
    rows = history(world)
    assert [r.status for r in rows] == ["verified", "verified", "failed"]
    assert rows[2].release_id not in ("", rows[1].release_id)  # the release it attempted, from its ReleaseRecord
    assert world.health("brain-api") != 200  # rollbackOnFailure is off: the broken release runs
    lines = world.deployctl("releases").stdout.splitlines()
    assert lines[0].split()[:2] == [rows[2].release_id, "failed"]


def test_rollback_to_previous_lands_on_the_last_verified_release_as_recorded_and_pushes_nothing(world: World) -> None:
    good = history(world)[1]  # the last verified release (the broken one runs now)
    recorded = {g: c["sha256"] for g, c in good.release["compose"].items()}  # type: ignore[union-attr]
    images_before = {r["urn"]: r.get("created") for r in world.state() if r["type"].startswith("docker:index/")}
    before = world.pushed_bytes()

    row = operations.pin(world.stack, "previous")
    assert row.release_id == good.release_id
    lines: list[str] = []
    engine.stack(world.stack).preview(color="never", refresh=True, diff=True, on_output=lines.append)
    preview = "\n".join(lines)  # what `pulumi preview --refresh --diff` of the pinned stack says
    assert re.search(rf'\+ pinned\s+: "{good.release_id}"', preview), preview
    assert re.search(rf'~ release_id\s+: "r-[0-9a-f]{{12}}" => "{good.release_id}"', preview), preview
    changed = re.findall(r"^\s*[~+-]+ (\S+): \((update|replace|create|delete|create-replacement|delete-replaced)\)$", preview, re.M)
    assert sorted(changed) == [
        ("pulumi-python:dynamic/dokploy:ComposeProject", "update"),  # back to the recorded compose text
        ("pulumi-python:dynamic/releases:ReleaseRecord", "update"),  # release_id and pinned
    ]  # the images: unchanged

    result, _ = operations.up(world.stack, quiet=True, refresh=True)
    out = {k: v.value for k, v in result.outputs.items()}
    assert out["release_id"] == good.release_id and out["verified"] is True and out["release"]["pinned"] == good.release_id
    assert world.pushed_bytes() == before  # 0 bytes pushed
    composes = {r["outputs"]["compose_name"]: r["outputs"]["compose_sha256"] for r in world.state() if r["type"].endswith("ComposeProject")}
    assert composes == recorded
    assert world.running_image("brain-api") == good.release["manifest"]["brain-api"]  # type: ignore[index]
    assert world.health("brain-api") == 200
    after = {r["urn"]: r.get("created") for r in world.state() if r["type"].startswith("docker:index/")}
    assert after == images_before  # the image resources stayed, untouched
    listed = world.deployctl("releases").stdout.splitlines()
    assert listed[0].split()[:2] == [good.release_id, "verified"] and "deployed 2 times" in listed[0] and "(pinned)" in listed[0]


def test_a_damaged_record_is_skipped_with_a_warning(world: World) -> None:
    prefix = f".pulumi/history/bizosaas-deploy/{world.stack}/"
    first = sorted((k for k in world.server.list_keys(world.bucket, prefix) if k.endswith(".history.json")), key=ledger.update_sort_key)[0]
    original = world.server.get(world.bucket, first)
    world.server.put(world.bucket, first, original[: len(original) // 2])  # a half-written record
    try:
        listed = world.deployctl("releases")
        assert listed.returncode == 0, listed.stderr
        assert f"deployctl: warning: skipped update 1 ({first}): its history record is damaged" in listed.stderr
        assert len(listed.stdout.splitlines()) == 2  # the release only update 1 recorded is gone; the others are listed
    finally:
        world.server.put(world.bucket, first, original)


def test_unpin_returns_to_fresh_images_without_recreating_the_image_resources(world: World) -> None:
    images_before = {r["urn"]: r.get("created") for r in world.state() if r["type"].startswith("docker:index/")}
    operations.unpin(world.stack)
    assert "pinnedRelease" not in (ROOT / f"Pulumi.{world.stack}.yaml").read_text()
    world.build("brain-api", "v3")
    result, _ = operations.up(world.stack, quiet=True)
    assert result.outputs["verified"].value is True and result.outputs["release"].value["pinned"] == ""
    after = {r["urn"]: r.get("created") for r in world.state() if r["type"].startswith("docker:index/")}
    assert set(after) == set(images_before)
    assert world.running_image("brain-api") == result.outputs["release_manifest"].value["brain-api"]


# --- the store under concurrency: tiny programs that record a release the way the program does ---------------


PROJECT = "s3releases"


def release_program(stack: str, n: int, hold_until: str = "") -> Callable[[], None]:
    def run() -> None:
        digest = f"sha256:{n:064x}"
        text = f"services:\n  brain-api:\n    image: r/brain-api@{digest}\n"
        rec = ledger.record(stack=stack, manifest={"brain-api": f"r/brain-api@{digest}"}, compose={"backend": {"text": text}})
        ReleaseRecord("release", ReleaseRecordArgs(stack, rec["id"], rec["manifest"], {"backend": rec["compose"]["backend"]["sha256"]}))
        if hold_until:  # keep the update (and the stack lock) open until the file exists
            deadline = time.monotonic() + 90
            while not Path(hold_until).exists() and time.monotonic() < deadline:
                time.sleep(0.2)
        pulumi.export("release", {**rec, "verified": True})

    return run


def record_in_subprocess(work_dir: str, stack: str, n: int, hold_until: str) -> None:
    """`python -c` entry point: one update in its own process (waiting for the stack lock as deployctl does)."""
    st = engine.stack(stack, program=release_program(stack, n, hold_until), work_dir=Path(work_dir))
    operations.run(st.up, None, color="never")


def start(work: Path, stack: str, n: int, hold_until: Path | str = "") -> subprocess.Popen[str]:
    code = f"from {__name__} import record_in_subprocess; record_in_subprocess(*{(str(work), stack, n, str(hold_until))!r})"
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


class _Output:
    """A process's whole output, read line by line in a thread as it comes; ``seen`` is set once a line contains ``wanted``
    (or the output ended)."""

    def __init__(self, proc: subprocess.Popen[str], wanted: str) -> None:
        self.lines: list[str] = []
        self.seen = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(proc, wanted), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen[str], wanted: str) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)
            if wanted in line:
                self.seen.set()
        self.seen.set()

    def text(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def bucket(server: s3.Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"state-{secrets.token_hex(4)}"
    server.create_bucket(name)
    monkeypatch.setenv("PULUMI_BACKEND_URL", server.backend_url(name))
    monkeypatch.setenv("BIZOSAAS_LOCK_WAIT", "120")
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    yield name
    server.delete_bucket(name)


def releases_of(server: s3.Server, bucket: str, stack: str) -> list[str]:
    backend = state_backend.open_backend(server.backend_url(bucket))
    return [r.release_id for r in state_backend.read_deployments(backend, PROJECT, stack, print)]


def test_two_stacks_recording_at_once_both_survive(server: s3.Server, bucket: str, tmp_path: Path) -> None:
    work = tiny_project(tmp_path, PROJECT)
    for stack in ("staging", "prod"):
        engine.stack(stack, program=lambda: None, work_dir=work)
    procs = [start(work, "staging", 1), start(work, "prod", 2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(releases_of(server, bucket, "staging")) == 1 and len(releases_of(server, bucket, "prod")) == 1
    assert releases_of(server, bucket, "staging") != releases_of(server, bucket, "prod")


def test_two_updates_of_one_stack_at_once_wait_for_the_lock_and_both_are_recorded(server: s3.Server, bucket: str, tmp_path: Path) -> None:
    work = tiny_project(tmp_path, PROJECT)
    engine.stack("team", program=lambda: None, work_dir=work)
    release = tmp_path / "release"
    first = start(work, "team", 1, release)
    deadline = time.monotonic() + 60
    while not server.list_keys(bucket, f".pulumi/locks/organization/{PROJECT}/team/") and time.monotonic() < deadline:
        time.sleep(0.2)
    second = start(work, "team", 2)
    # the first holds the lock until the second has been refused by it (not a sleep: under load the second's engine can
    # take longer to start than any fixed wait, and would then find the lock already released); 120 s at most, so a
    # second that never meets the lock fails the assertion below instead of hanging
    second_out = _Output(second, "the stack is locked by another update; trying again")
    second_out.seen.wait(120)
    assert second.poll() is None, second_out.text()  # waiting for the lock, not failed
    release.touch()
    outs = [first.communicate(timeout=300)[0]]
    second.wait(timeout=300)
    second_out.thread.join(30)
    outs.append(second_out.text())
    assert [first.returncode, second.returncode] == [0, 0], outs
    assert "the stack is locked by another update; trying again" in outs[1]
    assert len(set(releases_of(server, bucket, "team"))) == 2
    assert server.list_keys(bucket, ".pulumi/locks/") == []


def test_a_preview_takes_no_lock_runs_beside_an_update_and_a_killed_one_leaves_none(server: s3.Server, bucket: str, tmp_path: Path) -> None:
    work = tiny_project(tmp_path, PROJECT)
    st = engine.stack("team", program=release_program("team", 1), work_dir=work)
    st.up(color="never")
    release = tmp_path / "release"
    holder = start(work, "team", 2, release)
    try:
        deadline = time.monotonic() + 60
        locks: list[str] = []
        while not locks and time.monotonic() < deadline:
            locks = server.list_keys(bucket, f".pulumi/locks/organization/{PROJECT}/team/")
            time.sleep(0.2)
        assert len(locks) == 1
        preview = st.preview(color="never", program=release_program("team", 3))  # while the update holds the lock
        assert preview.change_summary.get("update") == 1
        assert server.list_keys(bucket, ".pulumi/locks/") == locks  # the preview took none
        code = f"from {__name__} import preview_forever; preview_forever({str(work)!r})"
        killed = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        time.sleep(8)
        os.killpg(killed.pid, signal.SIGKILL)  # a cancelled CI job: no chance to clean up (the CLI with it)
        killed.wait(timeout=30)
        assert server.list_keys(bucket, ".pulumi/locks/") == locks
    finally:
        release.touch()
        holder.communicate(timeout=300)
    assert server.list_keys(bucket, ".pulumi/locks/") == []


def preview_forever(work_dir: str) -> None:
    """`python -c` entry point: a preview whose program never finishes (killed by the test)."""

    def program() -> None:
        time.sleep(600)

    engine.stack("team", program=program, work_dir=Path(work_dir)).preview(color="never")


def test_records_are_plain_json_a_teammate_reads_without_deployctl(server: s3.Server, bucket: str, tmp_path: Path) -> None:
    work = tiny_project(tmp_path, PROJECT)
    engine.stack("team", program=release_program("team", 7), work_dir=work).up(color="never")
    keys = server.list_keys(bucket, f".pulumi/history/{PROJECT}/team/")
    (checkpoint,) = [k for k in keys if k.endswith(".checkpoint.json")]
    doc = json.loads(server.get(bucket, checkpoint))
    root = next(r for r in doc["checkpoint"]["latest"]["resources"] if r["type"] == "pulumi:pulumi:Stack")
    assert root["outputs"]["release"]["id"] == releases_of(server, bucket, "team")[0]
