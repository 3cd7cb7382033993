"""The release history read with botocore from a real S3-compatible server (versitygw on loopback, testkit/s3.py):
a bucket name with a dot, a credential source other than the environment (a credential_process profile), and the
reader failing closed: a transient 503 for one record is retried, a record that still cannot be read makes
`previous` refuse naming its update, a damaged record is still skipped with a warning."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import ledger
from core.release import release_id
from probes import state_backend
from testkit import s3

PROJECT, STACK = "bizosaas-deploy", "staging"
PREFIX = f".pulumi/history/{PROJECT}/{STACK}/"
BASE_NS = 1_800_000_000_000_000_000


def outputs(n: int) -> dict[str, Any]:
    """The stack outputs of a succeeded, verified update that deployed release number n."""
    manifest = {"brain-api": f"r/brain-api@sha256:{n:064x}"}
    return {"release_id": release_id(manifest), "release_manifest": manifest, "compose": {"backend": "services: {}\n"}, "verified": True}


def put_update(server: s3.Server, bucket: str, n: int, result: str = "succeeded") -> str:
    """History entry n (history + checkpoint) as the engine writes it; returns the checkpoint's key."""
    ns = BASE_NS + n
    info = {"kind": "update", "result": result, "startTime": ns // 10**9, "endTime": ns // 10**9 + 5, "environment": {}}
    stack = {"type": "pulumi:pulumi:Stack", "outputs": outputs(n)}
    server.put(bucket, f"{PREFIX}{STACK}-{ns}.history.json", json.dumps(info).encode())
    checkpoint = f"{PREFIX}{STACK}-{ns}.checkpoint.json"
    server.put(bucket, checkpoint, json.dumps({"checkpoint": {"latest": {"resources": [stack]}}}).encode())
    return checkpoint


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: s3.Server) -> pytest.MonkeyPatch:
    """The server's keys in the environment, and nothing else of this machine's AWS settings."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_MAX_ATTEMPTS", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    return monkeypatch


@pytest.fixture
def bucket(server: s3.Server) -> Iterator[str]:
    """A fresh bucket whose name has dots (what AWS-style names such as acme.pulumi.state look like)."""
    name = f"history.{secrets.token_hex(3)}.state"
    server.create_bucket(name)
    try:
        yield name
    finally:
        server.delete_bucket(name)


def test_a_dotted_bucket_history_is_read_with_botocore(server: s3.Server, bucket: str, aws: pytest.MonkeyPatch) -> None:
    for n in (1, 2, 3):
        put_update(server, bucket, n)
    backend = state_backend.open_backend(server.backend_url(bucket))
    assert isinstance(backend, state_backend.S3Backend)
    rows = state_backend.read_deployments(backend, PROJECT, STACK, pytest.fail)
    assert [(r.update, r.release_id, r.status) for r in rows] == [(n, outputs(n)["release_id"], "verified") for n in (1, 2, 3)]
    assert state_backend.find_deployment(backend, PROJECT, STACK, "previous", pytest.fail).update == 2


def test_credentials_from_a_credential_process_profile(server: s3.Server, bucket: str, aws: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key in the environment: the profile's credential_process (a local stub standing in for SSO or a vault) hands them over."""
    put_update(server, bucket, 1)
    helper = tmp_path / "credentials-helper.py"
    helper.write_text(
        "import json, os\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': os.environ['STUB_KEY'], 'SecretAccessKey': os.environ['STUB_SECRET']}))\n"
    )
    (tmp_path / "config").write_text(f"[profile state-reader]\ncredential_process = {sys.executable} {helper}\n")
    aws.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    aws.setenv("STUB_KEY", server.access_key)
    aws.setenv("STUB_SECRET", server.secret_key)
    aws.delenv("AWS_ACCESS_KEY_ID")
    aws.delenv("AWS_SECRET_ACCESS_KEY")
    backend = state_backend.open_backend(server.backend_url(bucket) + "&profile=state-reader")
    assert [r.update for r in state_backend.read_deployments(backend, PROJECT, STACK, pytest.fail)] == [1]
    aws.setenv("STUB_SECRET", "wrong")  # the helper's keys are what signs the requests
    with pytest.raises(state_backend.BackendError, match=r"answered HTTP 403 SignatureDoesNotMatch"):
        state_backend.open_backend(server.backend_url(bucket) + "&profile=state-reader").keys(".pulumi/")


def test_a_transient_503_for_one_record_is_retried(server: s3.Server, bucket: str, aws: pytest.MonkeyPatch) -> None:
    for n in (1, 2, 3):
        put_update(server, bucket, n)
    newest = put_update(server, bucket, 4)
    with s3.FaultProxy(server.endpoint) as proxy:
        proxy.fail(newest, times=1, status=503)
        backend = state_backend.open_backend(server.backend_url(bucket).replace(server.endpoint, proxy.endpoint))
        warnings: list[str] = []
        found = state_backend.find_deployment(backend, PROJECT, STACK, "previous", warnings.append)
        assert proxy.hits(newest) == 2  # the 503, then the record
    assert (found.update, warnings) == (3, [])  # update 4 runs now: previous is 3, not 2


def test_a_record_that_still_cannot_be_read_refuses_previous_naming_the_update(
    server: s3.Server, bucket: str, aws: pytest.MonkeyPatch
) -> None:
    for n in (1, 2, 3):
        put_update(server, bucket, n)
    newest = put_update(server, bucket, 4)
    aws.setenv("AWS_MAX_ATTEMPTS", "2")  # the bound (default 5): every attempt answered 503
    with s3.FaultProxy(server.endpoint) as proxy:
        proxy.fail(newest, times=-1, status=503)
        backend = state_backend.open_backend(server.backend_url(bucket).replace(server.endpoint, proxy.endpoint))
        warnings: list[str] = []
        with pytest.raises(ledger.HistoryUnreadable) as refused:
            state_backend.find_deployment(backend, PROJECT, STACK, "previous", warnings.append)
        assert proxy.hits(newest) == 2
        listed = state_backend.read_deployments(backend, PROJECT, STACK, warnings.append)
    message = str(refused.value)
    assert message.startswith(f"stack {STACK}: refusing to pick the previous release: the history could not be read (update 4: ")
    assert f"{newest} answered HTTP 503 SlowDown (after 2 attempts)" in message and "Run it again when the backend answers" in message
    assert [(r.update, r.status) for r in listed] == [(1, "verified"), (2, "verified"), (3, "verified"), (4, "unreadable")]
    assert any(w.startswith("update 4 (") and "could not be read" in w for w in warnings)
    # the release asked for by id is refused too while a newer update is unknown; an older unknown one does not matter
    with pytest.raises(ledger.HistoryUnreadable, match="refusing to pick release r-"):
        state_backend.find_deployment(backend, PROJECT, STACK, outputs(3)["release_id"], print)


def test_a_damaged_record_is_still_skipped_with_a_warning(server: s3.Server, bucket: str, aws: pytest.MonkeyPatch) -> None:
    for n in (1, 2, 3):
        put_update(server, bucket, n)
    damaged = put_update(server, bucket, 4)
    server.put(bucket, damaged, b'{"checkpoint": {"latest": ')  # cut short: damaged, not unreadable
    backend = state_backend.open_backend(server.backend_url(bucket))
    warnings: list[str] = []
    assert state_backend.find_deployment(backend, PROJECT, STACK, "previous", warnings.append).update == 2
    assert warnings == [f"skipped update 4 ({damaged.replace('checkpoint', 'history')}): its checkpoint is missing or damaged"]
