"""deployctl's release ledger: read from the backend's update history (what `pulumi up` wrote), listed
newest first with status, who, when and commit, a damaged entry skipped with a warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import ledger as core_ledger
from deployctl import engine, ledger
from tests.core.test_ledger import History, release


def write_backend(root: Path, stack: str, h: History) -> list[Path]:
    """The entries as the engine's file backend stores them."""
    folder = root / ".pulumi" / "history" / "bizosaas-deploy" / stack
    folder.mkdir(parents=True)
    paths = []
    for entry in h.entries:
        name = Path(entry.key).name
        (folder / name).write_text(json.dumps(entry.history))
        (folder / name.replace(".history.", ".checkpoint.")).write_text(json.dumps(entry.checkpoint))
        paths.append(folder / name)
    return paths


def scenario() -> History:
    h = History()
    h.up(release(1))
    h.up(release(2, promoted_from="organization/bizosaas-deploy/staging"))
    h.failed(None)
    h.failed(release(3, verified=False))
    h.up(release(2, pinned=release(2)["id"]))
    return h


def test_lines_are_one_per_release_and_per_failure_that_recorded_none_newest_first() -> None:
    rows, _ = scenario().rows()
    lines = ledger.lines(rows)
    r1, r2, r3 = (release(n)["id"] for n in (1, 2, 3))
    assert [line.split()[:2] for line in lines] == [[r2, "verified"], [r3, "failed"], ["-", "failed"], [r1, "verified"]]
    assert lines[0].endswith(
        "update 2  deployed 2 times, last update 5 verified (pinned)  promoted from organization/bizosaas-deploy/staging"
    ), lines[0]
    assert "by user2  commit 222222222222" in lines[0] and "2026-12-03T00:00:00Z" in lines[0]
    assert lines[2].endswith("update 3  (failed before a release was recorded)")
    unread = core_ledger.Deployment(6, "unknown", "unknown", 0, 0, {}, None, unreadable="s3://b: get k answered HTTP 503 SlowDown")
    assert ledger.lines([*rows, unread])[0].split()[:2] == ["?", "unreadable"]
    assert ledger.lines([*rows, unread])[0].endswith("update 6  (could not be read: s3://b: get k answered HTTP 503 SlowDown)")


def test_deployments_and_find_read_the_backend_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_backend(tmp_path, "staging", scenario())
    monkeypatch.setenv("PULUMI_BACKEND_URL", tmp_path.as_uri())
    assert [d.update for d in ledger.deployments("staging")] == [1, 2, 3, 4, 5]
    assert ledger.find("staging", "previous").release_id == release(1)["id"]  # now: r2 (pinned); before it, r3 failed, r2, then r1
    assert ledger.find("staging", release(2)["id"]).update == 5
    assert [r.id for r in ledger.releases("staging")] == [release(n)["id"] for n in (2, 3, 1)]
    assert ledger.deployments("never-deployed") == []


def test_releases_command_lists_from_the_backend_and_warns_about_a_damaged_record(tmp_path: Path) -> None:
    paths = write_backend(tmp_path, "staging", scenario())
    paths[0].write_text(paths[0].read_text()[:20])  # a half-written history record
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")} | {"PULUMI_BACKEND_URL": tmp_path.as_uri()}

    def releases(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "deployctl", "releases", "--stack", "staging", *extra]
        return subprocess.run(argv, cwd=engine.PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120, check=False)

    out = releases()
    assert out.returncode == 0, out.stderr
    assert out.stderr == f"deployctl: warning: skipped update 1 ({paths[0].relative_to(tmp_path)}): its history record is damaged " + (
        "(not the JSON the engine writes)\n"
    )
    assert [line.split()[0] for line in out.stdout.splitlines()] == [release(2)["id"], release(3)["id"], "-"]
    assert core_ledger.RELEASE_ID.match(out.stdout.split()[0])
    newest = releases("--limit", "1")
    assert newest.returncode == 0 and newest.stderr == ""  # the damaged first entry is not read
    assert [line.split()[0] for line in newest.stdout.splitlines()] == [release(2)["id"]]  # update 5 only (4 read, not listed)
