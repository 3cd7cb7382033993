"""The stacks of a state backend and when each was first updated (what `deployctl pr sweep|list` and the cap read), from the
layout the engine writes: a file backend, and a bucket of the real S3-compatible server (testkit/s3.py) under a prefix of
its own (where the PR environments' state lives, README: Pull-request environments)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes import state_backend
from testkit import s3

PROJECT = "bizosaas-deploy"
KEYS = [
    f".pulumi/stacks/{PROJECT}/pr-12.json",
    f".pulumi/stacks/{PROJECT}/pr-12.json.bak",
    f".pulumi/stacks/{PROJECT}/pr-3.json.gz",
    f".pulumi/stacks/{PROJECT}/staging.json",
    ".pulumi/stacks/other-project/pr-99.json",
    ".pulumi/stacks/legacy-stack.json",
    f".pulumi/history/{PROJECT}/pr-12/pr-12-1800000000000000200.history.json",
    f".pulumi/history/{PROJECT}/pr-12/pr-12-1800000000000000200.checkpoint.json",
    f".pulumi/history/{PROJECT}/pr-12/pr-12-1800000000000000100.history.json",
    ".pulumi/meta.yaml",
]


def check(backend: state_backend.Backend) -> None:
    assert state_backend.stack_names(backend, PROJECT) == ["legacy-stack", "pr-12", "pr-3", "staging"]
    assert state_backend.first_update_ns(backend, PROJECT, "pr-12") == 1800000000000000100
    assert state_backend.first_update_ns(backend, PROJECT, "pr-3") == 0  # never updated


def test_a_file_backend(tmp_path: Path) -> None:
    for key in KEYS:
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_text("{}")
        (tmp_path / f"{key}.attrs").write_text("{}")  # the engine's sidecars are not objects
    check(state_backend.open_backend(tmp_path.as_uri()))


@pytest.fixture
def bucket(server: s3.Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    name = f"prenv-{secrets.token_hex(3)}"
    server.create_bucket(name)
    yield name
    for key in server.list_keys(name):
        server.request("DELETE", f"/{name}/{key}")
    server.delete_bucket(name)


def test_a_bucket_under_a_prefix_of_its_own(server: s3.Server, bucket: str) -> None:
    for key in KEYS:
        server.put(bucket, f"pr-environments/{key}", b"{}")
    server.put(bucket, ".pulumi/stacks/bizosaas-deploy/prod.json", b"{}")  # the team's stacks beside it: not listed
    url = server.backend_url(bucket).replace(f"s3://{bucket}?", f"s3://{bucket}/pr-environments?")
    check(state_backend.open_backend(url))
