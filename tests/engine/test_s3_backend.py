"""A team state backend on a real S3-compatible server (versitygw on loopback, scripts/start-s3.sh):
`pulumi login s3://...`, stack init, up, preview, up with a change, stack output and history, and
the stack lock, all through the real engine. What the engine wrote is listed with the S3 API."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from deployctl import engine
from testkit import s3
from tests.engine_helpers import tiny_project

pytestmark = pytest.mark.engine
PROJECT = "s3state"  # the name in the tiny project's Pulumi.yaml: the state's keys are per project


class NoteProvider(ResourceProvider):
    """Stores its inputs; create/update wait until `hold_until` exists (at most 90 s) when it is set,
    so a test can keep an update, and the stack lock with it, open."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        _hold(props)
        return CreateResult(f"note-{props['name']}", props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=olds.get("text") != news.get("text") or olds.get("hold_until") != news.get("hold_until"))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _hold(news)
        return UpdateResult(news)


def _hold(props: dict[str, Any]) -> None:
    deadline = time.monotonic() + 90
    while props.get("hold_until") and not Path(props["hold_until"]).exists() and time.monotonic() < deadline:
        time.sleep(0.2)


class Note(Resource, module="s3state", name="Note"):
    text: pulumi.Output[str]

    def __init__(self, name: str, text: str, hold_until: str = "") -> None:
        super().__init__(NoteProvider(), name, {"name": name, "text": text, "hold_until": hold_until})


def program(text: str, hold_until: str = "") -> Callable[[], None]:
    def run() -> None:
        first = Note("first", text, hold_until)
        second = Note("second", "fixed")
        pulumi.export("text", first.text)
        pulumi.export("second", second.text)

    return run


def up_in_subprocess(work_dir: str, stack_name: str, text: str, hold_until: str) -> None:
    """`python -c` entry point: one `up` in its own process (the SDK runs one inline program per process)."""
    engine.stack(stack_name, program=program(text, hold_until), work_dir=Path(work_dir)).up(color="never")


