"""Reading a self-managed state backend: backend URLs as `pulumi login` takes them, credentials, the
file layout the engine writes (sidecars, gzip, the legacy layout), damaged objects, which backend is in use."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from probes import state_backend
from probes.state_backend import BackendError, FileBackend, S3Backend, open_backend

CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "HOME": "/nonexistent"}


def s3(url: str, **env: str) -> S3Backend:
    backend = open_backend(url, {**CREDS, **env})
    assert isinstance(backend, S3Backend)
    return backend


def test_aws_s3_urls_use_virtual_hosted_https_in_the_given_region() -> None:
    b = s3("s3://bizosaas-pulumi-state?region=eu-central-1")
    assert (b.bucket, b.prefix, b.endpoint, b.path_style, b.region) == (
        "bizosaas-pulumi-state",
        "",
        "https://s3.eu-central-1.amazonaws.com",
        False,
        "eu-central-1",
    )
    assert s3("s3://b", AWS_REGION="ap-south-1").region == "ap-south-1"
    assert s3("s3://b/team/state?region=us-east-2").prefix == "team/state/"


def test_an_s3_compatible_endpoint_with_path_style_in_v2_and_v1_spelling() -> None:
    b = s3("s3://state?endpoint=http://127.0.0.1:9310&use_path_style=true&region=us-east-1")
    assert (b.endpoint, b.path_style) == ("http://127.0.0.1:9310", True)
    legacy = s3("s3://state?endpoint=minio.internal:9000&s3ForcePathStyle=true&disableSSL=true")
    assert (legacy.endpoint, legacy.path_style) == ("http://minio.internal:9000", True)
    assert s3("s3://state?endpoint=r2.example.com").endpoint == "https://r2.example.com"


def test_credentials_from_the_environment_then_a_static_profile(tmp_path: Path) -> None:
    assert s3("s3://b", AWS_SESSION_TOKEN="tok").session_token == "tok"
    creds = tmp_path / "credentials"
    creds.write_text(
        "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n"
        "[ci]\naws_access_key_id = A2\naws_secret_access_key = S2\n"
    )
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(creds)}
    assert open_backend("s3://b", env).access_key == "A1"  # type: ignore[attr-defined]
    assert open_backend("s3://b?profile=ci", env).access_key == "A2"  # type: ignore[attr-defined]
    assert open_backend("s3://b", {**env, "AWS_PROFILE": "ci"}).access_key == "A2"  # type: ignore[attr-defined]
    with pytest.raises(BackendError, match=r"needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.*export-credentials"):
        open_backend("s3://b", {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")})


def test_the_secret_key_and_session_token_stay_out_of_the_repr() -> None:
    """A backend printed by a traceback's locals or a debug line must not carry its credentials."""
    b = s3("s3://b?region=us-east-1", AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI-example-secret", AWS_SESSION_TOKEN="FwoGZX-example-token")
    assert b.secret_key == "wJalrXUtnFEMI-example-secret" and b.session_token == "FwoGZX-example-token"
    assert "wJalrXUtnFEMI" not in repr(b) and "FwoGZX" not in repr(b) and "bucket='b'" in repr(b)


def test_other_backends_are_named_not_guessed() -> None:
    with pytest.raises(BackendError, match=r"self-managed backend.*not 'https://api.pulumi.com'.*stack export --version"):
        open_backend("https://api.pulumi.com")
    with pytest.raises(BackendError, match="not 'gs://bucket'"):
        open_backend("gs://bucket?x=1")


def test_file_urls_resolve_home_and_drop_the_query(tmp_path: Path) -> None:
    b = open_backend(f"file://{tmp_path}?no_tmp_dir=true")
    assert isinstance(b, FileBackend) and b.root == tmp_path
    home = open_backend("file://~/.pulumi-state")
    assert isinstance(home, FileBackend) and home.root == Path("~/.pulumi-state").expanduser().resolve()


def test_sigv4_headers_carry_the_session_token_and_sign_it() -> None:
    from datetime import UTC, datetime

    at = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    plain = state_backend.sign("GET", "h:1", "/b", {"list-type": "2"}, "us-east-1", "AK", "SK", now=at)
    token = state_backend.sign("GET", "h:1", "/b", {"list-type": "2"}, "us-east-1", "AK", "SK", "TOK", now=at)
    assert plain["x-amz-date"] == "20261203T120000Z" and "x-amz-security-token" not in plain
    assert token["x-amz-security-token"] == "TOK" and "x-amz-security-token" in token["authorization"]
    assert plain["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AK/20261203/us-east-1/s3/aws4_request, SignedHeaders=host;")
    assert plain["authorization"] != token["authorization"]


def write(root: Path, key: str, value: Any, *, zipped: bool = False) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    data = value if isinstance(value, bytes) else json.dumps(value).encode()
    path.write_bytes(gzip.compress(data) if zipped else data)
    (root / f"{key}.attrs").write_text("{}")  # what fileblob writes beside every object


def history(root: Path, prefix: str, ns: int, result: str, outputs: dict[str, Any], *, zipped: bool = False) -> None:
    ext = "json.gz" if zipped else "json"
    started = ns // 10**9
    info = {"kind": "update", "result": result, "startTime": started, "endTime": started + 5, "environment": {"git.head": "ab" * 20}}
    stack = {"type": "pulumi:pulumi:Stack", "outputs": outputs}
    write(root, f"{prefix}s-{ns}.history.{ext}", info, zipped=zipped)
    write(root, f"{prefix}s-{ns}.checkpoint.{ext}", {"checkpoint": {"latest": {"resources": [stack]}}}, zipped=zipped)


def legacy_outputs(n: int) -> dict[str, Any]:
    from core.release import release_id

    manifest = {"brain-api": f"r/brain-api@sha256:{n:064x}"}
    return {"release_id": release_id(manifest), "release_manifest": manifest, "compose": {"backend": "services: {}\n"}, "verified": True}


def test_the_history_of_a_file_backend_oldest_first_gzip_too_sidecars_ignored(tmp_path: Path) -> None:
    prefix = ".pulumi/history/proj/s/"
    history(tmp_path, prefix, 1_800_000_000_000_000_001, "succeeded", legacy_outputs(1))
    history(tmp_path, prefix, 1_800_000_000_000_000_002, "succeeded", legacy_outputs(2), zipped=True)
    write(tmp_path, f"{prefix}s-1800000000000000003.history.json", b'{"kind": "upd')  # cut short
    warnings: list[str] = []
    rows = state_backend.read_deployments(open_backend(tmp_path.as_uri()), "proj", "s", warnings.append)
    assert [(r.update, r.release_id) for r in rows] == [(1, legacy_outputs(1)["release_id"]), (2, legacy_outputs(2)["release_id"])]
    assert len(warnings) == 1 and "skipped update 3" in warnings[0] and "damaged" in warnings[0]
    assert rows[0].commit == "ab" * 6
    newest = state_backend.read_deployments(open_backend(tmp_path.as_uri()), "proj", "s", warnings.append, newest=2)
    assert [r.update for r in newest] == [2]  # the newest 2 are 2 and 3 (damaged); 1 is read as the one before, not listed


def test_the_legacy_layout_without_projects_is_read_and_a_missing_stack_has_no_history(tmp_path: Path) -> None:
    history(tmp_path, ".pulumi/history/s/", 1_800_000_000_000_000_001, "succeeded", legacy_outputs(1))
    backend = open_backend(tmp_path.as_uri())
    assert [r.update for r in state_backend.read_deployments(backend, "proj", "s", print)] == [1]
    assert state_backend.read_deployments(backend, "proj", "other", print) == []


def test_the_backend_in_use_is_pulumi_backend_url_else_what_pulumi_whoami_says(tmp_path: Path) -> None:
    assert state_backend.backend_url({"PULUMI_BACKEND_URL": "s3://x"}) == "s3://x"
    fake = tmp_path / "pulumi"
    fake.write_text('#!/bin/sh\n[ "$1 $2 $3" = "whoami --verbose --json" ] && echo \'{"user": "u", "url": "file:///srv/state"}\'\n')
    fake.chmod(0o755)
    assert state_backend.backend_url({"PATH": str(tmp_path)}) == "file:///srv/state"
    with pytest.raises(BackendError, match="PULUMI_BACKEND_URL is not set and `pulumi` is not on PATH"):
        state_backend.backend_url({"PATH": str(tmp_path / "empty")})


def test_find_looks_at_the_newest_updates_first_then_the_whole_history(tmp_path: Path) -> None:
    prefix = ".pulumi/history/proj/s/"
    for n in range(1, 8):
        history(tmp_path, prefix, 1_800_000_000_000_000_000 + n, "succeeded", legacy_outputs(n))
    backend = open_backend(tmp_path.as_uri())
    reads: list[str] = []
    counting = FileBackend(backend.url, backend.root)  # type: ignore[attr-defined]
    original = FileBackend.read

    def read(self: FileBackend, key: str) -> bytes:
        reads.append(key)
        return original(self, key)

    FileBackend.read = read  # type: ignore[method-assign]
    try:
        assert state_backend.find_deployment(counting, "proj", "s", "previous", print, window=2).update == 6
        assert len(reads) == 6  # the newest two and the one before them: history + checkpoint each
        reads.clear()
        assert state_backend.find_deployment(counting, "proj", "s", legacy_outputs(1)["release_id"], print, window=2).update == 1
        assert len(reads) == 6 + 14  # not in the window: the whole history
    finally:
        FileBackend.read = original  # type: ignore[method-assign]
    with pytest.raises(LookupError, match=r"known: r-"):
        state_backend.find_deployment(counting, "proj", "s", "r-000000000000", print, window=2)