def start_up(work: Path, stack_name: str, text: str, hold_until: Path) -> subprocess.Popen[str]:
    """An `up` of the stack in another process, with the engine environment of this one."""
    code = f"from {__name__} import up_in_subprocess; up_in_subprocess(*{(str(work), stack_name, text, str(hold_until))!r})"
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=engine.PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture
def backend(server: s3.Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new bucket, and the engine pointed at it (PULUMI_BACKEND_URL plus the AWS credentials); deleted afterwards."""
    bucket = f"state-{secrets.token_hex(4)}"
    server.create_bucket(bucket)
    monkeypatch.setenv("PULUMI_BACKEND_URL", server.backend_url(bucket))
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    yield bucket
    server.delete_bucket(bucket)


def cli(args: list[str], cwd: Path, home: Path) -> str:
    """The real `pulumi` CLI with its own PULUMI_HOME (so `pulumi login` is tested, not PULUMI_BACKEND_URL)."""
    env = {k: v for k, v in os.environ.items() if k != "PULUMI_BACKEND_URL"} | {"PULUMI_HOME": str(home)}
    out = subprocess.run([str(engine.TOOLS_BIN / "pulumi"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"pulumi {' '.join(args)}: {out.stdout}{out.stderr}"
    return out.stdout


def test_stack_lifecycle_on_s3(server: s3.Server, backend: str, tmp_path: Path) -> None:
    work = tiny_project(tmp_path, PROJECT)
    stack_name = "team"
    st = engine.stack(stack_name, program=program("v1"), work_dir=work)  # stack init, in the bucket
    assert f".pulumi/stacks/{PROJECT}/{stack_name}.json" in server.list_keys(backend, ".pulumi/stacks/")

    up = st.up(color="never")
    assert up.summary.result == "succeeded" and up.outputs["text"].value == "v1"
    preview = st.preview(color="never")
    assert set(preview.change_summary) == {"same"}, preview.change_summary
    changed = st.up(color="never", program=program("v2"))
    assert changed.summary.resource_changes == {"same": 2, "update": 1}, changed.summary.resource_changes
    assert {k: v.value for k, v in st.outputs().items()} == {"text": "v2", "second": "fixed"}

    # what a teammate sees after `pulumi login s3://...`
    home = tmp_path / "pulumi-home"
    cli(["login", server.backend_url(backend)], work, home)
    assert server.backend_url(backend) in cli(["whoami", "--verbose"], work, home)
    assert json.loads(cli(["stack", "output", "--json", "--stack", stack_name], work, home)) == {"text": "v2", "second": "fixed"}
    history = json.loads(cli(["stack", "history", "--json", "--stack", stack_name], work, home))
    assert [(h["kind"], h["result"]) for h in history] == [("update", "succeeded")] * 2
    assert [(h.kind, h.result) for h in st.history() or []] == [("update", "succeeded")] * 2

    # the objects behind it, listed with the S3 API
    keys = server.list_keys(backend)
    prefix = f".pulumi/history/{PROJECT}/{stack_name}/{stack_name}-"
    records = sorted(k for k in keys if k.startswith(prefix) and k.endswith(".history.json"))
    assert len(records) == 2 and len([k for k in keys if k.startswith(prefix) and k.endswith(".checkpoint.json")]) == 2, keys
    assert [json.loads(server.get(backend, k))["result"] for k in records] == ["succeeded"] * 2
    checkpoint = json.loads(server.get(backend, f".pulumi/stacks/{PROJECT}/{stack_name}.json"))
    resources = checkpoint["checkpoint"]["latest"]["resources"]
    texts = {r["urn"].rsplit("::", 1)[1]: r["outputs"].get("text") for r in resources if "outputs" in r}
    assert texts.get("first") == "v2" and texts.get("second") == "fixed", texts
    assert not [k for k in keys if k.startswith(".pulumi/locks/")], keys  # every lock released


def test_a_second_up_fails_on_the_lock_while_the_first_holds_it(server: s3.Server, backend: str, tmp_path: Path) -> None:
    work = tiny_project(tmp_path, PROJECT)
    stack_name = "locked"
    st = engine.stack(stack_name, program=program("v1"), work_dir=work)
    st.up(color="never")

    release = tmp_path / "release"
    first = start_up(work, stack_name, "v2", release)
    try:
        locks: list[str] = []
        deadline = time.monotonic() + 60
        while not locks and first.poll() is None and time.monotonic() < deadline:
            locks = server.list_keys(backend, f".pulumi/locks/organization/{PROJECT}/{stack_name}/")
            time.sleep(0.2)
        assert locks, f"the first up never took the lock: {first.stdout.read() if first.stdout and first.poll() is not None else ''}"

        with pytest.raises(auto.CommandError) as second:
            st.up(color="never", program=program("v3"))
        assert "the stack is currently locked by 1 lock(s)" in str(second.value), second.value
    finally:
        release.touch()
        out, _ = first.communicate(timeout=120)
    assert first.returncode == 0, out
    assert st.outputs()["text"].value == "v2"  # the first up's, not the second's
    assert server.list_keys(backend, ".pulumi/locks/") == []
    assert [h.result for h in st.history() or []] == ["succeeded", "succeeded"]  # the refused up left no record


def test_two_ups_started_together_do_not_both_succeed(server: s3.Server, backend: str, tmp_path: Path) -> None:
    work = tiny_project(tmp_path, PROJECT)
    stack_name = "race"
    engine.stack(stack_name, program=program("v1"), work_dir=work).up(color="never")

    release = tmp_path / "release"
    procs = [start_up(work, stack_name, text, release) for text in ("a", "b")]
    # a winner holds the lock until released: wait until one process has ended (the loser) or 60 s
    deadline = time.monotonic() + 60
    while all(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    release.touch()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    results = [(p.returncode, out) for p, out in zip(procs, outs, strict=True)]
    assert sum(code == 0 for code, _ in results) <= 1, results
    assert any(code != 0 and "currently locked" in out for code, out in results), results
    assert server.list_keys(backend, ".pulumi/locks/") == []
